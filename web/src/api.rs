//! The JSON API (`/api/v1/…`), documented in `openapi.json`. Each endpoint
//! takes the query string of its page and returns the data the page draws;
//! `format=csv` gives a graph's series (and `part=histogram` its buckets)
//! as CSV.

use crate::params::Params;
use crate::views::{self, ViewError};
use crate::{now, Shared};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pastmon_clickhouse::Client;
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};

type Loader<T> = fn(&Client, &str, &Params, u64) -> Result<T, ViewError>;

/// How long a view waits in the queue for ClickHouse before a 503.
const QUEUE_WAIT: Duration = Duration::from_secs(10);

/// At most `running` views read ClickHouse at once; up to `queued` more
/// wait their turn (for `QUEUE_WAIT` at most); past that a view is refused
/// at once. Load is shed at the door instead of piling up in ClickHouse.
pub struct QueryGate {
    running: Semaphore,
    waiting: AtomicUsize,
    queued: usize,
}

impl QueryGate {
    pub fn new(running: usize, queued: usize) -> QueryGate {
        QueryGate { running: Semaphore::new(running.max(1)), waiting: AtomicUsize::new(0), queued }
    }

    async fn enter(&self) -> Result<SemaphorePermit<'_>, ViewError> {
        if let Ok(permit) = self.running.try_acquire() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queued {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(ViewError::Busy);
        }
        let permit = tokio::time::timeout(QUEUE_WAIT, self.running.acquire()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match permit {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ViewError::Busy),
        }
    }
}

/// Runs a view's queries off the async runtime (the ClickHouse client
/// blocks), once the gate lets it in. A database error is logged in full
/// here; the user gets its short form.
pub(crate) async fn load<T: Send + 'static>(
    state: Shared,
    pairs: Vec<(String, String)>,
    view: Loader<T>,
) -> Result<T, ViewError> {
    let _permit = state.queries.enter().await?;
    let shared = state.clone();
    let result = tokio::task::spawn_blocking(move || view(&shared.client, &shared.db, &Params(pairs), now()))
        .await
        .unwrap_or_else(|_| Err(ViewError::Internal));
    if let Err(ViewError::Query(e)) = &result {
        eprintln!("pastmon-web: {e}");
    }
    result
}

/// A view error as an HTTP status.
pub(crate) fn status(e: &ViewError) -> StatusCode {
    match e {
        ViewError::BadRequest(_) => StatusCode::BAD_REQUEST,
        ViewError::Query(_) => StatusCode::BAD_GATEWAY,
        ViewError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        ViewError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn json<T: Serialize>(r: Result<T, ViewError>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => {
            let mut response = (status(&e), Json(serde_json::json!({ "error": e.to_string() }))).into_response();
            if matches!(e, ViewError::Busy) {
                response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
            }
            response
        }
    }
}

pub async fn signatures(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    json(load(s, q, views::signatures).await)
}

pub async fn drill(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    json(load(s, q, views::drill).await)
}

pub async fn graph(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let p = Params(q.clone());
    let (csv, histogram) = (p.csv(), p.get("part") == Some("histogram"));
    let r = load(s, q, views::graph).await;
    match (csv, r) {
        (true, Ok(v)) => {
            let body = if histogram { views::histogram_csv(&v) } else { views::series_csv(&v) };
            ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response()
        }
        (_, r) => json(r),
    }
}

pub async fn signature(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    json(load(s, q, views::signature).await)
}

pub async fn heatmap(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    json(load(s, q, views::heatmap).await)
}

pub async fn compare(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    json(load(s, q, views::compare).await)
}

pub async fn dependencies(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    json(load(s, q, views::dependencies).await)
}

pub async fn sensors(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    json(load(s, q, views::sensors).await)
}

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], include_str!("../openapi.json")).into_response()
}

#[cfg(test)]
mod tests {
    use crate::query::Stat;
    use pastmon_model::Metric;
    use serde_json::Value;

    /// The document covers every endpoint the router serves, and its closed
    /// sets are the console's.
    #[test]
    fn the_openapi_document_covers_every_view() {
        let doc: Value = serde_json::from_str(include_str!("../openapi.json")).unwrap();
        let routed: Vec<&str> = include_str!("lib.rs")
            .split(".route(\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .filter(|p| p.starts_with("/api/v1/") && *p != "/api/v1/openapi.json")
            .collect();
        let documented: Vec<&str> = doc["paths"].as_object().unwrap().keys().map(String::as_str).collect();
        let (mut a, mut b) = (routed.clone(), documented.clone());
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
        let names = |p: &str| -> Vec<String> {
            serde_json::from_value(doc["components"]["parameters"][p]["schema"]["enum"].clone()).unwrap()
        };
        assert_eq!(names("metric"), Metric::ALL.map(|m| m.name().to_owned()));
        assert_eq!(names("stat"), Stat::ALL.map(|s| s.name().to_owned()));
    }
}
