//! What a request asks for: the [`Request`] itself, and its totals as one
//! [`Batch`] (tokens from each [`Flow`], opening notional, transfers), which
//! both `Policy::evaluate` and `PolicyState::commit` work from.

use std::collections::BTreeMap;

use super::amount::{MAX_UNITS, units_ceil};
use super::config::address_key;
use crate::order::{Intent, NewOrder};

/// One request to judge: who asks, with which key, for what, when.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The identity's name (from `[identities]`).
    pub identity: &'a str,
    /// The key's alias (from `[keys]`).
    pub key: &'a str,
    /// What the request asks for; judged as one batch.
    pub intents: &'a [Intent],
    /// When, in ms since the Unix epoch. Live: the time the decision is
    /// journaled with; replay: that journaled time.
    pub now_ms: u64,
}

/// Which token bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Flow {
    /// Every intent except cancels.
    Orders,
    /// `cancel` and `schedule_cancel`.
    Cancels,
}

/// What a batch asks for in total (shared by `evaluate` and `commit`).
pub(crate) struct Batch<'a> {
    /// Tokens from the orders bucket (every intent but cancels).
    pub orders: u64,
    /// Tokens from the cancels bucket.
    pub cancels: u64,
    /// Opening (not reduce-only) orders and their notional in units
    /// (`MAX_UNITS` when not representable).
    pub opening: Vec<(&'a NewOrder, i128)>,
    pub opening_units: i128,
    /// (canonical destination, asset) → total in units.
    pub transfers: BTreeMap<(String, &'a str), i128>,
}

impl<'a> Batch<'a> {
    pub fn of(intents: &'a [Intent]) -> Batch<'a> {
        let mut b = Batch {
            orders: 0,
            cancels: 0,
            opening: Vec::new(),
            opening_units: 0,
            transfers: BTreeMap::new(),
        };
        for intent in intents {
            match intent {
                Intent::Cancel { .. } | Intent::ScheduleCancel { .. } | Intent::InvalidateNonce => {
                    b.cancels += 1
                }
                _ => b.orders += 1,
            }
            match intent {
                Intent::Place(o) | Intent::Modify { new: o, .. } if !o.reduce_only => {
                    let units = o.notional().and_then(units_ceil).unwrap_or(MAX_UNITS);
                    b.opening.push((o, units));
                    b.opening_units = b.opening_units.saturating_add(units);
                }
                Intent::Transfer {
                    destination,
                    asset,
                    amount,
                    ..
                } => {
                    let units = units_ceil(*amount).unwrap_or(MAX_UNITS);
                    let t = b
                        .transfers
                        .entry((address_key(destination), asset.as_str()))
                        .or_default();
                    *t = t.saturating_add(units);
                }
                _ => {}
            }
        }
        b
    }
}
