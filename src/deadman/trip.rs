//! What a trip hands the operator: for each of the tripped identity's keys,
//! signed instructions that cancel what the agent counts as open.
//!
//! - Hyperliquid: one `cancelByCloid` action per key for the open orders
//!   that carry a client order id, and, when some open order has none (the
//!   agent cannot know the venue's order id), a `scheduleCancel` for the
//!   venue's earliest allowed time (now + 5 s), which cancels every open
//!   order of the account.
//! - Binance-style REST keys: a signed cancel-all (`DELETE
//!   /api/v3/openOrders`, `DELETE /fapi/v1/allOpenOrders`) per symbol with
//!   open orders, for each market the key is configured for.
//! - OKX keys: batch cancels by client order id, and the venue's
//!   `cancel-all-after` when an open order has none (`trip_okx`).
//! - Bybit keys: a signed `cancel-all` per instrument with open orders
//!   (`trip_bybit`).
//!
//! Each instruction is built by the venue's own code (the same parser and
//! encoder as a bot's request), journaled as an allowed decision of the
//! agent itself (op `deadman.trip`, rule `deadman`) before it is signed,
//! and its signature journaled after — exactly like a bot's request, so
//! nothing is ever signed off the record. They bypass policy and do not
//! count towards its rate limits (they only reduce risk, and a trip must
//! not be held up by a bot that used up its cancel budget); replay treats
//! them the same way (rule `deadman`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

pub use super::instruction::{
    AGENT_RULE, InstructionError, Planned, TRIP_OP, agent_request, instruction_error,
};
use crate::authorize::{Judge, Plan, authorize};
use crate::context::AgentState;
use crate::keyring::{KeyEntry, SignInput, SignOutput};
use crate::policy::OpenOrder;
use crate::protocol::{ErrorCode, ProtoError, to_hex};
use crate::venue::binance;
use crate::venue::hyperliquid::{self, SignRequest};

/// Plan the instructions for `keys` (aliases the identity holds) given the
/// orders counted as open.
pub fn plan(
    state: &AgentState,
    keys: &BTreeSet<String>,
    open: &[OpenOrder],
    now_ms: u64,
) -> Vec<Planned> {
    let mut out = Vec::new();
    for alias in keys {
        let Some(entry) = state.keyring.lookup(alias) else {
            continue;
        };
        let mine: Vec<&OpenOrder> = open.iter().filter(|o| &o.key == alias).collect();
        if mine.is_empty() {
            continue;
        }
        if entry.config.hyperliquid.is_some() {
            let refs: Vec<hyperliquid::OpenRef<'_>> = mine
                .iter()
                .map(|o| hyperliquid::OpenRef {
                    symbol: &o.symbol,
                    client_id: o.client_id.as_deref(),
                })
                .collect();
            let meta = state.hyperliquid.get(alias);
            for action in hyperliquid::cancel_actions(meta, &refs, now_ms) {
                out.push(Planned::Hyperliquid {
                    key: alias.clone(),
                    action,
                });
            }
        }
        if let Some(o) = &entry.config.okx {
            out.extend(super::trip_okx::plan(alias, o, &mine));
        }
        if let Some(b) = &entry.config.bybit {
            out.extend(super::trip_bybit::plan(alias, b, &mine));
        }
        if let Some(rest) = &entry.config.rest {
            let symbols: BTreeSet<&str> = mine.iter().map(|o| o.symbol.as_str()).collect();
            for market in &rest.markets {
                let (method, path) = binance::cancel_all(*market);
                for s in &symbols {
                    out.push(Planned::Rest {
                        key: alias.clone(),
                        method,
                        path,
                        symbol: s.to_string(),
                    });
                }
            }
        }
    }
    out
}

/// Reduce-only IOC orders that close `identity`'s reported positions on
/// its Hyperliquid keys, priced `slippage_bps` through the reference price.
/// Positions on other keys are reported as not flattenable (a Binance-style
/// order needs the symbol's tick size, which the agent does not know).
pub fn plan_flatten(
    state: &AgentState,
    positions: &[(String, String, rust_decimal::Decimal)],
    prices: &dyn Fn(&str) -> Option<rust_decimal::Decimal>,
    slippage_bps: u32,
) -> Vec<Planned> {
    let mut out = Vec::new();
    for (key, symbol, size) in positions {
        let Some(meta) = state.hyperliquid.get(key) else {
            out.push(Planned::Unbuildable {
                key: key.clone(),
                error: format!(
                    "cannot flatten {symbol} {size}: flattening is built for Hyperliquid keys only"
                ),
            });
            continue;
        };
        let Some(reference) = prices(symbol) else {
            out.push(Planned::Unbuildable {
                key: key.clone(),
                error: format!("cannot flatten {symbol} {size}: no fresh reference price (price.update, within deadman.flatten_price_max_age_ms) to price the order"),
            });
            continue;
        };
        match hyperliquid::flatten_action(meta, symbol, *size, reference, slippage_bps) {
            Ok(action) => out.push(Planned::Hyperliquid {
                key: key.clone(),
                action,
            }),
            Err(e) => out.push(Planned::Unbuildable {
                key: key.clone(),
                error: format!("cannot flatten {symbol} {size}: {e}"),
            }),
        }
    }
    out
}

/// Journal, sign and describe one Hyperliquid L1 action made by the agent
/// itself (trip cancels, the heartbeat's `scheduleCancel`). `op` and `why`
/// go into the decision record.
pub async fn sign_agent_l1(
    state: &AgentState,
    identity: &str,
    entry: &KeyEntry,
    action: &Value,
    op: &str,
    why: &str,
) -> Result<Value, InstructionError> {
    let (Some(cfg), Some(meta)) = (
        &entry.config.hyperliquid,
        state.hyperliquid.get(&entry.alias),
    ) else {
        return Err(InstructionError::Venue(format!(
            "key {:?} has no Hyperliquid config",
            entry.alias
        )));
    };
    let is_mainnet = cfg.network == crate::config::Network::Mainnet;
    let signed = authorize(state, agent_request(identity, op, entry, why), |st, now| {
        let nonce = st.nonces.assign(&entry.alias, now);
        let prepared = hyperliquid::prepare(
            meta,
            &SignRequest {
                action,
                nonce,
                vault_address: None,
                expires_after: None,
                is_mainnet,
            },
        )
        .map_err(|e| ProtoError::new(ErrorCode::BadParams, e.to_string()))?;
        Ok(Plan {
            input: SignInput::Digest(prepared.digest),
            judge: Judge::Agent {
                reason: why.to_string(),
            },
            venue: Some("hyperliquid".into()),
            nonce: Some(nonce),
            intents: Some(prepared.intents.clone()),
            extra: prepared,
        })
    })
    .await
    .map_err(instruction_error)?;
    let (prepared, out, seq) = (signed.extra, signed.output, signed.seq);
    let SignOutput::Secp256k1 { sig, .. } = out else {
        return Err(InstructionError::Sign(
            "Hyperliquid keys are secp256k1".into(),
        ));
    };
    let action_value: Value = serde_json::from_str(&prepared.action_json)
        .map_err(|e| InstructionError::Venue(e.to_string()))?;
    Ok(json!({
        "venue": "hyperliquid",
        "key": entry.alias,
        "address": entry.info.eth_address(),
        "is_mainnet": is_mainnet,
        "action": action_value,
        "nonce": prepared.nonce,
        "signature": {"r": to_hex(&sig.r), "s": to_hex(&sig.s), "v": sig.v()},
        "decision": seq,
    }))
}

async fn sign_rest(
    state: &AgentState,
    identity: &str,
    entry: &KeyEntry,
    method: &str,
    path: &str,
    symbol: &str,
) -> Result<Value, InstructionError> {
    let Some(cfg) = &entry.config.rest else {
        return Err(InstructionError::Venue(format!(
            "key {:?} has no REST config",
            entry.alias
        )));
    };
    // The longest validity the key allows: the on-trip command must get it
    // to the venue within this window.
    let params = json!({"symbol": symbol, "recvWindow": cfg.max_recv_window().to_string()});
    let parsed = binance::parse(cfg, cfg.venue.as_str(), method, path, Some(&params))
        .map_err(|e| InstructionError::Venue(e.to_string()))?;
    let why = format!(
        "dead-man's switch tripped: cancel all open orders ({} {symbol})",
        parsed.describe()
    );
    let signed = authorize(
        state,
        agent_request(identity, TRIP_OP, entry, &why),
        |_, now| {
            let query = parsed.query(now);
            Ok(Plan {
                input: SignInput::Message(query.clone().into_bytes()),
                judge: Judge::Agent {
                    reason: why.clone(),
                },
                venue: Some(cfg.venue.as_str().into()),
                nonce: None,
                intents: Some(parsed.intents.clone()),
                extra: (query, now),
            })
        },
    )
    .await
    .map_err(instruction_error)?;
    let ((query, timestamp), out, seq) = (signed.extra, signed.output, signed.seq);
    let signature = match &out {
        SignOutput::Hmac { mac } => binance::hmac_signature_text(mac),
        SignOutput::Ed25519 { sig } => binance::ed25519_signature_text(sig),
        _ => {
            return Err(InstructionError::Sign(
                "REST keys are hmac or ed25519".into(),
            ));
        }
    };
    Ok(json!({
        "venue": cfg.venue.as_str(),
        "key": entry.alias,
        "type": entry.info.key_type.as_str(),
        "method": parsed.method.as_str(),
        "path": parsed.path,
        "symbol": symbol,
        "timestamp": timestamp,
        "recv_window_ms": crate::venue::binance::recv_window_json(parsed.recv_window_ms),
        "signature": signature,
        "signed_query": binance::signed_query(&query, &signature),
        "decision": seq,
    }))
}

/// Sign every planned instruction. Failures are reported in place (an
/// `error` entry): one bad key must not keep the others' cancels from the
/// operator.
pub async fn sign_all(state: &AgentState, identity: &str, planned: &[Planned]) -> Vec<Value> {
    let mut out = Vec::with_capacity(planned.len());
    for p in planned {
        let (key, r) = match p {
            Planned::Hyperliquid { key, action } => {
                let r = match state.keyring.lookup(key) {
                    Some(entry) => {
                        sign_agent_l1(
                            state,
                            identity,
                            &entry,
                            action,
                            TRIP_OP,
                            if action["type"] == "order" {
                                "dead-man's switch tripped: flatten a reported position"
                            } else {
                                "dead-man's switch tripped: cancel open orders"
                            },
                        )
                        .await
                    }
                    None => Err(InstructionError::Venue(format!("no key {key:?}"))),
                };
                (key, r)
            }
            Planned::Rest {
                key,
                method,
                path,
                symbol,
            } => {
                let r = match state.keyring.lookup(key) {
                    Some(entry) => sign_rest(state, identity, &entry, method, path, symbol).await,
                    None => Err(InstructionError::Venue(format!("no key {key:?}"))),
                };
                (key, r)
            }
            Planned::Okx { key, path, body } => {
                let r = match state.keyring.lookup(key) {
                    Some(entry) => super::trip_okx::sign(state, identity, &entry, path, body).await,
                    None => Err(InstructionError::Venue(format!("no key {key:?}"))),
                };
                (key, r)
            }
            Planned::Bybit { key, path, body } => {
                let r = match state.keyring.lookup(key) {
                    Some(entry) => {
                        super::trip_bybit::sign(state, identity, &entry, path, body).await
                    }
                    None => Err(InstructionError::Venue(format!("no key {key:?}"))),
                };
                (key, r)
            }
            Planned::Unbuildable { key, error } => {
                (key, Err(InstructionError::Venue(error.clone())))
            }
        };
        match r {
            Ok(v) => out.push(v),
            Err(e) => {
                tracing::error!(identity, key = %key, error = %e, "could not make a trip instruction");
                out.push(json!({"key": key, "error": e.to_string()}));
            }
        }
    }
    out
}

/// The open orders of `identity`, summarised for the trip document.
pub fn open_summary(open: &[OpenOrder]) -> Vec<Value> {
    let mut by: BTreeMap<(&str, &str), (u64, Vec<&str>)> = BTreeMap::new();
    for o in open {
        let e = by.entry((o.key.as_str(), o.symbol.as_str())).or_default();
        e.0 += 1;
        if let Some(c) = &o.client_id {
            e.1.push(c);
        }
    }
    by.into_iter()
        .map(|((k, s), (n, c))| json!({"key": k, "symbol": s, "count": n, "client_ids": c}))
        .collect()
}
