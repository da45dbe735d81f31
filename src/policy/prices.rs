//! Reference prices and the price band.
//!
//! Prices are set by an identity with the price-feed role (the caller checks
//! the role) and keyed by symbol. A price carries the time it was set; one
//! older than the configured maximum age is stale, and a stale or missing
//! price denies every order whose symbol has a band configured.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::config::MAX_LIMIT;
use crate::order::Side;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefPrice {
    pub price: Decimal,
    pub at_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceBook {
    prices: BTreeMap<String, RefPrice>,
}

impl PriceBook {
    /// Set `symbol`'s reference price as of `at_ms`. An update older than
    /// the price already held is ignored (feeds and replays may arrive out
    /// of order; the newest price wins).
    pub fn update(&mut self, symbol: &str, price: Decimal, at_ms: u64) -> Result<(), String> {
        if symbol.is_empty() {
            return Err("a reference price needs a symbol".into());
        }
        if price <= Decimal::ZERO || price > MAX_LIMIT {
            return Err(format!(
                "reference price for {symbol:?} must be above 0 and at most {MAX_LIMIT} (got {price})"
            ));
        }
        match self.prices.get_mut(symbol) {
            Some(p) if p.at_ms > at_ms => {}
            Some(p) => *p = RefPrice { price, at_ms },
            None => {
                self.prices
                    .insert(symbol.to_string(), RefPrice { price, at_ms });
            }
        }
        Ok(())
    }

    pub fn get(&self, symbol: &str) -> Option<RefPrice> {
        self.prices.get(symbol).copied()
    }
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

    #[test]
    fn updates() {
        let mut p = PriceBook::default();
        p.update("BTC", d("100"), 1000).unwrap();
        p.update("BTC", d("90"), 500).unwrap(); // older: ignored
        assert_eq!(
            p.get("BTC"),
            Some(RefPrice {
                price: d("100"),
                at_ms: 1000
            })
        );
        p.update("BTC", d("101"), 1000).unwrap(); // same time: replaces
        assert_eq!(p.get("BTC").unwrap().price, d("101"));
        assert!(p.update("BTC", d("0"), 2000).is_err());
        assert!(p.update("BTC", d("-1"), 2000).is_err());
        assert!(p.update("BTC", d("1000000000000001"), 2000).is_err());
        assert!(p.update("", d("1"), 2000).is_err());
        assert_eq!(p.get("ETH"), None);
    }
}
