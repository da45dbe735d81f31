//! OKX v5 requests (`venue::okx::parse`): strict body reading, endpoint
//! decoding and the canonical body and prehash the key signs.
//!
//! Input: UTF-8 text. The first line is `METHOD /path`; the rest is the
//! body (JSON) of a POST or the query parameters (a JSON object) of a GET.
//!
//! Asserts: no input panics; canonicalisation is idempotent: the canonical
//! body of an accepted request, sent again, is accepted and gives the same
//! request (same body, path and intents); the prehash is exactly
//! timestamp + method + request path + body.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tradeward::venue::hyperliquid::parse_json_strict;
use tradeward::venue::okx::{OkxKeyConfig, parse};

fn config() -> &'static OkxKeyConfig {
    static CFG: OnceLock<OkxKeyConfig> = OnceLock::new();
    CFG.get_or_init(|| {
        let c: OkxKeyConfig = toml::from_str(
            r#"
api_key = "fuzz-key"
passphrase_file = "unused"
[instruments."BTC-USDT"]
symbol = "BTCUSDT"
[instruments."BTC-USDT-SWAP"]
symbol = "BTC-PERP"
contract_size = "0.01"
[[read_only]]
path = "/api/v5/account/balance"
params = ["ccy"]
"#,
        )
        .expect("fuzz config parses");
        c.validate().expect("fuzz config is valid");
        c
    })
}

const TS: &str = "2020-12-08T09:08:57.715Z";

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
    let Ok(req) = parse(config(), method, path, params.as_ref()) else {
        return;
    };
    assert_eq!(
        req.prehash(TS),
        format!("{TS}{}{}{}", req.method, req.request_path, req.body)
    );
    assert_eq!(req.intents_at(0).is_empty(), req.is_read_only());
    if req.method == "POST" {
        let canonical = parse_json_strict(&req.body).expect("the canonical body is JSON");
        let again = parse(config(), method, path, Some(&canonical))
            .unwrap_or_else(|e| panic!("canonical body {} refused: {e:?}", req.body));
        assert_eq!(again, req, "canonical body {} parses differently", req.body);
    }
});
