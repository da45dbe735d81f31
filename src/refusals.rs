//! What a refusal may cost the journal. Every refusal is journaled, but a
//! hostile bot must not be able to fill the disk by sending refused
//! requests, so two bounds hold (docs/journal.md, "Bounded refusals"):
//!
//! - **Size.** A refusal's record keeps what the operator needs (the rule,
//!   a reason naming limits and observed values, the request's digest and
//!   size) and the typed intents only while they are small; a reason is cut
//!   to `MAX_REASON_CHARS`, and intents larger than `MAX_INTENTS_BYTES`
//!   when encoded are left out (their count is kept).
//! - **Rate.** Each identity may have `BURST` refusals recorded one by one,
//!   refilled at `PER_SEC` a second. Beyond that its refusals are counted,
//!   by rule, and written as one summary record at most once a second
//!   (`Event::RefusalsSummarised`); the caller still gets its structured
//!   error. A summary replays into the identity's circuit breaker like the
//!   refusals it stands for.
//!
//! So one identity adds at most about (`PER_SEC` + 1) records of bounded
//! size a second to the journal, whatever it sends.

use std::collections::{BTreeMap, HashMap};

use crate::journal::{Decision, Event};
use crate::order::Intent;

/// Longest reason kept in a refusal's record, in characters.
pub const MAX_REASON_CHARS: usize = 1024;
/// Largest encoded intents kept in a refusal's record, in bytes.
pub const MAX_INTENTS_BYTES: usize = 4096;
/// Refusals an identity may have recorded one by one in a burst.
pub const BURST: u64 = 100;
/// Refill of that allowance, per second.
pub const PER_SEC: u64 = 10;
/// Shortest time between two summaries of one identity.
pub const SUMMARY_EVERY_MS: u64 = 1000;

/// Cut `d` (a refusal) down to the bounded size: the reason and, when too
/// large, the intents. `request_bytes` is the size of the request as
/// received (its parameters, encoded).
pub fn bound(d: &mut Decision, request_bytes: usize) {
    d.request_bytes = Some(request_bytes as u64);
    if d.reason.chars().count() > MAX_REASON_CHARS {
        let mut cut: String = d.reason.chars().take(MAX_REASON_CHARS).collect();
        cut.push_str(" …(cut)");
        d.reason = cut;
    }
    if let Some(intents) = &d.intents
        && encoded_len(intents) > MAX_INTENTS_BYTES
    {
        d.intents_omitted = Some(intents.len() as u64);
        d.intents = None;
    }
}

fn encoded_len(intents: &[Intent]) -> usize {
    serde_json::to_vec(intents).map_or(usize::MAX, |v| v.len())
}

/// What to journal for one refusal.
#[derive(Debug, Clone, PartialEq)]
pub struct Admit {
    /// Journal the refusal's own record.
    pub record: bool,
    /// Journal this summary of earlier refusals (before the record, if any).
    pub summary: Option<Event>,
}

impl Admit {
    /// The records to journal, in order, given the refusal's own record.
    pub fn into_events(self, record: Event) -> Vec<Event> {
        self.summary
            .into_iter()
            .chain(self.record.then_some(record))
            .collect()
    }
}

#[derive(Debug, Clone, Default)]
struct Entry {
    /// Allowance in thousandths of a record (integer refill, no drift).
    milli_tokens: u64,
    refilled_ms: u64,
    count: u64,
    breaker: u64,
    by_rule: BTreeMap<String, u64>,
    first_ms: u64,
    last_summary_ms: u64,
}

/// The per-identity allowances (live only: nothing here is journaled state).
#[derive(Debug, Default)]
pub struct Refusals {
    identities: HashMap<String, Entry>,
}

impl Refusals {
    /// Account for one refusal of `identity` under `rule` at `now_ms`;
    /// `feeds_breaker`: it counted towards the identity's breaker.
    pub fn admit(&mut self, identity: &str, rule: &str, feeds_breaker: bool, now_ms: u64) -> Admit {
        let e = self
            .identities
            .entry(identity.to_string())
            .or_insert_with(|| Entry {
                milli_tokens: BURST * 1000,
                refilled_ms: now_ms,
                ..Entry::default()
            });
        let elapsed = now_ms.saturating_sub(e.refilled_ms);
        e.milli_tokens = (e.milli_tokens + elapsed.saturating_mul(PER_SEC)).min(BURST * 1000);
        e.refilled_ms = e.refilled_ms.max(now_ms);
        let record = e.milli_tokens >= 1000;
        if record {
            e.milli_tokens -= 1000;
        } else {
            if e.count == 0 {
                e.first_ms = now_ms;
            }
            e.count += 1;
            e.breaker += u64::from(feeds_breaker);
            *e.by_rule.entry(rule.to_string()).or_default() += 1;
        }
        let due = e.count > 0 && now_ms >= e.last_summary_ms.saturating_add(SUMMARY_EVERY_MS);
        let summary = due.then(|| {
            e.last_summary_ms = now_ms;
            Event::RefusalsSummarised {
                identity: identity.to_string(),
                count: std::mem::take(&mut e.count),
                breaker_denials: std::mem::take(&mut e.breaker),
                by_rule: std::mem::take(&mut e.by_rule),
                first_ms: e.first_ms,
                last_ms: now_ms,
            }
        });
        Admit { record, summary }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(reason: String, intents: Option<Vec<Intent>>) -> Decision {
        Decision {
            identity: "bot".into(),
            uid: 1,
            pid: None,
            request_id: 1,
            op: "rest.sign_request".into(),
            key: Some("k".into()),
            request_sha256: "00".repeat(32),
            allow: false,
            rule: "max_orders_per_request".into(),
            reason,
            payload_sha256: None,
            venue: Some("binance".into()),
            nonce: None,
            intents,
            request_bytes: None,
            intents_omitted: None,
        }
    }

    #[test]
    fn a_huge_refusal_is_cut_to_a_bounded_record() {
        let cancel = Intent::Cancel {
            symbol: "BTCUSDT".into(),
            order: crate::order::OrderRef::Cloid("x".repeat(36)),
        };
        let mut d = decision("y".repeat(100_000), Some(vec![cancel.clone(); 10_000]));
        bound(&mut d, 1_000_000);
        let len = serde_json::to_vec(&Event::Decision(d.clone()))
            .unwrap()
            .len();
        assert!(len < 2 * MAX_REASON_CHARS + 1024, "{len} bytes");
        assert_eq!(
            (d.intents, d.intents_omitted, d.request_bytes),
            (None, Some(10_000), Some(1_000_000))
        );
        // A small one keeps everything.
        let mut d = decision("short".into(), Some(vec![cancel.clone()]));
        bound(&mut d, 100);
        assert_eq!(d.intents, Some(vec![cancel]));
        assert_eq!((d.reason.as_str(), d.intents_omitted), ("short", None));
    }

    #[test]
    fn a_flood_of_refusals_becomes_one_summary_a_second() {
        let mut r = Refusals::default();
        let mut records = 0;
        let mut summaries = Vec::new();
        // 10 000 refusals within 2 s (5 a ms).
        for i in 0..10_000u64 {
            let a = r.admit("bot", "symbol_not_allowed", true, 1_000_000 + i / 5);
            records += u64::from(a.record);
            summaries.extend(a.summary);
        }
        // The burst, plus the refill over 2 s.
        assert!(
            (BURST..=BURST + 2 * PER_SEC + 1).contains(&records),
            "{records}"
        );
        assert!(summaries.len() <= 3, "{}", summaries.len());
        // Nothing lost: records + summarised = all.
        let summarised: u64 = summaries
            .iter()
            .map(|s| match s {
                Event::RefusalsSummarised { count, .. } => *count,
                _ => 0,
            })
            .sum();
        let pending = r.identities["bot"].count;
        assert_eq!(records + summarised + pending, 10_000);
        // Another identity has its own allowance.
        assert!(r.admit("other", "x", false, 1_002_000).record);
        // After a quiet second the next refusal is recorded, with the
        // summary of what was pending.
        let a = r.admit("bot", "symbol_not_allowed", true, 1_010_000);
        assert!(a.record);
        assert_eq!(
            a.summary.map(|s| match s {
                Event::RefusalsSummarised { count, .. } => count,
                _ => 0,
            }),
            (pending > 0).then_some(pending)
        );
    }
}
