//! A trip's instructions for an OKX key: a signed batch cancel (by client
//! order id, 20 at most per request) per instrument with open orders, and,
//! when some open order carries no client order id (the agent cannot know
//! the venue's order id), the venue's own switch `cancel-all-after` armed
//! for its shortest time (10 s), which cancels every open order of the
//! account. Built by `venue::okx` (the same parser as a bot's request) and
//! signed through `authorize` under the agent's own rule.

use serde_json::{Value, json};

use super::instruction::{InstructionError, Planned, TRIP_OP, agent_request, instruction_error};
use crate::authorize::{Judge, Plan, authorize};
use crate::context::AgentState;
use crate::keyring::{KeyEntry, SignInput, SignOutput};
use crate::policy::OpenOrder;
use crate::venue::okx::{self, OkxKeyConfig};

/// The instructions for `alias`'s open orders `mine`.
pub fn plan(alias: &str, cfg: &OkxKeyConfig, mine: &[&OpenOrder]) -> Vec<Planned> {
    let mut out = Vec::new();
    for (inst_id, i) in &cfg.instruments {
        let ids: Vec<&str> = mine
            .iter()
            .filter(|o| o.symbol == i.symbol)
            .filter_map(|o| o.client_id.as_deref())
            .filter(|c| okx::check_cl_ord_id(c).is_ok())
            .collect();
        for (path, body) in okx::cancel_batches(inst_id, &ids) {
            out.push(Planned::Okx {
                key: alias.to_string(),
                path,
                body,
            });
        }
    }
    // An order the batches cannot name: no client order id, or a symbol no
    // instrument maps to any more.
    let unnamed = mine
        .iter()
        .any(|o| o.client_id.is_none() || !cfg.instruments.values().any(|i| i.symbol == o.symbol));
    if unnamed {
        let (path, body) = okx::cancel_all_after();
        out.push(Planned::Okx {
            key: alias.to_string(),
            path,
            body,
        });
    }
    out
}

/// Journal, sign and describe one OKX instruction.
pub async fn sign(
    state: &AgentState,
    identity: &str,
    entry: &KeyEntry,
    path: &str,
    body: &Value,
) -> Result<Value, InstructionError> {
    let Some(cfg) = &entry.config.okx else {
        return Err(InstructionError::Venue(format!(
            "key {:?} has no OKX config",
            entry.alias
        )));
    };
    let parsed = okx::parse(cfg, "POST", path, Some(body))
        .map_err(|e| InstructionError::Venue(e.to_string()))?;
    let why = format!(
        "dead-man's switch tripped: cancel open orders ({})",
        parsed.describe()
    );
    let signed = authorize(
        state,
        agent_request(identity, TRIP_OP, entry, &why),
        |_, now| {
            let ts = okx::timestamp(now);
            let prehash = parsed.prehash(&ts);
            Ok(Plan {
                input: SignInput::Message(prehash.into_bytes()),
                judge: Judge::Agent {
                    reason: why.clone(),
                },
                venue: Some("okx".into()),
                nonce: None,
                intents: Some(parsed.intents_at(now)),
                extra: ts,
            })
        },
    )
    .await
    .map_err(instruction_error)?;
    let SignOutput::Hmac { mac } = &signed.output else {
        return Err(InstructionError::Sign("OKX keys are hmac".into()));
    };
    // The passphrase is not in the document: the on-trip command holds
    // it (or reads the same file) to send these.
    Ok(json!({
        "venue": "okx",
        "key": entry.alias,
        "method": parsed.method,
        "request_path": parsed.request_path,
        "body": parsed.body,
        "headers": {
            "OK-ACCESS-KEY": cfg.api_key,
            "OK-ACCESS-SIGN": okx::signature_text(mac),
            "OK-ACCESS-TIMESTAMP": signed.extra,
        },
        "decision": signed.seq,
    }))
}
