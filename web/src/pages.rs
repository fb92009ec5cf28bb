//! HTML pages. Everything is in the response: styles, charts as SVG, and a
//! few lines of script for sorting and filtering tables; no page loads
//! anything from elsewhere. A page's query string is its state: links and
//! forms only change parameters, so every view can be shared as a URL.

use crate::api::{load, status};
use crate::params::{Params, PRESETS};
use crate::query::Stat;
use crate::svg::{esc, format_value, histogram_chart, line_chart, sparkline, time_input, time_label};
use crate::views::{self, Stats, ViewError};
use crate::Shared;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use pastmon_model::Metric;
use std::fmt::Write;

const STYLE: &str = "body{font-family:sans-serif;margin:1em 2em;color:#222}nav a{margin-right:1em}\
table{border-collapse:collapse;margin:.5em 0}th,td{padding:2px 8px;border-bottom:1px solid #eee;text-align:right}\
th{cursor:pointer;background:#f4f4f4}td.l,th.l{text-align:left}.err{color:#b00}form{margin:.5em 0}\
.presets a{margin-right:.5em}h2{margin-top:1.2em}.note{color:#666;font-size:90%}";

/// Click a header to sort its table; type in `#filter` to hide rows.
const SCRIPT: &str = "document.querySelectorAll('th').forEach(function(th){th.onclick=function(){\
var t=th.closest('table'),i=Array.prototype.indexOf.call(th.parentNode.children,th),d=th.dataset.d=th.dataset.d==='a'?'d':'a';\
t.querySelectorAll('tbody').forEach(function(b){var r=Array.prototype.slice.call(b.rows);r.sort(function(x,y){\
var p=x.cells[i].dataset.v||x.cells[i].textContent,q=y.cells[i].dataset.v||y.cells[i].textContent,\
n=parseFloat(p),m=parseFloat(q),c=(!isNaN(n)&&!isNaN(m))?n-m:p.localeCompare(q);return d==='a'?c:-c});\
r.forEach(function(e){b.appendChild(e)})})}});var f=document.getElementById('filter');if(f){f.oninput=function(){\
var s=f.value.toLowerCase();document.querySelectorAll('tbody tr').forEach(function(r){\
r.style.display=r.textContent.toLowerCase().indexOf(s)<0?'none':''})}}";

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{t} — pastmon</title><style>{STYLE}</style></head>\
         <body><nav><b>pastmon</b> <a href=\"/\">Level 1</a><a href=\"/graph\">Graph</a><a href=\"/sensors\">Sensors</a>\
         <a href=\"/api/v1/openapi.json\">API</a></nav><h1>{t}</h1>{body}<script>{SCRIPT}</script></body></html>",
        t = esc(title)
    ))
}

fn error_page(e: &ViewError) -> Response {
    let what = match e {
        ViewError::BadRequest(_) => "This view's parameters are not right",
        ViewError::Query(_) => "The database did not answer",
    };
    (status(e), page("Error", &format!("<p>{what}:</p><p class=\"err\">{}</p>", esc(&e.to_string())))).into_response()
}

/// The time-frame links, a custom range form, and the view's range.
fn range_bar(p: &Params, path: &str, range: crate::query::Range) -> String {
    let mut out = format!("<form class=\"range\" method=\"get\" action=\"{path}\">");
    for (k, v) in &p.0 {
        if !matches!(k.as_str(), "from" | "to" | "last") {
            let _ = write!(out, "<input type=\"hidden\" name=\"{}\" value=\"{}\">", esc(k), esc(v));
        }
    }
    let _ = write!(
        out,
        "from <input type=\"datetime-local\" name=\"from\" value=\"{}\"> to <input type=\"datetime-local\" \
         name=\"to\" value=\"{}\"> UTC <button>Go</button></form><p class=\"presets\">",
        time_input(range.from),
        time_input(range.to)
    );
    for (name, _) in PRESETS {
        let q = p.set("from", None).set("to", None).with("last", Some(name));
        let _ = write!(out, "<a href=\"{path}?{}\">{name}</a>", esc(&q));
    }
    let _ = write!(
        out,
        "<span class=\"note\">{} – {} UTC</span></p>",
        esc(&time_label(range.from)),
        esc(&time_label(range.to))
    );
    out
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format_value(v, true))
}

fn cell(v: Option<f64>, text: String) -> String {
    format!("<td data-v=\"{}\">{}</td>", v.unwrap_or(-1.0), esc(&text))
}

pub async fn level1(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let p = Params(q.clone());
    let v = match load(s, q, views::signatures).await {
        Ok(v) => v,
        Err(e) => return error_page(&e),
    };
    let mut body = range_bar(&p, "/", v.range);
    body.push_str("<p><input id=\"filter\" placeholder=\"filter signatures\" size=\"40\"></p>");
    if v.signatures.is_empty() {
        body.push_str("<p>No transactions in this time frame.</p>");
    }
    let mut plugin = String::new();
    for r in &v.signatures {
        if r.plugin != plugin {
            if !plugin.is_empty() {
                body.push_str("</tbody></table>");
            }
            plugin = r.plugin.clone();
            let _ = write!(
                body,
                "<h2>{}</h2><table class=\"signatures\"><thead><tr><th class=\"l\">signature</th><th>transactions</th>\
                 <th>first response avg</th><th>p95</th><th>last response avg</th><th>p95</th><th>errors</th>\
                 <th class=\"l\">transactions over time</th></tr></thead><tbody>",
                esc(&plugin)
            );
        }
        let q = p.time_frame().set("signature", Some(&r.signature)).set("plugin", Some(&r.plugin));
        let graph = p.time_frame().set("series", Some(&r.signature));
        let _ = write!(
            body,
            "<tr><td class=\"l\"><a href=\"/drill?{}\">{}</a> <a class=\"note\" href=\"/graph?{}\">graph</a></td>\
             <td>{}</td>{}{}{}{}<td data-v=\"{}\" class=\"{}\">{:.1} %</td><td class=\"l\">{}</td></tr>",
            esc(&q.query_string()),
            esc(&r.signature),
            esc(&graph.query_string()),
            r.transactions,
            cell(r.first_response.avg, ms(r.first_response.avg)),
            cell(r.first_response.p95, ms(r.first_response.p95)),
            cell(r.last_response.avg, ms(r.last_response.avg)),
            cell(r.last_response.p95, ms(r.last_response.p95)),
            r.error_share,
            if r.errors > 0 { "err" } else { "" },
            r.error_share * 100.0,
            sparkline(&r.sparkline)
        );
    }
    if !plugin.is_empty() {
        body.push_str("</tbody></table>");
    }
    let _ = write!(
        body,
        "<p class=\"note\">From {} ({} rows). Errors: server errors (HTTP 5xx, DNS SERVFAIL), resets, no response, \
         incomplete responses, refusals. <a href=\"/api/v1/signatures?{}\">JSON</a></p>",
        v.table.name(),
        v.signatures.len(),
        esc(&p.query_string())
    );
    page("Level 1", &body).into_response()
}

fn stats_cells(st: &Stats, duration: bool) -> String {
    let f = |v: Option<f64>| v.map_or_else(|| "–".into(), |v| format_value(v, duration));
    [st.avg, st.p50, st.p95, st.max].iter().map(|v| cell(*v, f(*v))).collect()
}

pub async fn drill(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let p = Params(q.clone());
    let v = match load(s, q, views::drill).await {
        Ok(v) => v,
        Err(e) => return error_page(&e),
    };
    let duration = crate::query::metric_by_name(v.metric).is_some_and(views::is_duration);
    let by = match v.by {
        crate::query::By::Server => "server",
        crate::query::By::Client => "client",
    };
    let title = format!("{} by {by}", v.filter.signature.as_deref().unwrap_or("all signatures"));
    let mut body = range_bar(&p, "/drill", v.range);
    let _ = write!(body, "<p>Rank by <a href=\"/drill?{}\">count</a> | <a href=\"/drill?{}\">slowness</a> of {}; show <a href=\"/drill?{}\">servers</a> | <a href=\"/drill?{}\">clients</a></p>",
        esc(&p.with("order", Some("count"))), esc(&p.with("order", Some("slow"))), esc(v.metric),
        esc(&p.with("by", Some("server"))), esc(&p.with("by", Some("client"))));
    let _ = write!(
        body,
        "<table class=\"drill\"><thead><tr><th class=\"l\">{by}</th><th>transactions</th><th>errors</th><th>avg</th>\
         <th>p50</th><th>p95</th><th>max</th></tr></thead><tbody>"
    );
    for r in &v.rows {
        // A server leads to its clients; a client narrows the view to it.
        let next = if by == "server" {
            format!("/drill?{}", p.set("server", Some(&r.key)).with("by", Some("client")))
        } else {
            format!("/drill?{}", p.with("client", Some(&r.key)))
        };
        let series = match &v.filter.signature {
            Some(sig) if by == "server" => {
                format!("/graph?{}", p.time_frame().with("series", Some(&format!("{sig}@{}", r.key))))
            }
            _ => String::new(),
        };
        let _ = write!(
            body,
            "<tr><td class=\"l\"><a href=\"{}\">{}</a>{}</td><td>{}</td><td>{}</td>{}</tr>",
            esc(&next),
            esc(&r.key),
            if series.is_empty() {
                String::new()
            } else {
                format!(" <a class=\"note\" href=\"{}\">graph</a>", esc(&series))
            },
            r.transactions,
            r.errors,
            stats_cells(&r.stats, duration)
        );
    }
    body.push_str("</tbody></table>");
    let _ = write!(body, "<p class=\"note\"><a href=\"/api/v1/drill?{}\">JSON</a></p>", esc(&p.query_string()));
    page(&title, &body).into_response()
}

fn select(name: &str, options: &[&str], chosen: &str) -> String {
    let mut out = format!("<select name=\"{name}\">");
    for o in options {
        let _ = write!(out, "<option{}>{}</option>", if *o == chosen { " selected" } else { "" }, esc(o));
    }
    out.push_str("</select>");
    out
}

pub async fn graph(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let p = Params(q.clone());
    let v = match load(s, q, views::graph).await {
        Ok(v) => v,
        Err(e) => return error_page(&e),
    };
    let duration = v.unit == "microseconds";
    let metrics: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
    let stats: Vec<&str> = Stat::ALL.iter().map(|s| s.name()).collect();
    let mut body = range_bar(&p, "/graph", v.range);
    let mut form = String::from("<form method=\"get\" action=\"/graph\">");
    let _ =
        write!(form, "metric {} statistic {} ", select("metric", &metrics, v.metric), select("stat", &stats, v.stat));
    let series: Vec<&str> = p.all("series").collect();
    for i in 0..3 {
        let _ = write!(
            form,
            "<input name=\"series\" size=\"28\" placeholder=\"SIGNATURE or SIGNATURE@IP:PORT\" value=\"{}\"> ",
            esc(series.get(i).copied().unwrap_or_default())
        );
    }
    for key in ["last", "from", "to", "plugin", "server", "client", "sensor", "signature"] {
        if let Some(val) = p.get(key) {
            let _ = write!(form, "<input type=\"hidden\" name=\"{key}\" value=\"{}\">", esc(val));
        }
    }
    let _ = write!(
        form,
        "<label><input type=\"checkbox\" name=\"compare\" value=\"1\"{}> previous period</label> <button>Show</button></form>",
        if p.flag("compare") { " checked" } else { "" }
    );
    body.push_str(&form);
    // Zoom: the middle half, or twice the span, around the same centre.
    let (from, to) = (v.range.from, v.range.to);
    let (mid, span) = ((from + to) / 2, to - from);
    let zoom =
        |from: u64, to: u64| p.set("last", None).set("from", Some(&from.to_string())).with("to", Some(&to.to_string()));
    let _ = write!(
        body,
        "<p>Zoom <a href=\"/graph?{}\">in</a> | <a href=\"/graph?{}\">out</a>; earlier <a href=\"/graph?{}\">←</a> \
         <a href=\"/graph?{}\">→</a> later</p>",
        esc(&zoom(mid - span / 4, mid + span / 4)),
        esc(&zoom(mid.saturating_sub(span), mid + span)),
        esc(&zoom(from.saturating_sub(span / 2), to - span / 2)),
        esc(&zoom(from + span / 2, to + span / 2)),
    );
    let mut all = v.series.clone();
    all.extend(v.previous.iter().cloned());
    let lines: Vec<(String, Vec<crate::query::Point>)> = all.into_iter().map(|s| (s.name, s.points)).collect();
    let _ = write!(
        body,
        "<h2>{} of {} per {} s ({})</h2>{}",
        esc(v.stat),
        esc(v.metric),
        v.step,
        esc(v.table.name()),
        line_chart(&lines, duration && v.stat != "count")
    );
    let h = &v.histogram;
    let _ = write!(
        body,
        "<h2>Histogram of {}</h2><p>{} values; avg {}, p50 {}, p95 {}, p99 {}, max {}</p>{}",
        esc(v.metric),
        h.stats.count,
        esc(&fmt(h.stats.avg, duration)),
        esc(&fmt(h.stats.p50, duration)),
        esc(&fmt(h.stats.p95, duration)),
        esc(&fmt(h.stats.p99, duration)),
        esc(&fmt(h.stats.max, duration)),
        histogram_chart(&h.buckets, duration)
    );
    let qs = p.query_string();
    let _ = write!(
        body,
        "<p class=\"note\">Data: <a href=\"/api/v1/graph?{q}\">JSON</a> · <a href=\"/api/v1/graph?{q}&amp;format=csv\">series CSV</a> · \
         <a href=\"/api/v1/graph?{q}&amp;format=csv&amp;part=histogram\">histogram CSV</a></p>",
        q = esc(&qs)
    );
    page("Graph", &body).into_response()
}

fn fmt(v: Option<f64>, duration: bool) -> String {
    v.map_or_else(|| "–".into(), |v| format_value(v, duration))
}

pub async fn sensors(State(s): State<Shared>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let p = Params(q.clone());
    let v = match load(s, q, views::sensors).await {
        Ok(v) => v,
        Err(e) => return error_page(&e),
    };
    let mut body = range_bar(&p, "/sensors", v.range);
    body.push_str(
        "<table class=\"sensors\"><thead><tr><th class=\"l\">sensor</th><th class=\"l\">version</th><th>intervals</th>\
         <th>packets</th><th>bytes</th><th>dropped</th><th>not analysed</th><th>flows</th><th>transactions</th>\
         <th>bytes missing</th>\
         <th>max export lag</th><th class=\"l\">last interval</th></tr></thead><tbody>",
    );
    for r in &v.sensors {
        let _ = write!(
            body,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td>\
             <td class=\"{}\">{}</td>\
             <td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{} s</td><td class=\"l\">{}</td></tr>",
            esc(&r.sensor),
            esc(&r.version),
            r.intervals,
            r.packets,
            r.bytes,
            if r.dropped > 0 { "err" } else { "" },
            r.dropped,
            if r.skipped > 0 { "err" } else { "" },
            r.skipped,
            r.flows,
            r.transactions,
            if r.lost_bytes > 0 { "err" } else { "" },
            r.lost_bytes,
            r.max_export_lag_seconds,
            esc(&time_label(r.last_interval))
        );
    }
    body.push_str(
        "</tbody></table><p class=\"note\">Frames dropped before analysis, frames not analysed and payload \
         missing from the capture mean the numbers of that time may be incomplete.</p>",
    );
    page("Sensors", &body).into_response()
}
