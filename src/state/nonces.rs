//! Nonces for venues that use them (Hyperliquid): assigned by the agent
//! when the bot leaves them out, checked when the bot supplies one.
//!
//! Hyperliquid accepts a nonce only if it is within (now − 2 days,
//! now + 1 day) and larger than the smallest of the 100 highest nonces
//! already used by that signer, and unused. The agent keeps the same 100
//! per key, so it never signs something the venue would treat as a replay,
//! and never hands out the same nonce twice. The book is rebuilt from the
//! journal at start (every allowed decision records its nonce), so
//! assigned nonces keep increasing across restarts even if the clock
//! steps back.

use std::collections::{BTreeSet, HashMap};

/// How many of the highest used nonces are kept per key.
pub const KEEP: usize = 100;
/// How far in the past a nonce may lie.
pub const MAX_AGE_MS: u64 = 2 * 24 * 3600 * 1000;
/// How far in the future a nonce may lie.
pub const MAX_AHEAD_MS: u64 = 24 * 3600 * 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NonceError {
    #[error("nonce {nonce} was already used with this key")]
    Reused { nonce: u64 },
    #[error(
        "nonce {nonce} is not above the lowest of the last {KEEP} nonces used with this key ({floor}); the venue would reject it"
    )]
    TooLow { nonce: u64, floor: u64 },
    #[error("nonce {nonce} is outside the venue's window ({min}..{max} at this time)")]
    OutOfWindow { nonce: u64, min: u64, max: u64 },
}

/// Used nonces per key.
#[derive(Debug, Default, Clone)]
pub struct NonceBook {
    used: HashMap<String, BTreeSet<u64>>,
}

impl NonceBook {
    /// Record a nonce as used (on allow, and when replaying the journal).
    pub fn record(&mut self, key: &str, nonce: u64) {
        let set = self.used.entry(key.to_string()).or_default();
        set.insert(nonce);
        while set.len() > KEEP {
            set.pop_first();
        }
    }

    /// A fresh nonce: the current time in milliseconds, or one more than
    /// the highest used if that is later.
    pub fn assign(&self, key: &str, now_ms: u64) -> u64 {
        let highest = self
            .used
            .get(key)
            .and_then(|s| s.last().copied())
            .unwrap_or(0);
        now_ms.max(highest + 1)
    }

    /// Check a nonce the caller supplied.
    pub fn check(&self, key: &str, nonce: u64, now_ms: u64) -> Result<(), NonceError> {
        let min = now_ms.saturating_sub(MAX_AGE_MS);
        let max = now_ms + MAX_AHEAD_MS;
        if nonce <= min || nonce >= max {
            return Err(NonceError::OutOfWindow { nonce, min, max });
        }
        if let Some(set) = self.used.get(key) {
            if set.contains(&nonce) {
                return Err(NonceError::Reused { nonce });
            }
            if set.len() >= KEEP {
                let floor = *set.first().expect("non-empty");
                if nonce <= floor {
                    return Err(NonceError::TooLow { nonce, floor });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    #[test]
    fn assigned_nonces_increase_even_when_the_clock_steps_back() {
        let mut b = NonceBook::default();
        let a = b.assign("k", NOW);
        assert_eq!(a, NOW);
        b.record("k", a);
        assert_eq!(b.assign("k", NOW), NOW + 1);
        assert_eq!(b.assign("k", NOW - 5000), NOW + 1);
        assert_eq!(b.assign("other", NOW - 5000), NOW - 5000);
    }

    #[test]
    fn supplied_nonces_are_checked() {
        let mut b = NonceBook::default();
        assert!(b.check("k", NOW, NOW).is_ok());
        b.record("k", NOW);
        assert_eq!(
            b.check("k", NOW, NOW),
            Err(NonceError::Reused { nonce: NOW })
        );
        assert!(
            b.check("k", NOW - 10, NOW).is_ok(),
            "below the highest is fine while fewer than 100 are used"
        );
        assert!(matches!(
            b.check("k", NOW - MAX_AGE_MS, NOW),
            Err(NonceError::OutOfWindow { .. })
        ));
        assert!(b.check("k", NOW - MAX_AGE_MS + 1, NOW).is_ok());
        assert!(matches!(
            b.check("k", NOW + MAX_AHEAD_MS, NOW),
            Err(NonceError::OutOfWindow { .. })
        ));
        assert!(b.check("k", NOW + MAX_AHEAD_MS - 1, NOW).is_ok());
        for i in 1..=100 {
            b.record("k", NOW + i);
        }
        // The set holds NOW+1..=NOW+100: NOW itself fell out, and anything
        // at or below the floor is refused.
        assert_eq!(
            b.check("k", NOW + 1, NOW),
            Err(NonceError::Reused { nonce: NOW + 1 })
        );
        assert_eq!(
            b.check("k", NOW, NOW),
            Err(NonceError::TooLow {
                nonce: NOW,
                floor: NOW + 1
            })
        );
        assert!(b.check("k", NOW + 101, NOW).is_ok());
    }
}
