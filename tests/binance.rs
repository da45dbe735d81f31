//! Binance-style REST signing through the real agent and a real SoftHSM
//! token: the agent sets the timestamp and builds the query string, the
//! token signs it, and verifiers we did not write check the result — the
//! `hmac` crate with the imported secret (the venue documentation's
//! published example key) and `ed25519-dalek` with the key's public key.
//! Policy judges orders and transfers; read-only endpoints need an
//! allowlist entry; strictness denials name the field; the journal records
//! every decision and its state survives a restart.

mod common;

use std::path::Path;

use base64::Engine;
use common::{Env, key};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tradeward::client::Client;

/// The venue documentation's published example secret and request.
const DOC_SECRET: &[u8] = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
const DOC_QUERY: &str = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
const DOC_SIGNATURE: &str = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";

const POLICY: &str = r#"
[policy.keys.hmac]
max_notional_per_day = "0.25"

[policy.keys.hmac.symbols.LTCBTC]
max_size = "10"

[[policy.keys.hmac.transfers]]
destination = "MAIN_UMFUTURE"
asset = "USDT"
max_amount = "100"
max_per_day = "150"
kinds = ["asset/transfer"]

[policy.keys.ed.symbols.BTCUSDT]
max_size = "1"
"#;

fn setup() -> Env {
    let env = Env::new();
    let out = env.import("hmac", "bn-hmac", DOC_SECRET);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.generate("ed25519", "bn-ed");
    env.generate("hmac", "plain");
    let mut keys = vec![
        key("hmac", "hmac", "bn-hmac"),
        key("ed", "ed25519", "bn-ed"),
        key("plain", "hmac", "plain"),
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

[[keys.hmac.rest.read_only]]
method = "GET"
path = "/api/v3/account"
params = ["omitZeroBalances"]

[keys.ed.rest]
venue = "binance"
markets = ["usdm"]
recv_window_ms = 3000
max_recv_window_ms = 10000
{POLICY}"#
    );
    std::fs::write(&env.config, text).unwrap();
    env
}

fn doc_order() -> Value {
    json!({"symbol": "LTCBTC", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
           "quantity": "1", "price": "0.1"})
}

fn call(
    c: &mut Client,
    key: &str,
    method: &str,
    path: &str,
    params: Value,
) -> Result<Value, tradeward::client::ClientError> {
    c.call(
        "rest.sign_request",
        json!({"key": key, "venue": "binance", "method": method, "path": path, "params": params}),
    )
}

fn hmac_hex(msg: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(DOC_SECRET).unwrap();
    mac.update(msg.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Check an HMAC result: the MAC is the one the `hmac` crate computes with
/// the imported secret over exactly the returned query.
fn check_hmac(r: &Value) {
    let q = r["query"].as_str().unwrap();
    let sig = r["signature"].as_str().unwrap();
    assert_eq!(sig, hmac_hex(q), "{r}");
    assert_eq!(r["signed_query"], format!("{q}&signature={sig}"));
    assert_eq!(r["type"], "hmac");
}

fn records(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("segment-000001.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn hmac_signatures_reproduce_the_published_example() {
    let env = setup();
    let agent = env.start_agent();
    let mut c = agent.client();
    let before = tradeward::journal::record::now_ms();
    let r = call(&mut c, "hmac", "POST", "/api/v3/order", doc_order()).unwrap();
    let after = tradeward::journal::record::now_ms();
    check_hmac(&r);
    // The agent set the timestamp from its clock...
    let ts = r["timestamp"].as_u64().unwrap();
    // (The agent's clock and this process's may be a few ms apart.)
    assert!(
        (before - 1_000..=after + 1_000).contains(&ts),
        "{ts} not within a second of {before}..={after}"
    );
    // ...and otherwise built exactly the documentation's query string, whose
    // published signature the same secret reproduces.
    let q = r["query"].as_str().unwrap();
    assert_eq!(q.replace(&ts.to_string(), "1499827319559"), DOC_QUERY);
    assert_eq!(hmac_hex(DOC_QUERY), DOC_SIGNATURE);
    assert_eq!(r["recv_window_ms"], 5000);
    assert_eq!(r["method"], "POST");
    assert_eq!(r["path"], "/api/v3/order");
    assert_eq!(r["venue"], "binance");
    // The same request as a query string, parameters in another order.
    let r = call(
        &mut c,
        "hmac",
        "POST",
        "/api/v3/order",
        json!("price=0.1&quantity=1&timeInForce=GTC&type=LIMIT&side=BUY&symbol=LTCBTC"),
    )
    .unwrap();
    check_hmac(&r);
    let ts = r["timestamp"].as_u64().unwrap();
    assert_eq!(
        r["query"]
            .as_str()
            .unwrap()
            .replace(&ts.to_string(), "1499827319559"),
        DOC_QUERY
    );
    // The day cap (0.25) has room for two of these (0.1 each), not three;
    // the denial is structured.
    let e = call(&mut c, "hmac", "POST", "/api/v3/order", doc_order()).unwrap_err();
    assert_eq!(e.code(), Some("policy_denied"), "{e}");
    assert!(e.to_string().contains("day"), "{e}");
    // Cancels still pass (any symbol).
    let r = call(
        &mut c,
        "hmac",
        "DELETE",
        "/api/v3/openOrders",
        json!({"symbol": "LTCBTC"}),
    )
    .unwrap();
    check_hmac(&r);
    // A read-only endpoint on the allowlist.
    let r = call(
        &mut c,
        "hmac",
        "GET",
        "/api/v3/account",
        json!({"omitZeroBalances": true}),
    )
    .unwrap();
    check_hmac(&r);
    assert!(
        r["query"]
            .as_str()
            .unwrap()
            .starts_with("omitZeroBalances=true&recvWindow=5000&timestamp="),
        "{r}"
    );
    // A transfer to the allowed destination, and one above its limit.
    let r = call(
        &mut c,
        "hmac",
        "POST",
        "/sapi/v1/asset/transfer",
        json!({"type": "MAIN_UMFUTURE", "asset": "USDT", "amount": "100"}),
    )
    .unwrap();
    check_hmac(&r);
    let e = call(
        &mut c,
        "hmac",
        "POST",
        "/sapi/v1/asset/transfer",
        json!({"type": "MAIN_UMFUTURE", "asset": "USDT", "amount": "100.01"}),
    )
    .unwrap_err();
    assert_eq!(e.code(), Some("policy_denied"), "{e}");
    // A withdrawal the policy does not name is denied.
    let e = call(
        &mut c,
        "hmac",
        "POST",
        "/sapi/v1/capital/withdraw/apply",
        json!({"coin": "BTC", "address": "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh", "amount": "0.5"}),
    )
    .unwrap_err();
    assert_eq!(e.code(), Some("policy_denied"), "{e}");
    assert!(e.to_string().contains("transfer"), "{e}");

    // The journal holds each decision with its venue, the typed intents of
    // the order and transfer requests, and none for the read.
    drop(c);
    drop(agent);
    let recs = records(&env.journal_dir());
    let decisions: Vec<&Value> = recs
        .iter()
        .filter(|r| r["kind"] == "decision" && r["op"] == "rest.sign_request")
        .collect();
    assert_eq!(decisions.len(), 8, "{decisions:#?}");
    assert!(decisions.iter().all(|d| d["venue"] == "binance"));
    let first = decisions[0];
    assert_eq!(first["allow"], true);
    assert_eq!(first["intents"][0]["intent"], "place");
    assert_eq!(first["intents"][0]["symbol"], "LTCBTC");
    assert!(
        first["reason"]
            .as_str()
            .unwrap()
            .contains("POST /api/v3/order")
    );
    let read = decisions
        .iter()
        .find(|d| d["rule"] == "read_only")
        .expect("the read is on record");
    assert!(read.get("intents").is_none(), "{read}");
    assert_eq!(read["allow"], true);
    let withdraw = decisions.last().unwrap();
    assert_eq!(withdraw["allow"], false);
    assert_eq!(withdraw["intents"][0]["intent"], "transfer");
    assert_eq!(withdraw["intents"][0]["kind"], "capital/withdraw/apply");
    // Every allowed decision is followed by its signature.
    let signatures = recs.iter().filter(|r| r["kind"] == "signature").count();
    assert_eq!(signatures, 5);
    let out = env.run(&[
        "journal",
        "verify",
        "--config",
        common::path_str(&env.config),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A restart does not loosen the day cap: state comes from the journal.
    let agent = env.start_agent();
    let mut c = agent.client();
    let e = call(&mut c, "hmac", "POST", "/api/v3/order", doc_order()).unwrap_err();
    assert_eq!(e.code(), Some("policy_denied"), "after restart: {e}");
}

#[test]
fn ed25519_signatures_verify_against_the_public_key() {
    let env = setup();
    let agent = env.start_agent();
    let mut c = agent.client();
    let keys = c.list_keys().unwrap();
    let ed = keys.iter().find(|k| k["alias"] == "ed").unwrap();
    let vk = ed25519_dalek::VerifyingKey::from_bytes(
        &common::hexf(ed, "public_key").try_into().unwrap(),
    )
    .unwrap();
    let order = json!({"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTX",
                       "quantity": "0.5", "price": "70000", "reduceOnly": "true",
                       "newClientOrderId": "mm:1/a"});
    let mut batch = order.clone();
    batch["newClientOrderId"] = json!("mm-2");
    for (method, path, params) in [
        ("POST", "/fapi/v1/order", order.clone()),
        (
            "POST",
            "/fapi/v1/batchOrders",
            json!({"batchOrders": [order.clone(), batch]}),
        ),
        (
            "DELETE",
            "/fapi/v1/order",
            json!({"symbol": "BTCUSDT", "origClientOrderId": "mm:1/a"}),
        ),
        (
            "DELETE",
            "/fapi/v1/allOpenOrders",
            json!({"symbol": "ETHUSDT"}),
        ),
    ] {
        let r = call(&mut c, "ed", method, path, params).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(r["type"], "ed25519");
        let q = r["query"].as_str().unwrap();
        let sig_text = r["signature"].as_str().unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sig_text)
            .unwrap();
        let sig = ed25519_dalek::Signature::from_slice(&raw).unwrap();
        vk.verify_strict(q.as_bytes(), &sig).unwrap();
        // Sent URL-encoded: no raw base64 '+', '/' or '=' after signature=.
        let tail = r["signed_query"]
            .as_str()
            .unwrap()
            .strip_prefix(&format!("{q}&signature="))
            .unwrap()
            .to_string();
        assert!(!tail.contains(['+', '/', '=']), "{tail}");
        assert_eq!(tradeward::venue::binance::percent_encode(sig_text), tail);
        assert!(q.contains("&recvWindow=3000&timestamp="), "{q}");
    }
    // The first order's query, exactly (the client id is percent-encoded).
    let r = call(&mut c, "ed", "POST", "/fapi/v1/order", order.clone()).unwrap();
    let ts = r["timestamp"].as_u64().unwrap();
    assert_eq!(
        r["query"],
        format!(
            "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTX&quantity=0.5&reduceOnly=true&price=70000\
             &newClientOrderId=mm%3A1%2Fa&recvWindow=3000&timestamp={ts}"
        )
    );
    // recvWindow up to the key's ceiling.
    let mut w = order.clone();
    w["recvWindow"] = json!(10000);
    let r = call(&mut c, "ed", "POST", "/fapi/v1/order", w.clone()).unwrap();
    assert!(r["query"].as_str().unwrap().contains("recvWindow=10000&"));
    w["recvWindow"] = json!(10001);
    let e = call(&mut c, "ed", "POST", "/fapi/v1/order", w).unwrap_err();
    assert_eq!(e.code(), Some("bad_params"), "{e}");
    assert!(e.to_string().contains("recvWindow"), "{e}");
    // Size above the symbol's limit, and a symbol not allowed.
    let mut big = order.clone();
    big["quantity"] = json!("2");
    big["reduceOnly"] = json!("false");
    let e = call(&mut c, "ed", "POST", "/fapi/v1/order", big).unwrap_err();
    assert_eq!(e.code(), Some("policy_denied"), "{e}");
    let mut eth = order.clone();
    eth["symbol"] = json!("ETHUSDT");
    let e = call(&mut c, "ed", "POST", "/fapi/v1/order", eth).unwrap_err();
    assert_eq!(e.code(), Some("policy_denied"), "{e}");
    assert!(e.to_string().contains("ETHUSDT"), "{e}");
}

#[test]
fn strict_parsing_denies_with_a_reason_naming_the_field() {
    let env = setup();
    let agent = env.start_agent();
    let mut c = agent.client();
    let with = |k: &str, v: Value| {
        let mut p = doc_order();
        p[k] = v;
        p
    };
    for (params, field) in [
        (with("foo", json!("1")), "foo"),
        (with("timestamp", json!(1499827319559u64)), "timestamp"),
        (with("signature", json!(DOC_SIGNATURE)), "signature"),
        (with("price", json!("NaN")), "price"),
        (with("price", json!("-0.1")), "price"),
        (with("price", json!("0")), "price"),
        (with("price", json!("1e-1")), "price"),
        (with("price", json!(0.1)), "price"),
        (with("quantity", json!(true)), "quantity"),
        (with("side", json!("buy")), "side"),
        (with("type", json!("MARKET")), "timeInForce"),
        (with("recvWindow", json!("5000.0001")), "recvWindow"),
        (with("recvWindow", json!(60000)), "recvWindow"),
        (
            json!(
                "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&price=0.2"
            ),
            "price",
        ),
    ] {
        let e = call(&mut c, "hmac", "POST", "/api/v3/order", params.clone()).unwrap_err();
        assert_eq!(e.code(), Some("bad_params"), "{params}: {e}");
        assert!(
            e.to_string().contains(&format!("{field}:")),
            "{params}: {e}"
        );
    }
    // A parameter given twice in the JSON itself is refused by the frame
    // parser, naming it.
    c.send_frame(
        br#"{"id":77,"op":"rest.sign_request","params":{"key":"hmac","venue":"binance","method":"POST","path":"/api/v3/order","params":{"symbol":"LTCBTC","symbol":"BTCUSDT"}}}"#,
    )
    .unwrap();
    let resp = c.recv().unwrap();
    assert_eq!(resp["ok"], false, "{resp}");
    assert!(
        resp["error"]["message"]
            .as_str()
            .unwrap()
            .contains("duplicate key \"symbol\""),
        "{resp}"
    );
    // Endpoints: a market the key is not enabled for, an endpoint neither
    // decoded nor allowlisted, a key without a rest table, another venue.
    let e = call(&mut c, "hmac", "POST", "/fapi/v1/order", doc_order()).unwrap_err();
    assert_eq!(e.code(), Some("forbidden"), "{e}");
    let e = call(
        &mut c,
        "hmac",
        "POST",
        "/fapi/v1/leverage",
        json!({"symbol": "BTCUSDT", "leverage": 5}),
    )
    .unwrap_err();
    assert_eq!(e.code(), Some("forbidden"), "{e}");
    let e = call(
        &mut c,
        "hmac",
        "GET",
        "/api/v3/myTrades",
        json!({"symbol": "LTCBTC"}),
    )
    .unwrap_err();
    assert_eq!(e.code(), Some("forbidden"), "{e}");
    let e = call(
        &mut c,
        "hmac",
        "GET",
        "/api/v3/account",
        json!({"symbol": "LTCBTC"}),
    )
    .unwrap_err();
    assert_eq!(e.code(), Some("bad_params"), "{e}");
    assert!(e.to_string().contains("symbol:"), "{e}");
    let e = call(&mut c, "plain", "POST", "/api/v3/order", doc_order()).unwrap_err();
    assert_eq!(e.code(), Some("forbidden"), "{e}");
    let e = c
        .call(
            "rest.sign_request",
            json!({"key": "hmac", "venue": "kraken", "method": "POST", "path": "/api/v3/order", "params": doc_order()}),
        )
        .unwrap_err();
    assert_eq!(e.code(), Some("bad_params"), "{e}");
    // A venue the agent knows, on a key without its table.
    let e = c
        .call(
            "rest.sign_request",
            json!({"key": "hmac", "venue": "bybit", "method": "POST", "path": "/v5/order/create", "params": {}}),
        )
        .unwrap_err();
    assert_eq!(e.code(), Some("forbidden"), "{e}");
    assert!(e.to_string().contains("[keys.hmac.bybit]"), "{e}");
    let e = c
        .call(
            "rest.sign_request",
            json!({"key": "hmac", "venue": "binance", "method": "POST", "path": "/api/v3/order", "extra": 1}),
        )
        .unwrap_err();
    assert_eq!(e.code(), Some("bad_params"), "{e}");
    // The op is listed for the identity that holds it.
    let hello = c.hello().unwrap();
    assert!(
        hello["ops"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "rest.sign_request"),
        "{hello}"
    );
}

#[test]
fn config_refuses_rest_tables_that_cannot_work() {
    let env = setup();
    let good = std::fs::read_to_string(&env.config).unwrap();
    for (from, to, why) in [
        (
            "[keys.ed.rest]",
            "[keys.ed.rest]\nread_only = [{ method = \"POST\", path = \"/sapi/v1/x\" }]",
            "only GET",
        ),
        (
            "params = [\"omitZeroBalances\"]",
            "params = [\"omitZeroBalances\", \"amount\"]",
            "replayed",
        ),
        (
            "recv_window_ms = 3000",
            "recv_window_ms = 70000",
            "recv_window_ms",
        ),
        (
            "markets = [\"usdm\"]",
            "markets = [\"coinm\"]",
            "unknown variant",
        ),
    ] {
        assert!(good.contains(from), "{from}");
        std::fs::write(&env.config, good.replacen(from, to, 1)).unwrap();
        let err = env.try_start_agent().err().expect("the agent must refuse");
        assert!(err.contains(why), "{why}: {err}");
    }
    // REST signing needs an HMAC or Ed25519 key.
    let from = "[keys.ed]\ntype = \"ed25519\"";
    assert!(good.contains(from));
    let bad = good.replacen(from, "[keys.ed]\ntype = \"secp256k1\"", 1);
    std::fs::write(&env.config, bad).unwrap();
    let err = env.try_start_agent().err().expect("the agent must refuse");
    assert!(err.contains("keys.ed.rest"), "{err}");
}
