//! Long conversations made of a short capture's messages, for benchmarks of
//! protocols with no server in Debian's archive (Kafka, MongoDB): the TCP
//! payloads of real captures, in their order, sent again and again over
//! many connections, each with its handshake, consistent sequence and
//! acknowledgement numbers, checksums and FIN.

use crate::pcap::{read_pcap, PcapWriter};
use std::collections::HashMap;
use std::path::Path;

/// A TCP payload and whether the client sent it.
pub type Message = (bool, Vec<u8>);

/// The TCP payloads of an untagged IPv4 capture, in order, each flow's
/// client being the side that sends its first payload; retransmitted
/// bytes are left out.
pub fn messages(path: &Path) -> std::io::Result<Vec<Message>> {
    let (_, records) = read_pcap(path)?;
    let mut clients: HashMap<[u8; 12], bool> = HashMap::new();
    let mut next_seq: HashMap<[u8; 12], u32> = HashMap::new();
    let mut out = Vec::new();
    for record in records {
        let f = record?.frame;
        if f.len() < 34 || f[12..14] != [0x08, 0x00] || f[23] != 6 {
            continue;
        }
        let ip = &f[14..];
        let ihl = usize::from(ip[0] & 15) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]])).min(ip.len());
        let Some(tcp) = ip.get(ihl..total) else { continue };
        if tcp.len() < 20 {
            continue;
        }
        let data_at = usize::from(tcp[12] >> 4) * 4;
        let Some(payload) = tcp.get(data_at..).filter(|p| !p.is_empty()) else { continue };
        // Source address and port, then destination: one direction.
        let mut key = [0u8; 12];
        key[..4].copy_from_slice(&ip[12..16]);
        key[4..6].copy_from_slice(&tcp[..2]);
        key[6..10].copy_from_slice(&ip[16..20]);
        key[10..].copy_from_slice(&tcp[2..4]);
        let seq = u32::from_be_bytes(tcp[4..8].try_into().unwrap());
        let expected = next_seq.entry(key).or_insert(seq);
        if (seq.wrapping_sub(*expected) as i32) < 0 {
            continue;
        }
        *expected = seq.wrapping_add(payload.len() as u32);
        let reverse: [u8; 12] = [&key[6..], &key[..6]].concat().try_into().unwrap();
        let from_client = match clients.get(&reverse) {
            Some(&client) => !client,
            None => *clients.entry(key).or_insert(true),
        };
        out.push((from_client, payload.to_vec()));
    }
    Ok(out)
}

/// Writes `connections` connections to `server_port` that together carry
/// about `packets` packets: each sends `messages` over and over (cut into
/// 1,448-byte segments), the connections taking turns message by message,
/// 10 µs apart.
pub fn write(
    out: &Path,
    messages: &[Message],
    server_port: u16,
    connections: u16,
    packets: usize,
) -> std::io::Result<()> {
    assert!(!messages.is_empty() && connections > 0, "nothing to repeat");
    let per_round: usize = messages.iter().map(|(_, m)| m.len().div_ceil(MSS)).sum();
    let rounds =
        packets.saturating_sub(6 * usize::from(connections)).div_ceil(per_round * usize::from(connections)).max(1);
    let mut w = Wire { out: PcapWriter::ethernet(out)?, now_us: 0 };
    let mut conns: Vec<Tcp> = (0..connections).map(|c| Tcp::new(c, server_port)).collect();
    for c in &mut conns {
        w.send(c, true, SYN, &[])?;
        w.send(c, false, SYN | ACK, &[])?;
        w.send(c, true, ACK, &[])?;
    }
    for _ in 0..rounds {
        for (from_client, message) in messages {
            for c in &mut conns {
                for segment in message.chunks(MSS) {
                    w.send(c, *from_client, ACK | PSH, segment)?;
                }
            }
        }
    }
    for c in &mut conns {
        w.send(c, true, FIN | ACK, &[])?;
        w.send(c, false, FIN | ACK, &[])?;
        w.send(c, true, ACK, &[])?;
    }
    w.out.finish()
}

const MSS: usize = 1448;
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// One connection: 10.1.x.y:40000+ → 10.1.0.1:port, and each side's next
/// sequence number.
struct Tcp {
    client: ([u8; 4], u16),
    server: ([u8; 4], u16),
    next: [u32; 2],
}

impl Tcp {
    fn new(index: u16, server_port: u16) -> Tcp {
        let [hi, lo] = (index + 2).to_be_bytes();
        Tcp { client: ([10, 1, hi, lo], 40_000 + index), server: ([10, 1, 0, 1], server_port), next: [1_000, 900_000] }
    }
}

/// The capture being written and its clock.
struct Wire {
    out: PcapWriter,
    now_us: u64,
}

impl Wire {
    fn send(&mut self, c: &mut Tcp, from_client: bool, flags: u8, payload: &[u8]) -> std::io::Result<()> {
        let (me, peer) = if from_client { (0, 1) } else { (1, 0) };
        let ((src, sport), (dst, dport)) = if from_client { (c.client, c.server) } else { (c.server, c.client) };
        let syn = flags & SYN != 0;
        let options: &[u8] = if syn { &[2, 4, 0x05, 0xb4] } else { &[] };
        let mut tcp = Vec::with_capacity(20 + options.len() + payload.len());
        tcp.extend(sport.to_be_bytes());
        tcp.extend(dport.to_be_bytes());
        tcp.extend(c.next[me].to_be_bytes());
        tcp.extend(if flags & ACK != 0 { c.next[peer] } else { 0 }.to_be_bytes());
        tcp.extend([((20 + options.len()) as u8 / 4) << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
        tcp.extend_from_slice(options);
        tcp.extend_from_slice(payload);
        let mut pseudo = [&src[..], &dst[..], &[0, 6], &(tcp.len() as u16).to_be_bytes()[..]].concat();
        pseudo.extend_from_slice(&tcp);
        tcp[16..18].copy_from_slice(&checksum(&pseudo).to_be_bytes());
        c.next[me] = c.next[me].wrapping_add(payload.len() as u32 + u32::from(syn) + u32::from(flags & FIN != 0));

        let mut frame = vec![2, 0, 0, 0, 0, 1 + me as u8, 2, 0, 0, 0, 0, 1 + peer as u8, 0x08, 0x00];
        let mut ip = vec![0x45, 0];
        ip.extend(((20 + tcp.len()) as u16).to_be_bytes());
        ip.extend([0, 0, 0x40, 0, 64, 6, 0, 0]);
        ip.extend(src);
        ip.extend(dst);
        let sum = checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        frame.extend(ip);
        frame.extend(tcp);

        self.now_us += 10;
        let secs = 1_700_000_000 + (self.now_us / 1_000_000) as u32;
        let micros = (self.now_us % 1_000_000) as u32;
        let ts: [u8; 8] = [secs.to_le_bytes(), micros.to_le_bytes()].concat().try_into().unwrap();
        self.out.write(&ts, &frame)
    }
}

/// The Internet checksum (RFC 1071) of `bytes`.
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_conversation_carries_its_messages_in_order_with_valid_checksums() {
        let captures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sensor/tests/captures/mongodb/mongo.pcap");
        let messages = messages(&captures).unwrap();
        // mongo.pcap: one connection, requests and replies taking turns.
        assert!(messages.len() >= 10 && messages[0].0, "{}", messages.len());
        let out = std::env::temp_dir().join(format!("pastmon-repeat-{}.pcap", std::process::id()));
        write(&out, &messages, 27017, 3, 1000).unwrap();
        let (_, records) = read_pcap(&out).unwrap();
        let frames: Vec<_> = records.map(|r| r.unwrap().frame).collect();
        std::fs::remove_file(&out).unwrap();
        let per_round: usize = messages.iter().map(|(_, m)| m.len().div_ceil(MSS)).sum();
        let rounds = (1000 - 18usize).div_ceil(per_round * 3);
        assert_eq!(frames.len(), 18 + rounds * per_round * 3);
        let mut client_bytes = Vec::new();
        for f in &frames {
            let ip = &f[14..];
            assert_eq!(checksum(&ip[..20]), 0, "IPv4 header checksum");
            let tcp = &ip[20..];
            let pseudo = [&ip[12..20], &[0, 6], &(tcp.len() as u16).to_be_bytes()[..], tcp].concat();
            assert_eq!(checksum(&pseudo), 0, "TCP checksum");
            if tcp[..2] == 40_000u16.to_be_bytes() {
                client_bytes.extend_from_slice(&tcp[usize::from(tcp[12] >> 4) * 4..]);
            }
        }
        // The first connection's client sent its requests, round after round.
        let requests: Vec<u8> = messages.iter().filter(|(c, _)| *c).flat_map(|(_, m)| m.clone()).collect();
        assert_eq!(client_bytes, requests.repeat(rounds));
    }
}
