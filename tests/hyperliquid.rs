//! Hyperliquid signing through the real agent: every L1 action type the
//! official SDK produces is parsed, re-encoded and signed by the token, and
//! the SDK itself (its hashing plus eth_account) recovers the key's address
//! from the agent's output; so for the newer actions (`noop`, `sendAsset`,
//! `agentSendAsset`, orders on builder-deployed perp dexs). Network, vault
//! and nonce rules are enforced; transfers are denied without a policy that
//! names the destination.

mod common;

use std::path::PathBuf;

use common::{Env, key};
use serde_json::{Value, json};

const TEST_KEY: &[u8] = b"0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
const ADDRESS: &str = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23";
const VAULT: &str = "0x1719884eb866cb12b2287399b15f7db5e7d775ea";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hyperliquid")
}

fn vectors() -> Vec<Value> {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("vectors.json")).unwrap())
            .unwrap();
    v["vectors"].as_array().unwrap().clone()
}

/// Two token keys with the same (published, test-only) private key: one
/// configured for mainnet, one for testnet.
fn setup() -> Env {
    setup_with(PERMISSIVE)
}

/// Every symbol, leverage up to 50, the test vectors' builder at up to
/// 1 bp and an order priority up to 0.1 bp on the mainnet key. The rules themselves are exercised in
/// `policy_limits_hold_across_a_restart` and `builder_fees_need_an_allowance`.
const PERMISSIVE: &str = "[policy.key_defaults]\nmax_leverage = 50\n[policy.key_defaults.symbols.\"*\"]\n\
     [[policy.keys.main.fees]]\nkind = \"builder\"\npayee = \"0x8C967E73E7B15087C42A10D344CFF4C96D877F1D\"\nmax_rate = \"0.0001\"\n\
     [[policy.keys.main.fees]]\nkind = \"priority\"\npayee = \"burn\"\nmax_rate = \"0.00001\"\n";

fn setup_with(policy: &str) -> Env {
    let env = Env::new();
    for label in ["hl-main", "hl-test"] {
        let out = env.import("secp256k1", label, TEST_KEY);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    env.generate("secp256k1", "plain");
    let mut keys = vec![
        key("main", "secp256k1", "hl-main"),
        key("test", "secp256k1", "hl-test"),
        key("plain", "secp256k1", "plain"),
    ];
    for k in keys.iter_mut() {
        k.raw_signing = false;
    }
    env.write_config(
        &keys,
        "",
        "ops = [\"list_keys\", \"hyperliquid.sign_l1_action\", \"hyperliquid.sign_user_action\", \"price.update\", \"order.report\"]",
    );
    // The identity line written by the harness grants list_keys and sign;
    // replace it with the Hyperliquid grants.
    let text = std::fs::read_to_string(&env.config).unwrap();
    let text = text.replacen("ops = [\"list_keys\", \"sign\"]\n", "", 1);
    let meta = fixtures().join("meta.json");
    let spot = fixtures().join("spot_meta.json");
    let dexs = fixtures().join("perp_dexs.json");
    let xyz = fixtures().join("meta_xyz.json");
    let mut text = text;
    for (alias, net) in [("main", "mainnet"), ("test", "testnet")] {
        text.push_str(&format!(
            "\n[keys.{alias}.hyperliquid]\nnetwork = \"{net}\"\nvaults = [\"{VAULT}\"]\nmeta = {:?}\nspot_meta = {:?}\nperp_dexs = {:?}\ndex_meta = {{ xyz = {:?} }}\n",
            meta.display().to_string(),
            spot.display().to_string(),
            dexs.display().to_string(),
            xyz.display().to_string()
        ));
    }
    text.push_str(&format!("\n{policy}\n"));
    std::fs::write(&env.config, text).unwrap();
    env
}

fn sign(
    c: &mut tradeward::client::Client,
    v: &Value,
    nonce: Option<u64>,
) -> Result<Value, tradeward::client::ClientError> {
    let alias = if v["is_mainnet"] == true {
        "main"
    } else {
        "test"
    };
    let mut params = json!({
        "key": alias,
        "action": v["action"],
        "is_mainnet": v["is_mainnet"],
    });
    if !v["vault"].is_null() {
        params["vault_address"] = v["vault"].clone();
    }
    if !v["expires_after"].is_null() {
        params["expires_after"] = v["expires_after"].clone();
    }
    if let Some(n) = nonce {
        params["nonce"] = n.into();
    }
    c.call("hyperliquid.sign_l1_action", params)
}

fn recover(digest: &[u8], sig: &Value) -> String {
    let r = tradeward::config::parse_hex(sig["r"].as_str().unwrap()).unwrap();
    let s = tradeward::config::parse_hex(sig["s"].as_str().unwrap()).unwrap();
    let v = sig["v"].as_u64().unwrap() as u8;
    let signature = k256::ecdsa::Signature::from_slice(&[r, s].concat()).unwrap();
    let vk = k256::ecdsa::VerifyingKey::recover_from_prehash(
        digest,
        &signature,
        k256::ecdsa::RecoveryId::from_byte(v - 27).unwrap(),
    )
    .unwrap();
    let point = vk.to_sec1_point(false);
    tradeward::crypto::eth::checksum_address(&tradeward::crypto::eth::address(point.as_bytes()))
}

#[test]
fn every_l1_action_type_recovers_with_the_official_sdk() {
    let env = setup();
    let agent = env.start_agent();
    let mut c = agent.client();
    let mut items = Vec::new();
    let mut last_nonce = 0;
    // agentSendAsset carries its own nonce and needs an allowance: it is
    // signed in newer_action_types_recover_with_the_official_sdk_and_are_judged.
    for v in vectors()
        .iter()
        .filter(|v| v["kind"] == "l1" && v["action"]["type"] != "agentSendAsset")
    {
        let r = sign(&mut c, v, None).unwrap_or_else(|e| panic!("{}: {e}", v["name"]));
        // The canonical action is what the SDK itself built.
        let canonical: Value = serde_json::from_str(v["action_json"].as_str().unwrap()).unwrap();
        assert_eq!(r["action"], canonical, "{}", v["name"]);
        assert_eq!(
            r["action"].to_string(),
            v["action_json"].as_str().unwrap(),
            "{}: key order",
            v["name"]
        );
        // Agent-assigned nonces strictly increase.
        let nonce = r["nonce"].as_u64().unwrap();
        assert!(nonce > last_nonce);
        last_nonce = nonce;
        assert_eq!(r["address"], ADDRESS);
        let digest = common::hexf(&r, "digest");
        assert_eq!(recover(&digest, &r["signature"]), ADDRESS, "{}", v["name"]);
        items.push(json!({
            "action": r["action"],
            "nonce": nonce,
            "vault_address": r.get("vault_address"),
            "expires_after": r.get("expires_after"),
            "is_mainnet": v["is_mainnet"],
            "signature": r["signature"],
        }));
    }
    assert!(items.len() >= 30, "only {} L1 vectors", items.len());
    // The official SDK recovers the key's address from every output.
    let Some(python) = std::env::var_os("TRADEWARD_SDK_PYTHON") else {
        eprintln!(
            "SKIPPED the official-SDK check: set TRADEWARD_SDK_PYTHON to a python with hyperliquid-python-sdk (scripts/test.sh does)"
        );
        return;
    };
    let file = env.dir.path().join("signed.json");
    std::fs::write(
        &file,
        json!({"address": ADDRESS, "items": items}).to_string(),
    )
    .unwrap();
    let out = std::process::Command::new(python)
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/hl_recover.py"))
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
        text.contains(&format!("{} of {} recovered", items.len(), items.len())),
        "{text}"
    );
}

#[test]
fn network_vault_nonce_and_transfer_rules() {
    let env = setup();
    let mut agent = env.start_agent();
    let mut c = agent.client();
    let vs = vectors();
    let order = vs
        .iter()
        .find(|v| v["name"] == "order_btc_gtc_mainnet")
        .unwrap();
    // Wrong network for the key.
    let mut wrong = order.clone();
    wrong["is_mainnet"] = json!(false);
    let e = c
        .call(
            "hyperliquid.sign_l1_action",
            json!({"key": "main", "action": order["action"], "is_mainnet": false}),
        )
        .unwrap_err();
    assert_eq!(e.code(), Some("forbidden"), "{e}");
    drop(wrong);
    // A vault the key may not act for.
    let e = c
        .call(
            "hyperliquid.sign_l1_action",
            json!({"key": "main", "action": order["action"], "is_mainnet": true, "vault_address": "0x0000000000000000000000000000000000000001"}),
        )
        .unwrap_err();
    assert_eq!(e.code(), Some("forbidden"), "{e}");
    // A key without a Hyperliquid table.
    let e = c
        .call(
            "hyperliquid.sign_l1_action",
            json!({"key": "plain", "action": order["action"], "is_mainnet": true}),
        )
        .unwrap_err();
    assert_eq!(e.code(), Some("forbidden"), "{e}");
    // Bad numbers are denied with a reason naming the field.
    for (p, why) in [
        ("NaN", "orders[0].p"),
        ("-1", "orders[0].p"),
        ("1e3", "exponent"),
        ("0", "orders[0].p"),
    ] {
        let mut a = order["action"].clone();
        a["orders"][0]["p"] = json!(p);
        let e = c
            .call(
                "hyperliquid.sign_l1_action",
                json!({"key": "main", "action": a, "is_mainnet": true}),
            )
            .unwrap_err();
        assert_eq!(e.code(), Some("bad_params"), "{p}: {e}");
        assert!(e.to_string().contains(why), "{p}: {e}");
    }
    let mut a = order["action"].clone();
    a["orders"][0]["a"] = json!(9999);
    let e = c
        .call(
            "hyperliquid.sign_l1_action",
            json!({"key": "main", "action": a, "is_mainnet": true}),
        )
        .unwrap_err();
    assert_eq!(e.code(), Some("bad_params"), "{e}");
    let e = c
        .call(
            "hyperliquid.sign_l1_action",
            json!({"key": "main", "action": {"type": "launch"}, "is_mainnet": true}),
        )
        .unwrap_err();
    assert_eq!(e.code(), Some("bad_params"), "{e}");
    // A supplied nonce is used once.
    let now = tradeward::journal::record::now_ms();
    assert!(sign(&mut c, order, Some(now)).is_ok());
    let e = sign(&mut c, order, Some(now)).unwrap_err();
    assert_eq!(e.code(), Some("bad_params"), "{e}");
    assert!(e.to_string().contains("already used"), "{e}");
    // Outside the venue's window.
    let e = sign(&mut c, order, Some(now - 3 * 24 * 3600 * 1000)).unwrap_err();
    assert!(e.to_string().contains("window"), "{e}");
    // An L1 action through the user-action op, and the reverse.
    let e = c
        .call(
            "hyperliquid.sign_user_action",
            json!({"key": "main", "action": order["action"], "is_mainnet": true}),
        )
        .unwrap_err();
    assert_eq!(e.code(), Some("bad_params"), "{e}");
    // Transfers are denied without a policy naming the destination.
    for v in vs
        .iter()
        .filter(|v| v["kind"] == "user" && v["is_mainnet"] == true)
    {
        // A fresh nonce (the vectors' are long past the venue's window).
        let mut action = v["action"].clone();
        let fresh = tradeward::journal::record::now_ms();
        for field in ["time", "nonce"] {
            if action.get(field).is_some() {
                action[field] = fresh.into();
            }
        }
        let e = c
            .call(
                "hyperliquid.sign_user_action",
                json!({"key": "main", "action": action, "is_mainnet": true}),
            )
            .unwrap_err();
        assert_eq!(e.code(), Some("policy_denied"), "{}: {e}", v["name"]);
    }
    // Nonces keep increasing across a restart, even for agent-assigned ones.
    let before = sign(&mut c, order, None).unwrap()["nonce"]
        .as_u64()
        .unwrap();
    let ahead = before + 60_000;
    assert!(sign(&mut c, order, Some(ahead)).is_ok());
    drop(c);
    assert!(agent.stop().success());
    let agent = env.start_agent();
    let mut c = agent.client();
    let after = sign(&mut c, order, None).unwrap()["nonce"]
        .as_u64()
        .unwrap();
    assert!(
        after > ahead,
        "nonce {after} not above {ahead} after a restart"
    );
    // Everything above is on record and the journal verifies.
    drop(c);
    drop(agent);
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
}

#[test]
fn policy_limits_hold_across_a_restart() {
    let env = setup_with(
        "[policy.key_defaults]\nmax_notional_per_day = \"100\"\n[policy.key_defaults.symbols.BTC]\nmax_size = \"0.01\"\n",
    );
    let vs = vectors();
    let order = vs
        .iter()
        .find(|v| v["name"] == "order_btc_gtc_mainnet")
        .unwrap();
    // BTC 0.001 @ 50000: 50 of notional each.
    let mut agent = env.start_agent();
    let mut c = agent.client();
    assert!(sign(&mut c, order, None).is_ok());
    assert!(sign(&mut c, order, None).is_ok());
    let e = sign(&mut c, order, None).unwrap_err();
    assert_eq!(e.code(), Some("policy_denied"), "{e}");
    assert!(e.to_string().contains("day"), "{e}");
    // The structured denial names the rule, the limit and the observed value.
    let mut raw = agent.client();
    let resp = {
        raw.send(
            "hyperliquid.sign_l1_action",
            json!({"key": "main", "action": order["action"], "is_mainnet": true}),
        )
        .unwrap();
        raw.recv().unwrap()
    };
    let d = &resp["error"]["denials"][0];
    assert!(d["rule"].as_str().unwrap().contains("day"), "{resp}");
    assert!(d["limit"].is_string() || d["limit"].is_number(), "{resp}");
    assert!(
        d["observed"].is_string() || d["observed"].is_number(),
        "{resp}"
    );
    // Other rules: size and symbol.
    let mut big = order["action"].clone();
    big["orders"][0]["s"] = json!("0.02");
    let e = c
        .call(
            "hyperliquid.sign_l1_action",
            json!({"key": "main", "action": big, "is_mainnet": true}),
        )
        .unwrap_err();
    assert_eq!(e.code(), Some("policy_denied"), "{e}");
    let eth = vs
        .iter()
        .find(|v| v["name"] == "order_eth_alo_reduce_testnet")
        .unwrap();
    let e = sign(&mut c, eth, None).unwrap_err();
    assert_eq!(e.code(), Some("policy_denied"), "{e}");
    drop(c);
    drop(raw);
    assert!(agent.stop().success());
    // A restart does not loosen the daily cap: state comes from the journal.
    let agent = env.start_agent();
    let mut c = agent.client();
    let e = sign(&mut c, order, None).unwrap_err();
    assert_eq!(e.code(), Some("policy_denied"), "after restart: {e}");
    assert!(e.to_string().contains("day"), "{e}");
}

#[test]
fn price_updates_and_order_reports_refuse_garbage() {
    let env = setup();
    let mut agent = env.start_agent();
    let mut c = agent.client();
    let bad: Vec<(&str, Value)> = vec![
        ("price.update", json!({})),
        ("price.update", json!({"symbol": "BTC"})),
        ("price.update", json!({"symbol": "BTC", "price": 50000})),
        ("price.update", json!({"symbol": "BTC", "price": "NaN"})),
        ("price.update", json!({"symbol": "BTC", "price": "-1"})),
        ("price.update", json!({"symbol": "BTC", "price": "0"})),
        ("price.update", json!({"symbol": "BTC", "price": "abc"})),
        (
            "price.update",
            json!({"symbol": "BTC", "price": "1", "extra": 1}),
        ),
        ("order.report", json!({"key": "main"})),
        (
            "order.report",
            json!({"key": "main", "client_id": "0x01", "oid": 3}),
        ),
        ("order.report", json!({"key": "main", "oid": -1})),
        ("order.report", json!({"key": "main", "oid": "7"})),
        ("order.report", json!({"key": "main", "client_id": 5})),
    ];
    for (op, params) in bad {
        let e = c.call(op, params.clone()).unwrap_err();
        assert_eq!(e.code(), Some("bad_params"), "{op} {params}: {e}");
    }
    let e = c
        .call("order.report", json!({"key": "nope", "oid": 1}))
        .unwrap_err();
    assert_eq!(e.code(), Some("unknown_key"), "{e}");
    // Good input still works, and the agent is unharmed.
    let r = c
        .call("price.update", json!({"symbol": "BTC", "price": "50000.5"}))
        .unwrap();
    assert_eq!(r["price"], "50000.5");
    let r = c
        .call(
            "order.report",
            json!({"key": "main", "client_id": "0x00000000000000000000000000000001"}),
        )
        .unwrap();
    assert_eq!(r["closed"], 0);
    drop(c);
    assert!(agent.stop().success());
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
}

#[test]
fn builder_fees_need_an_allowance() {
    let v = vectors()
        .into_iter()
        .find(|v| v["name"] == "order_builder_fee")
        .unwrap();
    // The vector pays its builder f = 10 (1 bp). Without an allowance, and
    // with one capped below it, nothing is signed and the denial says why.
    let base = "[policy.key_defaults]\n[policy.key_defaults.symbols.\"*\"]\n";
    let payee = "0x8c967e73e7b15087c42a10d344cff4c96d877f1d";
    for (extra, rule) in [
        (String::new(), "fee_not_allowed"),
        (
            format!(
                "[[policy.keys.main.fees]]\nkind = \"builder\"\npayee = \"{payee}\"\nmax_rate = \"0.00009\"\n"
            ),
            "fee_rate",
        ),
    ] {
        let env = setup_with(&format!("{base}{extra}"));
        let agent = env.start_agent();
        let mut c = agent.client();
        let e = sign(&mut c, &v, None).unwrap_err();
        assert_eq!(e.code(), Some("policy_denied"), "{e}");
        assert!(e.to_string().contains(rule), "{e}");
    }
    // The order priority is a fee too: no allowance, or one below p / 1e8.
    let v = vectors()
        .into_iter()
        .find(|v| v["name"] == "order_priority_ioc")
        .unwrap();
    for (extra, rule) in [
        (String::new(), "fee_not_allowed"),
        (
            "[[policy.keys.main.fees]]\nkind = \"priority\"\npayee = \"burn\"\nmax_rate = \"0.000009\"\n".to_string(),
            "fee_rate",
        ),
    ] {
        let env = setup_with(&format!("{base}{extra}"));
        let agent = env.start_agent();
        let mut c = agent.client();
        let e = sign(&mut c, &v, None).unwrap_err();
        assert_eq!(e.code(), Some("policy_denied"), "{e}");
        assert!(e.to_string().contains(rule), "{e}");
    }
}

const DEST: &str = "0x5e9ee1089755c3435139848e47e6635505d5a13a";
const DEST_CHECKSUMMED: &str = "0x0D1d9635D0640821d15e323ac8AdADfA9c111414";
const USDC: &str = "USDC:0x6d1e7cde53ba9467b783cb7c530ce054";

/// PERMISSIVE, plus: both keys may send USDC (the token) to DEST and
/// DEST_CHECKSUMMED with sendAsset and agentSendAsset, at most 20 at a
/// time and 100 a day.
fn send_asset_policy() -> String {
    let mut p = PERMISSIVE.to_string();
    for k in ["main", "test"] {
        for d in [DEST, DEST_CHECKSUMMED] {
            p.push_str(&format!(
                "\n[[policy.keys.{k}.transfers]]\ndestination = \"{d}\"\nasset = \"{USDC}\"\nmax_amount = \"20\"\nmax_per_day = \"100\"\nkinds = [\"sendAsset\", \"agentSendAsset\"]\n"
            ));
        }
    }
    p
}

fn vector(name: &str) -> Value {
    vectors()
        .into_iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name}"))
}

/// Sign `v`'s action as a bot would: a user-signed one through
/// sign_user_action, an L1 one through sign_l1_action (the agent assigns
/// the nonce). An action that carries its nonce gets `nonce` in it.
fn sign_fresh(
    c: &mut tradeward::client::Client,
    v: &Value,
    nonce: u64,
) -> (Value, Result<Value, tradeward::client::ClientError>) {
    let mut v = v.clone();
    if v["action"].get("nonce").is_some() {
        v["action"]["nonce"] = nonce.into();
    }
    let r = if v["kind"] == "user" {
        let key = if v["is_mainnet"] == true {
            "main"
        } else {
            "test"
        };
        c.call(
            "hyperliquid.sign_user_action",
            json!({"key": key, "action": v["action"], "is_mainnet": v["is_mainnet"]}),
        )
    } else {
        sign(c, &v, None)
    };
    (v, r)
}

fn journal_records(env: &Env) -> Vec<Value> {
    env.segments()
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn newer_action_types_recover_with_the_official_sdk_and_are_judged() {
    let env = setup_with(&send_asset_policy());
    let mut agent = env.start_agent();
    let mut c = agent.client();
    let names = [
        "order_hip3_xyz",
        "order_hip3_bulk_with_main_vault_testnet",
        "cancel_hip3",
        "update_leverage_hip3_isolated",
        "update_isolated_margin_hip3",
        "order_frontend_market",
        "noop",
        "noop_vault_expires_testnet",
        "agent_send_asset",
        "agent_send_asset_subaccount_testnet",
        "send_asset_to_dex",
        "send_asset_subaccount_to_spot_testnet",
    ];
    // Nonces for the actions that carry one, clear of those the agent
    // assigns to the others meanwhile.
    let base = tradeward::journal::record::now_ms() + 60_000;
    let mut items = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (v, r) = sign_fresh(&mut c, &vector(name), base + i as u64);
        let r = r.unwrap_or_else(|e| panic!("{name}: {e}"));
        // The canonical action is the SDK's (with the fresh nonce).
        assert_eq!(r["action"].to_string(), v["action"].to_string(), "{name}");
        assert_eq!(r["address"], ADDRESS, "{name}");
        let digest = common::hexf(&r, "digest");
        assert_eq!(recover(&digest, &r["signature"]), ADDRESS, "{name}");
        if let Some(n) = v["action"].get("nonce") {
            assert_eq!(&r["nonce"], n, "{name}: the action's own nonce is signed");
        }
        items.push(json!({
            "kind": v["kind"],
            "action": r["action"],
            "nonce": r["nonce"],
            "vault_address": r.get("vault_address"),
            "expires_after": r.get("expires_after"),
            "is_mainnet": v["is_mainnet"],
            "signature": r["signature"],
        }));
    }

    // Refused, each with its reason; none of them is signed.
    let send = vector("send_asset_to_dex");
    let agent_send = vector("agent_send_asset");
    let fresh = base + 100;
    let with = |v: &Value, key: &str, value: Value| {
        let mut v = v.clone();
        v["action"][key] = value;
        v
    };
    #[rustfmt::skip]
    let refusals: Vec<(Value, &str, &str)> = vec![
        // Policy: a destination no allowance names, too much at once, a
        // token the allowance does not name.
        (with(&send, "destination", json!(VAULT)), "policy_denied", "transfer_not_allowed"),
        (with(&agent_send, "amount", json!("20.5")), "policy_denied", "transfer_amount"),
        (with(&send, "token", json!("PURR:0xc1fb593aeffbeb02f85e0308e9956a90")), "policy_denied", "transfer_not_allowed"),
        // A subaccount the key may not act for.
        (with(&agent_send, "fromSubAccount", json!("0x0000000000000000000000000000000000000001")), "forbidden", "subaccount"),
        (with(&send, "fromSubAccount", json!("0x0000000000000000000000000000000000000001")), "forbidden", "subaccount"),
        // A dex the key's metadata does not list; malformed amounts.
        (with(&send, "destinationDex", json!("test")), "bad_params", "destinationDex"),
        (with(&agent_send, "amount", json!("NaN")), "bad_params", "amount"),
        (with(&send, "amount", json!("-1")), "bad_params", "amount"),
        (with(&agent_send, "extra", json!(1)), "bad_params", "unknown field"),
    ];
    for (i, (v, code, why)) in refusals.iter().enumerate() {
        let (_, r) = sign_fresh(&mut c, v, fresh + i as u64);
        let e = r.expect_err(why);
        assert_eq!(e.code(), Some(*code), "{why}: {e}");
        assert!(e.to_string().contains(why), "{why}: {e}");
    }
    // Actions and forms the agent does not sign, refused by name.
    for (action, why) in [
        (
            json!({"type": "twapOrder", "twap": {"a": 0, "b": true, "s": "1", "r": false, "m": 10, "t": false}}),
            "unknown action type \"twapOrder\"",
        ),
        (
            json!({"type": "twapCancel", "a": 0, "t": 1}),
            "unknown action type \"twapCancel\"",
        ),
        (
            json!({"type": "gossipPriorityBid", "slotId": 0, "ip": "1.2.3.4", "maxGas": 1}),
            "unknown action type",
        ),
        (
            json!({"type": "order", "orders": [{"a": 120000, "b": true, "p": "25000", "s": "0.5", "r": false, "t": {"limit": {"tif": "Ioc"}}}], "grouping": {"p": 100_000_001}}),
            "exceeds 100000000",
        ),
        (
            json!({"type": "order", "orders": [{"a": 110000, "b": true, "p": "1", "s": "1", "r": false, "t": {"limit": {"tif": "Gtc"}}}], "grouping": "na"}),
            "unknown asset index 110000",
        ),
    ] {
        let e = c
            .call(
                "hyperliquid.sign_l1_action",
                json!({"key": "main", "action": action, "is_mainnet": true}),
            )
            .unwrap_err();
        assert_eq!(e.code(), Some("bad_params"), "{why}: {e}");
        assert!(e.to_string().contains(why), "{why}: {e}");
    }
    // agentSendAsset never takes a vault address.
    let e = c
        .call(
            "hyperliquid.sign_l1_action",
            json!({"key": "main", "action": with(&agent_send, "nonce", json!(fresh + 50))["action"], "is_mainnet": true, "vault_address": VAULT}),
        )
        .unwrap_err();
    assert_eq!(e.code(), Some("bad_params"), "{e}");
    assert!(e.to_string().contains("vaultAddress"), "{e}");
    drop(c);
    assert!(agent.stop().success());

    // The journal: one signature per signed request and none more; the
    // policy's refusals are on record with the transfer they judged.
    let records = journal_records(&env);
    let signatures = records.iter().filter(|r| r["kind"] == "signature").count();
    assert_eq!(signatures, names.len());
    let denied: Vec<&Value> = records
        .iter()
        .filter(|r| r["kind"] == "decision" && r["allow"] == false && r["intents"].is_array())
        .collect();
    assert_eq!(denied.len(), 3, "{denied:?}");
    for d in denied {
        assert_eq!(d["intents"][0]["intent"], "transfer", "{d}");
        assert!(d["payload_sha256"].is_null(), "{d}");
    }
    let allowed_kinds: Vec<String> = records
        .iter()
        .filter(|r| r["kind"] == "decision" && r["allow"] == true)
        .flat_map(|r| r["intents"].as_array().unwrap().clone())
        .map(|i| i["intent"].as_str().unwrap().to_string())
        .collect();
    for kind in [
        "place",
        "cancel",
        "set_leverage",
        "adjust_margin",
        "invalidate_nonce",
        "transfer",
    ] {
        assert!(
            allowed_kinds.iter().any(|k| k == kind),
            "no {kind} in {allowed_kinds:?}"
        );
    }

    // An identity granted only L1 actions trades and uses noop, but moves
    // no funds with agentSendAsset.
    let text = std::fs::read_to_string(&env.config).unwrap();
    let text = text.replacen(", \"hyperliquid.sign_user_action\"", "", 1);
    std::fs::write(&env.config, text).unwrap();
    let agent = env.start_agent();
    let mut c = agent.client();
    let later = tradeward::journal::record::now_ms() + 1_000;
    let (_, r) = sign_fresh(&mut c, &agent_send, later);
    let e = r.unwrap_err();
    assert_eq!(e.code(), Some("forbidden"), "{e}");
    assert!(
        e.to_string().contains("hyperliquid.sign_user_action"),
        "{e}"
    );
    let (_, r) = sign_fresh(&mut c, &vector("noop"), later + 1);
    r.unwrap();
    let (_, r) = sign_fresh(&mut c, &vector("order_hip3_xyz"), later + 2);
    r.unwrap();
    drop(c);
    drop(agent);

    // The official SDK recovers the key's address from every output.
    let Some(python) = std::env::var_os("TRADEWARD_SDK_PYTHON") else {
        eprintln!(
            "SKIPPED the official-SDK check: set TRADEWARD_SDK_PYTHON to a python with hyperliquid-python-sdk (scripts/test.sh does)"
        );
        return;
    };
    let file = env.dir.path().join("signed-new.json");
    std::fs::write(
        &file,
        json!({"address": ADDRESS, "items": items}).to_string(),
    )
    .unwrap();
    let out = std::process::Command::new(python)
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/hl_recover.py"))
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
        text.contains(&format!("{} of {} recovered", items.len(), items.len())),
        "{text}"
    );
}
