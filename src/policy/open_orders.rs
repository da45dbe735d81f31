//! Conservative open-order accounting.
//!
//! The agent cannot see fills or cancels at the venue. Every authorised
//! opening order (not reduce-only) therefore counts as open, with its full
//! notional, from the moment it is authorised until either
//!
//! - the bot reports it closed (`report_closed`, by client order id), or
//! - its TTL runs out (`open_order_ttl_ms` of its key, from the time it was
//!   authorised).
//!
//! An authorised cancel does not close anything: signing a cancel says
//! nothing about whether it reached the venue, or whether the order filled
//! first; and a compromised bot could sign cancels it never sends to free
//! headroom. Likewise a modify counts its new version as a new open order
//! and leaves the old one counted (the venue may have filled the old one, or
//! rejected the modify).
//!
//! Running totals per identity and per key make a check cost only the
//! entries that have expired since the last prune.

use std::collections::{BTreeMap, BTreeSet};

use super::verdict::Scope;

/// One authorised opening order, as counted.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenOrder {
    pub identity: String,
    pub key: String,
    pub symbol: String,
    pub client_id: Option<String>,
    /// price × size in 10^-8 units, rounded up (see `amount`).
    pub(crate) notional_units: i128,
    pub placed_ms: u64,
    pub expires_ms: u64,
}

impl OpenOrder {
    /// price × size as counted (rounded up to 8 decimal places).
    pub fn notional(&self) -> rust_decimal::Decimal {
        super::amount::to_decimal(self.notional_units)
    }

    fn in_scope(&self, scope: &Scope) -> bool {
        match scope {
            Scope::Identity(i) => *i == self.identity,
            Scope::Key(k) => *k == self.key,
        }
    }
}

/// Count and notional of the orders counted as open in one scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub count: u64,
    pub notional: i128,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpenBook {
    /// By (expiry, sequence number).
    orders: BTreeMap<(u64, u64), OpenOrder>,
    /// (key, client id) → entries, for closing by report.
    by_client: BTreeMap<(String, String), BTreeSet<(u64, u64)>>,
    /// Totals over every entry in `orders`, expired or not.
    totals: BTreeMap<Scope, Tally>,
    next_seq: u64,
}

impl OpenBook {
    /// Orders counted as open in `scope` at `now` (open while
    /// `now < expires_ms`).
    pub fn tally(&self, scope: &Scope, now_ms: u64) -> Tally {
        let mut t = self.totals.get(scope).copied().unwrap_or_default();
        for o in self.expired(now_ms).filter(|o| o.in_scope(scope)) {
            t.count -= 1;
            t.notional -= o.notional_units;
        }
        t
    }

    fn expired(&self, now_ms: u64) -> impl Iterator<Item = &OpenOrder> {
        self.orders.range(..=(now_ms, u64::MAX)).map(|(_, o)| o)
    }

    /// The orders counted as open at `now`, oldest expiry first.
    pub fn open_at(&self, now_ms: u64) -> impl Iterator<Item = &OpenOrder> {
        self.orders
            .range((now_ms.saturating_add(1), 0)..)
            .map(|(_, o)| o)
            .filter(move |_| now_ms < u64::MAX)
    }

    pub fn insert(&mut self, order: OpenOrder) {
        let id = (order.expires_ms, self.next_seq);
        self.next_seq += 1;
        for scope in scopes(&order) {
            let t = self.totals.entry(scope).or_default();
            t.count += 1;
            t.notional += order.notional_units;
        }
        if let Some(c) = &order.client_id {
            self.by_client
                .entry((order.key.clone(), c.clone()))
                .or_default()
                .insert(id);
        }
        self.orders.insert(id, order);
    }

    fn remove(&mut self, id: (u64, u64)) {
        let Some(order) = self.orders.remove(&id) else {
            return;
        };
        for scope in scopes(&order) {
            if let Some(t) = self.totals.get_mut(&scope) {
                t.count -= 1;
                t.notional -= order.notional_units;
                if t.count == 0 {
                    self.totals.remove(&scope);
                }
            }
        }
        if let Some(c) = order.client_id {
            let k = (order.key, c);
            if let Some(set) = self.by_client.get_mut(&k) {
                set.remove(&id);
                if set.is_empty() {
                    self.by_client.remove(&k);
                }
            }
        }
    }

    /// Close every counted order of `key` with this client id (a venue keeps
    /// at most one live order per client id, so every counted version of it
    /// is gone once the bot reports it closed). Returns how many.
    pub fn close(&mut self, key: &str, client_id: &str) -> usize {
        let ids = self
            .by_client
            .get(&(key.to_string(), client_id.to_string()))
            .cloned()
            .unwrap_or_default();
        for id in &ids {
            self.remove(*id);
        }
        ids.len()
    }

    /// Drop the orders whose TTL has run out at `now`.
    pub fn expire(&mut self, now_ms: u64) {
        let ids: Vec<_> = self
            .orders
            .range(..=(now_ms, u64::MAX))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.remove(id);
        }
    }

    /// How long until expiries alone free `excess` (by `weight`: 1 per order
    /// for a count, the notional for notional) in `scope`; `None` if all
    /// the open orders together weigh less than `excess`.
    pub fn retry_after(
        &self,
        scope: &Scope,
        now_ms: u64,
        excess: i128,
        weight: impl Fn(&OpenOrder) -> i128,
    ) -> Option<u64> {
        let mut freed = 0;
        for o in self.open_at(now_ms).filter(|o| o.in_scope(scope)) {
            freed += weight(o);
            if freed >= excess {
                return Some(o.expires_ms - now_ms);
            }
        }
        None
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.orders.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }
}

fn scopes(o: &OpenOrder) -> [Scope; 2] {
    [
        Scope::Identity(o.identity.clone()),
        Scope::Key(o.key.clone()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(identity: &str, key: &str, cid: Option<&str>, notional: i128, exp: u64) -> OpenOrder {
        OpenOrder {
            identity: identity.into(),
            key: key.into(),
            symbol: "BTC".into(),
            client_id: cid.map(Into::into),
            notional_units: notional,
            placed_ms: 0,
            expires_ms: exp,
        }
    }

    fn id(s: &str) -> Scope {
        Scope::Identity(s.into())
    }
    fn key(s: &str) -> Scope {
        Scope::Key(s.into())
    }

    #[test]
    fn tallies_expire_at_the_boundary() {
        let mut b = OpenBook::default();
        b.insert(order("bot", "hl", Some("a"), 100, 1000));
        b.insert(order("bot", "bn", None, 50, 2000));
        b.insert(order("mm", "hl", Some("a"), 7, 3000));
        // (scope, now, count, notional)
        let cases = [
            (id("bot"), 0, 2, 150),
            (id("bot"), 999, 2, 150),
            (id("bot"), 1000, 1, 50),
            (id("bot"), 1999, 1, 50),
            (id("bot"), 2000, 0, 0),
            (key("hl"), 999, 2, 107),
            (key("hl"), 1000, 1, 7),
            (key("hl"), 3000, 0, 0),
            (id("nobody"), 0, 0, 0),
        ];
        for (scope, now, count, notional) in cases {
            assert_eq!(
                b.tally(&scope, now),
                Tally { count, notional },
                "{scope:?} at {now}"
            );
        }
        assert_eq!(b.open_at(999).count(), 3);
        assert_eq!(b.open_at(1000).count(), 2);
        b.expire(1000);
        assert_eq!(b.len(), 2);
        assert_eq!(
            b.tally(&id("bot"), 0),
            Tally {
                count: 1,
                notional: 50
            }
        );
    }

    #[test]
    fn closing_by_client_id() {
        let mut b = OpenBook::default();
        b.insert(order("bot", "hl", Some("a"), 100, 1000));
        b.insert(order("bot", "hl", Some("a"), 120, 1500)); // a modified version
        b.insert(order("bot", "bn", Some("a"), 50, 2000)); // same id, other key
        b.insert(order("bot", "hl", Some("b"), 10, 2000));
        assert_eq!(b.close("hl", "zz"), 0);
        assert_eq!(b.close("hl", "a"), 2);
        assert_eq!(b.close("hl", "a"), 0);
        assert_eq!(
            b.tally(&key("hl"), 0),
            Tally {
                count: 1,
                notional: 10
            }
        );
        assert_eq!(
            b.tally(&id("bot"), 0),
            Tally {
                count: 2,
                notional: 60
            }
        );
        assert_eq!(b.close("bn", "a"), 1);
        assert_eq!(b.close("hl", "b"), 1);
        assert!(b.is_empty());
        assert!(b.totals.is_empty() && b.by_client.is_empty());
    }

    #[test]
    fn retry_after_counts_expiries() {
        let mut b = OpenBook::default();
        b.insert(order("bot", "hl", None, 100, 1000));
        b.insert(order("bot", "hl", None, 50, 2000));
        b.insert(order("mm", "hl", None, 70, 1500));
        let s = id("bot");
        assert_eq!(b.retry_after(&s, 100, 1, |_| 1), Some(900));
        assert_eq!(b.retry_after(&s, 100, 2, |_| 1), Some(1900));
        assert_eq!(b.retry_after(&s, 100, 3, |_| 1), None);
        assert_eq!(
            b.retry_after(&s, 100, 101, |o| o.notional_units),
            Some(1900)
        );
        assert_eq!(
            b.retry_after(&key("hl"), 100, 101, |o| o.notional_units),
            Some(1400)
        );
        assert_eq!(b.retry_after(&s, 1000, 1, |_| 1), Some(1000));
    }
}
