//! Generic TCP: turn-taking. A client burst is a request, the server burst
//! that follows is its response; the client speaking again ends it. This is
//! PasTmon's "custom TCP based application" support: rules over the first
//! bytes of each client turn name the transactions (default `TCP_<port>`).
//!
//! This is the smallest complete plugin; copy it to start a new protocol.

use super::{Parser, Plugin, Transport};
use crate::timing::Events;
use crate::transaction::Outcome;
use crate::Direction;

pub static PLUGIN: Plugin = Plugin {
    name: "tcp",
    ports: &[],
    transports: &[Transport::Tcp],
    detect: |_| true,
    new_parser: |_| Box::new(Turns::default()),
};

#[derive(Default, PartialEq, Eq)]
enum Turn {
    /// Nothing yet, or the server spoke first (a banner: not a transaction).
    #[default]
    Idle,
    Client,
    Server,
}

#[derive(Default)]
struct Turns {
    turn: Turn,
}

impl Turns {
    fn bytes(&mut self, dir: Direction, text: &[u8], ev: &mut Events) {
        match (dir, &self.turn) {
            (Direction::ToServer, Turn::Client) | (Direction::ToClient, Turn::Server | Turn::Idle) => {}
            (Direction::ToServer, _) => {
                if self.turn == Turn::Server {
                    ev.response_end(0, Outcome::Ok);
                }
                ev.request_start(0, 0);
                ev.request_text(text);
                self.turn = Turn::Client;
            }
            (Direction::ToClient, Turn::Client) => {
                ev.request_end(0);
                ev.response_start(0, None);
                self.turn = Turn::Server;
            }
        }
    }
}

impl Parser for Turns {
    fn parse(&mut self, dir: Direction, data: &[u8], ev: &mut Events) {
        self.bytes(dir, data, ev);
    }

    fn gap(&mut self, dir: Direction, _len: usize, ev: &mut Events) {
        self.bytes(dir, &[], ev);
    }

    fn end(&mut self, dir: Direction, ev: &mut Events) {
        if dir == Direction::ToClient && self.turn == Turn::Server {
            ev.response_end(0, Outcome::Ok);
            self.turn = Turn::Idle;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timing::testing::{Harness, MS};
    use crate::transaction::Metric;

    /// Feeds `turns` (direction, time in ms, bytes) through the parser.
    fn run(turns: &[(Direction, u64, &[u8])]) -> Vec<crate::transaction::Transaction> {
        let mut h = Harness::tcp();
        let mut parser = Turns::default();
        for (dir, ms, data) in turns {
            h.chunk(*dir, *ms, data.len(), |ev| parser.parse(*dir, data, ev));
            if *dir == Direction::ToClient {
                h.ack(*ms + 1);
            }
        }
        h.chunk(Direction::ToClient, 1_000, 0, |ev| parser.end(Direction::ToClient, ev));
        h.ack(1_000);
        // The connection closes: what is still open ends unanswered.
        h.txs.flush(crate::timing::FlushReason::Close);
        h.emit()
    }

    #[test]
    fn a_client_burst_then_a_server_burst_is_one_transaction() {
        let (c, s) = (Direction::ToServer, Direction::ToClient);
        let txs = run(&[(c, 10, b"HELO"), (c, 11, b" there"), (s, 15, b"hi"), (s, 18, b"!"), (c, 30, b"BYE")]);
        assert_eq!(txs.len(), 2, "{txs:?}");
        assert_eq!(txs[0].get(Metric::RequestBytes), Some(10));
        assert_eq!(txs[0].get(Metric::ServerBytes), Some(3));
        assert_eq!(txs[0].get(Metric::FirstResponse), Some(5 * MS));
        assert_eq!(txs[0].get(Metric::LastResponse), Some(8 * MS));
        assert_eq!(txs[0].outcome, Outcome::Ok);
        assert_eq!(&*txs[0].signature, "TCP_7000");
        // The last turn had no answer before the end.
        assert_eq!(txs[1].outcome, Outcome::NoResponse);
    }

    #[test]
    fn a_server_banner_is_no_transaction() {
        let (c, s) = (Direction::ToServer, Direction::ToClient);
        let txs = run(&[(s, 0, b"220 ready"), (c, 5, b"QUIT"), (s, 6, b"221 bye")]);
        assert_eq!(txs.len(), 1, "{txs:?}");
        assert_eq!(txs[0].start_ns, 5 * MS);
        assert_eq!(txs[0].get(Metric::ServerBytes), Some(7));
    }

    #[test]
    fn a_gap_in_a_turn_keeps_the_turn() {
        let mut h = Harness::tcp();
        let mut parser = Turns::default();
        h.chunk(Direction::ToServer, 0, 4, |ev| parser.parse(Direction::ToServer, b"PING", ev));
        h.chunk(Direction::ToServer, 1, 0, |ev| parser.gap(Direction::ToServer, 100, ev));
        h.chunk(Direction::ToClient, 2, 4, |ev| parser.parse(Direction::ToClient, b"PONG", ev));
        h.chunk(Direction::ToClient, 3, 0, |ev| parser.end(Direction::ToClient, ev));
        h.ack(4);
        let txs = h.emit();
        assert_eq!(txs.len(), 1);
        assert_eq!(txs[0].outcome, Outcome::Ok);
    }
}
