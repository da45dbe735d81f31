//! Request dispatch: one module per operation. Dispatch checks that the
//! identity holds the operation; each op checks its own parameters and keys.
//!
//! Every refusal is journaled here (a denial is a decision too); an op that
//! reaches the point of signing journals its own allow decision, signature
//! or failure. Successful reads (`hello`, `ping`, `list_keys`) are not
//! journaled: they decide nothing.

pub mod admin;
pub mod heartbeat;
pub mod hello;
pub mod hyperliquid;
pub mod keys_admin;
pub mod list_keys;
pub mod order_report;
pub mod ping;
pub mod position_report;
pub mod price_update;
pub mod rest;
pub mod sign;
pub mod typed_data;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::AgentState;
use super::peer::Identity;
use crate::config::GrantedOp;
use crate::journal::Event;
use crate::protocol::{ErrorCode, ProtoError, Request, err_response, ok_response};

/// Every operation name the agent understands.
pub const OPS: &[&str] = &[
    "hello",
    "ping",
    "list_keys",
    "sign",
    "hyperliquid.sign_l1_action",
    "hyperliquid.sign_user_action",
    "price.update",
    "order.report",
    "rest.sign_request",
    "heartbeat",
    "position.report",
    "eip712.sign_typed_data",
];

/// SHA-256 of an op and its parameters as received (in their order), so a
/// journal record can be matched to the request that caused it, and the
/// size of the encoded parameters (what a refusal's record notes), from one
/// encoding.
pub fn request_fingerprint(op: &str, params: &Map<String, Value>) -> (String, usize) {
    let encoded = serde_json::to_vec(params).expect("json");
    let mut h = Sha256::new();
    h.update(op.as_bytes());
    h.update(b"\n");
    h.update(&encoded);
    (hex::encode(h.finalize()), encoded.len())
}

/// The signing path's request for op `op` on `entry`, with the parameters
/// as received (their digest and size go into the journal).
pub fn signing_request<'a>(
    who: &Identity,
    request_id: u64,
    op: &'a str,
    entry: &'a crate::keyring::KeyEntry,
    params: &Map<String, Value>,
) -> crate::authorize::Request<'a> {
    let (request_sha256, request_bytes) = request_fingerprint(op, params);
    crate::authorize::Request {
        caller: caller(who, request_id),
        op,
        entry,
        request_sha256,
        request_bytes,
    }
}

/// The caller of a request, as the journal records it.
pub fn caller(who: &Identity, request_id: u64) -> crate::authorize::Caller {
    crate::authorize::Caller {
        identity: who.name.clone(),
        uid: who.uid,
        pid: who.pid,
        request_id,
    }
}

/// Run one request and build its response.
pub async fn dispatch(state: &AgentState, who: &Identity, req: Request) -> Value {
    let op = req.op.as_str();
    let result = match op {
        "hello" => hello::run(state, who, &req.params),
        "ping" => ping::run(&req.params),
        _ if admin::OPS.contains(&op) && who.operator => {
            admin::run(state, who, op, &req.params).await
        }
        _ if admin::OPS.contains(&op) => Err(ProtoError::new(
            ErrorCode::Forbidden,
            format!(
                "{op:?} is an operator operation: it is served only on the admin socket, to operator uids, never to a bot identity"
            ),
        )),
        _ if who.operator => Err(ProtoError::new(
            ErrorCode::Forbidden,
            format!(
                "the admin socket serves operator operations only ({}); {op:?} is not one",
                admin::OPS.join(", ")
            ),
        )),
        "eip712.sign_typed_data" => match require(who, GrantedOp::Eip712SignTypedData) {
            Ok(()) => typed_data::run(state, who, req.id, &req.params).await,
            Err(e) => Err(e),
        },
        "position.report" => match require(who, GrantedOp::PositionReport) {
            Ok(()) => position_report::run(state, who, &req.params).await,
            Err(e) => Err(e),
        },
        "heartbeat" => match require(who, GrantedOp::Heartbeat) {
            Ok(()) => heartbeat::run(state, who, &req.params).await,
            Err(e) => Err(e),
        },
        "list_keys" => match require(who, GrantedOp::ListKeys) {
            Ok(()) => list_keys::run(state, who, &req.params),
            Err(e) => Err(e),
        },
        "sign" => match require(who, GrantedOp::Sign) {
            Ok(()) => sign::run(state, who, req.id, &req.params).await,
            Err(e) => Err(e),
        },
        "hyperliquid.sign_l1_action" => match require(who, GrantedOp::HyperliquidSignL1Action) {
            Ok(()) => {
                hyperliquid::run(state, who, req.id, &req.params, hyperliquid::Kind::L1).await
            }
            Err(e) => Err(e),
        },
        "hyperliquid.sign_user_action" => {
            match require(who, GrantedOp::HyperliquidSignUserAction) {
                Ok(()) => {
                    hyperliquid::run(state, who, req.id, &req.params, hyperliquid::Kind::User).await
                }
                Err(e) => Err(e),
            }
        }
        "price.update" => match require(who, GrantedOp::PriceUpdate) {
            Ok(()) => price_update::run(state, who, &req.params).await,
            Err(e) => Err(e),
        },
        "order.report" => match require(who, GrantedOp::OrderReport) {
            Ok(()) => order_report::run(state, who, &req.params).await,
            Err(e) => Err(e),
        },
        "rest.sign_request" => match require(who, GrantedOp::RestSignRequest) {
            Ok(()) => rest::run(state, who, req.id, &req.params).await,
            Err(e) => Err(e),
        },
        other => Err(ProtoError::new(
            ErrorCode::UnknownOp,
            format!(
                "unknown op {other:?} (known: {}; operator ops on the admin socket: {})",
                OPS.join(", "),
                admin::OPS.join(", ")
            ),
        )),
    };
    // Label values from the agent's own names only (bounded series).
    let op_label = if OPS.contains(&op) || admin::OPS.contains(&op) {
        op
    } else {
        "unknown"
    };
    let outcome = match &result {
        Ok(_) => "ok".to_string(),
        Err(e) => serde_json::to_value(e.code)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_else(|| "error".into()),
    };
    crate::metrics::get()
        .requests
        .with_label_values(&[op_label, outcome.as_str()])
        .inc();
    match result {
        Ok(v) => ok_response(req.id, v),
        Err(e) => {
            tracing::info!(identity = %who.name, pid = ?who.pid, op = %req.op, code = %e.code, reason = %e.message, "request refused");
            if !e.journaled {
                journal_denial(state, who, &req, &e).await;
            }
            err_response(Some(req.id), &e)
        }
    }
}

/// Record a refusal. Best effort: the answer is a denial either way, so a
/// journal that cannot be written does not change it.
async fn journal_denial(state: &AgentState, who: &Identity, req: &Request, e: &ProtoError) {
    let key = req
        .params
        .get("key")
        .and_then(Value::as_str)
        .map(|k| k.chars().take(256).collect());
    let op: String = req.op.chars().take(64).collect();
    let rule = match e.rule {
        Some(r) => r.to_string(),
        None => e.code.to_string(),
    };
    let (request_sha256, request_bytes) = request_fingerprint(&req.op, &req.params);
    let mut decision =
        crate::authorize::DecisionBuilder::new(&caller(who, req.id), &op, key, request_sha256)
            .deny(&rule, e.message.chars().take(512).collect::<String>())
            .build();
    crate::refusals::bound(&mut decision, request_bytes);
    let now = crate::journal::record::now_ms();
    let events = crate::authorize::admit_refusal(state, &who.name, &decision.rule, false, now)
        .into_events(Event::Decision(decision));
    for e in events {
        if let Err(err) = state.journal.append(e).await {
            tracing::error!(error = %err, "could not journal a denial");
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
