//! Tests of the compiled limits (limits.rs): the merge of each table over
//! its defaults, and the replay horizon.

use rust_decimal::Decimal;

use super::{DAY_MS, Policy, PolicyConfig, PolicyState, Request, Rule, Verdict};
use crate::order::{Intent, NewOrder, Side};

fn d(s: &str) -> Decimal {
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

fn rules(v: &Verdict) -> Vec<Rule> {
    v.denials.iter().map(|d| d.rule).collect()
}

#[test]
fn defaults_merge_setting_by_setting() {
    let p = policy(
        r#"
[key_defaults]
max_order_notional = "10"
[key_defaults.symbols.BTC]
[key_defaults.symbols."*"]
max_size = "1"
[keys.hl]
max_leverage = 3
[keys.other.symbols.ETH]
"#,
    );
    let s = PolicyState::default();
    let big = [buy("BTC", "1", "11")];
    let any = [buy("DOGE", "1.5", "1")];
    let eth = [buy("ETH", "1", "1")];
    let on = |p: &Policy, key: &str, intents: &[Intent]| {
        rules(&p.evaluate(
            &s,
            &Request {
                identity: "bot",
                key,
                intents,
                now_ms: 0,
            },
        ))
    };
    // hl inherits max_order_notional and the symbols.
    assert_eq!(on(&p, "hl", &big), vec![Rule::MaxOrderNotional]);
    assert_eq!(on(&p, "hl", &any), vec![Rule::MaxOrderSize]);
    // An unknown key gets the defaults.
    assert_eq!(on(&p, "zz", &any), vec![Rule::MaxOrderSize]);
    // `other` has its own symbols table: only ETH.
    assert_eq!(on(&p, "other", &eth), vec![]);
    assert_eq!(on(&p, "other", &any), vec![Rule::SymbolNotAllowed]);
    assert_eq!(p.key("hl").max_leverage, Some(3));
    assert_eq!(p.key("other").max_order_notional, Some(d("10")));
    // No symbols anywhere: every order is denied (default deny).
    assert_eq!(on(&policy(""), "hl", &eth), vec![Rule::SymbolNotAllowed]);
}

#[test]
fn replay_horizon_covers_every_span() {
    assert_eq!(policy("").replay_horizon_ms(), DAY_MS);
    let p = policy(
        "[keys.hl]\nopen_order_ttl_ms = 172800000\n[identities.x]\nbreaker = { denials = 1, window_ms = 1, cooldown_ms = 1 }",
    );
    assert_eq!(p.replay_horizon_ms(), 2 * DAY_MS);
    let p = policy(
        "[shadow.identity_defaults]\nbreaker = { denials = 1, window_ms = 86400000, cooldown_ms = 3600000 }",
    );
    assert_eq!(p.replay_horizon_ms(), DAY_MS + 3_600_000);
    let p = policy("[identities.x]\norders_rate = { burst = 100, per_sec = \"0.001\" }");
    assert_eq!(p.replay_horizon_ms(), 100_000_000);
}
