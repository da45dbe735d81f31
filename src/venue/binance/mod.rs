//! Binance-style REST signing: parse a bot's request (method, path,
//! parameters) strictly, turn it into intents for policy, and build the
//! exact query string the key signs and the bot sends.
//!
//! The venue signs `totalParams`: the query string (and/or form body) as
//! sent, with `timestamp` (set here by the agent) and `recvWindow` (the
//! bot's, up to the key's ceiling, or the key's default). Names and values
//! are percent-encoded as RFC 3986 says, and the signature is computed over
//! that encoded text:
//!
//! * HMAC-SHA256 keys: the signature is the MAC in lower-case hex;
//! * Ed25519 keys: the signature is the 64-byte signature in base64, which
//!   must itself be percent-encoded when sent (`+`, `/`, `=`).
//!
//! What is decoded:
//!
//! * order endpoints of spot (`/api/v3/order` new and cancel,
//!   `/api/v3/order/cancelReplace`, `/api/v3/openOrders` cancel-all) and of
//!   USD-M futures (`/fapi/v1/order` new and cancel, `/fapi/v1/batchOrders`
//!   new and cancel, `/fapi/v1/allOpenOrders`), in the markets the key is
//!   enabled for: typed intents, judged by policy;
//! * transfer endpoints (`/sapi/v1/capital/withdraw/apply`,
//!   `/sapi/v1/asset/transfer`, `/sapi/v1/futures/transfer`): transfer
//!   intents, denied unless policy names the destination;
//! * anything else only with a `GET` entry in the key's read-only
//!   allowlist, whose parameters it lists;
//! * the spot WebSocket API's signed order methods (`order.place`, ...),
//!   judged as their REST twins (`ws`); `session.logon` is refused.
//!
//! The venue's signature covers the parameters but not the method or
//! path. Two consequences are handled here: a read-only entry may not list
//! a parameter that moves value (so a signed read can never be replayed as
//! an order or a transfer), and when a key is enabled for both markets, a
//! new order whose parameters are also a valid order on the other market is
//! judged as both.

mod config;
mod endpoints;
mod error;
mod orders;
mod params;
mod transfers;
mod ws;

#[cfg(test)]
mod tests;

use base64::Engine;
use rust_decimal::Decimal;
use serde_json::Value;

pub use config::VALUE_MOVING_PARAMS;
pub use config::{
    DEFAULT_RECV_WINDOW_MS, MAX_RECV_WINDOW_MS, Market, ReadOnlyEndpoint, RestKeyConfig, RestVenue,
};
pub use endpoints::{ENDPOINTS, Endpoint, Method};
pub use error::RestError;
pub use orders::{
    ALL_ORDERS, CANCEL_ALL_PARAMS, FUTURES_BATCH_PARAMS, FUTURES_CANCEL_BATCH_PARAMS,
    FUTURES_CANCEL_PARAMS, FUTURES_ORDER_PARAMS, MAX_BATCH_CANCELS, MAX_BATCH_ORDERS,
    SPOT_CANCEL_PARAMS, SPOT_CANCEL_REPLACE_PARAMS, SPOT_ORDER_PARAMS,
};
pub(crate) use params::parse_decimal;
pub use params::{MAX_PARAMS, check_param_name, check_path, encode_query, percent_encode};
pub use transfers::{
    ASSET_TRANSFER_PARAMS, FUTURES_TRANSFER_PARAMS, FUTURES_TRANSFER_TYPES, WITHDRAW_PARAMS,
};

pub use ws::{SESSION_METHODS, WS_METHODS, WsRequest, parse_ws};

use crate::order::Intent;
use orders::Decoded;

/// The signed request that cancels every open order of one symbol in
/// `market` (method and path; the symbol is its one parameter): what the
/// dead-man's switch hands the operator for a Binance-style key.
pub fn cancel_all(market: Market) -> (&'static str, &'static str) {
    match market {
        Market::Spot => ("DELETE", "/api/v3/openOrders"),
        Market::Usdm => ("DELETE", "/fapi/v1/allOpenOrders"),
    }
}

/// A parsed request, ready to be judged and signed.
#[derive(Debug, Clone, PartialEq)]
pub struct RestRequest {
    pub venue: RestVenue,
    pub method: Method,
    pub path: String,
    /// The decoded endpoint; `None` for a read-only (allowlisted) one.
    pub endpoint: Option<Endpoint>,
    /// The parameters in canonical form and order, without `recvWindow`
    /// and `timestamp` (which [`RestRequest::query`] appends).
    pub params: Vec<(String, String)>,
    /// `recvWindow` in ms, up to three decimals (the venue takes
    /// microsecond precision).
    pub recv_window_ms: Decimal,
    /// What policy judges; empty for a read-only endpoint.
    pub intents: Vec<Intent>,
}

impl RestRequest {
    /// `METHOD /path`.
    pub fn describe(&self) -> String {
        format!("{} {}", self.method.as_str(), self.path)
    }

    pub fn is_read_only(&self) -> bool {
        self.endpoint.is_none()
    }

    /// The exact text the key signs and the bot sends (as the query string,
    /// or as the form body): the parameters, then `recvWindow`, then
    /// `timestamp`, percent-encoded.
    pub fn query(&self, timestamp_ms: u64) -> String {
        let mut all: Vec<(&str, String)> = self
            .params
            .iter()
            .map(|(n, v)| (n.as_str(), v.clone()))
            .collect();
        all.push(("recvWindow", self.recv_window_ms.normalize().to_string()));
        all.push(("timestamp", timestamp_ms.to_string()));
        encode_query(&all)
    }
}

/// A bot's `recvWindow`: ms above 0 and at most `max`, with at most three
/// decimals (the venue's precision), as a JSON number or a string.
fn parse_recv_window(v: &Value, max: u64) -> Result<Decimal, RestError> {
    const NAME: &str = "recvWindow";
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => {
            return Err(RestError::param(
                NAME,
                format!("must be a number of ms, not {}", params::kind(v)),
            ));
        }
    };
    let w = params::parse_decimal(NAME, &text, true)?;
    if w.scale() > 3 {
        return Err(RestError::param(
            NAME,
            format!("{text:?} has more than three decimals (the venue's precision is 1 µs)"),
        ));
    }
    if w > Decimal::from(max) {
        return Err(RestError::param(
            NAME,
            format!("{w} is outside (0, {max}] (this key's max_recv_window_ms)"),
        ));
    }
    Ok(w)
}

/// `recvWindow` for a JSON answer: an integer when it is one, otherwise
/// the nearest JSON number (three decimals at most are exact enough).
pub fn recv_window_json(w: Decimal) -> Value {
    use rust_decimal::prelude::ToPrimitive;
    let w = w.normalize();
    match w.to_u64().filter(|_| w.scale() == 0) {
        Some(n) => Value::from(n),
        None => w.to_f64().map(Value::from).unwrap_or(Value::Null),
    }
}

/// The signature text of an HMAC-SHA256 key: lower-case hex.
pub fn hmac_signature_text(mac: &[u8]) -> String {
    hex::encode(mac)
}

/// The signature text of an Ed25519 key: standard base64 (with padding).
pub fn ed25519_signature_text(sig: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(sig)
}

/// The query with its signature appended, percent-encoded (a base64
/// signature contains `+`, `/` and `=`).
pub fn signed_query(query: &str, signature: &str) -> String {
    format!("{query}&signature={}", percent_encode(signature))
}

/// Parse a request strictly for a key with `cfg`. Nothing here reads a
/// clock: the timestamp is given to [`RestRequest::query`].
pub fn parse(
    cfg: &RestKeyConfig,
    venue: &str,
    method: &str,
    path: &str,
    params: Option<&Value>,
) -> Result<RestRequest, RestError> {
    let v = RestVenue::parse(venue).ok_or_else(|| {
        RestError::param(
            "venue",
            format!("unknown venue {venue:?} (known: binance, okx, bybit)"),
        )
    })?;
    if v != cfg.venue {
        return Err(RestError::Endpoint(format!(
            "this key signs for venue {:?} only",
            cfg.venue.as_str()
        )));
    }
    let m = Method::parse(method).ok_or_else(|| {
        RestError::param(
            "method",
            format!("{method:?} is not GET, POST, PUT or DELETE"),
        )
    })?;
    check_path(path).map_err(|r| RestError::param("path", r))?;
    let mut items = params::read_params(params)?;
    for (name, why) in [
        (
            "timestamp",
            "is set by the agent when it signs; leave it out",
        ),
        (
            "signature",
            "is what the agent makes; a request never carries one",
        ),
    ] {
        if items.iter().any(|(n, _)| n == name) {
            return Err(RestError::param(name, why));
        }
    }
    let max = cfg.max_recv_window();
    let recv_window_ms = match items.iter().position(|(n, _)| n == "recvWindow") {
        None => Decimal::from(cfg.recv_window_ms),
        Some(i) => {
            let (_, v) = items.remove(i);
            parse_recv_window(&v, max)?
        }
    };
    let (endpoint, params, intents) = match Endpoint::find(m, path) {
        Some(ep) => {
            if let Some(market) = ep.market()
                && !cfg.allows_market(market)
            {
                return Err(RestError::Endpoint(format!(
                    "{} is a {} endpoint and this key is not enabled for that market \
                     (add {:?} to its rest.markets)",
                    ep.describe(),
                    market.describe(),
                    market.as_str()
                )));
            }
            let d = decode(ep, &items)?;
            let mut intents = d.intents;
            intents.extend(other_market_orders(cfg, ep, &items));
            let params = d
                .params
                .into_iter()
                .map(|(n, v)| (n.to_string(), v))
                .collect();
            (Some(ep), params, intents)
        }
        None => {
            let entry = (m == Method::Get)
                .then(|| cfg.read_only_entry(path))
                .flatten()
                .ok_or_else(|| {
                    RestError::Endpoint(format!(
                        "{method} {path} is not an endpoint the agent decodes, and the key's \
                         read-only allowlist (rest.read_only) does not list it{}",
                        if m == Method::Get {
                            ""
                        } else {
                            " (only GET endpoints can be listed there)"
                        }
                    ))
                })?;
            let mut out = Vec::with_capacity(items.len());
            for (name, value) in &items {
                if !entry.params.iter().any(|p| p == name) {
                    return Err(RestError::param(
                        name.as_str(),
                        format!(
                            "not a parameter the read-only allowlist lets GET {path} carry (listed: {})",
                            if entry.params.is_empty() {
                                "none".to_string()
                            } else {
                                entry.params.join(", ")
                            }
                        ),
                    ));
                }
                out.push((name.clone(), params::scalar_text(name, value)?));
            }
            (None, out, Vec::new())
        }
    };
    Ok(RestRequest {
        venue: v,
        method: m,
        path: path.to_string(),
        endpoint,
        params,
        recv_window_ms,
        intents,
    })
}

fn decode(ep: Endpoint, items: &[(String, Value)]) -> Result<Decoded, RestError> {
    let name = ep.describe();
    match ep {
        Endpoint::SpotNewOrder => orders::new_order(Market::Spot, items, &name),
        Endpoint::SpotCancelOrder => orders::spot_cancel(items, &name),
        Endpoint::SpotCancelReplace => orders::spot_cancel_replace(items, &name),
        Endpoint::SpotCancelOpenOrders | Endpoint::FuturesCancelAll => {
            orders::cancel_all(items, &name)
        }
        Endpoint::FuturesNewOrder => orders::new_order(Market::Usdm, items, &name),
        Endpoint::FuturesCancelOrder => orders::futures_cancel(items, &name),
        Endpoint::FuturesBatchOrders => orders::futures_batch(items, &name),
        Endpoint::FuturesCancelBatch => orders::futures_cancel_batch(items, &name),
        Endpoint::Withdraw => transfers::withdraw(items, &name),
        Endpoint::AssetTransfer => transfers::asset_transfer(items, &name),
        Endpoint::FuturesTransfer => transfers::futures_transfer(items, &name),
    }
}

/// The venue's signature does not cover the path: with one key enabled for
/// both markets, a signed new order whose parameters are also a valid new
/// order on the other market could be sent there too. Such an order is
/// judged on both (its intents here).
fn other_market_orders(
    cfg: &RestKeyConfig,
    ep: Endpoint,
    items: &[(String, Value)],
) -> Vec<Intent> {
    let other = match ep {
        Endpoint::SpotNewOrder => Market::Usdm,
        Endpoint::FuturesNewOrder => Market::Spot,
        _ => return Vec::new(),
    };
    if !cfg.allows_market(other) {
        return Vec::new();
    }
    orders::new_order(other, items, "")
        .map(|d| d.intents)
        .unwrap_or_default()
}
