//! The actions added for what bots now send (`noop`, `sendAsset`,
//! `agentSendAsset`, the `FrontendMarket` time in force) and the assets of
//! builder-deployed perp dexs (HIP-3): their metadata, strict parsing, the
//! intents they map to, and how the policy judges those intents. The SDK
//! vectors of these actions are checked with all the others in `tests`.

use serde_json::{Value, json};

use super::tests::{META_XYZ, PERP_DEXS, base_meta, dec, meta, request, vectors};
use super::*;
use crate::order::OrderRef;
use crate::policy::{Halt, HaltScope, Policy, PolicyConfig, PolicyState, Request, Rule, Verdict};

const DEST: &str = "0x5e9ee1089755c3435139848e47e6635505d5a13a";
const VAULT: &str = "0x1719884eb866cb12b2287399b15f7db5e7d775ea";
const USDC: &str = "USDC:0x6d1e7cde53ba9467b783cb7c530ce054";

fn vector(name: &str) -> Value {
    vectors()
        .1
        .into_iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name}"))
}

fn intents_of(name: &str) -> Vec<Intent> {
    let v = vector(name);
    prepare(&meta(), &request(&v)).unwrap().intents
}

fn json_of(v: Value) -> Value {
    parse_json_strict(&v.to_string()).unwrap()
}

fn send_asset(fields: Value) -> Value {
    let mut a = json!({
        "type": "sendAsset",
        "destination": DEST,
        "sourceDex": "",
        "destinationDex": "xyz",
        "token": USDC,
        "amount": "2.5",
        "fromSubAccount": "",
        "nonce": 1700000000000u64,
        "signatureChainId": "0x66eee",
        "hyperliquidChain": "Mainnet",
    });
    for (k, v) in fields.as_object().unwrap() {
        if v.is_null() {
            a.as_object_mut().unwrap().remove(k);
        } else {
            a[k] = v.clone();
        }
    }
    json_of(a)
}

fn agent_send_asset(fields: Value) -> Value {
    let mut a = send_asset(fields);
    let m = a.as_object_mut().unwrap();
    m.insert("type".into(), "agentSendAsset".into());
    m.remove("signatureChainId");
    m.remove("hyperliquidChain");
    a
}

fn refused(action: &Value, path: &str, reason: &str) {
    let err = match parse_action(&meta(), action, true) {
        Ok(a) => panic!("accepted {action}: {a:?}"),
        Err(e) => e,
    };
    assert_eq!(err.path(), path, "{action}: {err}");
    assert!(
        err.to_string().contains(reason),
        "{action}: {err} does not mention {reason:?}"
    );
}

// ------------------------------------------------------------------ meta

#[test]
fn builder_dex_assets_are_numbered_as_the_sdks_do() {
    let m = meta();
    assert_eq!(m.len(), base_meta().len() + 4);
    assert_eq!(m.dexes().collect::<Vec<_>>(), vec![("xyz", 2)]);
    assert!(m.has_dex("xyz") && !m.has_dex("test") && !m.has_dex(""));
    // 100000 + 10000 × position in perpDexs + position in the dex's meta.
    for (i, name, sz) in [
        (120_000, "xyz:XYZ100", 4),
        (120_001, "xyz:AAPL", 3),
        (120_002, "xyz:GOLD", 2),
    ] {
        let a = m.by_index(i).unwrap();
        assert_eq!(
            (a.symbol.as_str(), a.coin.as_str(), a.sz_decimals, a.kind),
            (name, name, sz, AssetKind::Perp)
        );
        assert_eq!(m.by_name(name).unwrap().index, i);
        assert_eq!(a.max_price_decimals(), 6 - sz);
    }
    // marginMode (any) means no cross margin; onlyIsolated still counts.
    assert!(m.by_index(120_000).unwrap().only_isolated);
    assert!(m.by_index(120_001).unwrap().only_isolated);
    assert!(!m.by_index(120_002).unwrap().only_isolated);
    assert!(m.by_index(120_003).unwrap().is_delisted);
    assert!(m.by_index(110_000).is_none() && m.by_index(120_004).is_none());
    assert!(m.by_name("XYZ100").is_none());

    // A second dex at its own position; from files as the agent loads them.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hyperliquid");
    let mut loaded = base_meta();
    loaded
        .load_perp_dexs(
            &dir.join("perp_dexs.json"),
            [
                ("test", dir.join("meta_test.json").as_path()),
                ("xyz", dir.join("meta_xyz.json").as_path()),
            ],
        )
        .unwrap();
    assert_eq!(loaded.by_name("test:ABC").unwrap().index, 110_000);
    assert_eq!(loaded.by_index(120_000).unwrap().symbol, "xyz:XYZ100");
    assert!(
        loaded
            .load_perp_dexs(&dir.join("missing.json"), [])
            .is_err()
    );
}

#[test]
fn bad_builder_dex_metadata_is_refused() {
    let dexs: Value = serde_json::from_str(PERP_DEXS).unwrap();
    let xyz: Value = serde_json::from_str(META_XYZ).unwrap();
    let uni = |names: &[&str]| json!({"universe": names.iter().map(|n| json!({"name": n, "szDecimals": 1})).collect::<Vec<_>>()});
    let cases: Vec<(&str, Value, Value, &str)> = vec![
        ("nope", dexs.clone(), xyz.clone(), "no dex named \"nope\""),
        (
            "",
            dexs.clone(),
            xyz.clone(),
            "not a builder-deployed perp dex name",
        ),
        (
            "spot",
            dexs.clone(),
            xyz.clone(),
            "not a builder-deployed perp dex name",
        ),
        (
            "x:y",
            dexs.clone(),
            xyz.clone(),
            "not a builder-deployed perp dex name",
        ),
        // The main dex's meta (or another dex's) saved under the wrong name.
        (
            "xyz",
            dexs.clone(),
            uni(&["BTC"]),
            "not an asset of dex \"xyz\"",
        ),
        (
            "xyz",
            dexs.clone(),
            uni(&["test:ABC"]),
            "not an asset of dex \"xyz\"",
        ),
        (
            "xyz",
            dexs.clone(),
            uni(&["xyz:"]),
            "not an asset of dex \"xyz\"",
        ),
        (
            "xyz",
            dexs.clone(),
            uni(&["xyzz:A"]),
            "not an asset of dex \"xyz\"",
        ),
        (
            "xyz",
            dexs.clone(),
            uni(&["xyz:A", "xyz:A"]),
            "used by assets",
        ),
        ("xyz", json!({}), xyz.clone(), "perpDexs: must be an array"),
        (
            "xyz",
            json!([{"name": "xyz"}]),
            xyz.clone(),
            "must be null (the main dex)",
        ),
        (
            "xyz",
            json!([null, {"name": "xyz"}, {"name": "xyz"}]),
            xyz.clone(),
            "listed twice",
        ),
        (
            "xyz",
            json!([null, {"fullName": "x"}]),
            xyz.clone(),
            "missing \"name\"",
        ),
        (
            "xyz",
            dexs.clone(),
            json!({"universe": [{"name": "xyz:A", "szDecimals": 1, "marginMode": 1}]}),
            "marginMode",
        ),
        (
            "xyz",
            dexs.clone(),
            json!({"universe": [{"name": "xyz:A", "szDecimals": 9}]}),
            "szDecimals",
        ),
    ];
    for (name, list, dex_meta, reason) in cases {
        let mut m = base_meta();
        let err = m.add_perp_dex(name, &list, &dex_meta).unwrap_err();
        assert!(
            matches!(err, VenueError::Meta(_)) && err.to_string().contains(reason),
            "{name} {list} {dex_meta}: {err}"
        );
    }
    // Loaded twice; a position beyond the asset index range.
    let mut m = meta();
    let err = m.add_perp_dex("xyz", &dexs, &xyz).unwrap_err();
    assert!(err.to_string().contains("loaded twice"), "{err}");
    let mut far = vec![Value::Null];
    far.extend((0..MAX_PERP_DEX_INDEX).map(|i| json!({"name": format!("d{i}")})));
    far.push(json!({"name": "far"}));
    let err = base_meta()
        .add_perp_dex("far", &Value::Array(far.clone()), &uni(&["far:A"]))
        .unwrap_err();
    assert!(err.to_string().contains("beyond"), "{err}");
    // The last position that fits keeps its ids below the outcome markets'.
    far.pop();
    let mut m = base_meta();
    let last = format!("d{}", MAX_PERP_DEX_INDEX - 1);
    m.add_perp_dex(&last, &Value::Array(far), &uni(&[&format!("{last}:A")]))
        .unwrap();
    let top = m.by_name(&format!("{last}:A")).unwrap().index;
    assert_eq!(
        top,
        PERP_DEX_ASSET_OFFSET + MAX_PERP_DEX_INDEX * PERP_DEX_ASSET_STRIDE
    );
    assert!(top + PERP_DEX_ASSET_STRIDE - 1 < 100_000_000);
}

// --------------------------------------------------------------- intents

/// A placed order as its journaled JSON, reduced to what these tests
/// look at (symbol, side, size, reduce-only, aggressive, client id and, for
/// limit orders, the price); how trigger prices and fees map is the
/// business of the order tests.
fn placed(intent: &Intent, with_price: bool) -> Value {
    let v = serde_json::to_value(intent).unwrap();
    assert_eq!(v["intent"], "place", "{v}");
    let mut keys = vec![
        "symbol",
        "side",
        "size",
        "reduce_only",
        "aggressive",
        "client_id",
    ];
    if with_price {
        keys.push("price");
    }
    Value::Object(
        keys.into_iter()
            .map(|k| (k.to_string(), v[k].clone()))
            .collect(),
    )
}

#[test]
fn new_actions_map_to_intents() {
    let view = |name: &str| -> Vec<Value> {
        intents_of(name)
            .iter()
            .map(|i| placed(i, !serde_json::to_value(i).unwrap()["price"].is_null()))
            .collect()
    };
    let order = |symbol: &str, side: &str, size: &str, aggressive: bool, cloid: Value| {
        json!({"symbol": symbol, "side": side, "size": size, "reduce_only": false,
            "aggressive": aggressive, "client_id": cloid})
    };
    let with_price = |mut o: Value, price: &str| {
        o["price"] = price.into();
        o
    };
    assert_eq!(
        view("order_hip3_xyz"),
        vec![with_price(
            order("xyz:XYZ100", "buy", "0.5", false, Value::Null),
            "25000"
        )]
    );
    let bulk = intents_of("order_hip3_bulk_with_main_vault_testnet");
    assert_eq!(
        [
            placed(&bulk[0], true),
            placed(&bulk[1], true),
            placed(&bulk[2], false)
        ],
        [
            with_price(
                order(
                    "xyz:AAPL",
                    "sell",
                    "1.25",
                    false,
                    json!("0x0000000000000000000000000000a001")
                ),
                "231.45"
            ),
            with_price(order("BTC", "buy", "0.001", true, Value::Null), "60000"),
            // A market trigger (stop-loss at 3300).
            order("xyz:GOLD", "buy", "2.5", true, Value::Null),
        ]
    );
    assert_eq!(
        intents_of("cancel_hip3"),
        vec![Intent::Cancel {
            symbol: "xyz:AAPL".into(),
            order: OrderRef::Oid(424242),
        }]
    );
    assert_eq!(
        intents_of("update_leverage_hip3_isolated"),
        vec![Intent::SetLeverage {
            symbol: "xyz:XYZ100".into(),
            leverage: 5,
            cross: false,
        }]
    );
    assert_eq!(
        intents_of("update_isolated_margin_hip3"),
        vec![Intent::AdjustMargin {
            symbol: "xyz:GOLD".into(),
            amount: dec("25"),
        }]
    );
    // FrontendMarket executes at once, like IOC.
    assert_eq!(
        view("order_frontend_market"),
        vec![with_price(
            order("ETH", "buy", "0.1", true, Value::Null),
            "3200"
        )]
    );
    assert_eq!(intents_of("noop"), vec![Intent::InvalidateNonce]);
    assert_eq!(
        intents_of("noop_vault_expires_testnet"),
        vec![Intent::InvalidateNonce]
    );
    let transfer = |kind: &str, amount: &str| Intent::Transfer {
        kind: kind.into(),
        destination: DEST.into(),
        asset: USDC.into(),
        amount: dec(amount),
    };
    assert_eq!(
        intents_of("send_asset_to_dex"),
        vec![transfer("sendAsset", "2.5")]
    );
    // A checksummed destination is carried in lowercase.
    assert_eq!(
        intents_of("send_asset_subaccount_to_spot_testnet"),
        vec![Intent::Transfer {
            kind: "sendAsset".into(),
            destination: "0x0d1d9635d0640821d15e323ac8adadfa9c111414".into(),
            asset: USDC.into(),
            amount: dec("10"),
        }]
    );
    assert_eq!(
        intents_of("agent_send_asset"),
        vec![transfer("agentSendAsset", "1.5")]
    );
    assert_eq!(
        intents_of("agent_send_asset_subaccount_testnet"),
        vec![transfer("agentSendAsset", "0.25")]
    );
    // Which actions need more than the policy's word.
    let parsed = |name: &str| {
        let v = vector(name);
        parse_action(&meta(), &v["action"], v["is_mainnet"] == true).unwrap()
    };
    let vault = parse_address("", VAULT).unwrap();
    assert!(parsed("agent_send_asset").is_l1_transfer());
    assert!(!parsed("send_asset_to_dex").is_l1_transfer());
    assert!(!parsed("noop").is_l1_transfer());
    assert_eq!(parsed("agent_send_asset").from_sub_account(), None);
    assert_eq!(
        parsed("agent_send_asset_subaccount_testnet").from_sub_account(),
        Some(vault)
    );
    assert_eq!(
        parsed("send_asset_subaccount_to_spot_testnet").from_sub_account(),
        Some(vault)
    );
    assert_eq!(parsed("send_asset_to_dex").from_sub_account(), None);
    assert_eq!(parsed("order_hip3_xyz").from_sub_account(), None);
    assert_eq!(
        parsed("agent_send_asset").embedded_nonce(),
        vector("agent_send_asset")["nonce"].as_u64()
    );
    assert_eq!(parsed("noop").embedded_nonce(), None);
}

#[test]
fn agent_send_asset_is_hashed_in_canonical_form() {
    // A checksummed address and "1.50" are hashed as the venue re-encodes
    // them: lowercase, "1.5"; the canonical JSON says so.
    let v = vector("agent_send_asset");
    let mut a = v["action"].clone();
    a["destination"] = "0x5E9EE1089755C3435139848e47e6635505D5a13A".into();
    a["amount"] = "1.50".into();
    let p = prepare(
        &meta(),
        &SignRequest {
            action: &a,
            ..request(&v)
        },
    )
    .unwrap();
    assert_eq!(p.action_json, v["action_json"].as_str().unwrap());
    assert_eq!(
        hex::encode(p.action_hash.unwrap()),
        v["action_hash"].as_str().unwrap()
    );
    // An absent fromSubAccount is the account's own ("" on the wire).
    let mut a = v["action"].clone();
    a.as_object_mut().unwrap().remove("fromSubAccount");
    let p = prepare(
        &meta(),
        &SignRequest {
            action: &a,
            ..request(&v)
        },
    )
    .unwrap();
    assert_eq!(p.action_json, v["action_json"].as_str().unwrap());
    // sendAsset signs the strings as written instead.
    let s = vector("send_asset_subaccount_to_spot_testnet");
    let p = prepare(&meta(), &request(&s)).unwrap();
    assert!(p.action_json.contains(r#""amount":"10.0""#));
    assert!(
        p.action_json
            .contains("0x0D1d9635D0640821d15e323ac8AdADfA9c111414")
    );
}

// ------------------------------------------------------------- strictness

#[test]
fn new_actions_are_parsed_strictly() {
    // noop: nothing but its type.
    refused(
        &json_of(json!({"type": "noop", "nonce": 1})),
        "nonce",
        "unknown field",
    );
    refused(
        &json_of(json!({"type": "noop", "time": null})),
        "time",
        "unknown field",
    );
    refused(
        &json_of(json!({"type": "Noop"})),
        "type",
        "unknown action type",
    );

    for base in [send_asset(json!({})), agent_send_asset(json!({}))] {
        parse_action(&meta(), &base, true).unwrap();
        let with = |k: &str, v: Value| {
            let mut a = base.clone();
            if v.is_null() {
                a.as_object_mut().unwrap().remove(k);
            } else {
                a[k] = v;
            }
            a
        };
        #[rustfmt::skip]
        let cases: Vec<(Value, &str, &str)> = vec![
            (with("extra", json!(1)), "extra", "unknown field"),
            (with("vaultAddress", json!(VAULT)), "vaultAddress", "unknown field"),
            (with("time", json!(1)), "time", "unknown field"),
            (with("amount", json!("NaN")), "amount", "not a plain decimal"),
            (with("amount", json!("inf")), "amount", "not a plain decimal"),
            (with("amount", json!("-1")), "amount", "sign"),
            (with("amount", json!("0")), "amount", "greater than zero"),
            (with("amount", json!("0.0")), "amount", "greater than zero"),
            (with("amount", json!("1e3")), "amount", "exponent"),
            (with("amount", json!("123456789012345678901234567890123")), "amount", "too many digits"),
            (with("amount", json!("1".repeat(41))), "amount", "too long"),
            (with("amount", json!(2.5)), "amount", "expected a string"),
            (with("amount", Value::Null), "amount", "missing"),
            (with("destination", json!("0x5e9e")), "destination", "not an address"),
            (with("destination", json!("0x5E9ee1089755c3435139848e47e6635505d5a13a")), "destination", "checksum"),
            (with("destination", Value::Null), "destination", "missing"),
            (with("sourceDex", json!("abc")), "sourceDex", "builder-deployed dex this key's metadata lists (\"xyz\")"),
            (with("sourceDex", json!("test")), "sourceDex", "not \"\""),
            (with("sourceDex", json!("XYZ")), "sourceDex", "not \"\""),
            (with("sourceDex", json!(" ")), "sourceDex", "not \"\""),
            (with("sourceDex", json!(null)), "sourceDex", "missing"),
            (with("sourceDex", json!(0)), "sourceDex", "expected a string"),
            (with("destinationDex", json!("Spot")), "destinationDex", "not \"\""),
            (with("destinationDex", json!("xyz:")), "destinationDex", "not \"\""),
            (with("token", json!("USDC")), "token", "not a spot token"),
            (with("token", json!("USDC:0x6d1e")), "token", "not a spot token"),
            (with("token", json!(0)), "token", "expected a string"),
            (with("fromSubAccount", json!("0x1234")), "fromSubAccount", "not an address"),
            (with("fromSubAccount", json!(" ")), "fromSubAccount", "not an address"),
            (with("fromSubAccount", json!(false)), "fromSubAccount", "expected a string"),
            (with("nonce", json!(-1)), "nonce", "expected a non-negative"),
            (with("nonce", json!("1")), "nonce", "expected a non-negative"),
            (with("nonce", json!(1.5)), "nonce", "expected a non-negative"),
            (with("nonce", json!(18446744073709551616u128 as f64)), "nonce", "expected a non-negative"),
            (with("nonce", Value::Null), "nonce", "missing"),
        ];
        for (action, path, reason) in &cases {
            refused(&json_of(action.clone()), path, reason);
        }
    }
    // sendAsset's own fields are not agentSendAsset's, nor the reverse.
    let mut a = agent_send_asset(json!({}));
    a["signatureChainId"] = "0x66eee".into();
    refused(&a, "signatureChainId", "unknown field");
    refused(
        &send_asset(json!({"hyperliquidChain": "Testnet"})),
        "hyperliquidChain",
        "action is for Testnet",
    );
    // Without builder-deployed dexs only "" and "spot" exist.
    let err = parse_action(&base_meta(), &send_asset(json!({})), true).unwrap_err();
    assert!(err.to_string().contains("(none)"), "{err}");
    let to_spot = send_asset(json!({"destinationDex": "spot"}));
    parse_action(&base_meta(), &to_spot, true).unwrap();
    // HIP-3 orders follow the perp rules of their dex's metadata.
    let order = |a: u32, p: &str, s: &str| {
        json_of(
            json!({"type": "order", "orders": [{"a": a, "b": true, "p": p, "s": s, "r": false,
            "t": {"limit": {"tif": "Gtc"}}}], "grouping": "na"}),
        )
    };
    parse_action(&meta(), &order(120_001, "231.45", "1.125"), true).unwrap();
    refused(
        &order(120_001, "231.45", "1.1255"),
        "orders[0].s",
        "szDecimals of xyz:AAPL",
    );
    refused(
        &order(120_001, "231.4567", "1"),
        "orders[0].p",
        "significant figures",
    );
    refused(
        &order(120_000, "1.123", "1"),
        "orders[0].p",
        "more than 2 decimals",
    );
    refused(
        &order(120_003, "10", "1"),
        "orders[0].a",
        "xyz:OLD is delisted",
    );
    refused(
        &order(120_004, "10", "1"),
        "orders[0].a",
        "unknown asset index 120004",
    );
    refused(
        &order(110_000, "10", "1"),
        "orders[0].a",
        "unknown asset index 110000",
    );
    let leverage = |a: u32, cross: bool, l: u32| {
        json_of(json!({"type": "updateLeverage", "asset": a, "isCross": cross, "leverage": l}))
    };
    refused(
        &leverage(120_000, true, 5),
        "isCross",
        "isolated margin only",
    );
    refused(
        &leverage(120_001, true, 5),
        "isCross",
        "isolated margin only",
    );
    refused(&leverage(120_002, false, 26), "leverage", "xyz:GOLD (25)");
    parse_action(&meta(), &leverage(120_002, true, 25), true).unwrap();
}

#[test]
fn request_context_of_new_actions() {
    let v = vector("agent_send_asset");
    let base = request(&v);
    prepare(&meta(), &base).unwrap();
    // The action's nonce is the request's.
    let err = prepare(
        &meta(),
        &SignRequest {
            nonce: base.nonce + 1,
            ..base
        },
    )
    .unwrap_err();
    assert_eq!(err.path(), "nonce", "{err}");
    assert!(err.to_string().contains("differs from the request nonce"));
    // Funds come from fromSubAccount, never from a vault address.
    let err = prepare(
        &meta(),
        &SignRequest {
            vault_address: Some(VAULT),
            ..base
        },
    )
    .unwrap_err();
    assert_eq!(err.path(), "vaultAddress", "{err}");
    // An expiry is fine for agentSendAsset and noop; noop takes a vault.
    prepare(
        &meta(),
        &SignRequest {
            expires_after: Some(1),
            ..base
        },
    )
    .unwrap();
    let n = vector("noop_vault_expires_testnet");
    assert_eq!(
        prepare(&meta(), &request(&n))
            .unwrap()
            .vault_address_hex()
            .as_deref(),
        Some(VAULT)
    );
    // sendAsset: user-signed, so no vault, no expiry, nonce = request's.
    let s = vector("send_asset_to_dex");
    let sreq = request(&s);
    for (req, path) in [
        (
            SignRequest {
                vault_address: Some(VAULT),
                ..sreq
            },
            "vaultAddress",
        ),
        (
            SignRequest {
                expires_after: Some(1),
                ..sreq
            },
            "expiresAfter",
        ),
        (
            SignRequest {
                nonce: sreq.nonce - 1,
                ..sreq
            },
            "nonce",
        ),
    ] {
        assert_eq!(prepare(&meta(), &req).unwrap_err().path(), path);
    }
}

// ----------------------------------------------------------------- policy

const POLICY: &str = r#"
[identities.bot]
cancels_rate = { burst = 2, per_sec = "0.001" }

[identities.careful]
reduce_only = true

[keys.hl.symbols."xyz:AAPL"]
max_size = "2"

[[keys.hl.transfers]]
destination = "0x5E9EE1089755C3435139848E47E6635505D5A13A"
asset = "USDC:0x6d1e7cde53ba9467b783cb7c530ce054"
max_amount = "3"
max_per_day = "5"
kinds = ["sendAsset", "agentSendAsset"]
"#;

fn policy() -> Policy {
    Policy::from_config(PolicyConfig::parse(POLICY).unwrap()).unwrap()
}

fn judge(p: &Policy, s: &PolicyState, identity: &str, intents: &[Intent], now: u64) -> Verdict {
    p.evaluate(
        s,
        &Request {
            identity,
            key: "hl",
            intents,
            now_ms: now,
        },
    )
}

fn rules(v: &Verdict) -> Vec<Rule> {
    v.denials.iter().map(|d| d.rule).collect()
}

/// The intents of `action` (a vector's, with changes) as the agent judges
/// them.
fn judged(name: &str, change: impl FnOnce(&mut Value)) -> Vec<Intent> {
    let v = vector(name);
    let mut action = v["action"].clone();
    change(&mut action);
    prepare(
        &meta(),
        &SignRequest {
            action: &action,
            ..request(&v)
        },
    )
    .unwrap()
    .intents
}

#[test]
fn transfers_by_send_asset_are_judged_by_the_allowances() {
    let p = policy();
    let mut s = PolicyState::default();
    let send = |amount: &str| judged("send_asset_to_dex", |a| a["amount"] = amount.into());
    let agent = |amount: &str| judged("agent_send_asset", |a| a["amount"] = amount.into());
    // Within the allowance: both kinds, any dex route.
    for intents in [
        send("2.5"),
        agent("3"),
        judged("send_asset_to_dex", |a| {
            a["sourceDex"] = "xyz".into();
            a["destinationDex"] = "spot".into();
        }),
    ] {
        let v = judge(&p, &s, "bot", &intents, 1_000);
        assert!(v.allowed(), "{intents:?}: {}", v.reason());
    }
    // Outside it: too much at once, another destination, another token.
    let cases: Vec<(Vec<Intent>, Vec<Rule>)> = vec![
        (send("3.01"), vec![Rule::TransferAmount]),
        (agent("3.000000001"), vec![Rule::TransferAmount]),
        (
            judged("send_asset_to_dex", |a| {
                a["destination"] = VAULT.into();
            }),
            vec![Rule::TransferNotAllowed],
        ),
        (
            judged("agent_send_asset", |a| {
                a["token"] = "USDC:0x6d1e7cde53ba9467b783cb7c530ce055".into();
            }),
            vec![Rule::TransferNotAllowed],
        ),
        (
            judged("send_asset_to_dex", |a| {
                a["token"] = "PURR:0xc1fb593aeffbeb02f85e0308e9956a90".into();
            }),
            vec![Rule::TransferNotAllowed],
        ),
    ];
    for (intents, want) in &cases {
        let v = judge(&p, &s, "bot", intents, 1_000);
        assert_eq!(&rules(&v), want, "{intents:?}: {}", v.reason());
    }
    // The daily total counts both kinds together.
    for intents in [send("2.5"), agent("2.5")] {
        let req = Request {
            identity: "bot",
            key: "hl",
            intents: &intents,
            now_ms: 1_000,
        };
        assert!(p.evaluate(&s, &req).allowed());
        s.commit(&p, &req);
    }
    let v = judge(&p, &s, "bot", &send("0.01"), 2_000);
    assert_eq!(rules(&v), vec![Rule::TransferPerDay], "{}", v.reason());
    // Not in reduce-only mode, not under a halt that allows reducing.
    let fresh = PolicyState::default();
    let v = judge(&p, &fresh, "careful", &send("1"), 1_000);
    assert_eq!(rules(&v), vec![Rule::ReduceOnly]);
    let mut halted = PolicyState::default();
    halted.halt(
        HaltScope::Identity("bot".into()),
        Halt {
            reason: "test".into(),
            reducing_allowed: true,
            since_ms: 0,
        },
    );
    let v = judge(&p, &halted, "bot", &agent("1"), 1_000);
    assert_eq!(rules(&v), vec![Rule::Halted]);
}

#[test]
fn a_key_without_allowances_transfers_nothing() {
    let p = Policy::from_config(PolicyConfig::parse("").unwrap()).unwrap();
    let s = PolicyState::default();
    for name in [
        "send_asset_to_dex",
        "send_asset_subaccount_to_spot_testnet",
        "agent_send_asset",
        "agent_send_asset_subaccount_testnet",
    ] {
        let v = judge(&p, &s, "bot", &intents_of(name), 1_000);
        assert_eq!(rules(&v), vec![Rule::TransferNotAllowed], "{name}");
    }
    // Nor does one whose allowance lists other kinds.
    let p = Policy::from_config(
        PolicyConfig::parse(&POLICY.replace(
            r#"kinds = ["sendAsset", "agentSendAsset"]"#,
            r#"kinds = ["usdSend"]"#,
        ))
        .unwrap(),
    )
    .unwrap();
    let v = judge(&p, &s, "bot", &intents_of("agent_send_asset"), 1_000);
    assert_eq!(rules(&v), vec![Rule::TransferNotAllowed]);
}

#[test]
fn noop_is_risk_free_but_rate_limited() {
    let p = policy();
    let mut s = PolicyState::default();
    let noop = intents_of("noop");
    assert!(noop[0].reduces_risk());
    // Allowed in reduce-only mode and under a halt that allows reducing.
    assert!(judge(&p, &s, "careful", &noop, 1_000).allowed());
    let mut halted = PolicyState::default();
    let halt = |reducing_allowed| Halt {
        reason: "test".into(),
        reducing_allowed,
        since_ms: 0,
    };
    halted.halt(HaltScope::Identity("bot".into()), halt(true));
    assert!(judge(&p, &halted, "bot", &noop, 1_000).allowed());
    halted.halt(HaltScope::Identity("bot".into()), halt(false));
    assert_eq!(
        rules(&judge(&p, &halted, "bot", &noop, 1_000)),
        vec![Rule::Halted]
    );
    // It pays from the cancels bucket (burst 2 for "bot").
    for _ in 0..2 {
        let req = Request {
            identity: "bot",
            key: "hl",
            intents: &noop,
            now_ms: 1_000,
        };
        assert!(p.evaluate(&s, &req).allowed());
        s.commit(&p, &req);
    }
    let v = judge(&p, &s, "bot", &noop, 1_000);
    assert_eq!(rules(&v), vec![Rule::CancelsRate], "{}", v.reason());
    assert!(v.denials[0].retry_after_ms.is_some());
    // It names no symbol, so needs no allowlist entry; it opens nothing.
    assert_eq!(s.open_orders(1_000).count(), 0);
}

#[test]
fn hip3_orders_are_judged_by_their_dex_qualified_symbol() {
    let p = policy();
    let s = PolicyState::default();
    let order = |a: u32, size: &str| {
        let action = json_of(
            json!({"type": "order", "orders": [{"a": a, "b": true, "p": "231.45",
            "s": size, "r": false, "t": {"limit": {"tif": "Gtc"}}}], "grouping": "na"}),
        );
        prepare(
            &meta(),
            &SignRequest {
                action: &action,
                nonce: 1,
                vault_address: None,
                expires_after: None,
                is_mainnet: true,
            },
        )
        .unwrap()
        .intents
    };
    assert!(judge(&p, &s, "bot", &order(120_001, "2"), 1_000).allowed());
    assert_eq!(
        rules(&judge(&p, &s, "bot", &order(120_001, "2.001"), 1_000)),
        vec![Rule::MaxOrderSize]
    );
    // Another asset of the same dex is not allowed by "xyz:AAPL".
    let v = judge(&p, &s, "bot", &order(120_002, "1"), 1_000);
    assert_eq!(rules(&v), vec![Rule::SymbolNotAllowed]);
    assert_eq!(v.denials[0].subject.as_deref(), Some("xyz:GOLD"));
}
