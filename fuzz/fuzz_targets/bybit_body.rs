//! Bybit v5 requests (`venue::bybit::parse`): strict body reading,
//! endpoint decoding and the canonical payload and prehash the key signs.
//!
//! Input: UTF-8 text. The first line is `METHOD /path`; the rest is the
//! body (JSON) of a POST or the query parameters (a JSON object) of a GET.
//!
//! Asserts: no input panics; canonicalisation is idempotent: the canonical
//! body of an accepted request, sent again, is accepted and gives the same
//! request (same payload and intents); the prehash is exactly timestamp +
//! API key + recv_window + payload.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tradeward::venue::bybit::{BybitKeyConfig, parse};
use tradeward::venue::hyperliquid::parse_json_strict;

fn config() -> &'static BybitKeyConfig {
    static CFG: OnceLock<BybitKeyConfig> = OnceLock::new();
    CFG.get_or_init(|| {
        let c: BybitKeyConfig = toml::from_str(
            r#"
api_key = "FUZZKEY"
[[instruments]]
category = "linear"
symbol = "BTCUSDT"
policy_symbol = "BTC-PERP"
[[instruments]]
category = "spot"
symbol = "BTCUSDT"
policy_symbol = "BTCUSDT"
[[read_only]]
path = "/v5/order/realtime"
params = ["category", "symbol"]
"#,
        )
        .expect("fuzz config parses");
        c.validate().expect("fuzz config is valid");
        c
    })
}

const TS: u64 = 1_658_385_579_423;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (head, body) = text.split_once('\n').unwrap_or((text, ""));
    let (method, path) = head.split_once(' ').unwrap_or((head, ""));
    let params = if body.is_empty() {
        None
    } else {
        match parse_json_strict(body) {
            Ok(v) => Some(v),
            Err(_) => return,
        }
    };
    let Ok(req) = parse(config(), method, path, params.as_ref(), None) else {
        return;
    };
    assert_eq!(
        req.prehash(TS, "FUZZKEY"),
        format!("{TS}FUZZKEY{}{}", req.recv_window_ms, req.payload)
    );
    assert_eq!(req.intents.is_empty(), req.is_read_only());
    if req.method == "POST" {
        let canonical = parse_json_strict(&req.payload).expect("the canonical body is JSON");
        let again = parse(config(), method, path, Some(&canonical), None)
            .unwrap_or_else(|e| panic!("canonical body {} refused: {e:?}", req.payload));
        assert_eq!(
            again, req,
            "canonical body {} parses differently",
            req.payload
        );
    }
});
