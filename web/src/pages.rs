//! HTML pages, written with maud (escaped at compile time). Everything is in
//! the binary: the style sheet and the one small script are served under
//! `/assets/`, charts are SVG drawn by the server; no page loads anything
//! from elsewhere. A page's query string is its state: links and forms only
//! change parameters, so every view can be shared as a URL.

use crate::api::{load, status};
use crate::params::{Params, PRESETS};
use crate::query::{By, Point, Range, Stat};
use crate::svg::{format_step, format_value, histogram_chart, line_chart, sparkline, time_label};
use crate::views::{self, Stats, ViewError};
use crate::Shared;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use pastmon_model::Metric;

pub const STYLE: &str = include_str!("../assets/console.css");
pub const SCRIPT: &str = include_str!("../assets/console.js");

/// `/assets/console.css` and `/assets/console.js`.
pub async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

pub async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT).into_response()
}

/// A page: the navigation (keeping the view's time frame), the title, the body.
fn page(title: &str, p: &Params, body: Markup) -> Html<String> {
    let frame = p.time_frame().query_string();
    let link = |path: &str| if frame.is_empty() { path.to_owned() } else { format!("{path}?{frame}") };
    let markup = html! {
        (DOCTYPE)
        html {
            head {
                meta charset="utf-8";
                title { (title) " — pastmon" }
                link rel="stylesheet" href="/assets/console.css";
            }
            body {
                nav {
                    b { "pastmon" } " "
                    a href=(link("/")) { "Level 1" }
                    a href=(link("/graph")) { "Graph" }
                    a href=(link("/sensors")) { "Sensors" }
                    a href="/api/v1/openapi.json" { "API" }
                }
                h1 { (title) }
                (body)
                script src="/assets/console.js" {}
            }
        }
    };
    Html(markup.into_string())
}

fn error_page(e: &ViewError, p: &Params) -> Response {
    let what = match e {
        ViewError::BadRequest(_) => "This view's parameters are not right",
        ViewError::Query(_) | ViewError::Internal => "No data",
        ViewError::Busy => "Busy",
    };
    let body = html! { p { (what) ":" } p.err { (e.to_string()) } };
    (status(e), page("Error", p, body)).into_response()
}

/// The time-frame links, a custom range form, and the view's range.
fn range_bar(p: &Params, path: &str, range: Range) -> Markup {
    html! {
        form.range method="get" action=(path) {
            @for (k, v) in &p.0 {
                @if !matches!(k.as_str(), "from" | "to" | "last") {
                    input type="hidden" name=(k) value=(v);
                }
            }
            // Text, not datetime-local: the same UTC in every browser's locale.
            "from " input type="text" name="from" size="16" value=(time_label(range.from))
                pattern="[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}" placeholder="YYYY-MM-DD HH:MM";
            " to " input type="text" name="to" size="16" value=(time_label(range.to))
                pattern="[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}" placeholder="YYYY-MM-DD HH:MM";
            " UTC " button { "Go" }
        }
        p.presets {
            @for (name, _) in PRESETS {
                a href={ (path) "?" (p.set("from", None).set("to", None).with("last", Some(name))) } { (name) }
            }
            span.note { (time_label(range.from)) " – " (time_label(range.to)) " UTC" }
        }
    }
}

fn fmt(v: Option<f64>, duration: bool) -> String {
    v.map_or_else(|| "–".into(), |v| format_value(v, duration))
}

/// A table cell sorted by its value (`data-v`), showing `text`.
fn cell(v: Option<f64>, text: String) -> Markup {
    html! { td data-v=(v.unwrap_or(-1.0)) { (text) } }
}

pub async fn level1(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let p = Params(q.clone());
    let v = match load(s, q, views::signatures).await {
        Ok(v) => v,
        Err(e) => return error_page(&e, &p),
    };
    // One table per plugin, in the order the view sorted them.
    let mut plugins: Vec<(&str, Vec<&views::SignatureOut>)> = Vec::new();
    for r in &v.signatures {
        match plugins.last_mut() {
            Some((plugin, rows)) if *plugin == r.plugin => rows.push(r),
            _ => plugins.push((&r.plugin, vec![r])),
        }
    }
    let body = html! {
        (range_bar(&p, "/", v.range))
        p { input #filter placeholder="filter signatures" size="40"; }
        @if v.signatures.is_empty() {
            p {
                "No transactions in this time frame. "
                @match v.data_span {
                    Some(span) => {
                        "The sensors wrote intervals from " (time_label(span.from)) " to " (time_label(span.to)) " UTC: "
                        a href={ "/?" (Params(Vec::new()).set("from", Some(&span.to.saturating_sub(86_400).max(span.from).to_string())).with("to", Some(&(span.to + 3_600).to_string()))) } { "the last day of it" }
                        "."
                    }
                    None => { "The database holds no data yet: is a sensor writing to it?" }
                }
            }
        }
        @if !v.signatures.is_empty() {
            div.worst {
                (worst_list(&p, "Slowest: p95 of last response", &v.worst.slowest, |x| fmt(Some(x), true)))
                (worst_list(&p, "Most server errors", &v.worst.most_errors, |x| format!("{:.1} %", x * 100.0)))
                (worst_list(&p, "Slower than the period before (p95)", &v.worst.slower_than_before, |x| format!("× {x:.1}")))
            }
        }
        @for (plugin, rows) in &plugins {
            h2 { (plugin) }
            table.signatures {
                thead { tr {
                    th.l { "signature" } th { "transactions" } th { "first response avg" } th { "p95" }
                    th { "last response avg" } th { "p95" } th.l { "slow side" } th { "server errors" } th { "client errors" }
                    th.l { "transactions over time" }
                } }
                tbody {
                    @for r in rows {
                        tr {
                            td.l {
                                a href={ "/drill?" (p.time_frame().set("signature", Some(&r.signature)).with("plugin", Some(&r.plugin))) } { (r.signature) }
                                " "
                                a.note href={ "/graph?" (p.time_frame().with("series", Some(&r.signature))) } { "graph" }
                            }
                            td { (r.transactions) }
                            (cell(r.first_response.avg, fmt(r.first_response.avg, true)))
                            (cell(r.first_response.p95, fmt(r.first_response.p95, true)))
                            (cell(r.last_response.avg, fmt(r.last_response.avg, true)))
                            (cell(r.last_response.p95, fmt(r.last_response.p95, true)))
                            (cause_cell(r))
                            td data-v=(r.error_share) class=[(r.errors > 0).then_some("err")] {
                                (format!("{:.1} %", r.error_share * 100.0))
                            }
                            td data-v=(r.client_error_share) { (format!("{:.1} %", r.client_error_share * 100.0)) }
                            td.l { (sparkline(&r.sparkline)) }
                        }
                    }
                }
            }
        }
        p.note {
            "From " (v.table.name()) " (" (v.signatures.len()) " rows). Slow side: the side holding at least \
             half of the time (server: its own time and idle sending; network: request and response in \
             flight, delivery; client: its window full), else balanced. Server errors: HTTP 5xx, DNS SERVFAIL, \
             resets, no response, incomplete responses, refusals. Client errors: requests rejected as wrong \
             (HTTP 4xx, IMAP BAD, DNS FORMERR). "
            a href={ "/api/v1/signatures?" (p.query_string()) } { "JSON" }
        }
    };
    page("Level 1", &p, body).into_response()
}

/// A graph's query: the signature (at the selected server, if any) and its
/// top backends, last response, over the same time frame.
fn beside_backends(p: &Params, sig: &str, v: &views::DrillView) -> String {
    let front = match (&v.filter.server_ip, v.filter.server_port) {
        (Some(ip), Some(port)) => format!("{sig}@{ip}:{port}"),
        (Some(ip), None) => format!("{sig}@{ip}"),
        _ => sig.to_owned(),
    };
    let series =
        std::iter::once(front).chain(v.backends.iter().take(5).map(|b| format!("{}@{}", b.signature, b.server)));
    let mut q = p.time_frame().set("metric", Some("last_response"));
    for s in series {
        q.0.push(("series".into(), s));
    }
    q.query_string()
}

/// One "worst" ranking: each signature a link to its servers, its value and
/// its slow side.
fn worst_list(p: &Params, title: &str, ranked: &[views::Ranked], value: impl Fn(f64) -> String) -> Markup {
    html! {
        section {
            h3 { (title) }
            @if ranked.is_empty() { p.note { "none" } }
            ol {
                @for r in ranked {
                    li {
                        a href={ "/drill?" (p.time_frame().set("signature", Some(&r.signature)).with("plugin", Some(&r.plugin))) } { (r.plugin) " " (r.signature) }
                        " " (value(r.value))
                        @if let Some(v) = r.verdict { span.note { " (" (v) ")" } }
                    }
                }
            }
        }
    }
}

/// The slow side and its share ("server 92 %"), or the three shares when
/// none holds half; sorted by the dominant share.
fn cause_cell(r: &views::SignatureOut) -> Markup {
    let Some(s) = r.shares else { return html! { td.l data-v="-1" { "–" } } };
    let sides = [("server", s.server), ("network", s.network), ("client", s.client)];
    let top = sides.iter().map(|(_, v)| *v).fold(0.0, f64::max);
    let all: Vec<String> = sides.iter().map(|(n, v)| format!("{n} {:.0} %", v * 100.0)).collect();
    html! {
        td.l data-v=(top) title=(all.join(", ")) {
            @match r.verdict {
                Some("balanced") | None => { "balanced" }
                Some(side) => { (side) " " (format!("{:.0} %", top * 100.0)) }
            }
        }
    }
}

fn stats_cells(st: &Stats, duration: bool) -> Markup {
    html! { @for v in [st.avg, st.p50, st.p95, st.max] { (cell(v, fmt(v, duration))) } }
}

pub async fn drill(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let p = Params(q.clone());
    let v = match load(s, q, views::drill).await {
        Ok(v) => v,
        Err(e) => return error_page(&e, &p),
    };
    let duration = crate::query::metric_by_name(v.metric).is_some_and(views::is_duration);
    let by = match v.by {
        By::Server => "server",
        By::Client => "client",
    };
    let title = format!("{} by {by}", v.filter.signature.as_deref().unwrap_or("all signatures"));
    let body = html! {
        (range_bar(&p, "/drill", v.range))
        p {
            "Rank by " a href={ "/drill?" (p.with("order", Some("count"))) } { "count" }
            " | " a href={ "/drill?" (p.with("order", Some("slow"))) } { "slowness" }
            " of " (v.metric) "; show "
            a href={ "/drill?" (p.with("by", Some("server"))) } { "servers" }
            " | " a href={ "/drill?" (p.with("by", Some("client"))) } { "clients" }
        }
        table.drill {
            thead { tr {
                th.l { (by) } th { "transactions" } th { "errors" } th { "avg" } th { "p50" } th { "p95" } th { "max" }
            } }
            tbody {
                @for r in &v.rows {
                    tr {
                        td.l {
                            // A server leads to its clients; a client narrows the view to it.
                            @if by == "server" {
                                a href={ "/drill?" (p.set("server", Some(&r.key)).with("by", Some("client"))) } { (r.key) }
                                @if let Some(sig) = &v.filter.signature {
                                    " "
                                    a.note href={ "/graph?" (p.time_frame().with("series", Some(&format!("{sig}@{}", r.key)))) } { "graph" }
                                }
                            } @else {
                                a href={ "/drill?" (p.with("client", Some(&r.key))) } { (r.key) }
                            }
                        }
                        td { (r.transactions) }
                        td { (r.errors) }
                        (stats_cells(&r.stats, duration))
                    }
                }
            }
        }
        @if let (Some(top), Some(sig)) = (v.backends.first(), &v.filter.signature) {
            h2 { "Waits on" }
            p {
                (sig) " spends " (format!("{:.0} %", top.share * 100.0)) " of its server time waiting on "
                (top.plugin) " " (top.signature) " at " (top.server) "."
            }
            table.drill {
                thead { tr {
                    th.l { "backend" } th { "share of server time" } th { "calls per transaction" } th { "time per transaction" }
                } }
                tbody {
                    @for b in &v.backends {
                        tr {
                            td.l {
                                a href={ "/drill?" (p.time_frame().set("plugin", Some(&b.plugin)).set("signature", Some(&b.signature)).with("server", Some(&b.server))) } {
                                    (b.plugin) " " (b.signature) " at " (b.server)
                                }
                            }
                            td data-v=(b.share) { (format!("{:.1} %", b.share * 100.0)) }
                            td data-v=(b.calls_per_transaction) { (format!("{:.2}", b.calls_per_transaction)) }
                            (cell(Some(b.time_per_transaction), fmt(Some(b.time_per_transaction), true)))
                        }
                    }
                }
            }
            p {
                a href={ "/graph?" (beside_backends(&p, sig, &v)) } { "Its last response beside its backends'" }
            }
            p.note { "Calls the sensor paired with this signature's transactions: made by its server while they waited on it." }
        }
        p.note { a href={ "/api/v1/drill?" (p.query_string()) } { "JSON" } }
    };
    page(&title, &p, body).into_response()
}

fn select(name: &str, options: &[&str], chosen: &str) -> Markup {
    html! {
        select name=(name) {
            @for o in options { option selected[*o == chosen] { (o) } }
        }
    }
}

pub async fn graph(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let p = Params(q.clone());
    let v = match load(s, q, views::graph).await {
        Ok(v) => v,
        Err(e) => return error_page(&e, &p),
    };
    let duration = v.unit == "microseconds";
    let metrics: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
    let stats: Vec<&str> = Stat::ALL.iter().map(|s| s.name()).collect();
    let series: Vec<&str> = p.all("series").collect();
    // Zoom: the middle half, or twice the span, around the same centre.
    let (from, to) = (v.range.from, v.range.to);
    let (mid, span) = ((from + to) / 2, to - from);
    let zoom = |from: u64, to: u64| {
        format!("/graph?{}", p.set("last", None).set("from", Some(&from.to_string())).with("to", Some(&to.to_string())))
    };
    let lines: Vec<(String, Vec<Point>)> =
        v.series.iter().chain(&v.previous).map(|s| (s.name.clone(), s.points.clone())).collect();
    let h = &v.histogram;
    let qs = p.query_string();
    let body = html! {
        (range_bar(&p, "/graph", v.range))
        form method="get" action="/graph" {
            "metric " (select("metric", &metrics, v.metric)) " statistic " (select("stat", &stats, v.stat)) " "
            @for i in 0..3 {
                input name="series" size="28" placeholder="SIGNATURE or SIGNATURE@IP:PORT"
                    value=(series.get(i).copied().unwrap_or_default());
                " "
            }
            @for key in ["last", "from", "to", "plugin", "server", "client", "sensor", "signature"] {
                @if let Some(val) = p.get(key) { input type="hidden" name=(key) value=(val); }
            }
            label { input type="checkbox" name="compare" value="1" checked[p.flag("compare")]; " previous period" }
            " " button { "Show" }
        }
        p {
            "Zoom " a href=(zoom(mid - span / 4, mid + span / 4)) { "in" }
            " | " a href=(zoom(mid.saturating_sub(span), mid + span)) { "out" }
            "; earlier " a href=(zoom(from.saturating_sub(span / 2), to - span / 2)) { "←" }
            " " a href=(zoom(from + span / 2, to + span / 2)) { "→" } " later"
        }
        h2 { (v.stat) " of " (v.metric) " per " (format_step(v.step)) " (" (v.table.name()) ")" }
        (line_chart(&lines, duration && v.stat != "count"))
        h2 { "Histogram of " (v.metric) }
        p {
            (h.stats.count) " values; avg " (fmt(h.stats.avg, duration)) ", p50 " (fmt(h.stats.p50, duration))
            ", p95 " (fmt(h.stats.p95, duration)) ", p99 " (fmt(h.stats.p99, duration))
            ", max " (fmt(h.stats.max, duration))
        }
        (histogram_chart(&h.buckets, duration))
        p.note {
            "Data: " a href={ "/api/v1/graph?" (qs) } { "JSON" }
            " · " a href={ "/api/v1/graph?" (qs) "&format=csv" } { "series CSV" }
            " · " a href={ "/api/v1/graph?" (qs) "&format=csv&part=histogram" } { "histogram CSV" }
        }
    };
    page("Graph", &p, body).into_response()
}

pub async fn sensors(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let p = Params(q.clone());
    let v = match load(s, q, views::sensors).await {
        Ok(v) => v,
        Err(e) => return error_page(&e, &p),
    };
    let flagged = |n: u64| (n > 0).then_some("err");
    let body = html! {
        (range_bar(&p, "/sensors", v.range))
        table.sensors {
            thead { tr {
                th.l { "sensor" } th.l { "version" } th { "intervals" } th { "packets" } th { "bytes" }
                th { "dropped" } th { "not analysed" } th { "flows" } th { "transactions" } th { "bytes missing" }
                th { "max export lag" } th.l { "last interval" }
            } }
            tbody {
                @for r in &v.sensors {
                    tr {
                        td.l { (r.sensor) } td.l { (r.version) } td { (r.intervals) } td { (r.packets) }
                        td { (r.bytes) }
                        td class=[flagged(r.dropped)] { (r.dropped) }
                        td class=[flagged(r.skipped)] { (r.skipped) }
                        td { (r.flows) } td { (r.transactions) }
                        td class=[flagged(r.lost_bytes)] { (r.lost_bytes) }
                        td { (r.max_export_lag_seconds) " s" }
                        td.l { (time_label(r.last_interval)) }
                    }
                }
            }
        }
        p.note {
            "Frames dropped before analysis, frames not analysed and payload missing from the capture mean the \
             numbers of that time may be incomplete."
        }
    };
    page("Sensors", &p, body).into_response()
}
