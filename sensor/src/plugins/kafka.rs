//! Kafka (9092): requests paired with responses by correlation id, several
//! in flight per connection; request header versions 0 to 2 (flexible
//! versions with tagged fields). Named through the rules from `Api` or
//! `Api topic` (Produce, Fetch before topic ids, ListOffsets: the first
//! topic), `KAFKA_Produce_orders`, `KAFKA_Fetch_orders`, `KAFKA_Heartbeat` …
//! by default. The outcome is `error` where the response's error code is
//! not 0 (read where it has a fixed place: a Produce's first partition,
//! Fetch from v7, ApiVersions, and the group APIs after their throttle
//! time), else `ok`. A Produce with acks=0 has no response: not a
//! transaction. Messages are passed over by length; a message's head is
//! kept up to [`HEAD`] bytes.

use super::prefixed::Prefixed;
use super::{Parser, Plugin, Transport};
use crate::timing::Events;
use crate::transaction::Outcome;
use crate::Direction;
use std::collections::VecDeque;

pub static PLUGIN: Plugin = Plugin {
    name: "kafka",
    ports: &[9092],
    transports: &[Transport::Tcp],
    detect: looks_like_request,
    new_parser: |_| Box::<Kafka>::default(),
};

/// Bytes of a message kept after its length: the header and the body's
/// first fields.
const HEAD: usize = 256;
/// Requests awaiting a response per connection; past it the oldest is given up.
const MAX_PENDING: usize = 256;
/// The largest message believed (Kafka's default socket.request.max.bytes).
const MAX_MESSAGE: u32 = 100 * 1024 * 1024;

const PRODUCE: i16 = 0;
const FETCH: i16 = 1;
const LIST_OFFSETS: i16 = 2;
const API_VERSIONS: i16 = 18;

/// The API names, by key.
const APIS: [&str; 52] = [
    "Produce",
    "Fetch",
    "ListOffsets",
    "Metadata",
    "LeaderAndIsr",
    "StopReplica",
    "UpdateMetadata",
    "ControlledShutdown",
    "OffsetCommit",
    "OffsetFetch",
    "FindCoordinator",
    "JoinGroup",
    "Heartbeat",
    "LeaveGroup",
    "SyncGroup",
    "DescribeGroups",
    "ListGroups",
    "SaslHandshake",
    "ApiVersions",
    "CreateTopics",
    "DeleteTopics",
    "DeleteRecords",
    "InitProducerId",
    "OffsetForLeaderEpoch",
    "AddPartitionsToTxn",
    "AddOffsetsToTxn",
    "EndTxn",
    "WriteTxnMarkers",
    "TxnOffsetCommit",
    "DescribeAcls",
    "CreateAcls",
    "DeleteAcls",
    "DescribeConfigs",
    "AlterConfigs",
    "AlterReplicaLogDirs",
    "DescribeLogDirs",
    "SaslAuthenticate",
    "CreatePartitions",
    "CreateDelegationToken",
    "RenewDelegationToken",
    "ExpireDelegationToken",
    "DescribeDelegationToken",
    "DeleteGroups",
    "ElectLeaders",
    "IncrementalAlterConfigs",
    "AlterPartitionReassignments",
    "ListPartitionReassignments",
    "OffsetDelete",
    "DescribeClientQuotas",
    "AlterClientQuotas",
    "DescribeUserScramCredentials",
    "AlterUserScramCredentials",
];

/// The first version of `api` with flexible (tagged-field) messages, for
/// the APIs whose request bodies or response errors this parser reads.
fn first_flexible(api: i16) -> Option<i16> {
    Some(match api {
        PRODUCE => 9,
        FETCH => 12,
        LIST_OFFSETS => 6,
        3 => 9,
        8 => 8,
        9 => 6,
        10 => 3,
        11 => 6,
        12..=14 => 4,
        15 => 5,
        16 => 3,
        API_VERSIONS => 3,
        19 => 5,
        20 => 4,
        22 => 2,
        36 => 2,
        _ => return None,
    })
}

fn flexible(api: i16, version: i16) -> bool {
    first_flexible(api).is_some_and(|v| version >= v)
}

/// Whether a client's first bytes look like a Kafka request: a length
/// that covers them, a known API and version, a plausible client id.
fn looks_like_request(b: &[u8]) -> bool {
    let (Some(len), Some(api), Some(version), Some(client)) = (be32(b, 0), be16(b, 4), be16(b, 6), be16(b, 12)) else {
        return false;
    };
    (12..=MAX_MESSAGE).contains(&(len as u32))
        && len as usize + 4 >= b.len()
        && (0..APIS.len() as i16).contains(&api)
        && (0..=20).contains(&version)
        && (-1..=255).contains(&client)
}

fn be16(b: &[u8], at: usize) -> Option<i16> {
    Some(i16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Reads a message's fields in order.
struct Fields<'a> {
    b: &'a [u8],
    at: usize,
    flexible: bool,
}

impl<'a> Fields<'a> {
    fn skip(&mut self, n: usize) -> Option<()> {
        self.at = self.at.checked_add(n).filter(|at| *at <= self.b.len())?;
        Some(())
    }

    fn uvarint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for k in 0..5 {
            let byte = *self.b.get(self.at)?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << (7 * k);
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn i16(&mut self) -> Option<i16> {
        let v = be16(self.b, self.at)?;
        self.at += 2;
        Some(v)
    }

    /// A (nullable) string: compact in flexible versions (0 is null).
    fn string(&mut self) -> Option<&'a [u8]> {
        let len = if self.flexible {
            usize::try_from(self.uvarint()?.saturating_sub(1)).ok()?
        } else {
            usize::try_from(self.i16()?).unwrap_or(0)
        };
        let s = self.b.get(self.at..self.at + len)?;
        self.at += len;
        Some(s)
    }

    /// An array's length (compact in flexible versions).
    fn array(&mut self) -> Option<u64> {
        if self.flexible {
            self.uvarint()?.checked_sub(1)
        } else {
            u64::try_from(be32(self.b, self.at).inspect(|_| self.at += 4)?).ok()
        }
    }

    /// Tagged fields (flexible versions): their count, then each tag, size
    /// and bytes.
    fn tags(&mut self) -> Option<()> {
        if self.flexible {
            for _ in 0..self.uvarint()? {
                self.uvarint()?;
                let size = usize::try_from(self.uvarint()?).ok()?;
                self.skip(size)?;
            }
        }
        Some(())
    }
}

/// The topic a request names first (Produce, Fetch before topic ids,
/// ListOffsets), from its body.
fn first_topic(api: i16, version: i16, body: &mut Fields) -> Option<Vec<u8>> {
    match api {
        PRODUCE => {
            if version >= 3 {
                body.string()?; // transactional id
            }
            body.skip(2 + 4)?; // acks, timeout
        }
        FETCH if version < 13 => {
            body.skip(if version >= 15 { 0 } else { 4 } + 4 + 4)?; // replica, max wait, min bytes
            body.skip(if version >= 3 { 4 } else { 0 } + if version >= 4 { 1 } else { 0 })?;
            body.skip(if version >= 7 { 8 } else { 0 })?; // session id and epoch
        }
        LIST_OFFSETS => body.skip(4 + if version >= 2 { 1 } else { 0 })?, // replica, isolation
        _ => return None,
    }
    if body.array()? == 0 {
        return None;
    }
    body.string().map(<[u8]>::to_vec)
}

/// The acks of a Produce request (0: no response).
fn produce_acks(version: i16, body: &mut Fields) -> Option<i16> {
    if version >= 3 {
        body.string()?;
    }
    body.i16()
}

/// The response's error code where it has a fixed place.
fn error_code(api: i16, version: i16, body: &mut Fields) -> Option<i16> {
    match api {
        PRODUCE => {
            // topics[0]: name, partitions[0]: index, error code.
            (body.array()? > 0).then_some(())?;
            body.string()?;
            (body.array()? > 0).then_some(())?;
            body.skip(4)?;
            body.i16()
        }
        FETCH if version >= 7 => {
            body.skip(4)?;
            body.i16()
        }
        API_VERSIONS => body.i16(),
        // Throttle time, then the error: JoinGroup (v2+), Heartbeat,
        // LeaveGroup, SyncGroup (v1+), FindCoordinator v1 to v3.
        11 if version >= 2 => body.skip(4).and_then(|()| body.i16()),
        12..=14 if version >= 1 => body.skip(4).and_then(|()| body.i16()),
        10 if (1..4).contains(&version) => body.skip(4).and_then(|()| body.i16()),
        12..=14 | 10 => body.i16(),
        _ => None,
    }
}

/// A request awaiting its response.
#[derive(Clone, Copy, Debug)]
struct Pending {
    correlation: i32,
    api: i16,
    version: i16,
}

#[derive(Default)]
struct Pairing {
    pending: VecDeque<Pending>,
    text: Vec<u8>,
}

struct Kafka {
    framing: [Prefixed<4>; 2],
    pairing: Pairing,
}

impl Default for Kafka {
    fn default() -> Self {
        Kafka { framing: [Prefixed::new(HEAD), Prefixed::new(HEAD)], pairing: Pairing::default() }
    }
}

/// A message's length, from its 4-byte prefix.
fn length(prefix: &[u8; 4]) -> Option<u32> {
    Some(u32::from_be_bytes(*prefix)).filter(|len| *len <= MAX_MESSAGE)
}

impl Pairing {
    fn request(&mut self, head: &[u8], at: usize, end: usize, ev: &mut Events) {
        let (Some(api), Some(version), Some(correlation)) = (be16(head, 0), be16(head, 2), be32(head, 4)) else {
            return;
        };
        // Header v1 and v2: the client id (never compact), v2's tags.
        let mut fields = Fields { b: head, at: 8, flexible: false };
        let body = fields.string().and_then(|_| {
            fields.flexible = flexible(api, version);
            fields.tags()
        });
        let name = APIS.get(usize::try_from(api).unwrap_or(usize::MAX)).copied();
        self.text.clear();
        match name {
            Some(name) => self.text.extend_from_slice(name.as_bytes()),
            None => self.text.extend_from_slice(format!("Api{api}").as_bytes()),
        }
        if body.is_some() {
            let start = fields.at;
            if api == PRODUCE && produce_acks(version, &mut fields) == Some(0) {
                return; // acks=0: the broker never answers
            }
            fields.at = start;
            if let Some(topic) = first_topic(api, version, &mut fields) {
                self.text.push(b' ');
                self.text.extend_from_slice(&topic);
            }
        }
        if self.pending.len() >= MAX_PENDING {
            if let Some(old) = self.pending.pop_front() {
                ev.abandon(old.correlation as u32, Outcome::NoResponse);
            }
        }
        ev.request_start(at, correlation as u32);
        ev.request_text(&self.text);
        ev.request_end(end);
        self.pending.push_back(Pending { correlation, api, version });
    }

    fn response(&mut self, head: &[u8], at: usize, end: usize, ev: &mut Events) {
        let Some(correlation) = be32(head, 0) else { return };
        let Some(k) = self.pending.iter().position(|p| p.correlation == correlation) else { return };
        let Some(p) = self.pending.remove(k) else { return };
        // Response header v1 (flexible, except ApiVersions') has tags.
        let flexible = flexible(p.api, p.version);
        let mut fields = Fields { b: head, at: 4, flexible: flexible && p.api != API_VERSIONS };
        let error = fields.tags().and_then(|()| {
            fields.flexible = flexible;
            error_code(p.api, p.version, &mut fields)
        });
        let outcome = if error.is_some_and(|e| e != 0) { Outcome::Error } else { Outcome::Ok };
        ev.response_end_id(at, end, correlation as u32, outcome);
    }
}

impl Parser for Kafka {
    fn parse(&mut self, dir: Direction, data: &[u8], ev: &mut Events) {
        let Kafka { framing, pairing } = self;
        framing[dir as usize].feed(data, length, |m| {
            match dir {
                Direction::ToServer => pairing.request(m.head, m.at, m.end, ev),
                Direction::ToClient => pairing.response(m.head, m.at, m.end, ev),
            }
            true
        });
    }

    /// Lost bytes break the framing: stop rather than guess.
    fn gap(&mut self, dir: Direction, _len: usize, _ev: &mut Events) {
        self.framing[dir as usize].broken = true;
    }

    fn end(&mut self, _dir: Direction, _ev: &mut Events) {}
}
