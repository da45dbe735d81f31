//! Summing journal records into the report: [`Aggregate`] takes every
//! record of the journal in order and counts those in the period, joining
//! outcomes (signatures, on-trip command results) found after it.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{
    ABSENT_SECTIONS, AbsentOut, ActionDetail, CheckpointsOut, DecisionsOut, HOOK_OUTPUT_CHARS,
    HeartbeatsOut, JournalOut, LifecycleOut, NoteOut, NotionalOut, OperatorActionOut,
    OperatorActionsOut, OrderCounts, OrdersOut, PeerRefusalsOut, PeriodOut, REPORT_VERSION,
    RecordsOut, Report, SigningOut, StartOut, StopOut, Tally, TransfersOut, TripHookOut, TripOut,
    TripsOut, add_checked,
};
use super::time::{Period, format_rfc3339};
use crate::journal::record::{Decision, Event, Record};
use crate::journal::segment::Summary;
use crate::journal::verify;
use crate::order::{Intent, NewOrder};

/// Every record kind, in the order the report lists them.
pub(super) const KINDS: &[&str] = &[
    "start",
    "stop",
    "decision",
    "signature",
    "sign_failed",
    "peer_refused",
    "checkpoint",
    "order_closed",
    "position_reported",
    "price_refused",
    "refusals_summarised",
    "heartbeat",
    "trip",
    "trip_hook",
    "halt",
    "resume",
    "rearm",
    "pause",
    "policy_reload",
    "key_rotated",
    "key_rolled_back",
    "key_zeroized",
    "note",
];

/// The operator action kinds: `operator_actions.by_kind` counts each,
/// zeros included, so a quiet period reads as zero rather than missing.
pub(super) const OPERATOR_KINDS: &[&str] = &[
    "halt",
    "resume",
    "rearm",
    "pause",
    "policy_reload",
    "key_rotated",
    "key_rolled_back",
    "key_zeroized",
];

/// Tallies records as they are read.
#[derive(Debug, Clone)]
pub struct Aggregate {
    period: Period,
    records: RecordsOut,
    decisions: DecisionsOut,
    signing: SigningOut,
    peer_refusals: PeerRefusalsOut,
    lifecycle: LifecycleOut,
    heartbeats: HeartbeatsOut,
    trips: TripsOut,
    operator_actions: OperatorActionsOut,
    checkpoints: CheckpointsOut,
    orders: OrdersOut,
    notional: NotionalOut,
    transfers: TransfersOut,
    /// Allowed decisions in the period still waiting for their outcome.
    open_allowed: BTreeSet<u64>,
    /// Trips in the period still waiting for their hook's outcome: trip
    /// seq → index in `trips.list`.
    open_trips: BTreeMap<u64, usize>,
}

/// The symbol an intent is about, if it names one.
fn intent_symbol(i: &Intent) -> Option<&str> {
    match i {
        Intent::Place(o) | Intent::Modify { new: o, .. } => Some(&o.symbol),
        Intent::Cancel { symbol, .. }
        | Intent::SetLeverage { symbol, .. }
        | Intent::AdjustMargin { symbol, .. } => Some(symbol),
        Intent::ScheduleCancel { .. }
        | Intent::Transfer { .. }
        | Intent::Approve { .. }
        | Intent::InvalidateNonce => None,
    }
}

/// The entry of identity → key → symbol.
fn nested<'a, T: Default>(
    m: &'a mut BTreeMap<String, BTreeMap<String, BTreeMap<String, T>>>,
    a: &str,
    b: &str,
    c: &str,
) -> &'a mut T {
    m.entry(a.to_string())
        .or_default()
        .entry(b.to_string())
        .or_default()
        .entry(c.to_string())
        .or_default()
}

impl Aggregate {
    pub fn new(period: Period) -> Aggregate {
        Aggregate {
            period,
            records: RecordsOut {
                by_kind: KINDS.iter().map(|k| (k.to_string(), 0)).collect(),
                ..RecordsOut::default()
            },
            decisions: DecisionsOut::default(),
            signing: SigningOut::default(),
            peer_refusals: PeerRefusalsOut::default(),
            lifecycle: LifecycleOut::default(),
            heartbeats: HeartbeatsOut::default(),
            trips: TripsOut::default(),
            operator_actions: OperatorActionsOut {
                by_kind: OPERATOR_KINDS.iter().map(|k| (k.to_string(), 0)).collect(),
                ..OperatorActionsOut::default()
            },
            checkpoints: CheckpointsOut::default(),
            orders: OrdersOut::default(),
            notional: NotionalOut::default(),
            transfers: TransfersOut::default(),
            open_allowed: BTreeSet::new(),
            open_trips: BTreeMap::new(),
        }
    }

    /// Summarise the typed intents of a decision in the period. Decisions
    /// that name no key are listed under the key `""`.
    fn add_intents(&mut self, d: &Decision, intents: &[Intent]) {
        let key = d.key.as_deref().unwrap_or("");
        let mut denied_symbols = BTreeSet::new();
        for intent in intents {
            if !d.allow
                && let Some(symbol) = intent_symbol(intent)
            {
                denied_symbols.insert(symbol);
            }
            match intent {
                Intent::Place(o) => {
                    self.count_order(d, key, &o.symbol, |c| &mut c.placed);
                    self.add_notional(d, key, o);
                }
                Intent::Modify { new, .. } => {
                    self.count_order(d, key, &new.symbol, |c| &mut c.modified);
                    self.add_notional(d, key, new);
                }
                Intent::Cancel { symbol, .. } => {
                    self.count_order(d, key, symbol, |c| &mut c.cancelled);
                }
                Intent::Transfer {
                    destination,
                    asset,
                    amount,
                    ..
                } => {
                    if !d.allow {
                        self.transfers.denied += 1;
                        continue;
                    }
                    self.transfers.allowed += 1;
                    let t = nested(&mut self.transfers.by_key, key, destination, asset);
                    if add_checked(&mut t.amount, Some(*amount)) {
                        t.transfers += 1;
                    } else {
                        t.unrepresentable += 1;
                    }
                }
                Intent::SetLeverage { .. }
                | Intent::AdjustMargin { .. }
                | Intent::ScheduleCancel { .. }
                | Intent::Approve { .. }
                | Intent::InvalidateNonce => {}
            }
        }
        if !denied_symbols.is_empty() {
            let by_symbol = self
                .decisions
                .denials_by_rule_and_symbol
                .entry(d.rule.clone())
                .or_default();
            for symbol in denied_symbols {
                *by_symbol.entry(symbol.to_string()).or_default() += 1;
            }
        }
    }

    fn count_order(
        &mut self,
        d: &Decision,
        key: &str,
        symbol: &str,
        pick: fn(&mut OrderCounts) -> &mut Tally,
    ) {
        let o = &mut self.orders;
        pick(&mut o.total).add(d.allow);
        pick(o.by_symbol.entry(symbol.to_string()).or_default()).add(d.allow);
        pick(nested(&mut o.by_identity, &d.identity, key, symbol)).add(d.allow);
    }

    /// Add an allowed order's notional, computed with checked arithmetic
    /// (never [`NewOrder::notional`], which panics on overflow).
    fn add_notional(&mut self, d: &Decision, key: &str, o: &NewOrder) {
        if !d.allow {
            return;
        }
        let n = o.notional();
        let t = &mut self.notional;
        let a = t.by_symbol.entry(o.symbol.clone()).or_default().add(n);
        let b = nested(&mut t.by_identity, &d.identity, key, &o.symbol).add(n);
        if !(a && b) {
            t.unrepresentable += 1;
        }
    }

    /// List an operator action in the period.
    fn operator_action(&mut self, rec: &Record, by: &str, detail: ActionDetail) {
        let kind = rec.event.kind();
        let a = &mut self.operator_actions;
        a.total += 1;
        *a.by_kind.entry(kind.to_string()).or_default() += 1;
        a.list.push(OperatorActionOut {
            seq: rec.seq,
            time: format_rfc3339(rec.ts_ms),
            ts_ms: rec.ts_ms,
            kind,
            by: by.to_string(),
            detail,
        });
    }

    /// Take one record (every record of the journal, in order: outcomes
    /// after the period still settle decisions and trips inside it).
    pub fn add(&mut self, rec: &Record) {
        if let Event::Signature { decision, .. } | Event::SignFailed { decision, .. } = &rec.event {
            self.open_allowed.remove(decision);
        }
        if let Event::TripHook {
            trip,
            ok,
            exit_code,
            instructions,
            output,
            ..
        } = &rec.event
            && let Some(i) = self.open_trips.remove(trip)
        {
            self.trips.list[i].hook = Some(TripHookOut {
                seq: rec.seq,
                time: format_rfc3339(rec.ts_ms),
                ts_ms: rec.ts_ms,
                ok: *ok,
                exit_code: *exit_code,
                instructions: *instructions,
                output: output.chars().take(HOOK_OUTPUT_CHARS).collect(),
                output_truncated: output.chars().nth(HOOK_OUTPUT_CHARS).is_some(),
            });
        }
        if !self.period.contains(rec.ts_ms) {
            return;
        }
        let r = &mut self.records;
        r.total += 1;
        r.first_seq.get_or_insert(rec.seq);
        r.last_seq = Some(rec.seq);
        *r.by_kind.entry(rec.event.kind().to_string()).or_default() += 1;
        let time = || format_rfc3339(rec.ts_ms);
        match &rec.event {
            Event::Decision(d) => {
                let s = &mut self.decisions;
                s.total += 1;
                if d.allow {
                    s.allowed += 1;
                    self.open_allowed.insert(rec.seq);
                } else {
                    s.denied += 1;
                    *s.denials_by_rule.entry(d.rule.clone()).or_default() += 1;
                }
                s.by_identity
                    .entry(d.identity.clone())
                    .or_default()
                    .add(d.allow);
                match &d.key {
                    Some(k) => s.by_key.entry(k.clone()).or_default().add(d.allow),
                    None => s.without_key.add(d.allow),
                }
                s.by_op.entry(d.op.clone()).or_default().add(d.allow);
                if let Some(intents) = d.intents.as_deref().filter(|i| !i.is_empty()) {
                    s.with_intents += 1;
                    self.add_intents(d, intents);
                }
            }
            Event::Signature { key, .. } => {
                self.signing.signatures += 1;
                self.signing
                    .by_key
                    .entry(key.clone())
                    .or_default()
                    .signatures += 1;
            }
            Event::SignFailed { key, .. } => {
                self.signing.sign_failures += 1;
                self.signing
                    .by_key
                    .entry(key.clone())
                    .or_default()
                    .sign_failures += 1;
            }
            // Counted by kind above; the per-order detail is in the journal.
            Event::OrderClosed { .. }
            | Event::PositionReported { .. }
            | Event::PriceRefused { .. }
            | Event::RefusalsSummarised { .. } => {}
            Event::Heartbeat { identity, .. } => {
                self.heartbeats.total += 1;
                *self
                    .heartbeats
                    .by_identity
                    .entry(identity.clone())
                    .or_default() += 1;
            }
            Event::Trip {
                identity,
                deadline_ms,
                reason,
            } => {
                let t = &mut self.trips;
                t.total += 1;
                *t.by_identity.entry(identity.clone()).or_default() += 1;
                self.open_trips.insert(rec.seq, t.list.len());
                t.list.push(TripOut {
                    seq: rec.seq,
                    time: time(),
                    ts_ms: rec.ts_ms,
                    identity: identity.clone(),
                    deadline_ms: *deadline_ms,
                    late_ms: rec.ts_ms.saturating_sub(*deadline_ms),
                    reason: reason.clone(),
                    hook: None,
                });
            }
            // Joined to its trip above, wherever it lies.
            Event::TripHook { .. } => {}
            Event::Halt {
                target,
                reason,
                reducing_allowed,
                by,
            } => self.operator_action(
                rec,
                by,
                ActionDetail::Halt {
                    target: target.clone(),
                    reason: reason.clone(),
                    reducing_allowed: *reducing_allowed,
                },
            ),
            Event::Resume { target, by } => self.operator_action(
                rec,
                by,
                ActionDetail::Resume {
                    target: target.clone(),
                },
            ),
            Event::Rearm {
                identity,
                timeout_ms,
                deadline_ms,
                by,
            } => self.operator_action(
                rec,
                by,
                ActionDetail::Rearm {
                    identity: identity.clone(),
                    timeout_ms: *timeout_ms,
                    deadline_ms: *deadline_ms,
                },
            ),
            Event::Pause {
                identity,
                until_ms,
                reason,
                by,
            } => self.operator_action(
                rec,
                by,
                ActionDetail::Pause {
                    identity: identity.clone(),
                    until_ms: *until_ms,
                    reason: reason.clone(),
                },
            ),
            Event::PolicyReload { sha256, by } => self.operator_action(
                rec,
                by,
                ActionDetail::PolicyReload {
                    sha256: sha256.clone(),
                },
            ),
            Event::KeyRotated {
                alias,
                from,
                to,
                by,
            }
            | Event::KeyRolledBack {
                alias,
                from,
                to,
                by,
            } => self.operator_action(
                rec,
                by,
                ActionDetail::KeyChange {
                    alias: alias.clone(),
                    from: from.clone(),
                    to: to.clone(),
                },
            ),
            Event::KeyZeroized { alias, keys, by } => self.operator_action(
                rec,
                by,
                ActionDetail::KeyZeroized {
                    alias: alias.clone(),
                    keys: keys.clone(),
                },
            ),
            Event::PeerRefused { uid, .. } => {
                self.peer_refusals.total += 1;
                *self.peer_refusals.by_uid.entry(*uid).or_default() += 1;
            }
            Event::Start {
                version,
                pid,
                config_sha256,
                keys,
                ..
            } => self.lifecycle.starts.push(StartOut {
                seq: rec.seq,
                time: time(),
                ts_ms: rec.ts_ms,
                version: version.clone(),
                pid: *pid,
                config_sha256: config_sha256.clone(),
                keys: keys.iter().map(|k| k.alias.clone()).collect(),
            }),
            Event::Stop { reason } => self.lifecycle.stops.push(StopOut {
                seq: rec.seq,
                time: time(),
                ts_ms: rec.ts_ms,
                reason: reason.clone(),
            }),
            Event::Note { message } => self.lifecycle.notes.push(NoteOut {
                seq: rec.seq,
                time: time(),
                ts_ms: rec.ts_ms,
                message: message.clone(),
            }),
            Event::Checkpoint { covers, .. } => {
                self.checkpoints.count += 1;
                self.checkpoints.last_covers = Some(*covers);
            }
        }
    }

    /// The report, given what the scan found about the whole journal.
    pub fn finish(mut self, summary: &Summary, generated_at_ms: u64) -> Report {
        self.decisions.allowed_without_outcome = self.open_allowed.len() as u64;
        self.trips.without_hook = self.open_trips.len() as u64;
        let covered_to = summary.checkpoints.last().map(|c| c.covers);
        let uncovered = verify::Report {
            summary: summary.clone(),
            checkpoints_verified: 0,
            covered_to,
        }
        .uncovered();
        Report {
            report: "tradeward-journal-export",
            report_version: REPORT_VERSION,
            agent_version: env!("CARGO_PKG_VERSION"),
            generated_at: format_rfc3339(generated_at_ms),
            period: PeriodOut {
                from: self.period.from_ms.map(format_rfc3339),
                to: self.period.to_ms.map(format_rfc3339),
                from_ms: self.period.from_ms,
                to_ms: self.period.to_ms,
            },
            journal: JournalOut {
                records: summary.records,
                segments: summary.segments,
                first_seq: summary.first_seq,
                last_seq: summary.first_seq.map(|_| summary.next_seq - 1),
                head: hex::encode(summary.head),
                torn_tail_bytes: summary.torn.as_ref().map(|t| t.torn_bytes),
                checkpoints: summary.checkpoints.len(),
                covered_to,
                uncovered,
                chain_checked: true,
                checkpoint_signatures_checked: false,
            },
            records: self.records,
            decisions: self.decisions,
            signing: self.signing,
            peer_refusals: self.peer_refusals,
            lifecycle: self.lifecycle,
            heartbeats: self.heartbeats,
            trips: self.trips,
            operator_actions: self.operator_actions,
            checkpoints: self.checkpoints,
            orders_by_symbol: self.orders,
            notional_by_symbol: self.notional,
            transfers: self.transfers,
            absent: ABSENT_SECTIONS
                .iter()
                .map(|(section, reason)| AbsentOut {
                    section: section.to_string(),
                    reason: reason.to_string(),
                })
                .collect(),
        }
    }
}
