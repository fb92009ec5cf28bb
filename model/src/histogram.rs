//! Fixed log-linear histogram: the same bucket bounds everywhere, so
//! histograms merge exactly across workers, sensors, servers and intervals
//! (in ClickHouse with `sumMap`), and percentiles come from merged buckets.
//!
//! Values below 32 have a bucket each; above, every power of two is split in
//! 16 equal buckets, so a bucket is at most 1/16 (6.25 %) of its value wide.
//! Buckets are stored sparsely: only those holding values.

use serde::Serialize;

const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;

/// Bucket index of a value (0..=975).
pub fn bucket(v: u64) -> u16 {
    if v < 2 * SUB {
        return v as u16;
    }
    let e = 63 - v.leading_zeros();
    (((e - SUB_BITS + 1) as u64 * SUB) + ((v >> (e - SUB_BITS)) & (SUB - 1))) as u16
}

/// Smallest value of a bucket, and the first value past it.
pub fn bucket_bounds(b: u16) -> (u64, u64) {
    let b = u64::from(b);
    if b < 2 * SUB {
        return (b, b + 1);
    }
    let e = b / SUB + u64::from(SUB_BITS) - 1;
    let m = b % SUB;
    let width = 1u64 << (e - u64::from(SUB_BITS));
    let lower = (SUB + m) << (e - u64::from(SUB_BITS));
    (lower, lower.saturating_add(width))
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Histogram {
    /// (bucket, count), sorted by bucket.
    buckets: Vec<(u16, u64)>,
}

impl Histogram {
    pub fn record(&mut self, v: u64) {
        self.add_to_bucket(bucket(v), 1);
    }

    fn add_to_bucket(&mut self, b: u16, n: u64) {
        match self.buckets.binary_search_by_key(&b, |(k, _)| *k) {
            Ok(i) => self.buckets[i].1 += n,
            Err(i) => self.buckets.insert(i, (b, n)),
        }
    }

    pub fn merge(&mut self, other: &Histogram) {
        for &(b, n) in &other.buckets {
            self.add_to_bucket(b, n);
        }
    }

    /// A histogram from stored (bucket, count) pairs (e.g. read back from
    /// the database), in any order.
    pub fn from_buckets(pairs: impl IntoIterator<Item = (u16, u64)>) -> Histogram {
        let mut h = Histogram::default();
        for (b, n) in pairs {
            h.add_to_bucket(b, n);
        }
        h
    }

    pub fn buckets(&self) -> &[(u16, u64)] {
        &self.buckets
    }

    /// The value at quantile `q` (0..=1): the middle of the bucket holding
    /// the rank, clamped to the exact `min` and `max` known beside it (and
    /// exactly those for the first and last rank).
    pub fn quantile(&self, q: f64, min: u64, max: u64) -> u64 {
        let total: u64 = self.buckets.iter().map(|(_, n)| n).sum();
        if total == 0 {
            return 0;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        // The extremes are known exactly.
        if rank == total {
            return max;
        }
        if rank == 1 {
            return min;
        }
        let mut seen = 0;
        for &(b, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                let (lo, hi) = bucket_bounds(b);
                return (lo + (hi - 1 - lo) / 2).clamp(min, max);
            }
        }
        max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_narrow() {
        let mut prev_hi = 0;
        for b in 0..=bucket(u64::MAX) {
            let (lo, hi) = bucket_bounds(b);
            assert_eq!(lo, prev_hi, "bucket {b}");
            assert_eq!(bucket(lo), b);
            assert_eq!(bucket(hi - 1), b);
            assert!((hi - lo) as f64 <= (lo as f64 / 16.0).max(1.0), "bucket {b} too wide");
            prev_hi = hi;
            if hi == u64::MAX {
                break;
            }
        }
        assert_eq!(bucket(u64::MAX), 975);
    }

    #[test]
    fn quantiles_within_one_bucket_and_merge_is_exact() {
        let (mut a, mut b, mut all) = (Histogram::default(), Histogram::default(), Histogram::default());
        for v in 1..=1000u64 {
            let v = v * 1000;
            if v % 3 == 0 {
                a.record(v)
            } else {
                b.record(v)
            }
            all.record(v);
        }
        a.merge(&b);
        assert_eq!(a, all);
        let p50 = all.quantile(0.5, 1000, 1_000_000);
        assert_eq!(bucket(p50), bucket(500_000));
        assert_eq!(all.quantile(1.0, 1000, 1_000_000), 1_000_000);
        assert_eq!(all.quantile(0.0, 1000, 1_000_000), 1000);
    }
}
