//! Bybit v5 signing (HMAC keys): parse a bot's request (method, path, JSON
//! body or query) strictly, turn it into intents for policy, and build the
//! exact prehash the key signs: `timestamp + apiKey + recvWindow +
//! (queryString | body)`, the timestamp in ms set by the agent, the
//! `recv_window` the bot's (up to the key's ceiling) or the key's default.
//! The signature is the HMAC-SHA256 in lower-case hex.
//!
//! What is decoded: orders of the linear and spot categories on the key's
//! instruments (create, batch create, amend, batch amend, cancel, batch
//! cancel, cancel-all), each instrument mapped to a policy symbol; anything
//! else only as a `GET` on the key's read-only allowlist.
//!
//! Like Binance's, Bybit's signature does not cover the method or path: a
//! signed body could be sent to another endpoint that takes the same
//! fields. A GET's query string is not JSON, so a signed read cannot become
//! a POST; an order body sent to the amend endpoint asks for at most the
//! judged order; bodies of cancels only cancel. See docs/bybit.md.

mod config;
mod endpoints;
pub mod fields;
mod orders;

use serde_json::Value;

pub use config::{
    BybitKeyConfig, Category, DEFAULT_RECV_WINDOW_MS, Instrument, MAX_RECV_WINDOW_MS, ReadOnly,
};
pub use endpoints::{
    AMEND_FIELDS, BATCH_FIELDS, CANCEL_ALL_FIELDS, CANCEL_FIELDS, ENDPOINTS, Endpoint, ORDER_FIELDS,
};
pub use orders::{ALL_ORDERS, check_link_id};

use crate::order::Intent;
use crate::venue::binance::{RestError, check_param_name, check_path};

/// The checks of `[keys.ALIAS.bybit]` (messages relative to the table).
pub fn validate_key(cfg: &BybitKeyConfig, is_hmac: bool, raw_signing: bool) -> Result<(), String> {
    if !is_hmac {
        return Err("type: the agent signs for Bybit with hmac keys".into());
    }
    if raw_signing {
        return Err(
            "raw_signing cannot be enabled on a Bybit key: it would bypass the policy".into(),
        );
    }
    cfg.validate()
}

/// A parsed request, ready to be judged and signed.
#[derive(Debug, Clone, PartialEq)]
pub struct BybitRequest {
    pub method: &'static str,
    pub path: String,
    /// The query string of a GET (names sorted) or the canonical JSON body
    /// of a POST: exactly what is sent and signed.
    pub payload: String,
    pub recv_window_ms: u64,
    pub endpoint: Option<Endpoint>,
    pub intents: Vec<Intent>,
}

impl BybitRequest {
    pub fn describe(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    pub fn is_read_only(&self) -> bool {
        self.endpoint.is_none()
    }

    /// The exact text the key signs.
    pub fn prehash(&self, timestamp_ms: u64, api_key: &str) -> String {
        format!(
            "{timestamp_ms}{api_key}{}{}",
            self.recv_window_ms, self.payload
        )
    }
}

/// The `recv_window` of a request: the bot's (a whole number of ms above 0,
/// at most the key's `max_recv_window_ms`) or the key's default.
fn recv_window(cfg: &BybitKeyConfig, v: Option<&Value>) -> Result<u64, RestError> {
    let max = cfg.max_recv_window();
    match v {
        None | Some(Value::Null) => Ok(cfg.recv_window_ms),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(w) if w > 0 && w <= max => Ok(w),
            _ => Err(RestError::param(
                "recv_window_ms",
                format!("{n} is outside 1..={max} (this key's max_recv_window_ms)"),
            )),
        },
        Some(_) => Err(RestError::param(
            "recv_window_ms",
            "expected a whole number of ms",
        )),
    }
}

/// Parse a request strictly for a key with `cfg`. `params` is the JSON body
/// of a POST or the query parameters of a GET (an object of strings).
pub fn parse(
    cfg: &BybitKeyConfig,
    method: &str,
    path: &str,
    params: Option<&Value>,
    recv_window_ms: Option<&Value>,
) -> Result<BybitRequest, RestError> {
    check_path(path).map_err(|r| RestError::param("path", r))?;
    let recv_window_ms = recv_window(cfg, recv_window_ms)?;
    match method {
        "POST" => {
            let ep = Endpoint::find_path(path).ok_or_else(|| {
                RestError::Endpoint(format!(
                    "POST {path} is not a Bybit endpoint the agent decodes (only GET endpoints \
                     can be allowlisted in bybit.read_only)"
                ))
            })?;
            let body = params.ok_or_else(|| RestError::param("params", "the body is missing"))?;
            let (canonical, intents) = orders::decode(cfg, ep, body)?;
            Ok(BybitRequest {
                method: "POST",
                path: path.to_string(),
                payload: serde_json::to_string(&canonical).expect("json"),
                recv_window_ms,
                endpoint: Some(ep),
                intents,
            })
        }
        "GET" => {
            let entry = cfg
                .read_only
                .iter()
                .find(|e| e.path == path)
                .ok_or_else(|| {
                    RestError::Endpoint(format!(
                        "GET {path} is not on the key's read-only allowlist (bybit.read_only)"
                    ))
                })?;
            let mut query: Vec<(String, String)> = Vec::new();
            match params {
                None | Some(Value::Null) => {}
                Some(Value::Object(m)) => {
                    for (n, v) in m {
                        check_param_name(n).map_err(|r| RestError::param("params", r))?;
                        if !entry.params.contains(n) {
                            return Err(RestError::param(
                                n.as_str(),
                                format!(
                                    "not a parameter the read-only allowlist lets GET {path} carry"
                                ),
                            ));
                        }
                        let Value::String(s) = v else {
                            return Err(RestError::param(n.as_str(), "expected a string"));
                        };
                        super::jsonbody::check_query_value(s)
                            .map_err(|r| RestError::param(n.as_str(), r))?;
                        query.push((n.clone(), s.clone()));
                    }
                }
                Some(_) => {
                    return Err(RestError::param(
                        "params",
                        "must be an object (the query parameters)",
                    ));
                }
            }
            query.sort();
            let payload = query
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("&");
            Ok(BybitRequest {
                method: "GET",
                path: path.to_string(),
                payload,
                recv_window_ms,
                endpoint: None,
                intents: Vec::new(),
            })
        }
        _ => Err(RestError::param(
            "method",
            format!("{method:?} is not GET or POST"),
        )),
    }
}

/// The request that cancels every open order on one instrument: what the
/// dead-man's switch hands the operator (path, body).
pub fn cancel_all(category: Category, symbol: &str) -> (&'static str, Value) {
    (
        Endpoint::CancelAll.path(),
        serde_json::json!({"category": category.as_str(), "symbol": symbol}),
    )
}

#[cfg(test)]
mod tests;
