//! A trip's instructions for a Bybit key: a signed `cancel-all` per
//! instrument with open orders (every open order on that symbol and
//! category). Built by `venue::bybit` (the same parser as a bot's request)
//! and signed through `authorize` under the agent's own rule.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::instruction::{InstructionError, Planned, TRIP_OP, agent_request, instruction_error};
use crate::authorize::{Judge, Plan, authorize};
use crate::context::AgentState;
use crate::keyring::{KeyEntry, SignInput, SignOutput};
use crate::policy::OpenOrder;
use crate::venue::bybit::{self, BybitKeyConfig};

/// The instructions for `alias`'s open orders `mine`.
pub fn plan(alias: &str, cfg: &BybitKeyConfig, mine: &[&OpenOrder]) -> Vec<Planned> {
    let symbols: BTreeSet<&str> = mine.iter().map(|o| o.symbol.as_str()).collect();
    cfg.instruments
        .iter()
        .filter(|i| symbols.contains(i.policy_symbol.as_str()))
        .map(|i| {
            let (path, body) = bybit::cancel_all(i.category, &i.symbol);
            Planned::Bybit {
                key: alias.to_string(),
                path,
                body,
            }
        })
        .collect()
}

/// Journal, sign and describe one Bybit instruction, valid for the key's
/// longest `recv_window`.
pub async fn sign(
    state: &AgentState,
    identity: &str,
    entry: &KeyEntry,
    path: &str,
    body: &Value,
) -> Result<Value, InstructionError> {
    let Some(cfg) = &entry.config.bybit else {
        return Err(InstructionError::Venue(format!(
            "key {:?} has no Bybit config",
            entry.alias
        )));
    };
    let window = json!(cfg.max_recv_window());
    let parsed = bybit::parse(cfg, "POST", path, Some(body), Some(&window))
        .map_err(|e| InstructionError::Venue(e.to_string()))?;
    let why = format!(
        "dead-man's switch tripped: cancel all open orders ({} {})",
        parsed.describe(),
        parsed.payload
    );
    let signed = authorize(
        state,
        agent_request(identity, TRIP_OP, entry, &why),
        |_, now| {
            Ok(Plan {
                input: SignInput::Message(parsed.prehash(now, &cfg.api_key).into_bytes()),
                judge: Judge::Agent {
                    reason: why.clone(),
                },
                venue: Some("bybit".into()),
                nonce: None,
                intents: Some(parsed.intents.clone()),
                extra: now,
            })
        },
    )
    .await
    .map_err(instruction_error)?;
    let SignOutput::Hmac { mac } = &signed.output else {
        return Err(InstructionError::Sign("Bybit keys are hmac".into()));
    };
    Ok(json!({
        "venue": "bybit",
        "key": entry.alias,
        "method": parsed.method,
        "path": parsed.path,
        "payload": parsed.payload,
        "headers": {
            "X-BAPI-API-KEY": cfg.api_key,
            "X-BAPI-TIMESTAMP": signed.extra.to_string(),
            "X-BAPI-RECV-WINDOW": parsed.recv_window_ms.to_string(),
            "X-BAPI-SIGN": hex::encode(mac),
        },
        "decision": signed.seq,
    }))
}
