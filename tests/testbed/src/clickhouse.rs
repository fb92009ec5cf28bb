//! A real ClickHouse server per test, started with the project's
//! `deploy/clickhouse/local-server.sh` on free loopback ports, stopped and
//! removed on drop (also when the test panics).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct ClickHouse {
    pub dir: PathBuf,
    pub http_port: u16,
    tcp_port: u16,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/clickhouse/local-server.sh")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl ClickHouse {
    pub fn start(name: &str) -> ClickHouse {
        assert!(
            Path::new("/usr/sbin/clickhouse-server").exists(),
            "clickhouse-server is not installed: Debian package clickhouse-server (cargo xtask test installs it)"
        );
        let dir = std::env::temp_dir().join(format!("pastmon-ch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ch = ClickHouse { dir, http_port: free_port(), tcp_port: free_port() };
        ch.up();
        ch
    }

    /// Starts the server again (after `down`), on the same ports and data.
    pub fn up(&self) {
        let status = Command::new(script())
            .args(["start", self.dir.to_str().unwrap(), &self.http_port.to_string(), &self.tcp_port.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "ClickHouse did not start");
    }

    pub fn down(&self) {
        Command::new(script()).args(["stop", self.dir.to_str().unwrap()]).status().unwrap();
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Runs SQL, returns TabSeparated text; panics on a server error.
    pub fn query(&self, sql: &str) -> String {
        match ureq::post(&self.url()).send_string(sql) {
            Ok(r) => r.into_string().unwrap(),
            Err(ureq::Error::Status(status, r)) => {
                panic!("{sql}: HTTP {status}: {}", r.into_string().unwrap_or_default())
            }
            Err(e) => panic!("{sql}: {e}"),
        }
    }

    /// Rows of a query as JSON objects.
    pub fn json_rows(&self, sql: &str) -> Vec<serde_json::Value> {
        self.query(&format!("{sql} FORMAT JSONEachRow")).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// A sensor configuration writing to `database` with its own spool. The
    /// timeout is the sensor's default: an insert timed out while the server
    /// still runs its views is not sent again (level1 has it), and a test
    /// reading the rollups right after would race those views.
    pub fn config(&self, database: &str, extra_analysis: &str) -> PathBuf {
        self.config_with_interval(database, 60, extra_analysis)
    }

    /// The same with intervals of `interval` seconds.
    pub fn config_with_interval(&self, database: &str, interval: u64, extra_analysis: &str) -> PathBuf {
        let spool = self.dir.join(format!("spool-{database}"));
        let path = self.dir.join(format!("{database}.toml"));
        std::fs::write(
            &path,
            format!(
                "sensor = \"test-sensor\"\n[analysis]\ninterval = {interval}\ngrace = 0\nworkers = 2\n{extra_analysis}\n\
                 [clickhouse]\nurl = \"{}\"\ndatabase = \"{database}\"\ntimeout = 30\n[spool]\ndir = \"{}\"\n",
                self.url(),
                spool.display()
            ),
        )
        .unwrap();
        path
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        self.down();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
