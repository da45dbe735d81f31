//! Tests of `Policy::evaluate` (rules.rs): each rule at its boundaries,
//! batch totals, rolling caps and open exposure over time, reduce-only and
//! the breaker.

use rust_decimal::Decimal;

use super::{DAY_MS, Policy, PolicyConfig, PolicyState, Request, Rule, Scope, Verdict};
use crate::order::{Intent, NewOrder, OrderRef, Side};

pub(crate) fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn policy(text: &str) -> Policy {
    Policy::from_config(PolicyConfig::parse(text).unwrap()).unwrap()
}

fn order(symbol: &str, side: Side, size: &str, price: &str) -> NewOrder {
    NewOrder {
        client_id: Some("c1".into()),
        ..NewOrder::limit(symbol, side, d(size), d(price))
    }
}

fn buy(symbol: &str, size: &str, price: &str) -> Intent {
    Intent::Place(order(symbol, Side::Buy, size, price))
}

fn sell(symbol: &str, size: &str, price: &str) -> Intent {
    Intent::Place(order(symbol, Side::Sell, size, price))
}

fn with(i: Intent, f: impl FnOnce(&mut NewOrder)) -> Intent {
    match i {
        Intent::Place(mut o) => {
            f(&mut o);
            Intent::Place(o)
        }
        _ => unreachable!(),
    }
}

fn cancel() -> Intent {
    Intent::Cancel {
        symbol: "BTC".into(),
        order: OrderRef::Oid(1),
    }
}

fn judge(p: &Policy, s: &PolicyState, intents: &[Intent], now: u64) -> Verdict {
    p.evaluate(
        s,
        &Request {
            identity: "bot",
            key: "hl",
            intents,
            now_ms: now,
        },
    )
}

fn rules(v: &Verdict) -> Vec<Rule> {
    v.denials.iter().map(|d| d.rule).collect()
}

/// Run a table: (name, intents, time, expected rules).
fn table(p: &Policy, s: &PolicyState, cases: &[(&str, Vec<Intent>, u64, Vec<Rule>)]) {
    for (name, intents, now, want) in cases {
        let v = judge(p, s, intents, *now);
        assert_eq!(&rules(&v), want, "{name}: {}", v.reason());
    }
}

const ORDERS: &str = r#"
[key_defaults]
max_order_notional = "100000"

[keys.hl]
max_order_notional = "50000"
max_leverage = 5
price_max_age_ms = 5000
require_client_id = true

[keys.hl.symbols.BTC]
max_size = "2"
max_notional = "60000"
max_leverage = 20
price_band = "0.02"
aggressive_price_band = "0.005"

[keys.hl.symbols.ETH]
max_size = "10"

[keys.hl.symbols.SOL]
aggressive_price_band = "0.01"
price_max_age_ms = 1000

[keys.hl.symbols.BTCPERP]
price_band = "0.1"
reference = "BTC"
"#;

#[test]
fn order_rules_at_their_boundaries() {
    let p = policy(ORDERS);
    let mut s = PolicyState::default();
    s.update_price(&p, "feed", "BTC", d("20000"), 10_000)
        .unwrap();
    s.update_price(&p, "feed", "SOL", d("100"), 10_000).unwrap();
    let t = 10_000;
    let aggressive = |i: Intent| with(i, |o| o.aggressive = true);
    let cases = vec![
        ("allowed", vec![buy("BTC", "1", "20000")], t, vec![]),
        ("empty", vec![], t, vec![Rule::EmptyRequest]),
        (
            "symbol not listed",
            vec![buy("DOGE", "1", "1")],
            t,
            vec![Rule::SymbolNotAllowed],
        ),
        (
            "symbol case matters",
            vec![buy("btc", "1", "20000")],
            t,
            vec![Rule::SymbolNotAllowed],
        ),
        (
            "size 0",
            vec![buy("ETH", "0", "1")],
            t,
            vec![Rule::InvalidOrder],
        ),
        (
            "price 0",
            vec![buy("ETH", "1", "0")],
            t,
            vec![Rule::InvalidOrder],
        ),
        (
            "negative",
            vec![buy("ETH", "-1", "1")],
            t,
            vec![Rule::InvalidOrder],
        ),
        (
            "notional overflow",
            vec![buy("ETH", "79228162514264337593543950335", "2")],
            t,
            vec![Rule::InvalidOrder],
        ),
        ("max size", vec![buy("ETH", "10", "1")], t, vec![]),
        (
            "max size + 1e-8",
            vec![buy("ETH", "10.00000001", "1")],
            t,
            vec![Rule::MaxOrderSize],
        ),
        // Key max_order_notional 50000 (not the default 100000).
        ("key notional", vec![buy("ETH", "10", "5000")], t, vec![]),
        (
            "key notional + 0.01",
            vec![buy("ETH", "10", "5000.001")],
            t,
            vec![Rule::MaxOrderNotional],
        ),
        // Symbol max_notional 60000 is looser than the key's: key rules.
        (
            "both notional limits",
            vec![buy("BTC", "2", "30000.5")],
            t,
            vec![
                Rule::MaxOrderNotional,
                Rule::MaxOrderNotional,
                Rule::PriceBand,
            ],
        ),
        (
            "client id required",
            vec![with(buy("ETH", "1", "1"), |o| o.client_id = None)],
            t,
            vec![Rule::ClientIdRequired],
        ),
        (
            "empty client id",
            vec![with(buy("ETH", "1", "1"), |o| {
                o.client_id = Some(String::new())
            })],
            t,
            vec![Rule::ClientIdRequired],
        ),
        (
            "reduce-only needs no client id",
            vec![with(buy("ETH", "1", "1"), |o| {
                o.client_id = None;
                o.reduce_only = true
            })],
            t,
            vec![],
        ),
        // Band 2 % around 20000: buys up to 20400, sells down to 19600.
        (
            "buy at band edge",
            vec![buy("BTC", "1", "20400")],
            t,
            vec![],
        ),
        (
            "buy past band",
            vec![buy("BTC", "1", "20400.01")],
            t,
            vec![Rule::PriceBand],
        ),
        ("buy far below", vec![buy("BTC", "1", "100")], t, vec![]),
        (
            "sell at band edge",
            vec![sell("BTC", "1", "19600")],
            t,
            vec![],
        ),
        (
            "sell past band",
            vec![sell("BTC", "1", "19599.99")],
            t,
            vec![Rule::PriceBand],
        ),
        // Aggressive band 0.5 %: 20100 / 19900.
        (
            "aggressive at edge",
            vec![aggressive(buy("BTC", "1", "20100"))],
            t,
            vec![],
        ),
        (
            "aggressive past edge",
            vec![aggressive(buy("BTC", "1", "20100.01"))],
            t,
            vec![Rule::PriceBand],
        ),
        (
            "aggressive sell past edge",
            vec![aggressive(sell("BTC", "1", "19899.99"))],
            t,
            vec![Rule::PriceBand],
        ),
        // SOL has only an aggressive band: passive orders need no price.
        ("passive unbanded", vec![buy("SOL", "1", "1000")], t, vec![]),
        (
            "aggressive banded",
            vec![aggressive(buy("SOL", "1", "101.01"))],
            t,
            vec![Rule::PriceBand],
        ),
        // Price age: 5000 ms for BTC (key), 1000 ms for SOL (symbol).
        (
            "price at max age",
            vec![buy("BTC", "1", "20000")],
            t + 5000,
            vec![],
        ),
        (
            "price past max age",
            vec![buy("BTC", "1", "20000")],
            t + 5001,
            vec![Rule::PriceStale],
        ),
        (
            "symbol max age",
            vec![aggressive(buy("SOL", "1", "100"))],
            t + 1000,
            vec![],
        ),
        (
            "symbol max age + 1",
            vec![aggressive(buy("SOL", "1", "100"))],
            t + 1001,
            vec![Rule::PriceStale],
        ),
        // BTCPERP takes its reference from BTC, band 10 %.
        (
            "reference feed",
            vec![buy("BTCPERP", "1", "22000")],
            t,
            vec![],
        ),
        (
            "reference feed band",
            vec![buy("BTCPERP", "1", "22000.01")],
            t,
            vec![Rule::PriceBand],
        ),
        // A batch: each intent judged, every denial listed.
        (
            "batch",
            vec![
                buy("ETH", "1", "1"),
                buy("DOGE", "1", "1"),
                buy("ETH", "11", "1"),
            ],
            t,
            vec![Rule::SymbolNotAllowed, Rule::MaxOrderSize],
        ),
        ("cancel any symbol", vec![cancel()], t, vec![]),
    ];
    table(&p, &s, &cases);

    // Missing price.
    let empty = PolicyState::default();
    table(
        &p,
        &empty,
        &[(
            "no price",
            vec![buy("BTC", "1", "20000")],
            t,
            vec![Rule::PriceMissing],
        )],
    );
    // The structured values name limit and observation.
    let v = judge(&p, &s, &[sell("BTC", "1", "19599.99")], t);
    let den = &v.denials[0];
    assert_eq!(den.limit, Some(d("19600")));
    assert_eq!(den.observed, Some(d("19599.99")));
    assert_eq!(den.subject.as_deref(), Some("BTC"));
    assert_eq!(den.intent, Some(0));
    assert_eq!(den.scope, Scope::Key("hl".into()));
    assert_eq!(v.retry_after_ms(), None);
    let v = judge(&p, &s, &[buy("BTC", "1", "20000")], t + 5001);
    assert_eq!(v.denials[0].limit, Some(d("5000")));
    assert_eq!(v.denials[0].observed, Some(d("5001")));
}

#[test]
fn leverage_and_margin() {
    let p = policy(ORDERS);
    let s = PolicyState::default();
    let lev = |symbol: &str, leverage| Intent::SetLeverage {
        symbol: symbol.into(),
        leverage,
        cross: false,
    };
    let margin = |symbol: &str| Intent::AdjustMargin {
        symbol: symbol.into(),
        amount: d("-5"),
    };
    table(
        &p,
        &s,
        &[
            ("symbol max", vec![lev("BTC", 20)], 0, vec![]),
            (
                "symbol max + 1",
                vec![lev("BTC", 21)],
                0,
                vec![Rule::MaxLeverage],
            ),
            ("key max", vec![lev("ETH", 5)], 0, vec![]),
            (
                "key max + 1",
                vec![lev("ETH", 6)],
                0,
                vec![Rule::MaxLeverage],
            ),
            ("zero", vec![lev("ETH", 0)], 0, vec![Rule::MaxLeverage]),
            (
                "not listed",
                vec![lev("DOGE", 1)],
                0,
                vec![Rule::SymbolNotAllowed],
            ),
            ("margin listed", vec![margin("ETH")], 0, vec![]),
            (
                "margin unlisted",
                vec![margin("DOGE")],
                0,
                vec![Rule::SymbolNotAllowed],
            ),
        ],
    );
    // No max_leverage anywhere: leverage changes are denied.
    let p = policy("[keys.hl.symbols.BTC]\n");
    let v = judge(&p, &s, &[lev("BTC", 1)], 0);
    assert_eq!(rules(&v), vec![Rule::MaxLeverage]);
    assert_eq!(v.denials[0].limit, None);
}

const TRANSFERS: &str = r#"
[[keys.hl.transfers]]
destination = "0x00000000000000000000000000000000000000Ab"
asset = "USDC"
max_amount = "1000"
max_per_day = "2500"
kinds = ["withdraw3"]

[[keys.hl.transfers]]
destination = "Cold1Wallet"
asset = "USDC"
max_amount = "10"
max_per_day = "10"

[[keys.hl.approvals]]
grantee = "0x1111111111111111111111111111111111111111"
kinds = ["approve_agent"]
"#;

fn transfer(kind: &str, to: &str, asset: &str, amount: &str) -> Intent {
    Intent::Transfer {
        kind: kind.into(),
        destination: to.into(),
        asset: asset.into(),
        amount: d(amount),
    }
}

#[test]
fn transfers_and_approvals() {
    let p = policy(TRANSFERS);
    let mut s = PolicyState::default();
    let hot = "0x00000000000000000000000000000000000000ab";
    let w = |a: &str| transfer("withdraw3", hot, "USDC", a);
    let approve = |kind: &str, g: &str| Intent::Approve {
        kind: kind.into(),
        grantee: g.into(),
    };
    table(
        &p,
        &s,
        &[
            ("max amount", vec![w("1000")], 0, vec![]),
            (
                "max amount + 1e-8",
                vec![w("1000.00000001")],
                0,
                vec![Rule::TransferAmount],
            ),
            ("zero", vec![w("0")], 0, vec![Rule::InvalidOrder]),
            (
                "hex case-insensitive",
                vec![transfer(
                    "withdraw3",
                    "0x00000000000000000000000000000000000000AB",
                    "USDC",
                    "1",
                )],
                0,
                vec![],
            ),
            (
                "other kind",
                vec![transfer("usd_send", hot, "USDC", "1")],
                0,
                vec![Rule::TransferNotAllowed],
            ),
            (
                "other asset",
                vec![transfer("withdraw3", hot, "USDT", "1")],
                0,
                vec![Rule::TransferNotAllowed],
            ),
            (
                "unknown destination",
                vec![transfer("withdraw3", "0xdead", "USDC", "1")],
                0,
                vec![Rule::TransferNotAllowed],
            ),
            (
                "base58 is case-sensitive",
                vec![transfer("spot_send", "cold1wallet", "USDC", "1")],
                0,
                vec![Rule::TransferNotAllowed],
            ),
            (
                "any kind",
                vec![transfer("spot_send", "Cold1Wallet", "USDC", "10")],
                0,
                vec![],
            ),
            // The batch total counts against the day cap.
            (
                "batch at day cap",
                vec![w("1000"), w("1000"), w("500")],
                0,
                vec![],
            ),
            (
                "batch past day cap",
                vec![w("1000"), w("1000"), w("500.00000001")],
                0,
                vec![Rule::TransferPerDay],
            ),
            (
                "grantee",
                vec![approve(
                    "approve_agent",
                    "0x1111111111111111111111111111111111111111",
                )],
                0,
                vec![],
            ),
            (
                "grantee other kind",
                vec![approve(
                    "approve_builder_fee",
                    "0x1111111111111111111111111111111111111111",
                )],
                0,
                vec![Rule::ApprovalNotAllowed],
            ),
            (
                "unknown grantee",
                vec![approve("approve_agent", "0x2222")],
                0,
                vec![Rule::ApprovalNotAllowed],
            ),
        ],
    );
    // Transfers on a key without allowances are denied.
    let r = Request {
        identity: "bot",
        key: "other",
        intents: &[w("1")],
        now_ms: 0,
    };
    assert_eq!(rules(&p.evaluate(&s, &r)), vec![Rule::TransferNotAllowed]);

    // The day cap is rolling: 2000 at t=1000, then 500 fits, 500.01 not,
    // until the first 2000 is 24 h old.
    let r = Request {
        identity: "bot",
        key: "hl",
        intents: &[w("1000"), w("1000")],
        now_ms: 1000,
    };
    assert!(p.evaluate(&s, &r).allowed());
    s.commit(&p, &r);
    let t = 1000 + DAY_MS;
    table(
        &p,
        &s,
        &[
            ("inside day", vec![w("500")], t - 1, vec![]),
            (
                "past day cap",
                vec![w("500.01")],
                t - 1,
                vec![Rule::TransferPerDay],
            ),
            (
                "a day later",
                vec![w("1000"), w("1000"), w("500")],
                t,
                vec![],
            ),
        ],
    );
    let v = judge(&p, &s, &[w("500.01")], 2000);
    assert_eq!(v.retry_after_ms(), Some(t - 2000));
    assert_eq!(v.denials[0].limit, Some(d("2500")));
    assert_eq!(v.denials[0].observed, Some(d("2500.01")));
    // Another destination has its own total.
    table(
        &p,
        &s,
        &[(
            "other destination",
            vec![transfer("x", "Cold1Wallet", "USDC", "10")],
            2000,
            vec![],
        )],
    );
}

const CAPS: &str = r#"
[identity_defaults]
orders_rate = { burst = 5, per_sec = 1 }
cancels_rate = { burst = 3, per_sec = 1 }
max_notional_per_minute = "1000"
max_notional_per_hour = "2000"
max_notional_per_day = "3000"
max_open_orders = 4
max_open_notional = "1500"

[keys.hl]
orders_rate = { burst = 4, per_sec = 2 }
max_notional_per_minute = "900"
max_open_orders = 3

[keys.hl.symbols.ETH]
"#;

fn eth(notional: &str) -> Intent {
    buy("ETH", "1", notional)
}

#[test]
fn batch_totals_at_their_boundaries() {
    let p = policy(CAPS);
    let s = PolicyState::default();
    let n = |k: usize, x: &str| vec![eth(x); k];
    table(
        &p,
        &s,
        &[
            // Key bucket 4 tokens, identity 5.
            (
                "4 orders",
                n(3, "1").into_iter().chain([cancel()]).collect(),
                0,
                vec![],
            ),
            ("4 of 4 tokens", vec![buy("ETH", "1", "1"); 3], 0, vec![]),
            (
                "5 orders",
                vec![with(eth("1"), |o| o.reduce_only = true); 5],
                0,
                vec![Rule::OrdersRate],
            ),
            (
                "6 orders",
                vec![with(eth("1"), |o| o.reduce_only = true); 6],
                0,
                vec![Rule::OrdersRate, Rule::OrdersRate],
            ),
            ("3 cancels", vec![cancel(); 3], 0, vec![]),
            ("4 cancels", vec![cancel(); 4], 0, vec![Rule::CancelsRate]),
            // Key per-minute cap 900 (identity 1000).
            ("minute cap", n(3, "300"), 0, vec![]),
            (
                "minute cap + 0.01",
                vec![eth("300"), eth("300"), eth("300.01")],
                0,
                vec![Rule::NotionalPerMinute],
            ),
            (
                "both minute caps",
                vec![eth("500"), eth("500.01")],
                0,
                vec![Rule::NotionalPerMinute, Rule::NotionalPerMinute],
            ),
            // Open orders: key 3, identity 4.
            (
                "4 open",
                vec![eth("1"), eth("1"), eth("1"), eth("1")],
                0,
                vec![Rule::MaxOpenOrders],
            ),
            (
                "reduce-only not counted",
                vec![
                    eth("1"),
                    eth("1"),
                    eth("1"),
                    with(eth("1"), |o| o.reduce_only = true),
                ],
                0,
                vec![],
            ),
        ],
    );
    let v = judge(&p, &s, &[eth("300"), eth("300"), eth("300.01")], 0);
    let den = &v.denials[0];
    assert_eq!(den.limit, Some(d("900")));
    assert_eq!(den.observed, Some(d("900.01")));
    assert_eq!(den.scope, Scope::Key("hl".into()));
    // Nothing recorded yet: a batch larger than the cap never fits.
    assert_eq!(den.retry_after_ms, None);
    let v = judge(
        &p,
        &s,
        &vec![with(eth("1"), |o| o.reduce_only = true); 5],
        0,
    );
    assert_eq!(v.denials[0].limit, Some(d("4")));
    assert_eq!(v.denials[0].observed, Some(d("5")));
    assert_eq!(v.retry_after_ms(), None, "5 > burst 4 never fits");
}

#[test]
fn rolling_caps_and_open_exposure_over_time() {
    let p = policy(CAPS);
    let mut s = PolicyState::default();
    let commit = |s: &mut PolicyState, intents: &[Intent], now| {
        let r = Request {
            identity: "bot",
            key: "hl",
            intents,
            now_ms: now,
        };
        let v = p.evaluate(s, &r);
        assert!(v.allowed(), "{}", v.reason());
        s.commit(&p, &r);
    };
    commit(
        &mut s,
        &[with(eth("600"), |o| o.client_id = Some("a".into()))],
        0,
    );
    // Minute (key 900): 300 fits, 300.01 does not, until t = 60 s.
    table(
        &p,
        &s,
        &[
            ("minute fits", vec![eth("300")], 59_999, vec![]),
            (
                "minute full",
                vec![eth("300.01")],
                59_999,
                vec![Rule::NotionalPerMinute],
            ),
            ("minute later", vec![eth("900")], 60_000, vec![]),
        ],
    );
    let v = judge(&p, &s, &[eth("300.01")], 1000);
    assert_eq!(v.retry_after_ms(), Some(59_000));
    commit(&mut s, &[eth("900")], 60_000);
    // Open notional (identity 1500): 600 + 900 = 1500 open.
    table(
        &p,
        &s,
        &[(
            "open full",
            vec![eth("0.01")],
            120_000,
            vec![Rule::MaxOpenNotional],
        )],
    );
    // Reporting the first closed frees 600.
    assert_eq!(
        s.report_closed("hl", &OrderRef::Cloid("a".into()), 120_000),
        1
    );
    commit(&mut s, &[eth("500")], 120_000);
    // Hour (identity 2000): 600 + 900 + 500 = 2000 within the hour.
    table(
        &p,
        &s,
        &[
            (
                "hour full",
                vec![eth("0.01")],
                180_000,
                vec![Rule::NotionalPerHour],
            ),
            ("hour slides", vec![eth("0.01")], 3_600_000, vec![]),
        ],
    );
    let v = judge(&p, &s, &[eth("600")], 180_000);
    // Hour: 600 must leave: the first order, at t = 0 → 3_600_000.
    let hour = v
        .denials
        .iter()
        .find(|d| d.rule == Rule::NotionalPerHour)
        .unwrap();
    assert_eq!(hour.retry_after_ms, Some(3_600_000 - 180_000));
    // Open notional: 900 + 500 + 600 = 2000 > 1500; expiry (TTL 24 h) of
    // the 900 from t = 60 s frees enough.
    let open = v
        .denials
        .iter()
        .find(|d| d.rule == Rule::MaxOpenNotional)
        .unwrap();
    assert_eq!(open.retry_after_ms, Some(60_000 + DAY_MS - 180_000));
    // After the TTL the open orders no longer count and every window has
    // slid past the three orders.
    table(
        &p,
        &s,
        &[("ttl expired", vec![eth("900")], 120_000 + DAY_MS, vec![])],
    );
    // The day cap (identity 3000) still remembers the 2000 until then.
    let day = |x: &str, now| rules(&judge(&p, &s, &[eth(x)], now)).contains(&Rule::NotionalPerDay);
    assert!(!day("1000", DAY_MS - 1));
    assert!(day("1000.01", DAY_MS - 1));
    assert!(!day("1600", DAY_MS));
    assert!(day("1600.01", DAY_MS));
}

#[test]
fn cancels_do_not_close_orders() {
    let p = policy(CAPS);
    let mut s = PolicyState::default();
    let place = [eth("1"), eth("1"), eth("1")];
    let r = Request {
        identity: "bot",
        key: "hl",
        intents: &place,
        now_ms: 0,
    };
    s.commit(&p, &r);
    let cancels = [Intent::Cancel {
        symbol: "ETH".into(),
        order: OrderRef::Cloid("c1".into()),
    }];
    let r = Request {
        intents: &cancels,
        now_ms: 1,
        ..r
    };
    assert!(p.evaluate(&s, &r).allowed());
    s.commit(&p, &r);
    table(
        &p,
        &s,
        &[(
            "still open",
            vec![eth("1")],
            10_000,
            vec![Rule::MaxOpenOrders],
        )],
    );
    // An oid cannot be matched to an authorised order.
    assert_eq!(s.report_closed("hl", &OrderRef::Oid(7), 10_000), 0);
    // The client id closes all three (the venue has at most one live).
    assert_eq!(
        s.report_closed("hl", &OrderRef::Cloid("c1".into()), 10_000),
        3
    );
    table(&p, &s, &[("closed", vec![eth("1")], 10_000, vec![])]);
}

#[test]
fn reduce_only_and_breaker() {
    let p = policy(
        r#"
[identity_defaults]
breaker = { denials = 2, window_ms = 1000, cooldown_ms = 5000 }
[identities.bot]
reduce_only = true
[identities.mm]
[keys.hl.symbols.ETH]
"#,
    );
    let mut s = PolicyState::default();
    let ro = with(eth("1"), |o| o.reduce_only = true);
    // Setting a schedule reduces risk; clearing one does not (it would
    // switch off the exchange-side dead-man's switch).
    let sched = Intent::ScheduleCancel { at_ms: Some(1) };
    let unsched = Intent::ScheduleCancel { at_ms: None };
    table(
        &p,
        &s,
        &[
            ("reduce-only order", vec![ro.clone()], 0, vec![]),
            ("cancel", vec![cancel(), sched.clone()], 0, vec![]),
            (
                "clearing the schedule",
                vec![unsched],
                0,
                vec![Rule::ReduceOnly],
            ),
            ("opening order", vec![eth("1")], 0, vec![Rule::ReduceOnly]),
            (
                "mixed batch",
                vec![cancel(), eth("1"), ro.clone()],
                0,
                vec![Rule::ReduceOnly],
            ),
            (
                "leverage",
                vec![Intent::SetLeverage {
                    symbol: "ETH".into(),
                    leverage: 1,
                    cross: true,
                }],
                0,
                vec![Rule::ReduceOnly, Rule::MaxLeverage],
            ),
        ],
    );
    // mm is not reduce-only; its breaker opens at the 2nd denial.
    let mm = |s: &PolicyState, intents: &[Intent], now| {
        rules(&p.evaluate(
            s,
            &Request {
                identity: "mm",
                key: "hl",
                intents,
                now_ms: now,
            },
        ))
    };
    assert_eq!(mm(&s, &[eth("1")], 0), vec![]);
    s.record_denial(&p, "mm", 1000);
    assert_eq!(mm(&s, &[eth("1")], 1000), vec![]);
    s.record_denial(&p, "mm", 1999);
    assert_eq!(mm(&s, &[eth("1")], 1999), vec![Rule::BreakerOpen]);
    assert_eq!(mm(&s, &[eth("1")], 6998), vec![Rule::BreakerOpen]);
    assert_eq!(mm(&s, &[cancel(), ro.clone()], 1999), vec![]);
    assert_eq!(mm(&s, &[eth("1")], 6999), vec![]);
    // The breaker comes last, so other rules are named first.
    assert_eq!(
        mm(&s, &[buy("DOGE", "1", "1")], 2000),
        vec![Rule::SymbolNotAllowed, Rule::BreakerOpen]
    );
    let v = p.evaluate(
        &s,
        &Request {
            identity: "mm",
            key: "hl",
            intents: &[eth("1")],
            now_ms: 2000,
        },
    );
    assert_eq!(v.retry_after_ms(), Some(4999));
    assert!(!v.feeds_breaker());
}
