//! `rest.sign_request` with `"transport": "ws"`: sign one Binance
//! WebSocket API request (`order.place`, ...). Parsed and judged exactly as
//! its REST twin (the same decoder, intents and policy, the same grant and
//! key config); only the signed text differs: every parameter, the bot's
//! `apiKey` and the agent's `timestamp` included, sorted by name. The bot
//! gets back the `params` object to send, signature included.

use serde_json::{Map, Value, json};

use crate::authorize::{Judge, Plan, Refusal, authorize};
use crate::keyring::{KeyEntry, SignInput, SignOutput};
use crate::protocol::{ErrorCode, ProtoError};
use crate::server::AgentState;
use crate::server::peer::Identity;
use crate::venue::binance::{self, WsRequest};

pub async fn run(
    state: &AgentState,
    who: &Identity,
    request_id: u64,
    params: &Map<String, Value>,
    entry: &KeyEntry,
    parsed: WsRequest,
) -> Result<Value, Refusal> {
    let described = format!("{} ({})", parsed.method, parsed.rest.describe());
    let signed = authorize(
        state,
        super::signing_request(who, request_id, super::Op::RestSignRequest, entry, params),
        |_, now| {
            let payload = parsed.payload(now);
            Ok(Plan {
                input: SignInput::Message(payload.clone().into_bytes()),
                judge: Judge::Policy {
                    reason: format!("{described} allowed by policy"),
                },
                venue: Some(parsed.rest.venue.as_str().into()),
                nonce: None,
                intents: Some(parsed.rest.intents.clone()),
                extra: (payload, now),
            })
        },
    )
    .await?;
    let (payload, timestamp) = signed.extra;
    let signature = match &signed.output {
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
        "key": entry.alias,
        "type": entry.info.key_type.as_str(),
        "venue": parsed.rest.venue.as_str(),
        "transport": "ws",
        "method": parsed.method,
        "payload": payload,
        "timestamp": timestamp,
        "recv_window_ms": binance::recv_window_json(parsed.rest.recv_window_ms),
        "signature": signature,
        "params": parsed.params(timestamp, &signature),
    }))
}
