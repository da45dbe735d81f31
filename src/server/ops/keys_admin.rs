//! Operator key management in a running agent: `rotate`, `rollback` and
//! `zeroize` (admin socket only).
//!
//! Rotation: the new key is generated on the token (or, with `to_label`, an
//! existing token key is taken — the way for HMAC secrets, which come from
//! the venue), checked against the alias's config, loaded by the workers
//! and self-tested; then, under the state lock, the rotation is journaled
//! and the alias switched in one step. A request holds the entry it looked
//! up, so each request signs and verifies with one key: old or new, never
//! a mix. The old key stays on the token, unused, for `rollback`.
//!
//! Zeroisation: the alias stops being served at once; the record is made
//! durable before anything is destroyed (so a restart never looks for a
//! key that is gone), then every token key the alias has used is destroyed
//! and a note records the outcome.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::op::Op;
use crate::authorize::Refusal;
use crate::authorize::journal_unavailable;
use crate::backend::{KeySelector, KeyType};
use crate::journal::record::now_ms;
use crate::journal::{Event, KeyRef};
use crate::keyring::{KeyEntry, KeyringError};
use crate::protocol::{ErrorCode, Params, ProtoError};
use crate::server::AgentState;

fn bad(m: impl Into<String>) -> ProtoError {
    ProtoError::new(ErrorCode::BadParams, m)
}

fn keyring_error(e: KeyringError) -> ProtoError {
    match e {
        KeyringError::UnknownAlias(_) | KeyringError::Zeroized(_) => {
            ProtoError::new(ErrorCode::UnknownKey, e.to_string())
        }
        KeyringError::Refused(m) => ProtoError::new(ErrorCode::BackendError, m),
    }
}

fn backend(e: crate::backend::BackendError) -> ProtoError {
    let retry = e.retryable();
    let err = ProtoError::new(
        if retry {
            ErrorCode::BackendUnavailable
        } else {
            ErrorCode::BackendError
        },
        e.to_string(),
    );
    if retry { err.retry_after(1000) } else { err }
}

/// The alias, exactly as configured (not a URI), and not the audit key.
fn configured_alias(state: &AgentState, alias: &str) -> Result<Arc<KeyEntry>, ProtoError> {
    if alias == state.config.journal.audit_key {
        return Err(ProtoError::new(
            ErrorCode::Forbidden,
            format!(
                "{alias:?} is the journal's audit key: its checkpoints must stay verifiable, so it is not rotated \
                 or zeroized in a running agent (archive the journal and start a new one with a new audit key)"
            ),
        ));
    }
    match state.keyring.lookup(alias) {
        Some(e) if e.alias == alias => Ok(e),
        _ => Err(ProtoError::new(
            ErrorCode::UnknownKey,
            format!("no served key with alias {alias:?}"),
        )),
    }
}

fn describe(e: &KeyEntry) -> Value {
    json!({
        "label": e.info.label,
        "id": hex::encode(&e.info.id),
        "public_key": e.info.public_key.as_deref().map(hex::encode),
        "address": e.info.eth_address(),
    })
}

pub async fn run(
    state: &AgentState,
    by: &str,
    op: Op,
    params: &Map<String, Value>,
) -> Result<Value, Refusal> {
    match op {
        Op::Rotate => {
            let p = Params::new(params, &["alias", "to_label"])?;
            let alias = p.str("alias")?;
            let current = configured_alias(state, alias)?;
            if current.info.piv.is_some() {
                return Err(bad(
                    "this key is on a YubiKey, which the agent does not provision: generate the new key into \
                     another slot (tradeward keys generate --backend yubikey), point the alias at it in the \
                     config and restart the agent",
                ).into());
            }
            let pool = state.keyring.pool();
            let info = match p.opt_str("to_label")? {
                Some(l) => pool
                    .find(KeySelector {
                        label: Some(l.to_string()),
                        id: None,
                    })
                    .await
                    .map_err(backend)?,
                None if current.info.key_type == KeyType::Hmac => {
                    return Err(bad(
                        "an HMAC secret comes from the venue: import the new one (tradeward keys import --type hmac \
                         --label NEW) and rotate with to_label",
                    ).into());
                }
                None => {
                    let label = format!(
                        "{}.r{}",
                        current.config.label.as_deref().unwrap_or(alias),
                        now_ms()
                    );
                    pool.generate(current.info.key_type, label)
                        .await
                        .map_err(backend)?
                }
            };
            let entry = state
                .keyring
                .prepare(alias, info)
                .await
                .map_err(keyring_error)?;
            let pending = {
                let mut st = state.state.lock().await;
                // The alias may have moved while the new key was prepared.
                let now_current = configured_alias(state, alias)?;
                if !Arc::ptr_eq(&now_current, &current) {
                    return Err(ProtoError::new(
                        ErrorCode::BackendUnavailable,
                        "the key changed meanwhile; retry",
                    )
                    .retry_after(100)
                    .into());
                }
                let (from, to) = (KeyRef::of(&current.info), KeyRef::of(&entry.info));
                let pending = state
                    .journal
                    .submit(Event::KeyRotated {
                        alias: alias.to_string(),
                        from: from.clone(),
                        to: to.clone(),
                        by: by.to_string(),
                    })
                    .await
                    .map_err(journal_unavailable)?;
                state
                    .keyring
                    .activate(entry.clone())
                    .map_err(keyring_error)?;
                st.keys.rotated(alias, &from, &to);
                pending
            };
            pending.durable().await.map_err(journal_unavailable)?;
            tracing::warn!(key = alias, from = %current.info.uri(), to = %entry.info.uri(), by, "key rotated");
            Ok(json!({"alias": alias, "from": describe(&current), "to": describe(&entry)}))
        }
        Op::Rollback => {
            let p = Params::new(params, &["alias"])?;
            let alias = p.str("alias")?;
            let current = configured_alias(state, alias)?;
            let previous = {
                let st = state.state.lock().await;
                st.keys.previous(alias).cloned()
            }
            .ok_or_else(|| {
                bad(format!(
                    "key {alias:?} has not been rotated: nothing to roll back to"
                ))
            })?;
            let info = state
                .keyring
                .pool()
                .find(previous.selector())
                .await
                .map_err(backend)?;
            let entry = state
                .keyring
                .prepare(alias, info)
                .await
                .map_err(keyring_error)?;
            let pending = {
                let mut st = state.state.lock().await;
                let now_current = configured_alias(state, alias)?;
                if !Arc::ptr_eq(&now_current, &current) {
                    return Err(ProtoError::new(
                        ErrorCode::BackendUnavailable,
                        "the key changed meanwhile; retry",
                    )
                    .retry_after(100)
                    .into());
                }
                let pending = state
                    .journal
                    .submit(Event::KeyRolledBack {
                        alias: alias.to_string(),
                        from: KeyRef::of(&current.info),
                        to: KeyRef::of(&entry.info),
                        by: by.to_string(),
                    })
                    .await
                    .map_err(journal_unavailable)?;
                state
                    .keyring
                    .activate(entry.clone())
                    .map_err(keyring_error)?;
                st.keys.rolled_back(alias);
                pending
            };
            pending.durable().await.map_err(journal_unavailable)?;
            tracing::warn!(key = alias, to = %entry.info.uri(), by, "key rolled back");
            Ok(json!({"alias": alias, "from": describe(&current), "to": describe(&entry)}))
        }
        Op::Zeroize => {
            let p = Params::new(params, &["alias", "all", "confirm"])?;
            let confirm = p.str("confirm")?;
            match (p.opt_str("alias")?, p.opt_bool("all")?) {
                (Some(alias), None | Some(false)) => {
                    if confirm != alias {
                        return Err(bad("confirm must repeat the alias exactly").into());
                    }
                    zeroize_one(state, by, alias).await
                }
                (None, Some(true)) => {
                    if confirm != "ZEROIZE-ALL" {
                        return Err(bad("confirm must be ZEROIZE-ALL").into());
                    }
                    // Every served key but the audit key, in one request (one
                    // TOTP code), each as for a single alias.
                    let mut out = Vec::new();
                    for e in state.keyring.entries() {
                        if e.alias != state.config.journal.audit_key {
                            out.push(match zeroize_one(state, by, &e.alias).await {
                                Ok(v) => v,
                                Err(err) => {
                                    json!({"alias": e.alias, "ok": false, "errors": [err.error().message]})
                                }
                            });
                        }
                    }
                    let ok = out.iter().all(|v| v["ok"] == true);
                    Ok(json!({"keys": out, "ok": ok}))
                }
                _ => Err(bad("give alias, or all = true").into()),
            }
        }
        other => Err(ProtoError::new(
            ErrorCode::UnknownOp,
            format!("unknown operator op {other:?}"),
        )
        .into()),
    }
}

/// Zeroize one alias: stop serving it at once, make the record durable,
/// then destroy every token key it has used and note the outcome.
async fn zeroize_one(state: &AgentState, by: &str, alias: &str) -> Result<Value, Refusal> {
    let current = configured_alias(state, alias)?;
    let (pending, keys) = {
        let mut st = state.state.lock().await;
        // Every token key this alias has used (rotations leave the
        // old ones on the token for rollback).
        let mut keys: Vec<KeyRef> = st.keys.chain.get(alias).cloned().unwrap_or_default();
        let cur = KeyRef::of(&current.info);
        if !keys.contains(&cur) {
            keys.push(cur);
        }
        state.keyring.zeroize(alias).map_err(keyring_error)?;
        st.keys.zeroized.insert(alias.to_string());
        let pending = state
            .journal
            .submit(Event::KeyZeroized {
                alias: alias.to_string(),
                keys: keys.clone(),
                by: by.to_string(),
            })
            .await
            .map_err(journal_unavailable)?;
        (pending, keys)
    };
    pending.durable().await.map_err(journal_unavailable)?;
    tracing::warn!(
        key = alias,
        by,
        "key zeroized: no longer served; destroying its token objects"
    );
    let mut destroyed = Vec::new();
    let mut errors = Vec::new();
    if let Some(p) = &current.info.piv {
        // The agent holds no management key, so it cannot overwrite the
        // slot: the alias is no longer served, and the operator is told
        // how to destroy the key itself.
        errors.push(format!(
            "the key stays on YubiKey {} slot {} until you overwrite it \
             (tradeward keys generate --backend yubikey --serial {} --slot {} --force) or reset the PIV applet",
            p.serial, p.slot, p.serial, p.slot
        ));
    }
    for k in keys.iter().filter(|_| current.info.piv.is_none()) {
        match state.keyring.pool().destroy(k.selector()).await {
            Ok(_) => destroyed.push(k.label.clone()),
            Err(crate::backend::BackendError::KeyNotFound(_)) => {
                destroyed.push(format!("{} (already gone)", k.label))
            }
            Err(e) => errors.push(format!("{}: {e}", k.label)),
        }
    }
    let message = if errors.is_empty() {
        format!("zeroize {alias}: destroyed {}", destroyed.join(", "))
    } else {
        format!(
            "zeroize {alias}: destroyed [{}]; FAILED [{}]",
            destroyed.join(", "),
            errors.join("; ")
        )
    };
    if let Err(e) = state
        .journal
        .append(Event::Note {
            message: message.clone(),
        })
        .await
    {
        tracing::error!(error = %e, "could not journal the zeroisation outcome");
    }
    Ok(
        json!({"alias": alias, "served": false, "destroyed": destroyed, "errors": errors, "ok": errors.is_empty()}),
    )
}
