//! HTML pages, written with maud (escaped at compile time). Everything is in
//! the binary: the style sheet and the one small script are served under
//! `/assets/`, charts are SVG drawn by the server; no page loads anything
//! from elsewhere. A page's query string is its state: links and forms only
//! change parameters, so every view can be shared as a URL.

use crate::api::{load, status};
use crate::params::{Params, PRESETS};
use crate::query::{By, Point, Range, Stat};
use crate::svg::{format_step, heatmap, histogram_chart, line_chart, sparkline, time_label, ChartSpec, Scale};
use crate::views::SeriesOut;
use crate::views::{self, share, Stats, ViewError};
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

/// The durations' scale: what most tables show.
const MICROS: Scale = Scale::Micros;

/// How a chart draws values of the API's unit.
pub fn scale(unit: &str) -> Scale {
    match unit {
        "microseconds" => Scale::Micros,
        "bytes" => Scale::Bytes,
        "per_second" => Scale::PerSecond,
        _ => Scale::Count,
    }
}

/// How a metric's own values (not a count of them) draw, by its name.
fn metric_scale(name: &str) -> Scale {
    crate::query::metric_by_name(name).map_or(Scale::Count, |m| scale(views::unit_name(m, Stat::Avg)))
}

/// Seconds between reloads asked with `refresh=` (only for frames ending
/// now: a fixed range does not change).
fn refresh(p: &Params) -> Option<u64> {
    let seconds: u64 = p.get("refresh")?.parse().ok()?;
    (p.get("from").is_none() && (10..=3_600).contains(&seconds)).then_some(seconds)
}

/// A page: the navigation (keeping the view's time frame), breadcrumbs
/// (label, link) ending in the title, the title, the body.
fn page(title: &str, p: &Params, crumbs: &[(String, String)], body: Markup) -> Html<String> {
    let frame = p.time_frame().query_string();
    let link = |path: &str| if frame.is_empty() { path.to_owned() } else { format!("{path}?{frame}") };
    let markup = html! {
        (DOCTYPE)
        html {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(s) = refresh(p) { meta http-equiv="refresh" content=(s); }
                title { (title) " — pastmon" }
                link rel="stylesheet" href="/assets/console.css";
            }
            body {
                nav {
                    b { "pastmon" } " "
                    a href=(link("/")) { "Level 1" }
                    a href=(link("/dependencies")) { "Dependencies" }
                    a href=(link("/compare")) { "Compare" }
                    a href=(link("/graph")) { "Graph" }
                    a href=(link("/heatmap")) { "Heatmap" }
                    a href=(link("/sensors")) { "Sensors" }
                    a href="/api/v1/openapi.json" { "API" }
                    span.refresh {
                        @match refresh(p) {
                            Some(_) => { a href={ "?" (p.with("refresh", None)) } { "stop refreshing" } }
                            None => @if p.get("from").is_none() { a href={ "?" (p.with("refresh", Some("60"))) } { "refresh every minute" } }
                        }
                    }
                }
                @if !crumbs.is_empty() {
                    p.crumbs {
                        @for (label, href) in crumbs { a href=(href) { (label) } " › " }
                        span { (title) }
                    }
                }
                h1 { (title) }
                (body)
                script src="/assets/console.js" {}
            }
        }
    };
    Html(markup.into_string())
}

/// The breadcrumbs of a selection: Level 1 › plugin › signature › server ›
/// client, each a link keeping the time frame.
fn crumbs(p: &Params) -> Vec<(String, String)> {
    let frame = p.time_frame();
    let mut out = vec![("Level 1".to_owned(), format!("/?{}", frame.query_string()))];
    let mut at = frame;
    if let Some(plugin) = p.get("plugin") {
        at = at.set("plugin", Some(plugin));
        out.push((plugin.to_owned(), format!("/?{}", at.query_string())));
    }
    if let Some(sig) = p.get("signature") {
        at = at.set("signature", Some(sig));
        out.push((sig.to_owned(), format!("/signature?{}", at.query_string())));
        if let Some(server) = p.get("server") {
            at = at.set("server", Some(server));
            out.push((format!("at {server}"), format!("/signature?{}", at.query_string())));
        }
        if let Some(client) = p.get("client") {
            at = at.set("client", Some(client));
            out.push((format!("from {client}"), format!("/signature?{}", at.query_string())));
        }
    }
    out
}

/// A view's error: a short message, with the navigation and the time
/// frame form kept, so the user can change what was wrong.
fn error_page(e: &ViewError, p: &Params, path: &str) -> Response {
    let what = match e {
        ViewError::BadRequest(_) => "This view's parameters are not right",
        ViewError::Query(_) | ViewError::Internal => "No data",
        ViewError::Busy => "Busy",
    };
    let range = p
        .range(crate::now())
        .unwrap_or_else(|_| Params(Vec::new()).range(crate::now()).unwrap_or(Range { from: 0, to: 1 }));
    let body = html! {
        p { (what) ":" } p.err { (e.to_string()) }
        (range_bar(&p.set("from", None).set("to", None).set("last", None), path, range))
    };
    (status(e), page("Error", p, &crumbs(p), body)).into_response()
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

fn fmt(v: Option<f64>, scale: Scale) -> String {
    v.map_or_else(|| "–".into(), |v| scale.format(v))
}

/// A table cell sorted by its value (`data-v`), showing `text`.
fn cell(v: Option<f64>, text: String) -> Markup {
    html! { td data-v=(v.unwrap_or(-1.0)) { (text) } }
}

fn percent(v: f64) -> String {
    format!("{:.1} %", v * 100.0)
}

/// The URL of a view without its time frame: where a drag zooms to.
fn zoom_base(path: &str, p: &Params) -> String {
    format!("{path}?{}", p.set("last", None).set("from", None).with("to", None))
}

/// A link to a signature's page over the same time frame.
fn signature_link(p: &Params, plugin: &str, signature: &str, server: Option<&str>) -> String {
    let mut q = p.time_frame().set("plugin", Some(plugin)).set("signature", Some(signature));
    if let Some(s) = server {
        q = q.set("server", Some(s));
    }
    format!("/signature?{}", q.query_string())
}

/// A link to a server's dependencies over the same time frame.
fn dependencies_link(p: &Params, server: &str) -> String {
    format!("/dependencies?{}", p.time_frame().with("server", Some(server)))
}

pub async fn level1(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let p = Params(q.clone());
    let v = match load(s, q, views::signatures).await {
        Ok(v) => v,
        Err(e) => return error_page(&e, &p, "/"),
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
                (worst_list(&p, "Slowest: p95 of last response", &v.worst.slowest, |x| MICROS.format(x)))
                (worst_list(&p, "Most server errors", &v.worst.most_errors, percent))
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
                                a href=(signature_link(&p, &r.plugin, &r.signature, None)) { (r.signature) }
                                " "
                                a.note href={ "/drill?" (p.time_frame().set("signature", Some(&r.signature)).with("plugin", Some(&r.plugin))) } { "servers" }
                            }
                            td { (r.transactions) }
                            (cell(r.first_response.avg, fmt(r.first_response.avg, MICROS)))
                            (cell(r.first_response.p95, fmt(r.first_response.p95, MICROS)))
                            (cell(r.last_response.avg, fmt(r.last_response.avg, MICROS)))
                            (cell(r.last_response.p95, fmt(r.last_response.p95, MICROS)))
                            (cause_cell(r))
                            td data-v=(r.error_share) class=[(r.errors > 0).then_some("err")] { (percent(r.error_share)) }
                            td data-v=(r.client_error_share) { (percent(r.client_error_share)) }
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
    page("Level 1", &p, &[], body).into_response()
}

/// One "worst" ranking: each signature a link to its page, its value and
/// its slow side.
fn worst_list(p: &Params, title: &str, ranked: &[views::Ranked], value: impl Fn(f64) -> String) -> Markup {
    html! {
        section {
            h3 { (title) }
            @if ranked.is_empty() { p.note { "none" } }
            ol {
                @for r in ranked {
                    li {
                        a href=(signature_link(p, &r.plugin, &r.signature, None)) { (r.plugin) " " (r.signature) }
                        " " (value(r.value))
                        @if let Some(v) = r.verdict { span.note { " (" (v) ")" } }
                    }
                }
            }
        }
    }
}

/// The three shares as words: "server 92 %, network 6 %, client 2 %".
fn shares_text(s: &pastmon_model::diagnosis::Shares) -> String {
    [("server", s.server), ("network", s.network), ("client", s.client)]
        .iter()
        .map(|(n, v)| format!("{n} {:.0} %", v * 100.0))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The slow side and its share ("server 92 %"), or "balanced" when none
/// holds half; sorted by the dominant share.
fn cause_cell(r: &views::SignatureOut) -> Markup {
    let Some(s) = r.shares else { return html! { td.l data-v="-1" { "–" } } };
    let top = s.server.max(s.network).max(s.client);
    html! {
        td.l data-v=(top) title=(shares_text(&s)) {
            @match r.verdict {
                Some("balanced") | None => { "balanced" }
                Some(side) => { (side) " " (format!("{:.0} %", top * 100.0)) }
            }
        }
    }
}

fn stats_cells(st: &Stats, scale: Scale) -> Markup {
    html! { @for v in [st.avg, st.p50, st.p95, st.max] { (cell(v, fmt(v, scale))) } }
}

/// A backends table: share of server time, calls and time per front
/// transaction, correlation; each backend a link to its own page.
fn backends_table(p: &Params, backends: &[views::BackendOut]) -> Markup {
    html! {
        table.drill.backends {
            thead { tr {
                th.l { "backend" } th { "share of server time" } th { "calls per transaction" }
                th { "time per transaction" } th { "correlation" }
            } }
            tbody {
                @for b in backends {
                    tr {
                        td.l {
                            a href=(signature_link(p, &b.plugin, &b.signature, Some(&b.server))) { (b.plugin) " " (b.signature) " at " (b.server) }
                        }
                        td data-v=(b.share) { (percent(b.share)) }
                        td data-v=(b.calls_per_transaction) { (format!("{:.2}", b.calls_per_transaction)) }
                        (cell(Some(b.time_per_transaction), fmt(Some(b.time_per_transaction), MICROS)))
                        td data-v=(b.correlation.unwrap_or(-2.0)) title="Pearson's r of its time and the signature's server time, step by step" {
                            (b.correlation.map_or_else(|| "–".into(), |r| format!("{r:.2}")))
                        }
                    }
                }
            }
        }
    }
}

pub async fn drill(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let p = Params(q.clone());
    let v = match load(s, q, views::drill).await {
        Ok(v) => v,
        Err(e) => return error_page(&e, &p, "/drill"),
    };
    let sc = metric_scale(v.metric);
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
                            // A server leads to its page and its clients; a client to its own page.
                            @if by == "server" {
                                @match (&v.filter.signature, &v.filter.plugin) {
                                    (Some(sig), Some(plugin)) => { a href=(signature_link(&p, plugin, sig, Some(&r.key))) { (r.key) } }
                                    _ => { (r.key) }
                                }
                                " " a.note href={ "/drill?" (p.set("server", Some(&r.key)).with("by", Some("client"))) } { "clients" }
                                " " a.note href=(dependencies_link(&p, &r.key)) { "dependencies" }
                            } @else {
                                a href={ "/signature?" (p.selection().with("client", Some(&r.key))) } { (r.key) }
                            }
                        }
                        td { (r.transactions) }
                        td { (r.errors) }
                        (stats_cells(&r.stats, sc))
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
            (backends_table(&p, &v.backends))
            p.note { "Calls the sensor paired with this signature's transactions: made by its server while they waited on it." }
        }
        p.note { a href={ "/api/v1/drill?" (p.query_string()) } { "JSON" } }
    };
    page(&title, &p, &crumbs(&p), body).into_response()
}

/// The time of one side and what it holds, as a sentence.
fn verdict_sentence(sig: &str, v: &views::SignatureView) -> String {
    let Some(shares) = v.shares else { return format!("{sig}: no time measured in this frame.") };
    let top = v.parts.iter().max_by(|a, b| a.share.total_cmp(&b.share));
    let side = v.verdict.unwrap_or("balanced");
    let mut out = match side {
        "balanced" => format!("{sig}: no side holds half of the time ({}).", shares_text(&shares)),
        side => format!("{sig} is slow on the {side} side ({}).", shares_text(&shares)),
    };
    if let Some(part) = top {
        out.push_str(&format!(" Most of it is {} ({:.0} %).", part.part, part.share * 100.0));
    }
    if let Some(b) = v.backends.first().filter(|b| b.share >= 0.2) {
        out.push_str(&format!(
            " Its server waits on {} {} at {} for {:.0} % of its time.",
            b.plugin,
            b.signature,
            b.server,
            b.share * 100.0
        ));
    }
    out
}

fn chart_lines(series: &[SeriesOut]) -> Vec<(String, Vec<Point>)> {
    series.iter().map(|s| (s.name.clone(), s.points.clone())).collect()
}

pub async fn signature(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let p = Params(q.clone());
    let v = match load(s, q, views::signature).await {
        Ok(v) => v,
        Err(e) => return error_page(&e, &p, "/signature"),
    };
    let sig = v.filter.signature.clone().unwrap_or_default();
    let sel = p.selection();
    let zoom = zoom_base("/signature", &p);
    let title = match (&v.filter.server_ip, &v.filter.client) {
        (_, Some(client)) => format!("{sig} from {client}"),
        (Some(_), _) => format!("{sig} at {}", p.get("server").unwrap_or_default()),
        _ => sig.clone(),
    };
    let body = html! {
        (range_bar(&p, "/signature", v.range))
        p.verdict { (verdict_sentence(&sig, &v)) }
        p {
            (v.transactions) " transactions; server errors " (percent(share(v.errors, v.transactions)))
            ", client errors " (percent(share(v.client_errors, v.transactions))) ". "
            a href={ "/drill?" (sel.with("by", Some("server"))) } { "servers" } " · "
            a href={ "/drill?" (sel.set("by", Some("client")).with("order", Some("slow"))) } { "clients" } " · "
            a href={ "/graph?" (sel.with("metric", Some("server_time"))) "&metric=network_rtt&stat=p95" } { "server time beside network round trip" } " · "
            a href={ "/heatmap?" (sel.with("metric", Some("last_response"))) } { "heatmap" } " · "
            a href={ "/compare?" (sel.with("metric", Some("last_response"))) } { "compare with the period before" }
            @if let Some(server) = p.get("server") { " · " a href=(dependencies_link(&p, server)) { "dependencies of " (server) } }
        }
        form method="get" action="/graph" {
            "draw its " (select("metric", &Metric::ALL.map(|m| m.name()), &["server_time", "network_rtt"], true))
            " as " (select("stat", &Stat::ALL.map(|s| s.name()), &["p95"], false))
            (kept(&p, &["last", "from", "to", "plugin", "signature", "server", "client", "sensor"]))
            " " button { "Graph" }
            span.note { " several metrics of one unit draw together" }
        }
        h2 { "Where the time goes" }
        table.drill {
            thead { tr { th.l { "part" } th.l { "side" } th { "average" } th { "share" } } }
            tbody {
                @for part in &v.parts {
                    tr {
                        td.l { (part.part) } td.l { (part.side) }
                        (cell(part.avg, fmt(part.avg, MICROS)))
                        td data-v=(part.share) { (percent(part.share)) }
                    }
                }
            }
        }
        h3 {
            (v.parts_stat) " of each part per " (format_step(v.step)) ", stacked "
            span.note {
                @if v.parts_stat == "avg" { a href={ "/signature?" (p.with("parts", Some("p95"))) } { "show p95" } }
                @else { a href={ "/signature?" (p.with("parts", Some("avg"))) } { "show average" } }
            }
        }
        (line_chart(&chart_lines(&v.parts_series), ChartSpec { scale: MICROS, stacked: true, zoom: Some(&zoom), losses: &v.losses }))
        @if v.parts_stat == "p95" { p.note { "Each part's own p95, stacked: an upper bound of the p95 of the whole, not the p95 itself." } }
        @if !v.backends.is_empty() {
            h2 { "Waits on" }
            (backends_table(&p, &v.backends))
            h3 { "p95 of its last response beside its backends'" }
            (line_chart(&chart_lines(&v.beside_backends), ChartSpec { scale: MICROS, stacked: false, zoom: Some(&zoom), losses: &v.losses }))
        }
        h2 { "Outcomes" }
        table.drill.outcomes {
            thead { tr { th.l { "outcome" } th { "transactions" } th { "share" } } }
            tbody {
                @for (label, n) in &v.outcomes {
                    tr { td.l { (label) } td { (n) } td data-v=(share(*n, v.transactions)) { (percent(share(*n, v.transactions))) } }
                }
            }
        }
        p.note { "From " (v.table.name()) ". " a href={ "/api/v1/signature?" (p.query_string()) } { "JSON" } }
    };
    // The crumbs up to the page's own: the signature's, or its server's.
    let mut up = crumbs(&p);
    up.pop();
    page(&title, &p, &up, body).into_response()
}

fn select(name: &str, options: &[&str], chosen: &[&str], multiple: bool) -> Markup {
    html! {
        select name=(name) multiple[multiple] size=[multiple.then_some(4)] {
            @for o in options { option selected[chosen.contains(o)] { (o) } }
        }
    }
}

/// Hidden inputs keeping a view's selection in a form.
fn kept(p: &Params, keys: &[&str]) -> Markup {
    html! {
        @for key in keys {
            @if let Some(val) = p.get(key) { input type="hidden" name=(key) value=(val); }
        }
    }
}

pub async fn graph(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let p = Params(q.clone());
    let v = match load(s, q, views::graph).await {
        Ok(v) => v,
        Err(e) => return error_page(&e, &p, "/graph"),
    };
    let sc = scale(v.unit);
    let metrics: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
    let stats: Vec<&str> = Stat::ALL.iter().map(|s| s.name()).collect();
    let series: Vec<&str> = p.all("series").collect();
    let lines: Vec<(String, Vec<Point>)> = chart_lines(&v.series).into_iter().chain(chart_lines(&v.previous)).collect();
    let h = &v.histogram;
    let hs = metric_scale(v.metrics[0]);
    let qs = p.query_string();
    let zoom = zoom_base("/graph", &p);
    let body = html! {
        (range_bar(&p, "/graph", v.range))
        form method="get" action="/graph" {
            "metrics " (select("metric", &metrics, &v.metrics, true)) " statistic " (select("stat", &stats, &[v.stat], false)) " "
            @for i in 0..3 {
                input name="series" size="28" placeholder="SIGNATURE or SIGNATURE@IP:PORT"
                    value=(series.get(i).copied().unwrap_or_default());
                " "
            }
            (kept(&p, &["last", "from", "to", "plugin", "server", "client", "sensor", "signature"]))
            label { input type="checkbox" name="compare" value="1" checked[p.flag("compare")]; " previous period" }
            " " button { "Show" }
        }
        h2 { (v.stat) " of " (v.metrics.join(", ")) " per " (format_step(v.step)) " (" (v.table.name()) ")" }
        p.note { "Drag across the chart to zoom; shaded: the sensors lost frames there." }
        (line_chart(&lines, ChartSpec { scale: sc, stacked: false, zoom: Some(&zoom), losses: &v.losses }))
        h2 { "Histogram of " (v.metrics[0]) }
        p {
            (h.stats.count) " values; avg " (fmt(h.stats.avg, hs)) ", p50 " (fmt(h.stats.p50, hs))
            ", p95 " (fmt(h.stats.p95, hs)) ", p99 " (fmt(h.stats.p99, hs)) ", max " (fmt(h.stats.max, hs))
        }
        @if v.histograms.len() > 1 {
            p.note { "Each series' histogram, as shares of its own values." }
            (histogram_chart(&v.histograms.iter().map(|(n, h)| (n.clone(), h.buckets.clone())).collect::<Vec<_>>(), hs, true))
        } @else {
            (histogram_chart(&[(v.metrics[0].to_owned(), h.buckets.clone())], hs, false))
        }
        p.note {
            "Data: " a href={ "/api/v1/graph?" (qs) } { "JSON" }
            " · " a href={ "/api/v1/graph?" (qs) "&format=csv" } { "series CSV" }
            " · " a href={ "/api/v1/graph?" (qs) "&format=csv&part=histogram" } { "histogram CSV" }
        }
    };
    page("Graph", &p, &crumbs(&p), body).into_response()
}

pub async fn heatmap_page(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let p = Params(q.clone());
    let v = match load(s, q, views::heatmap).await {
        Ok(v) => v,
        Err(e) => return error_page(&e, &p, "/heatmap"),
    };
    let metrics: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
    let columns: Vec<crate::svg::Column> = v.columns.iter().map(|c| (c.t, c.buckets.clone())).collect();
    let zoom = zoom_base("/heatmap", &p);
    let title = format!("Heatmap of {} — {}", v.metric, v.filter.signature.as_deref().unwrap_or("all signatures"));
    let body = html! {
        (range_bar(&p, "/heatmap", v.range))
        form method="get" action="/heatmap" {
            "metric " (select("metric", &metrics, &[v.metric], false)) " "
            "signature " input name="signature" size="28" value=(p.get("signature").unwrap_or_default());
            (kept(&p, &["last", "from", "to", "plugin", "server", "client", "sensor"]))
            " " button { "Show" }
        }
        p.note { "A column per " (format_step(v.step)) " (" (v.table.name()) "), a row per histogram bucket; darker: more values. Drag to zoom." }
        (heatmap(&columns, v.step, scale(v.unit), Some(&zoom), &v.losses))
        p.note { a href={ "/api/v1/heatmap?" (p.query_string()) } { "JSON" } }
    };
    page(&title, &p, &crumbs(&p), body).into_response()
}

pub async fn compare(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let p = Params(q.clone());
    let v = match load(s, q, views::compare).await {
        Ok(v) => v,
        Err(e) => return error_page(&e, &p, "/compare"),
    };
    let sc = scale(v.unit);
    let change = |c: Option<f64>| c.map_or_else(|| "–".into(), |c| format!("{:+.0} %", (c - 1.0) * 100.0));
    let body = html! {
        (range_bar(&p, "/compare", v.range))
        form method="get" action="/compare" {
            "against from " input type="text" name="before_from" size="16" value=(time_label(v.before.from)) placeholder="YYYY-MM-DD HH:MM";
            " to " input type="text" name="before_to" size="16" value=(time_label(v.before.to)) placeholder="YYYY-MM-DD HH:MM";
            " UTC "
            (kept(&p, &["last", "from", "to", "plugin", "server", "client", "sensor", "signature", "metric"]))
            button { "Compare" }
        }
        p {
            (v.metric) ": " (time_label(v.range.from)) " – " (time_label(v.range.to)) " (after) against "
            (time_label(v.before.from)) " – " (time_label(v.before.to)) " UTC (before), most grown p95 first."
        }
        @if let Some([before, after]) = &v.histograms {
            h2 { "Histograms, as shares of each range's values" }
            (histogram_chart(&[("before".to_owned(), before.buckets.clone()), ("after".to_owned(), after.buckets.clone())], sc, true))
        }
        table.drill.compare {
            thead { tr {
                th.l { "signature" } th { "transactions before" } th { "after" }
                th { "p50 before" } th { "after" } th { "change" } th { "p95 before" } th { "after" } th { "change" }
                th { "p99 before" } th { "after" }
            } }
            tbody {
                @for r in &v.rows {
                    tr {
                        td.l { a href={ "/compare?" (p.set("plugin", Some(&r.plugin)).with("signature", Some(&r.signature))) } { (r.plugin) " " (r.signature) } }
                        td { (r.before_transactions) } td { (r.after_transactions) }
                        (cell(r.before.p50, fmt(r.before.p50, sc))) (cell(r.after.p50, fmt(r.after.p50, sc)))
                        td data-v=(r.p50_change.unwrap_or(-1.0)) { (change(r.p50_change)) }
                        (cell(r.before.p95, fmt(r.before.p95, sc))) (cell(r.after.p95, fmt(r.after.p95, sc)))
                        td data-v=(r.p95_change.unwrap_or(-1.0)) class=[r.p95_change.filter(|c| *c >= 1.2).map(|_| "err")] { (change(r.p95_change)) }
                        (cell(r.before.p99, fmt(r.before.p99, sc))) (cell(r.after.p99, fmt(r.after.p99, sc)))
                    }
                }
            }
        }
        p.note { a href={ "/api/v1/compare?" (p.query_string()) } { "JSON" } }
    };
    page("Compare two ranges", &p, &crumbs(&p), body).into_response()
}

/// A table of call edges: each end a link to its signature's page and
/// its server's dependencies.
fn edges_table(p: &Params, edges: &[views::EdgeOut]) -> Markup {
    let end = |e: &crate::query::End| {
        html! {
            a href=(signature_link(p, &e.plugin, &e.signature, Some(&e.server))) { (e.plugin) " " (e.signature) }
            " at " a href=(dependencies_link(p, &e.server)) { (e.server) }
        }
    };
    html! {
        table.drill.edges {
            thead { tr { th.l { "caller" } th.l { "called" } th { "calls" } th { "latency per call" } th { "errors of the called" } } }
            tbody {
                @for e in edges {
                    tr {
                        td.l { (end(&e.front)) } td.l { (end(&e.backend)) }
                        td data-v=(e.calls) { (format!("{:.0}", e.calls)) }
                        (cell(Some(e.latency), MICROS.format(e.latency)))
                        td data-v=(e.error_share.unwrap_or(-1.0)) class=[e.error_share.filter(|s| *s > 0.0).map(|_| "err")] {
                            (e.error_share.map_or_else(|| "–".into(), percent))
                        }
                    }
                }
            }
        }
    }
}

pub async fn dependencies(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let p = Params(q.clone());
    let v = match load(s, q, views::dependencies).await {
        Ok(v) => v,
        Err(e) => return error_page(&e, &p, "/dependencies"),
    };
    let title = match &v.server {
        Some(server) => format!("Dependencies of {server}"),
        None => "Dependencies".to_owned(),
    };
    let body = html! {
        (range_bar(&p, "/dependencies", v.range))
        form method="get" action="/dependencies" {
            "server " input name="server" size="24" placeholder="IP or IP:PORT" value=(p.get("server").unwrap_or_default());
            (kept(&p, &["last", "from", "to"]))
            " " button { "Show" }
        }
        @match &v.server {
            Some(_) => {
                h2 { "Who calls it" }
                @if v.callers.is_empty() { p.note { "No transaction the sensor saw waited on it." } } @else { (edges_table(&p, &v.callers)) }
                h2 { "Whom it calls" }
                @if v.callees.is_empty() { p.note { "It called no watched server while answering." } } @else { (edges_table(&p, &v.callees)) }
            }
            None => {
                p { "Every call the sensors paired with a transaction it served, most time first. Pick a server to see its own." }
                (edges_table(&p, &v.edges))
            }
        }
        p.note {
            "Calls: a watched server's requests to another watched server while one of its own transactions waited. \
             Errors of the called: that signature's server errors at that server, all callers together. "
            a href={ "/api/v1/dependencies?" (p.query_string()) } { "JSON" }
        }
    };
    page(&title, &p, &[], body).into_response()
}

/// Thousands apart with thin spaces: 1 234 567.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{2009}');
        }
        out.push(c);
    }
    out
}

pub async fn sensors(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let p = Params(q.clone());
    let v = match load(s, q, views::sensors).await {
        Ok(v) => v,
        Err(e) => return error_page(&e, &p, "/sensors"),
    };
    let flagged = |n: u64| (n > 0).then_some("err");
    let over_time = |name: &str, value: fn(&crate::query::HealthPoint) -> u64| {
        (name.to_owned(), v.health.iter().map(|h| Point { t: h.t, v: Some(value(h) as f64) }).collect::<Vec<_>>())
    };
    let zoom = zoom_base("/sensors", &p);
    let frames = [over_time("dropped", |h| h.dropped), over_time("not analysed", |h| h.skipped)];
    let bytes = [over_time("bytes missing", |h| h.lost_bytes)];
    let lag = [over_time("max export lag", |h| h.max_export_lag_seconds)];
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
                        td.l { a href={ "/sensors?" (p.with("sensor", Some(&r.sensor))) } { (r.sensor) } } td.l { (r.version) }
                        td { (grouped(r.intervals)) } td { (grouped(r.packets)) }
                        td { (Scale::Bytes.format(r.bytes as f64)) }
                        td class=[flagged(r.dropped)] { (grouped(r.dropped)) }
                        td class=[flagged(r.skipped)] { (grouped(r.skipped)) }
                        td { (grouped(r.flows)) } td { (grouped(r.transactions)) }
                        td class=[flagged(r.lost_bytes)] { (Scale::Bytes.format(r.lost_bytes as f64)) }
                        td data-v=(r.max_export_lag_seconds) { (Scale::Seconds.format(r.max_export_lag_seconds as f64)) }
                        td.l { (time_label(r.last_interval)) }
                    }
                }
            }
        }
        h2 { "Frames lost and not analysed per " (format_step(v.step)) @if let Some(s) = p.get("sensor") { " (" (s) ")" } }
        (line_chart(&frames, ChartSpec { scale: Scale::Count, stacked: false, zoom: Some(&zoom), losses: &v.losses }))
        h2 { "Payload missing from the capture" }
        (line_chart(&bytes, ChartSpec { scale: Scale::Bytes, stacked: false, zoom: Some(&zoom), losses: &v.losses }))
        h2 { "Export lag" }
        (line_chart(&lag, ChartSpec { scale: Scale::Seconds, stacked: false, zoom: Some(&zoom), losses: &v.losses }))
        p.note {
            "Frames dropped before analysis and payload missing from the capture mean the numbers of that time may \
             be low: every graph shades those times. Not analysed: frames the sensor skipped (not IP, not watched, \
             malformed). "
            a href={ "/api/v1/sensors?" (p.query_string()) } { "JSON" }
        }
    };
    page("Sensors", &p, &[], body).into_response()
}
