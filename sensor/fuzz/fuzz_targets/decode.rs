//! The decoder on arbitrary bytes, for every link type, and as the inside
//! of each tunnel it opens (the fuzzer then explores tunnel headers
//! directly, not only where random bytes happen to name a tunnel).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pastmon::capture::LinkType;
use pastmon::decode::{Decoder, TunnelPath, Tunnels};

/// Outer headers up to where a tunnel's own header starts, for `len` bytes
/// after them: Ethernet + IPv4 (total length left 0: taken from the
/// capture) + UDP to VXLAN or GENEVE, + GRE, + IP in IP, and Ethernet + MPLS.
fn prefixes(len: usize) -> [Vec<u8>; 5] {
    let eth = |ether_type: [u8; 2]| [&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2][..], &ether_type].concat();
    let ipv4 = |proto: u8| {
        [&eth([0x08, 0x00])[..], &[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0, 10, 99, 0, 1, 10, 99, 0, 2]].concat()
    };
    let udp_len = ((8 + len).min(0xffff) as u16).to_be_bytes();
    let udp = |port: u16| [&ipv4(17)[..], &[0xc3, 0x50], &port.to_be_bytes(), &udp_len, &[0, 0]].concat();
    [udp(4789), udp(6081), ipv4(47), ipv4(4), eth([0x88, 0x47])]
}

fuzz_target!(|data: &[u8]| {
    let all = Tunnels { tenant_key: 0xff, switch_time: true, ..Tunnels::default() };
    let decoder = Decoder { tunnels: all };
    let mut path = TunnelPath::default();
    for link in [LinkType::Ethernet, LinkType::RawIp, LinkType::LinuxSll, LinkType::LinuxSll2, LinkType::Null] {
        if let Ok(p) = decoder.decode(link, data, &mut path) {
            assert!(p.payload.len() <= p.payload_len as usize);
        }
    }
    for prefix in prefixes(data.len()) {
        let frame = [&prefix[..], data].concat();
        if let Ok(p) = decoder.decode(LinkType::Ethernet, &frame, &mut path) {
            assert!(p.payload.len() <= p.payload_len as usize);
            assert_ne!(path.layers, 0, "inside a tunnel");
        }
    }
});
