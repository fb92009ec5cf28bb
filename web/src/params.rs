//! Query-string parameters of pages and API, validated into typed values.
//! The same parameters drive a page and its API call, so every view is a
//! shareable URL and its data downloads with the same query string.

use crate::query::{By, Filter, Order, Range, Stat};
use pastmon_model::Metric;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::net::IpAddr;

/// The raw pairs, repeated keys kept (`series` may come several times).
pub struct Params(pub Vec<(String, String)>);

/// The last second ClickHouse's `DateTime` holds (2106-02-07 06:28:15 UTC):
/// later times would wrap around in SQL.
pub const MAX_TIME: u64 = u32::MAX as u64;

/// Named time frames (`last=`).
pub const PRESETS: [(&str, u64); 7] = [
    ("1h", 3_600),
    ("6h", 21_600),
    ("24h", 86_400),
    ("7d", 604_800),
    ("30d", 2_592_000),
    ("90d", 7_776_000),
    ("365d", 31_536_000),
];

/// A chart's series: a signature, optionally on one server.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SeriesSpec {
    pub signature: String,
    pub server_ip: Option<String>,
    pub server_port: Option<u16>,
}

impl SeriesSpec {
    pub fn label(&self) -> String {
        match (&self.server_ip, self.server_port) {
            (Some(ip), Some(port)) => format!("{}@{}", self.signature, server_text(ip, port)),
            (Some(ip), None) => format!("{}@{ip}", self.signature),
            _ => self.signature.clone(),
        }
    }
}

fn server_text(ip: &str, port: u16) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// `IP`, `IP:PORT`, `[IPv6]:PORT` or a bare IPv6 address.
pub fn parse_server(s: &str) -> Result<(String, Option<u16>), String> {
    let bad = || format!("server {s:?}: expected IP, IP:PORT or [IPv6]:PORT");
    let (ip, port) = if let Some(rest) = s.strip_prefix('[') {
        let (ip, after) = rest.split_once(']').ok_or_else(bad)?;
        (ip, after.strip_prefix(':'))
    } else if s.matches(':').count() == 1 {
        let (ip, port) = s.split_once(':').ok_or_else(bad)?;
        (ip, Some(port))
    } else {
        (s, None)
    };
    let ip: IpAddr = ip.parse().map_err(|_| bad())?;
    let port = port.map(|p| p.parse::<u16>().map_err(|_| bad())).transpose()?;
    Ok((ip.to_string(), port))
}

impl Params {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// `from` and `to` (Unix seconds or `YYYY-MM-DDTHH:MM` UTC), else
    /// `last` (default 24h) up to now.
    pub fn range(&self, now: u64) -> Result<Range, String> {
        let int = |key: &str| -> Result<Option<u64>, String> {
            self.get(key)
                .map(|v| parse_time(v).ok_or_else(|| format!("{key}: not a Unix time nor YYYY-MM-DDTHH:MM: {v:?}")))
                .transpose()
        };
        for (key, last) in [("from", MAX_TIME - 1), ("to", MAX_TIME)] {
            if int(key)?.is_some_and(|t| t > last) {
                return Err(format!("{key}: after {last} (2106-02-07), where the database's times end"));
            }
        }
        match (int("from")?, int("to")?) {
            (Some(from), Some(to)) if from < to => Ok(Range { from, to }),
            (Some(_), Some(_)) => Err("from must be before to".into()),
            (Some(from), None) => Ok(Range { from, to: now.max(from + 1).min(MAX_TIME) }),
            (None, _) => {
                let last = self.get("last").unwrap_or("24h");
                let (_, seconds) = PRESETS
                    .iter()
                    .find(|(name, _)| *name == last)
                    .ok_or_else(|| format!("last: one of {}", PRESETS.map(|p| p.0).join(", ")))?;
                // Whole minutes, so repeated loads hit the same rows.
                let to = now.div_ceil(60) * 60;
                Ok(Range { from: to - seconds, to })
            }
        }
    }

    pub fn filter(&self) -> Result<Filter, String> {
        let (server_ip, server_port) = match self.get("server") {
            Some(s) => {
                let (ip, port) = parse_server(s)?;
                (Some(ip), port)
            }
            None => (None, None),
        };
        Ok(Filter {
            plugin: self.text("plugin")?,
            signature: self.text("signature")?,
            server_ip,
            server_port,
            client: self.text("client")?,
            sensor: self.text("sensor")?,
        })
    }

    /// A free-text value (quoted before it reaches SQL), bounded in length.
    fn text(&self, key: &str) -> Result<Option<String>, String> {
        match self.get(key) {
            Some(v) if v.len() > 512 => Err(format!("{key}: longer than 512 bytes")),
            Some(v) => Ok(Some(v.to_owned())),
            None => Ok(None),
        }
    }

    pub fn metric(&self) -> Result<Metric, String> {
        let name = self.get("metric").unwrap_or("first_response");
        crate::query::metric_by_name(name).ok_or_else(|| {
            let names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
            format!("metric {name:?}: one of {}", names.join(", "))
        })
    }

    /// `metric=`, repeatable (up to six, of one unit: they share an axis);
    /// none: `first_response`.
    pub fn metrics(&self) -> Result<Vec<Metric>, String> {
        let names: Vec<&str> = self.all("metric").take(7).collect();
        if names.len() > 6 {
            return Err("metric: at most six at once".into());
        }
        let metrics = names
            .iter()
            .map(|name| Params(vec![("metric".into(), (*name).to_owned())]).metric())
            .collect::<Result<Vec<_>, _>>()?;
        if metrics.windows(2).any(|w| w[0].unit() != w[1].unit()) {
            return Err("metric: metrics drawn together must have one unit (durations, bytes or counts)".into());
        }
        Ok(if metrics.is_empty() { vec![Metric::FirstResponse] } else { metrics })
    }

    /// The range a comparison holds the view's range against:
    /// `before_from` and `before_to`, else the period of the same length
    /// just before.
    pub fn before_range(&self, range: Range) -> Result<Range, String> {
        let pick = |key: &str| -> Result<Option<u64>, String> {
            self.get(key)
                .map(|v| {
                    parse_time(v)
                        .filter(|t| *t <= MAX_TIME)
                        .ok_or_else(|| format!("{key}: not a Unix time nor YYYY-MM-DDTHH:MM: {v:?}"))
                })
                .transpose()
        };
        let length = range.to - range.from;
        match (pick("before_from")?, pick("before_to")?) {
            (Some(from), Some(to)) if from < to => Ok(Range { from, to }),
            (Some(_), Some(_)) => Err("before_from must be before before_to".into()),
            (Some(from), None) => Ok(Range { from, to: (from + length).min(MAX_TIME) }),
            (None, Some(to)) => Ok(Range { from: to.saturating_sub(length), to }),
            (None, None) => Ok(Range { from: range.from.saturating_sub(length), to: range.from }),
        }
    }

    pub fn stat(&self) -> Result<Stat, String> {
        let name = self.get("stat").unwrap_or("avg");
        Stat::parse(name).ok_or_else(|| format!("stat {name:?}: one of {}", Stat::ALL.map(|s| s.name()).join(", ")))
    }

    pub fn by(&self) -> Result<By, String> {
        match self.get("by").unwrap_or("server") {
            "server" => Ok(By::Server),
            "client" => Ok(By::Client),
            other => Err(format!("by {other:?}: server or client")),
        }
    }

    pub fn order(&self) -> Result<Order, String> {
        match self.get("order").unwrap_or("count") {
            "count" => Ok(Order::Count),
            "slow" => Ok(Order::Slow),
            other => Err(format!("order {other:?}: count or slow")),
        }
    }

    pub fn limit(&self) -> Result<u32, String> {
        self.get("limit").map_or(Ok(20), |v| {
            v.parse::<u32>().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| format!("limit {v:?}: 1 to 1000"))
        })
    }

    /// Seconds per point; none: about 120 points over the range.
    pub fn step(&self) -> Result<Option<u64>, String> {
        self.get("step")
            .map(|v| {
                v.parse::<u64>().ok().filter(|s| *s >= 60).ok_or_else(|| format!("step {v:?}: seconds, at least 60"))
            })
            .transpose()
    }

    /// `series=SIGNATURE` or `series=SIGNATURE@SERVER`, repeatable; none:
    /// the filter's rows as one series.
    pub fn series(&self) -> Result<Vec<SeriesSpec>, String> {
        self.all("series")
            .take(6)
            .map(|s| {
                let (signature, server) = match s.rsplit_once('@') {
                    Some((sig, server)) => (sig, Some(parse_server(server)?)),
                    None => (s, None),
                };
                if signature.is_empty() || signature.len() > 512 {
                    return Err(format!("series {s:?}: a signature is needed"));
                }
                Ok(SeriesSpec {
                    signature: signature.to_owned(),
                    server_ip: server.as_ref().map(|(ip, _)| ip.clone()),
                    server_port: server.and_then(|(_, p)| p),
                })
            })
            .collect()
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("1" | "true" | "on" | "yes"))
    }

    pub fn csv(&self) -> bool {
        self.get("format") == Some("csv")
    }

    /// The query string again (for links to the same view and its data).
    pub fn query_string(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
    }

    /// These parameters with `key` replaced (or removed when `value` is None).
    pub fn set(&self, key: &str, value: Option<&str>) -> Params {
        let mut pairs: Vec<(String, String)> = self.0.iter().filter(|(k, _)| k != key).cloned().collect();
        if let Some(v) = value {
            pairs.push((key.to_owned(), v.to_owned()));
        }
        Params(pairs)
    }

    /// The query string with `key` replaced (or removed when `value` is None).
    pub fn with(&self, key: &str, value: Option<&str>) -> String {
        self.set(key, value).query_string()
    }

    /// The time frame and the filter's keys: what a link to another view
    /// of the same selection keeps.
    pub fn selection(&self) -> Params {
        const KEEP: [&str; 9] = ["last", "from", "to", "plugin", "signature", "server", "client", "sensor", "refresh"];
        Params(self.0.iter().filter(|(k, _)| KEEP.contains(&k.as_str())).cloned().collect())
    }

    /// Only the time-frame parameters (`last`, `from`, `to`).
    pub fn time_frame(&self) -> Params {
        Params(
            self.0.iter().filter(|(k, _)| matches!(k.as_str(), "last" | "from" | "to" | "refresh")).cloned().collect(),
        )
    }
}

/// Unix seconds, or a UTC date and time `YYYY-MM-DDTHH:MM[:SS]` (the value
/// of an HTML `datetime-local` input; a space works as well as `T`).
pub fn parse_time(s: &str) -> Option<u64> {
    if let Ok(t) = s.parse::<u64>() {
        return Some(t);
    }
    let (date, time) = s.split_once(['T', ' '])?;
    let d: Vec<u64> = date.split('-').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let t: Vec<u64> = time.split(':').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let ([y, m, day], [hh, mm, rest @ ..]) = (d.as_slice(), t.as_slice()) else { return None };
    let ss = rest.first().copied().unwrap_or(0);
    if *hh > 23 || *mm > 59 || ss > 59 || rest.len() > 1 {
        return None;
    }
    let days = pastmon_model::calendar::days_from_civil(*y, *m, *day)?;
    Some(days * 86_400 + hh * 3_600 + mm * 60 + ss)
}

/// Percent-encodes a query-string component.
pub fn encode(s: &str) -> String {
    // Everything but RFC 3986's unreserved characters.
    const RESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    utf8_percent_encode(s, RESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Params {
        Params(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn ranges() {
        assert_eq!(p(&[("last", "1h")]).range(7_230).unwrap(), Range { from: 3_660, to: 7_260 });
        assert_eq!(p(&[("from", "10"), ("to", "20")]).range(0).unwrap(), Range { from: 10, to: 20 });
        assert!(p(&[("from", "20"), ("to", "10")]).range(0).is_err());
        assert!(p(&[("last", "2h; DROP")]).range(0).unwrap_err().contains("one of"));
    }

    #[test]
    fn dates_and_unix_times() {
        assert_eq!(parse_time("1795688454"), Some(1_795_688_454));
        assert_eq!(parse_time("1970-01-01T00:00"), Some(0));
        assert_eq!(parse_time("2026-11-26T10:20"), Some(1_795_688_400));
        assert_eq!(parse_time("2000-02-29 23:59:59"), Some(951_868_799));
        assert_eq!(parse_time("2026-13-01T00:00"), None);
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn servers_and_series() {
        assert_eq!(parse_server("10.0.0.1:80").unwrap(), ("10.0.0.1".into(), Some(80)));
        assert_eq!(parse_server("[2001:db8::1]:443").unwrap(), ("2001:db8::1".into(), Some(443)));
        assert_eq!(parse_server("2001:db8::1").unwrap(), ("2001:db8::1".into(), None));
        assert!(parse_server("10.0.0.1' OR 1=1").is_err());
        let s = p(&[("series", "GET_x@10.0.0.1:80"), ("series", "DNS_A")]).series().unwrap();
        assert_eq!(s[0].label(), "GET_x@10.0.0.1:80");
        assert_eq!(s[1].server_ip, None);
    }

    #[test]
    fn metrics_and_stats_are_a_closed_set() {
        assert!(p(&[("metric", "first_response); DROP TABLE x")]).metric().is_err());
        assert!(p(&[("stat", "p95")]).stat().is_ok());
        assert!(p(&[("stat", "p42")]).stat().is_err());
    }

    #[test]
    fn query_strings_round_trip() {
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(p(&[("a", "1"), ("b", "2")]).with("a", Some("3")), "b=2&a=3");
    }
}
