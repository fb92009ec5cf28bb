//! Retention: old data goes by dropping whole partitions, which works on
//! every ClickHouse version (no TTL on 18.16). The exporter enforces it
//! hourly; `pastmon schema retention` does it by hand.

use pastmon_clickhouse::{quote, ChError, Client};
use pastmon_model::calendar::civil;
use serde::Deserialize;

/// Days to keep per table; 0 keeps everything.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    pub level1_days: u32,
    pub level2_hour_days: u32,
    pub signatures_hour_days: u32,
    pub level2_day_days: u32,
    pub sensors_days: u32,
    pub transactions_days: u32,
}

/// The tables with a retention. Their partitions are named by day
/// (YYYYMMDD), month (YYYYMM) or year (YYYY); the name's length tells which,
/// so a table created with another granularity by an older version is
/// trimmed right too.
const TABLES: [&str; 7] =
    ["level1", "backends", "transactions", "level2_hour", "signatures_hour", "level2_day", "sensors"];

/// Whether partition `p` (YYYYMMDD, YYYYMM or YYYY) ends before `cutoff_s`.
fn older_than(p: u64, cutoff_s: u64) -> bool {
    let (y, m, d) = civil(cutoff_s);
    match p {
        0..=9_999 => p < y,
        10_000..=999_999 => p < y * 100 + m,
        _ => p < y * 10_000 + m * 100 + d,
    }
}

impl RetentionConfig {
    fn days(&self, table: &str) -> u32 {
        match table {
            // Backends are read beside level1, over the same intervals.
            "level1" | "backends" => self.level1_days,
            "level2_hour" => self.level2_hour_days,
            "signatures_hour" => self.signatures_hour_days,
            "level2_day" => self.level2_day_days,
            "transactions" => self.transactions_days,
            _ => self.sensors_days,
        }
    }

    /// Drops partitions older than each table's retention at `now_s`;
    /// returns (table, partition) of what was dropped.
    pub fn enforce(&self, client: &Client, now_s: u64) -> Result<Vec<(String, u64)>, ChError> {
        let db = &client.cfg.database;
        let mut dropped = Vec::new();
        for table in TABLES {
            let days = self.days(table);
            if days == 0 {
                continue;
            }
            let cutoff = now_s.saturating_sub(u64::from(days) * 86_400);
            // In a cluster each sensor trims the node it writes to; replicas follow.
            let table = client.cfg.write_table(table);
            let partitions = client.query(&format!(
                "SELECT DISTINCT partition FROM system.parts WHERE database = {} AND table = {} AND active",
                quote(db),
                quote(&table)
            ))?;
            for p in partitions.lines().filter_map(|l| l.trim().trim_matches('\'').parse::<u64>().ok()) {
                if older_than(p, cutoff) {
                    client.query(&format!("ALTER TABLE {db}.{table} DROP PARTITION {p}"))?;
                    dropped.push((table.clone(), p));
                }
            }
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_cutoffs() {
        // 2026-03-01 00:00:00 UTC
        let t = 1_772_323_200;
        assert_eq!(civil(t), (2026, 3, 1));
        assert!(older_than(20_260_228, t));
        assert!(!older_than(20_260_301, t));
        assert!(older_than(202_601, t - 1));
        assert!(!older_than(202_602, t - 1));
        assert!(!older_than(202_603, t));
        assert!(older_than(2025, t));
        assert!(!older_than(2026, t));
        assert_eq!(civil(0), (1970, 1, 1));
    }
}
