//! `price.update`: a reference price for policy's price bands, from an
//! identity holding the price-feed role. Prices are not journaled: after a
//! restart, symbols with a band are denied until the feed sends again
//! (a stale or missing price denies; it never loosens anything).

use serde_json::{Map, Value, json};

use crate::protocol::{ErrorCode, Params, ProtoError};
use crate::server::AgentState;

pub async fn run(state: &AgentState, params: &Map<String, Value>) -> Result<Value, ProtoError> {
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
    st.engine
        .update_price(symbol, price, now)
        .map_err(|e| ProtoError::new(ErrorCode::BadParams, e))?;
    Ok(json!({"symbol": symbol, "price": price.to_string(), "at_ms": now}))
}
