//! `price.update`: a reference price for policy's price bands and market
//! orders, from an identity holding the price-feed role. The update passes
//! the sanity checks of `[policy.price_feeds]` (largest move within a
//! window, a quorum of feeds, the feed's own rate limit) or is refused; a
//! refusal is journaled and leaves the reference as it was. Accepted prices
//! are not journaled: after a restart, orders that need a price are denied
//! until the feeds send again (a stale or missing price denies; it never
//! loosens anything).

use serde_json::{Map, Value, json};

use crate::authorize::Refusal;
use crate::journal::Event;
use crate::policy::FeedError;
use crate::protocol::{ErrorCode, Params, ProtoError};
use crate::server::AgentState;
use crate::server::peer::Identity;

pub async fn run(
    state: &AgentState,
    who: &Identity,
    params: &Map<String, Value>,
) -> Result<Value, Refusal> {
    let p = Params::new(params, &["symbol", "price"])?;
    let symbol = p.str("symbol")?;
    let text = p.str("price")?;
    let price: rust_decimal::Decimal = text.parse().map_err(|_| {
        ProtoError::new(
            ErrorCode::BadParams,
            format!("price {text:?} is not a decimal"),
        )
    })?;
    let now = crate::journal::record::now_ms();
    let mut st = state.state.lock().await;
    let denial = match st.engine.update_price(&who.name, symbol, price, now) {
        Ok(reference) => {
            return Ok(json!({
                "symbol": symbol,
                "price": price.to_string(),
                "at_ms": now,
                "reference": reference.map(|r| r.price.to_string()),
            }));
        }
        Err(FeedError::Invalid(e)) => return Err(ProtoError::new(ErrorCode::BadParams, e).into()),
        Err(FeedError::Refused(d)) => *d,
    };
    let record = Event::PriceRefused {
        identity: who.name.clone(),
        symbol: symbol.chars().take(64).collect(),
        price,
        rule: denial.rule.code().to_string(),
        reason: denial.to_string().chars().take(1024).collect(),
    };
    crate::authorize::record_refusal(state, st, &who.name, denial.rule.code(), false, record).await;
    let mut err = ProtoError::new(
        ErrorCode::PolicyDenied,
        format!("price update refused: {denial}"),
    );
    err.rule = Some(denial.rule.code());
    err.detail = serde_json::to_value([&denial]).ok().map(Box::new);
    if let Some(ms) = denial.retry_after_ms {
        err = err.retry_after(ms);
    }
    Err(Refusal::Recorded(err))
}
