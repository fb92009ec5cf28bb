//! pastmon's XDP program, attached to the monitor (mirror) interface.
//!
//! For every frame: parse Ethernet (up to two VLAN tags), IPv4 or IPv6 (with
//! extension headers), through up to three tunnels (VXLAN, GENEVE, GRE,
//! ERSPAN, IP in IP, MPLS) when the settings say so, down to TCP or UDP;
//! keep it when either end of the innermost packet is a watched
//! server (prefix trie × port ranges) or when no server is configured; stamp
//! its receive time into the metadata area; redirect it to the AF_XDP socket
//! of its rx queue. Frames not kept are dropped, or passed on when the
//! sensor says so. Every outcome is counted per CPU.
//!
//! Invariant: every read of the frame goes through `read` (bounds checked
//! by the kernel), and parsing loops are fixed-length for the verifier.
#![no_std]
#![no_main]

use aya_ebpf::bindings::xdp_action::{XDP_DROP, XDP_PASS};
use aya_ebpf::cty::c_void;
use aya_ebpf::helpers::bpf_ktime_get_ns;
use aya_ebpf::helpers::gen::{bpf_xdp_adjust_meta, bpf_xdp_load_bytes};
use aya_ebpf::macros::{map, xdp};
use aya_ebpf::maps::lpm_trie::Key;
use aya_ebpf::maps::{Array, LpmTrie, PerCpuArray, XskMap};
use aya_ebpf::programs::XdpContext;
use core::mem::{size_of, MaybeUninit};
use pastmon_common::xdp::{
    mapped_v4, RxMeta, Settings, WatchedAddr, WatchedPorts, XdpCounter, CLOCK_MONOTONIC, MAX_QUEUES, MAX_WATCHED,
    RX_META_MAGIC,
};
use pastmon_common::{ethertype, ipproto, Encapsulation, TunnelPorts};

/// The kernel's flag for tries, which cannot be preallocated.
const BPF_F_NO_PREALLOC: u32 = 1;
/// IPv6 extension headers followed before giving up.
const MAX_IPV6_EXTENSIONS: usize = 4;
/// Tunnels opened inside each other, MPLS stacks included (as userspace).
const MAX_TUNNELS: u32 = 3;
/// Headers parsed at most: a link and an IP header per tunnel, and the
/// outer ones, with room to spare.
const MAX_STEPS: usize = 10;
/// MPLS labels of one stack followed.
const MAX_MPLS_LABELS: usize = 8;
/// How deep into a frame headers are looked for.
const MAX_HEADER_BYTES: usize = 1024;

#[map(name = "WATCHED")]
static WATCHED: LpmTrie<WatchedAddr, WatchedPorts> = LpmTrie::with_max_entries(MAX_WATCHED, BPF_F_NO_PREALLOC);

#[map(name = "SETTINGS")]
static SETTINGS: Array<Settings> = Array::with_max_entries(1, 0);

#[map(name = "COUNTERS")]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(XdpCounter::COUNT as u32, 0);

#[map(name = "SOCKETS")]
static SOCKETS: XskMap = XskMap::with_max_entries(MAX_QUEUES, 0);

#[xdp]
pub fn pastmon_xdp(ctx: XdpContext) -> u32 {
    count(XdpCounter::Seen);
    let settings = SETTINGS.get(0).copied().unwrap_or_default();
    let keep = settings.keep_all != 0
        || match ends(&ctx, &settings) {
            Some((ends, tunnels)) => {
                if tunnels > 0 {
                    count(XdpCounter::Decapsulated);
                }
                let watched = is_watched(&ends.src, ends.src_port) || is_watched(&ends.dst, ends.dst_port);
                if !watched {
                    count(XdpCounter::FilteredOut);
                }
                watched
            }
            None => {
                count(XdpCounter::Unparsed);
                false
            }
        };
    if !keep {
        return if settings.pass_others != 0 { XDP_PASS } else { XDP_DROP };
    }
    count(XdpCounter::Kept);
    stamp(&ctx);
    // SAFETY: ctx.ctx is the kernel's xdp_md for this invocation.
    let queue = unsafe { (*ctx.ctx).rx_queue_index };
    match SOCKETS.redirect(queue, 0) {
        Ok(action) => {
            count(XdpCounter::Redirected);
            action
        }
        Err(_) => {
            count(XdpCounter::RedirectFailed);
            XDP_DROP
        }
    }
}

/// The two ends of a TCP or UDP packet, addresses in the trie's form.
struct Ends {
    src: WatchedAddr,
    dst: WatchedAddr,
    src_port: u16,
    dst_port: u16,
}

#[inline(always)]
fn count(counter: XdpCounter) {
    if let Some(c) = COUNTERS.get_ptr_mut(counter as u32) {
        // SAFETY: a per-CPU slot; nothing else runs on this CPU meanwhile.
        unsafe { *c += 1 };
    }
}

#[inline(always)]
fn is_watched(addr: &WatchedAddr, port: u16) -> bool {
    match WATCHED.get(&Key::new(128, *addr)) {
        Some(ports) => ports.contains(port),
        None => false,
    }
}

/// The `T` at `offset` into the frame, if the frame holds it. The kernel
/// helper checks the bounds, so offsets may vary (IP options, IPv6
/// extension headers) without the verifier having to follow them.
#[inline(always)]
fn read<T: Copy>(ctx: &XdpContext, offset: usize) -> Option<T> {
    let mut value = MaybeUninit::<T>::uninit();
    // SAFETY: the helper writes exactly size_of::<T>() bytes or fails.
    let rc =
        unsafe { bpf_xdp_load_bytes(ctx.ctx, offset as u32, value.as_mut_ptr() as *mut c_void, size_of::<T>() as u32) };
    // SAFETY: rc == 0: every byte was written.
    (rc == 0).then(|| unsafe { value.assume_init() })
}

#[inline(always)]
fn be16(ctx: &XdpContext, offset: usize) -> Option<u16> {
    read::<[u8; 2]>(ctx, offset).map(u16::from_be_bytes)
}

/// Where the parser stands: the header at the current offset.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layer {
    Ethernet,
    Mpls,
    Ipv4,
    Ipv6,
}

/// Parses down to the innermost transport ports, through up to
/// `MAX_TUNNELS` tunnels when the settings open them (the same ones as
/// userspace's decoder: VXLAN and GENEVE on the configured ports, GRE with
/// IP, bridged Ethernet or ERSPAN I/II/III, IP in IP, MPLS); with the
/// number of tunnels opened. `None` when the frame is not TCP or UDP over
/// IP, is cut short, or is a later IP fragment (no ports in it).
///
/// One header a step, in a loop of fixed length: the verifier sees each
/// step once per (layer, tunnels) state, as the offset is held to a range.
#[inline(always)]
fn ends(ctx: &XdpContext, settings: &Settings) -> Option<(Ends, u32)> {
    let open = settings.open_tunnels != 0;
    let (mut layer, mut at, mut tunnels) = (Layer::Ethernet, 0usize, 0u32);
    for _ in 0..MAX_STEPS {
        if at > MAX_HEADER_BYTES {
            return None;
        }
        match layer {
            Layer::Ethernet => {
                let (ether_type, l3) = ethernet(ctx, at)?;
                layer = match ether_type {
                    ethertype::IPV4 => Layer::Ipv4,
                    ethertype::IPV6 => Layer::Ipv6,
                    ethertype::MPLS | ethertype::MPLS_MULTICAST if open && tunnels < MAX_TUNNELS => {
                        tunnels += 1;
                        Layer::Mpls
                    }
                    _ => return None,
                };
                at = l3;
            }
            Layer::Mpls => (layer, at) = mpls(ctx, at)?,
            Layer::Ipv4 | Layer::Ipv6 => {
                let (src, dst, proto, l4) = if layer == Layer::Ipv4 { ipv4(ctx, at)? } else { ipv6(ctx, at)? };
                if open && tunnels < MAX_TUNNELS {
                    if let Some(inner) = tunnel(ctx, &settings.tunnel_ports, proto, l4) {
                        (layer, at) = inner;
                        tunnels += 1;
                        continue;
                    }
                }
                if proto != ipproto::TCP && proto != ipproto::UDP {
                    return None;
                }
                let ends = Ends { src, dst, src_port: be16(ctx, l4)?, dst_port: be16(ctx, l4 + 2)? };
                return Some((ends, tunnels));
            }
        }
    }
    None
}

/// An Ethernet header at `offset`, up to two VLAN tags (802.1Q, 802.1ad
/// Q-in-Q): (EtherType, offset of what follows).
#[inline(always)]
fn ethernet(ctx: &XdpContext, offset: usize) -> Option<(u16, usize)> {
    let mut at = offset + 12;
    let mut ether_type = be16(ctx, at)?;
    at += 2;
    for _ in 0..2 {
        if ether_type == ethertype::VLAN || ether_type == ethertype::QINQ || ether_type == ethertype::QINQ_OLD {
            ether_type = be16(ctx, at + 2)?;
            at += 4;
        }
    }
    Some((ether_type, at))
}

/// The layer of an EtherType a tunnel names.
#[inline(always)]
fn layer_of(ether_type: u16) -> Option<Layer> {
    match ether_type {
        ethertype::IPV4 => Some(Layer::Ipv4),
        ethertype::IPV6 => Some(Layer::Ipv6),
        ethertype::MPLS | ethertype::MPLS_MULTICAST => Some(Layer::Mpls),
        ethertype::TEB => Some(Layer::Ethernet),
        _ => None,
    }
}

/// An MPLS label stack at `offset`: what is under its bottom label (IP by
/// its version, or an Ethernet pseudowire behind a zero control word).
#[inline(always)]
fn mpls(ctx: &XdpContext, offset: usize) -> Option<(Layer, usize)> {
    let mut at = offset;
    for _ in 0..MAX_MPLS_LABELS {
        let bottom = read::<u8>(ctx, at + 2)? & 1 == 1;
        at += 4;
        if bottom {
            return match read::<u8>(ctx, at)? >> 4 {
                4 => Some((Layer::Ipv4, at)),
                6 => Some((Layer::Ipv6, at)),
                0 => Some((Layer::Ethernet, at + 4)),
                _ => None,
            };
        }
    }
    None
}

/// The tunnel an IP packet of protocol `proto` with its payload at `l4`
/// is, if it is one: the inner layer and where it starts.
#[inline(always)]
fn tunnel(ctx: &XdpContext, ports: &TunnelPorts, proto: u8, l4: usize) -> Option<(Layer, usize)> {
    match proto {
        ipproto::IPIP => Some((Layer::Ipv4, l4)),
        ipproto::IPV6 => Some((Layer::Ipv6, l4)),
        ipproto::GRE => gre(ctx, l4),
        ipproto::UDP => match ports.udp_tunnel(be16(ctx, l4 + 2)?)? {
            // The UDP header, then VXLAN's 8 bytes and an Ethernet frame.
            Encapsulation::Vxlan => Some((Layer::Ethernet, l4 + 16)),
            // GENEVE: 8 bytes, options, the protocol its header names.
            _ => {
                let options = usize::from(read::<u8>(ctx, l4 + 8)? & 0x3f) * 4;
                Some((layer_of(be16(ctx, l4 + 10)?)?, l4 + 16 + options))
            }
        },
        _ => None,
    }
}

/// GRE (RFC 2784/2890) at `offset`: optional checksum, key and sequence
/// number, then IP, bridged Ethernet, or ERSPAN (type I without a
/// sequence number, II with one, III with its optional sub-header).
#[inline(always)]
fn gre(ctx: &XdpContext, offset: usize) -> Option<(Layer, usize)> {
    let flags = be16(ctx, offset)?;
    let protocol = be16(ctx, offset + 2)?;
    let words = usize::from(flags & 0x8000 != 0) + usize::from(flags & 0x2000 != 0) + usize::from(flags & 0x1000 != 0);
    let at = offset + 4 + words * 4;
    match protocol {
        ethertype::ERSPAN_II if flags & 0x1000 != 0 => Some((Layer::Ethernet, at + 8)),
        ethertype::ERSPAN_II => Some((Layer::Ethernet, at)),
        ethertype::ERSPAN_III => {
            let optional = usize::from(read::<u8>(ctx, at + 11)? & 1) * 8;
            Some((Layer::Ethernet, at + 12 + optional))
        }
        other => layer_of(other).map(|layer| (layer, at)),
    }
}

/// IPv4 header at `offset`: (source, destination, protocol, transport offset).
#[inline(always)]
fn ipv4(ctx: &XdpContext, offset: usize) -> Option<(WatchedAddr, WatchedAddr, u8, usize)> {
    let version_ihl: u8 = read(ctx, offset)?;
    let header_len = usize::from(version_ihl & 0x0f) * 4;
    if version_ihl >> 4 != 4 || header_len < 20 {
        return None;
    }
    let fragment_offset = be16(ctx, offset + 6)? & 0x1fff;
    if fragment_offset != 0 {
        return None;
    }
    let proto: u8 = read(ctx, offset + 9)?;
    let src: [u8; 4] = read(ctx, offset + 12)?;
    let dst: [u8; 4] = read(ctx, offset + 16)?;
    Some((mapped_v4(src), mapped_v4(dst), proto, offset + header_len))
}

/// IPv6 header at `offset`, extension headers skipped.
#[inline(always)]
fn ipv6(ctx: &XdpContext, offset: usize) -> Option<(WatchedAddr, WatchedAddr, u8, usize)> {
    let mut next: u8 = read(ctx, offset + 6)?;
    let src: WatchedAddr = read(ctx, offset + 8)?;
    let dst: WatchedAddr = read(ctx, offset + 24)?;
    let mut l4 = offset + 40;
    for _ in 0..MAX_IPV6_EXTENSIONS {
        let len = match next {
            ipproto::HOPOPT | ipproto::IPV6_ROUTE | ipproto::IPV6_OPTS => {
                (usize::from(read::<u8>(ctx, l4 + 1)?) + 1) * 8
            }
            ipproto::AH => (usize::from(read::<u8>(ctx, l4 + 1)?) + 2) * 4,
            ipproto::IPV6_FRAG => {
                if be16(ctx, l4 + 2)? & 0xfff8 != 0 {
                    return None; // a later fragment
                }
                8
            }
            _ => break,
        };
        next = read(ctx, l4)?;
        l4 += len;
    }
    Some((src, dst, next, l4))
}

/// Writes the receive time in front of the frame (the XDP metadata area),
/// where AF_XDP copies it along. Frames whose driver has no room for
/// metadata go on unstamped; userspace then takes its own receive time.
#[inline(always)]
fn stamp(ctx: &XdpContext) {
    let size = size_of::<RxMeta>() as i32;
    // SAFETY: the helper checks the headroom and fails cleanly without it.
    if unsafe { bpf_xdp_adjust_meta(ctx.ctx, -size) } != 0 {
        return;
    }
    let (meta, data) = (ctx.metadata(), ctx.data());
    if meta + size_of::<RxMeta>() > data {
        return;
    }
    // SAFETY: the area [meta, data) was just reserved and bounds-checked.
    unsafe {
        (meta as *mut RxMeta).write_unaligned(RxMeta {
            rx_ns: bpf_ktime_get_ns(),
            clock: CLOCK_MONOTONIC,
            magic: RX_META_MAGIC,
        })
    };
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // Unreachable: the verifier rejects programs that could panic.
    loop {}
}
