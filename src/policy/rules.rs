//! The checks of a request: `Policy::evaluate` judges it against the
//! compiled limits (`limits`) and the state, reads the state and never
//! changes it; `PolicyState::commit` (in `state`) applies an allowed
//! request. One order's own checks are in `execution`.

use rust_decimal::Decimal;

use super::amount::{to_decimal, units_ceil, units_floor};
use super::batch::{Batch, Flow, Request};
use super::config::same_address;
use super::halts::HaltScope;
use super::limits::{DAY_MS, KeyRules, Policy, WINDOWS};
use super::state::PolicyState;
use super::verdict::{Denial, Rule, Scope, Verdict};
use crate::order::Intent;

impl Policy {
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
