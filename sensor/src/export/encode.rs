//! Encoding rows as RowBinary, in the column order of `deploy/clickhouse/`.
//!
//! The column lists here and the DDL are kept in step by the storage tests,
//! which compare them with `DESCRIBE TABLE` on a real server (with RowBinary
//! a mismatch would otherwise be silent).

use crate::aggregate::{client_text, Key, Row};
use crate::backends::{Edge, Paired};
use crate::decode::addr_to_ip;
use crate::records::SensorInterval;
use crate::transaction::{Metric, Outcome, Transaction};
use pastmon_common::{Encapsulation, SkipReason};

/// A column: name and ClickHouse type.
pub type Column = (String, &'static str);

fn outcome_column(label: &str) -> String {
    format!("outcome_{}", label.to_ascii_lowercase())
}

/// The first columns of level1 and backends: the interval and the
/// signature at its server.
const INTERVAL_SIGNATURE_SERVER: [(&str, &str); 7] = [
    ("interval_start", "DateTime"),
    ("interval_seconds", "UInt32"),
    ("sensor", "String"),
    ("plugin", "String"),
    ("signature", "String"),
    ("server_ip", "String"),
    ("server_port", "UInt16"),
];

fn named(columns: &[(&str, &'static str)]) -> Vec<Column> {
    columns.iter().map(|(n, t)| (n.to_string(), *t)).collect()
}

pub fn level1_columns() -> Vec<Column> {
    let mut c = named(&INTERVAL_SIGNATURE_SERVER);
    c.extend(named(&[("client", "String"), ("transactions", "UInt64")]));
    c.extend(Outcome::LABELS.iter().map(|l| (outcome_column(l), "UInt64")));
    for m in Metric::ALL {
        let n = m.name();
        c.push((format!("{n}_count"), "UInt64"));
        c.push((format!("{n}_min"), "UInt64"));
        c.push((format!("{n}_max"), "UInt64"));
        c.push((format!("{n}_sum"), "UInt64"));
        c.push((format!("{n}_buckets"), "Array(UInt16)"));
        c.push((format!("{n}_counts"), "Array(UInt64)"));
    }
    c.push(("batch_id".into(), "UInt64"));
    c
}

/// Names of the per-interval counters of the `sensors` table, in order.
const SENSOR_COUNTERS: [&str; 11] = [
    "first_fragments",
    "flows",
    "midstream",
    "evicted",
    "retransmissions",
    "out_of_order",
    "lost_bytes",
    "truncated_bytes",
    "transactions",
    "unmatched_responses",
    "late_transactions",
];

/// The columns of a table the sensor writes.
pub fn columns_of(table: &str) -> Option<Vec<Column>> {
    match table {
        "level1" => Some(level1_columns()),
        "sensors" => Some(sensors_columns()),
        "transactions" => Some(transactions_columns()),
        "backends" => Some(backends_columns()),
        _ => None,
    }
}

/// Column names for an INSERT: `a, b, c`.
pub fn column_list(columns: &[Column]) -> String {
    columns.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
}

/// Whether a column was added to a table since a spooled part could name
/// none (spool format 1): such a part holds the table's columns without
/// them (`dropped`, migration 7; the tunnel counters, migration 13).
fn added_since_spool_v1(table: &str, column: &str) -> bool {
    table == "sensors" && (column == "dropped" || column.starts_with("tunnel_"))
}

/// The column list of a part spooled in format 1.
pub fn spool_v1_column_list(table: &str) -> Option<String> {
    let mut columns = columns_of(table)?;
    columns.retain(|(name, _)| !added_since_spool_v1(table, name));
    Some(column_list(&columns))
}

pub fn sensors_columns() -> Vec<Column> {
    let mut c: Vec<Column> = vec![
        ("interval_start".into(), "DateTime"),
        ("interval_seconds".into(), "UInt32"),
        ("sensor".into(), "String"),
        ("version".into(), "String"),
        ("packets".into(), "UInt64"),
        ("bytes".into(), "UInt64"),
        // Added by migration 7, after `bytes`.
        ("dropped".into(), "UInt64"),
    ];
    c.extend(SkipReason::ALL.iter().map(|r| (format!("skipped_{}", r.name()), "UInt64")));
    c.extend(SENSOR_COUNTERS.iter().map(|n| (n.to_string(), "UInt64")));
    // Added by migration 13, after `late_transactions`.
    for e in Encapsulation::ALL {
        c.extend(["frames", "bytes", "malformed"].map(|what| (format!("tunnel_{}_{what}", e.name()), "UInt64")));
    }
    c.push(("export_lag_seconds".into(), "UInt32"));
    c.push(("spool_bytes".into(), "UInt64"));
    c.push(("batch_id".into(), "UInt64"));
    c
}

pub fn backends_columns() -> Vec<Column> {
    let mut c = named(&INTERVAL_SIGNATURE_SERVER);
    c.extend(named(&[
        ("backend_plugin", "String"),
        ("backend_signature", "String"),
        ("backend_ip", "String"),
        ("backend_port", "UInt16"),
        ("calls", "Float64"),
        ("backend_time_sum", "UInt64"),
        ("batch_id", "UInt64"),
    ]));
    c
}

pub fn transactions_columns() -> Vec<Column> {
    let mut c = named(&[
        ("start", "DateTime"),
        ("start_ns", "UInt64"),
        ("sensor", "String"),
        ("plugin", "String"),
        ("signature", "String"),
        ("client_ip", "String"),
        ("client_port", "UInt16"),
        ("server_ip", "String"),
        ("server_port", "UInt16"),
        ("outcome", "String"),
        ("code", "UInt16"),
    ]);
    c.extend(Metric::ALL.iter().map(|m| (m.name().to_string(), "Nullable(UInt64)")));
    c.push(("batch_id".into(), "UInt64"));
    c
}

/// RowBinary writer.
#[derive(Default)]
pub struct RowBinary(pub Vec<u8>);

impl RowBinary {
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn varint(&mut self, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(byte);
                return;
            }
            self.0.push(byte | 0x80);
        }
    }
    fn str(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }
    /// DateTime: seconds as UInt32 (saturating: 2106 is far).
    fn datetime(&mut self, secs: u64) {
        self.u32(u32::try_from(secs).unwrap_or(u32::MAX));
    }
}

/// Appends one `transactions` row.
pub fn transaction_row(out: &mut RowBinary, sensor: &str, tx: &Transaction, batch_id: u64) {
    out.datetime(tx.start_ns / 1_000_000_000);
    out.u64(tx.start_ns);
    out.str(sensor);
    out.str(tx.plugin);
    out.str(&tx.signature);
    out.str(&addr_to_ip(tx.client.0).to_string());
    out.u16(tx.client.1);
    out.str(&addr_to_ip(tx.server.0).to_string());
    out.u16(tx.server.1);
    out.str(tx.outcome.label());
    out.u16(tx.outcome.code().unwrap_or(0));
    for v in &tx.metrics {
        match *v {
            None => out.0.push(1),
            Some(v) => {
                out.0.push(0);
                out.u64(v);
            }
        }
    }
    out.u64(batch_id);
}

/// Appends one level1 row.
pub fn level1_row(out: &mut RowBinary, sensor: &str, interval: (u64, u32), key: &Key, row: &Row, batch_id: u64) {
    out.datetime(interval.0);
    out.u32(interval.1);
    out.str(sensor);
    out.str(key.plugin);
    out.str(&key.signature);
    out.str(&addr_to_ip(key.server.0).to_string());
    out.u16(key.server.1);
    out.str(&client_text(key.client));
    out.u64(row.count);
    for label in Outcome::LABELS {
        out.u64(row.outcomes.get(label).copied().unwrap_or(0));
    }
    for stat in &row.metrics {
        out.u64(stat.count);
        // No value: the largest number, so min() over rows needs no filter.
        out.u64(if stat.count == 0 { u64::MAX } else { stat.min });
        out.u64(stat.max);
        out.u64(stat.sum);
        let buckets = stat.hist.buckets();
        out.varint(buckets.len() as u64);
        for (b, _) in buckets {
            out.u16(*b);
        }
        out.varint(buckets.len() as u64);
        for (_, n) in buckets {
            out.u64(*n);
        }
    }
    out.u64(batch_id);
}

/// Appends one `backends` row: the calls of one front signature to one
/// backend in one interval.
pub fn backends_row(out: &mut RowBinary, sensor: &str, interval: (u64, u32), edge: &Edge, p: &Paired, batch_id: u64) {
    out.datetime(interval.0);
    out.u32(interval.1);
    out.str(sensor);
    for (plugin, signature, server) in [&edge.front, &edge.backend] {
        out.str(plugin);
        out.str(signature);
        out.str(&addr_to_ip(server.0).to_string());
        out.u16(server.1);
    }
    out.0.extend_from_slice(&p.calls.to_le_bytes());
    out.u64(p.time_ns.round() as u64);
    out.u64(batch_id);
}

pub fn sensors_row(
    out: &mut RowBinary,
    sensor: &str,
    interval: (u64, u32),
    s: &SensorInterval,
    export: (u32, u64),
    batch_id: u64,
) {
    out.datetime(interval.0);
    out.u32(interval.1);
    out.str(sensor);
    out.str(env!("CARGO_PKG_VERSION"));
    out.u64(s.capture.packets);
    out.u64(s.capture.bytes);
    out.u64(s.capture.dropped);
    for n in s.capture.skipped {
        out.u64(n);
    }
    let f = &s.flows;
    for v in [
        s.capture.first_fragments,
        f.flows,
        f.midstream,
        f.evicted,
        f.retransmissions,
        f.out_of_order,
        f.lost_bytes,
        f.truncated_bytes,
        s.transactions,
        f.unmatched_responses,
        s.late_transactions,
    ] {
        out.u64(v);
    }
    for t in s.capture.tunnels {
        for v in [t.frames, t.bytes, t.malformed] {
            out.u64(v);
        }
    }
    out.u32(export.0);
    out.u64(export.1);
    out.u64(batch_id);
}
