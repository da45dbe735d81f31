//! Reference prices and the price band.
//!
//! Prices are set by identities with the price-feed role (the caller checks
//! the role; `feeds` applies the sanity checks) and keyed by symbol. A price
//! carries the time it was set; one older than the configured maximum age is
//! stale, and a stale or missing price denies every order that needs it.

use rust_decimal::Decimal;

use crate::order::Side;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefPrice {
    pub price: Decimal,
    pub at_ms: u64,
}

/// The worst price the band allows: ref × (1 + band) for a buy, ref × (1 −
/// band) for a sell.
pub fn band_edge(side: Side, reference: Decimal, band: Decimal) -> Decimal {
    let factor = match side {
        Side::Buy => Decimal::ONE + band,
        Side::Sell => Decimal::ONE - band,
    };
    reference.checked_mul(factor).unwrap_or(match side {
        Side::Buy => Decimal::MAX,
        Side::Sell => Decimal::MIN,
    })
}

/// Whether an order at `price` stays inside the band edge.
pub fn within_band(side: Side, price: Decimal, edge: Decimal) -> bool {
    match side {
        Side::Buy => price <= edge,
        Side::Sell => price >= edge,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn band_boundaries() {
        // (side, reference, band, price, inside)
        let cases = [
            (Side::Buy, "100", "0.02", "102", true),
            (Side::Buy, "100", "0.02", "102.00000001", false),
            (Side::Buy, "100", "0.02", "1", true),
            (Side::Sell, "100", "0.02", "98", true),
            (Side::Sell, "100", "0.02", "97.99999999", false),
            (Side::Sell, "100", "0.02", "1000", true),
            (Side::Buy, "100", "0", "100", true),
            (Side::Buy, "100", "0", "100.01", false),
            (Side::Sell, "0.0001234", "0.5", "0.0000617", true),
            (Side::Sell, "0.0001234", "0.5", "0.0000616", false),
        ];
        for (side, r, band, price, inside) in cases {
            let edge = band_edge(side, d(r), d(band));
            assert_eq!(
                within_band(side, d(price), edge),
                inside,
                "{side:?} {price} vs {r} ± {band}"
            );
        }
    }
}
