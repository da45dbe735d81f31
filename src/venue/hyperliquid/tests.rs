//! Checks against vectors made by the official SDK
//! (scripts/hl_vectors.py → tests/fixtures/hyperliquid/), round trips, and
//! a table of inputs that must be refused.

use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::*;
use crate::crypto::eth;
use crate::order::{NewOrder, OrderRef, Side};

const VECTORS: &str = include_str!("../../../tests/fixtures/hyperliquid/vectors.json");
const META: &str = include_str!("../../../tests/fixtures/hyperliquid/meta.json");
const SPOT_META: &str = include_str!("../../../tests/fixtures/hyperliquid/spot_meta.json");
pub(super) const PERP_DEXS: &str =
    include_str!("../../../tests/fixtures/hyperliquid/perp_dexs.json");
pub(super) const META_XYZ: &str = include_str!("../../../tests/fixtures/hyperliquid/meta_xyz.json");

/// The main perp dex and spot.
pub(super) fn base_meta() -> Meta {
    Meta::from_json_str(META, Some(SPOT_META)).unwrap()
}

/// As the SDK vectors were made: the main dex, spot and the builder dex
/// "xyz" (position 2 in perpDexs).
pub(super) fn meta() -> Meta {
    let mut m = base_meta();
    m.add_perp_dex(
        "xyz",
        &serde_json::from_str(PERP_DEXS).unwrap(),
        &serde_json::from_str(META_XYZ).unwrap(),
    )
    .unwrap();
    m
}

pub(super) fn vectors() -> (Value, Vec<Value>) {
    let doc: Value = serde_json::from_str(VECTORS).unwrap();
    let v = doc["vectors"].as_array().unwrap().clone();
    assert!(v.len() >= 30, "expected a few dozen vectors");
    (doc, v)
}

pub(super) fn request(v: &Value) -> SignRequest<'_> {
    SignRequest {
        action: &v["action"],
        nonce: v["nonce"].as_u64().unwrap(),
        vault_address: v["vault"].as_str(),
        expires_after: v["expires_after"].as_u64(),
        is_mainnet: v["is_mainnet"].as_bool().unwrap(),
    }
}

pub(super) fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn hex32(s: &str) -> [u8; 32] {
    let s = s.trim_start_matches("0x");
    let padded = format!("{s:0>64}");
    hex::decode(padded).unwrap().try_into().unwrap()
}

pub(super) fn recover(digest: &[u8; 32], sig: &Value) -> String {
    let r = hex32(sig["r"].as_str().unwrap());
    let s = hex32(sig["s"].as_str().unwrap());
    let v = sig["v"].as_u64().unwrap();
    let sig = Signature::from_slice(&[r, s].concat()).unwrap();
    let recid = RecoveryId::from_byte((v - 27) as u8).unwrap();
    let vk = VerifyingKey::recover_from_prehash(digest, &sig, recid).unwrap();
    eth::checksum_address(&eth::address(vk.to_sec1_point(false).as_bytes()))
}

#[test]
fn sdk_vectors_match() {
    let meta = meta();
    let (doc, vectors) = vectors();
    let address = doc["address"].as_str().unwrap();
    // The fixture's address is the test key's.
    let sk =
        k256::ecdsa::SigningKey::from_slice(&hex32(doc["private_key"].as_str().unwrap())).unwrap();
    assert_eq!(
        eth::checksum_address(&eth::address(
            sk.verifying_key().to_sec1_point(false).as_bytes()
        )),
        address
    );
    let mut seen_types = std::collections::BTreeSet::new();
    for v in &vectors {
        let name = v["name"].as_str().unwrap();
        let p = prepare(&meta, &request(v)).unwrap_or_else(|e| panic!("{name}: {e}"));
        seen_types.insert(p.action.type_name());
        match v["kind"].as_str().unwrap() {
            "l1" => {
                assert!(matches!(p.action, Action::L1(_)), "{name}");
                assert_eq!(
                    hex::encode(p.msgpack.as_ref().unwrap()),
                    v["msgpack"].as_str().unwrap(),
                    "{name}: msgpack"
                );
                assert_eq!(
                    hex::encode(p.action_hash.unwrap()),
                    v["action_hash"].as_str().unwrap(),
                    "{name}: action hash"
                );
            }
            "user" => {
                let Action::User(u) = &p.action else {
                    panic!("{name}: not user-signed")
                };
                assert_eq!(u.primary_type(), v["primary_type"].as_str().unwrap());
                assert!(p.msgpack.is_none() && p.action_hash.is_none());
            }
            k => panic!("{name}: unknown kind {k}"),
        }
        assert_eq!(
            hex::encode(p.digest),
            v["digest"].as_str().unwrap(),
            "{name}: digest"
        );
        // Our canonical JSON is byte-identical to what the SDK posts.
        assert_eq!(
            p.action_json,
            v["action_json"].as_str().unwrap(),
            "{name}: json"
        );
        // The SDK's signature over our digest recovers the test key.
        assert_eq!(recover(&p.digest, &v["signature"]), address, "{name}");
        // The vault round-trips as lowercase hex.
        assert_eq!(
            p.vault_address_hex().as_deref(),
            v["vault"].as_str(),
            "{name}"
        );
    }
    for ty in L1_TYPES.iter().chain(USER_TYPES) {
        assert!(seen_types.contains(ty), "no vector for {ty}");
    }
}

#[test]
fn round_trip_parse_encode() {
    let meta = meta();
    for v in vectors().1 {
        let name = v["name"].as_str().unwrap();
        let mainnet = v["is_mainnet"].as_bool().unwrap();
        let a = parse_action(&meta, &v["action"], mainnet).unwrap();
        let text = a.to_json();
        let again = parse_action(&meta, &parse_json_strict(&text).unwrap(), mainnet).unwrap();
        assert_eq!(a, again, "{name}");
        assert_eq!(again.to_json(), text, "{name}");
        if let (Action::L1(x), Action::L1(y)) = (&a, &again) {
            assert_eq!(x.to_msgpack(), y.to_msgpack(), "{name}");
        }
    }
}

#[test]
fn non_canonical_numbers_are_normalised() {
    let meta = meta();
    let (_, vectors) = vectors();
    let v = vectors
        .iter()
        .find(|v| v["name"] == "order_btc_gtc_mainnet")
        .unwrap();
    let mut action = v["action"].clone();
    action["orders"][0]["p"] = json!("50000.000");
    action["orders"][0]["s"] = json!("0.00100");
    let req = SignRequest {
        action: &action,
        ..request(v)
    };
    let p = prepare(&meta, &req).unwrap();
    assert_eq!(hex::encode(p.digest), v["digest"].as_str().unwrap());
    assert_eq!(p.action_json, v["action_json"].as_str().unwrap());

    for (input, wire) in [
        ("1.50", "1.5"),
        ("100.0", "100"),
        ("100", "100"),
        ("0.00001", "0.00001"),
        ("0.0100", "0.01"),
        ("12345.0", "12345"),
    ] {
        assert_eq!(to_wire(&parse_positive("x", input).unwrap()), wire);
    }
}

#[test]
fn intents() {
    let meta = meta();
    let (_, vectors) = vectors();
    let intents = |name: &str| {
        let v = vectors.iter().find(|v| v["name"] == name).unwrap();
        prepare(&meta, &request(v)).unwrap().intents
    };
    assert_eq!(
        intents("order_sol_ioc_cloid_vault"),
        vec![Intent::Place(NewOrder {
            aggressive: true,
            client_id: Some("0x00000000000000000000000000001234".into()),
            ..NewOrder::limit("SOL", Side::Buy, dec("1.25"), dec("145.37"))
        })]
    );
    assert_eq!(
        intents("order_btc_trigger_market_tp"),
        // Both prices it can execute at: the trigger and the limit `p`.
        vec![Intent::Place(NewOrder {
            trigger_price: Some(dec("70000")),
            reduce_only: true,
            aggressive: true,
            ..NewOrder::limit("BTC", Side::Sell, dec("0.01"), dec("69000"))
        })]
    );
    let Intent::Place(o) = &intents("order_eth_trigger_limit_sl_testnet_expires")[0] else {
        panic!()
    };
    assert!(!o.aggressive && o.price == Some(dec("2450.5")));
    assert_eq!(o.trigger_price, Some(dec("2500")));
    assert_eq!(o.notional(), Some(dec("308.5")));
    let Intent::Place(o) = &intents("order_eth_alo_reduce_testnet")[0] else {
        panic!()
    };
    assert!(!o.aggressive && o.reduce_only && o.side == Side::Sell);
    let spot = intents("order_spot_hype_testnet");
    let Intent::Place(o) = &spot[0] else { panic!() };
    assert_eq!(o.symbol, "HYPE/USDC");
    let Intent::Place(o) = &intents("order_spot_purr")[0] else {
        panic!()
    };
    assert_eq!(o.symbol, "PURR/USDC");
    assert_eq!(intents("order_normal_tpsl_group").len(), 3);
    assert_eq!(
        intents("cancel_bulk_vault_testnet"),
        vec![
            Intent::Cancel {
                symbol: "ETH".into(),
                order: OrderRef::Oid(1)
            },
            Intent::Cancel {
                symbol: "PURR/USDC".into(),
                order: OrderRef::Oid((1 << 40) + 7)
            },
        ]
    );
    assert_eq!(
        intents("cancel_by_cloid"),
        vec![Intent::Cancel {
            symbol: "BTC".into(),
            order: OrderRef::Cloid("0x0000000000000000000000000000002a".into())
        }]
    );
    let m = intents("batch_modify");
    assert!(
        matches!(&m[0], Intent::Modify { order: OrderRef::Oid(1001), new } if new.symbol == "BTC")
    );
    assert!(matches!(
        &m[1],
        Intent::Modify { order: OrderRef::Cloid(c), new }
            if c == "0x00000000000000000000000000000abc" && new.aggressive && new.reduce_only
    ));
    assert!(matches!(
        &intents("modify_single")[0],
        Intent::Modify { order: OrderRef::Oid(987654321), new } if new.symbol == "ETH" && new.price == Some(dec("2999.9"))
    ));
    assert_eq!(
        intents("update_leverage_isolated_vault_testnet"),
        vec![Intent::SetLeverage {
            symbol: "XYZ".into(),
            leverage: 3,
            cross: false
        }]
    );
    assert_eq!(
        intents("update_isolated_margin_remove_expires"),
        vec![Intent::AdjustMargin {
            symbol: "SOL".into(),
            amount: dec("-5")
        }]
    );
    assert_eq!(
        intents("update_isolated_margin_add"),
        vec![Intent::AdjustMargin {
            symbol: "ETH".into(),
            amount: dec("100.5")
        }]
    );
    assert_eq!(
        intents("schedule_cancel_time"),
        vec![Intent::ScheduleCancel {
            at_ms: Some(1_700_000_300_000)
        }]
    );
    assert_eq!(
        intents("schedule_cancel_clear"),
        vec![Intent::ScheduleCancel { at_ms: None }]
    );
    assert_eq!(
        intents("usd_send_testnet_checksummed"),
        vec![Intent::Transfer {
            kind: "usdSend".into(),
            destination: "0x0d1d9635d0640821d15e323ac8adadfa9c111414".into(),
            asset: "USDC".into(),
            amount: dec("12.5"),
        }]
    );
    assert_eq!(
        intents("spot_send"),
        vec![Intent::Transfer {
            kind: "spotSend".into(),
            destination: "0x5e9ee1089755c3435139848e47e6635505d5a13a".into(),
            asset: "PURR:0xc1fb593aeffbeb02f85e0308e9956a90".into(),
            amount: dec("0.25"),
        }]
    );
    assert!(matches!(
        &intents("withdraw")[0],
        Intent::Transfer { kind, amount, .. } if kind == "withdraw3" && *amount == dec("2.5")
    ));
    assert_eq!(
        intents("usd_class_transfer_subaccount_to_spot_testnet"),
        vec![Intent::Transfer {
            kind: "usdClassTransfer".into(),
            destination: "0x1719884eb866cb12b2287399b15f7db5e7d775ea:spot".into(),
            asset: "USDC".into(),
            amount: dec("1.25"),
        }]
    );
    assert!(matches!(
        &intents("usd_class_transfer_to_perp")[0],
        Intent::Transfer { destination, .. } if destination == "perp"
    ));
    assert_eq!(
        intents("approve_agent_unnamed_testnet"),
        vec![Intent::Approve {
            kind: "approveAgent".into(),
            grantee: "0x17c5185167401ed00cf5f5b2fc97d9bbfdb7d025".into(),
        }]
    );
    assert_eq!(
        intents("approve_builder_fee"),
        vec![Intent::Approve {
            kind: "approveBuilderFee".into(),
            grantee: "0x8c967e73e7b15087c42a10d344cff4c96d877f1d".into(),
        }]
    );
}

#[test]
fn meta_lookups() {
    let meta = base_meta();
    assert_eq!(meta.len(), 7 + 3);
    let btc = meta.by_name("BTC").unwrap();
    assert_eq!(
        (btc.index, btc.sz_decimals, btc.kind),
        (0, 5, AssetKind::Perp)
    );
    assert_eq!(btc.max_leverage, Some(40));
    assert_eq!(btc.max_price_decimals(), 1);
    assert_eq!(meta.by_index(5).unwrap().symbol, "kPEPE");
    assert!(meta.by_index(3).unwrap().is_delisted);
    assert!(meta.by_index(6).unwrap().only_isolated);
    let purr = meta.by_index(10_000).unwrap();
    assert_eq!(
        (purr.symbol.as_str(), purr.coin.as_str(), purr.sz_decimals),
        ("PURR/USDC", "PURR/USDC", 0)
    );
    assert_eq!(purr.max_price_decimals(), 8);
    let hype = meta.by_name("HYPE/USDC").unwrap();
    assert_eq!(
        (hype.index, hype.coin.as_str(), hype.sz_decimals),
        (10_107, "@107", 2)
    );
    assert_eq!(meta.by_name("@107").unwrap().index, 10_107);
    assert_eq!(meta.by_name("@1").unwrap().symbol, "HFUN/USDC");
    assert!(meta.by_index(7).is_none() && meta.by_index(10_002).is_none());
    assert!(meta.by_name("btc").is_none());
    assert_eq!(meta.assets().count(), meta.len());

    // Loading from files.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hyperliquid");
    let loaded = Meta::load(&dir.join("meta.json"), Some(&dir.join("spot_meta.json"))).unwrap();
    assert_eq!(loaded, meta);
    let perp_only = Meta::load(&dir.join("meta.json"), None).unwrap();
    assert_eq!(perp_only.len(), 7);
    assert!(Meta::load(&dir.join("missing.json"), None).is_err());

    // Bad metadata is refused.
    for (perp, spot) in [
        (r#"{}"#, None),
        (r#"{"universe": {}}"#, None),
        (r#"{"universe": [{"name": "BTC"}]}"#, None),
        (r#"{"universe": [{"name": "", "szDecimals": 1}]}"#, None),
        (
            r#"{"universe": [{"name": "BTC", "szDecimals": "5"}]}"#,
            None,
        ),
        (r#"{"universe": [{"name": "BTC", "szDecimals": 7}]}"#, None),
        (
            r#"{"universe": [{"name": "BTC", "szDecimals": 1}, {"name": "BTC", "szDecimals": 1}]}"#,
            None,
        ),
        (r#"{"universe": []}"#, Some(r#"{"universe": []}"#)),
        (
            r#"{"universe": []}"#,
            Some(r#"{"universe": [{"name": "A/B", "tokens": [1, 0], "index": 0}], "tokens": []}"#),
        ),
        (
            r#"{"universe": []}"#,
            Some(
                r#"{"universe": [{"name": "A/B", "tokens": [0], "index": 0}],
                    "tokens": [{"name": "A", "szDecimals": 1, "index": 0}]}"#,
            ),
        ),
        ("not json", None),
    ] {
        assert!(
            matches!(Meta::from_json_str(perp, spot), Err(VenueError::Meta(_))),
            "{perp} {spot:?}"
        );
    }
}

const ORDER: &str = r#"{"type":"order","orders":[{"a":0,"b":true,"p":"50000","s":"0.001","r":false,"t":{"limit":{"tif":"Gtc"}}}],"grouping":"na"}"#;
const TRIGGER: &str = r#"{"type":"order","orders":[{"a":0,"b":false,"p":"69000","s":"0.01","r":true,"t":{"trigger":{"isMarket":true,"triggerPx":"70000","tpsl":"tp"}}}],"grouping":"na"}"#;
const CANCEL: &str = r#"{"type":"cancel","cancels":[{"a":0,"o":5}]}"#;
const CANCEL_CLOID: &str = r#"{"type":"cancelByCloid","cancels":[{"asset":0,"cloid":"0x0000000000000000000000000000002a"}]}"#;
const MODIFY: &str = r#"{"type":"modify","oid":7,"order":{"a":1,"b":true,"p":"3000","s":"1","r":false,"t":{"limit":{"tif":"Gtc"}}}}"#;
const LEVERAGE: &str = r#"{"type":"updateLeverage","asset":0,"isCross":true,"leverage":10}"#;
const MARGIN: &str = r#"{"type":"updateIsolatedMargin","asset":1,"isBuy":true,"ntli":1000000}"#;
const SCHEDULE: &str = r#"{"type":"scheduleCancel","time":1700000300000}"#;
const USD_SEND: &str = r#"{"destination":"0x5e9ee1089755c3435139848e47e6635505d5a13a","amount":"1.0","time":1700000032544,"type":"usdSend","signatureChainId":"0x66eee","hyperliquidChain":"Mainnet"}"#;
const SPOT_SEND: &str = r#"{"destination":"0x5e9ee1089755c3435139848e47e6635505d5a13a","amount":"0.25","token":"PURR:0xc1fb593aeffbeb02f85e0308e9956a90","time":1,"type":"spotSend"}"#;
const CLASS: &str = r#"{"type":"usdClassTransfer","amount":"7.5","toPerp":true,"nonce":1}"#;
const AGENT: &str = r#"{"type":"approveAgent","agentAddress":"0x17c5185167401eD00cF5F5b2fc97D9BBfDb7D025","agentName":"bot","nonce":1}"#;
const BUILDER_FEE: &str = r#"{"maxFeeRate":"0.001%","builder":"0x8c967e73e7b15087c42a10d344cff4c96d877f1d","nonce":1,"type":"approveBuilderFee"}"#;

/// `base` with the first occurrence of `from` replaced by `to`.
fn sub(base: &str, from: &str, to: &str) -> String {
    assert!(base.contains(from), "{from} not in {base}");
    base.replacen(from, to, 1)
}

#[test]
fn table_bases_are_valid() {
    let meta = meta();
    for base in [
        ORDER,
        TRIGGER,
        CANCEL,
        CANCEL_CLOID,
        MODIFY,
        LEVERAGE,
        MARGIN,
        SCHEDULE,
        USD_SEND,
        SPOT_SEND,
        CLASS,
        AGENT,
        BUILDER_FEE,
    ] {
        let v = parse_json_strict(base).unwrap();
        parse_action(&meta, &v, true).unwrap_or_else(|e| panic!("{base}: {e}"));
    }
}

#[test]
fn bad_inputs_are_refused() {
    let meta = meta();
    let p = r#""p":"50000""#;
    let s = r#""s":"0.001""#;
    let a = r#""a":0"#;
    let tif = r#""tif":"Gtc""#;
    #[rustfmt::skip]
    let cases: Vec<(String, &str, &str)> = vec![
        // Malformed numbers (price).
        (sub(ORDER, p, r#""p":"NaN""#), "orders[0].p", "not a plain decimal"),
        (sub(ORDER, p, r#""p":"nan""#), "orders[0].p", "not a plain decimal"),
        (sub(ORDER, p, r#""p":"inf""#), "orders[0].p", "not a plain decimal"),
        (sub(ORDER, p, r#""p":"Infinity""#), "orders[0].p", "not a plain decimal"),
        (sub(ORDER, p, r#""p":"-1""#), "orders[0].p", "sign"),
        (sub(ORDER, p, r#""p":"+50000""#), "orders[0].p", "sign"),
        (sub(ORDER, p, r#""p":"0""#), "orders[0].p", "greater than zero"),
        (sub(ORDER, p, r#""p":"0.0""#), "orders[0].p", "greater than zero"),
        (sub(ORDER, p, r#""p":"1e3""#), "orders[0].p", "exponent"),
        (sub(ORDER, p, r#""p":"5E4""#), "orders[0].p", "exponent"),
        (sub(ORDER, p, r#""p":" 50000""#), "orders[0].p", "whitespace"),
        (sub(ORDER, p, r#""p":"50000\n""#), "orders[0].p", "whitespace"),
        (sub(ORDER, p, r#""p":"50,000""#), "orders[0].p", "separators"),
        (sub(ORDER, p, r#""p":"50_000""#), "orders[0].p", "separators"),
        (sub(ORDER, p, r#""p":"""#), "orders[0].p", "empty"),
        (sub(ORDER, p, r#""p":".5""#), "orders[0].p", "both sides"),
        (sub(ORDER, p, r#""p":"5.""#), "orders[0].p", "both sides"),
        (sub(ORDER, p, r#""p":"1.2.3""#), "orders[0].p", "more than one decimal point"),
        (sub(ORDER, p, r#""p":"050000""#), "orders[0].p", "leading zeros"),
        (sub(ORDER, p, r#""p":"0x10""#), "orders[0].p", "not a plain decimal"),
        (sub(ORDER, p, r#""p":"50000abc""#), "orders[0].p", "not a plain decimal"),
        (sub(ORDER, p, r#""p":"123456789012345678901234567890123""#), "orders[0].p", "too many digits"),
        (sub(ORDER, p, r#""p":"1111111111111111111111111111111111111111111""#), "orders[0].p", "too long"),
        (sub(ORDER, p, r#""p":50000"#), "orders[0].p", "expected a string, got an integer"),
        (sub(ORDER, p, r#""p":50000.5"#), "orders[0].p", "expected a string"),
        (sub(ORDER, p, r#""p":null"#), "orders[0].p", "expected a string, got null"),
        // Price rules: 5 significant figures, MAX_DECIMALS − szDecimals.
        (sub(ORDER, p, r#""p":"1.123456789""#), "orders[0].p", "significant figures"),
        (sub(ORDER, p, r#""p":"50000.5""#), "orders[0].p", "significant figures"),
        (sub(ORDER, p, r#""p":"0.05""#), "orders[0].p", "more than 1 decimals"),
        (sub(&sub(ORDER, a, r#""a":5"#), s, r#""s":"1""#).replace("50000", "0.0000012"), "orders[0].p", "more than 6 decimals"),
        (sub(&sub(ORDER, a, r#""a":10000"#), s, r#""s":"1""#).replace("50000", "0.000000012"), "orders[0].p", "more than 8 decimals"),
        // Sizes.
        (sub(ORDER, s, r#""s":"0.000001""#), "orders[0].s", "more than 5 decimals (szDecimals of BTC)"),
        (sub(&sub(ORDER, a, r#""a":10000"#), s, r#""s":"1.5""#).replace("50000", "0.2"), "orders[0].s", "more than 0 decimals"),
        (sub(ORDER, s, r#""s":"0""#), "orders[0].s", "greater than zero"),
        (sub(ORDER, s, r#""s":"1e-3""#), "orders[0].s", "exponent"),
        (sub(ORDER, s, r#""s":0.001"#), "orders[0].s", "expected a string"),
        // Trigger price.
        (sub(TRIGGER, r#""triggerPx":"70000""#, r#""triggerPx":"70000.55""#), "orders[0].t.trigger.triggerPx", "significant figures"),
        (sub(TRIGGER, r#""triggerPx":"70000""#, r#""triggerPx":"-70000""#), "orders[0].t.trigger.triggerPx", "sign"),
        (sub(TRIGGER, r#""triggerPx":"70000""#, r#""triggerPx":70000"#), "orders[0].t.trigger.triggerPx", "expected a string"),
        (sub(TRIGGER, r#""tpsl":"tp""#, r#""tpsl":"TP""#), "orders[0].t.trigger.tpsl", "not \"tp\" or \"sl\""),
        (sub(TRIGGER, r#""isMarket":true"#, r#""isMarket":"true""#), "orders[0].t.trigger.isMarket", "expected a bool"),
        (sub(TRIGGER, r#""isMarket":true,"#, ""), "orders[0].t.trigger.isMarket", "missing"),
        (sub(TRIGGER, r#""tpsl":"tp""#, r#""tpsl":"tp","limitPx":"1""#), "orders[0].t.trigger.limitPx", "unknown field"),
        // Assets.
        (sub(ORDER, a, r#""a":99"#), "orders[0].a", "unknown asset index 99"),
        (sub(ORDER, a, r#""a":10002"#), "orders[0].a", "unknown asset index 10002"),
        (sub(ORDER, a, r#""a":4294967296"#), "orders[0].a", "unknown asset index 4294967296"),
        (sub(ORDER, a, r#""a":-1"#), "orders[0].a", "expected a non-negative (64-bit) integer"),
        (sub(ORDER, a, r#""a":"0""#), "orders[0].a", "expected a non-negative (64-bit) integer, got a string"),
        (sub(ORDER, a, r#""a":0.0"#), "orders[0].a", "got a non-integer number"),
        (sub(ORDER, a, r#""a":3"#), "orders[0].a", "MATIC is delisted"),
        // Other order fields.
        (sub(ORDER, r#""b":true"#, r#""b":"true""#), "orders[0].b", "expected a bool"),
        (sub(ORDER, r#""b":true"#, r#""b":1"#), "orders[0].b", "expected a bool"),
        (sub(ORDER, r#""r":false"#, r#""r":null"#), "orders[0].r", "expected a bool"),
        (sub(ORDER, r#""r":false,"#, ""), "orders[0].r", "missing"),
        (sub(ORDER, tif, r#""tif":"GTC""#), "orders[0].t.limit.tif", "not a time in force"),
        (sub(ORDER, tif, r#""tif":"gtc""#), "orders[0].t.limit.tif", "not a time in force"),
        (sub(ORDER, tif, r#""tif":"frontendMarket""#), "orders[0].t.limit.tif", "not a time in force"),
        (sub(ORDER, r#"{"limit":{"tif":"Gtc"}}"#, "{}"), "orders[0].t", "exactly one"),
        (sub(ORDER, r#"{"limit":{"tif":"Gtc"}}"#, r#"{"limit":{"tif":"Gtc"},"trigger":{"isMarket":true,"triggerPx":"1","tpsl":"tp"}}"#), "orders[0].t", "exactly one"),
        (sub(ORDER, r#"{"limit":{"tif":"Gtc"}}"#, r#"{"market":{}}"#), "orders[0].t.market", "unknown field"),
        (sub(ORDER, tif, r#""tif":"Gtc","postOnly":true"#), "orders[0].t.limit.postOnly", "unknown field"),
        (sub(ORDER, r#""r":false"#, r#""r":false,"c":"0x1234""#), "orders[0].c", "not a cloid"),
        (sub(ORDER, r#""r":false"#, r#""r":false,"c":"00000000000000000000000000000000aa""#), "orders[0].c", "not a cloid"),
        (sub(ORDER, r#""r":false"#, r#""r":false,"c":"0X0000000000000000000000000000002a""#), "orders[0].c", "not a cloid"),
        (sub(ORDER, r#""r":false"#, r#""r":false,"c":"0x000000000000000000000000000000zz""#), "orders[0].c", "not a cloid"),
        (sub(ORDER, r#""r":false"#, r#""r":false,"c":null"#), "orders[0].c", "expected a string, got null"),
        (sub(ORDER, r#""r":false"#, r#""r":false,"c":42"#), "orders[0].c", "expected a string"),
        // Unknown and duplicate-looking fields.
        (sub(ORDER, r#""r":false"#, r#""r":false,"x":1"#), "orders[0].x", "unknown field"),
        (sub(ORDER, p, r#""P":"50000""#), "orders[0].P", "unknown field"),
        (sub(ORDER, p, r#""p ":"50000""#), "orders[0].p ", "unknown field"),
        (sub(ORDER, p, r#""price":"50000""#), "orders[0].price", "unknown field"),
        (sub(ORDER, r#""grouping":"na""#, r#""grouping":"na","vaultAddress":null"#), "vaultAddress", "unknown field"),
        (sub(ORDER, r#""grouping":"na""#, r#""grouping":"na","Type":"order""#), "Type", "unknown field"),
        (sub(ORDER, r#""grouping":"na""#, r#""grouping":"na","orders ":[]"#), "orders ", "unknown field"),
        // Action-level shape.
        (sub(ORDER, r#""grouping":"na""#, r#""grouping":"NA""#), "grouping", "not a grouping"),
        (sub(ORDER, r#""grouping":"na""#, r#""grouping":{"p":100000001}"#), "grouping.p", "exceeds"),
        (sub(ORDER, r#""grouping":"na""#, r#""grouping":{"p":-1}"#), "grouping.p", ""),
        (sub(ORDER, r#""grouping":"na""#, r#""grouping":{"p":1.5}"#), "grouping.p", ""),
        (sub(ORDER, r#""grouping":"na""#, r#""grouping":{"p":"1"}"#), "grouping.p", ""),
        (sub(ORDER, r#""grouping":"na""#, r#""grouping":{"p":1,"q":2}"#), "grouping.q", "unknown field"),
        (sub(ORDER, r#""grouping":"na""#, r#""grouping":["na"]"#), "grouping", "expected a string"),
        (sub(ORDER, r#","grouping":"na""#, ""), "grouping", "missing"),
        (r#"{"type":"order","orders":[],"grouping":"na"}"#.into(), "orders", "must not be empty"),
        (r#"{"type":"order","orders":{},"grouping":"na"}"#.into(), "orders", "expected an array"),
        (sub(ORDER, r#""grouping":"na""#, r#""grouping":"na","builder":{"b":"0x123","f":1}"#), "builder.b", "not an address"),
        (sub(ORDER, r#""grouping":"na""#, r#""grouping":"na","builder":{"b":"0x8C967E73E7B15087c42a10d344cff4c96d877f1d","f":1}"#), "builder.b", "checksum"),
        (sub(ORDER, r#""grouping":"na""#, r#""grouping":"na","builder":{"b":"0x8c967e73e7b15087c42a10d344cff4c96d877f1d","f":1001}"#), "builder.f", "exceeds"),
        (sub(ORDER, r#""grouping":"na""#, r#""grouping":"na","builder":{"b":"0x8c967e73e7b15087c42a10d344cff4c96d877f1d"}"#), "builder.f", "missing"),
        (sub(ORDER, r#""grouping":"na""#, r#""grouping":"na","builder":null"#), "builder", "expected an object"),
        // Action types.
        (sub(ORDER, r#""type":"order""#, r#""type":"Order""#), "type", "unknown action type \"Order\""),
        (sub(ORDER, r#""type":"order""#, r#""type":"order ""#), "type", "unknown action type"),
        (sub(ORDER, r#""type":"order""#, r#""type":1"#), "type", "expected a string"),
        (sub(ORDER, r#""type":"order","#, ""), "type", "missing"),
        (r#"{"type":"gossipPriorityBid","slotId":0,"ip":"1.2.3.4","maxGas":1}"#.into(), "type", "unknown action type \"gossipPriorityBid\""),
        (r#"{"type":"twapOrder","twap":{}}"#.into(), "type", "unknown action type"),
        (r#"{"type":"vaultTransfer","vaultAddress":"0x1719884eb866cb12b2287399b15f7db5e7d775ea","isDeposit":false,"usd":1}"#.into(), "type", "unknown action type"),
        (r#"{"type":"multiSig"}"#.into(), "type", "unknown action type"),
        (r#"[]"#.into(), "action", "expected an object"),
        (r#""order""#.into(), "action", "expected an object"),
        // Cancels.
        (sub(CANCEL, r#""o":5"#, r#""o":-5"#), "cancels[0].o", "expected a non-negative"),
        (sub(CANCEL, r#""o":5"#, r#""o":"5""#), "cancels[0].o", "expected a non-negative"),
        (sub(CANCEL, r#""o":5"#, r#""o":18446744073709551616"#), "cancels[0].o", "got a non-integer number"),
        (sub(CANCEL, r#""a":0"#, r#""a":42"#), "cancels[0].a", "unknown asset"),
        (sub(CANCEL, r#""o":5"#, r#""o":5,"cloid":"0x0000000000000000000000000000002a""#), "cancels[0].cloid", "unknown field"),
        (sub(CANCEL, r#""a":0"#, r#""asset":0"#), "cancels[0].asset", "unknown field"),
        (sub(CANCEL_CLOID, "0x0000000000000000000000000000002a", "0000000000000000000000000000002a"), "cancels[0].cloid", "not a cloid"),
        (sub(CANCEL_CLOID, "0x0000000000000000000000000000002a", "0x2a"), "cancels[0].cloid", "not a cloid"),
        (sub(CANCEL_CLOID, r#""asset":0"#, r#""a":0"#), "cancels[0].a", "unknown field"),
        (sub(CANCEL_CLOID, r#""asset":0"#, r#""asset":10005"#), "cancels[0].asset", "unknown asset"),
        // Modify.
        (sub(MODIFY, r#""oid":7"#, r#""oid":"abc""#), "oid", "not a cloid"),
        (sub(MODIFY, r#""oid":7"#, r#""oid":-7"#), "oid", "expected a non-negative"),
        (sub(MODIFY, r#""oid":7"#, r#""oid":null"#), "oid", "expected a non-negative"),
        (sub(MODIFY, r#""p":"3000""#, r#""p":"3.123""#), "order.p", "more than 2 decimals"),
        (r#"{"type":"modify","oid":7}"#.into(), "order", "missing"),
        (r#"{"type":"batchModify","modifies":[]}"#.into(), "modifies", "must not be empty"),
        (r#"{"type":"batchModify","modifies":[{"oid":1,"order":{"a":1,"b":true,"p":"3000","s":"0.00001","r":false,"t":{"limit":{"tif":"Gtc"}}}}]}"#.into(), "modifies[0].order.s", "szDecimals of ETH"),
        (r#"{"type":"batchModify","modifies":[{"oid":1}]}"#.into(), "modifies[0].order", "missing"),
        // Leverage and margin.
        (sub(LEVERAGE, r#""leverage":10"#, r#""leverage":0"#), "leverage", "at least 1"),
        (sub(LEVERAGE, r#""leverage":10"#, r#""leverage":41"#), "leverage", "exceeds the maximum leverage of BTC (40)"),
        (sub(LEVERAGE, r#""leverage":10"#, r#""leverage":2.5"#), "leverage", "expected a non-negative"),
        (sub(LEVERAGE, r#""leverage":10"#, r#""leverage":4294967296"#), "leverage", "too large"),
        (sub(LEVERAGE, r#""asset":0"#, r#""asset":10000"#), "asset", "spot asset"),
        (sub(LEVERAGE, r#""asset":0"#, r#""asset":6"#), "isCross", "isolated margin only"),
        (sub(LEVERAGE, r#""isCross":true"#, r#""isCross":"yes""#), "isCross", "expected a bool"),
        (sub(MARGIN, r#""ntli":1000000"#, r#""ntli":0"#), "ntli", "must not be zero"),
        (sub(MARGIN, r#""ntli":1000000"#, r#""ntli":"1000000""#), "ntli", "expected a (64-bit) integer"),
        (sub(MARGIN, r#""ntli":1000000"#, r#""ntli":1.5"#), "ntli", "expected a (64-bit) integer"),
        (sub(MARGIN, r#""ntli":1000000"#, r#""ntli":9223372036854775808"#), "ntli", "expected a (64-bit) integer"),
        (sub(MARGIN, r#""asset":1"#, r#""asset":10107"#), "asset", "spot asset"),
        (sub(MARGIN, r#""isBuy":true,"#, ""), "isBuy", "missing"),
        // Schedule cancel.
        (sub(SCHEDULE, "1700000300000", "null"), "time", "expected a non-negative"),
        (sub(SCHEDULE, "1700000300000", "-1"), "time", "expected a non-negative"),
        (sub(SCHEDULE, "1700000300000", r#""1700000300000""#), "time", "expected a non-negative"),
        (sub(SCHEDULE, r#""time""#, r#""Time""#), "Time", "unknown field"),
        // User-signed actions.
        (sub(USD_SEND, r#""amount":"1.0""#, r#""amount":"1e-05""#), "amount", "exponent"),
        (sub(USD_SEND, r#""amount":"1.0""#, r#""amount":"-1""#), "amount", "sign"),
        (sub(USD_SEND, r#""amount":"1.0""#, r#""amount":"0""#), "amount", "greater than zero"),
        (sub(USD_SEND, r#""amount":"1.0""#, r#""amount":"NaN""#), "amount", "not a plain decimal"),
        (sub(USD_SEND, r#""amount":"1.0""#, r#""amount":1.0"#), "amount", "expected a string"),
        (sub(USD_SEND, "0x5e9ee1089755c3435139848e47e6635505d5a13a", "0x5e9ee1089755c3435139848e47e6635505d5a13"), "destination", "not an address"),
        (sub(USD_SEND, "0x5e9ee1089755c3435139848e47e6635505d5a13a", "5e9ee1089755c3435139848e47e6635505d5a13a"), "destination", "not an address"),
        (sub(USD_SEND, "0x5e9ee1089755c3435139848e47e6635505d5a13a", "0x5E9ee1089755c3435139848e47e6635505d5a13a"), "destination", "checksum"),
        (sub(USD_SEND, r#""time":1700000032544"#, r#""time":"1700000032544""#), "time", "expected a non-negative"),
        (sub(USD_SEND, r#""time":1700000032544"#, r#""nonce":1700000032544"#), "nonce", "unknown field"),
        (sub(USD_SEND, r#""type":"usdSend""#, r#""type":"usdSend","token":"USDC""#), "token", "unknown field"),
        (sub(USD_SEND, r#""Mainnet""#, r#""mainnet""#), "hyperliquidChain", "not \"Mainnet\" or \"Testnet\""),
        (sub(USD_SEND, r#""Mainnet""#, r#""Testnet""#), "hyperliquidChain", "action is for Testnet but the request is for Mainnet"),
        (sub(USD_SEND, r#""0x66eee""#, r#""66eee""#), "signatureChainId", "not a 0x-hex chain id"),
        (sub(USD_SEND, r#""0x66eee""#, r#""0x0""#), "signatureChainId", "must not be zero"),
        (sub(USD_SEND, r#""0x66eee""#, r#""0x10000000000000000""#), "signatureChainId", "not a 0x-hex chain id"),
        (sub(USD_SEND, r#""0x66eee""#, r#"421614"#), "signatureChainId", "expected a string"),
        (sub(SPOT_SEND, "PURR:0xc1fb593aeffbeb02f85e0308e9956a90", "PURR"), "token", "not a spot token"),
        (sub(SPOT_SEND, "PURR:0xc1fb593aeffbeb02f85e0308e9956a90", ":0xc1fb593aeffbeb02f85e0308e9956a90"), "token", "not a spot token"),
        (sub(SPOT_SEND, "PURR:0xc1fb593aeffbeb02f85e0308e9956a90", "PURR:0xc1fb"), "token", "not a spot token"),
        (sub(SPOT_SEND, r#","token":"PURR:0xc1fb593aeffbeb02f85e0308e9956a90""#, ""), "token", "missing"),
        (sub(CLASS, r#""7.5""#, r#""7.5 subacount:0x1719884eb866cb12b2287399b15f7db5e7d775ea""#), "amount", "subaccount"),
        (sub(CLASS, r#""7.5""#, r#""7.5 subaccount:0x1719""#), "amount", "not an address"),
        (sub(CLASS, r#""7.5""#, r#""7.5  subaccount:0x1719884eb866cb12b2287399b15f7db5e7d775ea""#), "amount", "is not \"<amount>\""),
        (sub(CLASS, r#""toPerp":true"#, r#""toPerp":1"#), "toPerp", "expected a bool"),
        (sub(AGENT, r#""agentName":"bot""#, r#""agentName":5"#), "agentName", "expected a string"),
        (sub(AGENT, "0x17c5185167401eD00cF5F5b2fc97D9BBfDb7D025", "0x17c5185167401eD00cF5F5b2fc97D9BBfDb7D02"), "agentAddress", "not an address"),
        (sub(BUILDER_FEE, r#""0.001%""#, r#""0.001""#), "maxFeeRate", "percentage"),
        (sub(BUILDER_FEE, r#""0.001%""#, r#""2%""#), "maxFeeRate", "exceeds 1%"),
        (sub(BUILDER_FEE, r#""0.001%""#, r#""-0.1%""#), "maxFeeRate", "sign"),
        (sub(BUILDER_FEE, r#""0.001%""#, r#""1e-3%""#), "maxFeeRate", "exponent"),
    ];
    for (text, path, reason) in &cases {
        let v = parse_json_strict(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let err = match parse_action(&meta, &v, true) {
            Ok(a) => panic!("accepted {text}: {a:?}"),
            Err(e) => e,
        };
        assert_eq!(err.path(), *path, "{text}: {err}");
        assert!(
            err.to_string().contains(reason),
            "{text}: {err:?} does not mention {reason:?}"
        );
        // prepare refuses it the same way.
        let req = SignRequest {
            action: &v,
            nonce: 1,
            vault_address: None,
            expires_after: None,
            is_mainnet: true,
        };
        assert_eq!(prepare(&meta, &req).unwrap_err(), err);
    }
    assert!(cases.len() > 150);
}

#[test]
fn request_context_is_checked() {
    let meta = meta();
    let order = parse_json_strict(ORDER).unwrap();
    let base = SignRequest {
        action: &order,
        nonce: 1,
        vault_address: None,
        expires_after: None,
        is_mainnet: true,
    };
    for (vault, reason) in [
        ("0x1234", "not an address"),
        ("1719884eb866cb12b2287399b15f7db5e7d775ea", "not an address"),
        ("0x1719884eB866cb12b2287399b15f7db5e7d775ea", "checksum"),
    ] {
        let err = prepare(
            &meta,
            &SignRequest {
                vault_address: Some(vault),
                ..base
            },
        )
        .unwrap_err();
        assert_eq!(err.path(), "vaultAddress");
        assert!(err.to_string().contains(reason), "{err}");
    }
    // Any spelling of the same vault gives the same digest.
    let lower = prepare(
        &meta,
        &SignRequest {
            vault_address: Some("0x1719884eb866cb12b2287399b15f7db5e7d775ea"),
            ..base
        },
    )
    .unwrap();
    let upper = prepare(
        &meta,
        &SignRequest {
            vault_address: Some("0x1719884EB866CB12B2287399B15F7DB5E7D775EA"),
            ..base
        },
    )
    .unwrap();
    assert_eq!(lower.digest, upper.digest);
    // Network and expiry change the digest.
    let plain = prepare(&meta, &base).unwrap();
    let testnet = prepare(
        &meta,
        &SignRequest {
            is_mainnet: false,
            ..base
        },
    )
    .unwrap();
    let expiring = prepare(
        &meta,
        &SignRequest {
            expires_after: Some(2),
            ..base
        },
    )
    .unwrap();
    assert_eq!(plain.action_hash, testnet.action_hash);
    assert_ne!(plain.digest, testnet.digest);
    assert_ne!(plain.action_hash, expiring.action_hash);
    assert_ne!(plain.digest, lower.digest);

    // User-signed actions carry their own nonce and sign neither a vault
    // nor an expiry.
    let send = parse_json_strict(USD_SEND).unwrap();
    let user = SignRequest {
        action: &send,
        nonce: 1_700_000_032_544,
        vault_address: None,
        expires_after: None,
        is_mainnet: true,
    };
    prepare(&meta, &user).unwrap();
    let err = prepare(&meta, &SignRequest { nonce: 5, ..user }).unwrap_err();
    assert_eq!(err.path(), "time");
    assert!(err.to_string().contains("differs from the request nonce 5"));
    let err = prepare(
        &meta,
        &SignRequest {
            vault_address: Some("0x1719884eb866cb12b2287399b15f7db5e7d775ea"),
            ..user
        },
    )
    .unwrap_err();
    assert_eq!(err.path(), "vaultAddress");
    let err = prepare(
        &meta,
        &SignRequest {
            expires_after: Some(9),
            ..user
        },
    )
    .unwrap_err();
    assert_eq!(err.path(), "expiresAfter");
    let err = prepare(
        &meta,
        &SignRequest {
            is_mainnet: false,
            ..user
        },
    )
    .unwrap_err();
    assert_eq!(err.path(), "hyperliquidChain");
    let class = parse_json_strict(CLASS).unwrap();
    let err = prepare(
        &meta,
        &SignRequest {
            action: &class,
            nonce: 2,
            ..user
        },
    )
    .unwrap_err();
    assert_eq!(err.path(), "nonce");
}

#[test]
fn user_signed_defaults_are_filled() {
    let meta = meta();
    // The SDK builds user-signed actions without signatureChainId and
    // hyperliquidChain and adds them when it signs; so do we.
    let (_, vectors) = vectors();
    let v = vectors
        .iter()
        .find(|v| v["name"] == "usd_send_testnet_checksummed")
        .unwrap();
    let mut bare = v["action"].clone();
    let obj = bare.as_object_mut().unwrap();
    obj.remove("signatureChainId");
    obj.remove("hyperliquidChain");
    let p = prepare(
        &meta,
        &SignRequest {
            action: &bare,
            ..request(v)
        },
    )
    .unwrap();
    assert_eq!(hex::encode(p.digest), v["digest"].as_str().unwrap());
    assert_eq!(p.action_json, v["action_json"].as_str().unwrap());
    assert_eq!(p.action.embedded_nonce(), Some(p.nonce));
    let Action::User(u) = &p.action else { panic!() };
    assert_eq!(u.signature_chain_id, DEFAULT_SIGNATURE_CHAIN_ID);
    assert_eq!(u.chain, HyperliquidChain::Testnet);
    // Another chain id is signed as given.
    let mut other = v["action"].clone();
    other["signatureChainId"] = json!("0xA4B1");
    let q = prepare(
        &meta,
        &SignRequest {
            action: &other,
            ..request(v)
        },
    )
    .unwrap();
    assert_ne!(q.digest, p.digest);
    assert!(q.action_json.contains(r#""signatureChainId":"0xa4b1""#));
}

#[test]
fn strict_json_refuses_duplicate_keys() {
    let dup = r#"{"type":"order","orders":[{"a":0,"b":true,"p":"50000","p":"1","s":"0.001","r":false,"t":{"limit":{"tif":"Gtc"}}}],"grouping":"na"}"#;
    let err = parse_json_strict(dup).unwrap_err();
    assert!(err.to_string().contains("duplicate key \"p\""), "{err}");
    let dup_type = r#"{"type":"cancel","type":"order","cancels":[{"a":0,"o":1}]}"#;
    assert!(parse_json_strict(dup_type).is_err());
    assert!(parse_json_strict("{\"a\":1} trailing").is_err());
    assert!(parse_json_strict("").is_err());
    // serde_json alone would have kept the last value silently.
    let lax: Value = serde_json::from_str(dup).unwrap();
    assert_eq!(lax["orders"][0]["p"], "1");
    // Valid JSON is unchanged.
    assert_eq!(
        parse_json_strict(ORDER).unwrap(),
        serde_json::from_str::<Value>(ORDER).unwrap()
    );
}

#[test]
fn number_rules() {
    let meta = meta();
    let btc = meta.by_name("BTC").unwrap();
    let kpepe = meta.by_name("kPEPE").unwrap();
    let purr = meta.by_name("PURR/USDC").unwrap();
    let price_ok = |s: &str, a: &AssetInfo| {
        let d = parse_positive("p", s).unwrap();
        number::check_price("p", s, &d, a).is_ok()
    };
    // Integers are always allowed, whatever their significant figures.
    assert!(price_ok("123456789", btc));
    assert!(!price_ok("99999.5", kpepe));
    assert!(price_ok("9999.5", btc));
    assert!(!price_ok("9999.55", btc));
    assert!(price_ok("0.000012", kpepe));
    assert!(!price_ok("0.0000012", kpepe));
    assert!(price_ok("0.00000012", purr));
    assert!(!price_ok("0.000000012", purr));
    assert!(price_ok("0.12345", purr));
    assert!(!price_ok("0.123456", purr));
    let size_ok = |s: &str, a: &AssetInfo| {
        let d = parse_positive("s", s).unwrap();
        number::check_size("s", s, &d, a).is_ok()
    };
    assert!(size_ok("0.00001", btc));
    assert!(!size_ok("0.000001", btc));
    assert!(size_ok("1000", kpepe));
    assert!(size_ok("1000.000", kpepe));
    assert!(!size_ok("1000.5", kpepe));
    assert!(parse_plain_decimal("x", "0").unwrap().is_zero());
    assert!(parse_plain_decimal("x", "0.5").is_ok());
    assert!(parse_plain_decimal("x", "00.5").is_err());
}

#[test]
fn eip55_addresses() {
    assert!(parse_address("x", "0x17c5185167401eD00cF5F5b2fc97D9BBfDb7D025").is_ok());
    assert!(parse_address("x", "0x17c5185167401ed00cf5f5b2fc97d9bbfdb7d025").is_ok());
    assert!(parse_address("x", "0x17C5185167401ED00CF5F5B2FC97D9BBFDB7D025").is_ok());
    assert!(parse_address("x", "0x17c5185167401eD00cF5F5b2fc97D9BBfDb7D026").is_err());
    assert!(parse_address("x", "0X17c5185167401ed00cf5f5b2fc97d9bbfdb7d025").is_err());
    assert!(parse_address("x", "0x17c5185167401ed00cf5f5b2fc97d9bbfdb7d02g").is_err());
}

#[test]
fn flattening_orders_are_valid_reduce_only_ioc_orders() {
    let meta = meta();
    // Long 0.0123 BTC at 65432.1: sell 1 % below, price rounded down to 5
    // significant figures, size up to szDecimals.
    let a = flatten_action(
        &meta,
        "BTC",
        "0.0123".parse().unwrap(),
        "65432.1".parse().unwrap(),
        100,
    )
    .unwrap();
    let o = &a["orders"][0];
    assert_eq!(o["b"], false);
    assert_eq!(o["r"], true);
    assert_eq!(o["t"]["limit"]["tif"], "Ioc");
    assert_eq!(o["p"], "64777");
    // The agent's own parser accepts it, so the venue's rules hold.
    parse_action(&meta, &a, true).unwrap();
    // Short: buy above, rounded up.
    let a = flatten_action(
        &meta,
        "BTC",
        "-1.5".parse().unwrap(),
        "65432.1".parse().unwrap(),
        100,
    )
    .unwrap();
    assert_eq!(a["orders"][0]["b"], true);
    assert_eq!(a["orders"][0]["p"], "66087");
    parse_action(&meta, &a, true).unwrap();
    // A small-priced asset keeps its decimals.
    let kpepe = meta
        .assets()
        .find(|x| x.symbol == "kPEPE")
        .map(|x| x.symbol.clone());
    if let Some(k) = kpepe {
        let a = flatten_action(
            &meta,
            &k,
            "1000".parse().unwrap(),
            "0.0123456".parse().unwrap(),
            50,
        )
        .unwrap();
        parse_action(&meta, &a, true).unwrap();
    }
    assert!(
        flatten_action(
            &meta,
            "NOPE",
            "1".parse().unwrap(),
            "1".parse().unwrap(),
            100
        )
        .is_err()
    );
    assert!(
        flatten_action(
            &meta,
            "BTC",
            "0".parse().unwrap(),
            "1".parse().unwrap(),
            100
        )
        .is_err()
    );
}

#[test]
fn order_priority_is_a_fee_of_p_over_1e8() {
    let meta = meta();
    let (_, vectors) = vectors();
    let v = vectors
        .iter()
        .find(|v| v["name"] == "order_priority_ioc")
        .unwrap();
    let p = prepare(&meta, &request(v)).unwrap();
    let Intent::Place(o) = &p.intents[0] else {
        panic!()
    };
    assert_eq!(
        o.fees,
        vec![crate::order::Fee {
            kind: "priority".into(),
            payee: "burn".into(),
            rate: dec("0.00001"),
        }]
    );
}
