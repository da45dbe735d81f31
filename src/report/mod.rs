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
//!
//! The parts: [`time`] reads the command line's bounds and writes record
//! times; [`csv`] writes the CSV rows; [`model`] is the JSON report's
//! shape; [`aggregate`] sums records into it; this file runs an export.

pub mod aggregate;
pub mod csv;
pub mod model;
pub mod time;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_csv;
#[cfg(test)]
mod tests_orders;
#[cfg(test)]
mod tests_time;

use std::io::Write;
use std::path::Path;

use crate::journal::record::{Event, now_ms};
use crate::journal::segment::{self, Damage, ScanError};

pub use self::aggregate::Aggregate;
pub use self::csv::{CSV_COLUMNS, CsvWriter, csv_header, csv_row, intents_json};
pub use self::model::{REPORT_VERSION, Report};
pub use self::time::{Period, format_rfc3339, parse_time};

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
            let mut rows = CsvWriter::new(&mut *out);
            rows.header().map_err(ExportError::Write)?;
            let mut write_err = None;
            segment::scan(dir, &mut |rec, _| {
                if write_err.is_some() || !period.contains(rec.ts_ms) {
                    return;
                }
                n.records += 1;
                if let Event::Decision(d) = &rec.event {
                    n.decisions += 1;
                    if let Err(e) = rows.row(rec.seq, rec.ts_ms, d) {
                        write_err = Some(e);
                    }
                }
            })?;
            if let Some(e) = write_err {
                return Err(ExportError::Write(e));
            }
            rows.flush().map_err(ExportError::Write)?;
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
