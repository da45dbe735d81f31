//! Request dispatch: one module per operation. Dispatch checks that the
//! identity holds the operation; each op checks its own parameters and keys.

pub mod hello;
pub mod list_keys;
pub mod ping;
pub mod sign;

use serde_json::Value;

use super::AgentState;
use super::peer::Identity;
use crate::config::GrantedOp;
use crate::protocol::{ErrorCode, ProtoError, Request, err_response, ok_response};

/// Every operation name the agent understands.
pub const OPS: &[&str] = &["hello", "ping", "list_keys", "sign"];

/// Run one request and build its response.
pub async fn dispatch(state: &AgentState, who: &Identity, req: Request) -> Value {
    let result = match req.op.as_str() {
        "hello" => hello::run(state, who, &req.params),
        "ping" => ping::run(&req.params),
        "list_keys" => match require(who, GrantedOp::ListKeys) {
            Ok(()) => list_keys::run(state, who, &req.params),
            Err(e) => Err(e),
        },
        "sign" => match require(who, GrantedOp::Sign) {
            Ok(()) => sign::run(state, who, &req.params).await,
            Err(e) => Err(e),
        },
        other => Err(ProtoError::new(
            ErrorCode::UnknownOp,
            format!("unknown op {other:?} (known: {})", OPS.join(", ")),
        )),
    };
    match result {
        Ok(v) => ok_response(req.id, v),
        Err(e) => {
            tracing::info!(identity = %who.name, pid = ?who.pid, op = %req.op, code = ?e.code, reason = %e.message, "request refused");
            err_response(Some(req.id), &e)
        }
    }
}

fn require(who: &Identity, op: GrantedOp) -> Result<(), ProtoError> {
    if who.may(op) {
        Ok(())
    } else {
        Err(ProtoError::new(
            ErrorCode::Forbidden,
            format!("identity {:?} is not granted {:?}", who.name, op.as_str()),
        ))
    }
}
