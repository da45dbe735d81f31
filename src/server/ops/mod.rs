//! Request dispatch: one module per operation, and the op table
//! ([`Op`]). Dispatch parses the op's name, checks that the caller may
//! call it, then matches; each op checks its own parameters and keys.
//!
//! Every refusal not already on record ([`Refusal::Unrecorded`]) is
//! journaled here (a denial is a decision too); an op that reaches the
//! signing path has its allow decision, signature or failure journaled
//! there. Successful reads (`hello`, `ping`, `list_keys`) are not
//! journaled: they decide nothing.

pub mod admin;
pub mod bybit;
pub mod heartbeat;
pub mod hello;
pub mod hyperliquid;
pub mod keys_admin;
pub mod list_keys;
pub mod okx;
pub mod op;
pub mod order_open;
pub mod order_report;
pub mod ping;
pub mod position_report;
pub mod price_update;
pub mod rest;
pub mod rest_ws;
pub mod sign;
pub mod typed_data;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::AgentState;
use super::peer::Identity;
use crate::authorize::Refusal;
use crate::journal::Event;
use crate::protocol::{ErrorCode, ProtoError, Request, err_response, ok_response};
pub use op::{Access, Op};

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
    op: Op,
    entry: &'a crate::keyring::KeyEntry,
    params: &Map<String, Value>,
) -> crate::authorize::Request<'a> {
    let op = op.name();
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

/// Run one request and build its response: parse the op's name, check the
/// caller may call it, run it, count it, and journal a refusal that is not
/// on record yet.
pub async fn dispatch(state: &AgentState, who: &Identity, req: Request) -> Value {
    let op = Op::parse(&req.op);
    let result = match op {
        // The admin socket answers as it does for any op it does not serve.
        None if who.operator => Err(Refusal::from(not_operator_op(&req.op))),
        None => Err(Refusal::from(ProtoError::new(
            ErrorCode::UnknownOp,
            format!(
                "unknown op {:?} (known: {}; operator ops on the admin socket: {})",
                req.op,
                Op::names(Op::BOT),
                Op::names(Op::OPERATOR)
            ),
        ))),
        Some(op) => match admit(who, op) {
            Ok(()) => run(state, who, op, &req).await,
            Err(e) => Err(e.into()),
        },
    };
    // Label values from the agent's own names only (bounded series).
    let op_label = op.map_or("unknown", Op::name);
    let outcome = match &result {
        Ok(_) => "ok".to_string(),
        Err(e) => serde_json::to_value(e.error().code)
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
        Err(refusal) => {
            let e = refusal.error();
            tracing::info!(identity = %who.name, pid = ?who.pid, op = %req.op, code = %e.code, reason = %e.message, "request refused");
            if let Refusal::Unrecorded(e) = &refusal {
                journal_denial(state, who, &req, e).await;
            }
            err_response(Some(req.id), refusal.error())
        }
    }
}

/// Run an admitted op.
async fn run(state: &AgentState, who: &Identity, op: Op, req: &Request) -> Result<Value, Refusal> {
    let params = &req.params;
    match op {
        Op::Hello => hello::run(state, who, params),
        Op::Ping => ping::run(params),
        Op::ListKeys => list_keys::run(state, who, params),
        Op::Sign => sign::run(state, who, req.id, params).await,
        Op::HyperliquidSignL1Action => {
            hyperliquid::run(state, who, req.id, params, hyperliquid::Kind::L1).await
        }
        Op::HyperliquidSignUserAction => {
            hyperliquid::run(state, who, req.id, params, hyperliquid::Kind::User).await
        }
        Op::PriceUpdate => price_update::run(state, who, params).await,
        Op::OrderReport => order_report::run(state, who, params).await,
        Op::OrderOpen => order_open::run(state, who, params).await,
        Op::RestSignRequest => rest::run(state, who, req.id, params).await,
        Op::Heartbeat => heartbeat::run(state, who, params).await,
        Op::PositionReport => position_report::run(state, who, params).await,
        Op::Eip712SignTypedData => typed_data::run(state, who, req.id, params).await,
        Op::Status
        | Op::Halt
        | Op::Resume
        | Op::Rearm
        | Op::Pause
        | Op::Reload
        | Op::Rotate
        | Op::Rollback
        | Op::Zeroize => admin::run(state, who, op, params).await,
    }
}

/// The admin socket's answer to anything but an operator op.
fn not_operator_op(name: &str) -> ProtoError {
    ProtoError::new(
        ErrorCode::Forbidden,
        format!(
            "the admin socket serves operator operations only ({}); {name:?} is not one",
            Op::names(Op::OPERATOR)
        ),
    )
}

/// Whether `who` may call `op`: the bot socket serves bot ops to the
/// identities granted them, the admin socket operator ops only, and both
/// serve `hello` and `ping`.
fn admit(who: &Identity, op: Op) -> Result<(), ProtoError> {
    let forbidden = |m: String| Err(ProtoError::new(ErrorCode::Forbidden, m));
    match op.access() {
        Access::Anyone => Ok(()),
        Access::Operator { .. } if who.operator => Ok(()),
        Access::Operator { .. } => forbidden(format!(
            "{:?} is an operator operation: it is served only on the admin socket, to operator uids, never to a bot identity",
            op.name()
        )),
        Access::Granted(_) if who.operator => Err(not_operator_op(op.name())),
        Access::Granted(g) if who.may(g) => Ok(()),
        Access::Granted(g) => forbidden(format!(
            "identity {:?} is not granted {:?}",
            who.name,
            g.as_str()
        )),
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
