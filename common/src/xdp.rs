//! What the XDP program and the sensor share: map names, the filter of
//! watched servers, the per-CPU counters and the metadata written in front
//! of every kept frame.
//!
//! Layout rules: every struct is `#[repr(C)]`, sized to a multiple of 8 with
//! no implicit padding, so both compilers (bpfel and x86_64) agree.

/// Names of the program and its maps inside the eBPF object.
pub const PROGRAM: &str = "pastmon_xdp";
pub const MAP_WATCHED: &str = "WATCHED";
pub const MAP_SETTINGS: &str = "SETTINGS";
pub const MAP_COUNTERS: &str = "COUNTERS";
pub const MAP_SOCKETS: &str = "SOCKETS";

/// Capacity of the watched-prefix trie and of the socket map (rx queues).
pub const MAX_WATCHED: u32 = 1024;
pub const MAX_QUEUES: u32 = 256;
/// Port ranges per watched prefix.
pub const MAX_PORT_RANGES: usize = 8;

/// Key of the watched-prefix trie: an IPv6 address, IPv4 mapped into
/// `::ffff:0:0/96` so one trie holds both families. (The trie's own key adds
/// the prefix length in front.)
pub type WatchedAddr = [u8; 16];

/// Prefix length of an IPv4 prefix `len` in the mapped form.
pub const fn mapped_v4_prefix_len(len: u32) -> u32 {
    96 + len
}

/// The address `a.b.c.d` mapped into IPv6.
pub const fn mapped_v4(v4: [u8; 4]) -> WatchedAddr {
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, v4[0], v4[1], v4[2], v4[3]]
}

/// An inclusive range of TCP/UDP ports.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

/// Value of the watched-prefix trie: the server ports watched on that prefix.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchedPorts {
    /// Ranges in use, `1..=MAX_PORT_RANGES`.
    pub count: u32,
    pub _pad: u32,
    pub ranges: [PortRange; MAX_PORT_RANGES],
}

impl WatchedPorts {
    /// Whether `port` is in one of the ranges. Written as a fixed loop the
    /// verifier can bound.
    #[inline(always)]
    pub fn contains(&self, port: u16) -> bool {
        let mut i = 0;
        while i < MAX_PORT_RANGES {
            if (i as u32) < self.count && self.ranges[i].first <= port && port <= self.ranges[i].last {
                return true;
            }
            i += 1;
        }
        false
    }
}

/// The program's settings, one entry of an array map.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// Non-zero: no server is configured, keep every frame.
    pub keep_all: u32,
    /// Non-zero: frames not kept go on to the kernel (`XDP_PASS`) instead of
    /// being dropped (the default on a dedicated monitor port).
    pub pass_others: u32,
    /// Non-zero: tunnels are opened (VXLAN and GENEVE on `tunnel_ports`,
    /// GRE, ERSPAN, IP in IP, MPLS) and the watch filter matches the
    /// innermost addresses and ports; zero: outer headers only.
    pub open_tunnels: u32,
    pub _pad: u32,
    pub tunnel_ports: crate::TunnelPorts,
}

/// Per-CPU counters of the XDP program, indexes into its counter array.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpCounter {
    /// Every frame the program ran on.
    Seen = 0,
    /// Frames of watched servers (or all, with no filter).
    Kept = 1,
    /// Kept frames handed to an AF_XDP socket.
    Redirected = 2,
    /// Kept frames the redirect refused (no socket on that queue).
    RedirectFailed = 3,
    /// Frames the program could not parse down to the ports.
    Unparsed = 4,
    /// Parsed frames of servers not watched.
    FilteredOut = 5,
    /// Frames parsed through at least one tunnel (kept or not).
    Decapsulated = 6,
}

impl XdpCounter {
    pub const COUNT: usize = 7;
    pub const ALL: [XdpCounter; Self::COUNT] = [
        XdpCounter::Seen,
        XdpCounter::Kept,
        XdpCounter::Redirected,
        XdpCounter::RedirectFailed,
        XdpCounter::Unparsed,
        XdpCounter::FilteredOut,
        XdpCounter::Decapsulated,
    ];

    /// Metric name (the `pastmon_` prefix left out), used in reports and on
    /// `/metrics`.
    pub const fn name(self) -> &'static str {
        match self {
            XdpCounter::Seen => "xdp_seen_total",
            XdpCounter::Kept => "xdp_kept_total",
            XdpCounter::Redirected => "xdp_redirected_total",
            XdpCounter::RedirectFailed => "xdp_redirect_failed_total",
            XdpCounter::Unparsed => "xdp_unparsed_total",
            XdpCounter::FilteredOut => "xdp_filtered_out_total",
            XdpCounter::Decapsulated => "xdp_decapsulated_total",
        }
    }

    pub const fn help(self) -> &'static str {
        match self {
            XdpCounter::Seen => "Frames the XDP program ran on.",
            XdpCounter::Kept => "Frames of watched servers (all frames when none is configured).",
            XdpCounter::Redirected => "Kept frames handed to an AF_XDP socket.",
            XdpCounter::RedirectFailed => "Kept frames dropped: no socket on their rx queue.",
            XdpCounter::Unparsed => "Frames not parsed down to TCP/UDP ports (not kept).",
            XdpCounter::FilteredOut => "Frames of servers not watched.",
            XdpCounter::Decapsulated => "Frames parsed through at least one tunnel (kept or not).",
        }
    }
}

/// Written by the program in the XDP metadata area, right before the frame;
/// AF_XDP copies it into the UMEM in front of the frame's data.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxMeta {
    /// Receive time in nanoseconds of the clock `clock` names.
    pub rx_ns: u64,
    /// Which clock `rx_ns` is on (`CLOCK_*`); room for the NIC's clock.
    pub clock: u32,
    /// `RX_META_MAGIC`: tells userspace the area was written.
    pub magic: u32,
}

pub const RX_META_MAGIC: u32 = 0x7061_7374; // "past"
/// `rx_ns` is `bpf_ktime_get_ns()`: CLOCK_MONOTONIC.
pub const CLOCK_MONOTONIC: u32 = 1;

#[cfg(feature = "user")]
mod pod {
    // SAFETY: all are #[repr(C)], plain integers, no padding.
    unsafe impl aya::Pod for super::PortRange {}
    unsafe impl aya::Pod for super::WatchedPorts {}
    unsafe impl aya::Pod for super::Settings {}
    unsafe impl aya::Pod for crate::TunnelPorts {}
}

const _: () = assert!(core::mem::size_of::<WatchedPorts>() == 8 + 4 * MAX_PORT_RANGES);
const _: () = assert!(core::mem::size_of::<Settings>() == 32);
const _: () = assert!(core::mem::size_of::<RxMeta>() == 16);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_dense_and_ordered() {
        for (i, c) in XdpCounter::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i);
        }
    }
}
