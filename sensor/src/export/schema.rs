//! Schema migrations: versioned, idempotent, applied at start by the sensor
//! (and by `pastmon schema apply`). The SQL lives in `deploy/clickhouse/`,
//! written to run on ClickHouse 18.16 and modern servers alike.

use super::clickhouse::{quote, ChError, Client};

pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    sql: &'static str,
}

pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "level1", sql: include_str!("../../../deploy/clickhouse/001_level1.sql") },
    Migration { version: 2, name: "level2_hour", sql: include_str!("../../../deploy/clickhouse/002_level2_hour.sql") },
    Migration { version: 3, name: "level2_day", sql: include_str!("../../../deploy/clickhouse/003_level2_day.sql") },
    Migration { version: 4, name: "sensors", sql: include_str!("../../../deploy/clickhouse/004_sensors.sql") },
    Migration {
        version: 5,
        name: "transactions",
        sql: include_str!("../../../deploy/clickhouse/005_transactions.sql"),
    },
];

impl Migration {
    /// The migration's statements for database `db`: comments dropped,
    /// split at a `;` that ends a line.
    pub fn statements(&self, db: &str) -> Vec<String> {
        let text: String =
            self.sql.lines().filter(|l| !l.trim_start().starts_with("--")).map(|l| format!("{l}\n")).collect();
        text.split(";\n").map(str::trim).filter(|s| !s.is_empty()).map(|s| s.replace("{db}", db)).collect()
    }
}

/// What `status` reports per migration.
#[derive(Debug, PartialEq, Eq)]
pub struct MigrationState {
    pub version: u32,
    pub name: &'static str,
    pub applied: bool,
}

fn applied_versions(client: &Client) -> Result<Vec<u32>, ChError> {
    let db = &client.cfg.database;
    let exists = client.query(&format!(
        "SELECT count() FROM system.tables WHERE database = {} AND name = 'schema_migrations'",
        quote(db)
    ))?;
    if exists.trim() == "0" {
        return Ok(Vec::new());
    }
    let text = client.query(&format!("SELECT version FROM {db}.schema_migrations ORDER BY version"))?;
    Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
}

pub fn status(client: &Client) -> Result<Vec<MigrationState>, ChError> {
    let applied = applied_versions(client)?;
    Ok(MIGRATIONS
        .iter()
        .map(|m| MigrationState { version: m.version, name: m.name, applied: applied.contains(&m.version) })
        .collect())
}

/// Applies every migration not yet applied; returns the versions applied now.
pub fn apply(client: &Client) -> Result<Vec<u32>, ChError> {
    let db = &client.cfg.database;
    client.query(&format!("CREATE DATABASE IF NOT EXISTS {db}"))?;
    client.query(&format!(
        "CREATE TABLE IF NOT EXISTS {db}.schema_migrations (version UInt32, name String, applied_at DateTime) \
         ENGINE = MergeTree ORDER BY version"
    ))?;
    let applied = applied_versions(client)?;
    let mut now = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        for statement in m.statements(db) {
            client.query(&statement)?;
        }
        client.query(&format!(
            "INSERT INTO {db}.schema_migrations (version, name, applied_at) VALUES ({}, {}, now())",
            m.version,
            quote(m.name)
        ))?;
        now.push(m.version);
    }
    Ok(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_split_and_comments_dropped() {
        let s = MIGRATIONS[1].statements("db1");
        assert_eq!(s.len(), 2);
        assert!(s[0].starts_with("CREATE TABLE IF NOT EXISTS db1.level2_hour"));
        assert!(s[1].starts_with("CREATE MATERIALIZED VIEW IF NOT EXISTS db1.level2_hour_mv TO db1.level2_hour"));
        assert!(s.iter().all(|st| !st.contains("--") && !st.contains("{db}")));
    }
}
