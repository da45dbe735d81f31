//! The CSV export: one row per decision in the period, RFC 4180.

use std::borrow::Cow;

use super::time::format_rfc3339;
use crate::journal::record::Decision;

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
