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
use sha2::{Digest, Sha256};

use super::request_digest;
use super::sign::{deny_by_policy, granted_key, journal_unavailable, sign_and_record};
use crate::journal::{Decision, Event};
use crate::keyring::{SignInput, SignOutput};
use crate::protocol::{ErrorCode, Params, ProtoError};
use crate::server::AgentState;
use crate::server::peer::Identity;
use crate::venue::binance::{self, RestError};

const OP: &str = "rest.sign_request";

fn now_ms() -> u64 {
    crate::journal::record::now_ms()
}

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
) -> Result<Value, ProtoError> {
    let p = Params::new(params, &["key", "venue", "method", "path", "params"])?;
    let granted = granted_key(state, who, p.str("key")?)?;
    let entry = &*granted;
    let Some(cfg) = &entry.config.rest else {
        return Err(ProtoError::new(
            ErrorCode::Forbidden,
            format!(
                "key {:?} is not configured for REST signing (no [keys.{}.rest] table)",
                entry.alias, entry.alias
            ),
        ));
    };
    let venue = p.str("venue")?;
    let method = p.str("method")?;
    let path = p.str("path")?;
    let parsed =
        binance::parse(cfg, venue, method, path, params.get("params")).map_err(venue_error)?;
    let key = entry.alias.clone();
    let described = parsed.describe();
    let request_sha256 = request_digest(OP, params);
    // Decide under the lock; queue the record before releasing it.
    let mut intents = parsed.intents.clone();
    let (query, timestamp, pending) = {
        let mut st = state.state.lock().await;
        let now = now_ms();
        let query = parsed.query(now);
        let payload_sha256 = Some(hex::encode(Sha256::digest(query.as_bytes())));
        let decision = if parsed.is_read_only() {
            Decision {
                identity: who.name.clone(),
                uid: who.uid,
                pid: who.pid,
                request_id,
                op: OP.into(),
                key: Some(key.clone()),
                request_sha256,
                allow: true,
                rule: "read_only".into(),
                reason: format!("{described} is on the key's read-only allowlist"),
                payload_sha256,
                venue: Some(parsed.venue.as_str().into()),
                nonce: None,
                intents: None,
                request_bytes: None,
                intents_omitted: None,
            }
        } else {
            // Policy judges the typed intents of exactly this request,
            // market orders priced at the reference first.
            st.engine.price_market_orders(&key, &mut intents, now);
            let outcome = st.engine.decide(&crate::policy::Request {
                identity: &who.name,
                key: &key,
                intents: &intents,
                now_ms: now,
            });
            if let Some(shadow) = &outcome.shadow
                && shadow.allowed() != outcome.verdict.allowed()
            {
                tracing::info!(identity = %who.name, key = %key, shadow = %shadow.reason(),
                    enforced_allows = outcome.verdict.allowed(), "shadow policy would decide differently");
            }
            let v = &outcome.verdict;
            if !v.allowed() {
                let rule = v.rule().map(|r| r.code()).unwrap_or("policy").to_string();
                let decision = Decision {
                    identity: who.name.clone(),
                    uid: who.uid,
                    pid: who.pid,
                    request_id,
                    op: OP.into(),
                    key: Some(key.clone()),
                    request_sha256,
                    allow: false,
                    rule,
                    reason: v.reason(),
                    payload_sha256: None,
                    venue: Some(parsed.venue.as_str().into()),
                    nonce: None,
                    intents: Some(intents.clone()),
                    request_bytes: None,
                    intents_omitted: None,
                };
                return Err(deny_by_policy(state, st, decision, v, params).await);
            }
            Decision {
                identity: who.name.clone(),
                uid: who.uid,
                pid: who.pid,
                request_id,
                op: OP.into(),
                key: Some(key.clone()),
                request_sha256,
                allow: true,
                rule: "policy".into(),
                reason: format!("{described} allowed by policy"),
                payload_sha256,
                venue: Some(parsed.venue.as_str().into()),
                nonce: None,
                intents: Some(intents.clone()),
                request_bytes: None,
                intents_omitted: None,
            }
        };
        let pending = state
            .journal
            .submit(Event::Decision(decision))
            .await
            .map_err(journal_unavailable)?;
        (query, now, pending)
    };
    let recorded = pending.durable().await.map_err(journal_unavailable)?;
    let out = sign_and_record(
        state,
        entry,
        SignInput::Message(query.clone().into_bytes()),
        recorded.seq,
    )
    .await?;
    let signature = match &out {
        SignOutput::Hmac { mac } => binance::hmac_signature_text(mac),
        SignOutput::Ed25519 { sig } => binance::ed25519_signature_text(sig),
        _ => {
            return Err(ProtoError::new(
                ErrorCode::Internal,
                "REST signing keys are hmac or ed25519",
            )
            .journaled());
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
