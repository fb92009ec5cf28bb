//! Capture sources: where frames come from.
//!
//! Every source yields the same [`Frame`]: a timestamp in Unix nanoseconds,
//! the link type, the captured bytes and the length the frame had on the wire.
//! Sources never interpret the bytes; that is the decoder's job.

mod file;
pub mod xdp;

pub use file::CaptureFile;

use std::io;
use std::path::PathBuf;

/// Link-layer framing of a capture's frames (pcap LINKTYPE_* values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    Ethernet,
    /// Raw IPv4 or IPv6, version in the first nibble.
    RawIp,
    /// Linux "cooked" capture v1 (16-byte header).
    LinuxSll,
    /// Linux "cooked" capture v2 (20-byte header).
    LinuxSll2,
    /// BSD loopback / null: 4-byte address family in host order.
    Null,
    Other(u32),
}

impl LinkType {
    pub fn from_pcap(code: u32) -> LinkType {
        match code {
            1 => LinkType::Ethernet,
            0 => LinkType::Null,
            101 | 12 | 14 | 228 | 229 => LinkType::RawIp,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            other => LinkType::Other(other),
        }
    }
}

/// One captured frame, borrowed from the source's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Capture time, Unix nanoseconds.
    pub ts_ns: u64,
    pub link: LinkType,
    /// The captured bytes (at most the snapshot length).
    pub data: &'a [u8],
    /// Length of the frame on the wire; `> data.len()` when truncated.
    pub wire_len: u32,
}

/// What a source has next.
#[derive(Debug)]
pub enum Next<'a> {
    Frame(Frame<'a>),
    /// No frame right now (live sources only). Every later frame of this
    /// source is stamped at or after `now_ns`, so workers need not wait for
    /// it, and intervals close without traffic.
    Idle {
        now_ns: u64,
    },
    /// The capture is over (end of file, or a live source was stopped).
    End,
}

/// A counter a source keeps of its own (kernel and socket drops of a live
/// capture), reported with the statistics and on `/metrics`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SourceCounter {
    /// Prometheus-style name, `pastmon_` prefix left out.
    pub name: &'static str,
    pub help: &'static str,
    pub value: u64,
    /// It counts frames lost before the reader saw them: part of the
    /// capture's `dropped` statistic.
    pub dropped_frames: bool,
}

/// Frames lost before the reader saw them, by `counters` of one source.
pub fn frames_dropped(counters: &[SourceCounter]) -> u64 {
    counters.iter().filter(|c| c.dropped_frames).map(|c| c.value).sum()
}

/// Adds counters of several sources by name, in first-seen order.
pub fn sum_counters(all: impl IntoIterator<Item = SourceCounter>) -> Vec<SourceCounter> {
    let mut sum: Vec<SourceCounter> = Vec::new();
    for c in all {
        match sum.iter_mut().find(|s| s.name == c.name) {
            Some(s) => s.value += c.value,
            None => sum.push(c),
        }
    }
    sum
}

/// A source of frames. Frames borrow the source, so a consumer copies what
/// it keeps before asking for the next one.
pub trait CaptureSource {
    fn next_frame(&mut self) -> Result<Next<'_>, CaptureError>;

    /// Bytes consumed so far and the total, when known (for progress bars).
    fn progress(&self) -> (u64, Option<u64>);

    /// The source's own counters; asked about once a second, never per frame.
    fn counters(&mut self) -> Vec<SourceCounter> {
        Vec::new()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    // The reason is in the message, not in a source chain, so it is said once.
    #[error("{path}: {}", crate::io_reason(error))]
    Io { path: PathBuf, error: io::Error },
    #[error("{path}: not a pcap or pcapng file (magic {magic:#010x})")]
    UnknownFormat { path: PathBuf, magic: u32 },
    #[error(
        "{path}: link type {link} is not one pastmon decodes (Ethernet, raw IP, Linux cooked v1 and v2, BSD \
         loopback); convert it first, e.g. with editcap -T ether"
    )]
    UnsupportedLink { path: PathBuf, link: u32 },
    #[error("{path}: malformed capture at byte {offset}: {what}")]
    Malformed { path: PathBuf, offset: u64, what: String },
    /// A live source failed while capturing.
    #[error("{device}: {what}: {}", crate::io_reason(error))]
    Live { device: String, what: &'static str, error: io::Error },
}
