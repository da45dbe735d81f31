//! Binance WebSocket API requests, signed one by one: `order.place`,
//! `order.cancel`, `order.cancelReplace` and `openOrders.cancelAll` of the
//! spot WebSocket API. Each is the twin of a REST endpoint the agent
//! already decodes (same parameters, same intents, same policy), so a
//! request is parsed by [`super::parse`] as that endpoint and only the
//! bytes to sign differ: the WebSocket API signs every parameter but
//! `signature` (the bot's `apiKey` included), sorted by name, written as
//! `name=value&...` (percent-encoded as the official connector does), and
//! takes them back as the request's `params` object.
//!
//! Methods that authorise later requests without another signature
//! (`session.logon`, and the signed user-data subscription) are refused:
//! after a logon the venue accepts every order on the connection unsigned,
//! so signing it for a bot would let the bot send orders no rule has seen.
//! Every other method is refused as not decoded.

use serde_json::{Map, Value};

use super::config::RestKeyConfig;
use super::endpoints::Method;
use super::error::RestError;
use super::params::encode_query;
use super::{RestRequest, parse, recv_window_json};

/// The WebSocket API methods the agent signs, and their REST twins.
pub const WS_METHODS: &[(&str, Method, &str)] = &[
    ("order.place", Method::Post, "/api/v3/order"),
    ("order.cancel", Method::Delete, "/api/v3/order"),
    (
        "order.cancelReplace",
        Method::Post,
        "/api/v3/order/cancelReplace",
    ),
    ("openOrders.cancelAll", Method::Delete, "/api/v3/openOrders"),
];

/// Methods whose signature authorises later unsigned requests: never
/// signed for a bot.
pub const SESSION_METHODS: &[&str] = &["session.logon", "userDataStream.subscribe.signature"];

/// A parsed WebSocket API request.
#[derive(Debug, Clone, PartialEq)]
pub struct WsRequest {
    /// The WebSocket API method, e.g. `order.place`.
    pub method: &'static str,
    /// The REST twin it is judged as (its params, recvWindow and intents).
    pub rest: RestRequest,
    /// The API key the request names (public: it identifies the key to
    /// the venue; the signature covers it).
    pub api_key: String,
}

/// An API key as Binance issues them: 1 to 128 ASCII letters and digits.
fn check_api_key(s: &str) -> Result<(), String> {
    let ok = !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not an API key (1 to 128 ASCII letters and digits)"
        ))
    }
}

/// Parse a WebSocket API request strictly for a key with `cfg`.
pub fn parse_ws(
    cfg: &RestKeyConfig,
    venue: &str,
    method: &str,
    params: Option<&Value>,
) -> Result<WsRequest, RestError> {
    if SESSION_METHODS.contains(&method) {
        return Err(RestError::Endpoint(format!(
            "{method} is never signed for a bot: it authorises the connection, and the venue then \
             accepts every later request on it without a signature, so orders would reach the \
             venue that no rule has judged (sign each request instead)"
        )));
    }
    let Some((name, m, path)) = WS_METHODS.iter().find(|(n, _, _)| *n == method) else {
        return Err(RestError::Endpoint(format!(
            "{method:?} is not a WebSocket API method the agent signs (signed: {})",
            WS_METHODS
                .iter()
                .map(|(n, _, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    let mut obj: Map<String, Value> = match params {
        Some(Value::Object(o)) => o.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(_) => {
            return Err(RestError::param(
                "params",
                "must be an object (the WebSocket API's params)",
            ));
        }
    };
    let api_key = match obj.remove("apiKey") {
        Some(Value::String(s)) => {
            check_api_key(&s).map_err(|r| RestError::param("apiKey", r))?;
            s
        }
        Some(_) => return Err(RestError::param("apiKey", "expected a string")),
        None => {
            return Err(RestError::param(
                "apiKey",
                "required: the WebSocket API signs the API key with the request",
            ));
        }
    };
    let rest = parse(cfg, venue, m.as_str(), path, Some(&Value::Object(obj)))?;
    Ok(WsRequest {
        method: name,
        rest,
        api_key,
    })
}

impl WsRequest {
    /// Every signed parameter with its text, sorted by name.
    fn sorted(&self, timestamp_ms: u64) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = self.rest.params.clone();
        all.push(("apiKey".into(), self.api_key.clone()));
        all.push((
            "recvWindow".into(),
            self.rest.recv_window_ms.normalize().to_string(),
        ));
        all.push(("timestamp".into(), timestamp_ms.to_string()));
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The exact text the key signs.
    pub fn payload(&self, timestamp_ms: u64) -> String {
        encode_query(&self.sorted(timestamp_ms))
    }

    /// The request's `params` object as the venue takes it, with the
    /// signature: decoded values as strings, `recvWindow` and `timestamp`
    /// as numbers (their text is the same either way).
    pub fn params(&self, timestamp_ms: u64, signature: &str) -> Value {
        let mut out = Map::new();
        for (n, v) in self.sorted(timestamp_ms) {
            let value = match n.as_str() {
                "timestamp" => Value::from(timestamp_ms),
                "recvWindow" => recv_window_json(self.rest.recv_window_ms),
                _ => Value::String(v),
            };
            out.insert(n, value);
        }
        out.insert("signature".into(), Value::String(signature.to_string()));
        Value::Object(out)
    }
}
