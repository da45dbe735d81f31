//! Operator operations, served only on the admin socket to operator uids
//! (never to a bot identity): `status`, `halt`, `resume`, `rearm`,
//! `pause`, `reload` (and, in `keys_admin`, `rotate`, `rollback`,
//! `zeroize`). Each change is journaled before the answer, with the
//! operator's uid and pid as `by`.

use std::time::Instant;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::op::{Access, Op};
use crate::authorize::Refusal;
use crate::authorize::journal_unavailable;
use crate::journal::Event;
use crate::journal::record::now_ms;
use crate::policy::{Halt, HaltScope, Policy, Scope};
use crate::protocol::{ErrorCode, Params, ProtoError};
use crate::server::AgentState;
use crate::server::peer::Identity;

fn bad(m: impl Into<String>) -> ProtoError {
    ProtoError::new(ErrorCode::BadParams, m)
}

fn by(who: &Identity) -> String {
    match who.pid {
        Some(p) => format!("operator uid {} pid {p}", who.uid),
        None => format!("operator uid {}", who.uid),
    }
}

fn known_identity(state: &AgentState, name: &str) -> Result<(), ProtoError> {
    if state.config.identities.contains_key(name) {
        Ok(())
    } else {
        Err(bad(format!(
            "no identity {name:?} in the config (known: {})",
            state
                .config
                .identities
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

/// `{scope: "all"|"identity"|"key", name}` → a halt scope.
fn scope(state: &AgentState, p: &Params<'_>) -> Result<HaltScope, ProtoError> {
    let s = p.str("scope")?;
    let name = p.opt_str("name")?;
    match (s, name) {
        ("all", None) => Ok(HaltScope::All),
        ("all", Some(_)) => Err(bad("scope \"all\" takes no name")),
        ("identity", Some(n)) => {
            known_identity(state, n)?;
            Ok(HaltScope::Identity(n.to_string()))
        }
        ("key", Some(n)) => match state.keyring.resolve(n) {
            Ok(Some(e)) => Ok(HaltScope::Key(e.alias.clone())),
            Ok(None) => Err(bad(format!("no key {n:?}"))),
            Err(e) => Err(crate::server::ops::sign::refused_reference(e)),
        },
        ("identity" | "key", None) => Err(bad(format!("scope {s:?} needs a name"))),
        _ => Err(bad(format!(
            "scope must be \"all\", \"identity\" or \"key\" (got {s:?})"
        ))),
    }
}

/// Check the TOTP code of an operator that has one; take `totp` out of the
/// params either way.
fn second_factor(
    state: &AgentState,
    who: &Identity,
    op: Op,
    params: &Map<String, Value>,
) -> Result<Map<String, Value>, ProtoError> {
    let mut params = params.clone();
    let code = match params.remove("totp") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(bad("totp must be a string of 6 digits")),
    };
    if op.access() != (Access::Operator { totp: true }) {
        return Ok(params);
    }
    let mut all = state.totp.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(t) = all.get_mut(&who.uid) {
        let now = now_ms() / 1000;
        t.verify(code.as_deref(), now).map_err(|e| match e {
            crate::totp::TotpError::Required => {
                ProtoError::new(ErrorCode::TotpRequired, e.to_string())
            }
            _ => ProtoError::new(ErrorCode::Forbidden, e.to_string()),
        })?;
    }
    Ok(params)
}

pub async fn run(
    state: &AgentState,
    who: &Identity,
    op: Op,
    params: &Map<String, Value>,
) -> Result<Value, Refusal> {
    let params = &second_factor(state, who, op, params)?;
    match op {
        Op::Status => {
            Params::new(params, &[])?;
            Ok(status(state).await)
        }
        Op::Halt => {
            let p = Params::new(params, &["scope", "name", "reason", "reducing_allowed"])?;
            let target = scope(state, &p)?;
            let reason = p
                .opt_str("reason")?
                .unwrap_or("operator halt")
                .chars()
                .take(256)
                .collect::<String>();
            let reducing_allowed = p
                .opt_bool("reducing_allowed")?
                .unwrap_or(state.config.deadman.halted_allows_reducing);
            let pending = {
                let mut st = state.state.lock().await;
                let now = now_ms();
                st.engine.halt(
                    target.clone(),
                    Halt {
                        reason: reason.clone(),
                        reducing_allowed,
                        since_ms: now,
                    },
                );
                state
                    .journal
                    .submit(Event::Halt {
                        target: target.clone(),
                        reason: reason.clone(),
                        reducing_allowed,
                        by: by(who),
                    })
                    .await
                    .map_err(journal_unavailable)?
            };
            pending.durable().await.map_err(journal_unavailable)?;
            tracing::warn!(target = %target, by = %by(who), "halted by operator");
            // With [cluster], every agent halts too. The halt here stands
            // whatever happens there (halting more is the safe side); the
            // answer says whether it reached the cluster.
            let shared = match &state.cluster {
                Some(c) => {
                    let event = Event::Halt {
                        target: target.clone(),
                        reason: reason.clone(),
                        reducing_allowed,
                        by: format!("{} on agent {}", by(who), c.config().agent_id),
                    };
                    match c.publish(&event, now_ms()).await {
                        Ok(()) => json!(true),
                        Err(e) => {
                            tracing::error!(error = %e, "the halt did not reach the cluster; it holds on this agent only");
                            json!(format!("not shared: {e}"))
                        }
                    }
                }
                None => Value::Null,
            };
            let (kind, name) = match &target {
                HaltScope::All => ("all", ""),
                HaltScope::Identity(n) => ("identity", n.as_str()),
                HaltScope::Trip(n) => ("trip", n.as_str()),
                HaltScope::Key(n) => ("key", n.as_str()),
            };
            crate::metrics::get()
                .halts
                .with_label_values(&[kind, name])
                .inc();
            let mut answer = json!({"halted": target, "reducing_allowed": reducing_allowed});
            if !shared.is_null() {
                answer["cluster"] = shared;
            }
            Ok(answer)
        }
        Op::Resume => {
            let p = Params::new(params, &["scope", "name"])?;
            let target = scope(state, &p)?;
            // Durable first, lifted after, all under the state lock (so no
            // decision is judged between the record and its effect): a
            // resume that cannot be recorded does not happen.
            {
                let mut st = state.state.lock().await;
                if !st.engine.state().halts().iter().any(|(s, _)| *s == target) {
                    let hint = match &target {
                        HaltScope::Identity(n)
                            if st
                                .engine
                                .state()
                                .halts()
                                .iter()
                                .any(|(s, _)| *s == HaltScope::Trip(n.clone())) =>
                        {
                            " by an operator (its tripped dead-man's switch holds it: use rearm)"
                        }
                        _ => "",
                    };
                    return Err(bad(format!("{target} is not halted{hint}")).into());
                }
                // With [cluster], a resume lifts the halt on every agent:
                // it must reach the cluster first, or it does not happen.
                if let Some(c) = &state.cluster {
                    let event = Event::Resume {
                        target: target.clone(),
                        by: format!("{} on agent {}", by(who), c.config().agent_id),
                    };
                    c.publish(&event, now_ms())
                        .await
                        .map_err(crate::authorize::cluster_unavailable)?;
                }
                state
                    .journal
                    .submit(Event::Resume {
                        target: target.clone(),
                        by: by(who),
                    })
                    .await
                    .map_err(journal_unavailable)?
                    .durable()
                    .await
                    .map_err(journal_unavailable)?;
                st.engine.resume(&target);
            }
            tracing::warn!(target = %target, by = %by(who), "resumed by operator");
            Ok(json!({"resumed": target}))
        }
        Op::Rearm => {
            let p = Params::new(params, &["identity", "timeout_ms"])?;
            let identity = p.str("identity")?;
            known_identity(state, identity)?;
            let timeout = p.opt_u64("timeout_ms")?;
            let cfg = &state.config.deadman;
            let (deadline_ms, timeout_ms) = {
                let mut st = state.state.lock().await;
                let timeout_ms = match (timeout, st.deadman.get(identity)) {
                    (Some(t), _) => t,
                    (None, Some(s)) => s.timeout_ms,
                    (None, None) => {
                        return Err(
                            bad("this identity never armed its switch: give timeout_ms").into()
                        );
                    }
                };
                if timeout_ms < cfg.min_timeout_ms || timeout_ms > cfg.max_timeout_ms {
                    return Err(bad(format!(
                        "timeout_ms {timeout_ms} is outside [{}, {}]",
                        cfg.min_timeout_ms, cfg.max_timeout_ms
                    ))
                    .into());
                }
                let now = now_ms();
                let deadline_ms = now.saturating_add(timeout_ms);
                // Durable first, applied after, under the state lock.
                let pending = state
                    .journal
                    .submit(Event::Rearm {
                        identity: identity.to_string(),
                        timeout_ms,
                        deadline_ms,
                        by: by(who),
                    })
                    .await
                    .map_err(journal_unavailable)?;
                pending.durable().await.map_err(journal_unavailable)?;
                st.deadman.rearm(identity, timeout_ms, now, Instant::now());
                st.engine.resume(&HaltScope::Trip(identity.to_string()));
                (deadline_ms, timeout_ms)
            };
            state.deadman_wake.notify_one();
            tracing::warn!(identity, by = %by(who), "dead-man's switch re-armed by operator");
            let mut answer = json!({"identity": identity, "armed": true, "timeout_ms": timeout_ms, "deadline_ms": deadline_ms});
            // With [cluster], the trip's halt is lifted on the other agents
            // too. Best effort: if it does not get there they stay halted
            // (the safe side) until a rearm here reaches them.
            if let Some(c) = &state.cluster {
                let event = Event::Resume {
                    target: HaltScope::Trip(identity.to_string()),
                    by: format!("{} on agent {}", by(who), c.config().agent_id),
                };
                answer["cluster"] = match c.publish(&event, now_ms()).await {
                    Ok(()) => json!(true),
                    Err(e) => {
                        tracing::error!(error = %e, "the rearm did not reach the cluster");
                        json!(format!("not shared: {e}"))
                    }
                };
            }
            Ok(answer)
        }
        Op::Pause => {
            let p = Params::new(params, &["identity", "until_ms", "duration_ms", "reason"])?;
            let identity = p.str("identity")?;
            known_identity(state, identity)?;
            let reason = p
                .opt_str("reason")?
                .unwrap_or("planned pause")
                .chars()
                .take(256)
                .collect::<String>();
            let now = now_ms();
            let until_ms = match (p.opt_u64("until_ms")?, p.opt_u64("duration_ms")?) {
                (Some(u), None) => u,
                (None, Some(d)) => now.saturating_add(d),
                _ => return Err(bad("give exactly one of until_ms or duration_ms").into()),
            };
            if until_ms <= now {
                return Err(bad("the pause must end in the future").into());
            }
            if until_ms - now > 7 * 86_400_000 {
                return Err(bad("a pause may last at most 7 days").into());
            }
            {
                let mut st = state.state.lock().await;
                st.deadman.can_pause(identity).map_err(bad)?;
                // Durable first, applied after, under the state lock.
                state
                    .journal
                    .submit(Event::Pause {
                        identity: identity.to_string(),
                        until_ms,
                        reason: reason.clone(),
                        by: by(who),
                    })
                    .await
                    .map_err(journal_unavailable)?
                    .durable()
                    .await
                    .map_err(journal_unavailable)?;
                st.deadman
                    .pause(identity, until_ms, &reason, now, Instant::now())
                    .map_err(bad)?;
            }
            state.deadman_wake.notify_one();
            Ok(json!({"identity": identity, "paused_until_ms": until_ms}))
        }
        Op::Reload => {
            Params::new(params, &[])?;
            reload(state, &by(who)).await
        }
        Op::Rotate | Op::Rollback | Op::Zeroize => {
            super::keys_admin::run(state, &by(who), op, params).await
        }
        other => Err(ProtoError::new(
            ErrorCode::UnknownOp,
            format!("unknown operator op {other:?}"),
        )
        .into()),
    }
}

/// SHA-256 over the `[policy]` table, re-serialised (so comments and
/// layout do not change it).
pub fn policy_sha256(config_text: &str) -> Result<String, String> {
    let v: toml::Table = toml::from_str(config_text).map_err(|e| e.to_string())?;
    let policy = v
        .get("policy")
        .cloned()
        .unwrap_or(toml::Value::Table(Default::default()));
    let text = toml::to_string(&policy).map_err(|e| e.to_string())?;
    Ok(hex::encode(Sha256::digest(text.as_bytes())))
}

/// Re-read the config file and swap in its policy. A file that does not
/// load, or a policy that does not compile, is refused and the old policy
/// stays. Only `[policy]` is reloaded; other sections need a restart.
pub async fn reload(state: &AgentState, by: &str) -> Result<Value, Refusal> {
    let Some(path) = &state.config_path else {
        return Err(ProtoError::new(
            ErrorCode::Internal,
            "the agent does not know its config file",
        )
        .into());
    };
    let refused = |m: String| {
        ProtoError::new(
            ErrorCode::BadParams,
            format!("policy not reloaded (the old one stays): {m}"),
        )
    };
    let cfg = crate::config::Config::load(path).map_err(|e| refused(e.to_string()))?;
    let text = std::fs::read_to_string(path).map_err(|e| refused(e.to_string()))?;
    let sha = policy_sha256(&text).map_err(refused)?;
    let policy = Policy::from_config(cfg.policy.clone()).map_err(|e| refused(e.to_string()))?;
    let previous = {
        let mut st = state.state.lock().await;
        // Durable first, swapped in after, under the state lock.
        state
            .journal
            .submit(Event::PolicyReload {
                sha256: sha.clone(),
                by: by.to_string(),
            })
            .await
            .map_err(journal_unavailable)?
            .durable()
            .await
            .map_err(journal_unavailable)?;
        st.engine.reload(policy);
        std::mem::replace(&mut st.policy_sha256, sha.clone())
    };
    tracing::info!(policy_sha256 = %sha, previous = %previous, by, "policy reloaded");
    Ok(json!({"policy_sha256": sha, "previous_sha256": previous, "changed": sha != previous}))
}

async fn status(state: &AgentState) -> Value {
    let st = state.state.lock().await;
    let now = now_ms();
    let es = st.engine.state();
    let mut identities = Map::new();
    for (name, ic) in &state.config.identities {
        let switch = match st.deadman.get(name) {
            Some(s) => serde_json::to_value(s).unwrap_or(Value::Null),
            None => json!({"state": "disarmed"}),
        };
        let halts: Vec<Value> = ic
            .keys
            .iter()
            .flat_map(|k| es.halts().covering(name, k))
            .chain(es.halts().covering(name, ""))
            .map(|(s, h)| json!({"target": s, "reason": h.reason, "reducing_allowed": h.reducing_allowed, "since_ms": h.since_ms}))
            .collect::<Vec<_>>();
        let mut halts_dedup: Vec<Value> = Vec::new();
        for h in halts {
            if !halts_dedup.contains(&h) {
                halts_dedup.push(h);
            }
        }
        let (open_orders, open_notional) = es.open_exposure(&Scope::Identity(name.clone()), now);
        identities.insert(
            name.clone(),
            json!({
                "switch": switch,
                "halts": halts_dedup,
                "halted": !halts_dedup.is_empty(),
                "open_orders": open_orders,
                "open_notional": open_notional.to_string(),
                "notional_last_24h": es.notional_within(&Scope::Identity(name.clone()), now, 86_400_000).to_string(),
                "breaker_open_until_ms": es.breaker_open_until(name, now),
            }),
        );
    }
    let halts: Vec<Value> = es
        .halts()
        .iter()
        .map(|(s, h)| json!({"target": s, "reason": h.reason, "reducing_allowed": h.reducing_allowed, "since_ms": h.since_ms}))
        .collect();
    // What each alias signs with now (after any rotation).
    let served: Vec<Value> = state
        .keyring
        .entries()
        .iter()
        .map(|e| {
            json!({
                "alias": e.alias,
                "type": e.info.key_type.as_str(),
                "label": e.info.label,
                "id": hex::encode(&e.info.id),
                "uri": e.info.uri(),
                "address": e.info.eth_address(),
                "public_key": e.info.public_key.as_deref().map(crate::protocol::to_hex),
                "rotated": st.keys.previous(&e.alias).is_some(),
            })
        })
        .collect();
    json!({
        "keys": state.keyring.entries().iter().map(|e| e.alias.clone()).collect::<Vec<_>>(),
        "served": served,
        "server_time_ms": now,
        "uptime_ms": state.started.elapsed().as_millis() as u64,
        // The system clock's distance from the agent's clock: a step of
        // the system clock shows here and is ignored until a restart.
        "clock_skew_ms": crate::clock::skew_ms(),
        "policy_sha256": st.policy_sha256,
        "halts": halts,
        "identities": identities,
        "workers": state.keyring.pool().live_workers(),
    })
}
