//! The cancel actions the agent builds itself: the dead-man's switch's
//! instructions at a trip and the exchange-side switch a heartbeat keeps
//! pushed forward. Built here, beside the parser that reads a bot's
//! actions, so that the agent's own instructions are the venue's wire
//! format and go through the same parse and encode as a bot's.

use serde_json::{Value, json};

use super::Meta;

/// Hyperliquid's shortest lead time for `scheduleCancel` (ms): the venue
/// refuses a time sooner than this.
pub const SCHEDULE_CANCEL_MIN_LEAD_MS: u64 = 5_000;

/// An order the agent counts as open, as far as a cancel needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenRef<'a> {
    pub symbol: &'a str,
    /// Its client order id, if the bot gave one.
    pub client_id: Option<&'a str>,
}

/// `scheduleCancel` at `time_ms`: the venue cancels every open order of the
/// account then, unless a later one moves it.
pub fn schedule_cancel(time_ms: u64) -> Value {
    json!({"type": "scheduleCancel", "time": time_ms})
}

/// The actions that cancel `open` (one account's orders): one
/// `cancelByCloid` for the orders that carry a client order id (and whose
/// symbol the venue metadata knows), and, when some order has none (the
/// agent cannot know the venue's order id), a `scheduleCancel` for the
/// earliest time the venue allows, which cancels them all.
pub fn cancel_actions(meta: Option<&Meta>, open: &[OpenRef<'_>], now_ms: u64) -> Vec<Value> {
    let cancels: Vec<Value> = open
        .iter()
        .filter_map(|o| {
            let cloid = o.client_id?;
            let asset = meta?.by_name(o.symbol)?.index;
            Some(json!({"asset": asset, "cloid": cloid}))
        })
        .collect();
    let without_cloid = open.len() - cancels.len();
    let mut out = Vec::new();
    if !cancels.is_empty() {
        out.push(json!({"type": "cancelByCloid", "cancels": cancels}));
    }
    if without_cloid > 0 {
        out.push(schedule_cancel(now_ms + SCHEDULE_CANCEL_MIN_LEAD_MS));
    }
    out
}
