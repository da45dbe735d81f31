//! Binance WebSocket API requests (`rest.sign_request` with `"transport":
//! "ws"`) through the real agent and a real SoftHSM token: each signed
//! method is judged exactly as its REST twin, the agent sets `timestamp`,
//! and the signature covers every parameter sorted by name. Binance's own
//! connector (`binance-sdk-spot`, tests/sdk/venue_sign.py) reproduces the
//! signed `params` from the same secret; Ed25519 signatures verify with
//! `ed25519-dalek`. `session.logon` is refused for bots.

mod common;

use std::path::PathBuf;

use base64::Engine;
use common::{Env, key};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tradeward::client::{Client, ClientError};

const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
const API_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";

fn setup() -> Env {
    let env = Env::new();
    let out = env.import("hmac", "ws-hmac", SECRET.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.generate("ed25519", "ws-ed");
    let mut keys = vec![
        key("hmac", "hmac", "ws-hmac"),
        key("ed", "ed25519", "ws-ed"),
    ];
    for k in keys.iter_mut() {
        k.raw_signing = false;
    }
    env.write_config(&keys, "", "");
    let text = std::fs::read_to_string(&env.config).unwrap().replacen(
        "ops = [\"list_keys\", \"sign\"]",
        "ops = [\"list_keys\", \"rest.sign_request\"]",
        1,
    );
    let text = format!(
        r#"{text}
[keys.hmac.rest]
venue = "binance"
markets = ["spot"]

[keys.ed.rest]
venue = "binance"
markets = ["spot"]
max_recv_window_ms = 10000

[policy.keys.hmac]
max_notional_per_day = "0.25"

[policy.keys.hmac.symbols.LTCBTC]
max_size = "10"

[policy.keys.ed.symbols.BTCUSDT]
max_size = "1"
"#
    );
    std::fs::write(&env.config, text).unwrap();
    env
}

fn ws(c: &mut Client, key: &str, method: &str, params: Value) -> Result<Value, ClientError> {
    c.call(
        "rest.sign_request",
        json!({"key": key, "venue": "binance", "transport": "ws", "method": method, "params": params}),
    )
}

fn hmac_hex(msg: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(msg.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The payload is the params object (without `signature`) sorted by name
/// and written as a query string; the signature is over it.
fn check_payload(r: &Value) -> String {
    let params = r["params"].as_object().unwrap();
    let mut names: Vec<&String> = params.keys().filter(|k| *k != "signature").collect();
    let sorted = {
        let mut s = names.clone();
        s.sort();
        s
    };
    assert_eq!(names, sorted, "params are sorted by name: {r}");
    names.sort();
    let text = names
        .iter()
        .map(|n| {
            let v = &params[n.as_str()];
            let v = v
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| v.to_string());
            format!("{n}={}", tradeward::venue::binance::percent_encode(&v))
        })
        .collect::<Vec<_>>()
        .join("&");
    assert_eq!(r["payload"], text.as_str(), "{r}");
    assert_eq!(params["signature"], r["signature"]);
    assert_eq!(params["timestamp"], r["timestamp"]);
    assert_eq!(params["apiKey"], API_KEY);
    text
}

fn place(qty: &str) -> Value {
    json!({"apiKey": API_KEY, "symbol": "LTCBTC", "side": "BUY", "type": "LIMIT",
           "timeInForce": "GTC", "quantity": qty, "price": "0.01"})
}

#[test]
fn every_signed_method_signs_and_binances_connector_reproduces_it() {
    let env = setup();
    let agent = env.start_agent();
    let mut c = agent.client();
    let requests = [
        ("order.place", place("1")),
        (
            "order.place",
            json!({"apiKey": API_KEY, "symbol": "LTCBTC", "side": "SELL", "type": "LIMIT",
                   "timeInForce": "GTC", "quantity": "2", "price": "0.02",
                   "newClientOrderId": "bot:1/a", "recvWindow": 4000}),
        ),
        (
            "order.cancel",
            json!({"apiKey": API_KEY, "symbol": "LTCBTC", "origClientOrderId": "bot:1/a"}),
        ),
        (
            "order.cancelReplace",
            json!({"apiKey": API_KEY, "symbol": "LTCBTC", "cancelReplaceMode": "STOP_ON_FAILURE",
                   "cancelOrderId": 12345, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                   "quantity": "1", "price": "0.011"}),
        ),
        (
            "openOrders.cancelAll",
            json!({"apiKey": API_KEY, "symbol": "LTCBTC"}),
        ),
    ];
    let mut items = Vec::new();
    for (method, params) in requests {
        let r = ws(&mut c, "hmac", method, params).unwrap();
        assert_eq!(r["transport"], "ws");
        assert_eq!(r["method"], method);
        let payload = check_payload(&r);
        assert_eq!(r["signature"], hmac_hex(&payload), "{r}");
        items.push(
            json!({"venue": "binance_ws", "secret": SECRET, "api_key": API_KEY,
                          "params": r["params"]}),
        );
    }
    // The REST twin's rule applies: the day's notional cap (0.25) is judged
    // over both transports (0.01 + 0.04 + 0.011 so far).
    let e = ws(&mut c, "hmac", "order.place", place("20")).unwrap_err();
    assert_eq!(e.code(), Some("policy_denied"), "{e}");
    // Sent as REST, the same order is judged against the same state.
    let rest = c.call(
        "rest.sign_request",
        json!({"key": "hmac", "venue": "binance", "method": "POST",
        "path": "/api/v3/order", "params": {"symbol": "LTCBTC", "side": "BUY", "type": "LIMIT",
        "timeInForce": "GTC", "quantity": "19", "price": "0.01"}}),
    );
    assert_eq!(rest.unwrap_err().code(), Some("policy_denied"));
    let Some(python) = std::env::var_os("TRADEWARD_VENUES_PYTHON") else {
        eprintln!(
            "SKIPPED the official-SDK check: set TRADEWARD_VENUES_PYTHON to a python with tests/sdk/venues-requirements.txt (scripts/test.sh does)"
        );
        return;
    };
    sdk_check(&env, python.into(), items);
}

pub fn sdk_check(env: &Env, python: PathBuf, items: Vec<Value>) {
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
fn ed25519_signatures_verify_and_policy_judges_as_rest() {
    let env = setup();
    let agent = env.start_agent();
    let mut c = agent.client();
    let keys = c.list_keys().unwrap();
    let ed = keys.iter().find(|k| k["alias"] == "ed").unwrap();
    let vk = ed25519_dalek::VerifyingKey::from_bytes(
        &common::hexf(ed, "public_key").try_into().unwrap(),
    )
    .unwrap();
    let order = |qty: &str, symbol: &str| {
        json!({"apiKey": API_KEY, "symbol": symbol, "side": "BUY", "type": "LIMIT",
               "timeInForce": "GTC", "quantity": qty, "price": "50000", "recvWindow": "10000"})
    };
    let r = ws(&mut c, "ed", "order.place", order("1", "BTCUSDT")).unwrap();
    assert_eq!(r["type"], "ed25519");
    assert_eq!(r["recv_window_ms"], 10000);
    let payload = check_payload(&r);
    let raw = base64::engine::general_purpose::STANDARD
        .decode(r["signature"].as_str().unwrap())
        .unwrap();
    let sig = ed25519_dalek::Signature::from_slice(&raw).unwrap();
    vk.verify_strict(payload.as_bytes(), &sig).unwrap();
    // Size at its boundary: 1 passes (above), just over it is denied.
    let e = ws(&mut c, "ed", "order.place", order("1.00000001", "BTCUSDT")).unwrap_err();
    assert_eq!(e.code(), Some("policy_denied"), "{e}");
    assert!(e.to_string().contains("size"), "{e}");
    // A symbol the policy does not list.
    let e = ws(&mut c, "ed", "order.place", order("1", "ETHUSDT")).unwrap_err();
    assert_eq!(e.code(), Some("policy_denied"), "{e}");
    // recvWindow above the key's ceiling.
    let mut o = order("1", "BTCUSDT");
    o["recvWindow"] = json!(10001);
    let e = ws(&mut c, "ed", "order.place", o).unwrap_err();
    assert_eq!(e.code(), Some("bad_params"), "{e}");
}

#[test]
fn session_logon_and_bad_requests_are_refused_and_nothing_is_signed() {
    let env = setup();
    let mut agent = env.start_agent();
    let mut c = agent.client();
    for method in ["session.logon", "userDataStream.subscribe.signature"] {
        let e = ws(&mut c, "ed", method, json!({"apiKey": API_KEY})).unwrap_err();
        assert_eq!(e.code(), Some("forbidden"), "{e}");
        assert!(e.to_string().contains("never signed for a bot"), "{e}");
    }
    let mut with_ts = place("1");
    with_ts["timestamp"] = json!(1);
    let mut with_sig = place("1");
    with_sig["signature"] = json!("00");
    let mut unknown = place("1");
    unknown["icebergParts"] = json!(2);
    let mut exp = place("1");
    exp["quantity"] = json!("1e1");
    let mut no_key = place("1");
    no_key.as_object_mut().unwrap().remove("apiKey");
    let cases: Vec<(&str, Value, &str)> = vec![
        ("orderList.place", place("1"), "forbidden"),
        (
            "order.status",
            json!({"apiKey": API_KEY, "symbol": "LTCBTC"}),
            "forbidden",
        ),
        ("ORDER.PLACE", place("1"), "forbidden"),
        ("order.place", json!(["not", "an", "object"]), "bad_params"),
        ("order.place", json!("symbol=LTCBTC"), "bad_params"),
        ("order.place", with_ts, "bad_params"),
        ("order.place", with_sig, "bad_params"),
        ("order.place", unknown, "bad_params"),
        ("order.place", exp, "bad_params"),
        ("order.place", no_key, "bad_params"),
    ];
    for (method, params, code) in cases {
        let e = ws(&mut c, "hmac", method, params.clone()).unwrap_err();
        assert_eq!(e.code(), Some(code), "{method} {params}: {e}");
    }
    // A path is not taken with the ws transport, nor an unknown transport.
    let e = c
        .call(
            "rest.sign_request",
            json!({"key": "hmac", "venue": "binance", "transport": "ws",
            "method": "order.place", "path": "/api/v3/order", "params": place("1")}),
        )
        .unwrap_err();
    assert_eq!(e.code(), Some("bad_params"), "{e}");
    let e = c
        .call(
            "rest.sign_request",
            json!({"key": "hmac", "venue": "binance", "transport": "fix",
            "method": "order.place", "params": place("1")}),
        )
        .unwrap_err();
    assert_eq!(e.code(), Some("bad_params"), "{e}");
    // Nothing was signed, every refusal is on record, and the agent serves.
    assert!(agent.is_running());
    ws(&mut c, "hmac", "order.place", place("1")).unwrap();
    drop(c);
    agent.stop();
    let records = env.records();
    let signatures = records.iter().filter(|r| r["kind"] == "signature").count();
    assert_eq!(signatures, 1, "only the last request was signed");
    let logons = records
        .iter()
        .filter(|r| r["kind"] == "decision" && r["rule"] == "forbidden")
        .count();
    assert!(logons >= 2, "{records:?}");
}
