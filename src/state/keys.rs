//! Which token key each alias uses, as the journal's rotations, rollbacks
//! and zeroisations left it.

use std::collections::{BTreeMap, BTreeSet};

use crate::journal::KeyRef;

/// Which token key each alias uses, as rotations, rollbacks and
/// zeroisations left it (the config names each alias's first key).
#[derive(Debug, Default)]
pub struct KeyHistory {
    /// alias → the keys it has used, oldest first; the last is current.
    /// Absent: the alias still uses its configured key.
    pub chain: BTreeMap<String, Vec<KeyRef>>,
    pub zeroized: BTreeSet<String>,
}

impl KeyHistory {
    /// The key `alias` uses now, if a rotation changed it.
    pub fn current(&self, alias: &str) -> Option<&KeyRef> {
        self.chain.get(alias).and_then(|c| c.last())
    }

    /// The key a rollback of `alias` would restore.
    pub fn previous(&self, alias: &str) -> Option<&KeyRef> {
        let c = self.chain.get(alias)?;
        c.len().checked_sub(2).map(|i| &c[i])
    }

    pub fn rotated(&mut self, alias: &str, from: &KeyRef, to: &KeyRef) {
        let c = self.chain.entry(alias.to_string()).or_default();
        if c.is_empty() {
            c.push(from.clone());
        }
        c.push(to.clone());
    }

    /// Undo the last rotation. The chain keeps its first (configured) key,
    /// so the alias stays pinned to it even if the config changes later.
    pub fn rolled_back(&mut self, alias: &str) {
        if let Some(c) = self.chain.get_mut(alias)
            && c.len() > 1
        {
            c.pop();
        }
    }
}
