//! The wire protocol between bots and the agent: message envelopes, error
//! codes and the hex conventions. The full specification, with examples, is
//! docs/protocol.md; this file is its single implementation.
//!
//! Frame: a 4-byte big-endian length, then one UTF-8 JSON object.
//! Request: `{"id": u64, "op": "name", "params": {...}}`.
//! Response: `{"id": ..., "ok": true, "result": {...}}` or
//! `{"id": ..., "ok": false, "error": {"code": "...", "message": "...", ...}}`.

use serde::Serialize;
use serde_json::{Map, Value, json};

/// Protocol version reported by `hello`. Bumped on incompatible changes.
pub const PROTOCOL_VERSION: u32 = 1;

/// Machine-readable error codes. Stable: clients match on these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not UTF-8 JSON.
    BadFrame,
    /// The frame's length prefix exceeds the maximum; the connection closes.
    FrameTooLarge,
    /// The JSON is not a valid request envelope.
    BadRequest,
    /// No such operation.
    UnknownOp,
    /// Parameters missing, of the wrong type, or unknown.
    BadParams,
    /// No such key (or not one this identity may see).
    UnknownKey,
    /// The peer's uid/gid maps to no identity; the connection closes.
    UnknownPeer,
    /// The identity is not granted this operation or key.
    Forbidden,
    /// The key is not enabled for generic signing (`raw_signing`).
    RawSigningDisabled,
    /// The request is well-formed but the policy denies it; the message
    /// names the rule.
    PolicyDenied,
    /// Too many requests in flight on this connection.
    TooManyInFlight,
    /// The agent is at its connection limit; the connection closes.
    TooManyConnections,
    /// The signing backend is temporarily unavailable; retry.
    BackendUnavailable,
    /// The token refused or failed the operation.
    BackendError,
    /// The journal cannot record the decision (disk full, I/O error);
    /// nothing is signed until it can. Retry later.
    JournalUnavailable,
    /// The cluster's shared database (`[cluster]`) cannot be reached or did
    /// not answer in time; nothing is signed without a committed shared
    /// decision. Retry later.
    ClusterUnavailable,
    /// The agent is shutting down.
    ShuttingDown,
    /// The identity's dead-man's switch has tripped; only an operator can
    /// re-arm it.
    SwitchTripped,
    /// An operator operation that needs the operator's TOTP code was sent
    /// without one.
    TotpRequired,
    /// A bug or unexpected condition; nothing was signed.
    Internal,
}

/// The code as on the wire (`policy_denied`), for logs too.
impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match serde_json::to_value(self) {
            Ok(Value::String(s)) => f.write_str(&s),
            _ => write!(f, "{self:?}"),
        }
    }
}

impl ErrorCode {
    /// Whether the same request may succeed if sent again later.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::TooManyInFlight
                | ErrorCode::TooManyConnections
                | ErrorCode::BackendUnavailable
                | ErrorCode::JournalUnavailable
                | ErrorCode::ClusterUnavailable
                | ErrorCode::ShuttingDown
        )
    }
}

/// A structured error sent to the client.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtoError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after_ms: Option<u64>,
    /// Structured detail (e.g. the policy denials: rule, limit, observed).
    pub detail: Option<Box<Value>>,
    /// The rule to journal the refusal under, when more precise than the
    /// error code (e.g. "halted" for a policy denial by a halt).
    pub rule: Option<&'static str>,
}

impl ProtoError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ProtoError {
            code,
            message: message.into(),
            retry_after_ms: None,
            detail: None,
            rule: None,
        }
    }

    pub fn retry_after(mut self, ms: u64) -> Self {
        self.retry_after_ms = Some(ms);
        self
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "code".into(),
            serde_json::to_value(self.code).expect("enum"),
        );
        m.insert("message".into(), Value::String(self.message.clone()));
        m.insert("retryable".into(), Value::Bool(self.code.retryable()));
        if let Some(ms) = self.retry_after_ms {
            m.insert("retry_after_ms".into(), json!(ms));
        }
        if let Some(d) = &self.detail {
            m.insert("denials".into(), (**d).clone());
        }
        Value::Object(m)
    }
}

/// A parsed request envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: u64,
    pub op: String,
    pub params: Map<String, Value>,
}

/// Parse a frame's payload into a request. On failure, returns the request id
/// if one could be read (so the error can echo it) and the error.
pub fn parse_request(payload: &[u8]) -> Result<Request, (Option<u64>, ProtoError)> {
    let text = std::str::from_utf8(payload).map_err(|_| {
        (
            None,
            ProtoError::new(ErrorCode::BadFrame, "frame is not valid UTF-8"),
        )
    })?;
    // Strict parse: an object with the same key twice is refused rather
    // than silently resolved to the last value (a request must say one
    // thing).
    let value: Value = crate::venue::hyperliquid::parse_json_strict(text).map_err(|e| {
        let msg = e.to_string();
        (
            None,
            ProtoError::new(
                ErrorCode::BadFrame,
                format!("frame is not acceptable JSON ({msg})"),
            ),
        )
    })?;
    let Value::Object(mut obj) = value else {
        return Err((
            None,
            ProtoError::new(ErrorCode::BadRequest, "request must be a JSON object"),
        ));
    };
    let id = match obj.remove("id") {
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| {
            (
                None,
                ProtoError::new(
                    ErrorCode::BadRequest,
                    "id must be an unsigned 64-bit integer",
                ),
            )
        })?,
        Some(_) => {
            return Err((
                None,
                ProtoError::new(
                    ErrorCode::BadRequest,
                    "id must be an unsigned 64-bit integer",
                ),
            ));
        }
        None => return Err((None, ProtoError::new(ErrorCode::BadRequest, "missing id"))),
    };
    let op = match obj.remove("op") {
        Some(Value::String(s)) => s,
        Some(_) => {
            return Err((
                Some(id),
                ProtoError::new(ErrorCode::BadRequest, "op must be a string"),
            ));
        }
        None => {
            return Err((
                Some(id),
                ProtoError::new(ErrorCode::BadRequest, "missing op"),
            ));
        }
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err((
                Some(id),
                ProtoError::new(ErrorCode::BadParams, "params must be an object"),
            ));
        }
    };
    if let Some(extra) = obj.keys().next() {
        return Err((
            Some(id),
            ProtoError::new(
                ErrorCode::BadRequest,
                format!("unknown field {extra:?} in request"),
            ),
        ));
    }
    Ok(Request { id, op, params })
}

/// A success response.
pub fn ok_response(id: u64, result: Value) -> Value {
    json!({"id": id, "ok": true, "result": result})
}

/// An error response; `id` is null when the request's id was unreadable.
pub fn err_response(id: Option<u64>, err: &ProtoError) -> Value {
    json!({"id": id, "ok": false, "error": err.to_json()})
}

/// Bytes on the wire are hex with a `0x` prefix.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("0x");
    s.push_str(&hex::encode(bytes));
    s
}

/// Accept hex with or without `0x`.
pub fn from_hex(field: &str, s: &str) -> Result<Vec<u8>, ProtoError> {
    crate::config::parse_hex(s)
        .map_err(|e| ProtoError::new(ErrorCode::BadParams, format!("{field}: {e}")))
}

/// Typed access to request parameters that rejects unknown fields.
pub struct Params<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> Params<'a> {
    /// Wrap `map`, refusing any key not in `allowed`.
    pub fn new(map: &'a Map<String, Value>, allowed: &[&str]) -> Result<Self, ProtoError> {
        if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            let expected = if allowed.is_empty() {
                "this operation takes no parameters".to_string()
            } else {
                format!("expected: {}", allowed.join(", "))
            };
            return Err(ProtoError::new(
                ErrorCode::BadParams,
                format!("unknown parameter {k:?} ({expected})"),
            ));
        }
        Ok(Params { map })
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<&'a str>, ProtoError> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ProtoError::new(
                ErrorCode::BadParams,
                format!("{name} must be a string"),
            )),
        }
    }

    pub fn str(&self, name: &str) -> Result<&'a str, ProtoError> {
        self.opt_str(name)?.ok_or_else(|| missing(name))
    }

    /// An optional non-negative integer.
    pub fn opt_u64(&self, name: &str) -> Result<Option<u64>, ProtoError> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| not_u64(name)),
            Some(_) => Err(not_u64(name)),
        }
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, ProtoError> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ProtoError::new(
                ErrorCode::BadParams,
                format!("{name} must be a boolean"),
            )),
        }
    }

    pub fn bool(&self, name: &str) -> Result<bool, ProtoError> {
        self.opt_bool(name)?.ok_or_else(|| missing(name))
    }

    /// A JSON object, as given (its contents are the op's to parse).
    pub fn object(&self, name: &str) -> Result<&'a Value, ProtoError> {
        match self.map.get(name) {
            Some(v @ Value::Object(_)) => Ok(v),
            None | Some(Value::Null) => Err(missing(name)),
            Some(_) => Err(ProtoError::new(
                ErrorCode::BadParams,
                format!("{name} must be an object"),
            )),
        }
    }

    /// Any JSON value, as given, for parsers that judge its shape
    /// themselves (a venue's request parameters).
    pub fn value(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name)
    }
}

fn missing(name: &str) -> ProtoError {
    ProtoError::new(ErrorCode::BadParams, format!("missing parameter {name:?}"))
}

fn not_u64(name: &str) -> ProtoError {
    ProtoError::new(
        ErrorCode::BadParams,
        format!("{name} must be a non-negative integer"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_errors() {
        let e = |b: &[u8]| parse_request(b).unwrap_err();
        assert_eq!(e(b"\xff\xfe").1.code, ErrorCode::BadFrame);
        assert_eq!(e(b"{").1.code, ErrorCode::BadFrame);
        assert_eq!(e(b"[1]").1.code, ErrorCode::BadRequest);
        assert_eq!(e(b"{\"op\":\"ping\"}").1.code, ErrorCode::BadRequest);
        assert_eq!(
            e(b"{\"id\":-1,\"op\":\"ping\"}").1.code,
            ErrorCode::BadRequest
        );
        assert_eq!(
            e(b"{\"id\":1.5,\"op\":\"ping\"}").1.code,
            ErrorCode::BadRequest
        );
        assert_eq!(
            e(b"{\"id\":7,\"op\":3}"),
            (
                Some(7),
                ProtoError::new(ErrorCode::BadRequest, "op must be a string")
            )
        );
        assert_eq!(
            e(b"{\"id\":7,\"op\":\"x\",\"params\":[]}").1.code,
            ErrorCode::BadParams
        );
        assert_eq!(
            e(b"{\"id\":7,\"op\":\"x\",\"extra\":1}").1.code,
            ErrorCode::BadRequest
        );
        // A key given twice is refused, not resolved to the last value.
        assert_eq!(
            e(br#"{"id":1,"op":"sign","params":{"key":"a","key":"b"}}"#)
                .1
                .code,
            ErrorCode::BadFrame
        );
        assert!(
            e(br#"{"id":1,"id":2,"op":"ping"}"#)
                .1
                .message
                .contains("duplicate")
        );
        let ok = parse_request(br#"{"id":18446744073709551615,"op":"ping"}"#).unwrap();
        assert_eq!(ok.id, u64::MAX);
        assert!(ok.params.is_empty());
    }

    /// Found by fuzzing (fuzz target `request`): a number too large for an
    /// integer was read as a float one unit in the last place away from the
    /// nearest one, so the request, written back as JSON and read again,
    /// was a different request. Numbers are now read exactly.
    #[test]
    fn large_numbers_are_read_exactly_and_round_trip() {
        let payload =
            br#"{"id": 71, "op": "heartbeat", "params": {"tieout_ms": 33333333333333333333333333333333333333333333333000}}"#;
        let req = parse_request(payload).unwrap();
        assert_eq!(req.params["tieout_ms"].as_f64(), Some(3.333333333333333e49));
        let again =
            serde_json::to_vec(&json!({"id": req.id, "op": req.op, "params": req.params})).unwrap();
        assert_eq!(parse_request(&again).unwrap(), req);
    }

    #[test]
    fn params_reject_unknown_and_wrong_types() {
        let m: Map<String, Value> = serde_json::from_str(r#"{"key":"a","x":1}"#).unwrap();
        assert!(Params::new(&m, &["key"]).is_err());
        let p = Params::new(&m, &["key", "x"]).unwrap();
        assert_eq!(p.str("key").unwrap(), "a");
        assert_eq!(p.str("x").unwrap_err().code, ErrorCode::BadParams);
        assert_eq!(p.str("y").unwrap_err().code, ErrorCode::BadParams);
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(to_hex(&[0xab, 1]), "0xab01");
        assert_eq!(from_hex("d", "0xab01").unwrap(), vec![0xab, 1]);
        assert_eq!(from_hex("d", "ab01").unwrap(), vec![0xab, 1]);
        assert!(from_hex("d", "0xabc").is_err());
    }
}
