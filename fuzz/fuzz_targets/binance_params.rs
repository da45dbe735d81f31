//! Binance-style REST requests (`venue::binance::parse`): strict parameter
//! reading (JSON object or query string), endpoint decoding and the
//! canonical, percent-encoded query the key signs.
//!
//! Input: UTF-8 text. The first line is `METHOD /path`; the rest is the
//! parameters: a JSON object if it starts with `{`, else a query string.
//!
//! Asserts: no input panics; canonicalisation is idempotent: the canonical
//! parameters of an accepted request, sent again as a query string or as a
//! JSON object of strings, are accepted and give the same request (same
//! parameters, order, receive window and intents) and the same signed
//! query; the query never carries `timestamp` or `signature` from the bot
//! and ends with the agent's own `recvWindow` and `timestamp`.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use tradeward::venue::binance::{RestKeyConfig, encode_query, parse};
use tradeward::venue::hyperliquid::parse_json_strict;

const READ_ONLY: &str = r#"
[[read_only]]
method = "GET"
path = "/api/v3/account"
params = ["omitZeroBalances"]

[[read_only]]
method = "GET"
path = "/api/v3/openOrders"
params = ["symbol"]
"#;

fn configs() -> &'static [RestKeyConfig; 2] {
    static CFGS: OnceLock<[RestKeyConfig; 2]> = OnceLock::new();
    CFGS.get_or_init(|| {
        let load = |text: String| {
            let c: RestKeyConfig = toml::from_str(&text).expect("fuzz config parses");
            c.validate().expect("fuzz config is valid");
            c
        };
        [
            load(format!(
                "venue = \"binance\"\nmarkets = [\"spot\", \"usdm\"]\nmax_recv_window_ms = 10000\n{READ_ONLY}"
            )),
            load(format!("venue = \"binance\"\nmarkets = [\"spot\"]\n{READ_ONLY}")),
        ]
    })
}

const TS: u64 = 1_499_827_319_559;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (head, body) = text.split_once('\n').unwrap_or((text, ""));
    let (method, path) = head.split_once(' ').unwrap_or((head, ""));
    let params = if body.starts_with('{') {
        match parse_json_strict(body) {
            Ok(v) => v,
            Err(_) => return,
        }
    } else {
        Value::String(body.to_string())
    };
    for cfg in configs() {
        let Ok(req) = parse(cfg, "binance", method, path, Some(&params)) else {
            continue;
        };
        assert!(
            !req.params
                .iter()
                .any(|(n, _)| n == "timestamp" || n == "signature" || n == "recvWindow"),
            "agent-owned parameter in the canonical set: {:?}",
            req.params
        );
        let query = req.query(TS);
        assert_eq!(req.query(TS), query, "query is not deterministic");
        let tail = format!("recvWindow={}&timestamp={TS}", req.recv_window_ms);
        assert!(
            query.ends_with(&tail),
            "{query:?} does not end with {tail:?}"
        );

        // The canonical parameters plus the receive window, as a query
        // string and as a JSON object of strings.
        let mut canonical = req.params.clone();
        canonical.push(("recvWindow".into(), req.recv_window_ms.to_string()));
        let as_query = Value::String(encode_query(&canonical));
        let as_object = Value::Object(
            canonical
                .iter()
                .map(|(n, v)| (n.clone(), Value::String(v.clone())))
                .collect::<Map<_, _>>(),
        );
        for form in [as_query, as_object] {
            let again = parse(cfg, "binance", method, path, Some(&form))
                .unwrap_or_else(|e| panic!("canonical form {form} refused: {e:?}"));
            assert_eq!(again, req, "canonical form {form} parses differently");
            assert_eq!(again.query(TS), query);
        }
    }
});
