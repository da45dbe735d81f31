//! Halts: scopes in which new risk is refused. Set by the dead-man's
//! switch when it trips (one identity) and by an operator (one identity,
//! one key, or everything: the kill switch); cleared only by an operator.
//!
//! A halt is part of the policy state so that every venue operation judges
//! it the same way, in the same verdict as the other rules, and so that it
//! is rebuilt from the journal with the rest of the state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

// The scopes are shared vocabulary (the journal records them in halt and
// resume records): they live in `crate::order`.
pub use crate::order::HaltScope;

/// One halt in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Halt {
    /// Why (e.g. "dead-man's switch tripped", or the operator's words).
    pub reason: String,
    /// Cancels, clearing a schedule and reduce-only orders still pass.
    pub reducing_allowed: bool,
    pub since_ms: u64,
}

/// The halts in force.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Halts {
    by_scope: BTreeMap<HaltScope, Halt>,
}

impl Halts {
    /// Set (or replace) the halt on `scope`.
    pub fn set(&mut self, scope: HaltScope, halt: Halt) {
        self.by_scope.insert(scope, halt);
    }

    /// Clear the halt on `scope`; whether there was one.
    pub fn clear(&mut self, scope: &HaltScope) -> bool {
        self.by_scope.remove(scope).is_some()
    }

    /// The halts that cover a request by `identity` with `key`, the widest
    /// first (everything, then the identity, its switch, then the key).
    pub fn covering(&self, identity: &str, key: &str) -> Vec<(&HaltScope, &Halt)> {
        [
            HaltScope::All,
            HaltScope::Identity(identity.to_string()),
            HaltScope::Trip(identity.to_string()),
            HaltScope::Key(key.to_string()),
        ]
        .into_iter()
        .filter_map(|s| self.by_scope.get_key_value(&s))
        .collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&HaltScope, &Halt)> {
        self.by_scope.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.by_scope.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(r: bool) -> Halt {
        Halt {
            reason: "x".into(),
            reducing_allowed: r,
            since_ms: 1,
        }
    }

    #[test]
    fn covering_finds_every_matching_scope() {
        let mut hs = Halts::default();
        assert!(hs.covering("bot", "hl").is_empty());
        hs.set(HaltScope::Key("hl".into()), h(true));
        hs.set(HaltScope::Identity("other".into()), h(true));
        assert_eq!(hs.covering("bot", "hl").len(), 1);
        assert!(hs.covering("bot", "cex").is_empty());
        hs.set(HaltScope::All, h(false));
        let c = hs.covering("bot", "hl");
        assert_eq!(c[0].0, &HaltScope::All);
        assert_eq!(c.len(), 2);
        assert!(hs.clear(&HaltScope::All));
        assert!(!hs.clear(&HaltScope::All));
        assert_eq!(hs.covering("bot", "cex").len(), 0);
    }
}
