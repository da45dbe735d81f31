//! OKX v5 REST signing: parse a bot's request (method, path, query or JSON
//! body) strictly, turn it into intents for policy, and build the exact
//! prehash the key signs: `timestamp + METHOD + requestPath (+ "?" +
//! query) + body`, the timestamp ISO 8601 in UTC with milliseconds (set by
//! the agent). The signature is the HMAC-SHA256 in base64.
//!
//! OKX signs the method and path with the body, so (unlike Binance) a
//! signed request cannot be replayed to another endpoint. What is decoded:
//!
//! * orders on the key's instruments (spot `BASE-QUOTE`, perpetual swaps
//!   `BASE-QUOTE-SWAP`, each mapped to a policy symbol, swap sizes from
//!   contracts to base units): place, batch place, cancel, batch cancel,
//!   amend, batch amend, and the venue's own dead-man's switch
//!   (`cancel-all-after`);
//! * transfers and withdrawals: transfer intents, denied unless policy
//!   names the destination;
//! * anything else only as a `GET` on the key's read-only allowlist.

mod config;
mod endpoints;
pub mod fields;
mod orders;

use serde_json::Value;

pub use config::{Instrument, Kind, OkxKeyConfig, ReadOnly, instrument_kind};
pub use endpoints::{
    AMEND_FIELDS, CANCEL_ALL_AFTER_FIELDS, CANCEL_FIELDS, ENDPOINTS, Endpoint, MAX_BATCH,
    ORDER_FIELDS, TRANSFER_FIELDS, WITHDRAWAL_FIELDS,
};
pub use orders::check_cl_ord_id;

use crate::order::Intent;
use crate::venue::binance::{RestError, check_param_name, check_path};

/// A parsed request, ready to be judged and signed.
#[derive(Debug, Clone, PartialEq)]
pub struct OkxRequest {
    /// "GET" or "POST".
    pub method: &'static str,
    /// The path with its query string (`?a=1&b=2`) for a GET.
    pub request_path: String,
    /// The canonical JSON body ("" for a GET).
    pub body: String,
    pub endpoint: Option<Endpoint>,
    /// What policy judges (a `ScheduleCancel` holds its delay in ms until
    /// [`OkxRequest::intents_at`] adds the time).
    intents: Vec<Intent>,
}

/// The checks of `[keys.ALIAS.okx]` (messages relative to the table): an
/// HMAC key without raw signing, a valid table, and a passphrase file
/// that only the agent's user can read.
pub fn validate_key(cfg: &OkxKeyConfig, is_hmac: bool, raw_signing: bool) -> Result<(), String> {
    if !is_hmac {
        return Err("type: OKX API keys are hmac".into());
    }
    if raw_signing {
        return Err(
            "raw_signing cannot be enabled on an OKX key: it would bypass the policy".into(),
        );
    }
    cfg.validate()?;
    crate::harden::check_private_file(&cfg.passphrase_file, "passphrase_file", true)
        .map_err(|e| format!("passphrase_file: {e}"))
}

/// The signing timestamp OKX takes: ISO 8601, UTC, milliseconds.
pub fn timestamp(ms: u64) -> String {
    crate::report::time::format_rfc3339(ms)
}

/// The signature text: base64 of the MAC.
pub fn signature_text(mac: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(mac)
}

impl OkxRequest {
    pub fn describe(&self) -> String {
        let path = self.request_path.split('?').next().unwrap_or_default();
        format!("{} {path}", self.method)
    }

    pub fn is_read_only(&self) -> bool {
        self.endpoint.is_none()
    }

    /// The intents as of `now_ms` (a `cancel-all-after` fires then + its
    /// timeout).
    pub fn intents_at(&self, now_ms: u64) -> Vec<Intent> {
        self.intents
            .iter()
            .map(|i| match i {
                Intent::ScheduleCancel { at_ms: Some(d) } => Intent::ScheduleCancel {
                    at_ms: Some(now_ms.saturating_add(*d)),
                },
                other => other.clone(),
            })
            .collect()
    }

    /// The exact text the key signs.
    pub fn prehash(&self, timestamp: &str) -> String {
        format!(
            "{timestamp}{}{}{}",
            self.method, self.request_path, self.body
        )
    }
}

/// Parse a request strictly for a key with `cfg`. `params` is the JSON body
/// of a POST (an object, or an array for a batch endpoint), or the query
/// parameters of a GET (an object of strings).
pub fn parse(
    cfg: &OkxKeyConfig,
    method: &str,
    path: &str,
    params: Option<&Value>,
) -> Result<OkxRequest, RestError> {
    check_path(path).map_err(|r| RestError::param("path", r))?;
    match method {
        "POST" => {
            let ep = Endpoint::find_path(path).ok_or_else(|| {
                RestError::Endpoint(format!(
                    "POST {path} is not an OKX endpoint the agent decodes (only GET endpoints \
                     can be allowlisted in okx.read_only)"
                ))
            })?;
            let body = params.ok_or_else(|| RestError::param("params", "the body is missing"))?;
            // Relative ScheduleCancel times: `intents_at` adds the time.
            let (canonical, intents) = orders::decode(cfg, ep, body, None)?;
            Ok(OkxRequest {
                method: "POST",
                request_path: path.to_string(),
                body: serde_json::to_string(&canonical).expect("json"),
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
                        "GET {path} is not on the key's read-only allowlist (okx.read_only)"
                    ))
                })?;
            let mut query = Vec::new();
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
                        query.push(format!("{n}={s}"));
                    }
                }
                Some(_) => {
                    return Err(RestError::param(
                        "params",
                        "must be an object (the query parameters)",
                    ));
                }
            }
            let request_path = if query.is_empty() {
                path.to_string()
            } else {
                format!("{path}?{}", query.join("&"))
            };
            Ok(OkxRequest {
                method: "GET",
                request_path,
                body: String::new(),
                endpoint: None,
                intents: Vec::new(),
            })
        }
        _ => Err(RestError::param(
            "method",
            format!("{method:?} is not GET or POST (the OKX endpoints the agent signs)"),
        )),
    }
}

/// The request that cancels the open orders with these client order ids on
/// one instrument, in batches of [`MAX_BATCH`]: what the dead-man's switch
/// hands the operator (path, body).
pub fn cancel_batches(inst_id: &str, client_ids: &[&str]) -> Vec<(&'static str, Value)> {
    client_ids
        .chunks(MAX_BATCH)
        .map(|chunk| {
            let items: Vec<Value> = chunk
                .iter()
                .map(|c| serde_json::json!({"instId": inst_id, "clOrdId": c}))
                .collect();
            (Endpoint::CancelBatchOrders.path(), Value::Array(items))
        })
        .collect()
}

/// The venue's own dead-man's switch, armed for the shortest time it takes
/// (10 s): cancels every open order of the account then, including those
/// the agent cannot name (no client order id).
pub fn cancel_all_after() -> (&'static str, Value) {
    (
        Endpoint::CancelAllAfter.path(),
        serde_json::json!({"timeOut": "10"}),
    )
}

#[cfg(test)]
mod tests;
