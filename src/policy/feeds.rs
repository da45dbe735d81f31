//! Price feeds: how updates from price-feed identities become the reference
//! prices that bands, market orders and notional caps lean on, and the
//! sanity checks that keep one bad feed from moving them.
//!
//! Trust model (docs/policy.md): a feed identity is trusted to report
//! prices, not to move them arbitrarily. Each symbol may require a quorum of
//! distinct feeds (the reference is the median of their fresh prices), each
//! update must stay within `max_move` of every reference accepted within
//! `move_window_ms` (so a feed can neither jump nor ratchet the price in
//! small steps), and each feed identity has its own rate limit. A refused
//! update changes nothing: orders keep the old reference until it goes stale,
//! then are denied. After a real move larger than `max_move`, updates are
//! refused until the window has passed without an accepted reference; the
//! first update after that sets a new baseline (with a quorum, only once
//! enough feeds agree).

use std::collections::{BTreeMap, VecDeque};

use rust_decimal::Decimal;

use super::bucket::Bucket;
use super::config::{
    DEFAULT_MOVE_WINDOW_MS, DEFAULT_PRICE_MAX_AGE_MS, FeedsConfig, MAX_LIMIT, RateConfig,
};
use super::prices::RefPrice;
use super::verdict::{Denial, Rule, Scope};

/// The settings in force for one symbol.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FeedRules {
    pub max_move: Option<Decimal>,
    pub move_window_ms: u64,
    pub quorum: u32,
    pub max_age_ms: u64,
}

impl FeedsConfig {
    pub(crate) fn rules(&self, symbol: &str) -> FeedRules {
        let d = &self.defaults;
        let o = self.symbols.get(symbol).unwrap_or(d);
        FeedRules {
            max_move: o.max_move.or(d.max_move),
            move_window_ms: o
                .move_window_ms
                .or(d.move_window_ms)
                .unwrap_or(DEFAULT_MOVE_WINDOW_MS),
            quorum: o.quorum.or(d.quorum).unwrap_or(1),
            max_age_ms: o
                .max_age_ms
                .or(d.max_age_ms)
                .unwrap_or(DEFAULT_PRICE_MAX_AGE_MS),
        }
    }

    /// The update rate limit of every feed identity.
    pub(crate) fn rate(&self) -> Option<&RateConfig> {
        self.defaults.rate.as_ref()
    }
}

/// Why an update was not taken.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedError {
    /// Not a usable price at all (zero, negative, absurd, no symbol).
    Invalid(String),
    /// A sanity check refused it; the denial names rule, limit and value.
    Refused(Box<Denial>),
}

/// One symbol's prices: the latest from each feed, the references accepted
/// within the move window, and the reference in force.
#[derive(Debug, Clone, Default, PartialEq)]
struct SymbolFeed {
    latest: BTreeMap<String, RefPrice>,
    accepted: VecDeque<RefPrice>,
    reference: Option<RefPrice>,
}

/// Every symbol's feed state and every feed identity's bucket.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedBook {
    symbols: BTreeMap<String, SymbolFeed>,
    buckets: BTreeMap<String, Bucket>,
}

impl FeedBook {
    /// The reference price in force for `symbol`.
    pub fn reference(&self, symbol: &str) -> Option<RefPrice> {
        self.symbols.get(symbol).and_then(|s| s.reference)
    }

    /// Take `price` for `symbol` from `feed` at `now_ms`, or refuse it.
    /// Returns the reference in force afterwards (`None` while the quorum
    /// is not met).
    pub fn update(
        &mut self,
        cfg: &FeedsConfig,
        feed: &str,
        symbol: &str,
        price: Decimal,
        now_ms: u64,
    ) -> Result<Option<RefPrice>, FeedError> {
        if symbol.is_empty() {
            return Err(FeedError::Invalid(
                "a reference price needs a symbol".into(),
            ));
        }
        if price <= Decimal::ZERO || price > MAX_LIMIT {
            return Err(FeedError::Invalid(format!(
                "reference price for {symbol:?} must be above 0 and at most {MAX_LIMIT} (got {price})"
            )));
        }
        let rules = cfg.rules(symbol);
        let scope = Scope::Identity(feed.to_string());
        if let Some(rate) = cfg.rate() {
            let bucket = self
                .buckets
                .entry(feed.to_string())
                .or_insert_with(|| Bucket::full(rate, now_ms));
            if let Err(s) = bucket.check(rate, now_ms, 1) {
                return Err(FeedError::Refused(Box::new(
                    Denial::new(Rule::FeedRate, scope)
                        .subject(symbol)
                        .values(Some(s.available), Some(Decimal::ONE))
                        .retry(s.retry_after_ms),
                )));
            }
            bucket.take(rate, now_ms, 1);
        }
        let entry = self.symbols.entry(symbol.to_string()).or_default();
        let window_start = now_ms.saturating_sub(rules.move_window_ms);
        while entry
            .accepted
            .front()
            .is_some_and(|r| r.at_ms < window_start)
        {
            entry.accepted.pop_front();
        }
        if let Some(max_move) = rules.max_move {
            // Against every reference accepted within the window (the
            // current one included while it is in the window): the update
            // may move at most `max_move` from the farthest of them.
            for r in entry.accepted.iter() {
                let moved = ((price - r.price) / r.price).abs();
                if moved > max_move {
                    return Err(FeedError::Refused(Box::new(
                        Denial::new(Rule::PriceMove, scope)
                            .subject(symbol)
                            .values(Some(max_move), Some(moved.round_dp(6))),
                    )));
                }
            }
        }
        // A feed's older update than the one held is ignored (feeds may
        // arrive out of order; the newest wins).
        match entry.latest.get(feed) {
            Some(p) if p.at_ms > now_ms => return Ok(entry.reference),
            _ => {}
        }
        entry.latest.insert(
            feed.to_string(),
            RefPrice {
                price,
                at_ms: now_ms,
            },
        );
        let fresh_from = now_ms.saturating_sub(rules.max_age_ms);
        entry.latest.retain(|_, p| p.at_ms >= fresh_from);
        if entry.latest.len() < rules.quorum as usize {
            return Ok(entry.reference);
        }
        let mut fresh: Vec<RefPrice> = entry.latest.values().copied().collect();
        fresh.sort_by_key(|p| p.price);
        let n = fresh.len();
        let median = if n % 2 == 1 {
            fresh[n / 2].price
        } else {
            (fresh[n / 2 - 1].price + fresh[n / 2].price) / Decimal::TWO
        };
        // The reference is as old as the oldest price it rests on, so it
        // goes stale when the quorum would.
        let at_ms = fresh.iter().map(|p| p.at_ms).min().unwrap_or(now_ms);
        let reference = RefPrice {
            price: median,
            at_ms,
        };
        entry.reference = Some(reference);
        entry.accepted.push_back(RefPrice {
            price: median,
            at_ms: now_ms,
        });
        Ok(Some(reference))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn cfg(text: &str) -> FeedsConfig {
        let c: FeedsConfig = toml::from_str(text).unwrap();
        c.validate("policy.price_feeds").unwrap();
        c
    }

    fn refused(r: Result<Option<RefPrice>, FeedError>) -> Rule {
        match r {
            Err(FeedError::Refused(d)) => d.rule,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn without_settings_every_valid_update_is_the_reference() {
        let c = FeedsConfig::default();
        let mut b = FeedBook::default();
        b.update(&c, "feed", "BTC", d("100"), 1000).unwrap();
        b.update(&c, "feed", "BTC", d("1000"), 2000).unwrap();
        assert_eq!(b.reference("BTC").unwrap().price, d("1000"));
        for bad in ["0", "-1", "1000000000000001"] {
            assert!(matches!(
                b.update(&c, "feed", "BTC", d(bad), 3000),
                Err(FeedError::Invalid(_))
            ));
        }
        assert!(matches!(
            b.update(&c, "feed", "", d("1"), 3000),
            Err(FeedError::Invalid(_))
        ));
    }

    #[test]
    fn max_move_at_its_boundary_and_against_ratcheting() {
        let c = cfg("[defaults]\nmax_move = \"0.05\"\nmove_window_ms = 60000\n");
        let mut b = FeedBook::default();
        b.update(&c, "f", "BTC", d("100"), 1_000).unwrap();
        // Exactly 5 % up: taken.
        b.update(&c, "f", "BTC", d("105"), 2_000).unwrap();
        // 105 is 5 % above 100, but 110.25 would be 10.25 % above 100,
        // which is still in the window: refused (no ratcheting).
        assert_eq!(
            refused(b.update(&c, "f", "BTC", d("110.25"), 3_000)),
            Rule::PriceMove
        );
        // A 10x jump: refused, and the reference stays.
        assert_eq!(
            refused(b.update(&c, "f", "BTC", d("1050"), 4_000)),
            Rule::PriceMove
        );
        assert_eq!(b.reference("BTC").unwrap().price, d("105"));
        // Just over 5 % down from 105... and also within 5 % of 100? 99.75
        // is 5 % below 105 and 0.25 % below 100: taken.
        b.update(&c, "f", "BTC", d("99.75"), 5_000).unwrap();
        // Once the window holds no accepted reference, a new baseline.
        b.update(&c, "f", "BTC", d("1000"), 5_000 + 60_001).unwrap();
        assert_eq!(b.reference("BTC").unwrap().price, d("1000"));
    }

    #[test]
    fn quorum_takes_the_median_of_fresh_feeds() {
        let c = cfg("[symbols.BTC]\nquorum = 2\nmax_age_ms = 5000\n");
        let mut b = FeedBook::default();
        b.update(&c, "a", "BTC", d("100"), 1_000).unwrap();
        assert_eq!(b.reference("BTC"), None, "one feed is short of the quorum");
        b.update(&c, "b", "BTC", d("102"), 2_000).unwrap();
        let r = b.reference("BTC").unwrap();
        assert_eq!((r.price, r.at_ms), (d("101"), 1_000));
        // A third, lying feed moves the median only to the middle value.
        b.update(&c, "c", "BTC", d("1000"), 3_000).unwrap();
        assert_eq!(b.reference("BTC").unwrap().price, d("102"));
        // Feed a goes stale: b and c remain; still a quorum.
        b.update(&c, "b", "BTC", d("103"), 6_500).unwrap();
        assert_eq!(b.reference("BTC").unwrap().price, d("551.5"));
        // Other symbols need only one feed (the default quorum).
        b.update(&c, "a", "ETH", d("10"), 7_000).unwrap();
        assert_eq!(b.reference("ETH").unwrap().price, d("10"));
    }

    #[test]
    fn a_feeds_own_rate_limit() {
        let c = cfg("[defaults]\nrate = { burst = 2, per_sec = \"1\" }\n");
        let mut b = FeedBook::default();
        b.update(&c, "f", "BTC", d("100"), 1_000).unwrap();
        b.update(&c, "f", "ETH", d("10"), 1_000).unwrap();
        let r = b.update(&c, "f", "BTC", d("101"), 1_000);
        assert_eq!(refused(r.clone()), Rule::FeedRate);
        let Err(FeedError::Refused(den)) = r else {
            unreachable!()
        };
        assert_eq!(den.retry_after_ms, Some(1000));
        // Another feed has its own bucket.
        b.update(&c, "g", "BTC", d("101"), 1_000).unwrap();
        b.update(&c, "f", "BTC", d("102"), 2_000).unwrap();
    }

    #[test]
    fn settings_are_validated() {
        for bad in [
            "[defaults]\nmax_move = \"0\"\n",
            "[defaults]\nmax_move = \"1\"\n",
            "[defaults]\nquorum = 0\n",
            "[defaults]\nquorum = 17\n",
            "[defaults]\nmove_window_ms = 0\n",
            "[symbols.BTC]\nrate = { burst = 1, per_sec = \"1\" }\n",
            "[defaults]\nrate = { burst = 0, per_sec = \"1\" }\n",
        ] {
            let c: FeedsConfig = toml::from_str(bad).unwrap();
            assert!(c.validate("p").is_err(), "{bad}");
        }
        assert!(toml::from_str::<FeedsConfig>("[defaults]\nmax_moves = \"0.1\"\n").is_err());
    }
}
