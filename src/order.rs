//! The vocabulary shared by venues and policy: what a request asks the key
//! to do, in typed form. A venue parses its wire format into these; policy
//! judges only these; the journal records them so policy state can be
//! rebuilt at start. Nothing here knows a wire format or a limit.

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

/// A new order (or the new version of a modified one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewOrder {
    /// The venue's symbol (e.g. "BTC", "ETH", "PURR/USDC").
    pub symbol: String,
    pub side: Side,
    /// Size in base units, > 0.
    pub size: Decimal,
    /// Limit price (for a trigger order, the trigger price), > 0.
    pub price: Decimal,
    pub reduce_only: bool,
    /// Executes against the book at once (IOC or a market trigger): policy
    /// may hold it to a tighter price band.
    pub aggressive: bool,
    pub client_id: Option<String>,
}

impl NewOrder {
    /// Price × size, the order's notional in quote units.
    pub fn notional(&self) -> Decimal {
        self.price * self.size
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
