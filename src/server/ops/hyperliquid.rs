//! `hyperliquid.sign_l1_action` and `hyperliquid.sign_user_action`: the
//! agent parses the action, judges it, builds the exact digest itself and
//! only then asks the token to sign. The bot gets back the canonical action
//! it must submit, the nonce and the signature.
//!
//! Order of work: parse and check (no lock) → under the state lock: the
//! nonce (assigned or checked), the decision, and its journal record queued
//! → release → wait for the record to be durable → sign → record the
//! signature → answer.

use serde_json::{Map, Value, json};

use super::Op;
use super::sign::granted_key;
use crate::authorize::Refusal;
use crate::authorize::{Judge, Plan, authorize};
use crate::config::{GrantedOp, Network};
use crate::keyring::{SignInput, SignOutput};
use crate::protocol::{ErrorCode, Params, ProtoError, to_hex};
use crate::server::AgentState;
use crate::server::peer::Identity;
use crate::venue::hyperliquid::{self, Action, SignRequest};

/// Which of the two operations is running.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    L1,
    User,
}

fn forbidden(m: String) -> ProtoError {
    ProtoError::new(ErrorCode::Forbidden, m)
}

fn bad(m: String) -> ProtoError {
    ProtoError::new(ErrorCode::BadParams, m)
}

pub async fn run(
    state: &AgentState,
    who: &Identity,
    request_id: u64,
    params: &Map<String, Value>,
    kind: Kind,
) -> Result<Value, Refusal> {
    let allowed: &[&str] = match kind {
        Kind::L1 => &[
            "key",
            "action",
            "nonce",
            "vault_address",
            "expires_after",
            "is_mainnet",
        ],
        Kind::User => &["key", "action", "is_mainnet"],
    };
    let p = Params::new(params, allowed)?;
    let granted = granted_key(state, who, p.str("key")?)?;
    let entry = &*granted;
    let (Some(cfg), Some(meta)) = (
        &entry.config.hyperliquid,
        state.hyperliquid.get(&entry.alias),
    ) else {
        return Err(forbidden(format!(
            "key {:?} is not configured for Hyperliquid (no [keys.{}.hyperliquid] table)",
            entry.alias, entry.alias
        ))
        .into());
    };
    let is_mainnet = p.bool("is_mainnet")?;
    let configured_mainnet = cfg.network == Network::Mainnet;
    if is_mainnet != configured_mainnet {
        return Err(forbidden(format!(
            "key {:?} signs for {} only",
            entry.alias,
            if configured_mainnet {
                "mainnet"
            } else {
                "testnet"
            }
        ))
        .into());
    }
    let action = p.object("action")?;
    let supplied_nonce = p.opt_u64("nonce")?;
    let expires_after = p.opt_u64("expires_after")?;
    let vault = p.opt_str("vault_address")?;
    if let Some(v) = vault
        && !cfg.vaults.iter().any(|a| a.eq_ignore_ascii_case(v))
    {
        return Err(forbidden(format!(
            "key {:?} may not act for vault {v}: it is not in keys.{}.hyperliquid.vaults",
            entry.alias, entry.alias
        ))
        .into());
    }
    // Parsed once: its kind (and a user action's own nonce) is checked here,
    // and the same parse is encoded under the lock.
    let parsed =
        hyperliquid::parse_action(meta, action, is_mainnet).map_err(|e| bad(e.to_string()))?;
    match (&parsed, kind) {
        (Action::L1(_), Kind::L1) | (Action::User(_), Kind::User) => {}
        (Action::L1(_), Kind::User) => {
            return Err(bad(format!(
                "{} is an L1 action: use hyperliquid.sign_l1_action",
                parsed.type_name()
            ))
            .into());
        }
        (Action::User(_), Kind::L1) => {
            return Err(bad(format!(
                "{} is a user-signed action: use hyperliquid.sign_user_action",
                parsed.type_name()
            ))
            .into());
        }
    }
    // An L1 action that moves funds (agentSendAsset) needs the grant for
    // moving funds as well: an identity granted only L1 actions trades.
    if parsed.is_l1_transfer() && !who.may(GrantedOp::HyperliquidSignUserAction) {
        return Err(forbidden(format!(
            "{} moves funds: identity {:?} needs the {:?} grant as well",
            parsed.type_name(),
            who.name,
            GrantedOp::HyperliquidSignUserAction.as_str()
        ))
        .into());
    }
    // Funds taken from a subaccount: one the key may act for.
    if let Some(sub) = parsed.from_sub_account() {
        let sub = format!("0x{}", hex::encode(sub));
        if !cfg.vaults.iter().any(|a| a.eq_ignore_ascii_case(&sub)) {
            return Err(forbidden(format!(
                "key {:?} may not move funds from subaccount {sub}: it is not in keys.{}.hyperliquid.vaults",
                entry.alias, entry.alias
            )).into());
        }
    }
    let key = entry.alias.clone();
    let op_name = if kind == Kind::L1 {
        Op::HyperliquidSignL1Action
    } else {
        Op::HyperliquidSignUserAction
    };
    let signed = authorize(
        state,
        super::signing_request(who, request_id, op_name, entry, params),
        |st, now| {
            // The nonce is decision order: assigned or checked under the lock.
            let nonce = match supplied_nonce.or(parsed.embedded_nonce()) {
                Some(n) => {
                    st.nonces
                        .check(&key, n, now)
                        .map_err(|e| bad(e.to_string()))?;
                    n
                }
                None => st.nonces.assign(&key, now),
            };
            let prepared = hyperliquid::prepare_parsed(
                meta,
                parsed,
                &SignRequest {
                    action,
                    nonce,
                    vault_address: vault,
                    expires_after,
                    is_mainnet,
                },
            )
            .map_err(|e| bad(e.to_string()))?;
            Ok(Plan {
                input: SignInput::Digest(prepared.digest),
                judge: Judge::Policy {
                    reason: format!("{} allowed by policy", prepared.action.type_name()),
                },
                venue: Some("hyperliquid".into()),
                nonce: Some(nonce),
                intents: Some(prepared.intents.clone()),
                extra: prepared,
            })
        },
    )
    .await?;
    let prepared = signed.extra;
    let out = signed.output;
    let SignOutput::Secp256k1 { sig, .. } = out else {
        return Err(Refusal::Recorded(ProtoError::new(
            ErrorCode::Internal,
            "Hyperliquid keys are secp256k1",
        )));
    };
    let action_value: Value = serde_json::from_str(&prepared.action_json).map_err(|e| {
        Refusal::Recorded(ProtoError::new(
            ErrorCode::Internal,
            format!("canonical action: {e}"),
        ))
    })?;
    let mut result = json!({
        "key": key,
        "action": action_value,
        "nonce": prepared.nonce,
        "signature": {"r": to_hex(&sig.r), "s": to_hex(&sig.s), "v": sig.v()},
        "digest": to_hex(&prepared.digest),
    });
    let m = result.as_object_mut().expect("object");
    if let Some(v) = prepared.vault_address_hex() {
        m.insert("vault_address".into(), v.into());
    }
    if let Some(e) = prepared.expires_after {
        m.insert("expires_after".into(), e.into());
    }
    if let Some(a) = entry.info.eth_address() {
        m.insert("address".into(), a.into());
    }
    Ok(result)
}
