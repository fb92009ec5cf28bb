//! Charts drawn on the server as SVG: no script, nothing fetched, the same
//! picture in every browser and in the saved page. Written with maud, so
//! every label is escaped.

use crate::query::{Bucket, Point};
use maud::{html, Markup};
use std::fmt::Write;

const COLOURS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"];

/// A 100×20 sparkline of counts.
pub fn sparkline(values: &[u64]) -> Markup {
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let n = values.len().max(2) - 1;
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{:.1}", i as f64 * 100.0 / n as f64, 19.0 - *v as f64 * 18.0 / max))
        .collect();
    html! {
        svg.spark width="100" height="20" viewBox="0 0 100 20" {
            polyline fill="none" stroke="#1f77b4" stroke-width="1" points=(points.join(" ")) {}
        }
    }
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

/// A step as people say it: "5 min", "1 h", "4 d".
pub fn format_step(seconds: u64) -> String {
    match seconds {
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3_600 == 0 => format!("{} h", s / 3_600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// A line chart of one or more series sharing the time axis. Each point is
/// a circle too (with its value as a tooltip), so a chart with N points has
/// N `circle.pt` elements per series — what the browser tests count.
pub fn line_chart(series: &[(String, Vec<Point>)], micros: bool) -> Markup {
    let (w, h, left, bottom) = (900.0, 300.0, 80.0, 30.0);
    let all = series.iter().flat_map(|(_, p)| p.iter());
    let (t0, t1) = all.clone().fold((u64::MAX, 0), |(a, b), p| (a.min(p.t), b.max(p.t)));
    let vmax = all.filter_map(|p| p.v).fold(0.0f64, f64::max).max(1e-9);
    let x = |t: u64| left + (t.saturating_sub(t0)) as f64 * (w - left - 10.0) / (t1.saturating_sub(t0)).max(1) as f64;
    let y = |v: f64| (h - bottom) - v * (h - bottom - 10.0) / vmax;
    let ticks: Vec<f64> = (0..=4).map(|i| vmax * f64::from(i) / 4.0).collect();
    let ends: Vec<(u64, &str)> = if t1 >= t0 && t0 != u64::MAX { vec![(t0, "start"), (t1, "end")] } else { vec![] };
    // Gaps (steps without values) break the line.
    let path = |points: &[Point]| {
        let mut d = String::new();
        let mut pen_down = false;
        for p in points {
            match p.v {
                Some(v) => {
                    let _ = write!(d, "{}{:.1},{:.1} ", if pen_down { "L" } else { "M" }, x(p.t), y(v));
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        d
    };
    html! {
        svg.chart width=(w) height=(h) viewBox={ "0 0 " (w) " " (h) } {
            @for v in &ticks {
                line x1=(left) x2=(w - 10.0) y1=(format!("{:.1}", y(*v))) y2=(format!("{:.1}", y(*v))) stroke="#ddd" {}
                text x=(left - 4.0) y=(format!("{:.1}", y(*v) + 4.0)) font-size="11" text-anchor="end" {
                    (format_value(*v, micros))
                }
            }
            @for (t, anchor) in &ends {
                text x=(format!("{:.1}", x(*t))) y=(h - 8.0) font-size="11" text-anchor=(anchor) { (time_label(*t)) }
            }
            @for (i, (name, points)) in series.iter().enumerate() {
                @let colour = COLOURS[i % COLOURS.len()];
                path d=(path(points)) fill="none" stroke=(colour) stroke-width="1.5" {}
                @for p in points {
                    @if let Some(v) = p.v {
                        circle.pt cx=(format!("{:.1}", x(p.t))) cy=(format!("{:.1}", y(v))) r="2" fill=(colour) {
                            title { (name) " " (time_label(p.t)) ": " (format_value(v, micros)) }
                        }
                    }
                }
                text x=(left + 10.0) y=(18.0 + 14.0 * i as f64) font-size="12" fill=(colour) { (name) }
            }
        }
    }
}

/// A histogram: one bar per bucket (`rect.bar`), labelled with its bounds.
pub fn histogram_chart(buckets: &[Bucket], micros: bool) -> Markup {
    let (w, h, bottom) = (900.0, 220.0, 30.0);
    let n = buckets.len().max(1) as f64;
    let max = buckets.iter().map(|b| b.count).max().unwrap_or(0).max(1) as f64;
    let bar = (w - 20.0) / n;
    let height = |b: &Bucket| b.count as f64 * (h - bottom - 10.0) / max;
    html! {
        svg.histogram width=(w) height=(h) viewBox={ "0 0 " (w) " " (h) } {
            @for (i, b) in buckets.iter().enumerate() {
                rect.bar x=(format!("{:.1}", 10.0 + i as f64 * bar)) y=(format!("{:.1}", h - bottom - height(b)))
                    width=(format!("{:.1}", (bar - 1.0).max(1.0))) height=(format!("{:.1}", height(b))) fill="#1f77b4" {
                    title { (format_value(b.lo as f64, micros)) " – " (format_value(b.hi as f64, micros)) ": " (b.count) }
                }
            }
            @if let (Some(first), Some(last)) = (buckets.first(), buckets.last()) {
                text x="10" y=(h - 8.0) font-size="11" { (format_value(first.lo as f64, micros)) }
                text x=(w - 10.0) y=(h - 8.0) font-size="11" text-anchor="end" { (format_value(last.hi as f64, micros)) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        let pts = vec![Point { t: 0, v: Some(1.0) }];
        let svg = line_chart(&[("<GET \"x\">".into(), pts)], false).into_string();
        assert!(svg.contains("&lt;GET &quot;x&quot;&gt;"), "{svg}");
        assert!(!svg.contains("<GET"));
    }

    #[test]
    fn utc_labels() {
        assert_eq!(time_label(0), "1970-01-01 00:00");
        assert_eq!(time_label(1_795_688_454), "2026-11-26 10:20");
    }

    #[test]
    fn steps_in_words() {
        assert_eq!([60, 300, 3_600, 345_600, 90].map(format_step), ["1 min", "5 min", "1 h", "4 d", "90 s"]);
    }

    #[test]
    fn one_circle_per_point_with_a_value() {
        let pts = vec![Point { t: 0, v: Some(1.0) }, Point { t: 60, v: None }, Point { t: 120, v: Some(3.0) }];
        let svg = line_chart(&[("a".into(), pts)], false).into_string();
        assert_eq!(svg.matches("class=\"pt\"").count(), 2);
    }
}
