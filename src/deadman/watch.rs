//! The watcher: one task that sleeps until the earliest deadline (or until
//! a heartbeat changes the deadlines) and trips every switch that is due.
//!
//! A trip takes effect under the state lock, in one step: the switch is
//! marked tripped, the identity is halted in the policy state and the trip
//! record is queued to the journal — so no request can slip between the
//! deadline and the halt. Building and signing the cancels and running the
//! on-trip command happen afterwards, in a task of their own, so that one
//! slow command never delays another identity's trip.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{hook, trip};
use crate::context::AgentState;
use crate::journal::Event;
use crate::journal::record::now_ms;
use crate::policy::{Halt, HaltScope, OpenOrder};
use crate::state::switches::HookState;

pub use crate::state::TRIP_REASON;

/// Watch deadlines until `shutdown`.
pub async fn run(state: Arc<AgentState>, shutdown: CancellationToken) {
    loop {
        let next = trip_due(&state).await;
        // Wake at the earliest deadline, on a heartbeat, or once a second
        // (pauses end on the wall clock).
        let now = Instant::now();
        let wake = next
            .unwrap_or(now + Duration::from_secs(1))
            .min(now + Duration::from_secs(1));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(wake.into()) => {}
            _ = state.deadman_wake.notified() => {}
        }
    }
}

/// Trip every switch that is due now; returns the next deadline.
pub async fn trip_due(state: &Arc<AgentState>) -> Option<Instant> {
    let cfg = &state.config.deadman;
    let mut started = Vec::new();
    let next = {
        let mut st = state.state.lock().await;
        let now_ms = now_ms();
        let due = st.deadman.due(now_ms, Instant::now());
        for identity in due {
            let Some(sw) = st.deadman.get(&identity) else {
                continue;
            };
            let (deadline_ms, timeout_ms) = (sw.deadline_ms, sw.timeout_ms);
            let hook = if cfg.on_trip.is_empty() {
                HookState::NotConfigured
            } else {
                HookState::Running
            };
            st.deadman.trip(&identity, now_ms, hook);
            st.engine.halt(
                HaltScope::Trip(identity.clone()),
                Halt {
                    reason: TRIP_REASON.into(),
                    reducing_allowed: cfg.halted_allows_reducing,
                    since_ms: now_ms,
                },
            );
            let late_ms = now_ms.saturating_sub(deadline_ms);
            tracing::warn!(identity = %identity, deadline_ms, late_ms, "dead-man's switch tripped: identity halted");
            crate::metrics::get()
                .deadman_trips
                .with_label_values(&[identity.as_str()])
                .inc();
            let pending = state
                .journal
                .submit(Event::Trip {
                    identity: identity.clone(),
                    deadline_ms,
                    reason: format!("no heartbeat within {timeout_ms} ms"),
                })
                .await;
            let open: Vec<OpenOrder> = st
                .engine
                .state()
                .open_orders(now_ms)
                .filter(|o| o.identity == identity)
                .cloned()
                .collect();
            let positions: Vec<(String, String, rust_decimal::Decimal)> = if cfg.flatten_on_trip {
                st.positions
                    .iter()
                    .filter(|((who, _, _), _)| *who == identity)
                    .map(|((_, k, s), size)| (k.clone(), s.clone(), *size))
                    .collect()
            } else {
                Vec::new()
            };
            let prices: std::collections::HashMap<String, rust_decimal::Decimal> = positions
                .iter()
                .filter_map(|(_, s, _)| {
                    // Only a fresh price prices a closing order.
                    st.engine
                        .state()
                        .reference_price(s)
                        .filter(|p| now_ms.saturating_sub(p.at_ms) <= cfg.flatten_price_max_age_ms)
                        .map(|p| (s.clone(), p.price))
                })
                .collect();
            let book = Book {
                open,
                positions,
                prices,
            };
            started.push((identity, deadline_ms, now_ms, pending, book));
        }
        st.deadman.next_deadline()
    };
    for (identity, deadline_ms, at_ms, pending, book) in started {
        if state.cluster.is_some() {
            tokio::spawn(share_trip(state.clone(), identity.clone(), at_ms));
        }
        let state = state.clone();
        tokio::spawn(async move {
            finish(&state, &identity, deadline_ms, at_ms, pending, book).await;
        });
    }
    next
}

/// With `[cluster]`: the trip halts the identity on every agent (as a halt
/// in its trip scope; the switch itself stays this agent's, and only a
/// `rearm` here lifts it everywhere). Best effort: the trip stands here
/// whatever happens there.
async fn share_trip(state: Arc<AgentState>, identity: String, at_ms: u64) {
    let Some(cluster) = &state.cluster else {
        return;
    };
    let agent = &cluster.config().agent_id;
    let event = Event::Halt {
        target: HaltScope::Trip(identity.clone()),
        reason: format!("{TRIP_REASON} on agent {agent}"),
        reducing_allowed: state.config.deadman.halted_allows_reducing,
        by: format!("dead-man's switch on agent {agent}"),
    };
    if let Err(e) = cluster.publish(&event, at_ms).await {
        tracing::error!(identity = %identity, error = %e, "the trip did not reach the cluster; it holds on this agent only");
    }
}

/// What the trip found, taken under the lock: open orders, reported
/// positions and the reference prices of their symbols.
struct Book {
    open: Vec<OpenOrder>,
    positions: Vec<(String, String, rust_decimal::Decimal)>,
    prices: std::collections::HashMap<String, rust_decimal::Decimal>,
}

/// After the trip took effect: make it durable, sign the cancels, run the
/// on-trip command and record what it did.
async fn finish(
    state: &Arc<AgentState>,
    identity: &str,
    deadline_ms: u64,
    at_ms: u64,
    pending: Result<crate::journal::Pending, crate::journal::JournalError>,
    book: Book,
) {
    let open = &book.open;
    let seq = match pending {
        Ok(p) => p.durable().await.map(|r| r.seq),
        Err(e) => Err(e),
    };
    let seq = match seq {
        Ok(s) => s,
        Err(e) => {
            // The halt stands (fail closed); the trip will be made again
            // from the journal's last heartbeat at the next start.
            tracing::error!(identity, error = %e, "could not journal a trip");
            let mut st = state.state.lock().await;
            st.deadman.set_hook(
                identity,
                HookState::Failed {
                    reason: format!("the trip could not be journaled: {e}"),
                },
            );
            return;
        }
    };
    state
        .state
        .lock()
        .await
        .deadman
        .set_trip_record(identity, seq);
    let cfg = &state.config.deadman;
    if cfg.on_trip.is_empty() {
        return;
    }
    let keys = open.iter().map(|o| o.key.clone()).collect();
    let mut planned = trip::plan(state, &keys, open, now_ms());
    planned.extend(trip::plan_flatten(
        state,
        &book.positions,
        &|s| book.prices.get(s).copied(),
        cfg.flatten_slippage_bps,
    ));
    let instructions = trip::sign_all(state, identity, &planned).await;
    let failed_instructions = instructions
        .iter()
        .filter(|i| i.get("error").is_some())
        .count();
    let doc = json!({
        "kind": "tradeward.trip",
        "version": 1,
        "identity": identity,
        "deadline_ms": deadline_ms,
        "tripped_at_ms": at_ms,
        "trip_record": seq,
        "open_orders": trip::open_summary(open),
        "positions": book
            .positions
            .iter()
            .map(|(k, s, z)| json!({"key": k, "symbol": s, "size": z.normalize().to_string()}))
            .collect::<Vec<_>>(),
        "instructions": instructions,
    });
    let bytes = serde_json::to_vec_pretty(&doc).expect("json");
    let outcome = hook::run(
        &cfg.on_trip,
        identity,
        &bytes,
        Duration::from_millis(cfg.on_trip_timeout_ms),
    )
    .await;
    let ok = outcome.ok && failed_instructions == 0;
    let mut output = outcome.output.clone();
    if failed_instructions > 0 {
        output = format!("{failed_instructions} instruction(s) could not be made; {output}");
    }
    if !ok {
        tracing::error!(identity, exit_code = ?outcome.exit_code, output = %output, "on-trip command failed; the switch stays tripped");
    } else {
        tracing::info!(identity, "on-trip command succeeded");
    }
    if let Err(e) = state
        .journal
        .append(Event::TripHook {
            identity: identity.to_string(),
            trip: seq,
            ok,
            exit_code: outcome.exit_code,
            instructions: instructions.len(),
            output: output.chars().take(hook::MAX_OUTPUT).collect(),
        })
        .await
    {
        tracing::error!(identity, error = %e, "could not journal the on-trip command's outcome");
    }
    let hs = if ok {
        HookState::Succeeded {
            exit_code: outcome.exit_code.unwrap_or(0),
        }
    } else {
        HookState::Failed {
            reason: match outcome.exit_code {
                Some(c) => format!(
                    "exit code {c}: {}",
                    output.chars().take(512).collect::<String>()
                ),
                None => output.chars().take(512).collect(),
            },
        }
    };
    state.state.lock().await.deadman.set_hook(identity, hs);
}
