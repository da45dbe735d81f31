//! `eip712.sign_typed_data`: sign EIP-712 typed data with a secp256k1 key
//! whose config lists the allowed domains (`[keys.ALIAS.eip712]`). Params:
//! `key`, `typed_data` (the `eth_signTypedData_v4` shape). The agent
//! computes the digest itself; Hyperliquid's own domains are refused here
//! (they are signed only through the Hyperliquid ops, under policy). A halt
//! on the identity or key stops this too.

use super::sign::granted_key;
use crate::authorize::Refusal;
use crate::authorize::{Judge, Plan, authorize};
use crate::keyring::{SignInput, SignOutput};
use crate::protocol::{ErrorCode, Params, ProtoError, to_hex};
use crate::server::AgentState;
use crate::server::peer::Identity;
use crate::venue::typed_data;
use serde_json::{Map, Value, json};

pub async fn run(
    state: &AgentState,
    who: &Identity,
    request_id: u64,
    params: &Map<String, Value>,
) -> Result<Value, Refusal> {
    let p = Params::new(params, &["key", "typed_data"])?;
    let granted = granted_key(state, who, p.str("key")?)?;
    let entry = &*granted;
    let Some(cfg) = &entry.config.eip712 else {
        return Err(ProtoError::new(
            ErrorCode::Forbidden,
            format!(
                "key {:?} is not enabled for typed data (no [keys.{}.eip712] domains)",
                entry.alias, entry.alias
            ),
        )
        .into());
    };
    let td = p
        .value("typed_data")
        .ok_or_else(|| ProtoError::new(ErrorCode::BadParams, "missing parameter \"typed_data\""))?;
    let prepared = typed_data::prepare(cfg, td).map_err(|m| {
        let code = if m.starts_with(typed_data::NOT_ALLOWED) {
            ErrorCode::Forbidden
        } else {
            ErrorCode::BadParams
        };
        ProtoError::new(code, m)
    })?;
    let reason = format!(
        "{} in domain {:?} is on the key's allowlist",
        prepared.primary_type, prepared.domain_name
    );
    let digest = prepared.digest;
    let out = authorize(
        state,
        super::signing_request(
            who,
            request_id,
            super::Op::Eip712SignTypedData,
            entry,
            params,
        ),
        |_, _| {
            Ok(Plan {
                input: SignInput::Digest(digest),
                judge: Judge::Config {
                    rule: "eip712_domain",
                    reason,
                    halts_apply: true,
                },
                venue: None,
                nonce: None,
                intents: None,
                extra: (),
            })
        },
    )
    .await?
    .output;
    let SignOutput::Secp256k1 { sig, .. } = out else {
        return Err(Refusal::Recorded(ProtoError::new(
            ErrorCode::Internal,
            "typed data keys are secp256k1",
        )));
    };
    Ok(json!({
        "key": entry.alias,
        "digest": to_hex(&prepared.digest),
        "signature": to_hex(&sig.to_bytes_65()),
        "r": to_hex(&sig.r),
        "s": to_hex(&sig.s),
        "v": sig.v(),
        "address": entry.info.eth_address(),
    }))
}
