//! The agent's decision state, all of it rebuilt from the journal at start
//! (invariant 5): a restart must never loosen a limit, clear a breaker or
//! reuse a nonce.
//!
//! Every order decision (allowed or denied by policy) carries what is
//! needed to replay it: venue, key, nonce, typed intents, rule and time.
//! Replaying the records in order hands the policy engine the same calls it
//! saw live; it applies the journaled outcome and never re-judges.

//!
//! One file per part: the nonce books (`nonces`), the dead-man's switches
//! (`switches`) and the keys each alias uses (`keys`); this file holds them
//! together and replays the journal into them.

pub mod keys;
pub mod nonces;
pub mod switches;

use std::collections::BTreeMap;
use std::time::Instant;

use crate::journal::record::AGENT_RULE;
use crate::journal::{Event, Record};
use crate::policy::{Engine, Halt, HaltScope, Policy, Request, rule_feeds_breaker};
pub use keys::KeyHistory;
use nonces::NonceBook;
use switches::Switchboard;

/// The reason recorded with a trip's halt.
pub const TRIP_REASON: &str = "dead-man's switch tripped";

/// Decision state shared by the order operations.
pub struct State {
    pub nonces: NonceBook,
    pub engine: Engine,
    /// Dead-man's switches.
    pub deadman: Switchboard,
    /// Key rotations and zeroisations.
    pub keys: KeyHistory,
    /// Positions as the bots last reported them: (identity, key, symbol)
    /// → signed size. Flat positions are dropped.
    pub positions: BTreeMap<(String, String, String), rust_decimal::Decimal>,
    /// `deadman.halted_allows_reducing`, for halts rebuilt from the journal.
    pub halted_allows_reducing: bool,
    /// SHA-256 of the `[policy]` table in force.
    pub policy_sha256: String,
    /// The clocks replay places deadlines against.
    replay_clock: (u64, Instant),
    /// Order decisions replayed at start (for the log line).
    pub replayed_orders: u64,
}

impl State {
    pub fn new(policy: Policy, halted_allows_reducing: bool) -> State {
        State {
            nonces: NonceBook::default(),
            engine: Engine::new(policy),
            deadman: Switchboard::default(),
            keys: KeyHistory::default(),
            positions: BTreeMap::new(),
            halted_allows_reducing,
            policy_sha256: String::new(),
            replay_clock: (crate::journal::record::now_ms(), Instant::now()),
            replayed_orders: 0,
        }
    }

    /// Note a reported position (live or in a replay).
    pub fn report_position(
        &mut self,
        identity: &str,
        key: &str,
        symbol: &str,
        size: rust_decimal::Decimal,
    ) {
        let k = (identity.to_string(), key.to_string(), symbol.to_string());
        if size.is_zero() {
            self.positions.remove(&k);
        } else {
            self.positions.insert(k, size);
        }
    }

    /// Apply one journal record during replay.
    pub fn replay(&mut self, rec: &Record) {
        match &rec.event {
            Event::Decision(d) => {
                // A policy refusal too large to keep its intents still
                // counted towards the identity's breaker.
                if !d.allow
                    && d.intents.is_none()
                    && d.intents_omitted.is_some()
                    && d.venue.is_some()
                    && rule_feeds_breaker(&d.rule)
                {
                    self.engine.record_denial(&d.identity, rec.ts_ms);
                }
                let (Some(_venue), Some(key), Some(intents)) = (&d.venue, &d.key, &d.intents)
                else {
                    return;
                };
                let req = Request {
                    identity: &d.identity,
                    key,
                    intents,
                    now_ms: rec.ts_ms,
                };
                // The agent's own instructions (trip cancels, heartbeat
                // backups) never counted towards policy state.
                if d.rule != AGENT_RULE {
                    self.engine
                        .replay(&req, d.allow, !d.allow && rule_feeds_breaker(&d.rule));
                }
                if d.allow
                    && let Some(n) = d.nonce
                {
                    self.nonces.record(key, n);
                }
                self.replayed_orders += 1;
            }
            Event::OrderClosed { key, order, .. } => {
                self.engine.report_closed(key, order, rec.ts_ms);
            }
            Event::Trip { identity, .. } => {
                self.engine.halt(
                    HaltScope::Trip(identity.clone()),
                    Halt {
                        reason: TRIP_REASON.into(),
                        reducing_allowed: self.halted_allows_reducing,
                        since_ms: rec.ts_ms,
                    },
                );
                self.deadman
                    .replay(rec, self.replay_clock.0, self.replay_clock.1);
            }
            Event::Rearm { identity, .. } => {
                self.engine.resume(&HaltScope::Trip(identity.clone()));
                self.deadman
                    .replay(rec, self.replay_clock.0, self.replay_clock.1);
            }
            Event::Heartbeat { .. } | Event::Pause { .. } | Event::TripHook { .. } => {
                self.deadman
                    .replay(rec, self.replay_clock.0, self.replay_clock.1);
            }
            Event::Halt {
                target,
                reason,
                reducing_allowed,
                ..
            } => {
                self.engine.halt(
                    target.clone(),
                    Halt {
                        reason: reason.clone(),
                        reducing_allowed: *reducing_allowed,
                        since_ms: rec.ts_ms,
                    },
                );
            }
            Event::Resume { target, .. } => {
                self.engine.resume(target);
            }
            Event::KeyRotated {
                alias, from, to, ..
            } => self.keys.rotated(alias, from, to),
            Event::KeyRolledBack { alias, .. } => self.keys.rolled_back(alias),
            Event::PositionReported {
                identity,
                key,
                symbol,
                size,
            } => self.report_position(identity, key, symbol, *size),
            Event::RefusalsSummarised {
                identity,
                breaker_denials,
                ..
            } => {
                // As many breaker denials as the summary stands for, at its
                // time (at most a second after the refusals it counts).
                for _ in 0..(*breaker_denials).min(100_000) {
                    self.engine.record_denial(identity, rec.ts_ms);
                }
            }
            Event::KeyZeroized { alias, .. } => {
                self.keys.zeroized.insert(alias.clone());
            }
            _ => {}
        }
    }
}
