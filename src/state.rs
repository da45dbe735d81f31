//! The agent's decision state, all of it rebuilt from the journal at start
//! (invariant 5): a restart must never loosen a limit or reuse a nonce.
//!
//! Every allowed order decision carries what is needed to replay it (venue,
//! key, nonce, typed intents, time); replaying the records in order brings
//! the state back to where the last run left it.

use crate::journal::{Event, Record};
use crate::nonces::NonceBook;

/// Decision state shared by the order operations.
#[derive(Debug, Default)]
pub struct State {
    pub nonces: NonceBook,
    /// Allowed order decisions replayed at start (for the log line).
    pub replayed_orders: u64,
}

impl State {
    /// Apply one journal record during replay.
    pub fn replay(&mut self, rec: &Record) {
        if let Event::Decision(d) = &rec.event {
            if !d.allow {
                return;
            }
            if let (Some(_venue), Some(key), Some(nonce)) = (&d.venue, &d.key, d.nonce) {
                self.nonces.record(key, nonce);
                self.replayed_orders += 1;
            }
        }
    }
}
