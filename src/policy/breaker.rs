//! The circuit breaker of one identity.
//!
//! Definition: the breaker is open at `now` if some counted denial at a time
//! `d` with `now < d + cooldown` was at least the `denials`-th counted denial
//! within `(d − window, d]`. It is a pure function of the counted denial
//! times, so replaying the denials of the last `window + cooldown` from the
//! journal restores it exactly, and more denials can only keep it open
//! longer.
//!
//! Which denials count is the caller's business, with one rule the rest of
//! the policy relies on: a denial caused *only* by the open breaker is not
//! counted (see `Verdict::feeds_breaker`), or a bot that keeps retrying
//! would hold its own breaker open for ever.

use std::collections::VecDeque;

use super::config::BreakerConfig;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Breaker {
    /// The most recent counted denial times (at most `denials` of them),
    /// never decreasing.
    recent: VecDeque<u64>,
    /// Open while `now < open_until`.
    open_until: u64,
}

impl Breaker {
    /// Count a denial at `now`.
    pub fn record(&mut self, cfg: &BreakerConfig, now_ms: u64) {
        let t = self.recent.back().map_or(now_ms, |&l| l.max(now_ms));
        self.recent.push_back(t);
        while self.recent.len() > cfg.denials as usize {
            self.recent.pop_front();
        }
        if self.recent.len() == cfg.denials as usize
            && self.recent[0].saturating_add(cfg.window_ms) > t
        {
            self.open_until = self.open_until.max(t.saturating_add(cfg.cooldown_ms));
        }
    }

    /// If open at `now`, when it closes.
    pub fn open_until(&self, now_ms: u64) -> Option<u64> {
        (now_ms < self.open_until).then_some(self.open_until)
    }

    /// Nothing left that could matter at `now` under `cfg`.
    pub fn is_idle(&self, cfg: &BreakerConfig, now_ms: u64) -> bool {
        self.open_until(now_ms).is_none()
            && self
                .recent
                .back()
                .is_none_or(|&l| l.saturating_add(cfg.window_ms) <= now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: BreakerConfig = BreakerConfig {
        denials: 3,
        window_ms: 10_000,
        cooldown_ms: 60_000,
    };

    fn breaker(denials: &[u64]) -> Breaker {
        let mut b = Breaker::default();
        for d in denials {
            b.record(&CFG, *d);
        }
        b
    }

    #[test]
    fn opens_at_the_boundary() {
        // (denial times, now, open until)
        let cases: &[(&[u64], u64, Option<u64>)] = &[
            (&[1000, 2000], 2000, None),
            (&[1000, 2000, 10_999], 10_999, Some(70_999)),
            (&[1000, 2000, 11_000], 11_000, None),
            (&[1000, 2000, 10_999], 70_998, Some(70_999)),
            (&[1000, 2000, 10_999], 70_999, None),
            (&[1000, 2000, 11_000, 11_500], 11_500, Some(71_500)),
            (&[0, 0, 0], 0, Some(60_000)),
            // A later burst extends it.
            (&[0, 1, 2, 50_000, 50_001, 50_002], 60_000, Some(110_002)),
            // A time step back is counted at the last time.
            (&[5000, 4000, 3000], 5000, Some(65_000)),
        ];
        for (denials, now, want) in cases {
            assert_eq!(
                breaker(denials).open_until(*now),
                *want,
                "{denials:?} at {now}"
            );
        }
    }

    #[test]
    fn idle_once_nothing_can_matter() {
        let b = breaker(&[1000, 2000]);
        assert!(!b.is_idle(&CFG, 11_999));
        assert!(b.is_idle(&CFG, 12_000));
        let b = breaker(&[1000, 2000, 3000]);
        assert!(!b.is_idle(&CFG, 62_999));
        assert!(b.is_idle(&CFG, 63_000));
    }
}
