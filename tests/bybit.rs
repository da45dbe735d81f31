//! Bybit v5 signing through the real agent and a real SoftHSM token: the
//! agent sets the timestamp, bounds `recv_window` by the key's ceiling,
//! builds the prehash (timestamp + API key + recv_window + body or query)
//! and the token computes the HMAC. The `hmac` crate and Bybit's own SDK
//! (`pybit`'s HTTP manager, tests/sdk/venue_sign.py) reproduce every
//! signature from the same secret. Policy rules deny at their boundaries
//! for Bybit instruments (mapped to policy symbols), bad input is refused
//! with a reason, and a trip hands the operator signed cancel-alls.

mod common;

use std::path::PathBuf;

use common::{Env, key};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tradeward::client::{Client, ClientError};

const SECRET: &str = "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX";
const API_KEY: &str = "XXXXXXXXXXXXXXXXXX";

const LIMITS: &str = r#"
[policy.keys.bb]
max_order_notional = "1000"
max_open_orders = 6
max_notional_per_day = "4000"

[policy.keys.bb.symbols.BTC-PERP]
max_size = "0.05"
reference = "BTC"
price_band = "0.02"

[policy.keys.bb.symbols.BTCUSDT]
max_size = "1"
"#;

fn setup(policy: &str, identity_policy: &str) -> Env {
    let env = Env::new();
    let out = env.import("hmac", "bb", SECRET.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut k = key("bb", "hmac", "bb");
    k.raw_signing = false;
    env.write_config(&[k], "", "");
    let text = std::fs::read_to_string(&env.config).unwrap().replacen(
        "ops = [\"list_keys\", \"sign\"]",
        "ops = [\"list_keys\", \"rest.sign_request\", \"price.update\", \"heartbeat\"]",
        1,
    );
    let text = format!(
        r#"{text}
[keys.bb.bybit]
api_key = "{API_KEY}"
max_recv_window_ms = 10000

[[keys.bb.bybit.instruments]]
category = "linear"
symbol = "BTCUSDT"
policy_symbol = "BTC-PERP"

[[keys.bb.bybit.instruments]]
category = "spot"
symbol = "BTCUSDT"
policy_symbol = "BTCUSDT"

[[keys.bb.bybit.instruments]]
category = "linear"
symbol = "ETHUSDT"
policy_symbol = "ETH-PERP"

[[keys.bb.bybit.read_only]]
path = "/v5/order/realtime"
params = ["category", "symbol"]
{policy}
{identity_policy}
"#
    );
    std::fs::write(&env.config, text).unwrap();
    env
}

fn call(
    c: &mut Client,
    method: &str,
    path: &str,
    params: Value,
    window: Option<u64>,
) -> Result<Value, ClientError> {
    let mut p =
        json!({"key": "bb", "venue": "bybit", "method": method, "path": path, "params": params});
    if let Some(w) = window {
        p["recv_window_ms"] = json!(w);
    }
    c.call("rest.sign_request", p)
}

fn post(c: &mut Client, path: &str, body: Value) -> Result<Value, ClientError> {
    call(c, "POST", path, body, None)
}

/// The `hmac` crate's MAC over the prehash as Bybit defines it.
fn check(r: &Value) -> Value {
    let h = &r["headers"];
    let ts = h["X-BAPI-TIMESTAMP"].as_str().unwrap();
    let window = h["X-BAPI-RECV-WINDOW"].as_str().unwrap();
    let payload = r["payload"].as_str().unwrap();
    let prehash = format!("{ts}{API_KEY}{window}{payload}");
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(prehash.as_bytes());
    let sig = hex::encode(mac.finalize().into_bytes());
    assert_eq!(h["X-BAPI-SIGN"], sig.as_str(), "{r}");
    assert_eq!(h["X-BAPI-API-KEY"], API_KEY);
    let mut item = json!({"venue": "bybit", "secret": SECRET, "api_key": API_KEY,
        "timestamp": ts.parse::<u64>().unwrap(), "recv_window": window.parse::<u64>().unwrap(),
        "payload": payload, "prehash": prehash, "signature": sig});
    if r["method"] == "GET" {
        // pybit builds a GET's query string itself from the parameters.
        let params: serde_json::Map<String, Value> = payload
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_string(), json!(v))
            })
            .collect();
        item["params"] = Value::Object(params);
    }
    item
}

fn linear(side: &str, qty: &str, price: &str) -> Value {
    json!({"category": "linear", "symbol": "BTCUSDT", "side": side, "orderType": "Limit",
           "qty": qty, "price": price, "timeInForce": "GTC"})
}

fn denied(r: Result<Value, ClientError>, rule: &str) {
    let e = r.expect_err("must be refused");
    assert_eq!(e.code(), Some("policy_denied"), "{e}");
    assert!(e.to_string().contains(rule), "wanted {rule}: {e}");
}

fn bad(r: Result<Value, ClientError>, code: &str, words: &str) {
    let e = r.expect_err("must be refused");
    assert_eq!(e.code(), Some(code), "{e}");
    assert!(e.to_string().contains(words), "wanted {words:?}: {e}");
}

fn sdk_check(env: &Env, items: Vec<Value>) {
    let Some(python) = std::env::var_os("TRADEWARD_VENUES_PYTHON") else {
        eprintln!(
            "SKIPPED the official-SDK check: set TRADEWARD_VENUES_PYTHON to a python with tests/sdk/venues-requirements.txt (scripts/test.sh does)"
        );
        return;
    };
    let file = env.dir.path().join("signed.json");
    std::fs::write(&file, json!({ "items": items }).to_string()).unwrap();
    let out = std::process::Command::new(python)
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/venue_sign.py"))
        .arg(&file)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("{0} of {0} reproduced", items.len())),
        "{text}"
    );
}

#[test]
fn every_endpoint_signs_and_the_official_sdk_reproduces_it() {
    // (An amend counts as a buy and a sell: room for more open orders.)
    // (A market order needs a reference price and max_slippage.)
    let env = setup(
        &LIMITS
            .replace("max_open_orders = 6", "max_open_orders = 20")
            .replace(
                "max_size = \"1\"",
                "max_size = \"1\"\nreference = \"BTC\"\nmax_slippage = \"0.01\"",
            ),
        "",
    );
    let agent = env.start_agent();
    let mut c = agent.client();
    c.call("price.update", json!({"symbol": "BTC", "price": "20000"}))
        .unwrap();
    let spot = json!({"symbol": "BTCUSDT", "side": "Sell", "orderType": "Limit", "qty": "0.01", "price": "20100.5"});
    let requests: Vec<(&str, &str, Value, Option<u64>)> = vec![
        (
            "POST",
            "/v5/order/create",
            linear("Buy", "0.01", "20000"),
            None,
        ),
        (
            "POST",
            "/v5/order/create",
            json!({"category": "spot", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market",
                   "qty": "100", "marketUnit": "quoteCoin", "orderLinkId": "spot-1"}),
            Some(10000),
        ),
        (
            "POST",
            "/v5/order/create-batch",
            json!({"category": "spot", "request": [spot, spot]}),
            None,
        ),
        (
            "POST",
            "/v5/order/amend",
            json!({"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "a-1", "qty": "0.02", "price": "20010"}),
            None,
        ),
        (
            "POST",
            "/v5/order/amend-batch",
            json!({"category": "linear", "request": [{"symbol": "BTCUSDT", "orderId": "c6f055d9-7f21-4079-913d-e6523a9cfffa", "qty": "0.01", "price": "20020"}]}),
            None,
        ),
        (
            "POST",
            "/v5/order/cancel",
            json!({"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "a-1"}),
            None,
        ),
        (
            "POST",
            "/v5/order/cancel-batch",
            json!({"category": "spot", "request": [{"symbol": "BTCUSDT", "orderLinkId": "spot-1"}]}),
            None,
        ),
        (
            "POST",
            "/v5/order/cancel-all",
            json!({"category": "linear", "symbol": "BTCUSDT"}),
            None,
        ),
        (
            "GET",
            "/v5/order/realtime",
            json!({"symbol": "BTCUSDT", "category": "linear"}),
            None,
        ),
    ];
    let mut items = Vec::new();
    for (method, path, params, window) in requests {
        let r = call(&mut c, method, path, params.clone(), window)
            .unwrap_or_else(|e| panic!("{method} {path} {params}: {e}"));
        assert_eq!(
            r["recv_window_ms"],
            window.unwrap_or(5000),
            "the key's default, or the bot's within the ceiling"
        );
        items.push(check(&r));
    }
    assert_eq!(items[8]["payload"], "category=linear&symbol=BTCUSDT");
    sdk_check(&env, items);
}

#[test]
fn policy_rules_deny_at_their_boundaries() {
    let env = setup(LIMITS, "");
    let agent = env.start_agent();
    let mut c = agent.client();
    let p = "/v5/order/create";
    denied(
        post(&mut c, p, linear("Buy", "0.01", "20000")),
        "price_missing",
    );
    c.call("price.update", json!({"symbol": "BTC", "price": "20000"}))
        .unwrap();
    // Symbols: an instrument mapped to a symbol the policy does not list.
    let mut eth = linear("Buy", "1", "1000");
    eth["symbol"] = json!("ETHUSDT");
    denied(post(&mut c, p, eth), "symbol_not_allowed");
    denied(
        post(&mut c, p, linear("Buy", "0.0501", "19000")),
        "max_order_size",
    );
    denied(
        post(&mut c, p, linear("Buy", "0.01", "20400.1")),
        "price_band",
    );
    denied(
        post(&mut c, p, linear("Sell", "0.01", "19599.9")),
        "price_band",
    );
    denied(
        post(&mut c, p, linear("Buy", "0.05", "20001")),
        "max_order_notional",
    );
    post(&mut c, p, linear("Buy", "0.05", "20000")).unwrap();
    post(&mut c, p, linear("Sell", "0.01", "19600")).unwrap();
    post(&mut c, p, linear("Buy", "0.01", "20400")).unwrap();
    post(&mut c, p, linear("Buy", "0.05", "20000")).unwrap();
    post(&mut c, p, linear("Buy", "0.05", "20000")).unwrap();
    let spot = |qty: &str| json!({"category": "spot", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": qty, "price": "20000"});
    // Day cap 4000: 3400 used; 600 fits, 601 does not.
    denied(post(&mut c, p, spot("0.03005")), "notional_per_day");
    post(&mut c, p, spot("0.03")).unwrap();
    denied(post(&mut c, p, spot("0.00001")), "max_open_orders");
    post(
        &mut c,
        "/v5/order/cancel-all",
        json!({"category": "spot", "symbol": "BTCUSDT"}),
    )
    .unwrap();
}

#[test]
fn reduce_only_and_the_breaker_deny_opening_orders() {
    let p = "/v5/order/create";
    let env = setup(
        LIMITS,
        "[policy.identities.developer]\nreduce_only = true\n",
    );
    let agent = env.start_agent();
    let mut c = agent.client();
    c.call("price.update", json!({"symbol": "BTC", "price": "20000"}))
        .unwrap();
    denied(
        post(&mut c, p, linear("Sell", "0.01", "20000")),
        "reduce_only",
    );
    let mut o = linear("Sell", "0.01", "20000");
    o["reduceOnly"] = json!(true);
    post(&mut c, p, o).unwrap();
    drop(c);
    drop(agent);

    let env = setup(
        LIMITS,
        "[policy.identities.developer]\nbreaker = { denials = 2, window_ms = 60000, cooldown_ms = 60000 }\n",
    );
    let agent = env.start_agent();
    let mut c = agent.client();
    c.call("price.update", json!({"symbol": "BTC", "price": "20000"}))
        .unwrap();
    post(&mut c, p, linear("Buy", "0.01", "20000")).unwrap();
    denied(
        post(&mut c, p, linear("Buy", "0.06", "20000")),
        "max_order_size",
    );
    denied(
        post(&mut c, p, linear("Buy", "0.06", "20000")),
        "max_order_size",
    );
    denied(
        post(&mut c, p, linear("Buy", "0.01", "20000")),
        "breaker_open",
    );
}

#[test]
fn bad_input_is_refused_with_a_reason_and_nothing_is_signed() {
    let env = setup(LIMITS, "");
    let mut agent = env.start_agent();
    let mut c = agent.client();
    c.call("price.update", json!({"symbol": "BTC", "price": "20000"}))
        .unwrap();
    let p = "/v5/order/create";
    let with = |k: &str, v: Value| {
        let mut o = linear("Buy", "0.01", "20000");
        o[k] = v;
        o
    };
    bad(
        post(&mut c, p, with("qty", json!("1e-2"))),
        "bad_params",
        "exponent",
    );
    bad(
        post(&mut c, p, with("qty", json!(0.01))),
        "bad_params",
        "string",
    );
    bad(
        post(&mut c, p, with("price", json!("20000.00000000000000001"))),
        "bad_params",
        "decimals",
    );
    bad(
        post(&mut c, p, with("takeProfit", json!("21000"))),
        "bad_params",
        "unknown field",
    );
    bad(
        post(&mut c, p, with("category", json!("inverse"))),
        "bad_params",
        "linear",
    );
    bad(
        post(&mut c, p, with("symbol", json!("SOLUSDT"))),
        "bad_params",
        "instruments",
    );
    bad(
        post(&mut c, p, json!([linear("Buy", "1", "1")])),
        "bad_params",
        "object",
    );
    bad(
        post(&mut c, p, json!("category=linear")),
        "bad_params",
        "object",
    );
    bad(
        post(
            &mut c,
            "/v5/order/create-batch",
            json!({"category": "linear", "request": [linear("Buy", "0.01", "20000")]}),
        ),
        "bad_params",
        "is given once",
    );
    let item = json!({"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.01", "price": "20000"});
    bad(
        post(
            &mut c,
            "/v5/order/create-batch",
            json!({"category": "linear", "request": vec![item; 21]}),
        ),
        "bad_params",
        "1 to 20",
    );
    bad(
        call(
            &mut c,
            "POST",
            p,
            linear("Buy", "0.01", "20000"),
            Some(10001),
        ),
        "bad_params",
        "recv_window_ms",
    );
    for path in [
        "/v5/order/CREATE",
        "/v5//order/create",
        "/v5/order/../order/create",
        "/v5/order/cr%65ate",
        "/v5/order/create?x=1",
    ] {
        let e = post(&mut c, path, linear("Buy", "0.01", "20000")).unwrap_err();
        assert!(
            matches!(e.code(), Some("bad_params" | "forbidden")),
            "{path}: {e}"
        );
    }
    bad(
        post(
            &mut c,
            "/v5/position/set-leverage",
            json!({"category": "linear", "symbol": "BTCUSDT", "buyLeverage": "100", "sellLeverage": "100"}),
        ),
        "forbidden",
        "decodes",
    );
    bad(
        call(&mut c, "GET", "/v5/account/wallet-balance", json!({}), None),
        "forbidden",
        "read-only",
    );
    assert!(agent.is_running());
    let r = post(&mut c, p, linear("Buy", "0.01", "20000")).unwrap();
    check(&r);
    drop(c);
    agent.stop();
    let signatures = env
        .records()
        .iter()
        .filter(|r| r["kind"] == "signature")
        .count();
    assert_eq!(signatures, 1);
    // The journal verifies, and its export reports the venue's decisions.
    env.verify_journal();
    let out = env.run(&[
        "journal",
        "export",
        "--config",
        common::path_str(&env.config),
        "--format",
        "csv",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(csv.contains(",bybit,"), "{csv}");
}

#[test]
fn a_trip_hands_the_operator_signed_bybit_cancel_alls() {
    let env = setup(LIMITS, "");
    let doc_path = env.dir.path().join("trip.json");
    let text = std::fs::read_to_string(&env.config).unwrap();
    let text = format!(
        "{text}\n[deadman]\nmin_timeout_ms = 200\non_trip = [\"/bin/sh\", \"-c\", {:?}]\n",
        format!("cat > {}", doc_path.display())
    );
    std::fs::write(&env.config, text).unwrap();
    let agent = env.start_agent();
    let mut c = agent.client();
    c.call("price.update", json!({"symbol": "BTC", "price": "20000"}))
        .unwrap();
    post(&mut c, "/v5/order/create", linear("Buy", "0.01", "20000")).unwrap();
    c.call("heartbeat", json!({"timeout_ms": 300})).unwrap();
    common::wait_until(
        "the trip document",
        std::time::Duration::from_secs(20),
        || {
            std::fs::read_to_string(&doc_path)
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .is_some()
        },
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&doc_path).unwrap()).unwrap();
    let ins: Vec<&Value> = doc["instructions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["venue"] == "bybit")
        .collect();
    assert_eq!(ins.len(), 1, "{doc}");
    assert_eq!(ins[0]["path"], "/v5/order/cancel-all");
    assert_eq!(
        ins[0]["payload"],
        r#"{"category":"linear","symbol":"BTCUSDT"}"#
    );
    assert_eq!(ins[0]["headers"]["X-BAPI-RECV-WINDOW"], "10000");
    let item = check(ins[0]);
    sdk_check(&env, vec![item]);
}
