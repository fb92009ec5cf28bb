//! A small ClickHouse HTTP client: queries as text, inserts as RowBinary.
//!
//! Plain HTTP (ureq, blocking, keep-alive) works the same against 18.16 and
//! modern servers. Credentials travel in the `X-ClickHouse-User` and
//! `X-ClickHouse-Key` headers both understand, never in the URL, and no error
//! this client makes carries them.

use serde::Deserialize;
use std::time::Duration;

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseConfig {
    /// Base URL of the HTTP interface.
    pub url: String,
    pub database: String,
    pub user: String,
    pub password: String,
    /// A file whose first line is the password, so that the configuration
    /// itself can be world-readable; read once at start (before the sensor
    /// drops its privileges) by [`ClickHouseConfig::read_password_file`].
    pub password_file: Option<std::path::PathBuf>,
    /// Seconds before a request is abandoned (and retried later).
    pub timeout: u64,
    /// Name of the ClickHouse cluster (its `remote_servers` entry) when the
    /// database is clustered: tables are `<name>_local` (replicated) on
    /// every node under a Distributed `<name>`, the sensor writes to the
    /// local tables of the node in `url`, readers read the Distributed ones.
    pub cluster: Option<String>,
    /// ClickHouse settings sent with every statement (`max_execution_time`
    /// and the like; a read-only user needs `readonly = 2` to send them).
    pub settings: std::collections::BTreeMap<String, String>,
}

impl ClickHouseConfig {
    /// Takes the password from `password_file`, if set. The error names
    /// the file, never what it holds.
    pub fn read_password_file(&mut self) -> Result<(), String> {
        let Some(path) = &self.password_file else { return Ok(()) };
        if !self.password.is_empty() {
            return Err("password and password_file: set one of them".into());
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("password_file {}: {e}", path.display()))?;
        let password = text.lines().next().unwrap_or_default();
        if password.is_empty() {
            return Err(format!("password_file {}: the first line is empty", path.display()));
        }
        self.password = password.to_owned();
        Ok(())
    }

    /// The table a sensor writes (and checks) for `table`.
    pub fn write_table(&self, table: &str) -> String {
        match self.cluster {
            Some(_) => format!("{table}_local"),
            None => table.to_owned(),
        }
    }
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: "http://127.0.0.1:8123".into(),
            database: "pastmon".into(),
            user: "default".into(),
            password: String::new(),
            password_file: None,
            timeout: 30,
            cluster: None,
            settings: Default::default(),
        }
    }
}

/// Everything but the password, which shows as `***` when set.
impl std::fmt::Debug for ClickHouseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseConfig")
            .field("url", &without_userinfo(&self.url))
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &if self.password.is_empty() { "" } else { "***" })
            .field("password_file", &self.password_file)
            .field("timeout", &self.timeout)
            .field("cluster", &self.cluster)
            .field("settings", &self.settings)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChError {
    /// No answer: down, unreachable, or too slow. Worth retrying.
    #[error("ClickHouse at {url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    /// The server answered with an error.
    #[error("ClickHouse error (HTTP {status}): {message}")]
    Server { status: u16, message: String },
}

pub struct Client {
    agent: ureq::Agent,
    pub cfg: ClickHouseConfig,
    /// `$PASTMON_SQL_LOG`: every statement sent is appended there (JSON
    /// lines; insert bodies beside it), so the compatibility test can run
    /// exactly what the project issues against a modern ClickHouse.
    sql_log: Option<std::path::PathBuf>,
}

impl Client {
    pub fn new(cfg: ClickHouseConfig) -> Client {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(cfg.timeout.clamp(1, 10)))
            .timeout(Duration::from_secs(cfg.timeout.max(1)))
            .build();
        Client { agent, cfg, sql_log: std::env::var_os("PASTMON_SQL_LOG").map(Into::into) }
    }

    fn log(&self, sql: &str, body: Option<&[u8]>) {
        use std::io::Write;
        let Some(log) = &self.sql_log else { return };
        let data_file = body.map(|b| {
            let n = std::fs::read_dir(log.parent().unwrap_or(std::path::Path::new("."))).map_or(0, |d| d.count());
            let path = log.with_extension(format!("{}-{n}.bin", std::process::id()));
            let _ = std::fs::write(&path, b);
            path
        });
        let line = serde_json::json!({"sql": sql, "data_file": data_file});
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
            let _ = writeln!(f, "{line}");
        }
    }

    fn request(&self, query: Option<&str>) -> ureq::Request {
        let mut r = self.agent.post(&self.cfg.url).set("X-ClickHouse-User", &self.cfg.user);
        if !self.cfg.password.is_empty() {
            r = r.set("X-ClickHouse-Key", &self.cfg.password);
        }
        for (name, value) in &self.cfg.settings {
            r = r.query(name, value);
        }
        if let Some(q) = query {
            r = r.query("query", q);
        }
        r
    }

    fn send(&self, req: ureq::Request, body: &[u8]) -> Result<String, ChError> {
        match req.send_bytes(body) {
            Ok(resp) => resp.into_string().map_err(|e| self.unreachable(e.to_string())),
            Err(ureq::Error::Status(status, resp)) => {
                let message = resp.into_string().unwrap_or_default();
                let message = message.trim().lines().next().unwrap_or_default().to_owned();
                Err(ChError::Server { status, message })
            }
            Err(e) => Err(self.unreachable(e.to_string())),
        }
    }

    /// The error of a request that got no answer. The HTTP client's text
    /// names the URL; neither it nor ours may carry what the configured URL
    /// holds beyond scheme, host and port, nor the password.
    fn unreachable(&self, reason: String) -> ChError {
        let url = without_userinfo(&self.cfg.url);
        let mut reason = reason.replace(&self.cfg.url, &url);
        if !self.cfg.password.is_empty() {
            reason = reason.replace(&self.cfg.password, "***");
        }
        // The statement itself (in the query string of an insert) is noise here.
        if let Some(i) = reason.find("?query=") {
            let end = reason[i..].find(|c: char| c.is_whitespace() || c == ':').map_or(reason.len(), |e| i + e);
            reason.replace_range(i..end, "");
        }
        ChError::Unreachable { url, reason }
    }

    /// Runs a statement; returns the response body (TabSeparated by default).
    pub fn query(&self, sql: &str) -> Result<String, ChError> {
        self.log(sql, None);
        self.send(self.request(None), sql.as_bytes())
    }

    /// Inserts RowBinary rows into `table` of the configured database.
    /// Inserts RowBinary `rows` holding `columns` (`a, b, c`), named so
    /// that rows encoded before a column was added still insert.
    pub fn insert(&self, table: &str, columns: &str, rows: &[u8]) -> Result<(), ChError> {
        let (db, table) = (&self.cfg.database, self.cfg.write_table(table));
        let q = format!("INSERT INTO {db}.{table} ({columns}) FORMAT RowBinary");
        self.log(&q, Some(rows));
        self.send(self.request(Some(&q)), rows).map(|_| ())
    }

    /// True when the server answers `/ping`.
    pub fn ping(&self) -> bool {
        let url = format!("{}/ping", self.cfg.url.trim_end_matches('/'));
        self.agent.get(&url).call().is_ok()
    }
}

/// `scheme://user:secret@host:port/path` without `user:secret@`.
fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// Quotes a string literal for ClickHouse SQL.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Checks a database or table name: letters, digits and '_' only, so it can
/// be written into SQL as is.
pub fn check_identifier(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!("'{name}' is not a plain identifier (letters, digits, '_')"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_error_names_the_password() {
        let cfg = ClickHouseConfig {
            url: "http://reader:Sup3rSecret@127.0.0.1:1".into(),
            password: "Sup3rSecret".into(),
            timeout: 1,
            ..ClickHouseConfig::default()
        };
        let e = Client::new(cfg).query("SELECT 1").unwrap_err().to_string();
        assert!(e.contains("unreachable"), "{e}");
        assert!(!e.contains("Sup3rSecret") && !e.contains("reader"), "{e}");
        assert_eq!(without_userinfo("http://a:b@h:1/x@y"), "http://h:1/x@y");
        assert_eq!(without_userinfo("http://h:1"), "http://h:1");
    }

    #[test]
    fn the_password_comes_from_its_file_and_never_shows_in_debug() {
        let file = std::env::temp_dir().join(format!("pastmon-password-{}", std::process::id()));
        std::fs::write(&file, "Sup3rSecret\n").unwrap();
        let mut cfg = ClickHouseConfig { password_file: Some(file.clone()), ..ClickHouseConfig::default() };
        cfg.read_password_file().unwrap();
        assert_eq!(cfg.password, "Sup3rSecret");
        assert!(!format!("{cfg:?}").contains("Sup3rSecret"), "{cfg:?}");
        // Both set: refused. An empty file: refused, naming the file only.
        assert!(cfg.read_password_file().unwrap_err().contains("set one of them"));
        std::fs::write(&file, "\n").unwrap();
        let mut cfg = ClickHouseConfig { password_file: Some(file.clone()), ..ClickHouseConfig::default() };
        assert!(cfg.read_password_file().unwrap_err().contains("first line is empty"));
        std::fs::remove_file(&file).unwrap();
        let e = cfg.read_password_file().unwrap_err();
        assert!(e.starts_with(&format!("password_file {}: ", file.display())), "{e}");
    }

    #[test]
    fn quoting_and_identifiers() {
        assert_eq!(quote("it's a \\ test"), "'it\\'s a \\\\ test'");
        assert!(check_identifier("pastmon_1").is_ok());
        assert!(check_identifier("1x").is_err());
        assert!(check_identifier("a;b").is_err());
    }
}
