//! The JSON report: its sections and their fields, as serialised. Every
//! section is a plain struct; [`super::aggregate`] fills them.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Serialize, Serializer};

use crate::order::HaltScope;

/// Version of the JSON report's layout. Additions (new sections, new
/// fields) keep the number; a changed meaning or a removed field bumps it.
pub const REPORT_VERSION: u32 = 1;

/// Report sections this version cannot fill, as `(section, reason)`. The
/// report names them as absent instead of guessing. None at present: the
/// order sections are filled from the decisions' typed intents.
pub const ABSENT_SECTIONS: &[(&str, &str)] = &[];

/// At most this many characters of an on-trip command's output go into
/// the report: enough to see why it failed, while the journal keeps what
/// the agent recorded.
pub const HOOK_OUTPUT_CHARS: usize = 200;

/// Allowed and denied decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub allowed: u64,
    pub denied: u64,
}

impl Tally {
    pub(super) fn add(&mut self, allow: bool) {
        if allow {
            self.allowed += 1;
        } else {
            self.denied += 1;
        }
    }
}

/// Signing outcomes of one key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KeySigning {
    pub signatures: u64,
    pub sign_failures: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodOut {
    /// RFC 3339, or null for "from the beginning of the journal".
    pub from: Option<String>,
    /// RFC 3339, or null for "to the end of the journal".
    pub to: Option<String>,
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
}

/// The whole journal as scanned (not limited to the period).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JournalOut {
    pub records: u64,
    pub segments: usize,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub head: String,
    pub torn_tail_bytes: Option<u64>,
    pub checkpoints: usize,
    /// The highest seq a checkpoint covers.
    pub covered_to: Option<u64>,
    /// Records after the last checkpoint (not counting checkpoints).
    pub uncovered: u64,
    /// Always true: a report is only made from an unbroken chain.
    pub chain_checked: bool,
    /// Always false: run `journal verify` to check checkpoint signatures.
    pub checkpoint_signatures_checked: bool,
}

/// Records in the period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RecordsOut {
    pub total: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub by_kind: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DecisionsOut {
    pub total: u64,
    pub allowed: u64,
    pub denied: u64,
    pub by_identity: BTreeMap<String, Tally>,
    /// By the key the record names: the alias for allowed decisions, the
    /// reference the caller sent for denials (which may name no key).
    pub by_key: BTreeMap<String, Tally>,
    /// Decisions on requests that named no key.
    pub without_key: Tally,
    pub by_op: BTreeMap<String, Tally>,
    pub denials_by_rule: BTreeMap<String, u64>,
    /// Allowed decisions in the period with neither a signature nor a sign
    /// failure anywhere later in the journal: the agent stopped between
    /// the decision and the record of its outcome, so a signature may have
    /// been released.
    pub allowed_without_outcome: u64,
    /// Denials by rule and by symbol: a denial counts once under each
    /// distinct symbol its intents name. Denials whose intents name no
    /// symbol (or that carry none) appear only in `denials_by_rule`.
    pub denials_by_rule_and_symbol: BTreeMap<String, BTreeMap<String, u64>>,
    /// Decisions that carry typed intents (the ones `orders_by_symbol`,
    /// `notional_by_symbol` and `transfers` are made from).
    pub with_intents: u64,
}

/// Order intents of one symbol (or several), allowed and denied. Each
/// intent counts once: a batch of three orders is three `placed`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OrderCounts {
    pub placed: Tally,
    pub modified: Tally,
    pub cancelled: Tally,
}

/// `orders_by_symbol`: place, modify and cancel intents of the decisions
/// in the period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OrdersOut {
    /// Every symbol together.
    pub total: OrderCounts,
    pub by_symbol: BTreeMap<String, OrderCounts>,
    /// Identity → key → symbol.
    pub by_identity: BTreeMap<String, BTreeMap<String, BTreeMap<String, OrderCounts>>>,
}

/// Write a decimal without trailing zeros, as a string (`"50"`, not
/// `"50.000"`), so JSON readers never round it through a float.
fn normalized<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&d.normalize().to_string())
}

/// Add `x` to `sum` with checked arithmetic; false (and `sum` unchanged)
/// when `x` is missing (an overflow before it) or the sum would overflow.
pub(super) fn add_checked(sum: &mut Decimal, x: Option<Decimal>) -> bool {
    match x.and_then(|x| sum.checked_add(x)) {
        Some(v) => {
            *sum = v;
            true
        }
        None => false,
    }
}

/// The notional (price × size, in quote units) of allowed place and modify
/// intents. A modify counts the new version of the order in full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Notional {
    /// Intents summed into `notional`.
    pub orders: u64,
    #[serde(serialize_with = "normalized")]
    pub notional: Decimal,
    /// Intents left out of `notional` because their price × size, or the
    /// sum with it, is beyond `Decimal`'s range.
    pub unrepresentable: u64,
}

impl Notional {
    pub(super) fn add(&mut self, n: Option<Decimal>) -> bool {
        let ok = add_checked(&mut self.notional, n);
        if ok {
            self.orders += 1;
        } else {
            self.unrepresentable += 1;
        }
        ok
    }
}

/// `notional_by_symbol`. There is no grand total: symbols may be quoted
/// in different currencies.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NotionalOut {
    pub by_symbol: BTreeMap<String, Notional>,
    /// Identity → key → symbol.
    pub by_identity: BTreeMap<String, BTreeMap<String, BTreeMap<String, Notional>>>,
    /// Intents left out of at least one total above (zero when every total
    /// is complete).
    pub unrepresentable: u64,
}

/// Allowed transfers to one destination in one asset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TransferTotal {
    /// Transfer intents summed into `amount`.
    pub transfers: u64,
    #[serde(serialize_with = "normalized")]
    pub amount: Decimal,
    /// Transfer intents left out of `amount` because the sum would be
    /// beyond `Decimal`'s range.
    pub unrepresentable: u64,
}

/// `transfers`: transfer intents of the decisions in the period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TransfersOut {
    /// Allowed transfer intents.
    pub allowed: u64,
    /// Transfer intents in denied decisions.
    pub denied: u64,
    /// Allowed transfers: key → destination → asset.
    pub by_key: BTreeMap<String, BTreeMap<String, BTreeMap<String, TransferTotal>>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SigningOut {
    pub signatures: u64,
    pub sign_failures: u64,
    pub by_key: BTreeMap<String, KeySigning>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PeerRefusalsOut {
    pub total: u64,
    pub by_uid: BTreeMap<u32, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StartOut {
    pub seq: u64,
    pub time: String,
    pub ts_ms: u64,
    pub version: String,
    pub pid: u32,
    pub config_sha256: String,
    pub keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StopOut {
    pub seq: u64,
    pub time: String,
    pub ts_ms: u64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoteOut {
    pub seq: u64,
    pub time: String,
    pub ts_ms: u64,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LifecycleOut {
    pub starts: Vec<StartOut>,
    pub stops: Vec<StopOut>,
    pub notes: Vec<NoteOut>,
}

/// `heartbeats`: only counted. A bot beats every few seconds, so listing
/// each one would drown the report; what matters is that they came.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HeartbeatsOut {
    pub total: u64,
    pub by_identity: BTreeMap<String, u64>,
}

/// The recorded outcome of a trip's on-trip command.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TripHookOut {
    /// The `trip_hook` record, which may lie after the period.
    pub seq: u64,
    pub time: String,
    pub ts_ms: u64,
    pub ok: bool,
    pub exit_code: Option<i32>,
    /// Instructions the agent signed and handed to the command.
    pub instructions: usize,
    /// The first [`HOOK_OUTPUT_CHARS`] characters of what was recorded.
    pub output: String,
    /// Whether `output` was cut short here (the journal has the rest).
    pub output_truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TripOut {
    pub seq: u64,
    pub time: String,
    pub ts_ms: u64,
    pub identity: String,
    /// The deadline the switch missed.
    pub deadline_ms: u64,
    /// How long after the deadline the trip was recorded.
    pub late_ms: u64,
    pub reason: String,
    /// Null when the journal holds no outcome: the agent stopped before
    /// the command's result was recorded.
    pub hook: Option<TripHookOut>,
}

/// `trips`: dead-man's switches that tripped in the period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TripsOut {
    pub total: u64,
    pub by_identity: BTreeMap<String, u64>,
    /// Trips in the period with no `trip_hook` record anywhere later in
    /// the journal: whether the on-trip command ran is unknown.
    pub without_hook: u64,
    pub list: Vec<TripOut>,
}

/// What an operator action did, by kind. Untagged: the action's `kind`
/// sits next to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ActionDetail {
    Halt {
        target: HaltScope,
        reason: String,
        reducing_allowed: bool,
    },
    Resume {
        target: HaltScope,
    },
    Rearm {
        identity: String,
        timeout_ms: u64,
        deadline_ms: u64,
    },
    Pause {
        identity: String,
        until_ms: u64,
        reason: String,
    },
    PolicyReload {
        sha256: String,
    },
    /// A rotation or a rollback: the alias moved from one token key to
    /// another.
    KeyChange {
        alias: String,
        from: crate::journal::KeyRef,
        to: crate::journal::KeyRef,
    },
    KeyZeroized {
        alias: String,
        keys: Vec<crate::journal::KeyRef>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperatorActionOut {
    pub seq: u64,
    pub time: String,
    pub ts_ms: u64,
    pub kind: &'static str,
    /// Who, as the agent recorded it (e.g. "operator uid 0 pid 7", or
    /// "SIGHUP" for a policy reload on a signal).
    pub by: String,
    pub detail: ActionDetail,
}

/// `operator_actions`: halts, resumes, re-arms, pauses and policy reloads
/// in the period, each listed, since every one changes what the agent
/// will sign.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OperatorActionsOut {
    pub total: u64,
    /// A count for every action kind, zeros included.
    pub by_kind: BTreeMap<String, u64>,
    pub list: Vec<OperatorActionOut>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CheckpointsOut {
    pub count: u64,
    pub last_covers: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AbsentOut {
    pub section: String,
    pub reason: String,
}

/// The JSON report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub report: &'static str,
    pub report_version: u32,
    pub agent_version: &'static str,
    pub generated_at: String,
    pub period: PeriodOut,
    pub journal: JournalOut,
    pub records: RecordsOut,
    pub decisions: DecisionsOut,
    pub signing: SigningOut,
    pub peer_refusals: PeerRefusalsOut,
    pub lifecycle: LifecycleOut,
    pub heartbeats: HeartbeatsOut,
    pub trips: TripsOut,
    pub operator_actions: OperatorActionsOut,
    pub checkpoints: CheckpointsOut,
    pub orders_by_symbol: OrdersOut,
    pub notional_by_symbol: NotionalOut,
    pub transfers: TransfersOut,
    /// Sections this report version cannot fill (none at present).
    pub absent: Vec<AbsentOut>,
}
