//! Hyperliquid actions (`venue::hyperliquid`): strict JSON, action parsing,
//! canonical encoding (JSON and msgpack) and the signing digest, against
//! the asset metadata the integration tests use.
//!
//! Input: one flag byte (bit 0 mainnet, bit 1 sign for a vault, bit 2 with
//! an expiry), then the action as JSON text.
//!
//! Asserts: no input panics; for an accepted action `x`,
//! `parse(encode(x)) == x` through the canonical JSON, and through the
//! msgpack too for an L1 action (the msgpack, decoded, is the same document
//! as the canonical JSON); encoding is deterministic and a fixed point
//! (encoding the re-parsed action gives the same bytes); `prepare` on the
//! original and on the canonical form yields the same digest, and its
//! `action_json` is the canonical JSON.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tradeward::venue::hyperliquid::{
    Action, Meta, SignRequest, parse_action, parse_json_strict, prepare,
};

fn meta() -> &'static Meta {
    static META: OnceLock<Meta> = OnceLock::new();
    META.get_or_init(|| {
        Meta::from_json_str(
            include_str!("../../tests/fixtures/hyperliquid/meta.json"),
            Some(include_str!(
                "../../tests/fixtures/hyperliquid/spot_meta.json"
            )),
        )
        .expect("the test fixtures' metadata loads")
    })
}

const VAULT: &str = "0x1111111111111111111111111111111111111111";

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let is_mainnet = flags & 1 != 0;
    let meta = meta();
    let Ok(value) = parse_json_strict(text) else {
        return;
    };
    let Ok(action) = parse_action(meta, &value, is_mainnet) else {
        return;
    };

    // Canonical JSON: deterministic, parses back to the same action, and
    // is a fixed point of parse-then-encode.
    let json = action.to_json();
    assert_eq!(action.to_json(), json, "JSON encoding is not deterministic");
    let canonical = parse_json_strict(&json).expect("canonical JSON is strict JSON");
    let again = parse_action(meta, &canonical, is_mainnet).expect("canonical JSON parses");
    assert_eq!(again, action, "parse(encode(x)) != x (JSON)");
    assert_eq!(
        again.to_json(),
        json,
        "encode(parse(encode(x))) != encode(x)"
    );
    assert_eq!(action.type_name(), again.type_name());

    if let (Action::L1(l1), Action::L1(l1_again)) = (&action, &again) {
        let msgpack = l1.to_msgpack();
        assert_eq!(
            l1.to_msgpack(),
            msgpack,
            "msgpack encoding is not deterministic"
        );
        assert_eq!(
            l1_again.to_msgpack(),
            msgpack,
            "msgpack differs after a round trip"
        );
        let decoded: Value = rmp_serde::from_slice(&msgpack).expect("canonical msgpack decodes");
        assert_eq!(
            decoded, canonical,
            "msgpack and JSON encode different documents"
        );
        let from_msgpack =
            parse_action(meta, &decoded, is_mainnet).expect("canonical msgpack parses");
        assert_eq!(from_msgpack, action, "parse(encode(x)) != x (msgpack)");
    }

    // Intents and the digest: no panic, and the same for the original and
    // the canonical form.
    let intents = action.intents(meta);
    assert_eq!(again.intents(meta), intents);
    let nonce = action.embedded_nonce().unwrap_or(1_700_000_000_000);
    let sign = |v: &Value| {
        prepare(
            meta,
            &SignRequest {
                action: v,
                nonce,
                vault_address: (flags & 2 != 0).then_some(VAULT),
                expires_after: (flags & 4 != 0).then_some(1_800_000_000_000),
                is_mainnet,
            },
        )
    };
    match (sign(&value), sign(&canonical)) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.action_json, json);
            assert_eq!(a, b, "the canonical form signs differently");
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        (a, b) => panic!("original and canonical forms disagree: {a:?} vs {b:?}"),
    }
});
