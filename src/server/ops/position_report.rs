//! `position.report`: the bot reports its position in a Hyperliquid
//! perpetual on a key,
//! so that a trip can hand the operator signed orders that flatten it
//! (`deadman.flatten_on_trip`). Params: `key`, `symbol`, `size` (a decimal
//! string; above 0 long, below 0 short, "0" flat). Journaled before the
//! answer, like every state change, and rebuilt at start.
//!
//! This is the bot's word: a false report can only change which closing
//! orders the operator is handed, never what the bot may sign.

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::sign::granted_key;
use crate::authorize::Refusal;
use crate::authorize::journal_unavailable;
use crate::journal::Event;
use crate::protocol::{ErrorCode, Params, ProtoError};
use crate::server::AgentState;
use crate::server::peer::Identity;

fn bad(m: impl Into<String>) -> ProtoError {
    ProtoError::new(ErrorCode::BadParams, m)
}

pub async fn run(
    state: &AgentState,
    who: &Identity,
    params: &Map<String, Value>,
) -> Result<Value, Refusal> {
    let p = Params::new(params, &["key", "symbol", "size"])?;
    let granted = granted_key(state, who, p.str("key")?)?;
    let symbol = p.str("symbol")?;
    if symbol.is_empty() || symbol.len() > 64 || symbol.chars().any(char::is_control) {
        return Err(bad("symbol must be 1 to 64 printable characters").into());
    }
    // Positions are reported to be flattened at a trip, which is built for
    // Hyperliquid perpetuals (spot holds balances, not positions).
    let Some(meta) = state.hyperliquid.get(&granted.alias) else {
        return Err(bad(format!(
            "key {:?} is not a Hyperliquid key: positions are reported only for Hyperliquid perpetuals",
            granted.alias
        )).into());
    };
    match meta.by_name(symbol) {
        None => return Err(bad(format!("unknown Hyperliquid symbol {symbol:?}")).into()),
        Some(a) if a.kind != crate::venue::hyperliquid::AssetKind::Perp => {
            return Err(bad(format!(
                "{symbol:?} is a spot pair: report perpetual positions only"
            ))
            .into());
        }
        Some(_) => {}
    }
    let text = p.str("size")?;
    let plain = !text.is_empty()
        && text.len() <= 40
        && text
            .trim_start_matches('-')
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.')
        && text.chars().filter(|c| *c == '.').count() <= 1;
    let size: Decimal = if plain { text.parse().ok() } else { None }.ok_or_else(|| {
        bad(format!(
            "size must be a plain decimal string such as \"-0.5\" (got {text:?})"
        ))
    })?;
    if size.abs() > Decimal::from(1_000_000_000_000_000u64) {
        return Err(bad("size is out of range").into());
    }
    let pending = {
        let mut st = state.state.lock().await;
        let pending = state
            .journal
            .submit(Event::PositionReported {
                identity: who.name.clone(),
                key: granted.alias.clone(),
                symbol: symbol.to_string(),
                size,
            })
            .await
            .map_err(journal_unavailable)?;
        st.report_position(&who.name, &granted.alias, symbol, size);
        pending
    };
    pending.durable().await.map_err(journal_unavailable)?;
    Ok(json!({"key": granted.alias, "symbol": symbol, "size": size.normalize().to_string()}))
}
