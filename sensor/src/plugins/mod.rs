//! Protocol plugins: ordered payload in, transaction boundaries out.
//!
//! A plugin is one module with a [`Plugin`] descriptor (name, ports, content
//! detection, parser constructor) registered in [`PLUGINS`]. Its parser sees
//! each direction's payload in order, once (the flow layer reassembles TCP),
//! plus gaps where the capture lost bytes, and reports request and response
//! boundaries through [`Events`]; timing, byte counts and naming happen there.
//! `generic.rs` is the smallest complete plugin: copy it to add a protocol.
//! Line-oriented protocols (SMTP, IMAP, POP3, FTP) implement `lines::LineProtocol`
//! instead and get line framing, literals and gap handling for free.
//!
//! Invariants: a parser never panics on any input, keeps bounded state (it
//! buffers at most a message head), and resynchronises after a gap.

mod amqp;
mod dns;
mod ftp;
mod generic;
mod http;
mod http2;
mod imap;
mod irc;
mod kafka;
mod lines;
mod memcached;
mod mongodb;
mod mqtt;
mod mysql;
mod pop3;
mod postgres;
mod prefixed;
mod redis;
mod smtp;
mod tls;

use crate::timing::Events;
use crate::Direction;

/// A protocol parser for one flow.
pub trait Parser: Send {
    /// In-order payload of one direction (for UDP: one datagram).
    fn parse(&mut self, dir: Direction, data: &[u8], ev: &mut Events);
    /// `len` bytes of `dir` are missing from the capture.
    fn gap(&mut self, dir: Direction, len: usize, ev: &mut Events);
    /// `dir` has ended (FIN): close-delimited messages end here.
    fn end(&mut self, dir: Direction, ev: &mut Events);
    /// The rest of the connection belongs to another plugin (after STARTTLS
    /// or an accepted SSL request: "tls"; an HTTP/2 preface or `Upgrade:
    /// h2c`: "http2"). Asked after each parse.
    fn handover(&self) -> Option<Handover> {
        None
    }
}

/// Another plugin takes a connection over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handover {
    /// Its name.
    pub plugin: &'static str,
    /// Where it begins in the chunk just parsed; past the end: with the
    /// next chunk.
    pub from: usize,
}

impl Handover {
    /// From the next chunk on.
    pub const fn next_chunk(plugin: &'static str) -> Handover {
        Handover { plugin, from: usize::MAX }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

pub struct Plugin {
    /// Lower-case name: the rules table and the `plugin` column.
    pub name: &'static str,
    /// Server ports that select this plugin without looking at content.
    pub ports: &'static [u16],
    pub transports: &'static [Transport],
    /// Recognises the protocol from the client's first payload.
    pub detect: fn(&[u8]) -> bool,
    pub new_parser: fn(Transport) -> Box<dyn Parser>,
}

/// Every plugin, in detection order. The generic TCP plugin comes last: it
/// takes every TCP flow nothing else claimed; HTTP/2 comes before HTTP/1.x,
/// whose request line its preface resembles.
pub static PLUGINS: &[&Plugin] = &[
    &http2::PLUGIN,
    &http::PLUGIN,
    &dns::PLUGIN,
    &smtp::PLUGIN,
    &imap::PLUGIN,
    &pop3::PLUGIN,
    &ftp::PLUGIN,
    &postgres::PLUGIN,
    &mysql::PLUGIN,
    &irc::PLUGIN,
    &redis::PLUGIN,
    &memcached::PLUGIN,
    &mqtt::PLUGIN,
    &amqp::PLUGIN,
    &kafka::PLUGIN,
    &mongodb::PLUGIN,
    &tls::PLUGIN,
    &generic::PLUGIN,
];

/// A plugin and its index by name.
pub fn by_name(name: &str) -> Option<(u8, &'static Plugin)> {
    PLUGINS.iter().enumerate().find(|(_, p)| p.name == name).map(|(i, p)| (i as u8, *p))
}

pub fn is_known(name: &str) -> bool {
    PLUGINS.iter().any(|p| p.name == name)
}

pub fn names() -> Vec<&'static str> {
    PLUGINS.iter().map(|p| p.name).collect()
}

/// Every port some plugin watches by default: orients midstream flows.
pub fn is_known_server_port(port: u16) -> bool {
    PLUGINS.iter().any(|p| p.ports.contains(&port))
}

/// Chooses the plugin for a flow: by server port, else by the client's first
/// payload, else generic TCP. `None` for UDP nobody claims.
pub fn select(transport: Transport, server_port: u16, client_first: Option<&[u8]>) -> Option<(u8, &'static Plugin)> {
    let candidates = || PLUGINS.iter().enumerate().filter(move |(_, p)| p.transports.contains(&transport));
    candidates()
        .find(|(_, p)| p.ports.contains(&server_port))
        .or_else(|| candidates().find(|(_, p)| (p.detect)(client_first.unwrap_or_default())))
        .map(|(i, p)| (i as u8, *p))
}
