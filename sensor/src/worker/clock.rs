//! The capture clock of a reader: the time sweeps, interval closing and the
//! flows' reorder holds go by. It never runs backwards, and a lone frame
//! stamped far ahead (a stepped clock, a merged capture's stray packet)
//! does not move it: a jump is followed only when the next frame confirms
//! it. So one bad stamp cannot age out every flow, and every worker sees
//! the same clock at the same frame.

use crate::records::CaptureStats;

/// A step forward larger than this needs a second frame to confirm it.
pub(super) const MAX_STEP_NS: u64 = 60_000_000_000;

#[derive(Default)]
pub(super) struct Clock {
    now: u64,
    /// A frame stamped beyond `now + MAX_STEP_NS`, waiting for the next
    /// frame to confirm the jump.
    pending: Option<u64>,
}

impl Clock {
    /// The clock at a frame stamped `ts`; outliers are counted in `stats`.
    pub(super) fn at_frame(&mut self, ts: u64, stats: &mut CaptureStats) -> u64 {
        if self.now == 0 {
            self.now = ts;
            return ts;
        }
        if ts <= self.now.saturating_add(MAX_STEP_NS) {
            if self.pending.take().is_some() {
                stats.stamps_ahead += 1;
            }
            if ts > self.now {
                self.now = ts;
            } else if self.now - ts > MAX_STEP_NS {
                stats.stamps_behind += 1;
            }
            return self.now;
        }
        match self.pending.take() {
            // Two frames far ahead in a row: the capture really moved on.
            Some(first) => self.now = first.min(ts),
            None => self.pending = Some(ts),
        }
        self.now
    }

    /// An idle live source's time (the system clock): only forward.
    pub(super) fn at_idle(&mut self, now_ns: u64) -> u64 {
        self.now = self.now.max(now_ns);
        self.now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn run(stamps: &[u64]) -> (Vec<u64>, CaptureStats) {
        let (mut clock, mut stats) = (Clock::default(), CaptureStats::default());
        let out = stamps.iter().map(|ts| clock.at_frame(*ts * S, &mut stats) / S).collect();
        (out, stats)
    }

    #[test]
    fn follows_the_stamps_and_never_runs_backwards() {
        let (clock, stats) = run(&[100, 101, 99, 102, 30, 103]);
        assert_eq!(clock, [100, 101, 101, 102, 102, 103]);
        assert_eq!((stats.stamps_behind, stats.stamps_ahead), (1, 0));
    }

    #[test]
    fn a_lone_stamp_far_ahead_is_not_followed() {
        let (clock, stats) = run(&[100, 101, 1_101, 102, 103]);
        assert_eq!(clock, [100, 101, 101, 102, 103]);
        assert_eq!(stats.stamps_ahead, 1);
    }

    #[test]
    fn a_real_gap_is_followed_at_its_second_frame() {
        let (clock, stats) = run(&[100, 101, 3_700, 3_701, 3_702]);
        assert_eq!(clock, [100, 101, 101, 3_700, 3_702]);
        assert_eq!(stats.stamps_ahead, 0);
    }
}
