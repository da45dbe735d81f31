//! The enforced policy, its state, and an optional shadow policy with a
//! state of its own, behind the few calls the agent makes.
//!
//! Live, the agent calls `decide` (under one lock, so that judging and
//! committing are atomic: a second request is judged against the first's
//! effects). `decide` commits an allowed request at once, before the
//! journal write: if that write then fails and the agent denies, the state
//! over-counts until the next start, which is the safe direction.
//!
//! At start, the agent replays each journaled decision with `replay`, which
//! applies the decision *as journaled* (it never re-judges: a request that
//! was signed is counted even if today's policy would deny it), and each
//! journaled price update and close report with `update_price` and
//! `report_closed`.
//!
//! Shadow mode: the shadow policy judges every request as if it were in
//! force and keeps its own state accordingly (it commits what *it* would
//! have allowed, counts the denials *it* would have made), so its verdicts
//! answer "what would this policy have done with the same traffic". It
//! never changes the enforced state and its verdict is never enforced.

use rust_decimal::Decimal;

use super::batch::Request;
use super::feeds::FeedError;
use super::halts::{Halt, HaltScope};
use super::limits::Policy;
use super::prices::RefPrice;
use super::state::PolicyState;
use super::verdict::Verdict;
use crate::order::{Intent, OrderRef};

/// What a key has used of its caps at a moment, and the caps (for metrics
/// and status; `None`: no such cap configured).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyUsage {
    pub open_orders: u64,
    pub open_notional: Decimal,
    pub notional_day: Decimal,
    pub max_open_orders: Option<u64>,
    pub max_open_notional: Option<Decimal>,
    pub max_notional_per_day: Option<Decimal>,
}

/// The enforced verdict and, with a shadow policy, the shadow's.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub verdict: Verdict,
    pub shadow: Option<Verdict>,
}

#[derive(Debug, Clone)]
pub struct Engine {
    policy: Policy,
    state: PolicyState,
    shadow_state: Option<PolicyState>,
}

impl Engine {
    /// A fresh engine (for a replay of the whole journal, or a first start).
    pub fn new(policy: Policy) -> Engine {
        Engine::with_state(policy, PolicyState::default())
    }

    /// An engine over a given state, e.g. `PolicyState::for_partial_replay`;
    /// the shadow starts from a copy of it.
    pub fn with_state(policy: Policy, state: PolicyState) -> Engine {
        let shadow_state = policy.shadow().map(|_| state.clone());
        Engine {
            policy,
            state,
            shadow_state,
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn state(&self) -> &PolicyState {
        &self.state
    }

    /// `key`'s use of its open-order and rolling-notional caps at `now_ms`
    /// (enforced policy and state).
    pub fn key_usage(&self, key: &str, now_ms: u64) -> KeyUsage {
        let rules = &self.policy.key(key).scope;
        let scope = super::Scope::Key(key.to_string());
        let (open_orders, open_notional) = self.state.open_exposure(&scope, now_ms);
        KeyUsage {
            open_orders,
            open_notional,
            notional_day: self.state.notional_within(&scope, now_ms, super::DAY_MS),
            max_open_orders: rules.max_open_orders,
            max_open_notional: rules.max_open_notional.as_ref().map(|c| c.value),
            max_notional_per_day: rules.caps[2].as_ref().map(|c| c.value),
        }
    }

    pub fn shadow_state(&self) -> Option<&PolicyState> {
        self.shadow_state.as_ref()
    }

    /// Judge a live request and apply the result: commit it if allowed,
    /// count it towards the identity's breaker if denied (unless the open
    /// breaker was the only reason). The shadow judges and applies its own
    /// verdict to its own state.
    pub fn decide(&mut self, req: &Request) -> Outcome {
        let verdict = self.policy.evaluate(&self.state, req);
        apply(
            &self.policy,
            &mut self.state,
            req,
            verdict.allowed(),
            verdict.feeds_breaker(),
        );
        let shadow = self.observe_shadow(req);
        Outcome { verdict, shadow }
    }

    /// Apply a journaled decision without judging it again: `allowed` as
    /// journaled; `feeds_breaker` for a denial, `rule_feeds_breaker(rule)`
    /// of its journaled rule. The shadow judges it afresh.
    pub fn replay(&mut self, req: &Request, allowed: bool, feeds_breaker: bool) {
        apply(&self.policy, &mut self.state, req, allowed, feeds_breaker);
        self.observe_shadow(req);
    }

    fn observe_shadow(&mut self, req: &Request) -> Option<Verdict> {
        let policy = self.policy.shadow()?;
        let state = self.shadow_state.as_mut()?;
        let v = policy.evaluate(state, req);
        apply(policy, state, req, v.allowed(), v.feeds_breaker());
        Some(v)
    }

    /// Count a denial decided outside policy (a request the agent refused
    /// before it reached policy) towards `identity`'s breaker, live or in a
    /// replay.
    pub fn record_denial(&mut self, identity: &str, now_ms: u64) {
        self.state.record_denial(&self.policy, identity, now_ms);
        if let (Some(p), Some(s)) = (self.policy.shadow(), self.shadow_state.as_mut()) {
            s.record_denial(p, identity, now_ms);
        }
    }

    /// Halt new risk in `scope`, in both states (live or in a replay).
    pub fn halt(&mut self, scope: HaltScope, halt: Halt) {
        if let Some(s) = self.shadow_state.as_mut() {
            s.halt(scope.clone(), halt.clone());
        }
        self.state.halt(scope, halt);
    }

    /// Lift the halt on `scope` in both states; whether there was one.
    pub fn resume(&mut self, scope: &HaltScope) -> bool {
        if let Some(s) = self.shadow_state.as_mut() {
            s.resume(scope);
        }
        self.state.resume(scope)
    }

    /// Take a price update from `feed` in both states (each under its own
    /// policy's feed checks); the enforced state's answer counts.
    pub fn update_price(
        &mut self,
        feed: &str,
        symbol: &str,
        price: Decimal,
        now_ms: u64,
    ) -> Result<Option<RefPrice>, FeedError> {
        if let (Some(p), Some(s)) = (self.policy.shadow(), self.shadow_state.as_mut()) {
            // The shadow keeps its own view; its refusals are its own.
            let _ = s.update_price(p, feed, symbol, price, now_ms);
        }
        self.state
            .update_price(&self.policy, feed, symbol, price, now_ms)
    }

    /// Give every market order in `intents` the worst price the policy
    /// assumes for it (see `Policy::price_market_orders`), before `decide`.
    /// The priced intents are what gets journaled, so a replay counts the
    /// same notional.
    pub fn price_market_orders(&self, key: &str, intents: &mut [Intent], now_ms: u64) {
        self.policy
            .price_market_orders(&self.state, key, intents, now_ms);
    }

    /// Stop counting an order as open, in both states; returns how many
    /// enforced entries closed.
    pub fn report_closed(&mut self, key: &str, order: &OrderRef, now_ms: u64) -> usize {
        if let Some(s) = self.shadow_state.as_mut() {
            s.report_closed(key, order, now_ms);
        }
        self.state.report_closed(key, order, now_ms)
    }

    /// Replace the policy (an operator's reload), keeping the state: what
    /// has been committed stays counted under the new limits. A shadow that
    /// appears starts from a copy of the enforced state; one that goes away
    /// is dropped.
    pub fn reload(&mut self, policy: Policy) {
        self.shadow_state = match (policy.shadow(), self.shadow_state.take()) {
            (None, _) => None,
            (Some(_), Some(s)) => Some(s),
            (Some(_), None) => Some(self.state.clone()),
        };
        self.policy = policy;
    }
}

fn apply(policy: &Policy, state: &mut PolicyState, req: &Request, allowed: bool, feeds: bool) {
    if allowed {
        state.commit(policy, req);
    } else if feeds {
        state.record_denial(policy, req.identity, req.now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{Intent, NewOrder, Side};
    use crate::policy::{PolicyConfig, Rule, Scope};

    fn eth(price: u32) -> Intent {
        Intent::Place(NewOrder::limit(
            "ETH",
            Side::Sell,
            Decimal::ONE,
            price.into(),
        ))
    }

    fn req(intents: &[Intent], now: u64) -> Request<'_> {
        Request {
            identity: "bot",
            key: "hl",
            intents,
            now_ms: now,
        }
    }

    const P: &str = r#"
[identity_defaults]
max_notional_per_minute = "100"
breaker = { denials = 2, window_ms = 60000, cooldown_ms = 60000 }
[keys.hl.symbols.ETH]

[shadow.identity_defaults]
max_notional_per_minute = "50"
breaker = { denials = 2, window_ms = 60000, cooldown_ms = 60000 }
[shadow.keys.hl.symbols.ETH]
"#;

    fn engine() -> Engine {
        Engine::new(Policy::from_config(PolicyConfig::parse(P).unwrap()).unwrap())
    }

    fn rules(v: &Verdict) -> Vec<Rule> {
        v.denials.iter().map(|d| d.rule).collect()
    }

    #[test]
    fn shadow_judges_without_enforcing() {
        let mut e = engine();
        let ids = Scope::Identity("bot".into());
        // 40: both allow.
        let o = e.decide(&req(&[eth(40)], 0));
        assert!(o.verdict.allowed() && o.shadow.as_ref().unwrap().allowed());
        // 40 more: enforced allows (80 <= 100), shadow would deny (80 > 50)
        // and so does not count it.
        let o = e.decide(&req(&[eth(40)], 1));
        assert!(o.verdict.allowed());
        assert_eq!(
            rules(o.shadow.as_ref().unwrap()),
            vec![Rule::NotionalPerMinute]
        );
        assert_eq!(
            e.state().notional_within(&ids, 1, 60_000),
            Decimal::from(80)
        );
        let shadow = e.shadow_state().unwrap();
        assert_eq!(shadow.notional_within(&ids, 1, 60_000), Decimal::from(40));
        // The shadow's own denial fed the shadow's breaker only.
        assert_eq!(e.state().breaker_open_until("bot", 1), None);
        let o = e.decide(&req(&[eth(40)], 2));
        assert_eq!(rules(&o.verdict), vec![Rule::NotionalPerMinute]);
        assert_eq!(
            rules(o.shadow.as_ref().unwrap()),
            vec![Rule::NotionalPerMinute]
        );
        // Second shadow denial: the shadow's breaker opened; the enforced
        // one has seen one denial only.
        assert_eq!(
            e.shadow_state().unwrap().breaker_open_until("bot", 2),
            Some(60_002)
        );
        assert_eq!(e.state().breaker_open_until("bot", 2), None);
        let o = e.decide(&req(&[eth(1)], 3));
        assert!(o.verdict.allowed());
        assert_eq!(rules(o.shadow.as_ref().unwrap()), vec![Rule::BreakerOpen]);
    }

    #[test]
    fn replay_applies_decisions_as_journaled() {
        let mut live = engine();
        let log: Vec<(Vec<Intent>, u64)> = vec![
            (vec![eth(40)], 0),
            (vec![eth(40)], 10),
            (vec![eth(40)], 20),
            (vec![eth(1)], 30),
            (vec![eth(200)], 40),
            (vec![eth(30)], 61_000),
        ];
        let mut journal = Vec::new();
        for (intents, t) in &log {
            let o = live.decide(&req(intents, *t));
            journal.push((
                intents.clone(),
                *t,
                o.verdict.allowed(),
                o.verdict.rule().map(Rule::code),
            ));
        }
        let mut rebuilt = engine();
        for (intents, t, allowed, rule) in &journal {
            rebuilt.replay(
                &req(intents, *t),
                *allowed,
                rule.is_some_and(crate::policy::rule_feeds_breaker),
            );
        }
        assert_eq!(live.state(), rebuilt.state());
        assert_eq!(live.shadow_state(), rebuilt.shadow_state());

        // A replay under a tightened policy still counts what was signed.
        let tight = Policy::from_config(
            PolicyConfig::parse(
                "[identity_defaults]\nmax_notional_per_minute = \"10\"\n[keys.hl.symbols.ETH]",
            )
            .unwrap(),
        )
        .unwrap();
        let mut e = Engine::new(tight);
        e.replay(&req(&[eth(40)], 0), true, false);
        let ids = Scope::Identity("bot".into());
        assert_eq!(
            e.state().notional_within(&ids, 0, 60_000),
            Decimal::from(40)
        );
        assert_eq!(e.shadow_state(), None);
    }

    #[test]
    fn reload_keeps_state() {
        let mut e = engine();
        e.decide(&req(&[eth(90)], 0));
        let looser = Policy::from_config(
            PolicyConfig::parse(
                "[identity_defaults]\nmax_notional_per_minute = \"95\"\n[keys.hl.symbols.ETH]",
            )
            .unwrap(),
        )
        .unwrap();
        e.reload(looser);
        assert!(e.shadow_state().is_none());
        assert_eq!(
            rules(&e.decide(&req(&[eth(6)], 1)).verdict),
            vec![Rule::NotionalPerMinute]
        );
        assert!(e.decide(&req(&[eth(5)], 1)).verdict.allowed());
        e.reload(Policy::from_config(PolicyConfig::parse(P).unwrap()).unwrap());
        assert_eq!(e.shadow_state(), Some(e.state()));
    }

    #[test]
    fn halts_deny_new_risk_but_not_reducers_and_never_feed_the_breaker() {
        use crate::order::OrderRef;
        let mut e = engine();
        let cancel = Intent::Cancel {
            symbol: "ETH".into(),
            order: OrderRef::Oid(1),
        };
        let halt = |r| Halt {
            reason: "test".into(),
            reducing_allowed: r,
            since_ms: 1,
        };
        e.halt(HaltScope::Identity("bot".into()), halt(true));
        for t in 0..5 {
            let v = e.decide(&req(&[eth(5)], 10 + t)).verdict;
            assert_eq!(rules(&v), vec![Rule::Halted]);
            assert!(!v.feeds_breaker());
        }
        // Five denials, yet the breaker (2 denials) stayed closed.
        assert_eq!(e.state().breaker_open_until("bot", 20), None);
        assert!(
            e.decide(&req(std::slice::from_ref(&cancel), 20))
                .verdict
                .allowed()
        );
        // A key halt that lets nothing through, the shadow halted alike.
        e.halt(HaltScope::Key("hl".into()), halt(false));
        let v = e.decide(&req(std::slice::from_ref(&cancel), 21)).verdict;
        assert_eq!(v.denials[0].scope, Scope::Key("hl".into()));
        assert_eq!(e.shadow_state().unwrap().halts(), e.state().halts());
        assert!(e.resume(&HaltScope::Key("hl".into())));
        assert!(e.resume(&HaltScope::Identity("bot".into())));
        assert!(!e.resume(&HaltScope::All));
        assert!(e.decide(&req(&[eth(5)], 22)).verdict.allowed());
    }
}
