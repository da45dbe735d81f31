//! `rest.sign_request` with `"venue": "bybit"`: sign a Bybit v5 request.
//! The agent parses the endpoint and its body, judges what it asks for,
//! sets the timestamp itself, bounds `recv_window` by the key's ceiling,
//! builds the exact prehash and only then asks the token for the HMAC. The
//! bot gets back the headers to send (`X-BAPI-*`) and the exact payload.

use serde_json::{Map, Value, json};

use crate::authorize::{Judge, Plan, Refusal, authorize};
use crate::keyring::{SignInput, SignOutput};
use crate::protocol::{ErrorCode, Params, ProtoError};
use crate::server::AgentState;
use crate::server::peer::Identity;
use crate::venue::binance::RestError;
use crate::venue::bybit;

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
    let p = Params::new(
        params,
        &["key", "venue", "method", "path", "params", "recv_window_ms"],
    )?;
    let granted = super::sign::granted_key(state, who, p.str("key")?)?;
    let entry = &*granted;
    let Some(cfg) = &entry.config.bybit else {
        return Err(ProtoError::new(
            ErrorCode::Forbidden,
            format!(
                "key {:?} is not configured for Bybit (no [keys.{}.bybit] table)",
                entry.alias, entry.alias
            ),
        )
        .into());
    };
    let parsed = bybit::parse(
        cfg,
        p.str("method")?,
        p.str("path")?,
        p.value("params"),
        p.value("recv_window_ms"),
    )
    .map_err(venue_error)?;
    let described = parsed.describe();
    let read_only = parsed.is_read_only();
    let signed = authorize(
        state,
        super::signing_request(who, request_id, super::Op::RestSignRequest, entry, params),
        |_, now| {
            let prehash = parsed.prehash(now, &cfg.api_key);
            let judge = Judge::read_only_or_policy(read_only, &described);
            Ok(Plan {
                input: SignInput::Message(prehash.clone().into_bytes()),
                judge,
                venue: Some("bybit".into()),
                nonce: None,
                intents: (!read_only).then(|| parsed.intents.clone()),
                extra: (now, prehash),
            })
        },
    )
    .await?;
    let (ts, prehash) = signed.extra;
    let SignOutput::Hmac { mac } = &signed.output else {
        return Err(Refusal::Recorded(ProtoError::new(
            ErrorCode::Internal,
            "Bybit keys are hmac",
        )));
    };
    let signature = hex::encode(mac);
    Ok(json!({
        "key": entry.alias,
        "type": entry.info.key_type.as_str(),
        "venue": "bybit",
        "method": parsed.method,
        "path": parsed.path,
        "payload": parsed.payload,
        "timestamp": ts,
        "recv_window_ms": parsed.recv_window_ms,
        "prehash": prehash,
        "signature": signature,
        "headers": {
            "X-BAPI-API-KEY": cfg.api_key,
            "X-BAPI-TIMESTAMP": ts.to_string(),
            "X-BAPI-RECV-WINDOW": parsed.recv_window_ms.to_string(),
            "X-BAPI-SIGN": signature,
            "Content-Type": "application/json",
        },
    }))
}
