//! `tradeward journal export`: a compliance report over a period of the
//! journal, as a JSON summary or as CSV rows of decisions.
//!
//! The journal is read with the same scan the agent uses at start, so the
//! chain is checked on the way (links, sequence, checkpoint heads) and a
//! damaged journal gives no report at all. Checkpoint signatures are not
//! checked here: that needs the audit key, and is what `journal verify`
//! does.
//!
//! The period is half-open, `[from, to)`, over each record's own `ts_ms`.
//! Every record is judged by its own time: a signature written just after
//! `to` for a decision just before it counts in the next period. Outcomes
//! are still looked up past `to`: whether a decision in the period was
//! settled, and how the on-trip command of a trip in the period ended.
//!
//! Orders, notional and transfers are summarised from the typed intents the
//! decisions carry (see [`crate::order::Intent`]). Money is summed with
//! checked `Decimal` arithmetic: an order whose price × size, or a transfer
//! whose amount, cannot be added to a total without overflowing is left out
//! of that total and counted as `unrepresentable` next to it, so a total is
//! always a number and says how much it leaves out.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use rust_decimal::Decimal;
use serde::{Serialize, Serializer};

use crate::journal::record::{Decision, Event, Record, now_ms};
use crate::journal::segment::{self, Damage, ScanError, Summary};
use crate::journal::verify;
use crate::order::{Intent, NewOrder};
use crate::order::HaltScope;

/// Version of the JSON report's layout. Additions (new sections, new
/// fields) keep the number; a changed meaning or a removed field bumps it.
pub const REPORT_VERSION: u32 = 1;

/// Report sections this version cannot fill, as `(section, reason)`. The
/// report names them as absent instead of guessing. None at present: the
/// order sections are filled from the decisions' typed intents.
pub const ABSENT_SECTIONS: &[(&str, &str)] = &[];

/// The CSV columns, in order.
pub const CSV_COLUMNS: [&str; 15] = [
    "seq",
    "time",
    "identity",
    "uid",
    "pid",
    "op",
    "key",
    "allow",
    "rule",
    "reason",
    "request_sha256",
    "payload_sha256",
    "venue",
    "nonce",
    "intents",
];

/// Every record kind, in the order the report lists them.
const KINDS: &[&str] = &[
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
const OPERATOR_KINDS: &[&str] = &[
    "halt",
    "resume",
    "rearm",
    "pause",
    "policy_reload",
    "key_rotated",
    "key_rolled_back",
    "key_zeroized",
];

/// At most this many characters of an on-trip command's output go into
/// the report: enough to see why it failed, while the journal keeps what
/// the agent recorded.
pub const HOOK_OUTPUT_CHARS: usize = 200;

// ---------------------------------------------------------------------------
// Time: parsing the command line's bounds and formatting record times.

const MS_PER_DAY: u64 = 86_400_000;

const TIME_FORMS: &str = "YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ (UTC) or Unix milliseconds";

fn is_leap(y: u64) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a valid date in or after 1970 (the proleptic
/// Gregorian calendar, as in "days from civil").
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    // Count years from March, so the leap day is the last of the year.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Format milliseconds since the epoch as RFC 3339 in UTC with
/// milliseconds, e.g. `2025-03-01T14:05:09.042Z`.
pub fn format_rfc3339(ms: u64) -> String {
    let (y, mo, d) = civil_from_days(ms / MS_PER_DAY);
    let in_day = ms % MS_PER_DAY;
    let (h, mi, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// Parse a fixed-width run of ASCII digits.
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parse a time bound: `YYYY-MM-DD` (midnight UTC),
/// `YYYY-MM-DDTHH:MM:SSZ` (UTC; a fraction of up to three digits after the
/// seconds is accepted, as the CSV's time column has one), or Unix
/// milliseconds. Returns milliseconds since the epoch.
pub fn parse_time(s: &str) -> Result<u64, String> {
    let bad = |why: &str| format!("invalid time {s:?}: {why} (expected {TIME_FORMS})");
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map_err(|_| bad("too large"));
    }
    // ASCII only, so the fixed offsets below always fall between characters.
    let b = s.as_bytes();
    if !s.is_ascii() || b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad("not a date"));
    }
    let (Some(y), Some(mo), Some(d)) = (digits(&s[0..4]), digits(&s[5..7]), digits(&s[8..10]))
    else {
        return Err(bad("not a date"));
    };
    if !(1..=12).contains(&mo) {
        return Err(bad("month out of range"));
    }
    if d == 0 || d > days_in_month(y, mo) {
        return Err(bad("day out of range"));
    }
    if y < 1970 {
        return Err(bad("before 1970"));
    }
    let day_ms = days_from_civil(y, mo, d) * MS_PER_DAY;
    let rest = &s[10..];
    if rest.is_empty() {
        return Ok(day_ms);
    }
    // "THH:MM:SS" then an optional ".f", ".ff" or ".fff", then "Z".
    let rb = rest.as_bytes();
    if rb.len() < 10 || !matches!(rb[0], b'T' | b't') || rb[3] != b':' || rb[6] != b':' {
        return Err(bad("not a time of day"));
    }
    let (Some(h), Some(mi), Some(sec)) = (
        digits(&rest[1..3]),
        digits(&rest[4..6]),
        digits(&rest[7..9]),
    ) else {
        return Err(bad("not a time of day"));
    };
    if h > 23 || mi > 59 || sec > 59 {
        return Err(bad("time of day out of range"));
    }
    let mut tail = &rest[9..];
    let mut frac_ms = 0;
    if let Some(f) = tail.strip_prefix('.') {
        let n = f.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 3 {
            return Err(bad("a fraction of a second needs one to three digits"));
        }
        frac_ms = digits(&f[..n]).unwrap_or(0) * 10u64.pow(3 - n as u32);
        tail = &f[n..];
    }
    if !matches!(tail, "Z" | "z") {
        return Err(bad("only UTC times ending in Z are accepted"));
    }
    Ok(day_ms + ((h * 60 + mi) * 60 + sec) * 1000 + frac_ms)
}

/// The half-open period `[from_ms, to_ms)`; either end may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Period {
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
}

impl Period {
    pub fn new(from_ms: Option<u64>, to_ms: Option<u64>) -> Result<Period, String> {
        if let (Some(f), Some(t)) = (from_ms, to_ms)
            && t <= f
        {
            return Err(format!(
                "--to ({}) must be later than --from ({})",
                format_rfc3339(t),
                format_rfc3339(f)
            ));
        }
        Ok(Period { from_ms, to_ms })
    }

    pub fn contains(&self, ts_ms: u64) -> bool {
        self.from_ms.is_none_or(|f| ts_ms >= f) && self.to_ms.is_none_or(|t| ts_ms < t)
    }
}

// ---------------------------------------------------------------------------
// CSV (RFC 4180).

/// One CSV field: quoted when it holds a comma, a double quote, CR or LF,
/// with inner double quotes doubled.
pub fn csv_field(s: &str) -> Cow<'_, str> {
    if s.contains([',', '"', '\r', '\n']) {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(s)
    }
}

fn csv_line<'a>(fields: impl IntoIterator<Item = Cow<'a, str>>) -> String {
    let mut line = fields
        .into_iter()
        .map(|f| csv_field(&f).into_owned())
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// The header line (with its CRLF).
pub fn csv_header() -> String {
    csv_line(CSV_COLUMNS.iter().map(|c| Cow::Borrowed(*c)))
}

/// The `intents` field of a CSV row: the decision's typed intents as
/// compact JSON (the same rendering as in the journal), or empty when the
/// decision carries none.
pub fn intents_json(d: &Decision) -> String {
    d.intents
        .as_ref()
        .map(|i| serde_json::to_string(i).expect("intents always serialise"))
        .unwrap_or_default()
}

/// The CSV line (with its CRLF) of one decision record.
pub fn csv_row(seq: u64, ts_ms: u64, d: &Decision) -> String {
    let opt = |v: &Option<String>| Cow::Owned(v.clone().unwrap_or_default());
    csv_line([
        Cow::Owned(seq.to_string()),
        Cow::Owned(format_rfc3339(ts_ms)),
        Cow::Borrowed(d.identity.as_str()),
        Cow::Owned(d.uid.to_string()),
        Cow::Owned(d.pid.map(|p| p.to_string()).unwrap_or_default()),
        Cow::Borrowed(d.op.as_str()),
        opt(&d.key),
        Cow::Borrowed(if d.allow { "true" } else { "false" }),
        Cow::Borrowed(d.rule.as_str()),
        Cow::Borrowed(d.reason.as_str()),
        Cow::Borrowed(d.request_sha256.as_str()),
        opt(&d.payload_sha256),
        opt(&d.venue),
        Cow::Owned(d.nonce.map(|n| n.to_string()).unwrap_or_default()),
        Cow::Owned(intents_json(d)),
    ])
}

// ---------------------------------------------------------------------------
// The JSON report.

/// Allowed and denied decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub allowed: u64,
    pub denied: u64,
}

impl Tally {
    fn add(&mut self, allow: bool) {
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
fn add_checked(sum: &mut Decimal, x: Option<Decimal>) -> bool {
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
    fn add(&mut self, n: Option<Decimal>) -> bool {
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

// ---------------------------------------------------------------------------
// Running an export.

/// The two output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "{0}\nThe journal is damaged, so no report was made. Run `tradeward journal verify` \
         for details."
    )]
    Damaged(Damage),
    #[error("cannot read the journal: {0}")]
    Read(std::io::Error),
    #[error("cannot write the report: {0}")]
    Write(std::io::Error),
}

impl From<ScanError> for ExportError {
    fn from(e: ScanError) -> Self {
        match e {
            ScanError::Damaged(d) => ExportError::Damaged(d),
            ScanError::Io(e) => ExportError::Read(e),
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exported {
    /// Records in the period.
    pub records: u64,
    /// Decision records in the period (the CSV's rows).
    pub decisions: u64,
}

/// Export the journal in `dir` over `period` to `out`.
///
/// For CSV, rows are written while the journal is read, so the chain is
/// checked in a first pass: a damaged journal writes nothing at all. The
/// JSON report is written only once the whole journal has been read.
pub fn export(
    dir: &Path,
    period: Period,
    format: Format,
    out: &mut dyn Write,
) -> Result<Exported, ExportError> {
    if !dir.is_dir() {
        return Err(ExportError::Read(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{}: no such journal folder", dir.display()),
        )));
    }
    let mut n = Exported::default();
    match format {
        Format::Csv => {
            segment::scan(dir, &mut |_, _| {})?;
            out.write_all(csv_header().as_bytes())
                .map_err(ExportError::Write)?;
            let mut write_err = None;
            segment::scan(dir, &mut |rec, _| {
                if write_err.is_some() || !period.contains(rec.ts_ms) {
                    return;
                }
                n.records += 1;
                if let Event::Decision(d) = &rec.event {
                    n.decisions += 1;
                    if let Err(e) = out.write_all(csv_row(rec.seq, rec.ts_ms, d).as_bytes()) {
                        write_err = Some(e);
                    }
                }
            })?;
            if let Some(e) = write_err {
                return Err(ExportError::Write(e));
            }
        }
        Format::Json => {
            let mut agg = Aggregate::new(period);
            let summary = segment::scan(dir, &mut |rec, _| agg.add(rec))?;
            let report = agg.finish(&summary, now_ms());
            n.records = report.records.total;
            n.decisions = report.decisions.total;
            serde_json::to_writer_pretty(&mut *out, &report)
                .map_err(|e| ExportError::Write(e.into()))?;
            out.write_all(b"\n").map_err(ExportError::Write)?;
        }
    }
    out.flush().map_err(ExportError::Write)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::record::{GENESIS, KeySummary};

    fn at(s: &str) -> u64 {
        parse_time(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(at("1970-01-01"), 0);
        assert_eq!(at("1970-01-02"), MS_PER_DAY);
        assert_eq!(at("2000-03-01"), 951_868_800_000);
        assert_eq!(at("2024-02-29T23:59:59Z"), 1_709_251_199_000);
        assert_eq!(at("2024-02-29t23:59:59z"), 1_709_251_199_000);
        assert_eq!(at("2024-02-29T23:59:59.5Z"), 1_709_251_199_500);
        assert_eq!(at("2024-02-29T23:59:59.05Z"), 1_709_251_199_050);
        assert_eq!(at("2024-02-29T23:59:59.123Z"), 1_709_251_199_123);
        assert_eq!(at("1709251199123"), 1_709_251_199_123);
        assert_eq!(at("0"), 0);
        // Digits alone are always milliseconds, even when they look like a year.
        assert_eq!(at("2024"), 2024);
        assert_eq!(at("9999-12-31T23:59:59Z"), 253_402_300_799_000);
        assert_eq!(at("18446744073709551615"), u64::MAX);
    }

    #[test]
    fn rejects_what_is_not_a_valid_utc_time() {
        for s in [
            "",
            "2024-1-01",
            "2024-01-1",
            "2024/01/01",
            "2024-00-10",
            "2024-13-01",
            "2024-01-00",
            "2024-01-32",
            "2023-02-29",
            "1900-02-29",
            "2100-02-29",
            "1969-12-31",
            "2024-04-31",
            "2024-01-01T",
            "2024-01-01 00:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00+00:00",
            "2024-01-01T00:00:00+02:00",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:60:00Z",
            "2024-01-01T00:00:60Z",
            "2024-01-01T0:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00.1234Z",
            "2024-01-01T00:00:00ZZ",
            "2024-01-01Z",
            "-1",
            "+5",
            "1.5",
            "18446744073709551616",
            "２０２４-01-01",
            "2024-01-0é",
            "2024-01-01T00:00:0é",
            "2024-01-01T00:00:00.é",
            "2024-01-01T00:00:00Zé",
        ] {
            assert!(parse_time(s).is_err(), "{s:?} was accepted");
        }
        assert!(parse_time("2024-13-01").unwrap_err().contains("month"));
        assert!(
            parse_time("2024-01-01T00:00:00+02:00")
                .unwrap_err()
                .contains("UTC")
        );
    }

    #[test]
    fn leap_years() {
        assert!(parse_time("2000-02-29").is_ok());
        assert!(parse_time("2024-02-29").is_ok());
        assert_eq!(at("2024-03-01") - at("2024-02-28"), 2 * MS_PER_DAY);
        assert_eq!(at("2023-03-01") - at("2023-02-28"), MS_PER_DAY);
        assert_eq!(at("2001-01-01") - at("2000-01-01"), 366 * MS_PER_DAY);
        assert_eq!(at("2101-01-01") - at("2100-01-01"), 365 * MS_PER_DAY);
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_rfc3339(1_709_251_199_123),
            "2024-02-29T23:59:59.123Z"
        );
        assert_eq!(format_rfc3339(951_868_800_000), "2000-03-01T00:00:00.000Z");
        assert_eq!(
            format_rfc3339(253_402_300_799_999),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(format_rfc3339(MS_PER_DAY - 1), "1970-01-01T23:59:59.999Z");
    }

    #[test]
    fn format_and_parse_agree_day_by_day() {
        // Every day from 1970 to 2200 (leap years, centuries, 2000), at a
        // time of day that exercises every field.
        let mut expect = (1970, 1, 1);
        for day in 0..(at("2200-01-01") / MS_PER_DAY) {
            let ms = day * MS_PER_DAY + 45_296_789; // 12:34:56.789
            let text = format_rfc3339(ms);
            let (y, m, d) = expect;
            assert_eq!(text, format!("{y:04}-{m:02}-{d:02}T12:34:56.789Z"));
            assert_eq!(parse_time(&text).unwrap(), ms);
            assert_eq!(at(&text[..10]), day * MS_PER_DAY);
            expect = if d < days_in_month(y, m) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
    }

    #[test]
    fn period_is_half_open() {
        let p = Period::new(Some(10), Some(20)).unwrap();
        assert!(!p.contains(9));
        assert!(p.contains(10));
        assert!(p.contains(19));
        assert!(!p.contains(20));
        let open = Period::new(None, None).unwrap();
        assert!(open.contains(0) && open.contains(u64::MAX));
        assert!(Period::new(None, Some(1)).unwrap().contains(0));
        assert!(!Period::new(Some(1), None).unwrap().contains(0));
        assert!(Period::new(Some(20), Some(20)).is_err());
        assert!(Period::new(Some(21), Some(20)).is_err());
    }

    #[test]
    fn csv_quoting_follows_rfc_4180() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field(""), "");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("\""), "\"\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("cr\rhere"), "\"cr\rhere\"");
        assert_eq!(csv_field("crlf\r\n"), "\"crlf\r\n\"");
        // Spaces, quotes-free punctuation and non-ASCII stay as they are.
        assert_eq!(csv_field(" padded ; x'y "), " padded ; x'y ");
        assert_eq!(csv_field("ключ"), "ключ");
        assert!(matches!(csv_field("plain"), Cow::Borrowed(_)));
    }

    /// A minimal RFC 4180 reader, to check rows round-trip.
    fn parse_csv(text: &str) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        let mut row = Vec::new();
        let mut field = String::new();
        let mut chars = text.chars().peekable();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            if quoted {
                match c {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => quoted = false,
                    c => field.push(c),
                }
            } else {
                match c {
                    '"' => quoted = true,
                    ',' => row.push(std::mem::take(&mut field)),
                    '\r' => {
                        assert_eq!(chars.next(), Some('\n'), "bare CR outside quotes");
                        row.push(std::mem::take(&mut field));
                        rows.push(std::mem::take(&mut row));
                    }
                    c => field.push(c),
                }
            }
        }
        assert!(field.is_empty() && row.is_empty(), "unterminated last line");
        rows
    }

    fn decision(identity: &str, key: Option<&str>, op: &str, allow: bool, rule: &str) -> Decision {
        Decision {
            identity: identity.into(),
            uid: 1000,
            pid: Some(42),
            request_id: 7,
            op: op.into(),
            key: key.map(String::from),
            request_sha256: "ab".repeat(32),
            allow,
            rule: rule.into(),
            reason: format!("because {rule}"),
            payload_sha256: allow.then(|| "cd".repeat(32)),
            venue: None,
            nonce: None,
            intents: None,
            request_bytes: None,
            intents_omitted: None,
        }
    }

    #[test]
    fn csv_rows_carry_every_column_and_survive_hostile_text() {
        let mut d = decision("bot", Some("k,\"1\"\r\nx"), "sign", false, "unknown_key");
        d.reason = "no key \"k,\\\"1\\\"\" here,\nsecond line".into();
        d.pid = None;
        let header = csv_header();
        assert_eq!(
            header,
            "seq,time,identity,uid,pid,op,key,allow,rule,reason,request_sha256,payload_sha256,venue,nonce,intents\r\n"
        );
        let allowed = decision("bot", Some("eth"), "sign", true, "raw_signing");
        let text = header + &csv_row(5, 1_709_251_199_123, &d) + &csv_row(6, 0, &allowed);
        let rows = parse_csv(&text);
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|r| r.len() == CSV_COLUMNS.len()));
        assert_eq!(
            rows[1],
            [
                "5",
                "2024-02-29T23:59:59.123Z",
                "bot",
                "1000",
                "",
                "sign",
                "k,\"1\"\r\nx",
                "false",
                "unknown_key",
                d.reason.as_str(),
                &"ab".repeat(32),
                "",
                "",
                "",
                "",
            ]
        );
        assert_eq!(
            rows[2],
            [
                "6",
                "1970-01-01T00:00:00.000Z",
                "bot",
                "1000",
                "42",
                "sign",
                "eth",
                "true",
                "raw_signing",
                "because raw_signing",
                &"ab".repeat(32),
                &"cd".repeat(32),
                "",
                "",
                "",
            ]
        );
        // An unquoted row is plain comma-joined text.
        assert_eq!(
            csv_row(6, 0, &allowed),
            format!(
                "6,1970-01-01T00:00:00.000Z,bot,1000,42,sign,eth,true,raw_signing,because raw_signing,{},{},,,\r\n",
                "ab".repeat(32),
                "cd".repeat(32)
            )
        );
    }

    fn rec(seq: u64, ts_ms: u64, event: Event) -> Record {
        Record {
            seq,
            ts_ms,
            prev: hex::encode(GENESIS),
            event,
        }
    }

    fn sample() -> Vec<Record> {
        let start = Event::Start {
            version: "0.1.0".into(),
            pid: 99,
            config_sha256: "ee".repeat(32),
            keys: vec![KeySummary {
                alias: "eth".into(),
                key_type: "secp256k1".into(),
                uri: "pkcs11:object=k1".into(),
                public_key: None,
            }],
        };
        let d = Event::Decision;
        vec![
            rec(1, 100, start),
            rec(
                2,
                110,
                d(decision("a", Some("eth"), "sign", true, "raw_signing")),
            ),
            rec(
                3,
                120,
                Event::Signature {
                    decision: 2,
                    key: "eth".into(),
                    signature: "00".into(),
                },
            ),
            rec(
                4,
                130,
                d(decision("a", Some("nope"), "sign", false, "unknown_key")),
            ),
            rec(
                5,
                140,
                d(decision("b", Some("eth"), "sign", false, "bad_params")),
            ),
            rec(
                6,
                150,
                d(decision("b", None, "rm -rf", false, "unknown_op")),
            ),
            rec(
                7,
                160,
                d(decision("b", Some("eth"), "sign", true, "raw_signing")),
            ),
            rec(
                8,
                170,
                Event::SignFailed {
                    decision: 7,
                    key: "eth".into(),
                    error: "token gone".into(),
                },
            ),
            rec(
                9,
                180,
                Event::PeerRefused {
                    uid: 1234,
                    gid: 1234,
                    pid: Some(5),
                    reason: "no identity".into(),
                },
            ),
            rec(
                10,
                190,
                d(decision("a", Some("ed"), "sign", true, "raw_signing")),
            ),
            rec(
                11,
                200,
                Event::Checkpoint {
                    covers: 10,
                    head: "11".repeat(32),
                    key: "audit".into(),
                    key_type: "ed25519".into(),
                    signature: "22".into(),
                },
            ),
            rec(
                12,
                210,
                Event::Signature {
                    decision: 10,
                    key: "ed".into(),
                    signature: "33".into(),
                },
            ),
            rec(
                13,
                220,
                Event::Stop {
                    reason: "signal".into(),
                },
            ),
            rec(
                14,
                230,
                Event::Note {
                    message: "hello, auditor".into(),
                },
            ),
            rec(
                15,
                240,
                d(decision("a", Some("eth"), "sign", true, "raw_signing")),
            ),
        ]
    }

    fn summary_of(recs: &[Record]) -> Summary {
        Summary {
            records: recs.len() as u64,
            segments: 1,
            first_seq: recs.first().map(|r| r.seq),
            head: [7; 32],
            next_seq: recs.last().map_or(1, |r| r.seq + 1),
            ..Summary::default()
        }
    }

    fn report(period: Period) -> Report {
        let recs = sample();
        let mut agg = Aggregate::new(period);
        for r in &recs {
            agg.add(r);
        }
        agg.finish(&summary_of(&recs), 0)
    }

    fn t(allowed: u64, denied: u64) -> Tally {
        Tally { allowed, denied }
    }

    #[test]
    fn aggregates_a_whole_journal() {
        let r = report(Period::default());
        assert_eq!(r.records.total, 15);
        assert_eq!(
            (r.records.first_seq, r.records.last_seq),
            (Some(1), Some(15))
        );
        let kinds: Vec<(&str, u64)> = r
            .records
            .by_kind
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(
            kinds,
            [
                ("checkpoint", 1),
                ("decision", 7),
                ("halt", 0),
                ("heartbeat", 0),
                ("key_rolled_back", 0),
                ("key_rotated", 0),
                ("key_zeroized", 0),
                ("note", 1),
                ("order_closed", 0),
                ("pause", 0),
                ("peer_refused", 1),
                ("policy_reload", 0),
                ("position_reported", 0),
                ("price_refused", 0),
                ("rearm", 0),
                ("refusals_summarised", 0),
                ("resume", 0),
                ("sign_failed", 1),
                ("signature", 2),
                ("start", 1),
                ("stop", 1),
                ("trip", 0),
                ("trip_hook", 0),
            ]
        );
        let d = &r.decisions;
        assert_eq!((d.total, d.allowed, d.denied), (7, 4, 3));
        assert_eq!(
            d.by_identity,
            BTreeMap::from([("a".into(), t(3, 1)), ("b".into(), t(1, 2))])
        );
        assert_eq!(
            d.by_key,
            BTreeMap::from([
                ("ed".into(), t(1, 0)),
                ("eth".into(), t(3, 1)),
                ("nope".into(), t(0, 1)),
            ])
        );
        assert_eq!(d.without_key, t(0, 1));
        assert_eq!(
            d.by_op,
            BTreeMap::from([("rm -rf".into(), t(0, 1)), ("sign".into(), t(4, 2))])
        );
        assert_eq!(
            d.denials_by_rule,
            BTreeMap::from([
                ("bad_params".into(), 1),
                ("unknown_key".into(), 1),
                ("unknown_op".into(), 1),
            ])
        );
        // Seq 15 was allowed and the journal ends before its outcome.
        assert_eq!(d.allowed_without_outcome, 1);
        assert_eq!(d.with_intents, 0);
        let s = &r.signing;
        assert_eq!((s.signatures, s.sign_failures), (2, 1));
        assert_eq!(
            s.by_key,
            BTreeMap::from([
                (
                    "ed".into(),
                    KeySigning {
                        signatures: 1,
                        sign_failures: 0
                    }
                ),
                (
                    "eth".into(),
                    KeySigning {
                        signatures: 1,
                        sign_failures: 1
                    }
                ),
            ])
        );
        assert_eq!(r.peer_refusals.total, 1);
        assert_eq!(r.peer_refusals.by_uid, BTreeMap::from([(1234, 1)]));
        let l = &r.lifecycle;
        assert_eq!(l.starts.len(), 1);
        assert_eq!(l.starts[0].seq, 1);
        assert_eq!(l.starts[0].pid, 99);
        assert_eq!(l.starts[0].keys, ["eth"]);
        assert_eq!(l.starts[0].time, "1970-01-01T00:00:00.100Z");
        assert_eq!(l.stops.len(), 1);
        assert_eq!((l.stops[0].seq, l.stops[0].reason.as_str()), (13, "signal"));
        assert_eq!(l.notes.len(), 1);
        assert_eq!(l.notes[0].message, "hello, auditor");
        assert_eq!(r.checkpoints.count, 1);
        assert_eq!(r.checkpoints.last_covers, Some(10));
        assert_eq!(r.period.from, None);
        assert_eq!(r.journal.last_seq, Some(15));
        let absent: Vec<&str> = r.absent.iter().map(|a| a.section.as_str()).collect();
        assert!(absent.is_empty(), "{absent:?}");
        // No decision carries intents: the order sections are empty.
        assert_eq!(r.orders_by_symbol, OrdersOut::default());
        assert_eq!(r.notional_by_symbol, NotionalOut::default());
        assert_eq!(r.transfers, TransfersOut::default());
        assert!(d.denials_by_rule_and_symbol.is_empty());
        // No dead-man or operator records either.
        assert_eq!(r.heartbeats, HeartbeatsOut::default());
        assert_eq!(r.trips, TripsOut::default());
        assert_eq!(r.operator_actions.total, 0);
        assert_eq!(r.operator_actions.by_kind.len(), OPERATOR_KINDS.len());
        assert!(r.operator_actions.by_kind.values().all(|v| *v == 0));
    }

    #[test]
    fn a_period_counts_only_its_records_but_settles_outcomes_after_it() {
        // [130, 190): seq 4..=9.
        let r = report(Period::new(Some(130), Some(190)).unwrap());
        assert_eq!(r.records.total, 6);
        assert_eq!(
            (r.records.first_seq, r.records.last_seq),
            (Some(4), Some(9))
        );
        let d = &r.decisions;
        assert_eq!((d.total, d.allowed, d.denied), (4, 1, 3));
        // The allowed decision at seq 7 is settled by the failure at seq 8.
        assert_eq!(d.allowed_without_outcome, 0);
        assert_eq!(r.signing.signatures, 0);
        assert_eq!(r.signing.sign_failures, 1);
        assert_eq!(r.peer_refusals.total, 1);
        assert!(r.lifecycle.starts.is_empty() && r.lifecycle.stops.is_empty());
        assert_eq!(r.checkpoints.count, 0);
        assert_eq!(r.records.by_kind["start"], 0);
        assert_eq!(r.period.from.as_deref(), Some("1970-01-01T00:00:00.130Z"));
        assert_eq!(r.period.to_ms, Some(190));
        // [190, 200): the decision at seq 10 is settled by a signature
        // written after the period ends.
        let r = report(Period::new(Some(190), Some(200)).unwrap());
        assert_eq!(r.decisions.allowed, 1);
        assert_eq!(r.decisions.allowed_without_outcome, 0);
        assert_eq!(r.signing.signatures, 0);
        // Nothing in the period: every count is zero.
        let r = report(Period::new(Some(1000), None).unwrap());
        assert_eq!(r.records.total, 0);
        assert_eq!(r.records.first_seq, None);
        assert_eq!(r.decisions, DecisionsOut::default());
        assert!(r.records.by_kind.values().all(|v| *v == 0));
        assert_eq!(r.records.by_kind.len(), KINDS.len());
    }

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn place(symbol: &str, size: &str, price: &str) -> Intent {
        Intent::Place(new_order(symbol, dec(size), dec(price)))
    }

    fn new_order(symbol: &str, size: Decimal, price: Decimal) -> NewOrder {
        NewOrder::limit(symbol, crate::order::Side::Buy, size, price)
    }

    fn cancel(symbol: &str) -> Intent {
        Intent::Cancel {
            symbol: symbol.into(),
            order: crate::order::OrderRef::Oid(1),
        }
    }

    fn modify(symbol: &str, size: &str, price: &str) -> Intent {
        Intent::Modify {
            order: crate::order::OrderRef::Cloid("0x01".into()),
            new: new_order(symbol, dec(size), dec(price)),
        }
    }

    fn transfer(destination: &str, asset: &str, amount: Decimal) -> Intent {
        Intent::Transfer {
            kind: "withdraw3".into(),
            destination: destination.into(),
            asset: asset.into(),
            amount,
        }
    }

    /// A decision carrying `intents` (denials take `rule` as their rule).
    fn order_decision(
        identity: &str,
        key: Option<&str>,
        allow: bool,
        rule: &str,
        intents: Vec<Intent>,
    ) -> Decision {
        let rule = if allow { "policy" } else { rule };
        let mut d = decision(identity, key, "hyperliquid.sign_l1_action", allow, rule);
        d.venue = Some("hyperliquid".into());
        d.nonce = allow.then_some(1_700_000_000_000);
        d.intents = Some(intents);
        d
    }

    fn report_of(decisions: Vec<(u64, Decision)>, period: Period) -> Report {
        let mut agg = Aggregate::new(period);
        for (i, (ts, d)) in decisions.into_iter().enumerate() {
            agg.add(&rec(i as u64 + 1, ts, Event::Decision(d)));
        }
        agg.finish(&summary_of(&[]), 0)
    }

    fn oc(placed: Tally, modified: Tally, cancelled: Tally) -> OrderCounts {
        OrderCounts {
            placed,
            modified,
            cancelled,
        }
    }

    fn notional(orders: u64, n: &str, unrepresentable: u64) -> Notional {
        Notional {
            orders,
            notional: dec(n),
            unrepresentable,
        }
    }

    /// identity → key → symbol → value.
    fn tree<T: Clone>(
        entries: &[(&str, &str, &str, T)],
    ) -> BTreeMap<String, BTreeMap<String, BTreeMap<String, T>>> {
        let mut m: BTreeMap<String, BTreeMap<String, BTreeMap<String, T>>> = BTreeMap::new();
        for (a, b, c, v) in entries {
            m.entry(a.to_string())
                .or_default()
                .entry(b.to_string())
                .or_default()
                .insert(c.to_string(), v.clone());
        }
        m
    }

    #[test]
    fn intents_give_orders_notional_and_transfers() {
        let z = t(0, 0);
        let dest = "0x5e9ee1089755c3435139848e47e6635505d5a13a";
        let r = report_of(
            vec![
                // Before the period: not counted.
                (
                    5,
                    order_decision("a", Some("hl"), true, "", vec![place("BTC", "1", "1")]),
                ),
                (
                    10,
                    order_decision(
                        "a",
                        Some("hl"),
                        true,
                        "",
                        vec![
                            place("BTC", "0.001", "50000"),
                            place("BTC", "0.002", "60000"),
                            cancel("BTC"),
                            modify("ETH", "0.5", "3000.5"),
                            Intent::SetLeverage {
                                symbol: "BTC".into(),
                                leverage: 5,
                                cross: true,
                            },
                            Intent::ScheduleCancel { at_ms: None },
                        ],
                    ),
                ),
                (
                    11,
                    order_decision(
                        "a",
                        Some("hl"),
                        false,
                        "symbol_not_allowed",
                        vec![place("ETH", "1", "3000"), cancel("SOL")],
                    ),
                ),
                (
                    12,
                    order_decision(
                        "b",
                        Some("hl"),
                        true,
                        "",
                        vec![place("BTC", "0.01", "58000")],
                    ),
                ),
                (
                    13,
                    order_decision(
                        "b",
                        Some("hl2"),
                        false,
                        "max_order_size",
                        vec![place("BTC", "1", "50000"), place("BTC", "2", "50000")],
                    ),
                ),
                (
                    14,
                    order_decision(
                        "a",
                        Some("hl"),
                        true,
                        "",
                        vec![
                            transfer(dest, "USDC", dec("1.5")),
                            transfer(dest, "USDC", dec("2.25")),
                            transfer(dest, "PURR", dec("10")),
                            transfer("perp", "USDC", dec("7.5")),
                        ],
                    ),
                ),
                (
                    15,
                    order_decision(
                        "a",
                        Some("hl"),
                        false,
                        "transfer_not_allowed",
                        vec![transfer(dest, "USDC", dec("1000"))],
                    ),
                ),
                // A denial that names no key, and a denial of an empty batch.
                (
                    16,
                    order_decision(
                        "c",
                        None,
                        false,
                        "symbol_not_allowed",
                        vec![modify("SOL", "1", "100")],
                    ),
                ),
                (
                    17,
                    order_decision("c", Some("hl"), false, "empty_request", vec![]),
                ),
            ],
            Period::new(Some(10), None).unwrap(),
        );
        assert_eq!(r.decisions.total, 8);
        assert_eq!(r.decisions.with_intents, 7);
        assert!(r.absent.is_empty());

        let o = &r.orders_by_symbol;
        assert_eq!(o.total, oc(t(3, 3), t(1, 1), t(1, 1)));
        assert_eq!(
            o.by_symbol,
            BTreeMap::from([
                ("BTC".into(), oc(t(3, 2), z, t(1, 0))),
                ("ETH".into(), oc(t(0, 1), t(1, 0), z)),
                ("SOL".into(), oc(z, t(0, 1), t(0, 1))),
            ])
        );
        assert_eq!(
            o.by_identity,
            tree(&[
                ("a", "hl", "BTC", oc(t(2, 0), z, t(1, 0))),
                ("a", "hl", "ETH", oc(t(0, 1), t(1, 0), z)),
                ("a", "hl", "SOL", oc(z, z, t(0, 1))),
                ("b", "hl", "BTC", oc(t(1, 0), z, z)),
                ("b", "hl2", "BTC", oc(t(0, 2), z, z)),
                ("c", "", "SOL", oc(z, t(0, 1), z)),
            ])
        );

        // 0.001 × 50000 + 0.002 × 60000 = 170; 0.01 × 58000 = 580;
        // 0.5 × 3000.5 = 1500.25. Denied orders add nothing.
        let n = &r.notional_by_symbol;
        assert_eq!(
            n.by_symbol,
            BTreeMap::from([
                ("BTC".into(), notional(3, "750", 0)),
                ("ETH".into(), notional(1, "1500.25", 0)),
            ])
        );
        assert_eq!(
            n.by_identity,
            tree(&[
                ("a", "hl", "BTC", notional(2, "170", 0)),
                ("a", "hl", "ETH", notional(1, "1500.25", 0)),
                ("b", "hl", "BTC", notional(1, "580", 0)),
            ])
        );
        assert_eq!(n.unrepresentable, 0);

        let x = &r.transfers;
        assert_eq!((x.allowed, x.denied), (4, 1));
        let total = |transfers, amount: &str| TransferTotal {
            transfers,
            amount: dec(amount),
            unrepresentable: 0,
        };
        assert_eq!(
            x.by_key,
            tree(&[
                ("hl", dest, "USDC", total(2, "3.75")),
                ("hl", dest, "PURR", total(1, "10")),
                ("hl", "perp", "USDC", total(1, "7.5")),
            ])
        );

        // Each denial once per distinct symbol it names.
        assert_eq!(
            r.decisions.denials_by_rule_and_symbol,
            BTreeMap::from([
                ("max_order_size".into(), BTreeMap::from([("BTC".into(), 1)])),
                (
                    "symbol_not_allowed".into(),
                    BTreeMap::from([("ETH".into(), 1), ("SOL".into(), 2)])
                ),
            ])
        );
        assert_eq!(r.decisions.denials_by_rule["transfer_not_allowed"], 1);
        assert_eq!(r.decisions.denials_by_rule["empty_request"], 1);

        // In JSON, amounts are strings without trailing zeros.
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v["notional_by_symbol"]["by_identity"]["a"]["hl"]["BTC"],
            serde_json::json!({"orders": 2, "notional": "170", "unrepresentable": 0})
        );
        assert_eq!(
            v["orders_by_symbol"]["by_symbol"]["SOL"],
            serde_json::json!({
                "placed": {"allowed": 0, "denied": 0},
                "modified": {"allowed": 0, "denied": 1},
                "cancelled": {"allowed": 0, "denied": 1},
            })
        );
        assert_eq!(
            v["transfers"]["by_key"]["hl"][dest]["USDC"]["amount"],
            "3.75"
        );
        assert_eq!(
            v["decisions"]["denials_by_rule_and_symbol"]["symbol_not_allowed"]["SOL"],
            2
        );
    }

    #[test]
    fn overflowing_amounts_are_left_out_and_counted() {
        let max = Decimal::MAX;
        let big = |symbol| Intent::Place(new_order(symbol, Decimal::ONE, max));
        let r = report_of(
            vec![
                // price × size overflows on its own: NewOrder::notional
                // would panic here.
                (
                    1,
                    order_decision(
                        "a",
                        Some("hl"),
                        true,
                        "",
                        vec![
                            Intent::Place(new_order("X", Decimal::TWO, max)),
                            place("X", "2", "3"),
                        ],
                    ),
                ),
                // MAX fits; a second MAX on the same symbol overflows the
                // symbol's total but not identity b's own.
                (2, order_decision("a", Some("hl"), true, "", vec![big("Y")])),
                (3, order_decision("b", Some("hl"), true, "", vec![big("Y")])),
                (
                    4,
                    order_decision(
                        "a",
                        Some("hl"),
                        true,
                        "",
                        vec![
                            transfer("d", "USDC", max),
                            transfer("d", "USDC", Decimal::ONE),
                            transfer("d", "USDC", dec("-5")),
                        ],
                    ),
                ),
            ],
            Period::default(),
        );
        let n = &r.notional_by_symbol;
        assert_eq!(n.unrepresentable, 2);
        assert_eq!(
            n.by_symbol,
            BTreeMap::from([
                ("X".into(), notional(1, "6", 1)),
                (
                    "Y".into(),
                    Notional {
                        orders: 1,
                        notional: max,
                        unrepresentable: 1
                    }
                ),
            ])
        );
        assert_eq!(n.by_identity["a"]["hl"]["X"], notional(1, "6", 1));
        assert_eq!(n.by_identity["a"]["hl"]["Y"].unrepresentable, 0);
        assert_eq!(n.by_identity["b"]["hl"]["Y"].unrepresentable, 0);
        assert_eq!(n.by_identity["b"]["hl"]["Y"].notional, max);
        // Counting is unaffected.
        assert_eq!(r.orders_by_symbol.by_symbol["X"].placed, t(2, 0));
        let x = r.transfers.by_key["hl"]["d"]["USDC"];
        assert_eq!(x.transfers, 2);
        assert_eq!(x.unrepresentable, 1);
        assert_eq!(x.amount, max - dec("5"));
        assert_eq!(r.transfers.allowed, 3);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v["notional_by_symbol"]["by_symbol"]["Y"]["notional"],
            max.to_string()
        );
    }

    #[test]
    fn csv_rows_carry_venue_nonce_and_intents() {
        let d = order_decision(
            "a",
            Some("hl"),
            true,
            "",
            vec![place("PURR/USDC", "100", "0.2"), cancel("BTC")],
        );
        let line = csv_row(9, 0, &d);
        let rows = parse_csv(&line);
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.len(), CSV_COLUMNS.len());
        assert_eq!(row[12], "hyperliquid");
        assert_eq!(row[13], "1700000000000");
        // Compact JSON, the same as the journal's, and it reads back.
        assert_eq!(row[14], serde_json::to_string(&d.intents).unwrap());
        assert!(!row[14].contains(' '));
        let back: Vec<Intent> = serde_json::from_str(&row[14]).unwrap();
        assert_eq!(Some(back), d.intents);
        // It holds commas and quotes, so it is quoted with quotes doubled.
        assert!(line.ends_with(&format!(
            ",hyperliquid,1700000000000,\"{}\"\r\n",
            row[14].replace('"', "\"\"")
        )));
        assert!(row[14].starts_with(r#"[{"intent":"place","symbol":"PURR/USDC","#));
        // An empty batch is "[]"; a denial has no nonce.
        let denied = order_decision("a", Some("hl"), false, "empty_request", vec![]);
        let rows = parse_csv(&csv_row(10, 0, &denied));
        assert_eq!(rows[0][12..], ["hyperliquid", "", "[]"]);
    }

    #[test]
    fn the_json_report_has_a_stable_shape() {
        let v = serde_json::to_value(report(Period::default())).unwrap();
        let top: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        for k in [
            "report",
            "report_version",
            "agent_version",
            "generated_at",
            "period",
            "journal",
            "records",
            "decisions",
            "signing",
            "peer_refusals",
            "lifecycle",
            "heartbeats",
            "trips",
            "operator_actions",
            "checkpoints",
            "orders_by_symbol",
            "notional_by_symbol",
            "transfers",
            "absent",
        ] {
            assert!(top.contains(&k), "missing {k}");
        }
        assert_eq!(v["report_version"], 1);
        assert_eq!(v["peer_refusals"]["by_uid"]["1234"], 1);
        assert_eq!(v["decisions"]["by_key"]["eth"]["allowed"], 3);
        assert_eq!(v["period"]["from"], serde_json::Value::Null);
        assert_eq!(v["journal"]["chain_checked"], true);
        assert_eq!(v["journal"]["checkpoint_signatures_checked"], false);
    }

    fn deadman_sample() -> Vec<Record> {
        let beat = |identity: &str| Event::Heartbeat {
            identity: identity.into(),
            timeout_ms: 30_000,
            deadline_ms: 1,
        };
        let trip = |identity: &str, deadline_ms| Event::Trip {
            identity: identity.into(),
            deadline_ms,
            reason: "no heartbeat".into(),
        };
        let hook = |trip, ok, output: String| Event::TripHook {
            identity: "a".into(),
            trip,
            ok,
            exit_code: if ok { Some(0) } else { Some(3) },
            instructions: 2,
            output,
        };
        let by = || "operator uid 0 pid 7".to_string();
        vec![
            rec(1, 100, beat("a")),
            rec(2, 110, beat("a")),
            rec(3, 120, beat("b")),
            // 50 ms late.
            rec(4, 200, trip("a", 150)),
            rec(
                5,
                210,
                Event::Halt {
                    target: HaltScope::All,
                    reason: "market, \"closed\"".into(),
                    reducing_allowed: true,
                    by: by(),
                },
            ),
            // Recorded before its deadline (a clock step): late by 0.
            rec(6, 220, trip("b", 300)),
            rec(
                7,
                230,
                Event::Pause {
                    identity: "b".into(),
                    until_ms: 5000,
                    reason: "maintenance".into(),
                    by: by(),
                },
            ),
            // 300 characters, some of them two bytes long.
            rec(8, 240, hook(4, false, "é".repeat(150) + &"x".repeat(150))),
            rec(
                9,
                250,
                Event::Resume {
                    target: HaltScope::All,
                    by: by(),
                },
            ),
            rec(
                10,
                260,
                Event::Rearm {
                    identity: "a".into(),
                    timeout_ms: 30_000,
                    deadline_ms: 30_260,
                    by: by(),
                },
            ),
            rec(
                11,
                270,
                Event::PolicyReload {
                    sha256: "ab".repeat(32),
                    by: "SIGHUP".into(),
                },
            ),
            // Its hook never recorded: the agent stopped.
            rec(12, 280, trip("a", 270)),
            rec(13, 290, beat("a")),
            // After the period below, yet it settles the trip at seq 6.
            rec(14, 400, hook(6, true, "done".into())),
        ]
    }

    #[test]
    fn reports_trips_operator_actions_and_heartbeats() {
        let recs = deadman_sample();
        let report_over = |period| {
            let mut agg = Aggregate::new(period);
            for r in &recs {
                agg.add(r);
            }
            agg.finish(&summary_of(&recs), 0)
        };
        let r = report_over(Period::new(Some(100), Some(300)).unwrap());
        assert_eq!(r.records.total, 13);
        assert_eq!(r.records.by_kind["heartbeat"], 4);
        assert_eq!(r.records.by_kind["trip_hook"], 1);

        assert_eq!(r.heartbeats.total, 4);
        assert_eq!(
            r.heartbeats.by_identity,
            BTreeMap::from([("a".into(), 3), ("b".into(), 1)])
        );

        let t = &r.trips;
        assert_eq!(t.total, 3);
        assert_eq!(
            t.by_identity,
            BTreeMap::from([("a".into(), 2), ("b".into(), 1)])
        );
        assert_eq!(t.without_hook, 1);
        let summary: Vec<(u64, &str, u64, u64)> = t
            .list
            .iter()
            .map(|t| (t.seq, t.identity.as_str(), t.deadline_ms, t.late_ms))
            .collect();
        assert_eq!(
            summary,
            [(4, "a", 150, 50), (6, "b", 300, 0), (12, "a", 270, 10)]
        );
        assert_eq!(t.list[0].time, "1970-01-01T00:00:00.200Z");
        assert_eq!(t.list[0].reason, "no heartbeat");
        let h = t.list[0].hook.as_ref().unwrap();
        assert_eq!(
            (h.seq, h.ok, h.exit_code, h.instructions),
            (8, false, Some(3), 2)
        );
        assert_eq!(h.time, "1970-01-01T00:00:00.240Z");
        assert_eq!(h.output, "é".repeat(150) + &"x".repeat(50));
        assert!(h.output_truncated);
        // Joined from after the period.
        let h = t.list[1].hook.as_ref().unwrap();
        assert_eq!((h.seq, h.ts_ms, h.ok), (14, 400, true));
        assert_eq!(h.output, "done");
        assert!(!h.output_truncated);
        assert_eq!(t.list[2].hook, None);

        let a = &r.operator_actions;
        assert_eq!(a.total, 5);
        assert_eq!(
            a.by_kind,
            OPERATOR_KINDS
                .iter()
                .map(|k| (k.to_string(), u64::from(!k.starts_with("key_"))))
                .collect()
        );
        let kinds: Vec<(u64, &str, &str)> = a
            .list
            .iter()
            .map(|a| (a.seq, a.kind, a.by.as_str()))
            .collect();
        let op = "operator uid 0 pid 7";
        assert_eq!(
            kinds,
            [
                (5, "halt", op),
                (7, "pause", op),
                (9, "resume", op),
                (10, "rearm", op),
                (11, "policy_reload", "SIGHUP"),
            ]
        );

        // In JSON, each action's detail sits next to its kind, and a trip
        // without an outcome has a null hook.
        let v = serde_json::to_value(&r).unwrap();
        let list = &v["operator_actions"]["list"];
        assert_eq!(
            list[0],
            serde_json::json!({
                "seq": 5,
                "time": "1970-01-01T00:00:00.210Z",
                "ts_ms": 210,
                "kind": "halt",
                "by": op,
                "detail": {
                    "target": {"scope": "all"},
                    "reason": "market, \"closed\"",
                    "reducing_allowed": true,
                },
            })
        );
        assert_eq!(
            list[1]["detail"],
            serde_json::json!({"identity": "b", "until_ms": 5000, "reason": "maintenance"})
        );
        assert_eq!(
            list[2]["detail"],
            serde_json::json!({"target": {"scope": "all"}})
        );
        assert_eq!(
            list[3]["detail"],
            serde_json::json!({"identity": "a", "timeout_ms": 30_000, "deadline_ms": 30_260})
        );
        assert_eq!(
            list[4]["detail"],
            serde_json::json!({"sha256": "ab".repeat(32)})
        );
        assert_eq!(v["trips"]["list"][2]["hook"], serde_json::Value::Null);
        assert_eq!(v["trips"]["list"][1]["hook"]["exit_code"], 0);
        assert_eq!(v["heartbeats"]["by_identity"]["a"], 3);

        // A trip before the period is not listed, even though its hook
        // falls inside it.
        let r = report_over(Period::new(Some(235), None).unwrap());
        assert_eq!(r.records.by_kind["trip_hook"], 2);
        assert_eq!(r.trips.total, 1);
        assert_eq!(r.trips.list[0].seq, 12);
        assert_eq!(r.trips.without_hook, 1);
        assert_eq!(r.operator_actions.by_kind["halt"], 0);
        assert_eq!(r.operator_actions.total, 3);
        assert_eq!(r.heartbeats.by_identity, BTreeMap::from([("a".into(), 1)]));
    }

    fn write_journal(dir: &Path, recs: &[Record]) {
        let mut prev = GENESIS;
        let mut text = Vec::new();
        for r in recs {
            let mut r = r.clone();
            r.prev = hex::encode(prev);
            let line = crate::journal::record::encode(&r);
            prev = crate::journal::record::line_hash(&line);
            text.extend_from_slice(&line);
            text.push(b'\n');
        }
        std::fs::write(dir.join(segment::segment_name(1)), text).unwrap();
    }

    fn no_checkpoints(recs: Vec<Record>) -> Vec<Record> {
        recs.into_iter()
            .filter(|r| !matches!(r.event, Event::Checkpoint { .. }))
            .enumerate()
            .map(|(i, mut r)| {
                r.seq = i as u64 + 1;
                r
            })
            .collect()
    }

    #[test]
    fn exports_from_a_folder_and_refuses_a_damaged_one() {
        let dir = tempfile::tempdir().unwrap();
        let recs = no_checkpoints(sample());
        write_journal(dir.path(), &recs);
        let mut out = Vec::new();
        let n = export(dir.path(), Period::default(), Format::Csv, &mut out).unwrap();
        assert_eq!(n.decisions, 7);
        let rows = parse_csv(std::str::from_utf8(&out).unwrap());
        assert_eq!(rows.len(), 8);
        assert_eq!(rows[0], CSV_COLUMNS);
        let mut out = Vec::new();
        let n = export(
            dir.path(),
            Period::new(Some(130), None).unwrap(),
            Format::Json,
            &mut out,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["decisions"]["total"], n.decisions);
        assert_eq!(v["journal"]["records"], recs.len() as u64);
        assert_eq!(v["journal"]["uncovered"], recs.len() as u64);

        // Edit a decision in the middle: no report, and a pointer to verify.
        let seg = dir.path().join(segment::segment_name(1));
        let text = std::fs::read_to_string(&seg).unwrap();
        std::fs::write(&seg, text.replacen("\"allow\":false", "\"allow\":true", 1)).unwrap();
        for format in [Format::Csv, Format::Json] {
            let mut out = Vec::new();
            let e = export(dir.path(), Period::default(), format, &mut out).unwrap_err();
            assert!(matches!(e, ExportError::Damaged(_)), "{e}");
            assert!(e.to_string().contains("journal verify"), "{e}");
            assert!(out.is_empty(), "wrote {} bytes", out.len());
        }
        let e = export(
            &dir.path().join("missing"),
            Period::default(),
            Format::Json,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(matches!(e, ExportError::Read(_)), "{e}");
    }
}
