//! Fixed-point amounts for the sums policy keeps (rolling windows, open
//! notional, transfer totals): integers counting 10^-8 units, in `i128`.
//!
//! Sums over `Decimal` would round once they pass 28 significant digits;
//! integers add and subtract exactly, so a window's running sums never
//! drift. Amounts are rounded *up* into units and limits *down*, so the
//! conversion can only make a check stricter.

use rust_decimal::{Decimal, RoundingStrategy};

/// Units per 1 (eight decimal places).
pub const SCALE: u32 = 8;

/// An order's notional (or a transfer's amount) above this many units is
/// refused outright: 10^18 quote units, far above any limit (`MAX_LIMIT`
/// is 10^15), and small enough that sums of billions of them fit in `i128`.
pub const MAX_UNITS: i128 = 1_000_000_000_000_000_000 * 100_000_000;

/// `d` in units, rounded up; `None` if negative or above `MAX_UNITS`.
pub fn units_ceil(d: Decimal) -> Option<i128> {
    if d.is_sign_negative() && !d.is_zero() {
        return None;
    }
    let r = d.round_dp_with_strategy(SCALE, RoundingStrategy::ToPositiveInfinity);
    let u = r.mantissa().checked_mul(10i128.pow(SCALE - r.scale()))?;
    (u <= MAX_UNITS).then_some(u)
}

/// A limit in units, rounded down (limits are validated to be in range;
/// out-of-range input saturates, negative to zero).
pub fn units_floor(d: Decimal) -> i128 {
    if d.is_sign_negative() {
        return 0;
    }
    let r = d.round_dp_with_strategy(SCALE, RoundingStrategy::ToNegativeInfinity);
    r.mantissa()
        .checked_mul(10i128.pow(SCALE - r.scale()))
        .map_or(MAX_UNITS, |u| u.min(MAX_UNITS))
}

/// Units back to a `Decimal` (saturating at `Decimal::MAX`).
pub fn to_decimal(u: i128) -> Decimal {
    Decimal::try_from_i128_with_scale(u, SCALE)
        .map(|d| d.normalize())
        .unwrap_or(if u < 0 { Decimal::MIN } else { Decimal::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn conversions() {
        let cases: &[(&str, Option<i128>, i128)] = &[
            ("0", Some(0), 0),
            ("1", Some(100_000_000), 100_000_000),
            ("0.00000001", Some(1), 1),
            ("0.000000001", Some(1), 0),
            ("0.000000019", Some(2), 1),
            ("12.5", Some(1_250_000_000), 1_250_000_000),
            ("-1", None, 0),
            ("1000000000000000000", Some(MAX_UNITS), MAX_UNITS),
            ("1000000000000000000.00000001", None, MAX_UNITS),
        ];
        for (s, ceil, floor) in cases {
            assert_eq!(units_ceil(d(s)), *ceil, "{s}");
            assert_eq!(units_floor(d(s)), *floor, "{s}");
        }
        assert_eq!(to_decimal(1_250_000_000), d("12.5"));
        assert_eq!(to_decimal(1), d("0.00000001"));
        assert_eq!(to_decimal(i128::MAX), Decimal::MAX);
    }
}
