//! `rest.sign_request`: sign a Binance-style REST request. The agent parses
//! the endpoint and its parameters, judges what they ask for, sets the
//! `timestamp` itself, builds the exact query string and only then asks the
//! token to sign it. The bot gets back the query string and the signature
//! (and both joined, ready to send).
//!
//! Order of work, as for Hyperliquid: parse and check (no lock) → under the
//! state lock: the timestamp, the decision, and its journal record queued →
//! release → wait for the record to be durable → sign → record the
//! signature → answer. A read-only (allowlisted) endpoint asks for nothing
//! policy judges: it is journaled as an allowed decision without intents.

use serde_json::{Map, Value, json};

use super::sign::granted_key;
use crate::authorize::Refusal;
use crate::authorize::{Judge, Plan, authorize};
use crate::keyring::{SignInput, SignOutput};
use crate::protocol::{ErrorCode, Params, ProtoError};
use crate::server::AgentState;
use crate::server::peer::Identity;
use crate::venue::binance::{self, RestError};

fn venue_error(e: RestError) -> ProtoError {
    match e {
        RestError::Param { .. } => ProtoError::new(ErrorCode::BadParams, e.to_string()),
        RestError::Endpoint(m) => ProtoError::new(ErrorCode::Forbidden, m),
    }
}

pub async fn run(
    state: &AgentState,
    who: &Identity,
    request_id: u64,
    params: &Map<String, Value>,
) -> Result<Value, Refusal> {
    // The venues with their own parameters and key tables.
    match params.get("venue").and_then(Value::as_str) {
        Some("okx") => return super::okx::run(state, who, request_id, params).await,
        Some("bybit") => return super::bybit::run(state, who, request_id, params).await,
        _ => {}
    }
    let p = Params::new(
        params,
        &["key", "venue", "method", "path", "params", "transport"],
    )?;
    let granted = granted_key(state, who, p.str("key")?)?;
    let entry = &*granted;
    let Some(cfg) = &entry.config.rest else {
        return Err(ProtoError::new(
            ErrorCode::Forbidden,
            format!(
                "key {:?} is not configured for REST signing (no [keys.{}.rest] table)",
                entry.alias, entry.alias
            ),
        )
        .into());
    };
    let venue = p.str("venue")?;
    let method = p.str("method")?;
    match p.opt_str("transport")? {
        None | Some("rest") => {}
        Some("ws") => {
            if p.value("path").is_some() {
                return Err(ProtoError::new(
                    ErrorCode::BadParams,
                    "path: a WebSocket API request has no path (its method names it)",
                )
                .into());
            }
            let parsed =
                binance::parse_ws(cfg, venue, method, p.value("params")).map_err(venue_error)?;
            return super::rest_ws::run(state, who, request_id, params, entry, parsed).await;
        }
        Some(other) => {
            return Err(ProtoError::new(
                ErrorCode::BadParams,
                format!("transport: {other:?} is not \"rest\" or \"ws\""),
            )
            .into());
        }
    }
    let path = p.str("path")?;
    let parsed =
        binance::parse(cfg, venue, method, path, p.value("params")).map_err(venue_error)?;
    let key = entry.alias.clone();
    let described = parsed.describe();
    let read_only = parsed.is_read_only();
    let signed = authorize(
        state,
        super::signing_request(who, request_id, super::Op::RestSignRequest, entry, params),
        |_, now| {
            // The agent sets the timestamp, under the lock (decision order).
            let query = parsed.query(now);
            let judge = Judge::read_only_or_policy(read_only, &described);
            Ok(Plan {
                input: SignInput::Message(query.clone().into_bytes()),
                judge,
                venue: Some(parsed.venue.as_str().into()),
                nonce: None,
                intents: (!read_only).then(|| parsed.intents.clone()),
                extra: (query, now),
            })
        },
    )
    .await?;
    let (query, timestamp) = signed.extra;
    let out = signed.output;
    let signature = match &out {
        SignOutput::Hmac { mac } => binance::hmac_signature_text(mac),
        SignOutput::Ed25519 { sig } => binance::ed25519_signature_text(sig),
        _ => {
            return Err(Refusal::Recorded(ProtoError::new(
                ErrorCode::Internal,
                "REST signing keys are hmac or ed25519",
            )));
        }
    };
    Ok(json!({
        "key": key,
        "type": entry.info.key_type.as_str(),
        "venue": parsed.venue.as_str(),
        "method": parsed.method.as_str(),
        "path": parsed.path,
        "query": query,
        "timestamp": timestamp,
        "recv_window_ms": crate::venue::binance::recv_window_json(parsed.recv_window_ms),
        "signature": signature,
        "signed_query": binance::signed_query(&query, &signature),
    }))
}
