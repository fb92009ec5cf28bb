//! TLS 1.2 and 1.3, timed without decryption.
//!
//! - The handshake is one transaction: from the ClientHello to the end of
//!   the server's flight that finishes it (the flight after which the
//!   server has sent its ChangeCipherSpec or encrypted records: 1.2's
//!   CCS+Finished, 1.3's encrypted flight, a resumption's first flight).
//!   Its name comes from the SNI, else the name in the server certificate
//!   (TLS 1.2, sent in the clear); rule text `NAME handshake`.
//! - Then turn-taking over application-data records, as the generic TCP
//!   plugin does: a client turn is a request, the server's answer its
//!   response (rule text `NAME`). HTTPS thus gets first/last response times.
//!
//! Record framing is followed in both directions (headers may straddle
//! segments); only the ClientHello and the server's Certificate message are
//! buffered, each at most `MAX_MESSAGE` bytes. After a gap framing is lost:
//! turns go on by direction alone.

use super::{Parser, Plugin, Transport};
use crate::timing::Events;
use crate::transaction::Outcome;
use crate::Direction;

pub static PLUGIN: Plugin = Plugin {
    name: "tls",
    ports: &[443, 8443],
    transports: &[Transport::Tcp],
    detect: is_client_hello,
    new_parser: |_| Box::<Tls>::default(),
};

const HANDSHAKE: u8 = 22;
const CHANGE_CIPHER_SPEC: u8 = 20;
const APPLICATION_DATA: u8 = 23;
const CLIENT_HELLO: u8 = 1;
const CERTIFICATE: u8 = 11;
const SERVER_NAME: u16 = 0;
/// Handshake messages kept for their names.
const MAX_MESSAGE: usize = 16 * 1024;

/// A handshake record holding a ClientHello (SSL 3.0 to TLS 1.3 framing).
fn is_client_hello(b: &[u8]) -> bool {
    b.len() >= 6 && b[0] == HANDSHAKE && b[1] == 3 && b[2] <= 4 && b[5] == CLIENT_HELLO
}

/// Record framing of one direction.
#[derive(Default)]
struct Records {
    header: [u8; 5],
    header_len: usize,
    /// Body bytes left in the current record.
    body_left: usize,
    /// Framing lost (a gap): records are no longer followed.
    lost: bool,
}

impl Records {
    /// Splits `data` into (content type, body piece) and calls `f` on each.
    fn feed(&mut self, mut data: &[u8], mut f: impl FnMut(u8, &[u8])) {
        while !data.is_empty() && !self.lost {
            if self.body_left == 0 {
                let take = (5 - self.header_len).min(data.len());
                self.header[self.header_len..self.header_len + take].copy_from_slice(&data[..take]);
                self.header_len += take;
                data = &data[take..];
                if self.header_len < 5 {
                    return;
                }
                self.header_len = 0;
                if self.header[1] != 3 {
                    self.lost = true; // not a TLS record header
                    return;
                }
                self.body_left = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
                continue;
            }
            let take = self.body_left.min(data.len());
            f(self.header[0], &data[..take]);
            self.body_left -= take;
            data = &data[take..];
        }
    }
}

/// The handshake messages of one direction, split across records; the one
/// of type `wanted` is kept (its first `MAX_MESSAGE` bytes).
struct Handshakes {
    wanted: u8,
    header: [u8; 4],
    header_len: usize,
    /// Body bytes left in the current message.
    body_left: usize,
    kept: Vec<u8>,
    done: bool,
}

impl Handshakes {
    fn new(wanted: u8) -> Handshakes {
        Handshakes { wanted, header: [0; 4], header_len: 0, body_left: 0, kept: Vec::new(), done: false }
    }

    /// Adds handshake bytes; the wanted message (header included) when it
    /// has just become complete.
    fn add(&mut self, mut piece: &[u8]) -> Option<&[u8]> {
        while !piece.is_empty() && !self.done {
            if self.body_left == 0 && self.header_len < 4 {
                let take = (4 - self.header_len).min(piece.len());
                self.header[self.header_len..self.header_len + take].copy_from_slice(&piece[..take]);
                self.header_len += take;
                piece = &piece[take..];
                if self.header_len < 4 {
                    return None;
                }
                self.body_left =
                    usize::from(self.header[1]) << 16 | usize::from(self.header[2]) << 8 | usize::from(self.header[3]);
                if self.header[0] == self.wanted {
                    self.kept.extend_from_slice(&self.header);
                }
            }
            let take = self.body_left.min(piece.len());
            if self.header[0] == self.wanted {
                let room = MAX_MESSAGE.saturating_sub(self.kept.len());
                self.kept.extend_from_slice(&piece[..take.min(room)]);
            }
            self.body_left -= take;
            piece = &piece[take..];
            if self.body_left == 0 {
                self.header_len = 0;
                if self.header[0] == self.wanted {
                    self.done = true;
                    return Some(&self.kept);
                }
            }
        }
        None
    }
}

#[derive(Default, PartialEq, Eq, Clone, Copy)]
enum Turn {
    #[default]
    Idle,
    Client,
    Server,
}

#[derive(Default, PartialEq, Eq)]
enum Phase {
    /// Before the ClientHello.
    #[default]
    Start,
    /// The handshake transaction is open.
    Handshake,
    /// Application data, turn by turn.
    Data,
}

struct Tls {
    phase: Phase,
    turn: Turn,
    client: Records,
    server: Records,
    hello: Handshakes,
    certificate: Handshakes,
    /// The server has sent ChangeCipherSpec or encrypted records.
    server_keyed: bool,
    name: Option<String>,
}

impl Default for Tls {
    fn default() -> Tls {
        Tls {
            phase: Phase::Start,
            turn: Turn::Idle,
            client: Records::default(),
            server: Records::default(),
            hello: Handshakes::new(CLIENT_HELLO),
            certificate: Handshakes::new(CERTIFICATE),
            server_keyed: false,
            name: None,
        }
    }
}

impl Tls {
    fn client_bytes(&mut self, data: &[u8], ev: &mut Events) {
        let mut hello_done = None;
        let mut app_data = false;
        let (records, hello) = (&mut self.client, &mut self.hello);
        records.feed(data, |kind, piece| match kind {
            HANDSHAKE => {
                if let Some(m) = hello.add(piece) {
                    hello_done = Some(server_name(m));
                }
            }
            APPLICATION_DATA => app_data = true,
            _ => {}
        });
        // Alerts (close_notify) and the like are not requests.
        let request = app_data || records.lost;
        match self.phase {
            Phase::Start => {
                ev.request_start(0, 0);
                self.phase = Phase::Handshake;
                self.turn = Turn::Client;
            }
            Phase::Handshake if self.turn == Turn::Server && self.server_keyed => {
                self.end_response(ev);
                self.phase = Phase::Data;
                self.turn = Turn::Idle;
                if request {
                    self.start_turn(ev);
                }
            }
            Phase::Data if self.turn != Turn::Client && request => {
                if self.turn == Turn::Server {
                    self.end_response(ev);
                }
                self.start_turn(ev);
            }
            _ => {}
        }
        if let Some(Some(name)) = hello_done {
            self.name = Some(name);
            self.name_request(ev);
        }
    }

    fn server_bytes(&mut self, data: &[u8], ev: &mut Events) {
        let mut cert_name = None;
        let (records, certificate, keyed) = (&mut self.server, &mut self.certificate, &mut self.server_keyed);
        records.feed(data, |kind, piece| match kind {
            CHANGE_CIPHER_SPEC | APPLICATION_DATA => *keyed = true,
            HANDSHAKE if !*keyed => {
                if let Some(m) = certificate.add(piece) {
                    cert_name = certificate_name(m);
                }
            }
            _ => {}
        });
        if records.lost {
            *keyed = true; // framing lost: treat the handshake as done
        }
        if self.turn == Turn::Client && self.phase != Phase::Start {
            ev.request_end(0);
            ev.response_start(0, None);
        }
        if self.phase != Phase::Start {
            self.turn = Turn::Server;
        }
        if self.name.is_none() {
            if let Some(name) = cert_name {
                self.name = Some(name);
                self.name_request(ev);
            }
        }
    }

    fn start_turn(&mut self, ev: &mut Events) {
        ev.request_start(0, 0);
        self.turn = Turn::Client;
        self.name_request(ev);
    }

    /// Ends the server's turn; a handshake still without a name gets one.
    fn end_response(&mut self, ev: &mut Events) {
        if self.phase == Phase::Handshake && self.name.is_none() {
            ev.request_text(b"unknown handshake");
        }
        ev.response_end(0, Outcome::Ok);
        self.turn = Turn::Idle;
    }

    /// Names the open request once the name is known (`unknown` without
    /// SNI or certificate; the handshake waits for the certificate).
    fn name_request(&mut self, ev: &mut Events) {
        let name = self.name.as_deref().unwrap_or("unknown");
        match self.phase {
            Phase::Handshake if self.name.is_some() => ev.request_text(format!("{name} handshake").as_bytes()),
            Phase::Data => ev.request_text(name.as_bytes()),
            _ => {}
        }
    }
}

impl Parser for Tls {
    fn parse(&mut self, dir: Direction, data: &[u8], ev: &mut Events) {
        match dir {
            Direction::ToServer => self.client_bytes(data, ev),
            Direction::ToClient => self.server_bytes(data, ev),
        }
    }

    fn gap(&mut self, dir: Direction, _len: usize, ev: &mut Events) {
        match dir {
            Direction::ToServer => self.client.lost = true,
            Direction::ToClient => self.server.lost = true,
        }
        self.parse(dir, &[], ev);
    }

    fn end(&mut self, dir: Direction, ev: &mut Events) {
        if dir == Direction::ToClient && self.turn == Turn::Server {
            self.end_response(ev);
        }
    }
}

/// Reads a big-endian length of `n` bytes at `at`.
fn len_at(b: &[u8], at: usize, n: usize) -> Option<usize> {
    b.get(at..at + n).map(|s| s.iter().fold(0usize, |acc, x| acc << 8 | usize::from(*x)))
}

/// The host name of the SNI extension of a ClientHello message.
fn server_name(m: &[u8]) -> Option<String> {
    // type(1) len(3) version(2) random(32) session_id(1+n) suites(2+n) compression(1+n) extensions(2+n)
    let mut at = 4 + 2 + 32;
    at += 1 + len_at(m, at, 1)?;
    at += 2 + len_at(m, at, 2)?;
    at += 1 + len_at(m, at, 1)?;
    let end = (at + 2 + len_at(m, at, 2)?).min(m.len());
    at += 2;
    while at + 4 <= end {
        let (kind, len) = (len_at(m, at, 2)?, len_at(m, at + 2, 2)?);
        if kind == usize::from(SERVER_NAME) {
            // list len(2), name type(1) = 0 host_name, name len(2), name
            let name_len = len_at(m, at + 4 + 3, 2)?;
            let name = m.get(at + 4 + 5..at + 4 + 5 + name_len)?;
            return printable(name);
        }
        at += 4 + len;
    }
    None
}

/// The subject common name of the first certificate of a Certificate
/// message: the last CN attribute (OID 2.5.4.3) of the certificate before
/// its public key, i.e. the subject's rather than the issuer's.
fn certificate_name(m: &[u8]) -> Option<String> {
    // type(1) len(3) certificates len(3) first certificate len(3) DER
    let der_len = len_at(m, 7, 3)?;
    let der = m.get(10..(10 + der_len).min(m.len()))?;
    const CN: [u8; 5] = [0x06, 0x03, 0x55, 0x04, 0x03];
    // subjectPublicKeyInfo's algorithm: rsaEncryption or id-ecPublicKey.
    const RSA: [u8; 11] = [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    const EC: [u8; 9] = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    let key_info =
        der.windows(RSA.len()).position(|w| w == RSA).or_else(|| der.windows(EC.len()).position(|w| w == EC));
    let before_key = &der[..key_info.map_or(der.len(), |k| k.max(1))];
    let mut name = None;
    let mut at = 0;
    while let Some(p) = before_key[at..].windows(5).position(|w| w == CN) {
        let start = at + p + 5;
        // string type(1) len(1) value
        if let Some(len) = before_key.get(start + 1).map(|l| usize::from(*l)) {
            if let Some(value) = der.get(start + 2..start + 2 + len) {
                name = printable(value);
            }
        }
        at = start;
    }
    name
}

fn printable(b: &[u8]) -> Option<String> {
    (!b.is_empty() && b.iter().all(|c| c.is_ascii_graphic())).then(|| String::from_utf8_lossy(b).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_a_client_hello() {
        assert!(is_client_hello(&[22, 3, 1, 0, 200, 1, 0]));
        assert!(!is_client_hello(&[22, 3, 1, 0, 200, 2]));
        assert!(!is_client_hello(b"GET / HTTP/1.1"));
    }

    #[test]
    fn records_straddling_segments_are_followed() {
        let mut r = Records::default();
        let mut seen = Vec::new();
        let stream = [22u8, 3, 3, 0, 3, 1, 2, 3, 23, 3, 3, 0, 2, 9, 9];
        for piece in stream.chunks(2) {
            r.feed(piece, |kind, body| seen.extend(body.iter().map(|b| (kind, *b))));
        }
        assert_eq!(seen, vec![(22, 1), (22, 2), (22, 3), (23, 9), (23, 9)]);
    }
}
