//! Tunnelled mirrors: the same capture wrapped in each tunnel the decoder
//! opens (VXLAN, GENEVE, GRE with IP or bridged Ethernet, ERSPAN I, II and
//! III, IP in IP, MPLS and an MPLS Ethernet pseudowire, GRE inside VXLAN)
//! gives exactly the transactions of the plain capture, and a tunnel header
//! cut anywhere is counted, never a panic.

mod common;

use common::{analyse, capture};
use pastmon::capture::LinkType;
use pastmon::decode::decode;
use pastmon_common::{ethertype, ipproto, udp_port};
use std::path::Path;

/// An outer Ethernet + IPv4 (10.99.0.1 → 10.99.0.2) header around `inner`
/// with IP protocol `proto`.
fn outer_ipv4(proto: u8, inner: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    f.extend(ethertype::IPV4.to_be_bytes());
    f.extend([0x45, 0]);
    f.extend(((20 + inner.len()) as u16).to_be_bytes());
    f.extend([0, 0, 0x40, 0, 64, proto, 0, 0, 10, 99, 0, 1, 10, 99, 0, 2]);
    f.extend_from_slice(inner);
    f
}

fn outer_udp(dport: u16, inner: &[u8]) -> Vec<u8> {
    let mut u = 50000u16.to_be_bytes().to_vec();
    u.extend(dport.to_be_bytes());
    u.extend(((8 + inner.len()) as u16).to_be_bytes());
    u.extend([0, 0]);
    u.extend_from_slice(inner);
    outer_ipv4(ipproto::UDP, &u)
}

fn gre(flags: u16, protocol: u16, extra: &[u8], inner: &[u8]) -> Vec<u8> {
    let mut g = flags.to_be_bytes().to_vec();
    g.extend(protocol.to_be_bytes());
    g.extend_from_slice(extra);
    g.extend_from_slice(inner);
    outer_ipv4(ipproto::GRE, &g)
}

fn mpls(labels: &[u32], inner: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    f.extend(ethertype::MPLS.to_be_bytes());
    for (i, label) in labels.iter().enumerate() {
        let bottom = u32::from(i + 1 == labels.len());
        f.extend(((label << 12) | (bottom << 8) | 64).to_be_bytes());
    }
    f.extend_from_slice(inner);
    f
}

const VXLAN: [u8; 8] = [0x08, 0, 0, 0, 0, 0, 42, 0];

/// Wraps an Ethernet frame (or its IP packet, where the tunnel carries IP).
type Wrap = fn(&[u8]) -> Vec<u8>;

/// The encapsulations, by name.
const TUNNELS: [(&str, Wrap); 11] = [
    ("vxlan", |eth| outer_udp(udp_port::VXLAN, &[&VXLAN[..], eth].concat())),
    ("geneve", |eth| {
        outer_udp(udp_port::GENEVE, &[&[0x01, 0, 0x65, 0x58, 0, 0, 42, 0][..], &[0, 1, 2, 3], eth].concat())
    }),
    ("gre_ip_key", |eth| gre(0x2000, ethertype::IPV4, &[0, 0, 0, 5], &eth[14..])),
    ("gre_bridged", |eth| gre(0, ethertype::TEB, &[], eth)),
    ("erspan1", |eth| gre(0, ethertype::ERSPAN_II, &[], eth)),
    ("erspan2", |eth| {
        gre(0x1000, ethertype::ERSPAN_II, &[0, 0, 0, 9], &[&[0x10, 0, 0, 7, 0, 0, 0, 0][..], eth].concat())
    }),
    ("erspan3", |eth| {
        let header = [0x20, 0, 0, 7, 1, 2, 3, 4, 0, 0, 0, 1];
        gre(0x1000, ethertype::ERSPAN_III, &[0, 0, 0, 9], &[&header[..], &[0; 8], eth].concat())
    }),
    ("ipip", |eth| outer_ipv4(ipproto::IPIP, &eth[14..])),
    ("mpls", |eth| mpls(&[16, 17], &eth[14..])),
    ("mpls_pseudowire", |eth| mpls(&[18], &[&[0, 0, 0, 0][..], eth].concat())),
    ("gre_in_vxlan", |eth| outer_udp(udp_port::VXLAN, &[&VXLAN[..], &gre(0, ethertype::TEB, &[], eth)].concat())),
];

/// A classic little-endian pcap's Ethernet frames: (header without the
/// lengths, frame).
fn frames(pcap: &[u8]) -> Vec<([u8; 8], Vec<u8>)> {
    assert_eq!(pcap[..4], [0xd4, 0xc3, 0xb2, 0xa1], "a classic little-endian pcap");
    assert_eq!(u32::from_le_bytes(pcap[20..24].try_into().unwrap()), 1, "Ethernet");
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let captured = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        let wire = u32::from_le_bytes(pcap[at + 12..at + 16].try_into().unwrap()) as usize;
        assert_eq!(captured, wire, "whole frames only: a wrapped snapshot would move the cut");
        out.push((pcap[at..at + 8].try_into().unwrap(), pcap[at + 16..at + 16 + captured].to_vec()));
        at += 16 + captured;
    }
    out
}

fn write_pcap(path: &Path, global: &[u8], frames: &[([u8; 8], Vec<u8>)]) {
    let mut out = global[..24].to_vec();
    out[16..20].copy_from_slice(&65_535u32.to_le_bytes());
    for (time, frame) in frames {
        out.extend_from_slice(time);
        out.extend((frame.len() as u32).to_le_bytes());
        out.extend((frame.len() as u32).to_le_bytes());
        out.extend_from_slice(frame);
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn every_tunnel_gives_the_transactions_of_the_plain_capture() {
    let plain_path = capture("http_keepalive_5req_mozilla");
    let bytes = std::fs::read(&plain_path).unwrap();
    let plain_frames = frames(&bytes);
    let plain = analyse(&plain_path, 1);
    let requests = plain.txs.len();
    assert_eq!(requests, 5, "the capture's five GETs");
    let dir = std::env::temp_dir().join(format!("pastmon-tunnels-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, wrap) in TUNNELS {
        let wrapped: Vec<([u8; 8], Vec<u8>)> = plain_frames.iter().map(|(t, f)| (*t, wrap(f))).collect();
        let path = dir.join(format!("{name}.pcap"));
        write_pcap(&path, &bytes, &wrapped);
        let run = analyse(&path, 1);
        assert_eq!(run.txs, plain.txs, "{name}: the same transactions, timings and all");
        assert_eq!(run.report["intervals"], plain.report["intervals"], "{name}: the same aggregates");
        assert_eq!(run.report["capture"]["flows"], plain.report["capture"]["flows"], "{name}: no outer flow");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cut_or_nested_tunnel_headers_are_counted_never_a_panic() {
    let syn = frames(&std::fs::read(capture("http_keepalive_5req_mozilla")).unwrap()).remove(0).1;
    for (name, wrap) in TUNNELS {
        let frame = wrap(&syn);
        assert!(decode(LinkType::Ethernet, &frame).is_ok(), "{name}");
        for cut in 0..frame.len() {
            // Every prefix decodes to a packet or a reason: never a panic.
            let _ = decode(LinkType::Ethernet, &frame[..cut]);
        }
        let tunnel_at = if name.starts_with("mpls") { 14 } else { 34 };
        assert!(decode(LinkType::Ethernet, &frame[..tunnel_at + 2]).is_err(), "{name}: a cut tunnel is no packet");
    }
    // IP in IP ten deep: three tunnels are opened, the fourth is not TCP.
    let mut ip = syn[14..].to_vec();
    for _ in 0..10 {
        ip = outer_ipv4(ipproto::IPIP, &ip)[14..].to_vec();
    }
    let frame = [&syn[..14], &ip].concat();
    assert_eq!(decode(LinkType::Ethernet, &frame).unwrap_err(), pastmon_common::SkipReason::NotTcpUdp);
}
