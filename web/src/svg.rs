//! Charts drawn on the server as SVG: no script, nothing fetched, the same
//! picture in every browser and in the saved page.

use crate::query::{Bucket, Point};
use std::fmt::Write;

/// Escapes text for HTML and SVG.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const COLOURS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"];

/// A 100×20 sparkline of counts.
pub fn sparkline(values: &[u64]) -> String {
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let n = values.len().max(2) - 1;
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{:.1}", i as f64 * 100.0 / n as f64, 19.0 - *v as f64 * 18.0 / max))
        .collect();
    format!(
        "<svg class=\"spark\" width=\"100\" height=\"20\" viewBox=\"0 0 100 20\"><polyline fill=\"none\" \
         stroke=\"#1f77b4\" stroke-width=\"1\" points=\"{}\"/></svg>",
        points.join(" ")
    )
}

/// Formats a value of a metric for axes and tables: durations (given in
/// microseconds, as the API gives them) in ms, the rest as is.
pub fn format_value(v: f64, micros: bool) -> String {
    if micros {
        let ms = v / 1e3;
        if ms >= 100.0 {
            format!("{ms:.0} ms")
        } else if ms >= 1.0 {
            format!("{ms:.1} ms")
        } else {
            format!("{ms:.3} ms")
        }
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn utc(t: u64) -> String {
    let (y, m, d) = pastmon_model::calendar::civil(t);
    let secs = t % 86_400;
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", secs / 3_600, secs % 3_600 / 60)
}

/// Unix seconds as `YYYY-MM-DD HH:MM` (UTC).
pub fn time_label(t: u64) -> String {
    utc(t)
}

/// Unix seconds as the value of a `datetime-local` input (UTC).
pub fn time_input(t: u64) -> String {
    utc(t).replace(' ', "T")
}

/// A line chart of one or more series sharing the time axis. Each point is
/// a circle too (with its value as a tooltip), so a chart with N points has
/// N `circle.pt` elements per series — what the browser tests count.
pub fn line_chart(series: &[(String, Vec<Point>)], micros: bool) -> String {
    let (w, h, left, bottom) = (900.0, 300.0, 80.0, 30.0);
    let all = series.iter().flat_map(|(_, p)| p.iter());
    let (t0, t1) = all.clone().fold((u64::MAX, 0), |(a, b), p| (a.min(p.t), b.max(p.t)));
    let vmax = all.filter_map(|p| p.v).fold(0.0f64, f64::max).max(1e-9);
    let x = |t: u64| left + (t.saturating_sub(t0)) as f64 * (w - left - 10.0) / (t1.saturating_sub(t0)).max(1) as f64;
    let y = |v: f64| (h - bottom) - v * (h - bottom - 10.0) / vmax;
    let mut out = format!("<svg class=\"chart\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">");
    for i in 0..=4 {
        let v = vmax * f64::from(i) / 4.0;
        let _ = write!(
            out,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            w - 10.0,
            left - 4.0,
            y(v) + 4.0,
            esc(&format_value(v, micros)),
            y = y(v)
        );
    }
    if t1 >= t0 && t0 != u64::MAX {
        for (t, anchor) in [(t0, "start"), (t1, "end")] {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"{anchor}\">{}</text>",
                x(t),
                h - 8.0,
                esc(&time_label(t))
            );
        }
    }
    for (i, (name, points)) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        // Gaps (steps without values) break the line.
        let mut path = String::new();
        let mut pen_down = false;
        for p in points {
            match p.v {
                Some(v) => {
                    let _ = write!(path, "{}{:.1},{:.1} ", if pen_down { "L" } else { "M" }, x(p.t), y(v));
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let _ = write!(out, "<path d=\"{path}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\"/>");
        for p in points {
            if let Some(v) = p.v {
                let _ = write!(
                    out,
                    "<circle class=\"pt\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"2\" fill=\"{colour}\"><title>{} {}: {}</title></circle>",
                    x(p.t),
                    y(v),
                    esc(name),
                    esc(&time_label(p.t)),
                    esc(&format_value(v, micros))
                );
            }
        }
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"{colour}\">{}</text>",
            left + 10.0,
            18.0 + 14.0 * i as f64,
            esc(name)
        );
    }
    out.push_str("</svg>");
    out
}

/// A histogram: one bar per bucket (`rect.bar`), labelled with its bounds.
pub fn histogram_chart(buckets: &[Bucket], micros: bool) -> String {
    let (w, h, bottom) = (900.0, 220.0, 30.0);
    let n = buckets.len().max(1) as f64;
    let max = buckets.iter().map(|b| b.count).max().unwrap_or(0).max(1) as f64;
    let bar = (w - 20.0) / n;
    let mut out = format!("<svg class=\"histogram\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">");
    for (i, b) in buckets.iter().enumerate() {
        let bh = b.count as f64 * (h - bottom - 10.0) / max;
        let _ = write!(
            out,
            "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#1f77b4\">\
             <title>{} – {}: {}</title></rect>",
            10.0 + i as f64 * bar,
            h - bottom - bh,
            (bar - 1.0).max(1.0),
            esc(&format_value(b.lo as f64, micros)),
            esc(&format_value(b.hi as f64, micros)),
            b.count
        );
    }
    if let (Some(first), Some(last)) = (buckets.first(), buckets.last()) {
        let _ = write!(
            out,
            "<text x=\"10\" y=\"{}\" font-size=\"11\">{}</text><text x=\"{}\" y=\"{}\" font-size=\"11\" \
             text-anchor=\"end\">{}</text>",
            h - 8.0,
            esc(&format_value(first.lo as f64, micros)),
            w - 10.0,
            h - 8.0,
            esc(&format_value(last.hi as f64, micros))
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }

    #[test]
    fn utc_labels() {
        assert_eq!(time_label(0), "1970-01-01 00:00");
        assert_eq!(time_label(1_795_688_454), "2026-11-26 10:20");
    }

    #[test]
    fn one_circle_per_point_with_a_value() {
        let pts = vec![Point { t: 0, v: Some(1.0) }, Point { t: 60, v: None }, Point { t: 120, v: Some(3.0) }];
        let svg = line_chart(&[("a".into(), pts)], false);
        assert_eq!(svg.matches("class=\"pt\"").count(), 2);
    }
}
