//! pastmon-web: the console over ClickHouse.
//!
//! Layers, one module each:
//! - `params`: query strings → validated values (closed sets, bounded text);
//! - `query`: the SQL, for level1 and the rollups alike;
//! - `views`: the data of each view, shared by its page and its API call;
//! - `pages` (HTML with server-drawn `svg` charts) and `api` (JSON, CSV);
//! - `guard`: Host allow-list, cross-site refusal, tokens, security headers;
//! - this file: configuration, the router, and serving it through
//!   `pastmon_http` (bounded connections, timeouts, TLS).
//!
//! Invariants: every value reaching SQL went through `params` and is quoted
//! or from a closed set, and every range, step and count is bounded before
//! anything is allocated or queried; the server only reads (it is meant to
//! use a read-only ClickHouse user); at most `concurrent_queries` views read
//! ClickHouse at once, each query with a time and memory limit; users see
//! short generic errors, the detail goes to the log; nothing is loaded from
//! outside the binary.

pub mod api;
pub mod guard;
pub mod pages;
pub mod params;
pub mod query;
pub mod svg;
pub mod views;

pub use guard::hash_token;

use axum::routing::get;
use axum::Router;
use pastmon_clickhouse::{ClickHouseConfig, Client};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The console's configuration (TOML; example in deploy/pastmon-web.toml).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to listen; anything but loopback needs `tokens_sha256`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// SHA-256 (hex) of the accepted access tokens (`pastmon-web hash-token`).
    #[serde(default)]
    pub tokens_sha256: Vec<String>,
    /// Host names the console answers to besides IP addresses and
    /// `localhost` (a foreign name is refused: DNS rebinding).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// HTTPS with these PEM files; tokens beyond loopback need it, or
    /// `behind_tls_proxy`.
    pub tls: Option<TlsFiles>,
    /// A TLS proxy in front terminates HTTPS for the console.
    #[serde(default)]
    pub behind_tls_proxy: bool,
    #[serde(default)]
    pub limits: Limits,
    /// The database to read, best with a read-only user.
    #[serde(default)]
    pub clickhouse: ClickHouseConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

/// Bounds on clients and on what they make ClickHouse do.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_connections: usize,
    /// Seconds a client has to send a request's head.
    pub header_timeout: u64,
    /// Seconds before an idle keep-alive connection is closed.
    pub idle_timeout: u64,
    /// Seconds for a whole answer.
    pub request_timeout: u64,
    /// Views reading ClickHouse at once; more wait in a queue.
    pub concurrent_queries: usize,
    /// Views waiting beyond those; more get a 503 at once.
    pub queued_queries: usize,
    /// Seconds a query may run in ClickHouse (`max_execution_time`).
    pub query_seconds: u64,
    /// Bytes a query may use in ClickHouse (`max_memory_usage`).
    pub query_memory: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            header_timeout: 10,
            idle_timeout: 30,
            request_timeout: 60,
            concurrent_queries: 4,
            queued_queries: 256,
            query_seconds: 20,
            query_memory: 2_000_000_000,
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

impl Config {
    /// Refuses what would expose the console without authentication or
    /// send its tokens in clear.
    pub fn check(&self) -> Result<(), String> {
        let beyond_loopback = !self.listen.ip().is_loopback();
        if beyond_loopback && self.tokens_sha256.is_empty() {
            return Err(format!("listen = {}: set tokens_sha256 to listen beyond loopback", self.listen));
        }
        if beyond_loopback && self.tls.is_none() && !self.behind_tls_proxy {
            return Err(format!(
                "listen = {}: tokens would cross the network in clear; set [tls] certificate and key, or \
                 behind_tls_proxy = true",
                self.listen
            ));
        }
        for t in &self.tokens_sha256 {
            if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("tokens_sha256: {t:?} is not a SHA-256 in hex"));
            }
        }
        let l = &self.limits;
        if l.max_connections == 0 || l.concurrent_queries == 0 || l.header_timeout == 0 || l.idle_timeout == 0 {
            return Err("limits: connections, concurrent queries and timeouts must be at least 1".into());
        }
        pastmon_clickhouse::check_identifier(&self.clickhouse.database).map_err(|e| format!("clickhouse.database: {e}"))
    }

    /// The socket limits of `pastmon_http`.
    pub fn http_limits(&self) -> pastmon_http::Limits {
        let l = &self.limits;
        pastmon_http::Limits {
            max_connections: l.max_connections,
            header_timeout: Duration::from_secs(l.header_timeout),
            idle_timeout: Duration::from_secs(l.idle_timeout),
            request_timeout: Duration::from_secs(l.request_timeout),
            max_body_bytes: 64 * 1024,
        }
    }
}

pub struct AppState {
    pub client: Client,
    /// The database (its name checked as an identifier).
    pub db: String,
    pub tokens_sha256: Vec<String>,
    pub hosts: Vec<String>,
    /// Views reading ClickHouse: running and waiting.
    pub queries: api::QueryGate,
}

pub type Shared = Arc<AppState>;

impl AppState {
    pub fn new(cfg: &Config) -> AppState {
        // Readers read the Distributed tables of a cluster, named as the
        // single-server ones: `cluster` changes nothing here. Every query
        // carries the configured limits.
        let mut clickhouse = cfg.clickhouse.clone();
        clickhouse.settings.extend([
            ("max_execution_time".to_owned(), cfg.limits.query_seconds.to_string()),
            ("max_memory_usage".to_owned(), cfg.limits.query_memory.to_string()),
        ]);
        clickhouse.timeout = clickhouse.timeout.max(cfg.limits.query_seconds + 1);
        AppState {
            client: Client::new(clickhouse),
            db: cfg.clickhouse.database.clone(),
            tokens_sha256: cfg.tokens_sha256.iter().map(|t| t.to_ascii_lowercase()).collect(),
            hosts: cfg.hosts.clone(),
            queries: api::QueryGate::new(cfg.limits.concurrent_queries, cfg.limits.queued_queries),
        }
    }
}

/// The current time, Unix seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(pages::level1))
        .route("/drill", get(pages::drill))
        .route("/graph", get(pages::graph))
        .route("/signature", get(pages::signature))
        .route("/heatmap", get(pages::heatmap_page))
        .route("/compare", get(pages::compare))
        .route("/dependencies", get(pages::dependencies))
        .route("/sensors", get(pages::sensors))
        .route("/assets/console.css", get(pages::style))
        .route("/assets/console.js", get(pages::script))
        .route("/api/v1/signatures", get(api::signatures))
        .route("/api/v1/drill", get(api::drill))
        .route("/api/v1/graph", get(api::graph))
        .route("/api/v1/signature", get(api::signature))
        .route("/api/v1/heatmap", get(api::heatmap))
        .route("/api/v1/compare", get(api::compare))
        .route("/api/v1/dependencies", get(api::dependencies))
        .route("/api/v1/sensors", get(api::sensors))
        .route("/api/v1/openapi.json", get(api::openapi))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::guard))
        .with_state(state)
}

/// Serves the console on `listener` through `pastmon_http` (bounded
/// connections and timeouts, TLS when configured) until `shutdown`.
pub async fn serve(
    cfg: &Config,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let tls = match &cfg.tls {
        Some(files) => Some(pastmon_http::tls_config(&files.certificate, &files.key).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let state = Arc::new(AppState::new(cfg));
    pastmon_http::serve(listener, router(state), cfg.http_limits(), tls, shutdown).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(listen: &str, tokens: Vec<String>, tls: bool, proxy: bool) -> Config {
        Config {
            listen: listen.parse().unwrap(),
            tokens_sha256: tokens,
            hosts: Vec::new(),
            tls: tls.then(|| TlsFiles { certificate: "c.pem".into(), key: "k.pem".into() }),
            behind_tls_proxy: proxy,
            limits: Limits::default(),
            clickhouse: ClickHouseConfig::default(),
        }
    }

    #[test]
    fn the_example_configuration_is_valid() {
        let cfg: Config = toml::from_str(include_str!("../../deploy/pastmon-web.toml")).unwrap();
        cfg.check().unwrap();
        assert_eq!(cfg.limits.queued_queries, Limits::default().queued_queries);
    }

    #[test]
    fn exposure_needs_tokens_and_tls() {
        assert!(cfg("127.0.0.1:8080", vec![], false, false).check().is_ok());
        assert!(cfg("0.0.0.0:8080", vec![], true, false).check().unwrap_err().contains("tokens_sha256"));
        assert!(cfg("0.0.0.0:8080", vec![hash_token("t")], false, false).check().unwrap_err().contains("clear"));
        assert!(cfg("0.0.0.0:8080", vec![hash_token("t")], true, false).check().is_ok());
        assert!(cfg("0.0.0.0:8080", vec![hash_token("t")], false, true).check().is_ok());
        assert!(cfg("0.0.0.0:8080", vec!["abc".into()], true, false).check().is_err());
    }
}
