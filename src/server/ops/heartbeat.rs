//! `heartbeat`: arm the caller's dead-man's switch, or push its deadline.
//!
//! Params: `timeout_ms` (required on the first heartbeat; afterwards it
//! changes the timeout). The heartbeat is journaled before the answer, so
//! a restart rebuilds the same deadline. For identities holding Hyperliquid
//! keys with `schedule_cancel_grace_ms`, the answer also carries a freshly
//! signed `scheduleCancel` per key for now + timeout + grace: submitted by
//! the bot, it makes the exchange cancel even if this host dies.

use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::authorize::Refusal;
use crate::deadman::trip::sign_agent_l1;
use crate::journal::Event;
use crate::protocol::{ErrorCode, Params, ProtoError};
use crate::server::AgentState;
use crate::server::peer::Identity;
use crate::state::switches::HeartbeatError;
use crate::venue::hyperliquid::{SCHEDULE_CANCEL_MIN_LEAD_MS, schedule_cancel};

pub async fn run(
    state: &AgentState,
    who: &Identity,
    params: &Map<String, Value>,
) -> Result<Value, Refusal> {
    let timeout = Params::new(params, &["timeout_ms"])?.opt_u64("timeout_ms")?;
    let cfg = &state.config.deadman;
    let (pending, view) = {
        let mut st = state.state.lock().await;
        let timeout_ms = st
            .deadman
            .check_heartbeat(cfg, &who.name, timeout)
            .map_err(|e| match e {
                HeartbeatError::Tripped { .. } => {
                    ProtoError::new(ErrorCode::SwitchTripped, e.to_string())
                }
                _ => ProtoError::new(ErrorCode::BadParams, e.to_string()),
            })?;
        let now_ms = crate::journal::record::now_ms();
        // Journaled first, applied after: a deadline that cannot be
        // recorded is not moved.
        let deadline_ms = st
            .deadman
            .deadline_after_heartbeat(&who.name, timeout_ms, now_ms);
        let pending = state
            .journal
            .submit(Event::Heartbeat {
                identity: who.name.clone(),
                timeout_ms,
                deadline_ms,
            })
            .await
            .map_err(crate::authorize::journal_unavailable)?;
        st.deadman
            .heartbeat(&who.name, timeout_ms, now_ms, Instant::now());
        let sw = st.deadman.get(&who.name).expect("just armed").clone();
        (pending, (sw, now_ms))
    };
    state.deadman_wake.notify_one();
    pending
        .durable()
        .await
        .map_err(crate::authorize::journal_unavailable)?;
    let (sw, now_ms) = view;
    crate::metrics::get()
        .heartbeats
        .with_label_values(&[who.name.as_str()])
        .inc();
    let mut out = json!({
        "identity": who.name,
        "timeout_ms": sw.timeout_ms,
        "deadline_ms": sw.deadline_ms,
        "server_time_ms": now_ms,
        "switch": sw.state,
    });
    // The exchange-side backup, per Hyperliquid key that asks for it.
    let mut backups = Vec::new();
    for alias in &who.keys {
        let Some(entry) = state.keyring.lookup(alias) else {
            continue;
        };
        let Some(grace) = entry
            .config
            .hyperliquid
            .as_ref()
            .and_then(|h| h.schedule_cancel_grace_ms)
        else {
            continue;
        };
        let lead = sw
            .deadline_ms
            .saturating_sub(now_ms)
            .saturating_add(grace)
            .max(SCHEDULE_CANCEL_MIN_LEAD_MS);
        let action = schedule_cancel(now_ms + lead);
        match sign_agent_l1(
            state,
            &who.name,
            &entry,
            &action,
            super::Op::Heartbeat.name(),
            "heartbeat: exchange-side dead-man's switch",
        )
        .await
        {
            Ok(v) => backups.push(v),
            Err(e) => backups.push(json!({"key": alias, "error": e.to_string()})),
        }
    }
    if !backups.is_empty() {
        out.as_object_mut()
            .expect("object")
            .insert("schedule_cancel".into(), backups.into());
    }
    Ok(out)
}
