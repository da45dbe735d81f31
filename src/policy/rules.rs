//! The compiled policy and its one question: may this request be signed,
//! given this state? `Policy::evaluate` reads the state and never changes
//! it; `PolicyState::commit` (in `state`) applies an allowed request.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::amount::{to_decimal, units_ceil, units_floor};
use super::batch::{Batch, Flow, Request};
use super::config::{
    ANY_SYMBOL, ApprovalAllowance, BreakerConfig, DEFAULT_MAX_ORDERS_PER_REQUEST,
    DEFAULT_OPEN_ORDER_TTL_MS, DEFAULT_PRICE_MAX_AGE_MS, FeeAllowance, IdentityLimits, KeyLimits,
    PolicyConfig, RateConfig, SymbolLimits, TransferAllowance, address_key, refill_ms,
    same_address,
};
use super::halts::HaltScope;
use super::state::PolicyState;
use super::verdict::{Denial, Rule, Scope, Verdict};
use super::{DAY_MS, WINDOWS};
use crate::order::Intent;

/// A money limit, as configured and in units (rounded down).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cap {
    pub value: Decimal,
    pub units: i128,
}

impl Cap {
    fn new(value: Option<Decimal>) -> Option<Cap> {
        value.map(|value| Cap {
            value,
            units: units_floor(value),
        })
    }
}

/// The limits an identity and a key share.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScopeRules {
    pub orders_rate: Option<RateConfig>,
    pub cancels_rate: Option<RateConfig>,
    /// Per minute, hour, day (as `WINDOWS`).
    pub caps: [Option<Cap>; 3],
    pub max_open_orders: Option<u64>,
    pub max_open_notional: Option<Cap>,
}

impl ScopeRules {
    pub fn rate(&self, flow: Flow) -> Option<&RateConfig> {
        match flow {
            Flow::Orders => self.orders_rate.as_ref(),
            Flow::Cancels => self.cancels_rate.as_ref(),
        }
    }

    fn horizon_ms(&self) -> u64 {
        [&self.orders_rate, &self.cancels_rate]
            .into_iter()
            .flatten()
            .map(refill_ms)
            .max()
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IdentityRules {
    pub scope: ScopeRules,
    pub reduce_only: bool,
    pub breaker: Option<BreakerConfig>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeyRules {
    pub scope: ScopeRules,
    pub max_order_notional: Option<Decimal>,
    pub max_leverage: Option<u32>,
    pub price_max_age_ms: u64,
    pub open_order_ttl_ms: u64,
    pub require_client_id: bool,
    pub max_orders_per_request: u32,
    pub symbols: BTreeMap<String, SymbolLimits>,
    pub transfers: Vec<TransferAllowance>,
    pub approvals: Vec<ApprovalAllowance>,
    pub fees: Vec<FeeAllowance>,
}

impl KeyRules {
    pub(crate) fn symbol(&self, symbol: &str) -> Option<&SymbolLimits> {
        self.symbols
            .get(symbol)
            .or_else(|| self.symbols.get(ANY_SYMBOL))
    }

    fn transfer(&self, destination_key: &str, asset: &str) -> Option<&TransferAllowance> {
        self.transfers
            .iter()
            .find(|t| address_key(&t.destination) == destination_key && t.asset == asset)
    }
}

/// A validated, compiled `[policy]`: per identity and per key rules with the
/// defaults already merged in. Immutable; replace it to reload.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    config: PolicyConfig,
    identity_defaults: IdentityRules,
    identities: BTreeMap<String, IdentityRules>,
    key_defaults: KeyRules,
    keys: BTreeMap<String, KeyRules>,
    shadow: Option<Box<Policy>>,
}

fn identity_rules(d: &IdentityLimits, own: Option<&IdentityLimits>) -> IdentityRules {
    let o = own.cloned().unwrap_or_default();
    let d = d.clone();
    IdentityRules {
        scope: ScopeRules {
            orders_rate: o.orders_rate.or(d.orders_rate),
            cancels_rate: o.cancels_rate.or(d.cancels_rate),
            caps: [
                Cap::new(o.max_notional_per_minute.or(d.max_notional_per_minute)),
                Cap::new(o.max_notional_per_hour.or(d.max_notional_per_hour)),
                Cap::new(o.max_notional_per_day.or(d.max_notional_per_day)),
            ],
            max_open_orders: o.max_open_orders.or(d.max_open_orders).map(u64::from),
            max_open_notional: Cap::new(o.max_open_notional.or(d.max_open_notional)),
        },
        reduce_only: o.reduce_only.or(d.reduce_only).unwrap_or(false),
        breaker: o.breaker.or(d.breaker),
    }
}

fn key_rules(d: &KeyLimits, own: Option<&KeyLimits>) -> KeyRules {
    let o = own.cloned().unwrap_or_default();
    let d = d.clone();
    KeyRules {
        scope: ScopeRules {
            orders_rate: o.orders_rate.or(d.orders_rate),
            cancels_rate: o.cancels_rate.or(d.cancels_rate),
            caps: [
                Cap::new(o.max_notional_per_minute.or(d.max_notional_per_minute)),
                Cap::new(o.max_notional_per_hour.or(d.max_notional_per_hour)),
                Cap::new(o.max_notional_per_day.or(d.max_notional_per_day)),
            ],
            max_open_orders: o.max_open_orders.or(d.max_open_orders).map(u64::from),
            max_open_notional: Cap::new(o.max_open_notional.or(d.max_open_notional)),
        },
        max_order_notional: o.max_order_notional.or(d.max_order_notional),
        max_leverage: o.max_leverage.or(d.max_leverage),
        price_max_age_ms: o
            .price_max_age_ms
            .or(d.price_max_age_ms)
            .unwrap_or(DEFAULT_PRICE_MAX_AGE_MS),
        open_order_ttl_ms: o
            .open_order_ttl_ms
            .or(d.open_order_ttl_ms)
            .unwrap_or(DEFAULT_OPEN_ORDER_TTL_MS),
        require_client_id: o.require_client_id.or(d.require_client_id).unwrap_or(false),
        max_orders_per_request: o
            .max_orders_per_request
            .or(d.max_orders_per_request)
            .unwrap_or(DEFAULT_MAX_ORDERS_PER_REQUEST),
        symbols: o.symbols.or(d.symbols).unwrap_or_default(),
        transfers: o.transfers,
        approvals: o.approvals,
        fees: o.fees,
    }
}

impl Policy {
    /// Validate and compile a `[policy]` section (and its shadow, if any).
    pub fn from_config(config: PolicyConfig) -> Result<Policy, String> {
        config.validate()?;
        Ok(Policy::compile(config))
    }

    fn compile(config: PolicyConfig) -> Policy {
        let identity_defaults = identity_rules(&config.identity_defaults, None);
        let identities = config
            .identities
            .iter()
            .map(|(n, l)| {
                (
                    n.clone(),
                    identity_rules(&config.identity_defaults, Some(l)),
                )
            })
            .collect();
        let key_defaults = key_rules(&config.key_defaults, None);
        let keys = config
            .keys
            .iter()
            .map(|(k, l)| (k.clone(), key_rules(&config.key_defaults, Some(l))))
            .collect();
        let shadow = config
            .shadow
            .as_ref()
            .map(|s| Box::new(Policy::compile((**s).clone())));
        Policy {
            config,
            identity_defaults,
            identities,
            key_defaults,
            keys,
            shadow,
        }
    }

    /// The configuration this policy was compiled from.
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// The shadow policy (`[policy.shadow]`), if configured.
    pub fn shadow(&self) -> Option<&Policy> {
        self.shadow.as_deref()
    }

    pub(crate) fn identity(&self, name: &str) -> &IdentityRules {
        self.identities.get(name).unwrap_or(&self.identity_defaults)
    }

    pub(crate) fn key(&self, alias: &str) -> &KeyRules {
        self.keys.get(alias).unwrap_or(&self.key_defaults)
    }

    /// How far back the journal must be replayed for the rebuilt state to
    /// be exact for windows, open orders and breakers (and no looser than
    /// the original for token buckets, see `PolicyState::for_partial_replay`):
    /// the longest of one day, any open-order TTL, any breaker window plus
    /// cool-down and any bucket's refill time, in this policy or its shadow.
    pub fn replay_horizon_ms(&self) -> u64 {
        let ids = std::iter::once(&self.identity_defaults).chain(self.identities.values());
        let keys = std::iter::once(&self.key_defaults).chain(self.keys.values());
        let mut h = DAY_MS;
        for i in ids {
            h = h.max(i.scope.horizon_ms());
            if let Some(b) = &i.breaker {
                h = h.max(b.window_ms.saturating_add(b.cooldown_ms));
            }
        }
        for k in keys {
            h = h.max(k.scope.horizon_ms()).max(k.open_order_ttl_ms);
        }
        if let Some(s) = &self.shadow {
            h = h.max(s.replay_horizon_ms());
        }
        h
    }

    /// Judge a request against `state` without changing it. A batch is
    /// judged as a whole: every intent must pass its own checks and the
    /// batch's totals must fit every rate, cap and count.
    pub fn evaluate(&self, state: &PolicyState, req: &Request) -> Verdict {
        let ids = Scope::Identity(req.identity.to_string());
        let ks = Scope::Key(req.key.to_string());
        let ir = self.identity(req.identity);
        let kr = self.key(req.key);
        // The state's time never runs backwards (see `state`).
        let now = state.clock_at(req.now_ms);
        let mut out = Vec::new();

        if req.intents.is_empty() {
            out.push(Denial::new(Rule::EmptyRequest, ks));
            return Verdict { denials: out };
        }
        let orders = req
            .intents
            .iter()
            .filter(|i| matches!(i, Intent::Place(_) | Intent::Modify { .. }))
            .count();
        if orders > kr.max_orders_per_request as usize {
            out.push(Denial::new(Rule::MaxOrdersPerRequest, ks.clone()).values(
                Some(Decimal::from(kr.max_orders_per_request)),
                Some(Decimal::from(orders)),
            ));
            // Judging each of a hostile batch's orders would only make the
            // verdict (and its journal record) as large as the batch.
            return Verdict { denials: out };
        }
        if ir.reduce_only {
            for (i, it) in req.intents.iter().enumerate() {
                if !it.reduces_risk() {
                    out.push(Denial::new(Rule::ReduceOnly, ids.clone()).intent(i));
                }
            }
        }
        for (i, it) in req.intents.iter().enumerate() {
            self.check_intent(state, kr, &ks, i, it, now, &mut out);
        }

        let batch = Batch::of(req.intents);
        let scopes = [(&ids, &ir.scope), (&ks, &kr.scope)];
        for (scope, rules) in scopes {
            for (flow, rule, n) in [
                (Flow::Orders, Rule::OrdersRate, batch.orders),
                (Flow::Cancels, Rule::CancelsRate, batch.cancels),
            ] {
                let Some(cfg) = rules.rate(flow) else {
                    continue;
                };
                if n == 0 {
                    continue;
                }
                if let Err(s) = state.bucket(scope, flow, cfg, now).check(cfg, now, n) {
                    out.push(
                        Denial::new(rule, scope.clone())
                            .values(Some(s.available), Some(Decimal::from(n)))
                            .retry(s.retry_after_ms),
                    );
                }
            }
        }
        if batch.opening_units > 0 {
            for (scope, rules) in scopes {
                let window = state.window(scope);
                for ((rule, span), cap) in WINDOWS.iter().zip(&rules.caps) {
                    let Some(cap) = cap else { continue };
                    let sum = window.map_or(0, |w| w.sum(now, *span));
                    let total = sum.saturating_add(batch.opening_units);
                    if total > cap.units {
                        let retry = match window {
                            Some(w) => w.retry_after(now, *span, cap.units, batch.opening_units),
                            None => None,
                        };
                        out.push(
                            Denial::new(*rule, scope.clone())
                                .values(Some(cap.value), Some(to_decimal(total)))
                                .retry(retry),
                        );
                    }
                }
            }
        }
        if !batch.opening.is_empty() {
            let n = batch.opening.len() as u64;
            for (scope, rules) in scopes {
                let open = state.open_book();
                let tally = open.tally(scope, now);
                if let Some(max) = rules.max_open_orders
                    && tally.count + n > max
                {
                    let excess = i128::from(tally.count + n - max);
                    let retry = if n > max {
                        None
                    } else {
                        open.retry_after(scope, now, excess, |_| 1)
                    };
                    out.push(
                        Denial::new(Rule::MaxOpenOrders, scope.clone())
                            .values(
                                Some(Decimal::from(max)),
                                Some(Decimal::from(tally.count + n)),
                            )
                            .retry(retry),
                    );
                }
                if let Some(cap) = &rules.max_open_notional {
                    let total = tally.notional.saturating_add(batch.opening_units);
                    if total > cap.units {
                        let retry = if batch.opening_units > cap.units {
                            None
                        } else {
                            open.retry_after(scope, now, total - cap.units, |o| o.notional_units)
                        };
                        out.push(
                            Denial::new(Rule::MaxOpenNotional, scope.clone())
                                .values(Some(cap.value), Some(to_decimal(total)))
                                .retry(retry),
                        );
                    }
                }
            }
        }
        for ((dest, asset), units) in &batch.transfers {
            // Transfers without an allowance were denied above.
            let Some(allow) = kr.transfer(dest, asset) else {
                continue;
            };
            let cap = units_floor(allow.max_per_day);
            let window = state.transfer_window(req.key, dest, asset);
            let sum = window.map_or(0, |w| w.sum(now, DAY_MS));
            let total = sum.saturating_add(*units);
            if total > cap {
                let retry = window.and_then(|w| w.retry_after(now, DAY_MS, cap, *units));
                out.push(
                    Denial::new(Rule::TransferPerDay, ks.clone())
                        .subject(&allow.destination)
                        .values(Some(allow.max_per_day), Some(to_decimal(total)))
                        .retry(retry),
                );
            }
        }
        // Halts and the breaker come last, so that `Verdict::rule()` names
        // them only when they are the only reasons (neither feeds the
        // breaker; see `Verdict::feeds_breaker`).
        for (scope, halt) in state.halts().covering(req.identity, req.key) {
            let denial_scope = match scope {
                HaltScope::Key(k) => Scope::Key(k.clone()),
                _ => ids.clone(),
            };
            for (i, it) in req.intents.iter().enumerate() {
                if !(halt.reducing_allowed && it.reduces_risk()) {
                    out.push(
                        Denial::new(Rule::Halted, denial_scope.clone())
                            .intent(i)
                            .subject(&format!("{scope}: {}", halt.reason)),
                    );
                }
            }
        }
        if ir.breaker.is_some()
            && let Some(until) = state.breaker_open_until(req.identity, now)
            && !req.intents.iter().all(Intent::reduces_risk)
        {
            out.push(Denial::new(Rule::BreakerOpen, ids).retry(Some(until - now)));
        }
        Verdict { denials: out }
    }

    #[allow(clippy::too_many_arguments)]
    fn check_intent(
        &self,
        state: &PolicyState,
        kr: &KeyRules,
        ks: &Scope,
        i: usize,
        intent: &Intent,
        now: u64,
        out: &mut Vec<Denial>,
    ) {
        let deny = |rule: Rule| Denial::new(rule, ks.clone()).intent(i);
        match intent {
            Intent::Place(o) | Intent::Modify { new: o, .. } => {
                self.check_order(state, kr, ks, i, o, now, out)
            }
            Intent::Cancel { .. } | Intent::ScheduleCancel { .. } | Intent::InvalidateNonce => {}
            Intent::SetLeverage {
                symbol, leverage, ..
            } => {
                let Some(sl) = kr.symbol(symbol) else {
                    out.push(deny(Rule::SymbolNotAllowed).subject(symbol));
                    return;
                };
                let max = sl.max_leverage.or(kr.max_leverage);
                if *leverage == 0 || max.is_none_or(|m| *leverage > m) {
                    out.push(
                        deny(Rule::MaxLeverage)
                            .subject(symbol)
                            .values(max.map(Decimal::from), Some(Decimal::from(*leverage))),
                    );
                }
            }
            Intent::AdjustMargin { symbol, .. } => {
                if kr.symbol(symbol).is_none() {
                    out.push(deny(Rule::SymbolNotAllowed).subject(symbol));
                }
            }
            Intent::Transfer {
                kind,
                destination,
                asset,
                amount,
            } => {
                let allow = kr
                    .transfers
                    .iter()
                    .find(|t| same_address(&t.destination, destination) && t.asset == *asset);
                let Some(allow) = allow.filter(|t| t.kinds.is_empty() || t.kinds.contains(kind))
                else {
                    out.push(deny(Rule::TransferNotAllowed).subject(destination));
                    return;
                };
                if *amount <= Decimal::ZERO || units_ceil(*amount).is_none() {
                    out.push(
                        deny(Rule::InvalidOrder)
                            .subject(destination)
                            .values(None, Some(*amount)),
                    );
                } else if *amount > allow.max_amount {
                    out.push(
                        deny(Rule::TransferAmount)
                            .subject(destination)
                            .values(Some(allow.max_amount), Some(*amount)),
                    );
                }
            }
            Intent::Approve { kind, grantee } => {
                let ok = kr.approvals.iter().any(|a| {
                    same_address(&a.grantee, grantee)
                        && (a.kinds.is_empty() || a.kinds.contains(kind))
                });
                if !ok {
                    out.push(deny(Rule::ApprovalNotAllowed).subject(grantee));
                }
            }
        }
    }
}
