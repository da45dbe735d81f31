//! The agent's decision state, all of it rebuilt from the journal at start
//! (invariant 5): a restart must never loosen a limit, clear a breaker or
//! reuse a nonce.
//!
//! Every order decision (allowed or denied by policy) carries what is
//! needed to replay it: venue, key, nonce, typed intents, rule and time.
//! Replaying the records in order hands the policy engine the same calls it
//! saw live; it applies the journaled outcome and never re-judges.

use crate::journal::{Event, Record};
use crate::nonces::NonceBook;
use crate::policy::{Engine, Policy, Request, rule_feeds_breaker};

/// Decision state shared by the order operations.
pub struct State {
    pub nonces: NonceBook,
    pub engine: Engine,
    /// Order decisions replayed at start (for the log line).
    pub replayed_orders: u64,
}

impl State {
    pub fn new(policy: Policy) -> State {
        State {
            nonces: NonceBook::default(),
            engine: Engine::new(policy),
            replayed_orders: 0,
        }
    }

    /// Apply one journal record during replay.
    pub fn replay(&mut self, rec: &Record) {
        match &rec.event {
            Event::Decision(d) => {
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
                self.engine
                    .replay(&req, d.allow, !d.allow && rule_feeds_breaker(&d.rule));
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
            _ => {}
        }
    }
}
