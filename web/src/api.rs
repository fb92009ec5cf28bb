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

type Loader<T> = fn(&Client, &str, &Params, u64) -> Result<T, ViewError>;

/// Runs a view's queries off the async runtime (the ClickHouse client
/// blocks).
pub(crate) async fn load<T: Send + 'static>(
    state: Shared,
    pairs: Vec<(String, String)>,
    view: Loader<T>,
) -> Result<T, ViewError> {
    tokio::task::spawn_blocking(move || view(&state.client, &state.db, &Params(pairs), now()))
        .await
        .unwrap_or_else(|e| Err(ViewError::BadRequest(format!("internal error: {e}"))))
}

/// A view error as an HTTP status and a one-line message.
pub(crate) fn status(e: &ViewError) -> StatusCode {
    match e {
        ViewError::BadRequest(_) => StatusCode::BAD_REQUEST,
        ViewError::Query(_) => StatusCode::BAD_GATEWAY,
    }
}

fn json<T: Serialize>(r: Result<T, ViewError>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => (status(&e), Json(serde_json::json!({ "error": e.to_string() }))).into_response(),
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

pub async fn sensors(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    json(load(s, q, views::sensors).await)
}

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], include_str!("../openapi.json")).into_response()
}
