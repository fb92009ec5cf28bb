//! pastmon-web: the console over ClickHouse.
//!
//! Layers, one module each:
//! - `params`: query strings → validated values (closed sets, bounded text);
//! - `query`: the SQL, for level1 and the rollups alike;
//! - `views`: the data of each view, shared by its page and its API call;
//! - `pages` (HTML with server-drawn `svg` charts) and `api` (JSON, CSV);
//! - this file: configuration, authentication and the router.
//!
//! Invariants: every value reaching SQL went through `params` and is quoted
//! or from a closed set; the server only reads (it is meant to use a
//! read-only ClickHouse user); ClickHouse errors reach users as one line;
//! nothing is loaded from outside the binary.

pub mod api;
pub mod pages;
pub mod params;
pub mod query;
pub mod svg;
pub mod views;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use pastmon_clickhouse::{ClickHouseConfig, Client};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;

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
    /// The database to read, best with a read-only user.
    #[serde(default)]
    pub clickhouse: ClickHouseConfig,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

impl Config {
    /// Refuses what would expose the console without authentication.
    pub fn check(&self) -> Result<(), String> {
        if !self.listen.ip().is_loopback() && self.tokens_sha256.is_empty() {
            return Err(format!("listen = {}: set tokens_sha256 to listen beyond loopback", self.listen));
        }
        for t in &self.tokens_sha256 {
            if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("tokens_sha256: {t:?} is not a SHA-256 in hex"));
            }
        }
        pastmon_clickhouse::check_identifier(&self.clickhouse.database).map_err(|e| format!("clickhouse.database: {e}"))
    }
}

pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

pub struct AppState {
    pub client: Client,
    /// The database (its name checked as an identifier).
    pub db: String,
    pub tokens_sha256: Vec<String>,
}

pub type Shared = Arc<AppState>;

impl AppState {
    pub fn new(cfg: &Config) -> AppState {
        // Readers read the Distributed tables of a cluster, named as the
        // single-server ones: `cluster` changes nothing here.
        AppState {
            client: Client::new(cfg.clickhouse.clone()),
            db: cfg.clickhouse.database.clone(),
            tokens_sha256: cfg.tokens_sha256.iter().map(|t| t.to_ascii_lowercase()).collect(),
        }
    }
}

/// The current time, Unix seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// With tokens configured, every request needs one: HTTP Basic (any user,
/// the token as password: browsers ask for it) or `Authorization: Bearer`.
async fn authenticate(State(state): State<Shared>, request: Request, next: Next) -> Response {
    if state.tokens_sha256.is_empty() {
        return next.run(request).await;
    }
    let presented =
        request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(presented_token);
    match presented {
        Some(token) if state.tokens_sha256.contains(&hash_token(&token)) => next.run(request).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"pastmon\", charset=\"UTF-8\"")],
            "a token is needed (HTTP Basic password or Bearer)\n",
        )
            .into_response(),
    }
}

/// The token of an `Authorization` value: `Bearer TOKEN`, or HTTP Basic with
/// the token as password. Schemes are case-insensitive (RFC 9110).
fn presented_token(value: &str) -> Option<String> {
    use base64::Engine;
    let (scheme, rest) = value.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        Some(rest.to_owned())
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        Some(text.split_once(':')?.1.to_owned())
    } else {
        None
    }
}

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(pages::level1))
        .route("/drill", get(pages::drill))
        .route("/graph", get(pages::graph))
        .route("/sensors", get(pages::sensors))
        .route("/assets/console.css", get(pages::style))
        .route("/assets/console.js", get(pages::script))
        .route("/api/v1/signatures", get(api::signatures))
        .route("/api/v1/drill", get(api::drill))
        .route("/api/v1/graph", get(api::graph))
        .route("/api/v1/sensors", get(api::sensors))
        .route("/api/v1/openapi.json", get(api::openapi))
        .layer(axum::middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_from_either_scheme_in_any_case() {
        assert_eq!(presented_token("Basic dTpzZWNyZXQ=").as_deref(), Some("secret"));
        assert_eq!(presented_token("basic dTpzZWNyZXQ=").as_deref(), Some("secret"));
        assert_eq!(presented_token("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(presented_token("BEARER  abc ").as_deref(), Some("abc"));
        assert_eq!(presented_token("Basic @@@@"), None);
        assert_eq!(presented_token("Digest x"), None);
    }

    #[test]
    fn exposure_needs_tokens() {
        let cfg = |listen: &str, tokens: Vec<String>| Config {
            listen: listen.parse().unwrap(),
            tokens_sha256: tokens,
            clickhouse: ClickHouseConfig::default(),
        };
        assert!(cfg("127.0.0.1:8080", vec![]).check().is_ok());
        assert!(cfg("0.0.0.0:8080", vec![]).check().unwrap_err().contains("tokens_sha256"));
        assert!(cfg("0.0.0.0:8080", vec![hash_token("t")]).check().is_ok());
        assert!(cfg("0.0.0.0:8080", vec!["abc".into()]).check().is_err());
    }
}
