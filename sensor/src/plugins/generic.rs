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
