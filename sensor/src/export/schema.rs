//! Schema migrations: versioned, idempotent, applied at start by the sensor
//! (and by `pastmon schema apply`). The SQL lives in `deploy/clickhouse/`,
//! written to run on ClickHouse 18.16 and modern servers alike.

use pastmon_clickhouse::{quote, ChError, Client};

pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    sql: &'static str,
    /// Placeholders of a shared SQL file and their values here.
    params: &'static [(&'static str, &'static str)],
}

const LEVEL2: &str = include_str!("../../../deploy/clickhouse/002_level2.sql");
const LEVEL2_TIME_PARTS: &str = include_str!("../../../deploy/clickhouse/009_level2_time_parts.sql");

/// The placeholders of the rollups' SQL, per rollup.
const HOUR: &[(&str, &str)] = &[
    ("{rollup}", "level2_hour"),
    ("{period}", "hour"),
    ("{start_of}", "toStartOfHour"),
    // By day, so that a chart of a few days reads those days only.
    // (Databases made before this was by month keep their month
    // partitions: queries and retention work on either.)
    ("{partition}", "toYYYYMMDD"),
];
const DAY: &[(&str, &str)] =
    &[("{rollup}", "level2_day"), ("{period}", "day"), ("{start_of}", "toStartOfDay"), ("{partition}", "toYYYYMM")];

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "level1",
        sql: include_str!("../../../deploy/clickhouse/001_level1.sql"),
        params: &[],
    },
    Migration { version: 2, name: "level2_hour", sql: LEVEL2, params: HOUR },
    Migration { version: 3, name: "level2_day", sql: LEVEL2, params: DAY },
    Migration {
        version: 4,
        name: "sensors",
        sql: include_str!("../../../deploy/clickhouse/004_sensors.sql"),
        params: &[],
    },
    Migration {
        version: 5,
        name: "transactions",
        sql: include_str!("../../../deploy/clickhouse/005_transactions.sql"),
        params: &[],
    },
    Migration {
        version: 6,
        name: "signatures_hour",
        sql: include_str!("../../../deploy/clickhouse/006_signatures_hour.sql"),
        params: &[],
    },
    Migration {
        version: 7,
        name: "sensors_dropped",
        sql: include_str!("../../../deploy/clickhouse/007_sensors_dropped.sql"),
        params: &[],
    },
    Migration {
        version: 8,
        name: "time_parts",
        sql: include_str!("../../../deploy/clickhouse/008_time_parts.sql"),
        params: &[],
    },
    Migration { version: 9, name: "level2_hour_time_parts", sql: LEVEL2_TIME_PARTS, params: HOUR },
    Migration { version: 10, name: "level2_day_time_parts", sql: LEVEL2_TIME_PARTS, params: DAY },
    Migration {
        version: 11,
        name: "backends",
        sql: include_str!("../../../deploy/clickhouse/011_backends.sql"),
        params: &[],
    },
    Migration {
        version: 12,
        name: "signatures_hour_parts",
        sql: include_str!("../../../deploy/clickhouse/012_signatures_hour_parts.sql"),
        params: &[],
    },
    Migration {
        version: 13,
        name: "sensors_tunnels",
        sql: include_str!("../../../deploy/clickhouse/013_sensors_tunnels.sql"),
        params: &[],
    },
    Migration {
        version: 14,
        name: "histogram_buckets",
        sql: include_str!("../../../deploy/clickhouse/014_histogram_buckets.sql"),
        params: &[],
    },
];

impl Migration {
    /// The migration's statements for database `db`: comments dropped,
    /// split at a `;` that ends a line; for a cluster, rewritten `ON CLUSTER`,
    /// and every table it adds columns to given a new Distributed table.
    pub fn statements(&self, db: &str, cluster: Option<&str>) -> Vec<String> {
        let plain = self.plain_statements();
        let mut out: Vec<String> = match cluster {
            None => plain,
            Some(c) => {
                let mut altered: Vec<String> = Vec::new();
                let mut out: Vec<String> = plain.iter().flat_map(|s| on_cluster(s, c)).collect();
                for (table, _) in plain.iter().filter_map(|s| added_column(s)) {
                    if !altered.iter().any(|t| t == table) {
                        altered.push(table.to_owned());
                    }
                }
                out.extend(altered.iter().flat_map(|t| distributed_again(t, self.version, c)));
                out
            }
        };
        for s in &mut out {
            *s = s.replace("{db}", db);
        }
        out
    }

    /// The statements with placeholders other than `{db}` filled in.
    fn plain_statements(&self) -> Vec<String> {
        let mut text: String =
            self.sql.lines().filter(|l| !l.trim_start().starts_with("--")).map(|l| format!("{l}\n")).collect();
        for (placeholder, value) in self.params {
            text = text.replace(placeholder, value);
        }
        text.split(";\n").map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
    }
}

/// The columns of `table` after migration `version`, with their comments,
/// as the single-server migrations made them: its CREATE TABLE, then every
/// ADD COLUMN and COMMENT COLUMN since.
fn columns_after(table: &str, version: u32) -> Vec<(String, String)> {
    let create = format!("CREATE TABLE IF NOT EXISTS {{db}}.{table}\n(");
    let alter = format!("ALTER TABLE {{db}}.{table} ");
    let mut columns: Vec<(String, String)> = Vec::new();
    for statement in MIGRATIONS.iter().filter(|m| m.version <= version).flat_map(|m| m.plain_statements()) {
        if let Some(body) = statement.strip_prefix(&create) {
            let body = body.split_once("\n)").map_or(body, |(cols, _)| cols);
            columns = body
                .lines()
                .map(|l| l.trim().trim_end_matches(','))
                .filter(|l| !l.is_empty())
                .map(|l| l.split_once(' ').map_or((l.to_owned(), String::new()), |(n, d)| (n.to_owned(), d.to_owned())))
                .collect();
        } else if let Some(rest) = statement.strip_prefix(&alter) {
            if let Some(rest) = rest.strip_prefix("ADD COLUMN ") {
                let (definition, after) = rest.rsplit_once(" AFTER ").unwrap_or((rest, ""));
                let (name, typ) = definition.split_once(' ').unwrap_or((definition, ""));
                let at = columns.iter().position(|(n, _)| n == after).map_or(columns.len(), |i| i + 1);
                columns.insert(at, (name.to_owned(), typ.to_owned()));
            } else if let Some(rest) = rest.strip_prefix("COMMENT COLUMN ") {
                let (name, comment) = rest.split_once(' ').unwrap_or((rest, "''"));
                if let Some((_, definition)) = columns.iter_mut().find(|(n, _)| n == name) {
                    let typ = definition.split(" COMMENT '").next().unwrap_or_default().to_owned();
                    *definition = format!("{typ} COMMENT {comment}");
                }
            }
        }
    }
    columns
}

/// A cluster's Distributed `table` made again over its altered local tables,
/// with every column and comment (18.16 keeps comments only there).
fn distributed_again(table: &str, version: u32, cluster: &str) -> Vec<String> {
    let columns: Vec<String> = columns_after(table, version).iter().map(|(n, d)| format!("    {n} {d}")).collect();
    vec![
        format!("DROP TABLE IF EXISTS {{db}}.{table} ON CLUSTER {cluster}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {{db}}.{table} ON CLUSTER {cluster}\n(\n{}\n)\nENGINE = Distributed({cluster}, {{db}}, {table}_local, rand())",
            columns.join(",\n")
        ),
    ]
}

/// Rewrites one statement for a cluster: a table becomes a replicated
/// `<name>_local` on every node plus a Distributed `<name>` over them; a
/// materialized view feeds the local tables on every node (rollups per shard);
/// a column is added to the local tables (`statements` then makes the
/// Distributed one again); a view is dropped on every node.
fn on_cluster(statement: &str, cluster: &str) -> Vec<String> {
    const TABLE: &str = "CREATE TABLE IF NOT EXISTS {db}.";
    const VIEW: &str = "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.";
    const PLAIN_VIEW: &str = "CREATE VIEW IF NOT EXISTS {db}.";
    const ALTER: &str = "ALTER TABLE {db}.";
    const DROP: &str = "DROP TABLE IF EXISTS {db}.";
    let name_of = |s: &str| -> String { s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect() };
    if let Some(rest) = statement.strip_prefix(TABLE) {
        let name = name_of(rest);
        let body = &rest[name.len()..];
        let columns = body.split_once("\nENGINE = ").map_or(body, |(cols, _)| cols);
        let replicated = |engine: &str| {
            format!("ENGINE = Replicated{engine}('/clickhouse/tables/{{shard}}/{{db}}/{name}', '{{replica}}')")
        };
        // ClickHouse 18.16 cannot create replicated tables whose columns have
        // comments; the Distributed table that readers use keeps them.
        let local = strip_comments(body)
            .replace("ENGINE = AggregatingMergeTree", &replicated("AggregatingMergeTree"))
            .replace("ENGINE = MergeTree", &replicated("MergeTree"));
        vec![
            format!("{TABLE}{name}_local ON CLUSTER {cluster}{local}"),
            format!("{TABLE}{name} ON CLUSTER {cluster}{columns}\nENGINE = Distributed({cluster}, {{db}}, {name}_local, rand())"),
        ]
    } else if let Some(rest) = statement.strip_prefix(VIEW) {
        let name = name_of(rest);
        let body = &rest[name.len()..];
        let body = match body.split_once(" TO {db}.") {
            Some((head, tail)) => {
                let target = name_of(tail);
                format!("{head} TO {{db}}.{target}_local{}", &tail[target.len()..])
            }
            None => body.to_owned(),
        };
        let body = body.replace("FROM {db}.level1\n", "FROM {db}.level1_local\n");
        vec![format!("{VIEW}{name} ON CLUSTER {cluster}{body}")]
    } else if let Some(rest) = statement.strip_prefix(PLAIN_VIEW) {
        // Computed where it is read: the same view on every node.
        let name = name_of(rest);
        vec![format!("{PLAIN_VIEW}{name} ON CLUSTER {cluster}{}", &rest[name.len()..])]
    } else if statement.starts_with(DROP) {
        vec![format!("{statement} ON CLUSTER {cluster}")]
    } else if statement.starts_with(ALTER) && statement.contains(" COMMENT COLUMN ") {
        // Replicated tables take no comments on 18.16; the Distributed one,
        // made again, carries it.
        Vec::new()
    } else if let Some(rest) = statement.strip_prefix(ALTER) {
        // ClickHouse 18.16 runs an ALTER … ON CLUSTER of a replicated table
        // only with internal_replication, and then refuses it for a table
        // that is not replicated: the Distributed table (metadata only) is
        // made again instead.
        let name = name_of(rest);
        vec![format!("{ALTER}{name}_local ON CLUSTER {cluster}{}", &rest[name.len()..])]
    } else {
        vec![statement.to_owned()]
    }
}

/// The table and column of an `ALTER TABLE db.t [ON CLUSTER c] ADD COLUMN x …`.
fn added_column(statement: &str) -> Option<(&str, &str)> {
    let rest = statement.strip_prefix("ALTER TABLE ")?;
    let (table, rest) = rest.split_once(' ')?;
    let table = table.split_once('.').map_or(table, |(_, t)| t);
    let (_, rest) = rest.split_once("ADD COLUMN ")?;
    Some((table, rest.split_whitespace().next()?))
}

/// Removes `COMMENT '...'` clauses (quotes inside escaped with a backslash).
fn strip_comments(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(" COMMENT '") {
        out.push_str(&rest[..at]);
        let mut chars = rest[at + 10..].char_indices();
        let mut end = rest.len() - at - 10;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '\'' => {
                    end = i + 1;
                    break;
                }
                _ => {}
            }
        }
        rest = &rest[at + 10 + end..];
    }
    out.push_str(rest);
    out
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
    let cluster = client.cfg.cluster.as_deref();
    let on_cluster = cluster.map(|c| format!(" ON CLUSTER {c}")).unwrap_or_default();
    client.query(&format!("CREATE DATABASE IF NOT EXISTS {db}{on_cluster}"))?;
    // Per node: each node records what it applied (the DDL itself is
    // idempotent, so a second node applying it again is harmless).
    client.query(&format!(
        "CREATE TABLE IF NOT EXISTS {db}.schema_migrations (version UInt32, name String, applied_at DateTime) \
         ENGINE = MergeTree ORDER BY version"
    ))?;
    let applied = applied_versions(client)?;
    let mut now = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        for statement in m.statements(db, cluster) {
            if let Some((table, column)) = added_column(&statement) {
                // 18.16 has no ADD COLUMN IF NOT EXISTS; on a cluster another
                // node's run may have added it already.
                let exists = client.query(&format!(
                    "SELECT count() FROM system.columns WHERE database = {} AND table = {} AND name = {}",
                    quote(db),
                    quote(table),
                    quote(column)
                ))?;
                if exists.trim() != "0" {
                    continue;
                }
            }
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
        let s = MIGRATIONS[1].statements("db1", None);
        assert_eq!(s.len(), 2);
        assert!(s[0].starts_with("CREATE TABLE IF NOT EXISTS db1.level2_hour"));
        assert!(s[1].starts_with("CREATE MATERIALIZED VIEW IF NOT EXISTS db1.level2_hour_mv TO db1.level2_hour"));
        assert!(s.iter().all(|st| !st.contains("--") && !st.contains('{')));
        let day = MIGRATIONS[2].statements("db1", None);
        assert!(
            day[0].contains("PARTITION BY toYYYYMM(interval_start)") && day[1].contains("toStartOfDay(interval_start)")
        );
    }

    #[test]
    fn an_added_column_goes_to_both_cluster_tables_and_is_recognised() {
        let s = MIGRATIONS[6].statements("db1", Some("c1"));
        assert_eq!(s.len(), 3, "no comment on the replicated tables: {s:?}");
        assert_eq!(s[0], "ALTER TABLE db1.sensors_local ON CLUSTER c1 ADD COLUMN dropped UInt64 AFTER bytes");
        assert_eq!(s[1], "DROP TABLE IF EXISTS db1.sensors ON CLUSTER c1");
        assert!(s[2].starts_with("CREATE TABLE IF NOT EXISTS db1.sensors ON CLUSTER c1\n(\n"), "{}", s[2]);
        assert!(s[2].contains(
            "    bytes UInt64 COMMENT 'bytes on the wire',\n    dropped UInt64 COMMENT 'frames lost before analysis"
        ));
        assert!(s[2].ends_with(")\nENGINE = Distributed(c1, db1, sensors_local, rand())"), "{}", s[2]);
        assert_eq!(added_column(&s[0]), Some(("sensors_local", "dropped")));
        let plain = MIGRATIONS[6].statements("db1", None);
        assert_eq!(added_column(&plain[0]), Some(("sensors", "dropped")));
        assert!(plain[1].starts_with("ALTER TABLE db1.sensors COMMENT COLUMN dropped 'frames lost"));
        assert_eq!(added_column(&MIGRATIONS[0].statements("db1", None)[0]), None);
    }

    #[test]
    fn comments_are_stripped_with_their_quotes() {
        assert_eq!(strip_comments("a UInt8 COMMENT 'it\\'s, (x)',\nb String COMMENT ''\n)"), "a UInt8,\nb String\n)");
    }

    #[test]
    fn cluster_statements_are_replicated_and_distributed() {
        let s = MIGRATIONS[1].statements("db1", Some("c1"));
        assert_eq!(s.len(), 3);
        assert!(s[0].starts_with("CREATE TABLE IF NOT EXISTS db1.level2_hour_local ON CLUSTER c1\n("), "{}", s[0]);
        assert!(s[0].contains(
            "ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/db1/level2_hour', '{replica}')"
        ));
        assert!(!s[0].contains("COMMENT"));
        assert!(s[1].starts_with("CREATE TABLE IF NOT EXISTS db1.level2_hour ON CLUSTER c1\n("), "{}", s[1]);
        assert!(s[1].contains("COMMENT 'start of the hour (UTC)'"));
        assert!(s[1].ends_with(")\nENGINE = Distributed(c1, db1, level2_hour_local, rand())"), "{}", s[1]);
        assert!(
            s[2].starts_with(
                "CREATE MATERIALIZED VIEW IF NOT EXISTS db1.level2_hour_mv ON CLUSTER c1 TO db1.level2_hour_local AS"
            ),
            "{}",
            s[2]
        );
        assert!(s[2].contains("FROM db1.level1_local\n"));
    }
}
