//! Token buckets: `burst` tokens at most, refilled continuously at
//! `per_sec` tokens a second; one intent takes one token.
//!
//! A bucket stores its level at the last time it was debited. Time only
//! refills it forward: a call with an earlier time (a clock step back, or a
//! replayed record older than the last) sees no refill, and a debit is
//! always applied, even below zero, so replaying history into a bucket can
//! only leave it as full as it was or emptier.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::config::RateConfig;

#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    tokens: Decimal,
    last_ms: u64,
}

/// Why a bucket cannot pay for a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Shortfall {
    /// Tokens there now.
    pub available: Decimal,
    /// When enough will be there, or `None` if the request needs more than
    /// the bucket can ever hold.
    pub retry_after_ms: Option<u64>,
}

impl Bucket {
    /// A full bucket at `now_ms`.
    pub fn full(cfg: &RateConfig, now_ms: u64) -> Bucket {
        Bucket {
            tokens: Decimal::from(cfg.burst),
            last_ms: now_ms,
        }
    }

    /// A bucket that was empty at `since_ms` and has only refilled since.
    pub fn empty_since(since_ms: u64) -> Bucket {
        Bucket {
            tokens: Decimal::ZERO,
            last_ms: since_ms,
        }
    }

    /// Tokens there at `now_ms`.
    pub fn level(&self, cfg: &RateConfig, now_ms: u64) -> Decimal {
        let burst = Decimal::from(cfg.burst);
        let tokens = self.tokens.min(burst);
        if now_ms <= self.last_ms {
            return tokens;
        }
        let elapsed = Decimal::from(now_ms - self.last_ms);
        elapsed
            .checked_mul(cfg.per_sec)
            .and_then(|r| tokens.checked_add(r / Decimal::from(1000)))
            .map_or(burst, |t| t.min(burst))
    }

    /// Can `n` tokens be taken at `now_ms`?
    pub fn check(&self, cfg: &RateConfig, now_ms: u64, n: u64) -> Result<(), Shortfall> {
        let available = self.level(cfg, now_ms);
        let need = Decimal::from(n);
        if available >= need {
            return Ok(());
        }
        let retry_after_ms = (n <= u64::from(cfg.burst)).then(|| {
            let missing = need - available;
            let mut ms = (missing * Decimal::from(1000) / cfg.per_sec)
                .ceil()
                .to_u64()
                .unwrap_or(u64::MAX)
                .clamp(1, u64::from(u32::MAX));
            // Division may round; make sure the answer is never early.
            while self.level(cfg, now_ms.saturating_add(ms)) < need {
                ms += 1;
            }
            ms
        });
        Err(Shortfall {
            available,
            retry_after_ms,
        })
    }

    /// Take `n` tokens at `now_ms`, whether or not they are there.
    pub fn take(&mut self, cfg: &RateConfig, now_ms: u64, n: u64) {
        self.tokens = self.level(cfg, now_ms) - Decimal::from(n);
        self.last_ms = self.last_ms.max(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(burst: u32, per_sec: &str) -> RateConfig {
        RateConfig {
            burst,
            per_sec: per_sec.parse().unwrap(),
        }
    }

    #[test]
    fn boundaries() {
        // (config, tokens taken at t=0, check at, n, expect Ok or retry_after)
        type Case = (RateConfig, u64, u64, u64, Result<(), Option<u64>>);
        let cases: &[Case] = &[
            (rate(10, "5"), 0, 0, 10, Ok(())),
            (rate(10, "5"), 0, 0, 11, Err(None)),
            (rate(10, "5"), 10, 0, 1, Err(Some(200))),
            (rate(10, "5"), 10, 199, 1, Err(Some(1))),
            (rate(10, "5"), 10, 200, 1, Ok(())),
            (rate(10, "5"), 10, 1999, 10, Err(Some(1))),
            (rate(10, "5"), 10, 2000, 10, Ok(())),
            (rate(10, "5"), 10, 60_000, 10, Ok(())),
            (rate(10, "5"), 10, 60_000, 11, Err(None)),
            (rate(3, "0.5"), 3, 0, 1, Err(Some(2000))),
            (rate(3, "0.5"), 3, 1999, 1, Err(Some(1))),
            (rate(3, "0.5"), 3, 2000, 1, Ok(())),
            (rate(3, "3"), 3, 0, 1, Err(Some(334))),
            (rate(3, "3"), 3, 333, 1, Err(Some(1))),
            (rate(3, "3"), 3, 334, 1, Ok(())),
        ];
        for (i, (cfg, taken, at, n, want)) in cases.iter().enumerate() {
            let mut b = Bucket::full(cfg, 0);
            b.take(cfg, 0, *taken);
            let got = b.check(cfg, *at, *n).map_err(|s| s.retry_after_ms);
            assert_eq!(&got, want, "case {i}");
            // The retry time is exact: allowed then, not a millisecond before.
            if let Err(Some(ms)) = want {
                assert!(b.check(cfg, at + ms, *n).is_ok(), "case {i}");
                assert!(b.check(cfg, at + ms - 1, *n).is_err(), "case {i}");
            }
        }
    }

    #[test]
    fn old_times_do_not_refill() {
        let cfg = rate(10, "1");
        let mut b = Bucket::full(&cfg, 10_000);
        b.take(&cfg, 10_000, 10);
        // A replayed record from before the last debit: no refill, the
        // debit still counts, and the clock mark does not move back.
        b.take(&cfg, 5_000, 1);
        assert_eq!(b.level(&cfg, 5_000), Decimal::from(-1));
        assert_eq!(b.level(&cfg, 10_000), Decimal::from(-1));
        assert_eq!(b.level(&cfg, 12_000), Decimal::from(1));
        let s = b.check(&cfg, 10_000, 1).unwrap_err();
        assert_eq!(s.retry_after_ms, Some(2000));
    }

    #[test]
    fn empty_since_refills_from_its_origin() {
        let cfg = rate(4, "2");
        let b = Bucket::empty_since(1000);
        assert_eq!(b.level(&cfg, 0), Decimal::ZERO);
        assert_eq!(b.level(&cfg, 1500), Decimal::ONE);
        assert_eq!(b.level(&cfg, 100_000), Decimal::from(4));
    }

    #[test]
    fn a_smaller_burst_after_reload_caps_the_level() {
        let b = Bucket::full(&rate(100, "1"), 0);
        assert_eq!(b.level(&rate(5, "1"), 0), Decimal::from(5));
    }
}
