//! Charts drawn on the server as SVG: the same picture in every browser, in
//! a saved page and without script, written with maud (every label
//! escaped). The console's small script adds what needs a pointer: a
//! crosshair with the values under it, and drag to zoom; it reads what it
//! needs from `data-` attributes drawn here.
//!
//! Every chart is a `viewBox` that CSS stretches to the window's width;
//! axes tick at round times and round values with their units, legends sit
//! beside the plot, not on it.

use crate::query::{Bucket, Point, Range};
use maud::{html, Markup};
use std::fmt::Write;

const COLOURS: [&str; 8] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];

/// How a chart's values read: the API's unit of the metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Durations, given in microseconds.
    Micros,
    Bytes,
    Count,
    /// Counts per second.
    PerSecond,
    /// Durations in whole seconds (export lag).
    Seconds,
}

impl Scale {
    /// A value with its unit, to about three significant digits.
    pub fn format(self, v: f64) -> String {
        let short = |x: f64| {
            if x.abs() >= 100.0 || x.fract() == 0.0 {
                format!("{x:.0}")
            } else if x.abs() >= 10.0 {
                format!("{x:.1}")
            } else {
                format!("{x:.2}")
            }
        };
        match self {
            // Zero needs no unit: the axis's other ticks carry it.
            _ if v == 0.0 => "0".to_owned(),
            Scale::Micros if v.abs() >= 1e6 => format!("{} s", short(v / 1e6)),
            Scale::Micros if v.abs() >= 1e3 => format!("{} ms", short(v / 1e3)),
            Scale::Micros => format!("{} µs", short(v)),
            Scale::Bytes if v.abs() >= 1e9 => format!("{} GB", short(v / 1e9)),
            Scale::Bytes if v.abs() >= 1e6 => format!("{} MB", short(v / 1e6)),
            Scale::Bytes if v.abs() >= 1e3 => format!("{} kB", short(v / 1e3)),
            Scale::Bytes => format!("{} B", short(v)),
            Scale::Seconds if v.abs() >= 86_400.0 => format!("{} d", short(v / 86_400.0)),
            Scale::Seconds if v.abs() >= 3_600.0 => format!("{} h", short(v / 3_600.0)),
            Scale::Seconds if v.abs() >= 60.0 => format!("{} min", short(v / 60.0)),
            Scale::Seconds => format!("{} s", short(v)),
            Scale::Count | Scale::PerSecond => {
                let n = if v.abs() >= 1e6 {
                    format!("{}M", short(v / 1e6))
                } else if v.abs() >= 1e4 {
                    format!("{}k", short(v / 1e3))
                } else {
                    short(v)
                };
                if self == Scale::PerSecond {
                    format!("{n}/s")
                } else {
                    n
                }
            }
        }
    }
}

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

/// Unix seconds as `YYYY-MM-DD HH:MM` (UTC).
pub fn time_label(t: u64) -> String {
    let (y, m, d) = pastmon_model::calendar::civil(t);
    let secs = t % 86_400;
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", secs / 3_600, secs % 3_600 / 60)
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

/// Round values from 0 to at least `max`: steps of 1, 2 or 5 × 10^k, about
/// `n` of them.
pub fn value_ticks(max: f64, n: usize) -> Vec<f64> {
    let max = if max > 0.0 && max.is_finite() { max } else { 1.0 };
    let raw = max / n.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let count = |step: f64| (max / step).ceil() as usize;
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|f| f * magnitude)
        .min_by_key(|s| count(*s).abs_diff(n))
        .unwrap_or(magnitude);
    // Rounded to the step's digits: 0.6, not 0.6000000000000001.
    let digits = 10f64.powi((-step.log10().floor() as i32).max(0) + 1);
    (0..=count(step)).map(|i| (i as f64 * step * digits).round() / digits).collect()
}

/// Ticks at round UTC times over `[t0, t1]`, at most about eight, each with
/// its label: hours and minutes, with the date where the day changes (and
/// on the first tick), dates alone from daily ticks up.
pub fn time_ticks(t0: u64, t1: u64) -> Vec<(u64, String)> {
    const STEPS: [u64; 15] =
        [60, 120, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200, 86_400, 172_800, 604_800, 2_592_000];
    let span = t1.saturating_sub(t0).max(1);
    let step = STEPS.into_iter().find(|s| span / s <= 8).unwrap_or(span.div_ceil(8));
    let mut ticks = Vec::new();
    let mut t = t0.div_ceil(step) * step;
    while t <= t1 {
        let label = time_label(t);
        let label = if step >= 86_400 {
            label[5..10].to_owned()
        } else if ticks.is_empty() || t % 86_400 == 0 {
            label[5..].to_owned()
        } else {
            label[11..].to_owned()
        };
        ticks.push((t, label));
        t += step;
    }
    ticks
}

/// The plot area of a chart, in viewBox units, and its mappings.
struct Frame {
    width: f64,
    height: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

impl Frame {
    fn new(height: f64) -> Frame {
        Frame { width: 1000.0, height, left: 72.0, right: 780.0, top: 10.0, bottom: height - 34.0 }
    }
}

/// What a line chart draws besides its series.
#[derive(Clone, Copy)]
pub struct ChartSpec<'a> {
    pub scale: Scale,
    /// Series stacked on one another (parts of one time), areas filled.
    pub stacked: bool,
    /// The view's URL without its time frame: dragging across the plot goes
    /// there with `from` and `to` of the dragged span.
    pub zoom: Option<&'a str>,
    /// Times the capture lost frames: shaded, the numbers there may be low.
    pub losses: &'a [Range],
}

fn f1(v: f64) -> String {
    format!("{v:.1}")
}

/// The time axis, the value axis, the loss bands and the drag layer,
/// shared by line charts and heatmaps.
fn time_axis(fr: &Frame, t0: u64, t1: u64, x: &dyn Fn(u64) -> f64, losses: &[Range]) -> Markup {
    html! {
        @for l in losses {
            @if l.to > t0 && l.from <= t1 {
                rect.loss x=(f1(x(l.from.max(t0)))) y=(fr.top) width=(f1((x(l.to.min(t1)) - x(l.from.max(t0))).max(1.0)))
                    height=(fr.bottom - fr.top) fill="#fdd" {
                    title { "frames lost " (time_label(l.from)) " – " (time_label(l.to)) " UTC: values may be low" }
                }
            }
        }
        line x1=(fr.left) x2=(fr.right) y1=(fr.bottom) y2=(fr.bottom) stroke="#888" {}
        @for (t, label) in time_ticks(t0, t1) {
            line x1=(f1(x(t))) x2=(f1(x(t))) y1=(fr.bottom) y2=(fr.bottom + 4.0) stroke="#888" {}
            text.tick x=(f1(x(t))) y=(fr.bottom + 16.0) font-size="11" text-anchor="middle" { (label) }
        }
        text x=(fr.right) y=(fr.height - 2.0) font-size="10" text-anchor="end" fill="#666" { "UTC" }
    }
}

fn value_axis(fr: &Frame, ticks: &[f64], y: &dyn Fn(f64) -> f64, scale: Scale) -> Markup {
    html! {
        @for v in ticks {
            line x1=(fr.left) x2=(fr.right) y1=(f1(y(*v))) y2=(f1(y(*v))) stroke="#e4e4e4" {}
            text.tick x=(fr.left - 5.0) y=(f1(y(*v) + 4.0)) font-size="11" text-anchor="end" { (scale.format(*v)) }
        }
    }
}

/// The legend beside the plot: a swatch and the name of each series.
fn legend(fr: &Frame, names: &[&str]) -> Markup {
    html! {
        g.legend {
            @for (i, name) in names.iter().enumerate() {
                @let y = fr.top + 6.0 + 16.0 * i as f64;
                rect x=(fr.right + 12.0) y=(y) width="12" height="10" fill=(COLOURS[i % COLOURS.len()]) {}
                text x=(fr.right + 30.0) y=(y + 9.0) font-size="12" {
                    @if name.chars().count() > 30 { (name.chars().take(29).collect::<String>()) "…" title { (name) } }
                    @else { (name) }
                }
            }
        }
    }
}

/// A point as drawn: its time and, with a value, the band it spans (from
/// the series below when stacked, else from 0).
type Drawn = (u64, Option<(f64, f64)>);

/// A chart of one or more series sharing the time axis, as lines or
/// stacked areas. Each point with a value is a `circle.pt` (its value in a
/// tooltip and in `data-v` for the crosshair), so a chart with N values
/// per series has N circles per series — what the tests count.
pub fn line_chart(series: &[(String, Vec<Point>)], spec: ChartSpec) -> Markup {
    let fr = Frame::new(320.0);
    let all = series.iter().flat_map(|(_, p)| p.iter());
    let (t0, t1) = all.clone().fold((u64::MAX, 0), |(a, b), p| (a.min(p.t), b.max(p.t)));
    if t0 > t1 {
        return html! { p.note { "nothing to draw" } };
    }
    // Stacked: each series drawn at the running total below it.
    let drawn: Vec<Vec<Drawn>> = if spec.stacked {
        let mut base: Vec<f64> = vec![0.0; series.first().map_or(0, |(_, p)| p.len())];
        series
            .iter()
            .map(|(_, points)| {
                points
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let below = base.get(i).copied().unwrap_or(0.0);
                        let top = below + p.v.unwrap_or(0.0);
                        if let Some(b) = base.get_mut(i) {
                            *b = top;
                        }
                        (p.t, p.v.map(|_| (below, top)))
                    })
                    .collect()
            })
            .collect()
    } else {
        series.iter().map(|(_, points)| points.iter().map(|p| (p.t, p.v.map(|v| (0.0, v)))).collect()).collect()
    };
    let vmax = drawn.iter().flatten().filter_map(|(_, v)| v.map(|(_, top)| top)).fold(0.0f64, f64::max);
    let ticks = value_ticks(vmax, 5);
    let ymax = ticks.last().copied().unwrap_or(1.0).max(1e-9);
    let x = |t: u64| fr.left + t.saturating_sub(t0) as f64 * (fr.right - fr.left) / t1.saturating_sub(t0).max(1) as f64;
    let y = |v: f64| fr.bottom - v * (fr.bottom - fr.top) / ymax;
    // Gaps (steps without values) break the line.
    let path = |points: &[Drawn]| {
        let mut d = String::new();
        let mut pen_down = false;
        for (t, v) in points {
            match v {
                Some((_, top)) => {
                    let _ = write!(d, "{}{:.1},{:.1} ", if pen_down { "L" } else { "M" }, x(*t), y(*top));
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        d
    };
    // A stacked band: along its tops, back along its bottoms.
    let area = |points: &[Drawn]| {
        let mut d = String::new();
        for (i, (t, v)) in points.iter().enumerate() {
            let (_, top) = v.unwrap_or((0.0, 0.0));
            let _ = write!(d, "{}{:.1},{:.1} ", if i == 0 { "M" } else { "L" }, x(*t), y(top));
        }
        for (t, v) in points.iter().rev() {
            let (below, _) = v.unwrap_or((0.0, 0.0));
            let _ = write!(d, "L{:.1},{:.1} ", x(*t), y(below));
        }
        d.push('Z');
        d
    };
    let names: Vec<&str> = series.iter().map(|(n, _)| n.as_str()).collect();
    html! {
        svg.chart viewBox={ "0 0 " (fr.width) " " (fr.height) } data-t0=(t0) data-t1=(t1)
            data-x0=(fr.left) data-x1=(fr.right) data-top=(fr.top) data-bottom=(fr.bottom) data-zoom=[spec.zoom] {
            (value_axis(&fr, &ticks, &y, spec.scale))
            (time_axis(&fr, t0, t1, &x, spec.losses))
            @for (i, ((name, _), points)) in series.iter().zip(&drawn).enumerate() {
                @let colour = COLOURS[i % COLOURS.len()];
                g.series data-name=(name) {
                    @if spec.stacked {
                        path d=(area(points)) fill=(colour) fill-opacity="0.55" stroke="none" {}
                    }
                    path d=(path(points)) fill="none" stroke=(colour) stroke-width="1.5" {}
                    @for ((t, v), p) in points.iter().zip(&series[i].1) {
                        @if let (Some((_, top)), Some(value)) = (v, p.v) {
                            circle.pt cx=(f1(x(*t))) cy=(f1(y(*top))) r="2.2" fill=(colour) data-t=(t)
                                data-v=(spec.scale.format(value)) {
                                title { (name) " " (time_label(*t)) ": " (spec.scale.format(value)) }
                            }
                        }
                    }
                }
            }
            (legend(&fr, &names))
        }
    }
}

/// `log10(v + 1)`: a log scale that also places zero.
fn log1(v: f64) -> f64 {
    (v + 1.0).log10()
}

/// Decades within `[lo, hi]` (1, 10, 100 … of the unit), for log axes.
fn decades(lo: u64, hi: u64) -> Vec<u64> {
    let mut out = vec![];
    let mut d = 1u64;
    while d <= hi {
        if d >= lo {
            out.push(d);
        }
        match d.checked_mul(10) {
            Some(n) => d = n,
            None => break,
        }
    }
    out
}

/// Histograms on a log value axis, each bar as wide as its bucket's bounds,
/// with a count axis (or a share of each histogram's values when
/// `shares`, to overlay histograms of different sizes). Bars are
/// `rect.bar`, translucent when several overlap.
pub fn histogram_chart(sets: &[(String, Vec<Bucket>)], scale: Scale, shares: bool) -> Markup {
    let fr = Frame::new(260.0);
    let lo = sets.iter().flat_map(|(_, b)| b.first()).map(|b| b.lo).min().unwrap_or(0);
    let hi = sets.iter().flat_map(|(_, b)| b.last()).map(|b| b.hi).max().unwrap_or(1).max(lo + 1);
    let totals: Vec<f64> = sets.iter().map(|(_, b)| b.iter().map(|x| x.count).sum::<u64>().max(1) as f64).collect();
    let height_of = |set: usize, b: &Bucket| if shares { b.count as f64 / totals[set] * 100.0 } else { b.count as f64 };
    let vmax = sets
        .iter()
        .enumerate()
        .flat_map(|(i, (_, bs))| bs.iter().map(move |b| (i, b)))
        .map(|(i, b)| height_of(i, b))
        .fold(0.0, f64::max);
    let ticks = value_ticks(vmax, 4);
    let ymax = ticks.last().copied().unwrap_or(1.0).max(1e-9);
    let (l0, l1) = (log1(lo as f64), log1(hi as f64));
    let x = |v: u64| fr.left + (log1(v as f64) - l0) * (fr.right - fr.left) / (l1 - l0).max(1e-9);
    let y = |v: f64| fr.bottom - v * (fr.bottom - fr.top) / ymax;
    let names: Vec<&str> = sets.iter().map(|(n, _)| n.as_str()).collect();
    let opacity = if sets.len() > 1 { "0.5" } else { "0.9" };
    html! {
        svg.histogram viewBox={ "0 0 " (fr.width) " " (fr.height) } {
            @for v in &ticks {
                line x1=(fr.left) x2=(fr.right) y1=(f1(y(*v))) y2=(f1(y(*v))) stroke="#e4e4e4" {}
                text.tick x=(fr.left - 5.0) y=(f1(y(*v) + 4.0)) font-size="11" text-anchor="end" {
                    (Scale::Count.format(*v)) @if shares { " %" }
                }
            }
            text x="12" y=(fr.top + 10.0) font-size="10" fill="#666" { @if shares { "share" } @else { "count" } }
            line x1=(fr.left) x2=(fr.right) y1=(fr.bottom) y2=(fr.bottom) stroke="#888" {}
            @for d in decades(lo.max(1), hi) {
                line x1=(f1(x(d))) x2=(f1(x(d))) y1=(fr.bottom) y2=(fr.bottom + 4.0) stroke="#888" {}
                text.tick x=(f1(x(d))) y=(fr.bottom + 16.0) font-size="11" text-anchor="middle" { (scale.format(d as f64)) }
            }
            @for (i, (name, buckets)) in sets.iter().enumerate() {
                @let colour = COLOURS[i % COLOURS.len()];
                @for b in buckets {
                    @let h = height_of(i, b);
                    rect.bar x=(f1(x(b.lo))) y=(f1(y(h))) width=(f1((x(b.hi) - x(b.lo)).max(0.8)))
                        height=(f1(fr.bottom - y(h))) fill=(colour) fill-opacity=(opacity) {
                        title {
                            (name) ": " (scale.format(b.lo as f64)) " – " (scale.format(b.hi as f64)) ": " (b.count)
                            @if shares { " (" (format!("{h:.1}")) " %)" }
                        }
                    }
                }
            }
            (legend(&fr, &names))
        }
    }
}

/// One column of a heatmap: a step's start and its merged buckets.
pub type Column = (u64, Vec<Bucket>);

/// Rows of a heatmap: the histogram's fine buckets merged into this many
/// bands of equal height on the log axis, so a cell is big enough to see.
const HEATMAP_ROWS: usize = 40;

/// The latency distribution over time: a column per step, a row per band
/// of values on a log axis, darker for more values (log of the count).
/// Cells are `rect.cell`, their count in `data-n`.
pub fn heatmap(columns: &[Column], step: u64, scale: Scale, zoom: Option<&str>, losses: &[Range]) -> Markup {
    let fr = Frame::new(340.0);
    let (Some(first), Some(last)) = (columns.first(), columns.last()) else {
        return html! { p.note { "nothing to draw" } };
    };
    let (t0, t1) = (first.0, last.0 + step);
    let lo = columns.iter().flat_map(|(_, b)| b.first()).map(|b| b.lo).min().unwrap_or(0);
    let hi = columns.iter().flat_map(|(_, b)| b.last()).map(|b| b.hi).max().unwrap_or(1).max(lo + 1);
    let (l0, l1) = (log1(lo as f64), log1(hi as f64));
    let band_of = |b: &Bucket| {
        let mid = (log1(b.lo as f64) + log1(b.hi as f64)) / 2.0;
        (((mid - l0) / (l1 - l0).max(1e-9) * HEATMAP_ROWS as f64) as usize).min(HEATMAP_ROWS - 1)
    };
    let cells: Vec<(u64, Vec<u64>)> = columns
        .iter()
        .map(|(t, buckets)| {
            let mut rows = vec![0u64; HEATMAP_ROWS];
            for b in buckets {
                rows[band_of(b)] += b.count;
            }
            (*t, rows)
        })
        .collect();
    let max = cells.iter().flat_map(|(_, r)| r.iter().copied()).max().unwrap_or(1).max(1);
    let x = |t: u64| fr.left + t.saturating_sub(t0) as f64 * (fr.right - fr.left) / (t1 - t0).max(1) as f64;
    let y_log = |l: f64| fr.bottom - (l - l0) * (fr.bottom - fr.top) / (l1 - l0).max(1e-9);
    let y = |v: u64| y_log(log1(v as f64));
    let band = |i: usize| {
        let edge = |k: usize| l0 + (l1 - l0) * k as f64 / HEATMAP_ROWS as f64;
        let value = |l: f64| (10f64.powf(l) - 1.0).max(0.0);
        (y_log(edge(i + 1)), y_log(edge(i)), value(edge(i)), value(edge(i + 1)))
    };
    // White to dark blue by the log of the count.
    let colour = |n: u64| {
        let k = ((n as f64).ln_1p() / (max as f64).ln_1p()).clamp(0.0, 1.0);
        let c = |from: f64, to: f64| (from + (to - from) * k).round() as u8;
        format!("#{:02x}{:02x}{:02x}", c(235.0, 8.0), c(242.0, 48.0), c(250.0, 107.0))
    };
    let mut keys = vec![1, max.div_ceil(100), max.div_ceil(10), max];
    keys.dedup();
    html! {
        svg.heatmap viewBox={ "0 0 " (fr.width) " " (fr.height) } data-t0=(t0) data-t1=(t1)
            data-x0=(fr.left) data-x1=(fr.right) data-top=(fr.top) data-bottom=(fr.bottom) data-zoom=[zoom] {
            (time_axis(&fr, t0, t1, &x, losses))
            @for d in decades(lo.max(1), hi) {
                line x1=(fr.left) x2=(fr.right) y1=(f1(y(d))) y2=(f1(y(d))) stroke="#eee" {}
                text.tick x=(fr.left - 5.0) y=(f1(y(d) + 4.0)) font-size="11" text-anchor="end" { (scale.format(d as f64)) }
            }
            @for (t, rows) in &cells {
                @for (i, n) in rows.iter().enumerate() {
                    @if *n > 0 {
                        @let (top, bottom, from, to) = band(i);
                        rect.cell x=(f1(x(*t))) y=(f1(top)) width=(f1((x(t + step) - x(*t)).max(0.8)))
                            height=(f1((bottom - top).max(0.8))) fill=(colour(*n)) data-n=(n) {
                            title { (time_label(*t)) ": " (scale.format(from)) " – " (scale.format(to)) ": " (n) }
                        }
                    }
                }
            }
            g.legend {
                text x=(fr.right + 12.0) y=(fr.top + 10.0) font-size="12" { "values per cell" }
                @for (i, n) in keys.iter().enumerate() {
                    rect x=(fr.right + 12.0) y=(fr.top + 20.0 + 16.0 * i as f64) width="12" height="10" fill=(colour(*n)) stroke="#ccc" {}
                    text x=(fr.right + 30.0) y=(fr.top + 29.0 + 16.0 * i as f64) font-size="12" { (n) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ChartSpec<'static> {
        ChartSpec { scale: Scale::Count, stacked: false, zoom: None, losses: &[] }
    }

    #[test]
    fn labels_are_escaped() {
        let pts = vec![Point { t: 0, v: Some(1.0) }];
        let svg = line_chart(&[("<GET \"x\">".into(), pts)], spec()).into_string();
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
        let svg = line_chart(&[("a".into(), pts)], spec()).into_string();
        assert_eq!(svg.matches("class=\"pt\"").count(), 2);
    }

    #[test]
    fn value_ticks_are_round() {
        assert_eq!(value_ticks(81.1, 4), [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(value_ticks(0.9, 5), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(value_ticks(0.0, 5), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(value_ticks(27_050.0, 5), [0.0, 5_000.0, 10_000.0, 15_000.0, 20_000.0, 25_000.0, 30_000.0]);
    }

    #[test]
    fn time_ticks_fall_on_round_times() {
        // Six hours from 10:07: hourly ticks at whole hours.
        let t0 = 1_795_688_400 + 420;
        let ticks = time_ticks(t0, t0 + 6 * 3_600);
        assert_eq!(ticks.len(), 6);
        assert!(ticks.iter().all(|(t, _)| t % 3_600 == 0));
        assert_eq!(ticks[0].1, "11-26 11:00");
        assert_eq!(ticks[1].1, "12:00");
        // A week: daily ticks, dates only.
        let week = time_ticks(t0, t0 + 7 * 86_400);
        assert!(week.iter().all(|(t, l)| t % 86_400 == 0 && l.len() == 5), "{week:?}");
    }

    #[test]
    fn units_everywhere() {
        assert_eq!(Scale::Micros.format(250.0), "250 µs");
        assert_eq!(Scale::Micros.format(27_050.0), "27.1 ms");
        assert_eq!(Scale::Micros.format(2_000_000.0), "2 s");
        assert_eq!(Scale::Bytes.format(1_500.0), "1.50 kB");
        assert_eq!(Scale::PerSecond.format(0.5), "0.50/s");
        assert_eq!(Scale::Count.format(12_500.0), "12.5k");
        assert_eq!(Scale::Seconds.format(562_909.0), "6.52 d");
        assert_eq!(Scale::Seconds.format(90.0), "1.50 min");
    }

    #[test]
    fn histogram_bars_are_as_wide_as_their_bounds() {
        let b = |lo, hi| Bucket { lo, hi, count: 1 };
        let svg = histogram_chart(&[("a".into(), vec![b(10, 11), b(1_000, 1_100)])], Scale::Count, false).into_string();
        let widths: Vec<f64> = svg
            .split("class=\"bar\"")
            .skip(1)
            .map(|s| s.split("width=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap())
            .collect();
        // log10(1101/1001) vs log10(12/11): about the same width on a log axis.
        assert!((widths[0] - widths[1]).abs() < 2.0, "{widths:?}");
    }
}
