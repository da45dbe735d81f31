//! Time bounds, RFC 3339 record times and periods.

use super::time::MS_PER_DAY;
use super::*;

/// Days in month `m` of year `y`.
fn days_in_month(y: u64, m: u64) -> u64 {
    let month = ::time::Month::try_from(m as u8).unwrap();
    u64::from(month.length(y as i32))
}

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
