//! Memory stays bounded by configuration, whatever the input: 200,000
//! unanswered DNS queries from as many clients (a flow, a transaction and an
//! aggregation key each) report in JSON within a gigabyte, and the flow and
//! key caps hold the sensor to less.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

const QUERIES: u32 = 200_000;

/// A pcap of `n` DNS queries for `a.example`, each from its own client to
/// 10.0.0.1:53, 1 ms apart, none answered.
fn write_queries(path: &Path, n: u32) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0]).unwrap();
    let dns: &[u8] = &[
        0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0, 0, 1, 0, 1,
    ];
    for i in 0..n {
        let client = [10, 1 + (i >> 16) as u8, (i >> 8) as u8, i as u8];
        let udp_len = 8 + dns.len() as u16;
        let ip_len = 20 + udp_len;
        let mut frame = Vec::with_capacity(14 + ip_len as usize);
        frame.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]);
        let mut ip = vec![0x45, 0, (ip_len >> 8) as u8, ip_len as u8, 0, 0, 0, 0, 64, 17, 0, 0];
        ip.extend_from_slice(&client);
        ip.extend_from_slice(&[10, 0, 0, 1]);
        let sum = !ip.chunks(2).fold(0u32, |s, c| {
            let s = s + u32::from(u16::from_be_bytes([c[0], c[1]]));
            (s & 0xffff) + (s >> 16)
        }) as u16;
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&[0xc0, 0x00, 0, 53, (udp_len >> 8) as u8, udp_len as u8, 0, 0]);
        frame.extend_from_slice(dns);
        let (secs, usecs) = (1_795_000_000 + i / 1000, (i % 1000) * 1000);
        for v in [secs, usecs, frame.len() as u32, frame.len() as u32] {
            out.write_all(&v.to_le_bytes()).unwrap();
        }
        out.write_all(&frame).unwrap();
    }
    out.flush().unwrap();
}

/// Peak resident memory (MB) of `pastmon raw` on `pcap`, and the rows its
/// JSON report had. The child is reaped with `wait4` for its resource use,
/// which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn raw_json(pcap: &Path, extra: &[&str]) -> (f64, usize) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pastmon"))
        .args(["raw", "--pcap", pcap.to_str().unwrap(), "--format", "json", "--workers", "2"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (mut rows, mut buf, mut tail) = (0, vec![0; 1 << 20], Vec::new());
    loop {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        tail.extend_from_slice(&buf[..n]);
        rows += tail.windows(10).filter(|w| w == b"\"plugin\":\"").count();
        let keep = tail.len().saturating_sub(9);
        tail.drain(..keep);
    }
    let pid = child.id() as libc::pid_t;
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    // SAFETY: waits for our own child; status and usage are plain out-parameters.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "pastmon raw failed");
    (usage.ru_maxrss as f64 / 1024.0, rows)
}

#[test]
fn two_hundred_thousand_clients_report_in_json_within_a_gigabyte() {
    let dir = std::env::temp_dir().join(format!("pastmon-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("queries.pcap");
    write_queries(&pcap, QUERIES);
    // Keys enough for every client (each worker holds its share of the cap).
    let (peak_mb, rows) = raw_json(&pcap, &["--max-keys", "400000"]);
    eprintln!("{QUERIES} clients: {rows} rows, peak {peak_mb:.0} MB");
    assert_eq!(rows, QUERIES as usize, "one row per client");
    assert!(peak_mb < 1024.0, "peak {peak_mb:.0} MB");
    // Capped: 20,000 flows and keys in all, whatever the worker count.
    let (capped_mb, capped_rows) = raw_json(&pcap, &["--max-flows", "20000", "--max-keys", "20000"]);
    eprintln!("capped at 20,000 flows and keys: {capped_rows} rows, peak {capped_mb:.0} MB");
    assert!(capped_rows < QUERIES as usize / 4, "{capped_rows} rows");
    assert!(capped_mb < peak_mb / 2.0, "capped {capped_mb:.0} MB against {peak_mb:.0} MB");
    let _ = std::fs::remove_dir_all(&dir);
}
