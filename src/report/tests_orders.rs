//! Orders, notional and transfers, summed from the decisions' intents.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::model::*;
use super::tests::{decision, rec, summary_of, t};
use super::*;
use crate::journal::record::Decision;
use crate::order::{Intent, NewOrder};

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub(super) fn place(symbol: &str, size: &str, price: &str) -> Intent {
    Intent::Place(new_order(symbol, dec(size), dec(price)))
}

fn new_order(symbol: &str, size: Decimal, price: Decimal) -> NewOrder {
    NewOrder::limit(symbol, crate::order::Side::Buy, size, price)
}

pub(super) fn cancel(symbol: &str) -> Intent {
    Intent::Cancel {
        symbol: symbol.into(),
        order: crate::order::OrderRef::Oid(1),
    }
}

fn modify(symbol: &str, size: &str, price: &str) -> Intent {
    Intent::Modify {
        order: crate::order::OrderRef::Cloid("0x01".into()),
        new: new_order(symbol, dec(size), dec(price)),
    }
}

fn transfer(destination: &str, asset: &str, amount: Decimal) -> Intent {
    Intent::Transfer {
        kind: "withdraw3".into(),
        destination: destination.into(),
        asset: asset.into(),
        amount,
    }
}

/// A decision carrying `intents` (denials take `rule` as their rule).
pub(super) fn order_decision(
    identity: &str,
    key: Option<&str>,
    allow: bool,
    rule: &str,
    intents: Vec<Intent>,
) -> Decision {
    let rule = if allow { "policy" } else { rule };
    let mut d = decision(identity, key, "hyperliquid.sign_l1_action", allow, rule);
    d.venue = Some("hyperliquid".into());
    d.nonce = allow.then_some(1_700_000_000_000);
    d.intents = Some(intents);
    d
}

fn report_of(decisions: Vec<(u64, Decision)>, period: Period) -> Report {
    let mut agg = Aggregate::new(period);
    for (i, (ts, d)) in decisions.into_iter().enumerate() {
        agg.add(&rec(i as u64 + 1, ts, Event::Decision(d)));
    }
    agg.finish(&summary_of(&[]), 0)
}

fn oc(placed: Tally, modified: Tally, cancelled: Tally) -> OrderCounts {
    OrderCounts {
        placed,
        modified,
        cancelled,
    }
}

fn notional(orders: u64, n: &str, unrepresentable: u64) -> Notional {
    Notional {
        orders,
        notional: dec(n),
        unrepresentable,
    }
}

/// identity → key → symbol → value.
fn tree<T: Clone>(
    entries: &[(&str, &str, &str, T)],
) -> BTreeMap<String, BTreeMap<String, BTreeMap<String, T>>> {
    let mut m: BTreeMap<String, BTreeMap<String, BTreeMap<String, T>>> = BTreeMap::new();
    for (a, b, c, v) in entries {
        m.entry(a.to_string())
            .or_default()
            .entry(b.to_string())
            .or_default()
            .insert(c.to_string(), v.clone());
    }
    m
}

#[test]
fn intents_give_orders_notional_and_transfers() {
    let z = t(0, 0);
    let dest = "0x5e9ee1089755c3435139848e47e6635505d5a13a";
    let r = report_of(
        vec![
            // Before the period: not counted.
            (
                5,
                order_decision("a", Some("hl"), true, "", vec![place("BTC", "1", "1")]),
            ),
            (
                10,
                order_decision(
                    "a",
                    Some("hl"),
                    true,
                    "",
                    vec![
                        place("BTC", "0.001", "50000"),
                        place("BTC", "0.002", "60000"),
                        cancel("BTC"),
                        modify("ETH", "0.5", "3000.5"),
                        Intent::SetLeverage {
                            symbol: "BTC".into(),
                            leverage: 5,
                            cross: true,
                        },
                        Intent::ScheduleCancel { at_ms: None },
                    ],
                ),
            ),
            (
                11,
                order_decision(
                    "a",
                    Some("hl"),
                    false,
                    "symbol_not_allowed",
                    vec![place("ETH", "1", "3000"), cancel("SOL")],
                ),
            ),
            (
                12,
                order_decision(
                    "b",
                    Some("hl"),
                    true,
                    "",
                    vec![place("BTC", "0.01", "58000")],
                ),
            ),
            (
                13,
                order_decision(
                    "b",
                    Some("hl2"),
                    false,
                    "max_order_size",
                    vec![place("BTC", "1", "50000"), place("BTC", "2", "50000")],
                ),
            ),
            (
                14,
                order_decision(
                    "a",
                    Some("hl"),
                    true,
                    "",
                    vec![
                        transfer(dest, "USDC", dec("1.5")),
                        transfer(dest, "USDC", dec("2.25")),
                        transfer(dest, "PURR", dec("10")),
                        transfer("perp", "USDC", dec("7.5")),
                    ],
                ),
            ),
            (
                15,
                order_decision(
                    "a",
                    Some("hl"),
                    false,
                    "transfer_not_allowed",
                    vec![transfer(dest, "USDC", dec("1000"))],
                ),
            ),
            // A denial that names no key, and a denial of an empty batch.
            (
                16,
                order_decision(
                    "c",
                    None,
                    false,
                    "symbol_not_allowed",
                    vec![modify("SOL", "1", "100")],
                ),
            ),
            (
                17,
                order_decision("c", Some("hl"), false, "empty_request", vec![]),
            ),
        ],
        Period::new(Some(10), None).unwrap(),
    );
    assert_eq!(r.decisions.total, 8);
    assert_eq!(r.decisions.with_intents, 7);
    assert!(r.absent.is_empty());

    let o = &r.orders_by_symbol;
    assert_eq!(o.total, oc(t(3, 3), t(1, 1), t(1, 1)));
    assert_eq!(
        o.by_symbol,
        BTreeMap::from([
            ("BTC".into(), oc(t(3, 2), z, t(1, 0))),
            ("ETH".into(), oc(t(0, 1), t(1, 0), z)),
            ("SOL".into(), oc(z, t(0, 1), t(0, 1))),
        ])
    );
    assert_eq!(
        o.by_identity,
        tree(&[
            ("a", "hl", "BTC", oc(t(2, 0), z, t(1, 0))),
            ("a", "hl", "ETH", oc(t(0, 1), t(1, 0), z)),
            ("a", "hl", "SOL", oc(z, z, t(0, 1))),
            ("b", "hl", "BTC", oc(t(1, 0), z, z)),
            ("b", "hl2", "BTC", oc(t(0, 2), z, z)),
            ("c", "", "SOL", oc(z, t(0, 1), z)),
        ])
    );

    // 0.001 × 50000 + 0.002 × 60000 = 170; 0.01 × 58000 = 580;
    // 0.5 × 3000.5 = 1500.25. Denied orders add nothing.
    let n = &r.notional_by_symbol;
    assert_eq!(
        n.by_symbol,
        BTreeMap::from([
            ("BTC".into(), notional(3, "750", 0)),
            ("ETH".into(), notional(1, "1500.25", 0)),
        ])
    );
    assert_eq!(
        n.by_identity,
        tree(&[
            ("a", "hl", "BTC", notional(2, "170", 0)),
            ("a", "hl", "ETH", notional(1, "1500.25", 0)),
            ("b", "hl", "BTC", notional(1, "580", 0)),
        ])
    );
    assert_eq!(n.unrepresentable, 0);

    let x = &r.transfers;
    assert_eq!((x.allowed, x.denied), (4, 1));
    let total = |transfers, amount: &str| TransferTotal {
        transfers,
        amount: dec(amount),
        unrepresentable: 0,
    };
    assert_eq!(
        x.by_key,
        tree(&[
            ("hl", dest, "USDC", total(2, "3.75")),
            ("hl", dest, "PURR", total(1, "10")),
            ("hl", "perp", "USDC", total(1, "7.5")),
        ])
    );

    // Each denial once per distinct symbol it names.
    assert_eq!(
        r.decisions.denials_by_rule_and_symbol,
        BTreeMap::from([
            ("max_order_size".into(), BTreeMap::from([("BTC".into(), 1)])),
            (
                "symbol_not_allowed".into(),
                BTreeMap::from([("ETH".into(), 1), ("SOL".into(), 2)])
            ),
        ])
    );
    assert_eq!(r.decisions.denials_by_rule["transfer_not_allowed"], 1);
    assert_eq!(r.decisions.denials_by_rule["empty_request"], 1);

    // In JSON, amounts are strings without trailing zeros.
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(
        v["notional_by_symbol"]["by_identity"]["a"]["hl"]["BTC"],
        serde_json::json!({"orders": 2, "notional": "170", "unrepresentable": 0})
    );
    assert_eq!(
        v["orders_by_symbol"]["by_symbol"]["SOL"],
        serde_json::json!({
            "placed": {"allowed": 0, "denied": 0},
            "modified": {"allowed": 0, "denied": 1},
            "cancelled": {"allowed": 0, "denied": 1},
        })
    );
    assert_eq!(
        v["transfers"]["by_key"]["hl"][dest]["USDC"]["amount"],
        "3.75"
    );
    assert_eq!(
        v["decisions"]["denials_by_rule_and_symbol"]["symbol_not_allowed"]["SOL"],
        2
    );
}

#[test]
fn overflowing_amounts_are_left_out_and_counted() {
    let max = Decimal::MAX;
    let big = |symbol| Intent::Place(new_order(symbol, Decimal::ONE, max));
    let r = report_of(
        vec![
            // price × size overflows on its own: NewOrder::notional
            // would panic here.
            (
                1,
                order_decision(
                    "a",
                    Some("hl"),
                    true,
                    "",
                    vec![
                        Intent::Place(new_order("X", Decimal::TWO, max)),
                        place("X", "2", "3"),
                    ],
                ),
            ),
            // MAX fits; a second MAX on the same symbol overflows the
            // symbol's total but not identity b's own.
            (2, order_decision("a", Some("hl"), true, "", vec![big("Y")])),
            (3, order_decision("b", Some("hl"), true, "", vec![big("Y")])),
            (
                4,
                order_decision(
                    "a",
                    Some("hl"),
                    true,
                    "",
                    vec![
                        transfer("d", "USDC", max),
                        transfer("d", "USDC", Decimal::ONE),
                        transfer("d", "USDC", dec("-5")),
                    ],
                ),
            ),
        ],
        Period::default(),
    );
    let n = &r.notional_by_symbol;
    assert_eq!(n.unrepresentable, 2);
    assert_eq!(
        n.by_symbol,
        BTreeMap::from([
            ("X".into(), notional(1, "6", 1)),
            (
                "Y".into(),
                Notional {
                    orders: 1,
                    notional: max,
                    unrepresentable: 1
                }
            ),
        ])
    );
    assert_eq!(n.by_identity["a"]["hl"]["X"], notional(1, "6", 1));
    assert_eq!(n.by_identity["a"]["hl"]["Y"].unrepresentable, 0);
    assert_eq!(n.by_identity["b"]["hl"]["Y"].unrepresentable, 0);
    assert_eq!(n.by_identity["b"]["hl"]["Y"].notional, max);
    // Counting is unaffected.
    assert_eq!(r.orders_by_symbol.by_symbol["X"].placed, t(2, 0));
    let x = r.transfers.by_key["hl"]["d"]["USDC"];
    assert_eq!(x.transfers, 2);
    assert_eq!(x.unrepresentable, 1);
    assert_eq!(x.amount, max - dec("5"));
    assert_eq!(r.transfers.allowed, 3);
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(
        v["notional_by_symbol"]["by_symbol"]["Y"]["notional"],
        max.to_string()
    );
}
