//! Time in the report: the command line's bounds (parsed), record times
//! (written as RFC 3339 in UTC), and the period a report covers.

pub(super) const MS_PER_DAY: u64 = 86_400_000;

const TIME_FORMS: &str = "YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ (UTC) or Unix milliseconds";

fn is_leap(y: u64) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

pub(super) fn days_in_month(y: u64, m: u64) -> u64 {
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
