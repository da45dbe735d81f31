//! Property-style test of what one order may execute at: random sequences
//! of feed updates (honest walks, 10x jumps, crashes, out-of-quorum feeds)
//! and orders (limit, trigger with far limits, market by size and by quote
//! amount, builder fees, malformed amounts), checked against an
//! independent model: no allowed order has an execution price outside the
//! band around the reference in force, a notional above a cap, a fee not
//! allowed or above its rate; and the reference itself never moves more
//! than `max_move` from any reference accepted within the window.

// Test output: a failing seed is reported on stderr.
#![allow(clippy::print_stderr)]

use rust_decimal::Decimal;

use super::{Engine, FeedError, Policy, PolicyConfig, Request};
use crate::order::{Fee, Intent, NewOrder, Side};

use super::props::Rng;

impl Rng {
    /// A decimal within `base` × (1 ± spread %), two decimals.
    fn near(&mut self, base: Decimal, spread: u64) -> Decimal {
        let pct = Decimal::new(
            self.range(0, 2 * spread * 100) as i64 - (spread * 100) as i64,
            4,
        );
        (base * (Decimal::ONE + pct))
            .round_dp(2)
            .max(Decimal::new(1, 2))
    }
}

const POLICY: &str = r#"
[keys.k]
max_order_notional = "4000"
fees = [{ kind = "builder", payee = "0x00000000000000000000000000000000000000aa", max_rate = "0.0005" }]
[keys.k.symbols.BTC]
price_band = "0.02"
aggressive_price_band = "0.01"
max_slippage = "0.005"
max_size = "5"
max_notional = "5000"
price_max_age_ms = 5000
[price_feeds.defaults]
max_move = "0.05"
move_window_ms = 30000
quorum = 2
max_age_ms = 5000
rate = { burst = 5, per_sec = 2 }
"#;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

const BAND: &str = "0.02";
const AGGRESSIVE_BAND: &str = "0.01";
const SLIPPAGE: &str = "0.005";

fn random_order(rng: &mut Rng, truth: Decimal) -> NewOrder {
    let side = if rng.chance(50) {
        Side::Buy
    } else {
        Side::Sell
    };
    let size = Decimal::new(rng.range(1, 700) as i64, 2);
    let mut o = NewOrder::limit("BTC", side, size, rng.near(truth, 4));
    o.aggressive = rng.chance(30);
    match rng.range(0, 9) {
        // A trigger order; its limit sometimes far (up to 10x) away.
        0..=2 => {
            o.trigger_price = Some(rng.near(truth, 4));
            if rng.chance(30) {
                let far = truth * Decimal::from(rng.range(2, 10));
                o.price = Some(rng.near(far, 10));
            }
        }
        // A market order by size, or by quote amount.
        3 | 4 => {
            o.price = None;
            o.aggressive = true;
            if rng.chance(50) {
                o.size = None;
                o.quote_size = Some(Decimal::new(rng.range(1, 600_000) as i64, 2));
            }
        }
        // Malformed amounts.
        5 if rng.chance(20) => {
            o.size = Some(-size);
        }
        _ => {}
    }
    if rng.chance(25) {
        let payee = if rng.chance(70) {
            "0x00000000000000000000000000000000000000AA"
        } else {
            "0x00000000000000000000000000000000000000bb"
        };
        o.fees.push(Fee {
            kind: "builder".into(),
            payee: payee.into(),
            rate: Decimal::new(rng.range(0, 8) as i64, 4),
        });
    }
    o
}

/// The model's check of an allowed order against the reference in force.
fn check_allowed(o: &NewOrder, reference: Decimal, seed: u64, step: usize) {
    let ctx = format!("seed {seed} step {step}: {o:?} (reference {reference})");
    let band = if o.aggressive {
        d(AGGRESSIVE_BAND)
    } else {
        d(BAND)
    };
    let mut prices: Vec<Decimal> = o.price.into_iter().chain(o.trigger_price).collect();
    if o.price.is_none() && o.trigger_price.is_none() {
        let slip = d(SLIPPAGE);
        assert_eq!(
            o.market_price,
            Some(reference * (Decimal::ONE + slip)),
            "{ctx}"
        );
        prices.push(match o.side {
            Side::Buy => reference * (Decimal::ONE + slip),
            Side::Sell => reference * (Decimal::ONE - slip),
        });
    }
    assert!(!prices.is_empty(), "{ctx}");
    for p in &prices {
        match o.side {
            Side::Buy => assert!(*p <= reference * (Decimal::ONE + band), "{ctx}: {p}"),
            Side::Sell => assert!(*p >= reference * (Decimal::ONE - band), "{ctx}: {p}"),
        }
    }
    let notional = match (o.size, o.quote_size) {
        (Some(s), None) => {
            assert!(s > Decimal::ZERO && s <= d("5"), "{ctx}");
            let top = o
                .price
                .into_iter()
                .chain(o.trigger_price)
                .chain(
                    o.market_price
                        .filter(|_| o.price.is_none() && o.trigger_price.is_none()),
                )
                .max()
                .unwrap();
            s * top
        }
        (None, Some(q)) => q,
        _ => panic!("{ctx}: sized both ways or neither"),
    };
    assert!(notional <= d("4000"), "{ctx}: notional {notional}");
    for f in &o.fees {
        assert!(
            f.payee
                .eq_ignore_ascii_case("0x00000000000000000000000000000000000000aa"),
            "{ctx}"
        );
        assert!(f.rate >= Decimal::ZERO && f.rate <= d("0.0005"), "{ctx}");
    }
}

fn run(seed: u64, steps: usize) -> (usize, usize) {
    let mut rng = Rng(seed);
    let policy = Policy::from_config(PolicyConfig::parse(POLICY).unwrap()).unwrap();
    let mut engine = Engine::new(policy);
    let mut now = 1_000_000u64;
    let mut truth = Decimal::from(rng.range(50, 50_000));
    // References accepted so far: (time, price).
    let mut accepted: Vec<(u64, Decimal)> = Vec::new();
    let (mut allowed, mut refused_updates) = (0, 0);
    for step in 0..steps {
        now += rng.range(0, 700);
        if rng.chance(45) {
            // A feed update: mostly honest, sometimes a jump or a crash.
            truth = rng.near(truth, 1);
            let price = match rng.range(0, 19) {
                0 => truth * Decimal::TEN,
                1 => (truth / Decimal::TEN).round_dp(2),
                _ => rng.near(truth, 1),
            };
            let feed = ["f1", "f2", "f3"][rng.range(0, 2) as usize];
            let before = engine.state().reference_price("BTC");
            match engine.update_price(feed, "BTC", price, now) {
                Ok(Some(r)) if Some(r) != before => {
                    // The new reference is within 5 % of every reference
                    // accepted in the last 30 s.
                    for (at, p) in accepted.iter().filter(|(at, _)| now - at <= 30_000) {
                        let moved = ((r.price - p) / p).abs();
                        assert!(
                            moved <= d("0.05") + d("0.000001"),
                            "seed {seed} step {step}: reference {} moved {moved} from {p} at {at}",
                            r.price
                        );
                    }
                    accepted.push((now, r.price));
                }
                Ok(_) => {}
                Err(FeedError::Refused(_)) => refused_updates += 1,
                Err(FeedError::Invalid(e)) => panic!("seed {seed}: {e}"),
            }
            continue;
        }
        let n = rng.range(1, 3) as usize;
        let mut intents: Vec<Intent> = (0..n)
            .map(|_| Intent::Place(random_order(&mut rng, truth)))
            .collect();
        engine.price_market_orders("k", &mut intents, now);
        let outcome = engine.decide(&Request {
            identity: "bot",
            key: "k",
            intents: &intents,
            now_ms: now,
        });
        if !outcome.verdict.allowed() {
            continue;
        }
        allowed += 1;
        let reference = engine
            .state()
            .reference_price("BTC")
            .unwrap_or_else(|| panic!("seed {seed} step {step}: allowed without a reference"));
        assert!(
            now - reference.at_ms <= 5000,
            "seed {seed} step {step}: stale"
        );
        for i in &intents {
            let Intent::Place(o) = i else { unreachable!() };
            check_allowed(o, reference.price, seed, step);
        }
    }
    (allowed, refused_updates)
}

#[test]
fn no_allowed_order_executes_past_a_limit() {
    let (mut allowed, mut refused) = (0, 0);
    for seed in 0..300 {
        let (a, r) = run(seed, 400);
        allowed += a;
        refused += r;
    }
    // The sequences exercise both sides.
    assert!(allowed > 1_000, "only {allowed} allowed");
    assert!(refused > 1_000, "only {refused} refused updates");
}
