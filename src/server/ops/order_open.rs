//! `order.open`: the orders the agent counts as open for the caller, so a
//! bot that restarts can reconcile them against the venue and report the
//! ones that are closed there (`order.report`). Without it an order a
//! previous run signed and the venue since cancelled would count until its
//! TTL. Read-only: nothing is journaled. Served to the identities granted
//! `order.report`: who may close orders may see what is counted.

use serde_json::{Map, Value, json};

use super::sign::granted_key;
use crate::authorize::Refusal;
use crate::protocol::Params;
use crate::server::AgentState;
use crate::server::peer::Identity;

pub async fn run(
    state: &AgentState,
    who: &Identity,
    params: &Map<String, Value>,
) -> Result<Value, Refusal> {
    let p = Params::new(params, &["key"])?;
    let only = match p.opt_str("key")? {
        Some(k) => Some(granted_key(state, who, k)?.alias.clone()),
        None => None,
    };
    let now = crate::journal::record::now_ms();
    let st = state.state.lock().await;
    let orders: Vec<Value> = st
        .engine
        .state()
        .open_orders(now)
        .filter(|o| o.identity == who.name)
        .filter(|o| only.as_ref().is_none_or(|k| *k == o.key))
        .map(|o| {
            json!({
                "key": o.key,
                "symbol": o.symbol,
                "client_id": o.client_id,
                "notional": o.notional().normalize().to_string(),
                "placed_ms": o.placed_ms,
                "expires_ms": o.expires_ms,
            })
        })
        .collect();
    Ok(json!({"identity": who.name, "server_time_ms": now, "orders": orders}))
}
