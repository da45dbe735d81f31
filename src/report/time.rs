//! Time in the report: the command line's bounds (parsed), record times
//! (written as RFC 3339 in UTC), and the period a report covers.
//!
//! The calendar (leap years, month lengths, days since the epoch) is the
//! `time` crate's; what is here is the report's own strict grammar for a
//! bound and its fixed output format.

use ::time::{Date, Month, UtcDateTime};

pub(super) const MS_PER_DAY: u64 = 86_400_000;

/// 400 Gregorian years in milliseconds: the calendar repeats after them.
const MS_PER_400_YEARS: u64 = 146_097 * MS_PER_DAY;

const TIME_FORMS: &str = "YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ (UTC) or Unix milliseconds";

/// Format milliseconds since the epoch as RFC 3339 in UTC with
/// milliseconds, e.g. `2025-03-01T14:05:09.042Z`.
pub fn format_rfc3339(ms: u64) -> String {
    // `time` reaches the year 9999, a record's time any u64 (past the year
    // 584 million). As the calendar repeats every 400 years, the time is
    // placed within the first 400 years from 1970 and the cycles it
    // skipped are added back to the year.
    let cycles = ms / MS_PER_400_YEARS;
    let t = UtcDateTime::UNIX_EPOCH + std::time::Duration::from_millis(ms % MS_PER_400_YEARS);
    let y = u64::from(t.year().unsigned_abs()) + cycles * 400;
    let (mo, d) = (u8::from(t.month()), t.day());
    let (h, mi, s, milli) = (t.hour(), t.minute(), t.second(), t.millisecond());
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
    let Some(month) = u8::try_from(mo).ok().and_then(|m| Month::try_from(m).ok()) else {
        return Err(bad("month out of range"));
    };
    // Four digits of year and two of day: the casts lose nothing.
    let Ok(date) = Date::from_calendar_date(y as i32, month, d as u8) else {
        return Err(bad("day out of range"));
    };
    if y < 1970 {
        return Err(bad("before 1970"));
    }
    // Midnight of a day in or after 1970: not negative.
    let day_ms = date.midnight().as_utc().unix_timestamp().unsigned_abs() * 1000;
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
