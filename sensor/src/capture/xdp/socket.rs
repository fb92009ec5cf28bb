//! One AF_XDP socket: its UMEM (an anonymous mapping cut into frames), fill
//! ring and rx ring, bound to one rx queue of the interface. A capture
//! source of its own, read by one reader thread.
//!
//! Frame ownership: a frame is the kernel's while it is in the fill ring or
//! being written, ours from the moment its descriptor comes off the rx ring
//! until it goes back into the fill ring. Frames of a received batch go back
//! when the next batch is taken, after the reader has copied what it keeps.

use super::super::{CaptureError, CaptureSource, Frame, LinkType, Next, SourceCounter};
use super::ProgramCounters;
use pastmon_common::xdp::{RxMeta, CLOCK_MONOTONIC, RX_META_MAGIC};
use std::ffi::CString;
use std::io;
use std::num::NonZeroU32;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;
use xdpilone::xdp::XdpDesc;
use xdpilone::{DeviceQueue, IfInfo, RingRx, Socket, SocketConfig, Umem, UmemConfig, User};

/// Descriptors taken off the rx ring at a time.
const RX_BATCH: u32 = 64;
/// How long a reader waits for frames before it reports the time (idle).
const POLL_MS: i32 = 100;
/// Once the rx ring is empty, the reader sleeps this long before it looks
/// again (and only then waits in poll): frames gather in the ring meanwhile,
/// so a busy queue costs a wakeup per batch, not per frame (poll wakes at
/// the first frame). The ring (2,048 entries by default) holds this long of
/// a queue at up to 8 M frames/s; the program stamps frames, so their times
/// do not move.
const GATHER: Duration = Duration::from_micros(250);
/// Frames stamped by the program reach the rx ring at the end of the
/// driver's poll, later still when its softirq is deferred on a busy
/// machine: an idle report stays this far behind the clock (or at the last
/// frame read, if that is later). The workers hold other queues' frames
/// this long at most when this queue is quiet.
const IN_FLIGHT_NS: u64 = 50_000_000;

/// Sizes of one socket's UMEM and rings.
#[derive(Clone, Copy, Debug)]
pub struct RingSizes {
    /// UMEM frames (= fill ring entries); a power of two.
    pub frames: u32,
    /// Bytes per frame: 2048 or 4096.
    pub frame_size: u32,
    /// Rx ring entries; a power of two.
    pub rx_ring: u32,
}

/// Whether to ask the driver for zero-copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ZeroCopy {
    /// Zero-copy where the driver offers it, else copy mode.
    Auto,
    On,
    Off,
}

/// An anonymous, page-aligned memory mapping: the UMEM's frames.
struct Area {
    ptr: NonNull<u8>,
    len: usize,
}

impl Area {
    fn new(len: usize) -> io::Result<Area> {
        // SAFETY: a fresh anonymous private mapping; checked for failure.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Area { ptr: NonNull::new(ptr.cast()).ok_or_else(io::Error::last_os_error)?, len })
    }

    fn as_slice_ptr(&self) -> NonNull<[u8]> {
        NonNull::slice_from_raw_parts(self.ptr, self.len)
    }

    /// Bytes `[at, at + len)` if they lie inside the area.
    fn get(&self, at: u64, len: usize) -> Option<&[u8]> {
        let at = usize::try_from(at).ok()?;
        if at.checked_add(len)? > self.len {
            return None;
        }
        // SAFETY: in bounds (checked); the frame is ours (see module doc).
        Some(unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(at), len) })
    }
}

impl Drop for Area {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid clock id and a valid out pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CLOCK_REALTIME − CLOCK_MONOTONIC, shared by every socket: the program's
/// `bpf_ktime_get_ns` stamps become wall-clock time the same way on every
/// rx queue, so frames of different queues keep their order (a per-socket
/// offset, measured while a thread was preempted, could be off by
/// milliseconds). Refreshed once a second to follow NTP.
static WALL_OFFSET_NS: AtomicI64 = AtomicI64::new(i64::MIN);
static WALL_REFRESH_AT: AtomicU64 = AtomicU64::new(0);

/// The offset from the tightest of a few (monotonic, realtime, monotonic)
/// readings.
fn measure_offset() -> i64 {
    let mut best = (u64::MAX, 0i64);
    for _ in 0..5 {
        let before = clock_ns(libc::CLOCK_MONOTONIC);
        let real = clock_ns(libc::CLOCK_REALTIME);
        let after = clock_ns(libc::CLOCK_MONOTONIC);
        let window = after.saturating_sub(before);
        if window < best.0 {
            best = (window, real as i64 - (before / 2 + after / 2) as i64);
        }
    }
    best.1
}

/// Wall-clock time of a CLOCK_MONOTONIC instant.
fn wall(mono_ns: u64) -> u64 {
    let due = WALL_REFRESH_AT.load(Ordering::Relaxed);
    if mono_ns >= due
        && WALL_REFRESH_AT.compare_exchange(due, mono_ns + 1_000_000_000, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    {
        WALL_OFFSET_NS.store(measure_offset(), Ordering::Relaxed);
    }
    let mut offset = WALL_OFFSET_NS.load(Ordering::Relaxed);
    if offset == i64::MIN {
        // Another socket is taking the first measurement right now.
        offset = measure_offset();
    }
    (i128::from(mono_ns) + i128::from(offset)).max(0) as u64
}

/// Socket counters the kernel keeps (XDP_STATISTICS).
/// Name, help, and whether it counts dropped frames (an empty fill ring
/// drops a frame that `xsk_rx_dropped_total` counts too).
const SOCKET_COUNTERS: [(&str, &str, bool); 4] = [
    ("xsk_rx_dropped_total", "Frames the AF_XDP sockets dropped (no room in the UMEM or too long).", true),
    ("xsk_rx_invalid_descriptors_total", "Fill ring descriptors the kernel found invalid.", false),
    ("xsk_rx_ring_full_total", "Frames dropped because a socket's rx ring was full (reader too slow).", true),
    ("xsk_fill_ring_empty_total", "Times the kernel found a fill ring empty (frames dropped).", false),
];

pub struct XdpSocket {
    device: String,
    queue: u32,
    zero_copy: bool,
    // Drop order matters: rings and sockets before the memory they map.
    rx: RingRx,
    fill: DeviceQueue,
    user: User,
    _umem: Umem,
    area: Area,
    frame_size: u32,
    /// Descriptors of the batch being read; `next` indexes it.
    batch: Vec<XdpDesc>,
    next: usize,
    /// Frames whose descriptors were bad: their chunks go back too.
    invalid: u64,
    /// The empty ring was reported (Idle) once; the next empty look waits.
    idle_reported: bool,
    /// The newest frame read: later frames of this queue are not older.
    last_ts: u64,
    stop: &'static AtomicBool,
    /// The program's counters, reported by the first socket only.
    program: Option<ProgramCounters>,
}

// SAFETY: the raw pointers inside (the mapping, the rings) are owned by this
// socket alone and used by one thread at a time; nothing is shared.
unsafe impl Send for XdpSocket {}

fn xdp_err(what: &'static str) -> impl Fn(xdpilone::Errno) -> io::Error {
    move |e| io::Error::new(io::Error::from_raw_os_error(e.get_raw().abs()).kind(), format!("{what}: {e}"))
}

impl XdpSocket {
    /// Creates the socket of `queue` and gives every frame to the kernel.
    pub(super) fn open(
        device: &str,
        queue: u32,
        sizes: RingSizes,
        zero_copy: ZeroCopy,
        stop: &'static AtomicBool,
        program: Option<ProgramCounters>,
    ) -> io::Result<XdpSocket> {
        let open = |zc| XdpSocket::open_once(device, queue, sizes, zc, stop, program.clone());
        match zero_copy {
            ZeroCopy::On => open(true),
            ZeroCopy::Off => open(false),
            // A failed bind leaves the socket's rings configured: start over.
            ZeroCopy::Auto => open(true).or_else(|_| open(false)),
        }
    }

    fn open_once(
        device: &str,
        queue: u32,
        sizes: RingSizes,
        zero_copy: bool,
        stop: &'static AtomicBool,
        program: Option<ProgramCounters>,
    ) -> io::Result<XdpSocket> {
        let area = Area::new(sizes.frames as usize * sizes.frame_size as usize)?;
        let config = UmemConfig {
            fill_size: sizes.frames,
            complete_size: sizes.frames,
            frame_size: sizes.frame_size,
            headroom: 0,
            flags: 0,
        };
        // SAFETY: the area is page aligned, sized for the frames, and lives
        // as long as the Umem (field order above).
        let umem = unsafe { Umem::new(config, area.as_slice_ptr()) }.map_err(xdp_err("creating the UMEM"))?;
        let mut info = IfInfo::invalid();
        let name = CString::new(device).map_err(|_| io::Error::other("interface name has a NUL byte"))?;
        info.from_name(&name).map_err(xdp_err("no such interface"))?;
        info.set_queue(queue);
        let socket = Socket::with_shared(&info, &umem).map_err(xdp_err("creating the AF_XDP socket"))?;
        let mut fill = umem.fq_cq(&socket).map_err(xdp_err("creating the fill ring"))?;
        let bind_flags = if zero_copy { SocketConfig::XDP_BIND_ZEROCOPY } else { SocketConfig::XDP_BIND_COPY };
        let config = SocketConfig { rx_size: NonZeroU32::new(sizes.rx_ring), tx_size: None, bind_flags };
        let user = umem.rx_tx(&socket, &config).map_err(xdp_err("creating the rx ring"))?;
        let rx = user.map_rx().map_err(xdp_err("mapping the rx ring"))?;
        umem.bind(&user).map_err(xdp_err(if zero_copy {
            "binding in zero-copy mode"
        } else {
            "binding in copy mode"
        }))?;
        let mut writer = fill.fill(sizes.frames);
        let given = writer.insert((0..sizes.frames).map(|i| u64::from(i) * u64::from(sizes.frame_size)));
        writer.commit();
        drop(writer);
        if given != sizes.frames {
            return Err(io::Error::other(format!("the fill ring took {given} of {} frames", sizes.frames)));
        }
        Ok(XdpSocket {
            device: device.to_owned(),
            queue,
            zero_copy,
            rx,
            fill,
            user,
            _umem: umem,
            area,
            frame_size: sizes.frame_size,
            batch: Vec::with_capacity(RX_BATCH as usize),
            next: 0,
            invalid: 0,
            idle_reported: false,
            last_ts: 0,
            stop,
            program,
        })
    }

    pub fn queue(&self) -> u32 {
        self.queue
    }

    pub fn zero_copy(&self) -> bool {
        self.zero_copy
    }

    /// The descriptor ring's fd, for the program's socket map.
    pub(super) fn fd(&self) -> i32 {
        self.rx.as_raw_fd()
    }

    /// Gives the frames of the last batch back to the kernel.
    fn refill(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let chunk = !(u64::from(self.frame_size) - 1);
        let mut writer = self.fill.fill(self.batch.len() as u32);
        // Never fails: the fill ring has room for every frame of the UMEM.
        writer.insert(self.batch.iter().map(|d| d.addr & chunk));
        writer.commit();
        self.batch.clear();
        self.next = 0;
    }

    /// Takes up to a batch of descriptors off the rx ring.
    fn receive(&mut self) {
        let mut reader = self.rx.receive(RX_BATCH);
        while let Some(desc) = reader.read() {
            self.batch.push(desc);
        }
        reader.release();
    }

    /// Waits up to POLL_MS for the rx ring to have frames.
    fn wait(&self) -> io::Result<()> {
        let mut pfd = libc::pollfd { fd: self.rx.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, POLL_MS) } < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        Ok(())
    }

    /// The frame's receive time: the program's stamp in front of it, else now.
    fn timestamp(&mut self, desc: &XdpDesc) -> u64 {
        let size = std::mem::size_of::<RxMeta>() as u64;
        let chunk = desc.addr & !(u64::from(self.frame_size) - 1);
        let mono =
            match desc.addr.checked_sub(size).filter(|at| *at >= chunk).and_then(|at| self.area.get(at, size as usize))
            {
                Some(bytes) => {
                    // SAFETY: RxMeta is plain integers; unaligned read of 16 bytes.
                    let meta = unsafe { bytes.as_ptr().cast::<RxMeta>().read_unaligned() };
                    (meta.magic == RX_META_MAGIC && meta.clock == CLOCK_MONOTONIC).then_some(meta.rx_ns)
                }
                None => None,
            };
        let ts = wall(mono.unwrap_or_else(|| clock_ns(libc::CLOCK_MONOTONIC)));
        self.last_ts = self.last_ts.max(ts);
        ts
    }
}

impl CaptureSource for XdpSocket {
    fn next_frame(&mut self) -> Result<Next<'_>, CaptureError> {
        let desc = loop {
            if let Some(desc) = self.batch.get(self.next).copied() {
                self.next += 1;
                if self.area.get(desc.addr, desc.len as usize).is_some() {
                    break desc;
                }
                self.invalid += 1;
                continue;
            }
            self.refill();
            if self.stop.load(Ordering::Relaxed) {
                return Ok(Next::End);
            }
            self.receive();
            if self.batch.is_empty() {
                // First tell the reader (it hands partial batches on), then wait.
                if self.idle_reported {
                    std::thread::sleep(GATHER);
                    self.receive();
                    if self.batch.is_empty() {
                        self.wait().map_err(|error| CaptureError::Live {
                            device: format!("{} queue {}", self.device, self.queue),
                            what: "waiting for frames",
                            error,
                        })?;
                        self.receive();
                    }
                }
                if self.batch.is_empty() {
                    self.idle_reported = true;
                    let behind = wall(clock_ns(libc::CLOCK_MONOTONIC).saturating_sub(IN_FLIGHT_NS));
                    return Ok(Next::Idle { now_ns: behind.max(self.last_ts) });
                }
            }
            self.idle_reported = false;
        };
        let ts_ns = self.timestamp(&desc);
        let data = self.area.get(desc.addr, desc.len as usize).unwrap_or_default();
        Ok(Next::Frame(Frame { ts_ns, link: LinkType::Ethernet, data, wire_len: desc.len }))
    }

    fn progress(&self) -> (u64, Option<u64>) {
        (0, None)
    }

    fn counters(&mut self) -> Vec<SourceCounter> {
        let mut out = Vec::new();
        if let Ok(s) = self.user.statistics_v2() {
            let values = [s.rx_dropped, s.rx_invalid_descs, s.rx_ring_full, s.rx_fill_ring_empty_descs];
            for ((name, help, dropped_frames), value) in SOCKET_COUNTERS.into_iter().zip(values) {
                out.push(SourceCounter { name, help, value, dropped_frames });
            }
        }
        out.push(SourceCounter {
            name: "xsk_bad_descriptors_total",
            help: "Rx descriptors pointing outside the UMEM (skipped).",
            value: self.invalid,
            dropped_frames: true,
        });
        if let Some(program) = &self.program {
            out.extend(program.read());
        }
        out
    }
}
