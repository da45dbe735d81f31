//! The vocabulary shared by venues and policy: what a request asks the key
//! to do, in typed form. A venue parses its wire format into these; policy
//! judges only these; the journal records them so policy state can be
//! rebuilt at start. Nothing here knows a wire format or a limit.
//!
//! Also here, for the same reason: the scopes a halt covers
//! ([`HaltScope`]), which policy enforces and the journal records.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Buy or sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Buy,
    Sell,
}

/// How an existing order is referred to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderRef {
    /// The venue's order id.
    Oid(u64),
    /// The client order id the bot chose (hex, e.g. a Hyperliquid cloid).
    Cloid(String),
}

/// A fee an order pays beyond the venue's own, to someone the bot names
/// (a Hyperliquid builder's fee). Policy allows it only for a listed payee
/// and up to a listed rate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fee {
    /// What kind of fee, as the venue calls it (e.g. "builder").
    pub kind: String,
    /// Who receives it (an address).
    pub payee: String,
    /// As a fraction of the order's notional (0.0001 = 1 basis point).
    pub rate: Decimal,
}

/// A new order (or the new version of a modified one).
///
/// Every price at which the order can execute is here, so that policy can
/// band each of them and take the notional at the worst: the limit price,
/// the trigger price of a conditional order, and for an order that executes
/// at market with no price of its own, the worst price policy assumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewOrder {
    /// The venue's symbol (e.g. "BTC", "ETH", "PURR/USDC").
    pub symbol: String,
    pub side: Side,
    /// Size in base units, > 0; `None` for an order sized in quote units
    /// (`quote_size`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Decimal>,
    /// The quote amount to spend or receive (Binance `quoteOrderQty`), which
    /// is then the order's notional; `None` for an order sized in base units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote_size: Option<Decimal>,
    /// Limit price, > 0; `None` for an order that executes at market (a
    /// MARKET order, or a conditional order that becomes one).
    pub price: Option<Decimal>,
    /// The trigger (stop) price of a conditional order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_price: Option<Decimal>,
    /// For an order with neither a limit nor a trigger price: the worst
    /// price policy assumed at the decision (reference × (1 + the symbol's
    /// `max_slippage`)). Policy sets it before judging; it is journaled
    /// with the decision, so a replay counts the same notional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market_price: Option<Decimal>,
    pub reduce_only: bool,
    /// Executes against the book at once (IOC, a market order or a market
    /// trigger): policy may hold it to a tighter price band.
    pub aggressive: bool,
    pub client_id: Option<String>,
    /// Fees beyond the venue's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fees: Vec<Fee>,
}

impl NewOrder {
    /// A limit order sized in base units, with no trigger and no fees (the
    /// common case; venues set the other fields on the value it returns).
    pub fn limit(symbol: &str, side: Side, size: Decimal, price: Decimal) -> NewOrder {
        NewOrder {
            symbol: symbol.to_string(),
            side,
            size: Some(size),
            quote_size: None,
            price: Some(price),
            trigger_price: None,
            market_price: None,
            reduce_only: false,
            aggressive: false,
            client_id: None,
            fees: Vec::new(),
        }
    }

    /// Executes at market with no price of its own: policy must assume one.
    pub fn is_market(&self) -> bool {
        self.price.is_none() && self.trigger_price.is_none()
    }

    /// Every price at which the order can execute, as the request states
    /// them (limit, trigger) or policy assumed them (market).
    pub fn execution_prices(&self) -> impl Iterator<Item = Decimal> + '_ {
        self.price
            .into_iter()
            .chain(self.trigger_price)
            .chain(self.market_price.filter(|_| self.is_market()))
    }

    /// The highest execution price: the one the notional is taken at.
    pub fn worst_price(&self) -> Option<Decimal> {
        self.execution_prices().max()
    }

    /// The order's notional in quote units: the quote size if it has one,
    /// otherwise size × the highest execution price. `None` when a figure
    /// is missing (a market order policy has not priced) or overflows.
    pub fn notional(&self) -> Option<Decimal> {
        match (self.quote_size, self.size) {
            (Some(q), _) => Some(q),
            (None, Some(size)) => self.worst_price()?.checked_mul(size),
            (None, None) => None,
        }
    }

    /// The size in base units, or for an order sized in quote, the most it
    /// can buy or sell: the quote size at the lowest execution price.
    pub fn base_size(&self) -> Option<Decimal> {
        match (self.size, self.quote_size) {
            (Some(s), _) => Some(s),
            (None, Some(q)) => {
                let low = self.execution_prices().min()?;
                (low > Decimal::ZERO).then(|| q.checked_div(low)).flatten()
            }
            (None, None) => None,
        }
    }
}

/// One thing a request asks for. A request may carry several (a batch),
/// which policy judges as a whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "intent", rename_all = "snake_case")]
pub enum Intent {
    /// Place a new order.
    Place(NewOrder),
    /// Cancel an order.
    Cancel { symbol: String, order: OrderRef },
    /// Replace an order with a new version.
    Modify { order: OrderRef, new: NewOrder },
    /// Change leverage for a symbol.
    SetLeverage {
        symbol: String,
        leverage: u32,
        cross: bool,
    },
    /// Move margin into or out of an isolated position (quote units,
    /// negative to remove).
    AdjustMargin { symbol: String, amount: Decimal },
    /// Arm (Some) or clear (None) the venue's own dead-man's switch.
    ScheduleCancel { at_ms: Option<u64> },
    /// Move funds out of the account or between accounts.
    Transfer {
        kind: String,
        destination: String,
        asset: String,
        amount: Decimal,
    },
    /// Give another key (an "agent") or a builder rights on the account.
    Approve { kind: String, grantee: String },
    /// Use up a nonce and do nothing else (Hyperliquid `noop`), so that a
    /// pending action signed with that nonce can no longer execute. Moves
    /// no value and opens nothing.
    InvalidateNonce,
}

impl Intent {
    /// True for intents that can only reduce risk (cancels, clearing a
    /// schedule, reduce-only orders): these stay allowed while an identity
    /// is halted or its circuit breaker is open, if configured.
    pub fn reduces_risk(&self) -> bool {
        match self {
            Intent::Cancel { .. } | Intent::InvalidateNonce => true,
            // Setting a schedule reduces risk; clearing one removes the
            // exchange-side dead-man's switch, so it does not.
            Intent::ScheduleCancel { at_ms } => at_ms.is_some(),
            Intent::Place(o) => o.reduce_only,
            Intent::Modify { new, .. } => new.reduce_only,
            _ => false,
        }
    }
}

/// What a halt covers: a scope in which new risk is refused (see
/// `crate::policy::Halts`). Journaled by halt and resume records.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "scope", content = "name", rename_all = "snake_case")]
pub enum HaltScope {
    /// Every identity and key: the kill switch.
    All,
    Identity(String),
    Key(String),
    /// One identity, halted by its tripped dead-man's switch. Kept apart
    /// from an operator's halt of the identity: re-arming lifts only this
    /// one, and an operator's `resume` never lifts it.
    Trip(String),
}

impl fmt::Display for HaltScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HaltScope::All => f.write_str("everything"),
            HaltScope::Identity(n) => write!(f, "identity {n:?}"),
            HaltScope::Key(k) => write!(f, "key {k:?}"),
            HaltScope::Trip(n) => write!(f, "the dead-man's switch of identity {n:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_json_shape() {
        let j = serde_json::to_string(&HaltScope::Identity("bot".into())).unwrap();
        assert_eq!(j, r#"{"scope":"identity","name":"bot"}"#);
        let all: HaltScope = serde_json::from_str(r#"{"scope":"all"}"#).unwrap();
        assert_eq!(all, HaltScope::All);
    }
}
