//! IRC (6667): a client command and the server's reply where the protocol
//! pairs them. Registration (PASS/NICK/USER up to the end of the MOTD, or
//! its absence) is one transaction (`IRC_REGISTER`); then PING → PONG,
//! JOIN → end of names (one per channel), WHOIS → end of WHOIS, LIST, WHO,
//! NAMES, MOTD, TOPIC, MODE … → their final numeric, or the server's echo
//! of our own PART, NICK, KICK. Error numerics (400–599) end a command as
//! `error` (for WHOIS and WHOWAS the end numeric still follows).
//!
//! Messages, notices, QUIT and the answers to the server's own PINGs pair
//! with nothing: they are not invented into transactions. Unsolicited lines
//! (other users' messages, joins and parts) are skipped while a reply is
//! awaited.

use super::lines::{LineEvent, LineProtocol, Lines};
use super::{Plugin, Transport};
use crate::timing::Events;
use crate::transaction::Outcome;
use crate::Direction;
use std::collections::VecDeque;

pub static PLUGIN: Plugin = Plugin {
    name: "irc",
    ports: &[6667],
    transports: &[Transport::Tcp],
    detect: |b| {
        let head = &b[..b.len().min(5)];
        ["NICK ", "USER ", "PASS ", "CAP L"].iter().any(|c| head.eq_ignore_ascii_case(c.as_bytes()))
    },
    new_parser: |_| Box::<Irc>::default(),
};

/// Commands awaiting replies, bounded like the transactions behind them.
const MAX_PENDING: usize = crate::timing::MAX_OPEN;
/// Our nick is kept up to this length.
const MAX_NICK: usize = 64;

/// What ends a command's reply: numerics or (echoed) commands.
fn ends_of(verb: &str) -> Option<&'static [&'static str]> {
    Some(match verb {
        "PING" => &["PONG"],
        "JOIN" | "NAMES" => &["366"],
        "PART" => &["PART"],
        "WHOIS" => &["318"],
        "WHOWAS" => &["369"],
        "WHO" => &["315"],
        "LIST" => &["323"],
        "MOTD" => &["376", "422"],
        "TOPIC" => &["331", "332", "TOPIC"],
        "MODE" => &["324", "221", "368", "MODE"],
        "NICK" => &["NICK"],
        "KICK" => &["KICK"],
        "INVITE" => &["341"],
        "ISON" => &["303"],
        "USERHOST" => &["302"],
        "AWAY" => &["305", "306"],
        "VERSION" => &["351"],
        "TIME" => &["391"],
        "ADMIN" => &["259"],
        "INFO" => &["374"],
        "LUSERS" => &["266"],
        "STATS" => &["219"],
        "LINKS" => &["365"],
        "OPER" => &["381"],
        "CAP" => &["CAP"],
        _ => return None,
    })
}

/// The end of registration: the MOTD's end, or its absence.
const REGISTERED: &[&str] = &["376", "422"];

struct Pending {
    ends: &'static [&'static str],
    /// End lines still to come (JOIN of several channels).
    left: usize,
    /// An error numeric does not end it (WHOIS: the end numeric follows).
    error_then_end: bool,
}

#[derive(Default)]
struct Irc {
    lines: [Lines; 2],
    pending: VecDeque<Pending>,
    in_reply: bool,
    error: bool,
    /// Registration finished (or was never seen: picked up midstream).
    registered: bool,
    registering: bool,
    nick: Vec<u8>,
}

/// A message's prefix nick (`:nick!user@host`), verb and first parameter.
fn parse(line: &[u8]) -> (Option<&[u8]>, String, Option<&[u8]>) {
    let line = line.strip_suffix(b"\r\n").or_else(|| line.strip_suffix(b"\n")).unwrap_or(line);
    let mut words = line.split(|b| *b == b' ').filter(|w| !w.is_empty());
    let mut first = words.next();
    let mut prefix = None;
    if let Some(p) = first.and_then(|w| w.strip_prefix(b":")) {
        prefix = p.split(|b| *b == b'!' || *b == b'@').next();
        first = words.next();
    }
    let verb = first.map(|w| String::from_utf8_lossy(w).to_ascii_uppercase()).unwrap_or_default();
    (prefix, verb, words.next())
}

impl Irc {
    fn client_line(&mut self, line: &[u8], start: usize, end: usize, ev: &mut Events) {
        let (_, verb, param) = parse(line);
        if verb == "NICK" {
            if let Some(nick) = param {
                let nick = nick.strip_prefix(b":").unwrap_or(nick);
                self.nick = nick[..nick.len().min(MAX_NICK)].to_vec();
            }
        } else if verb != "CAP" && ends_of(&verb).is_some() {
            self.registered = true; // a registered client's command (or midstream)
        }
        let registration = matches!(verb.as_str(), "PASS" | "NICK" | "USER") && !self.registered;
        let (ends, text): (&'static [&'static str], String) = if registration {
            if self.registering {
                return; // the rest of the registration belongs to it
            }
            self.registering = true;
            (REGISTERED, "REGISTER".into())
        } else if verb == "CAP" && param.is_some_and(|p| p.eq_ignore_ascii_case(b"END")) {
            return; // ends negotiation, answered by nothing
        } else {
            match ends_of(&verb) {
                Some(ends) => (ends, verb.clone()),
                None => return, // PRIVMSG, NOTICE, QUIT, PONG …: unpaired
            }
        };
        let left = if verb == "JOIN" { param.map_or(1, |p| p.split(|b| *b == b',').count()) } else { 1 };
        if self.pending.len() >= MAX_PENDING {
            return;
        }
        ev.request_start(start, 0);
        ev.request_text(text.as_bytes());
        ev.request_end(end);
        self.pending.push_back(Pending { ends, left, error_then_end: matches!(verb.as_str(), "WHOIS" | "WHOWAS") });
    }

    fn server_line(&mut self, line: &[u8], start: usize, end: usize, ev: &mut Events) {
        let (prefix, verb, _) = parse(line);
        let numeric = verb.len() == 3 && verb.bytes().all(|b| b.is_ascii_digit());
        if (numeric && REGISTERED.contains(&verb.as_str())) || verb == "001" {
            self.registered = true;
        }
        let Some(head) = self.pending.front_mut() else { return };
        let error = numeric && matches!(verb.as_bytes()[0], b'4' | b'5');
        let ours = prefix.is_none() || self.nick.is_empty() || prefix == Some(&self.nick[..]) || verb == "PONG";
        let ends_here = head.ends.contains(&verb.as_str()) && (numeric || ours);
        // Numerics answer us; other commands only when they end our command.
        if !numeric && !ends_here {
            return;
        }
        if !self.in_reply {
            self.in_reply = ev.response_start(start, None);
            self.error = false;
        }
        self.error |= error;
        let done = if ends_here {
            head.left -= 1;
            head.left == 0
        } else {
            error && !head.error_then_end
        };
        if done {
            if self.in_reply {
                ev.response_end(end, if self.error { Outcome::Error } else { Outcome::Ok });
            }
            self.in_reply = false;
            if self.pending.pop_front().is_some_and(|p| p.ends == REGISTERED) {
                self.registering = false;
            }
        }
    }
}

impl LineProtocol for Irc {
    fn lines(&mut self) -> &mut [Lines; 2] {
        &mut self.lines
    }

    fn event(&mut self, dir: Direction, e: LineEvent, ev: &mut Events) -> u64 {
        match (dir, e) {
            (Direction::ToServer, LineEvent::End { head, start, end }) => self.client_line(head, start, end, ev),
            (Direction::ToClient, LineEvent::End { head, start, end }) => self.server_line(head, start, end, ev),
            (_, LineEvent::Begin { .. }) => {}
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_split_into_prefix_verb_and_parameter() {
        assert_eq!(parse(b":irc.lab 366 me #c :End\r\n"), (Some(&b"irc.lab"[..]), "366".into(), Some(&b"me"[..])));
        assert_eq!(parse(b":me!u@h JOIN #c\r\n").0, Some(&b"me"[..]));
        assert_eq!(parse(b"ping :x\r\n").1, "PING");
    }
}
