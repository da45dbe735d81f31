//! `order.report`: the bot reports an order closed (filled or cancelled)
//! at the venue, so it stops counting as open. Journaled, so the open-order
//! accounting rebuilt at start matches. Only rolling caps (which no report
//! can lift) bound a bot that reports falsely.

use serde_json::{Map, Value, json};

use super::sign::granted_key;
use crate::authorize::{Refusal, journal_unavailable};
use crate::journal::Event;
use crate::order::OrderRef;
use crate::protocol::{ErrorCode, Params, ProtoError};
use crate::server::AgentState;
use crate::server::peer::Identity;

pub async fn run(
    state: &AgentState,
    who: &Identity,
    params: &Map<String, Value>,
) -> Result<Value, Refusal> {
    let p = Params::new(params, &["key", "client_id", "oid"])?;
    let granted = granted_key(state, who, p.str("key")?)?;
    let entry = &*granted;
    let order = match (p.opt_str("client_id")?, p.opt_u64("oid")?) {
        (Some(c), None) => OrderRef::Cloid(c.to_string()),
        (None, Some(oid)) => OrderRef::Oid(oid),
        _ => {
            return Err(ProtoError::new(
                ErrorCode::BadParams,
                "give exactly one of client_id or oid",
            )
            .into());
        }
    };
    let (closed, pending) = {
        let mut st = state.state.lock().await;
        let pending = state
            .journal
            .submit(Event::OrderClosed {
                identity: who.name.clone(),
                key: entry.alias.clone(),
                order: order.clone(),
            })
            .await
            .map_err(journal_unavailable)?;
        let now = crate::journal::record::now_ms();
        (st.engine.report_closed(&entry.alias, &order, now), pending)
    };
    pending.durable().await.map_err(journal_unavailable)?;
    // With [cluster], the other agents stop counting the order too (it
    // may have been authorised by any of them). Best effort: if this does
    // not reach them they count it until its time-to-live, the safe side.
    let mut answer = json!({"key": entry.alias, "closed": closed});
    if let Some(c) = &state.cluster {
        let event = Event::OrderClosed {
            identity: who.name.clone(),
            key: entry.alias.clone(),
            order,
        };
        if let Err(e) = c.publish(&event, crate::journal::record::now_ms()).await {
            tracing::warn!(error = %e, "an order report did not reach the cluster");
            answer["cluster"] = json!(format!("not shared: {e}"));
        }
    }
    Ok(answer)
}
