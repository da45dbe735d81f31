//! `hello`: what this agent is and what the caller may do with it. Clients
//! call it first to check the protocol version.

use serde_json::{Map, Value, json};

use crate::authorize::Refusal;
use crate::protocol::{PROTOCOL_VERSION, Params};
use crate::server::AgentState;
use crate::server::peer::Identity;

pub fn run(
    state: &AgentState,
    who: &Identity,
    params: &Map<String, Value>,
) -> Result<Value, Refusal> {
    // `client` is an optional free-form name for logs.
    let p = Params::new(params, &["client"])?;
    if let Some(client) = p.opt_str("client")? {
        tracing::debug!(identity = %who.name, client = %client.chars().take(64).collect::<String>(), "hello");
    }
    let mut ops = vec!["hello", "ping"];
    ops.extend(who.ops.iter().map(|o| o.as_str()));
    // Ops served under another op's grant.
    if who.may(crate::config::GrantedOp::OrderReport) {
        ops.push(super::Op::OrderOpen.name());
    }
    if who.operator {
        ops.extend(super::Op::OPERATOR.iter().map(|o| o.name()));
    }
    Ok(json!({
        "protocol_version": PROTOCOL_VERSION,
        "agent": "tradeward",
        "agent_version": env!("CARGO_PKG_VERSION"),
        "identity": who.name,
        "peer": {"uid": who.uid, "gid": who.gid, "pid": who.pid},
        "keys": who.keys.iter().collect::<Vec<_>>(),
        "ops": ops,
        "max_frame_bytes": state.config.agent.max_frame_bytes,
    }))
}
