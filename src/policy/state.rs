//! The policy's mutable state, and the only calls that change it.
//!
//! Every change is one of five calls, each with the time it happened:
//! `commit` (an allowed request), `record_denial`, `update_price`,
//! `report_closed`, and nothing else. The state is a deterministic function
//! of the sequence of those calls, so the agent rebuilds it at start by
//! replaying them from the journal with their journaled times.
//!
//! Time inside the state never runs backwards: the state keeps the latest
//! time it has been given (`clock`), and every call, `evaluate` included,
//! works at the later of its own time and the clock. A clock that steps
//! back is a worse guess at the real time than the latest time already
//! seen, and treating the step as no time passing means nothing already
//! counted is counted again, refilled or expired early: replaying an old
//! call at its old time records it at the clock, takes its tokens without
//! refill, and keeps its amounts in the windows at least as long as it
//! should.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::amount::to_decimal;
use super::batch::{Batch, Flow, Request};
use super::breaker::Breaker;
use super::bucket::Bucket;
use super::config::RateConfig;
use super::feeds::{FeedBook, FeedError};
use super::halts::{Halt, HaltScope, Halts};
use super::limits::{DAY_MS, Policy};
use super::open_orders::{OpenBook, OpenOrder, Tally};
use super::prices::RefPrice;
use super::verdict::Scope;
use super::window::Window;
use crate::order::OrderRef;

/// Counters, windows, open orders, breakers and reference prices.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyState {
    clock_ms: u64,
    /// Set for a replay that starts part-way through the journal: buckets
    /// not yet seen are taken as empty at this time (see
    /// `for_partial_replay`).
    bucket_origin_ms: Option<u64>,
    buckets: BTreeMap<(Scope, Flow), Bucket>,
    notional: BTreeMap<Scope, Window>,
    /// (key, canonical destination, asset) → amounts.
    transfers: BTreeMap<(String, String, String), Window>,
    open: OpenBook,
    breakers: BTreeMap<String, Breaker>,
    prices: FeedBook,
    halts: Halts,
}

impl PolicyState {
    /// State for a replay of only the journal records at or after
    /// `start_ms` (use `start_ms <= now - policy.replay_horizon_ms()`).
    /// Windows, open orders and breakers come out exact; a token bucket
    /// first seen in the replay is taken as empty at `start_ms` rather than
    /// full, which can only leave it emptier than it really was (a bucket
    /// that has been idle for its refill time is full either way).
    /// `PolicyState::default()` is for a replay of the whole journal.
    pub fn for_partial_replay(start_ms: u64) -> PolicyState {
        PolicyState {
            clock_ms: start_ms,
            bucket_origin_ms: Some(start_ms),
            ..PolicyState::default()
        }
    }

    /// The latest time this state has been given.
    pub fn clock_ms(&self) -> u64 {
        self.clock_ms
    }

    /// The later of `now` and the clock.
    pub(crate) fn clock_at(&self, now_ms: u64) -> u64 {
        self.clock_ms.max(now_ms)
    }

    fn tick(&mut self, now_ms: u64) -> u64 {
        self.clock_ms = self.clock_ms.max(now_ms);
        self.clock_ms
    }

    fn new_bucket(&self, cfg: &RateConfig, now_ms: u64) -> Bucket {
        match self.bucket_origin_ms {
            Some(origin) => Bucket::empty_since(origin),
            None => Bucket::full(cfg, now_ms),
        }
    }

    pub(crate) fn bucket(
        &self,
        scope: &Scope,
        flow: Flow,
        cfg: &RateConfig,
        now_ms: u64,
    ) -> Bucket {
        match self.buckets.get(&(scope.clone(), flow)) {
            Some(b) => b.clone(),
            None => self.new_bucket(cfg, now_ms),
        }
    }

    pub(crate) fn window(&self, scope: &Scope) -> Option<&Window> {
        self.notional.get(scope)
    }

    pub(crate) fn transfer_window(
        &self,
        key: &str,
        destination_key: &str,
        asset: &str,
    ) -> Option<&Window> {
        self.transfers.get(&(
            key.to_string(),
            destination_key.to_string(),
            asset.to_string(),
        ))
    }

    pub(crate) fn open_book(&self) -> &OpenBook {
        &self.open
    }

    /// Apply an allowed request: take its tokens, add its opening notional
    /// to the identity's and the key's windows, count its opening orders as
    /// open, add its transfers to their daily totals. It does not judge:
    /// call it only for a request `evaluate` allowed (or, in a replay, that
    /// the journal records as allowed); it applies everything even if the
    /// limits have since been tightened, so a replay never undercounts.
    pub fn commit(&mut self, policy: &Policy, req: &Request) {
        let now = self.tick(req.now_ms);
        let ir = policy.identity(req.identity);
        let kr = policy.key(req.key);
        let ids = Scope::Identity(req.identity.to_string());
        let ks = Scope::Key(req.key.to_string());
        let batch = Batch::of(req.intents);
        for (scope, rules) in [(&ids, &ir.scope), (&ks, &kr.scope)] {
            for (flow, n) in [(Flow::Orders, batch.orders), (Flow::Cancels, batch.cancels)] {
                if let Some(cfg) = rules.rate(flow)
                    && n > 0
                {
                    let fresh = self.new_bucket(cfg, now);
                    self.buckets
                        .entry((scope.clone(), flow))
                        .or_insert(fresh)
                        .take(cfg, now, n);
                }
            }
            if batch.opening_units > 0 {
                let w = self.notional.entry(scope.clone()).or_default();
                w.add(now, batch.opening_units);
                w.prune(now, DAY_MS);
            }
        }
        for (o, units) in &batch.opening {
            self.open.insert(OpenOrder {
                identity: req.identity.to_string(),
                key: req.key.to_string(),
                symbol: o.symbol.clone(),
                client_id: o.client_id.clone().filter(|c| !c.is_empty()),
                notional_units: *units,
                placed_ms: now,
                expires_ms: now.saturating_add(kr.open_order_ttl_ms),
            });
        }
        for ((dest, asset), units) in &batch.transfers {
            let w = self
                .transfers
                .entry((req.key.to_string(), dest.clone(), asset.to_string()))
                .or_default();
            w.add(now, *units);
            w.prune(now, DAY_MS);
        }
        self.open.expire(now);
    }

    /// Count a denial of `identity` towards its circuit breaker (a no-op if
    /// the identity has none). Call it for every denial for which
    /// `Verdict::feeds_breaker()` is true, and for denials of the identity's
    /// requests decided before policy (if those should count).
    pub fn record_denial(&mut self, policy: &Policy, identity: &str, now_ms: u64) {
        let now = self.tick(now_ms);
        if let Some(cfg) = &policy.identity(identity).breaker {
            let b = self.breakers.entry(identity.to_string()).or_default();
            b.record(cfg, now);
            if b.is_idle(cfg, now) {
                self.breakers.remove(identity);
            }
        }
    }

    /// Take a price update from `feed` (an identity with the price-feed
    /// role: the caller checks the role), or refuse it with the sanity
    /// checks of `[policy.price_feeds]`. Returns the reference in force
    /// afterwards (`None` while a quorum is not met).
    pub fn update_price(
        &mut self,
        policy: &Policy,
        feed: &str,
        symbol: &str,
        price: Decimal,
        now_ms: u64,
    ) -> Result<Option<RefPrice>, FeedError> {
        let now = self.tick(now_ms);
        self.prices
            .update(&policy.config().price_feeds, feed, symbol, price, now)
    }

    /// The bot reports an order closed (cancelled or filled) at the venue:
    /// every order of `key` counted as open with this client id stops
    /// counting. `OrderRef::Oid` matches nothing, since the venue assigns
    /// its ids after signing. Returns how many were closed.
    ///
    /// This is the bot's word, not the venue's: a compromised bot can free
    /// open-order headroom with it, but not rolling-cap headroom.
    pub fn report_closed(&mut self, key: &str, order: &OrderRef, now_ms: u64) -> usize {
        let now = self.tick(now_ms);
        let n = match order {
            OrderRef::Cloid(c) => self.open.close(key, c),
            OrderRef::Oid(_) => 0,
        };
        self.open.expire(now);
        n
    }

    /// The reference price held for `symbol`.
    pub fn reference_price(&self, symbol: &str) -> Option<RefPrice> {
        self.prices.reference(symbol)
    }

    /// Halt new risk in `scope` (see `halts`).
    pub fn halt(&mut self, scope: HaltScope, halt: Halt) {
        self.tick(halt.since_ms);
        self.halts.set(scope, halt);
    }

    /// Lift the halt on `scope`; whether there was one.
    pub fn resume(&mut self, scope: &HaltScope) -> bool {
        self.halts.clear(scope)
    }

    pub fn halts(&self) -> &Halts {
        &self.halts
    }

    /// If `identity`'s breaker is open at `now`, when it closes.
    pub fn breaker_open_until(&self, identity: &str, now_ms: u64) -> Option<u64> {
        self.breakers
            .get(identity)?
            .open_until(self.clock_at(now_ms))
    }

    /// The orders counted as open at `now` (e.g. for the dead-man's switch
    /// to build cancels from), oldest expiry first.
    pub fn open_orders(&self, now_ms: u64) -> impl Iterator<Item = &OpenOrder> {
        self.open.open_at(self.clock_at(now_ms))
    }

    /// Count and notional (quote units) counted as open in `scope`.
    pub fn open_exposure(&self, scope: &Scope, now_ms: u64) -> (u64, Decimal) {
        let Tally { count, notional } = self.open.tally(scope, self.clock_at(now_ms));
        (count, to_decimal(notional))
    }

    /// Opening notional authorised in `scope` within `span_ms` before `now`.
    pub fn notional_within(&self, scope: &Scope, now_ms: u64, span_ms: u64) -> Decimal {
        to_decimal(
            self.notional
                .get(scope)
                .map_or(0, |w| w.sum(now_ms, span_ms)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{Intent, NewOrder, Side};
    use crate::policy::{PolicyConfig, Rule};

    fn policy(text: &str) -> Policy {
        Policy::from_config(PolicyConfig::parse(text).unwrap()).unwrap()
    }

    fn eth(price: &str, cid: &str) -> Intent {
        Intent::Place(NewOrder {
            client_id: Some(cid.into()),
            ..NewOrder::limit("ETH", Side::Buy, Decimal::ONE, price.parse().unwrap())
        })
    }

    const P: &str = r#"
[identity_defaults]
orders_rate = { burst = 2, per_sec = 1 }
max_notional_per_minute = "100"
max_open_orders = 2
breaker = { denials = 2, window_ms = 10000, cooldown_ms = 60000 }
[keys.hl]
open_order_ttl_ms = 30000
[keys.hl.symbols.ETH]
price_band = "0.1"
"#;

    fn req<'a>(intents: &'a [Intent], now: u64) -> Request<'a> {
        Request {
            identity: "bot",
            key: "hl",
            intents,
            now_ms: now,
        }
    }

    #[test]
    fn replay_of_old_calls_does_not_refill_or_shorten() {
        let p = policy(P);
        let mut s = PolicyState::default();
        s.update_price(&p, "feed", "ETH", "50".parse().unwrap(), 10_000)
            .unwrap();
        let a = [eth("50", "a")];
        s.commit(&p, &req(&a, 10_000));
        // An old request replayed at its old time: recorded at the clock
        // (10 s), its token taken without refill.
        let b = [eth("50", "b")];
        s.commit(&p, &req(&b, 4_000));
        assert_eq!(s.clock_ms(), 10_000);
        let one = [eth("0.01", "c")];
        let v = p.evaluate(&s, &req(&one, 10_000));
        let r: Vec<Rule> = v.denials.iter().map(|d| d.rule).collect();
        assert_eq!(
            r,
            vec![
                Rule::OrdersRate,
                Rule::NotionalPerMinute,
                Rule::MaxOpenOrders
            ]
        );
        // Both count in the minute window until 70 s, not 64 s.
        let ids = Scope::Identity("bot".into());
        assert_eq!(s.notional_within(&ids, 69_999, 60_000), Decimal::from(100));
        assert_eq!(s.notional_within(&ids, 70_000, 60_000), Decimal::ZERO);
        // Both open until 40 s (TTL 30 s from the clock).
        assert_eq!(s.open_exposure(&ids, 39_999), (2, Decimal::from(100)));
        assert_eq!(s.open_exposure(&ids, 40_000), (0, Decimal::ZERO));
        let open: Vec<_> = s.open_orders(39_999).collect();
        assert_eq!(open.len(), 2);
        assert_eq!(open[0].notional(), Decimal::from(50));
        assert_eq!(open[1].client_id.as_deref(), Some("b"));
        assert_eq!((open[1].placed_ms, open[1].expires_ms), (10_000, 40_000));
        // Price age is judged against the clock, not an earlier `now`.
        let v = p.evaluate(&s, &req(&one, 0));
        assert!(v.denials.iter().all(|d| d.rule != Rule::PriceStale));
        s.update_price(&p, "feed", "ETH", "50".parse().unwrap(), 1_000)
            .unwrap(); // older: ignored
        assert_eq!(s.reference_price("ETH").unwrap().at_ms, 10_000);
    }

    #[test]
    fn replaying_the_same_calls_gives_the_same_state() {
        let p = policy(P);
        type Call = Box<dyn Fn(&mut PolicyState)>;
        let pp = p.clone();
        let calls: Vec<Call> = vec![
            Box::new({
                let p = p.clone();
                move |s| {
                    s.update_price(&p, "feed", "ETH", "50".parse().unwrap(), 1000)
                        .unwrap();
                }
            }),
            Box::new(move |s| s.commit(&pp, &req(&[eth("40", "a")], 1500))),
            Box::new(|s| {
                s.report_closed("hl", &OrderRef::Cloid("a".into()), 2000);
            }),
            Box::new({
                let p = p.clone();
                move |s| s.record_denial(&p, "bot", 2500)
            }),
            Box::new({
                let p = p.clone();
                move |s| s.commit(&p, &req(&[eth("45", "b"), eth("5", "c")], 3000))
            }),
        ];
        let mut live = PolicyState::default();
        let mut replayed = PolicyState::default();
        for c in &calls {
            c(&mut live);
        }
        for c in &calls {
            c(&mut replayed);
        }
        assert_eq!(live, replayed);
    }

    #[test]
    fn partial_replay_starts_buckets_empty() {
        let p = policy(P);
        let s = PolicyState::for_partial_replay(100_000);
        let one = [eth("1", "a")];
        let mut s2 = s.clone();
        s2.update_price(&p, "feed", "ETH", "1".parse().unwrap(), 100_000)
            .unwrap();
        let v = p.evaluate(&s2, &req(&one, 100_999));
        assert_eq!(v.denials[0].rule, Rule::OrdersRate);
        assert_eq!(v.retry_after_ms(), Some(1));
        assert!(p.evaluate(&s2, &req(&one, 101_000)).allowed());
        // Idle for the refill time (2 s): full.
        let two = [eth("1", "a"), eth("1", "b")];
        assert!(p.evaluate(&s2, &req(&two, 102_000)).allowed());
    }

    #[test]
    fn breaker_state_is_dropped_when_idle() {
        let p = policy(P);
        let mut s = PolicyState::default();
        s.record_denial(&p, "bot", 0);
        assert_eq!(s.breakers.len(), 1);
        s.record_denial(&p, "bot", 20_000);
        assert_eq!(s.breaker_open_until("bot", 20_000), None);
        s.record_denial(&p, "bot", 25_000);
        assert_eq!(s.breaker_open_until("bot", 25_000), Some(85_000));
        // An identity without a breaker keeps nothing.
        let q = policy("");
        s.record_denial(&q, "other", 0);
        assert!(!s.breakers.contains_key("other"));
    }
}
