//! Where a transaction's time goes, and whose side holds most of it.
//!
//! The time from the request's first packet to the client's ACK of the
//! last response byte splits into parts that add up: request transfer
//! (`request_time`), the server's own time (`server_time`), the response
//! transfer (`response_transfer`, the sum of `server_idle`,
//! `network_transfer` and `window_wait`) and the delivery (`delivery`).
//! Each part belongs to a
//! side: the server (its own time, and sending nothing while everything
//! sent is acknowledged: it was still producing the response), the network
//! (the request's transfer, data in flight waiting for ACKs or repairs, the
//! last byte's way to the client) or the client (its receive window full or
//! closed). The verdict is the side holding at least half of the time, else
//! `balanced`.

use crate::Metric;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Server,
    Network,
    Client,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Server => "server",
            Side::Network => "network",
            Side::Client => "client",
        }
    }
}

/// The parts of a transaction's time and their sides.
pub const PARTS: [(Metric, Side); 6] = [
    (Metric::RequestTime, Side::Network),
    (Metric::ServerTime, Side::Server),
    (Metric::ServerIdle, Side::Server),
    (Metric::NetworkTransfer, Side::Network),
    (Metric::WindowWait, Side::Client),
    (Metric::Delivery, Side::Network),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Server,
    Network,
    Client,
    Balanced,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Server => "server",
            Verdict::Network => "network",
            Verdict::Client => "client",
            Verdict::Balanced => "balanced",
        }
    }
}

/// Each side's share of the time, 0 to 1, adding up to 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Shares {
    pub server: f64,
    pub network: f64,
    pub client: f64,
}

impl Shares {
    /// The shares from the parts' sums (nanoseconds over the same
    /// transactions); none when no time was measured.
    pub fn from_sums(sum: impl Fn(Metric) -> u64) -> Option<Shares> {
        let mut by_side = [0u64; 3];
        for (metric, side) in PARTS {
            by_side[side as usize] = by_side[side as usize].saturating_add(sum(metric));
        }
        let total = by_side.iter().sum::<u64>() as f64;
        (total > 0.0).then(|| Shares {
            server: by_side[Side::Server as usize] as f64 / total,
            network: by_side[Side::Network as usize] as f64 / total,
            client: by_side[Side::Client as usize] as f64 / total,
        })
    }

    /// The side holding at least half of the time, else `Balanced`.
    pub fn verdict(&self) -> Verdict {
        if self.server >= 0.5 {
            Verdict::Server
        } else if self.network >= 0.5 {
            Verdict::Network
        } else if self.client >= 0.5 {
            Verdict::Client
        } else {
            Verdict::Balanced
        }
    }
}

/// Pearson's correlation of paired values (a front's server time and a
/// backend's, interval by interval): none under three pairs or where either
/// does not vary.
pub fn correlation(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.len() < 3 {
        return None;
    }
    let n = pairs.len() as f64;
    let (mx, my) = pairs.iter().fold((0.0, 0.0), |(x, y), p| (x + p.0 / n, y + p.1 / n));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in pairs {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    let r = sxy / (sxx * syy).sqrt();
    r.is_finite().then_some(r.clamp(-1.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_of_moving_together_apart_and_too_few() {
        let r = correlation(&[(1.0, 10.0), (2.0, 21.0), (3.0, 29.0), (4.0, 41.0)]).unwrap();
        assert!(r > 0.99, "{r}");
        let r = correlation(&[(1.0, 4.0), (2.0, 3.0), (3.0, 2.0)]).unwrap();
        assert!((r + 1.0).abs() < 1e-9, "{r}");
        assert_eq!(correlation(&[(1.0, 1.0), (2.0, 2.0)]), None);
        assert_eq!(correlation(&[(1.0, 5.0), (2.0, 5.0), (3.0, 5.0)]), None);
    }

    #[test]
    fn the_side_with_half_the_time_or_balanced() {
        let sums =
            |parts: [(Metric, u64); 3]| move |m: Metric| parts.iter().find(|(p, _)| *p == m).map_or(0, |(_, v)| *v);
        let s = Shares::from_sums(sums([(Metric::ServerTime, 80), (Metric::RequestTime, 10), (Metric::Delivery, 10)]));
        assert_eq!(s.map(|s| s.verdict()), Some(Verdict::Server));
        let s = Shares::from_sums(sums([
            (Metric::ServerIdle, 30),
            (Metric::NetworkTransfer, 60),
            (Metric::WindowWait, 10),
        ]));
        assert_eq!(s.map(|s| s.verdict()), Some(Verdict::Network));
        let s = Shares::from_sums(sums([(Metric::WindowWait, 70), (Metric::ServerTime, 20), (Metric::Delivery, 10)]));
        assert_eq!(s.map(|s| (s.verdict(), (s.client * 100.0).round())), Some((Verdict::Client, 70.0)));
        let s = Shares::from_sums(sums([
            (Metric::ServerTime, 40),
            (Metric::NetworkTransfer, 35),
            (Metric::WindowWait, 25),
        ]));
        assert_eq!(s.map(|s| s.verdict()), Some(Verdict::Balanced));
        assert_eq!(Shares::from_sums(|_| 0), None);
    }
}
