//! Everything that moves value is judged, through the real agent over its
//! Unix socket and a real SoftHSM token: market orders at the reference
//! price and slippage, stop-limit orders at both prices, the largest batch,
//! sanity-checked price feeds, and refusals whose journal cost is bounded.
//! Signatures are checked with the `hmac` crate against the imported
//! secret; nothing is signed on any refusal, and the journal verifies.

mod common;

use common::{Env, key};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tradeward::client::{Client, ClientError};

const SECRET: &[u8] = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

const POLICY: &str = r#"
[policy.keys.bn]
max_order_notional = "10000"
max_orders_per_request = 2

[policy.keys.bn.symbols.BTCUSDT]
reference = "BTC"
price_band = "0.02"
max_slippage = "0.005"

[policy.price_feeds.defaults]
max_move = "0.05"
move_window_ms = 600000
"#;

fn setup() -> Env {
    let env = Env::new();
    let out = env.import("hmac", "bn", SECRET);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut k = key("bn", "hmac", "bn");
    k.raw_signing = false;
    env.write_config(&[k], "", "");
    let text = std::fs::read_to_string(&env.config).unwrap().replacen(
        "ops = [\"list_keys\", \"sign\"]",
        "ops = [\"list_keys\", \"rest.sign_request\", \"price.update\"]",
        1,
    );
    let text = format!(
        "{text}\n[keys.bn.rest]\nvenue = \"binance\"\nmarkets = [\"spot\", \"usdm\"]\n{POLICY}"
    );
    std::fs::write(&env.config, text).unwrap();
    env
}

fn order(c: &mut Client, path: &str, params: Value) -> Result<Value, ClientError> {
    c.call(
        "rest.sign_request",
        json!({"key": "bn", "venue": "binance", "method": "POST", "path": path, "params": params}),
    )
}

fn spot(c: &mut Client, params: Value) -> Result<Value, ClientError> {
    order(c, "/api/v3/order", params)
}

fn price(c: &mut Client, p: &str) -> Result<Value, ClientError> {
    c.call("price.update", json!({"symbol": "BTC", "price": p}))
}

/// The MAC the `hmac` crate computes over exactly the returned query.
fn check_signed(r: &Value) {
    let q = r["query"].as_str().unwrap();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET).unwrap();
    mac.update(q.as_bytes());
    assert_eq!(
        r["signature"].as_str().unwrap(),
        hex::encode(mac.finalize().into_bytes())
    );
}

fn denied(r: Result<Value, ClientError>, rule: &str) -> String {
    let e = r.expect_err("must be refused");
    assert_eq!(e.code(), Some("policy_denied"), "{e}");
    let text = e.to_string();
    assert!(text.contains(rule), "wanted {rule}: {text}");
    text
}

#[test]
fn market_and_stop_orders_feeds_and_batches_are_judged() {
    let env = setup();
    let mut agent = env.start_agent();
    let mut c = agent.client();
    let market = json!({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"});
    // No reference price yet: a market order is refused as a limit order
    // with a band would be.
    denied(spot(&mut c, market.clone()), "price_missing");
    price(&mut c, "1000").unwrap();
    // At 1000 × 1.005: notional 1005, inside every limit; signed.
    let r = spot(&mut c, market.clone()).unwrap();
    check_signed(&r);
    assert!(
        r["query"]
            .as_str()
            .unwrap()
            .contains("type=MARKET&quantity=1&")
    );
    // Nine units: 9045 ≤ 10 000; ten: 10 050 > 10 000.
    let mut nine = market.clone();
    nine["quantity"] = json!("9.9");
    spot(&mut c, nine).unwrap();
    let mut ten = market.clone();
    ten["quantity"] = json!("10");
    denied(spot(&mut c, ten), "max_order_notional");
    // By quote amount: the amount is the notional.
    let quote =
        json!({"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quoteOrderQty": "10000"});
    check_signed(&spot(&mut c, quote.clone()).unwrap());
    let mut over = quote.clone();
    over["quoteOrderQty"] = json!("10000.01");
    denied(spot(&mut c, over), "max_order_notional");
    // A feed jumping 10x is refused; the reference stays at 1000, so the
    // nine-unit order still passes and a limit at 10x is out of the band.
    let e = price(&mut c, "10000").unwrap_err();
    assert_eq!(e.code(), Some("policy_denied"), "{e}");
    assert!(e.to_string().contains("price_move"), "{e}");
    let limit_10x = json!({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                          "quantity": "0.1", "price": "10000"});
    denied(spot(&mut c, limit_10x), "price_band");
    // A stop-limit whose limit price is 10x away, trigger inside: refused.
    let stop = json!({"symbol": "BTCUSDT", "side": "BUY", "type": "STOP_LOSS_LIMIT", "timeInForce": "GTC",
                      "quantity": "0.1", "stopPrice": "1010", "price": "10100"});
    denied(spot(&mut c, stop.clone()), "price_band");
    let mut ok_stop = stop;
    ok_stop["price"] = json!("1015");
    check_signed(&spot(&mut c, ok_stop).unwrap());
    // A batch at the maximum (2) and one over it.
    let one = json!({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                     "quantity": "0.1", "price": "1000"});
    let batch =
        |n: usize| json!({"batchOrders": serde_json::to_string(&vec![one.clone(); n]).unwrap()});
    check_signed(&order(&mut c, "/fapi/v1/batchOrders", batch(2)).unwrap());
    denied(
        order(&mut c, "/fapi/v1/batchOrders", batch(3)),
        "max_orders_per_request",
    );
    // A fractional recvWindow, as the venue allows.
    let mut w = one.clone();
    w["recvWindow"] = json!("2500.125");
    let r = spot(&mut c, w).unwrap();
    assert!(
        r["query"]
            .as_str()
            .unwrap()
            .contains("&recvWindow=2500.125&")
    );
    check_signed(&r);
    drop(c);
    assert!(agent.stop().success());
    // On record: the refused feed update, each refusal, and nothing signed
    // for a refusal (every signature follows an allowed decision).
    let recs = env.records();
    assert!(
        recs.iter()
            .any(|r| r["kind"] == "price_refused" && r["rule"] == "price_move"),
        "no price_refused record"
    );
    let mut allowed = std::collections::HashSet::new();
    for r in &recs {
        if r["kind"] == "decision" && r["allow"] == true {
            allowed.insert(r["seq"].as_u64().unwrap());
        }
        if r["kind"] == "signature" {
            assert!(allowed.contains(&r["decision"].as_u64().unwrap()), "{r}");
        }
    }
    let refusals = recs
        .iter()
        .filter(|r| r["kind"] == "decision" && r["allow"] == false)
        .count();
    assert_eq!(refusals, 6, "each refused order is on record");
    env.verify_journal();
}

#[test]
fn a_flood_of_refusals_costs_the_journal_a_bounded_amount() {
    let env = setup();
    let mut agent = env.start_agent();
    let mut c = agent.client();
    let journal_bytes = |env: &Env| -> u64 {
        env.segments()
            .iter()
            .map(|s| std::fs::metadata(s).unwrap().len())
            .sum()
    };
    let before = journal_bytes(&env);
    // 600 refused requests, each carrying ~60 KB of parameters (a symbol no
    // policy allows, and a long client order id list).
    let big = "x".repeat(60_000);
    let n = 600;
    for i in 0..n {
        let e = spot(
            &mut c,
            json!({"symbol": "DOGEUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                   "quantity": "1", "price": format!("{}", i + 1), "strategyType": 1_000_000, "newClientOrderId": "a"}),
        )
        .unwrap_err();
        assert_eq!(e.code(), Some("policy_denied"), "{e}");
        // And malformed ones, refused before policy.
        let e = c
            .call("rest.sign_request", json!({"key": "bn", "junk": big}))
            .unwrap_err();
        assert_eq!(e.code(), Some("bad_params"), "{e}");
    }
    // The agent still serves: a good order is signed at once.
    price(&mut c, "1000").unwrap();
    let one = json!({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                     "quantity": "0.1", "price": "1000"});
    check_signed(&spot(&mut c, one).unwrap());
    drop(c);
    assert!(agent.stop().success());
    let grown = journal_bytes(&env) - before;
    let recs = env.records();
    let individual = recs
        .iter()
        .filter(|r| r["kind"] == "decision" && r["allow"] == false)
        .collect::<Vec<_>>();
    let summarised: u64 = recs
        .iter()
        .filter(|r| r["kind"] == "refusals_summarised")
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    // Every refusal is either on record or counted in a summary (the last
    // ones may still be pending at the stop: at most a second's worth).
    let total = individual.len() as u64 + summarised;
    assert!(total <= 2 * n as u64, "{total}");
    assert!(
        individual.len() as u64 <= tradeward::refusals::BURST + 20 * tradeward::refusals::PER_SEC,
        "{} refusals recorded one by one",
        individual.len()
    );
    for r in &individual {
        let len = r.to_string().len();
        assert!(len < 4096, "a refusal's record is {len} bytes");
    }
    // 1 200 refusals of up to 60 KB each: the journal grew by well under
    // what they carried (72 MB).
    assert!(grown < 1_000_000, "journal grew {grown} bytes");
    env.verify_journal();
}
