//! One order's own checks: what it may execute at and what it costs. Every
//! price at which the order can execute (its limit price, its trigger price,
//! and for a market order the worst price policy assumes) is banded around
//! the reference; its notional is taken at the highest of them (or is its
//! quote size); fees beyond the venue's own need an allowance.
//!
//! Market orders have no price of their own. Before judging, the agent asks
//! `Policy::price_market_orders` to give each one the worst price policy
//! assumes, reference × (1 + the symbol's `max_slippage`); the priced intent
//! is judged and journaled, so a replay counts the same notional without
//! the reference price (which is not journaled).

use rust_decimal::Decimal;

use super::amount::units_ceil;
use super::config::{SymbolLimits, same_address};
use super::limits::{KeyRules, Policy};
use super::prices::{RefPrice, band_edge, within_band};
use super::state::PolicyState;
use super::verdict::{Denial, Rule, Scope};
use crate::order::{Intent, NewOrder};

/// The symbol's fresh reference price, or the denial (of intent `i`, in
/// scope `ks`) that says why there is none: missing, or older than the
/// symbol's maximum age.
fn fresh_reference(
    state: &PolicyState,
    (kr, ks): (&KeyRules, &Scope),
    sl: &SymbolLimits,
    (symbol, i): (&str, usize),
    now: u64,
) -> Result<RefPrice, Box<Denial>> {
    let feed = sl.reference.as_deref().unwrap_or(symbol);
    let deny = |rule: Rule| Denial::new(rule, ks.clone()).intent(i).subject(feed);
    let Some(reference) = state.reference_price(feed) else {
        return Err(Box::new(deny(Rule::PriceMissing)));
    };
    let max_age = sl.price_max_age_ms.unwrap_or(kr.price_max_age_ms);
    let age = now.saturating_sub(reference.at_ms);
    if age > max_age {
        return Err(Box::new(
            deny(Rule::PriceStale).values(Some(Decimal::from(max_age)), Some(Decimal::from(age))),
        ));
    }
    Ok(reference)
}

impl Policy {
    /// Give each market order (neither a limit nor a trigger price) the
    /// worst price policy assumes for it, reference × (1 + max_slippage),
    /// where the symbol allows market orders and a fresh reference exists;
    /// otherwise leave it unpriced, which `evaluate` denies with the reason.
    /// Any price a caller put there is replaced: only policy sets it.
    pub fn price_market_orders(
        &self,
        state: &PolicyState,
        key: &str,
        intents: &mut [Intent],
        now_ms: u64,
    ) {
        let kr = self.key(key);
        let ks = Scope::Key(key.to_string());
        let now = state.clock_at(now_ms);
        for intent in intents.iter_mut() {
            let (Intent::Place(o) | Intent::Modify { new: o, .. }) = intent else {
                continue;
            };
            o.market_price = None;
            if !o.is_market() {
                continue;
            }
            let Some(sl) = kr.symbol(&o.symbol) else {
                continue;
            };
            let Some(slip) = sl.max_slippage else {
                continue;
            };
            if let Ok(r) = fresh_reference(state, (kr, &ks), sl, (&o.symbol, 0), now) {
                o.market_price = r.price.checked_mul(Decimal::ONE + slip);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn check_order(
        &self,
        state: &PolicyState,
        kr: &KeyRules,
        ks: &Scope,
        i: usize,
        o: &NewOrder,
        now: u64,
        out: &mut Vec<Denial>,
    ) {
        let deny = |rule: Rule| Denial::new(rule, ks.clone()).intent(i).subject(&o.symbol);
        let Some(sl) = kr.symbol(&o.symbol) else {
            out.push(deny(Rule::SymbolNotAllowed));
            return;
        };
        let positive = |v: Option<Decimal>| v.is_none_or(|v| v > Decimal::ZERO);
        let sized = match (o.size, o.quote_size) {
            (Some(s), None) => s > Decimal::ZERO,
            (None, Some(q)) => q > Decimal::ZERO,
            _ => false,
        };
        if !sized || !positive(o.price) || !positive(o.trigger_price) || !positive(o.market_price) {
            out.push(deny(Rule::InvalidOrder).values(None, o.size.or(o.quote_size)));
            return;
        }
        self.check_fees(kr, ks, i, o, out);
        if kr.require_client_id
            && !o.reduce_only
            && o.client_id.as_deref().is_none_or(str::is_empty)
        {
            out.push(deny(Rule::ClientIdRequired));
        }
        if o.is_market() && sl.max_slippage.is_none() {
            out.push(deny(Rule::MarketOrder));
            return;
        }
        let band = if o.aggressive {
            sl.aggressive_price_band.or(sl.price_band)
        } else {
            sl.price_band
        };
        let reference = if band.is_some() || o.is_market() {
            match fresh_reference(state, (kr, ks), sl, (&o.symbol, i), now) {
                Ok(r) => Some(r),
                Err(d) => {
                    out.push(*d);
                    return;
                }
            }
        } else {
            None
        };
        if o.is_market() && o.market_price.is_none() {
            // A fresh reference exists but the order was never priced:
            // judged as if the price were missing (fail closed).
            out.push(deny(Rule::PriceMissing));
            return;
        }
        let Some(notional) = o.notional().filter(|n| units_ceil(*n).is_some()) else {
            out.push(deny(Rule::InvalidOrder).values(None, o.size.or(o.quote_size)));
            return;
        };
        if let Some(max) = sl.max_size
            && let Some(size) = o.base_size()
            && size > max
        {
            out.push(deny(Rule::MaxOrderSize).values(Some(max), Some(size.round_dp(8))));
        }
        for max in [sl.max_notional, kr.max_order_notional]
            .into_iter()
            .flatten()
        {
            if notional > max {
                out.push(deny(Rule::MaxOrderNotional).values(Some(max), Some(notional)));
            }
        }
        let (Some(band), Some(reference)) = (band, reference) else {
            return;
        };
        let edge = band_edge(o.side, reference.price, band);
        // A market order can execute anywhere up to its slippage.
        let market_worst = o
            .is_market()
            .then(|| {
                sl.max_slippage
                    .map(|s| band_edge(o.side, reference.price, s))
            })
            .flatten();
        for p in o
            .price
            .into_iter()
            .chain(o.trigger_price)
            .chain(market_worst)
        {
            if !within_band(o.side, p, edge) {
                out.push(deny(Rule::PriceBand).values(Some(edge), Some(p)));
            }
        }
    }

    /// Fees beyond the venue's own: default deny; an allowance names the
    /// kind, the payee and the largest rate.
    fn check_fees(&self, kr: &KeyRules, ks: &Scope, i: usize, o: &NewOrder, out: &mut Vec<Denial>) {
        for fee in &o.fees {
            let deny = |rule: Rule| Denial::new(rule, ks.clone()).intent(i).subject(&fee.payee);
            let allow = kr
                .fees
                .iter()
                .find(|a| a.kind == fee.kind && same_address(&a.payee, &fee.payee));
            let Some(allow) = allow else {
                out.push(deny(Rule::FeeNotAllowed));
                continue;
            };
            if fee.rate.is_sign_negative() || fee.rate > allow.max_rate {
                out.push(deny(Rule::FeeRate).values(Some(allow.max_rate), Some(fee.rate)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use crate::order::{Fee, Intent, NewOrder, Side};
    use crate::policy::{Policy, PolicyConfig, PolicyState, Request, Rule, Verdict};

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    const P: &str = r#"
[keys.hl]
max_order_notional = "10000"
max_orders_per_request = 3
fees = [{ kind = "builder", payee = "0xAbC0000000000000000000000000000000000001", max_rate = "0.0005" }]
[keys.hl.symbols.BTC]
price_band = "0.02"
aggressive_price_band = "0.01"
max_size = "2"
max_slippage = "0.005"
[keys.hl.symbols.ETH]
max_notional = "1000"
[keys.other.symbols.BTC]
"#;

    fn policy() -> Policy {
        Policy::from_config(PolicyConfig::parse(P).unwrap()).unwrap()
    }

    /// A state with BTC's reference at 1000 as of t = 10 000.
    fn state(p: &Policy) -> PolicyState {
        let mut s = PolicyState::default();
        s.update_price(p, "feed", "BTC", d("1000"), 10_000).unwrap();
        s
    }

    fn judge(p: &Policy, s: &PolicyState, intents: &[Intent], now: u64) -> Verdict {
        let mut intents = intents.to_vec();
        p.price_market_orders(s, "hl", &mut intents, now);
        p.evaluate(
            s,
            &Request {
                identity: "bot",
                key: "hl",
                intents: &intents,
                now_ms: now,
            },
        )
    }

    fn rules(v: &Verdict) -> Vec<Rule> {
        v.denials.iter().map(|d| d.rule).collect()
    }

    fn place(o: NewOrder) -> Intent {
        Intent::Place(o)
    }

    fn limit(symbol: &str, side: Side, size: &str, price: &str) -> NewOrder {
        NewOrder::limit(symbol, side, d(size), d(price))
    }

    fn trigger(side: Side, limit_px: &str, trigger_px: &str) -> NewOrder {
        NewOrder {
            trigger_price: Some(d(trigger_px)),
            ..limit("BTC", side, "1", limit_px)
        }
    }

    fn market(side: Side, size: Option<&str>, quote: Option<&str>) -> NewOrder {
        NewOrder {
            size: size.map(d),
            quote_size: quote.map(d),
            price: None,
            aggressive: true,
            ..limit("BTC", side, "1", "1")
        }
    }

    #[test]
    fn every_execution_price_of_a_trigger_order_is_banded() {
        let (p, s) = (policy(), state(&policy()));
        let t = 10_000;
        // Band 2 %: buys up to 1020, sells down to 980.
        let cases: Vec<(&str, NewOrder, Vec<Rule>)> = vec![
            ("both inside", trigger(Side::Buy, "1020", "1019"), vec![]),
            (
                "limit 10x away, trigger inside",
                trigger(Side::Buy, "10200", "1000"),
                vec![Rule::MaxOrderNotional, Rule::PriceBand],
            ),
            (
                "trigger past the band, limit inside",
                trigger(Side::Buy, "1000", "1020.01"),
                vec![Rule::PriceBand],
            ),
            (
                "sell at the edge",
                trigger(Side::Sell, "980", "980"),
                vec![],
            ),
            (
                "sell limit below the edge",
                trigger(Side::Sell, "979.99", "990"),
                vec![Rule::PriceBand],
            ),
            (
                "market trigger: the aggressive band (1 %)",
                NewOrder {
                    aggressive: true,
                    ..trigger(Side::Buy, "1010", "1010.01")
                },
                vec![Rule::PriceBand],
            ),
        ];
        for (name, o, want) in cases {
            let v = judge(&p, &s, &[place(o)], t);
            assert_eq!(rules(&v), want, "{name}: {}", v.reason());
        }
        // Notional at the worst price: 2 × max(1020, 1000) = 2040.
        let o = NewOrder {
            size: Some(d("2")),
            ..trigger(Side::Buy, "1000", "1020")
        };
        assert_eq!(o.notional(), Some(d("2040")));
        let eth = NewOrder {
            trigger_price: Some(d("1001")),
            ..limit("ETH", Side::Sell, "1", "500")
        };
        let v = judge(&p, &s, &[place(eth)], t);
        assert_eq!(rules(&v), vec![Rule::MaxOrderNotional]);
        assert_eq!(v.denials[0].observed, Some(d("1001")));
    }

    #[test]
    fn market_orders_are_judged_at_the_reference_and_slippage() {
        let (p, s) = (policy(), state(&policy()));
        let t = 10_000;
        // 1000 × 1.005 = 1005 a unit: 9.95 units fit 10 000 (9999.75)...
        let mut intents = vec![place(market(Side::Buy, Some("1.99"), None))];
        p.price_market_orders(&s, "hl", &mut intents, t);
        let Intent::Place(o) = &intents[0] else {
            unreachable!()
        };
        assert_eq!(o.market_price, Some(d("1005.000")));
        assert_eq!(o.notional(), Some(d("1999.95")));
        assert!(judge(&p, &s, &intents, t).allowed());
        // ...the size limit (2) and the notional cap bind as for limits.
        let v = judge(&p, &s, &[place(market(Side::Buy, Some("2.01"), None))], t);
        assert_eq!(rules(&v), vec![Rule::MaxOrderSize]);
        // By quote amount: the amount is the notional.
        let v = judge(&p, &s, &[place(market(Side::Buy, None, Some("1990")))], t);
        assert!(v.allowed(), "{}", v.reason());
        let v = judge(
            &p,
            &s,
            &[place(market(Side::Buy, None, Some("10000.01")))],
            t,
        );
        assert_eq!(rules(&v), vec![Rule::MaxOrderSize, Rule::MaxOrderNotional]);
        // Missing, stale or unpriced: denied.
        let fresh = PolicyState::default();
        let v = judge(&p, &fresh, &[place(market(Side::Sell, Some("1"), None))], t);
        assert_eq!(rules(&v), vec![Rule::PriceMissing]);
        let v = judge(
            &p,
            &s,
            &[place(market(Side::Sell, Some("1"), None))],
            t + 10_001,
        );
        assert_eq!(rules(&v), vec![Rule::PriceStale]);
        let unpriced = [place(market(Side::Sell, Some("1"), None))];
        let v = p.evaluate(
            &s,
            &Request {
                identity: "bot",
                key: "hl",
                intents: &unpriced,
                now_ms: t,
            },
        );
        assert_eq!(rules(&v), vec![Rule::PriceMissing]);
        // A price a caller sets is replaced by policy's own.
        let mut forged = vec![place(NewOrder {
            market_price: Some(d("0.0001")),
            ..market(Side::Buy, Some("1"), None)
        })];
        p.price_market_orders(&s, "hl", &mut forged, t);
        let Intent::Place(o) = &forged[0] else {
            unreachable!()
        };
        assert_eq!(o.market_price, Some(d("1005.000")));
        // A symbol without max_slippage refuses market orders.
        let eth = NewOrder {
            symbol: "ETH".into(),
            ..market(Side::Buy, Some("1"), None)
        };
        assert_eq!(
            rules(&judge(&p, &s, &[place(eth)], t)),
            vec![Rule::MarketOrder]
        );
        // A slippage wider than the aggressive band can never pass.
        let wide = P.replace("max_slippage = \"0.005\"", "max_slippage = \"0.05\"");
        let wide = Policy::from_config(PolicyConfig::parse(&wide).unwrap()).unwrap();
        let s = state(&wide);
        let v = judge(&wide, &s, &[place(market(Side::Sell, Some("1"), None))], t);
        assert_eq!(rules(&v), vec![Rule::PriceBand]);
    }

    #[test]
    fn fees_need_an_allowance_and_stay_under_its_rate() {
        let (p, s) = (policy(), state(&policy()));
        let with_fee = |payee: &str, rate: &str| {
            place(NewOrder {
                fees: vec![Fee {
                    kind: "builder".into(),
                    payee: payee.into(),
                    rate: d(rate),
                }],
                ..limit("BTC", Side::Buy, "1", "1000")
            })
        };
        let ok = "0xabc0000000000000000000000000000000000001";
        let cases = [
            ("at the cap, any case", with_fee(ok, "0.0005"), vec![]),
            ("over the cap", with_fee(ok, "0.00051"), vec![Rule::FeeRate]),
            ("negative", with_fee(ok, "-0.0001"), vec![Rule::FeeRate]),
            (
                "unknown builder",
                with_fee("0xabc0000000000000000000000000000000000002", "0"),
                vec![Rule::FeeNotAllowed],
            ),
        ];
        for (name, i, want) in cases {
            let v = judge(&p, &s, &[i], 10_000);
            assert_eq!(rules(&v), want, "{name}: {}", v.reason());
        }
        // Another key has no fee allowance at all: default deny.
        let v = p.evaluate(
            &s,
            &Request {
                identity: "bot",
                key: "other",
                intents: &[with_fee(ok, "0")],
                now_ms: 10_000,
            },
        );
        assert_eq!(rules(&v), vec![Rule::FeeNotAllowed]);
    }

    #[test]
    fn most_orders_in_one_request() {
        let (p, s) = (policy(), state(&policy()));
        let o = || place(limit("BTC", Side::Buy, "0.1", "1000"));
        let cancel = Intent::Cancel {
            symbol: "BTC".into(),
            order: crate::order::OrderRef::Oid(1),
        };
        let three = vec![o(), o(), o(), cancel.clone()];
        assert!(judge(&p, &s, &three, 10_000).allowed());
        let four = vec![o(), o(), o(), o()];
        let v = judge(&p, &s, &four, 10_000);
        assert_eq!(rules(&v), vec![Rule::MaxOrdersPerRequest]);
        assert_eq!(
            (v.denials[0].limit, v.denials[0].observed),
            (Some(d("3")), Some(d("4")))
        );
        // The default for keys that set none.
        let other: Vec<Intent> = (0..51)
            .map(|_| place(limit("BTC", Side::Buy, "0.1", "1000")))
            .collect();
        let v = p.evaluate(
            &s,
            &Request {
                identity: "bot",
                key: "other",
                intents: &other,
                now_ms: 10_000,
            },
        );
        assert_eq!(rules(&v), vec![Rule::MaxOrdersPerRequest]);
        assert!(
            p.evaluate(
                &s,
                &Request {
                    identity: "bot",
                    key: "other",
                    intents: &other[..50],
                    now_ms: 10_000,
                },
            )
            .allowed()
        );
    }

    #[test]
    fn malformed_amounts_are_invalid() {
        let (p, s) = (policy(), state(&policy()));
        let both = NewOrder {
            quote_size: Some(d("1")),
            ..limit("BTC", Side::Buy, "1", "1000")
        };
        let neither = NewOrder {
            size: None,
            ..limit("BTC", Side::Buy, "1", "1000")
        };
        let negative_trigger = trigger(Side::Buy, "1000", "-1");
        let huge = limit("BTC", Side::Buy, "79228162514264337593543950335", "2");
        for o in [both, neither, negative_trigger, huge] {
            let v = judge(&p, &s, &[place(o.clone())], 10_000);
            assert_eq!(rules(&v), vec![Rule::InvalidOrder], "{o:?}");
        }
    }
}

#[cfg(test)]
mod config_tests {
    use crate::policy::{Policy, PolicyConfig};

    #[test]
    fn fee_slippage_and_batch_settings_are_validated() {
        let bad = [
            "[keys.k]\nmax_orders_per_request = 0\n",
            "[keys.k.symbols.BTC]\nmax_slippage = \"1\"\n",
            "[keys.k.symbols.BTC]\nmax_slippage = \"-0.1\"\n",
            "[[keys.k.fees]]\nkind = \"builder\"\npayee = \"0xab\"\nmax_rate = \"1\"\n",
            "[[keys.k.fees]]\nkind = \"\"\npayee = \"0xab\"\nmax_rate = \"0.1\"\n",
            "[[keys.k.fees]]\nkind = \"builder\"\npayee = \"0xAB\"\nmax_rate = \"0.1\"\n\
             [[keys.k.fees]]\nkind = \"builder\"\npayee = \"0xab\"\nmax_rate = \"0.2\"\n",
            "[[key_defaults.fees]]\nkind = \"builder\"\npayee = \"0xab\"\nmax_rate = \"0.1\"\n",
        ];
        for text in bad {
            let cfg = PolicyConfig::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(Policy::from_config(cfg).is_err(), "accepted: {text}");
        }
        assert!(PolicyConfig::parse("[[keys.k.fees]]\nkind = \"builder\"\npayee = \"0xab\"\nmax_rate = \"0.1\"\nextra = 1\n").is_err());
    }
}
