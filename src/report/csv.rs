//! The CSV export: one row per decision in the period, written by the
//! `csv` crate as RFC 4180 has it (a field is quoted when it holds a comma,
//! a double quote, CR or LF, with inner double quotes doubled; lines end in
//! CRLF).

use std::borrow::Cow;
use std::io::{self, Write};

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

/// A `csv` writer for the report's dialect.
pub(super) fn writer<W: Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(out)
}

/// Writes the CSV report: the header, then one row per decision.
pub struct CsvWriter<W: Write>(csv::Writer<W>);

impl<W: Write> CsvWriter<W> {
    pub fn new(out: W) -> Self {
        CsvWriter(writer(out))
    }

    /// The header line.
    pub fn header(&mut self) -> io::Result<()> {
        self.0.write_record(CSV_COLUMNS).map_err(io_error)
    }

    /// The row of one decision record.
    pub fn row(&mut self, seq: u64, ts_ms: u64, d: &Decision) -> io::Result<()> {
        let fields = row_fields(seq, ts_ms, d);
        self.0
            .write_record(fields.iter().map(|f| f.as_bytes()))
            .map_err(io_error)
    }

    /// Write out what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// The I/O error behind a `csv` error. Rows always have the header's
/// length and fields are text, so nothing else can fail; if it did, it is
/// still a failure to write.
fn io_error(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

/// What `write` writes, as text.
fn line(write: impl FnOnce(&mut CsvWriter<Vec<u8>>) -> io::Result<()>) -> String {
    let mut w = CsvWriter::new(Vec::new());
    write(&mut w).expect("writing to memory cannot fail");
    let bytes = w.0.into_inner().expect("writing to memory cannot fail");
    String::from_utf8(bytes).expect("text fields make a line of text")
}

/// The header line (with its CRLF).
pub fn csv_header() -> String {
    line(|w| w.header())
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

/// The CSV line (with its CRLF) of one decision record, as the export
/// writes it.
pub fn csv_row(seq: u64, ts_ms: u64, d: &Decision) -> String {
    line(|w| w.row(seq, ts_ms, d))
}

/// The fields of one decision's row, in the order of [`CSV_COLUMNS`].
fn row_fields(seq: u64, ts_ms: u64, d: &Decision) -> [Cow<'_, str>; 15] {
    let opt = |v: &Option<String>| Cow::Owned(v.clone().unwrap_or_default());
    [
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
    ]
}
