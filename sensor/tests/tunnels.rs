//! Tunnelled mirrors: the same capture wrapped in each tunnel the decoder
//! opens (VXLAN, GENEVE, GRE with IP or bridged Ethernet, ERSPAN I, II and
//! III, IP in IP, MPLS and an MPLS Ethernet pseudowire, GRE inside VXLAN)
//! gives exactly the transactions of the plain capture, counted under its
//! encapsulation; tenants keep equal inner flows apart where configured;
//! the ports, the outer-only mode and ERSPAN III's switch time are
//! settings; a tunnel header cut anywhere is counted, never a panic. The
//! wrapping (`pastmon_testbed::tunnels`) is written apart from the decoder.

mod common;

use common::{analyse, analyse_with, capture, engine, Run};
use pastmon::capture::LinkType;
use pastmon::decode::{decode, Decoder, TunnelPath, Tunnels};
use pastmon_common::{Encapsulation, SkipReason};
use pastmon_testbed::pcap::{read_pcap, PcapWriter};
use pastmon_testbed::tunnels::{encapsulation, outer_ipv4, vxlan_on, wrap_pcap, Frame, ENCAPSULATIONS};
use std::path::{Path, PathBuf};

const PLAIN: &str = "http_keepalive_5req_mozilla";

/// The encapsulations each wrapper's frames count under.
fn counted_under(name: &str) -> Vec<Encapsulation> {
    match name {
        "vxlan" => vec![Encapsulation::Vxlan],
        "geneve" => vec![Encapsulation::Geneve],
        "gre_ip_key" | "gre_bridged" => vec![Encapsulation::Gre],
        "erspan1" | "erspan2" | "erspan3" => vec![Encapsulation::Erspan],
        "ipip" => vec![Encapsulation::IpInIp],
        "mpls" | "mpls_pseudowire" => vec![Encapsulation::Mpls],
        "gre_in_vxlan" => vec![Encapsulation::Vxlan, Encapsulation::Gre],
        _ => panic!("{name}"),
    }
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("pastmon-tunnels-{what}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// The plain capture wrapped by `name`'s wrapper, every frame in
    /// `tenant(i)`.
    fn wrapped(&self, name: &str, tenant: impl Fn(usize) -> u32) -> PathBuf {
        let path = self.0.join(format!("{name}.pcap"));
        wrap_pcap(&capture(PLAIN), &path, encapsulation(name), tenant).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn with_tunnels(path: &Path, tunnels: Tunnels) -> Run {
    analyse_with(path, &pastmon::worker::EngineConfig { decoder: Decoder { tunnels }, ..engine(1) })
}

/// Frames and bytes of a capture file.
fn frames_and_bytes(path: &Path) -> (u64, u64) {
    let (_, records) = read_pcap(path).unwrap();
    records.map(|r| r.unwrap().frame.len() as u64).fold((0, 0), |(n, b), len| (n + 1, b + len))
}

#[test]
fn every_tunnel_gives_the_transactions_of_the_plain_capture() {
    let plain = analyse(&capture(PLAIN), 1);
    assert_eq!(plain.txs.len(), 5, "the capture's five GETs");
    let scratch = Scratch::new("each");
    for (name, _) in ENCAPSULATIONS {
        let path = scratch.wrapped(name, |_| 42);
        let run = analyse(&path, 1);
        assert_eq!(run.txs, plain.txs, "{name}: the same transactions, timings and all");
        assert_eq!(run.report["intervals"], plain.report["intervals"], "{name}: the same aggregates");
        assert_eq!(run.report["capture"]["flows"], plain.report["capture"]["flows"], "{name}: no outer flow");
        let (frames, bytes) = frames_and_bytes(&path);
        let under = counted_under(name);
        for e in Encapsulation::ALL {
            let counted = &run.report["capture"]["tunnels"][e.name()];
            let want = if under.contains(&e) { (frames, bytes) } else { (0, 0) };
            assert_eq!((counted["frames"].as_u64(), counted["bytes"].as_u64()), (Some(want.0), Some(want.1)), "{name}");
            assert_eq!(counted["malformed"], 0, "{name}");
        }
    }
}

/// Flows the run saw.
fn flows(run: &Run) -> u64 {
    run.report["capture"]["flows"]["flows"].as_u64().unwrap()
}

#[test]
fn tenants_keep_equal_inner_flows_apart_where_the_configuration_asks() {
    let plain = analyse(&capture(PLAIN), 1);
    let scratch = Scratch::new("tenants");
    // Every frame four times: in VXLAN VNIs 1 and 2 and in ERSPAN sessions
    // 1 and 2, four copies of one conversation interleaved frame by frame.
    let doubled = scratch.0.join("doubled.pcap");
    let (global, records) = read_pcap(&capture(PLAIN)).unwrap();
    let mut out = PcapWriter::create(&doubled, global).unwrap();
    for r in records.map(Result::unwrap) {
        for name in ["vxlan", "erspan2"] {
            for tenant in [1, 2] {
                let frame = Frame { ethernet: &r.frame, ts_ns: r.ts_ns(), tenant };
                out.write(&r.ts, &encapsulation(name)(&frame)).unwrap();
            }
        }
    }
    out.finish().unwrap();
    // VXLAN's VNI keys flows by default, ERSPAN's session when asked.
    let vxlan_only = Tunnels::default();
    let both = Tunnels { tenant_key: vxlan_only.tenant_key | Encapsulation::Erspan.bit(), ..vxlan_only };
    let none = Tunnels { tenant_key: 0, ..vxlan_only };
    let keyed = with_tunnels(&doubled, both);
    assert_eq!(keyed.txs.len(), 4 * plain.txs.len(), "two tenants, two encapsulations");
    assert_eq!(flows(&keyed), 4 * flows(&plain));
    for tx in &plain.txs {
        let copies = keyed.txs.iter().filter(|k| k["start_ns"] == tx["start_ns"] && k["signature"] == tx["signature"]);
        assert!(copies.clone().all(|k| k["last_response"] == tx["last_response"]), "{tx}");
        assert_eq!(copies.count(), 4, "{tx}");
    }
    let by_default = with_tunnels(&doubled, vxlan_only);
    assert_eq!(flows(&by_default), 3 * flows(&plain), "ERSPAN sessions 1 and 2 share their flows");
    let unkeyed = with_tunnels(&doubled, none);
    assert_eq!(flows(&unkeyed), flows(&plain), "all four copies in one flow each");
    assert!(unkeyed.report["capture"]["flows"]["retransmissions"].as_u64().unwrap() > 0, "the copies look resent");
}

#[test]
fn ports_and_the_outer_only_mode_are_settings() {
    let plain = analyse(&capture(PLAIN), 1);
    let scratch = Scratch::new("ports");
    // VXLAN on Linux's historical port 8472: opened only when configured.
    let path = scratch.0.join("vxlan8472.pcap");
    wrap_pcap(&capture(PLAIN), &path, |f| vxlan_on(8472, f), |_| 7).unwrap();
    let standard = Tunnels::default();
    assert!(with_tunnels(&path, standard).txs.is_empty(), "8472 is no VXLAN port by default");
    let mut ports = standard.ports;
    ports.vxlan[1] = 8472;
    assert_eq!(with_tunnels(&path, Tunnels { ports, ..standard }).txs, plain.txs);
    // Outer only: no tunnel is opened, nothing inside is analysed or counted.
    let vxlan = scratch.wrapped("vxlan", |_| 7);
    let outer = with_tunnels(&vxlan, Tunnels { open: false, ..standard });
    assert!(outer.txs.iter().all(|t| t["plugin"] != "http"), "{:?}", outer.txs);
    assert_eq!(outer.report["capture"]["tunnels"]["vxlan"]["frames"], 0);
    let gre = with_tunnels(&scratch.wrapped("gre_bridged", |_| 0), Tunnels { open: false, ..standard });
    let (frames, _) = frames_and_bytes(&capture(PLAIN));
    assert_eq!(gre.report["capture"]["skipped"]["not_tcp_udp"].as_u64(), Some(frames), "GRE left closed");
}

#[test]
fn erspan_iii_switch_time_can_be_the_frame_time() {
    let plain = analyse(&capture(PLAIN), 1);
    let scratch = Scratch::new("switch");
    // The switch's clock 1.5 s ahead of the capture's: the frames' times
    // move with it, the timings stay those of the capture (100 ns units).
    let path = scratch.0.join("erspan3-ahead.pcap");
    wrap_pcap(
        &capture(PLAIN),
        &path,
        |f| pastmon_testbed::tunnels::erspan3(&Frame { ts_ns: f.ts_ns + 1_500_000_000, ..*f }),
        |_| 3,
    )
    .unwrap();
    let by_capture = with_tunnels(&path, Tunnels::default());
    assert_eq!(by_capture.txs, plain.txs, "by default the capture's clock");
    let by_switch = with_tunnels(&path, Tunnels { switch_time: true, ..Tunnels::default() });
    assert_eq!(by_switch.txs.len(), plain.txs.len());
    for (s, p) in by_switch.txs.iter().zip(&plain.txs) {
        assert_eq!(s["start_ns"].as_u64().unwrap(), p["start_ns"].as_u64().unwrap() + 1_500_000_000, "{s}");
        for metric in ["first_response", "last_response", "last_ack", "request_bytes", "server_bytes"] {
            assert_eq!(s[metric], p[metric], "{metric}: {s} {p}");
        }
    }
}

#[test]
fn switch_stamps_unwrap_nearest_the_capture_clock() {
    use pastmon::decode::SwitchStamp;
    let now = 1_700_000_000_123_456_700u64;
    for (granularity, unit) in [(0u8, 100_000u64), (1, 100)] {
        let units = now / unit;
        // A stamp a little behind and a little ahead, across the 32-bit wrap.
        for offset in [-5i64, 0, 5] {
            let t = (units as i64 + offset) as u64;
            let stamp = SwitchStamp { value: t as u32, granularity };
            assert_eq!(stamp.unix_ns(now), Some(t * unit), "granularity {granularity}, offset {offset}");
        }
    }
    // IEEE 1588: nanoseconds of the second, the nearest second taken.
    let stamp = SwitchStamp { value: 999_999_000, granularity: 2 };
    assert_eq!(stamp.unix_ns(1_700_000_001_000_001_000), Some(1_700_000_000_999_999_000));
    assert_eq!(SwitchStamp { value: 1_000_000_000, granularity: 2 }.unix_ns(now), None);
    assert_eq!(SwitchStamp { value: 5, granularity: 3 }.unix_ns(now), None, "platform-specific");
}

#[test]
fn cut_or_nested_tunnel_headers_are_counted_never_a_panic() {
    let (_, mut records) = read_pcap(&capture(PLAIN)).unwrap();
    let syn = records.next().unwrap().unwrap().frame;
    let decoder = Decoder::default();
    for (name, wrap) in ENCAPSULATIONS {
        let frame = wrap(&Frame { ethernet: &syn, ts_ns: 1_700_000_000_000_000_000, tenant: 5 });
        let mut path = TunnelPath::default();
        assert!(decoder.decode(LinkType::Ethernet, &frame, &mut path).is_ok(), "{name}");
        for cut in 0..frame.len() {
            // Every prefix decodes to a packet or a reason: never a panic.
            let _ = decoder.decode(LinkType::Ethernet, &frame[..cut], &mut path);
        }
        // Where the tunnel's own header starts (after Ethernet, IP or UDP):
        // cut 4 bytes into it, the kind is known and the header short.
        let tunnel_at = match counted_under(name)[0] {
            Encapsulation::Mpls => 14,
            Encapsulation::Vxlan | Encapsulation::Geneve => 42,
            _ => 34,
        };
        let cut = decoder.decode(LinkType::Ethernet, &frame[..tunnel_at + 4], &mut path);
        assert_eq!(cut.unwrap_err(), SkipReason::BadTransportHeader, "{name}: a cut tunnel is no packet");
        assert_eq!(path.malformed, Some(counted_under(name)[0]), "{name}: counted as its malformed header");
    }
    // IP in IP ten deep: three tunnels are opened, the fourth is not TCP.
    let mut ip = syn[14..].to_vec();
    for _ in 0..10 {
        ip = outer_ipv4(4, &ip)[14..].to_vec();
    }
    let frame = [&syn[..14], &ip].concat();
    assert_eq!(decode(LinkType::Ethernet, &frame).unwrap_err(), SkipReason::NotTcpUdp);
    // Ethernet pseudowires nested a thousand deep: three opened, then left.
    let mut nested = syn.clone();
    for _ in 0..1000 {
        nested = pastmon_testbed::tunnels::mpls(&[18], &[&[0, 0, 0, 0][..], &nested].concat());
    }
    assert_eq!(decode(LinkType::Ethernet, &nested).unwrap_err(), SkipReason::NotIp);
}
