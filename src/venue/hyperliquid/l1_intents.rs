//! What an L1 action asks for, in policy's vocabulary: every price an order
//! can execute at, its size, and the fees it pays beyond the venue's own
//! (a builder's, the order priority's).

use rust_decimal::Decimal;

use super::error::VenueError;
use super::l1::{Builder, Grouping, L1Action, Order, OrderType};
use super::meta::Meta;
use crate::order::{Fee, Intent, NewOrder, OrderRef, Side};

/// The fee an order priority makes each order pay: rate p / 10^8 of its
/// notional, burned (so its payee is `burn`).
fn priority_fee(grouping: Grouping) -> Option<Fee> {
    match grouping {
        Grouping::Priority(p) => Some(Fee {
            kind: "priority".into(),
            payee: "burn".into(),
            rate: Decimal::from(p) / Decimal::from(100_000_000u64),
        }),
        _ => None,
    }
}

impl L1Action {
    /// What the action asks for, in policy's vocabulary.
    pub fn intents(&self, meta: &Meta) -> Result<Vec<Intent>, VenueError> {
        let symbol = |asset: u32, path: &str| {
            meta.by_index(asset)
                .map(|i| i.symbol.clone())
                .ok_or_else(|| VenueError::UnknownAsset {
                    path: path.to_string(),
                    index: asset.into(),
                })
        };
        // Every price the order can execute at: `p` always (for a market
        // trigger it is the worst fill the venue accepts), and the trigger.
        let new_order = |o: &Order, path: &str, builder: Option<&Builder>, grouping: Grouping| {
            Ok::<_, VenueError>(NewOrder {
                symbol: symbol(o.asset, path)?,
                side: if o.is_buy { Side::Buy } else { Side::Sell },
                size: Some(o.size),
                quote_size: None,
                price: Some(o.price),
                trigger_price: match &o.order_type {
                    OrderType::Limit { .. } => None,
                    OrderType::Trigger { trigger_px, .. } => Some(*trigger_px),
                },
                market_price: None,
                reduce_only: o.reduce_only,
                aggressive: o.is_aggressive(),
                client_id: o.cloid.map(|c| c.to_string()),
                fees: builder
                    .map(Builder::fee)
                    .into_iter()
                    .chain(priority_fee(grouping))
                    .collect(),
            })
        };
        Ok(match self {
            L1Action::Order {
                orders,
                builder,
                grouping,
            } => orders
                .iter()
                .enumerate()
                .map(|(i, o)| {
                    new_order(o, &format!("orders[{i}].a"), builder.as_ref(), *grouping)
                        .map(Intent::Place)
                })
                .collect::<Result<_, _>>()?,
            L1Action::Cancel { cancels } => cancels
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    Ok(Intent::Cancel {
                        symbol: symbol(c.asset, &format!("cancels[{i}].a"))?,
                        order: OrderRef::Oid(c.oid),
                    })
                })
                .collect::<Result<_, VenueError>>()?,
            L1Action::CancelByCloid { cancels } => cancels
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    Ok(Intent::Cancel {
                        symbol: symbol(c.asset, &format!("cancels[{i}].asset"))?,
                        order: OrderRef::Cloid(c.cloid.to_string()),
                    })
                })
                .collect::<Result<_, VenueError>>()?,
            L1Action::Modify(m) => vec![Intent::Modify {
                order: m.oid.to_ref(),
                new: new_order(&m.order, "order.a", None, Grouping::Na)?,
            }],
            L1Action::BatchModify { modifies } => modifies
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    Ok(Intent::Modify {
                        order: m.oid.to_ref(),
                        new: new_order(
                            &m.order,
                            &format!("modifies[{i}].order.a"),
                            None,
                            Grouping::Na,
                        )?,
                    })
                })
                .collect::<Result<_, VenueError>>()?,
            L1Action::UpdateLeverage {
                asset,
                is_cross,
                leverage,
            } => vec![Intent::SetLeverage {
                symbol: symbol(*asset, "asset")?,
                leverage: *leverage,
                cross: *is_cross,
            }],
            L1Action::UpdateIsolatedMargin { asset, ntli, .. } => vec![Intent::AdjustMargin {
                symbol: symbol(*asset, "asset")?,
                amount: Decimal::new(*ntli, 6).normalize(),
            }],
            L1Action::ScheduleCancel { time } => vec![Intent::ScheduleCancel { at_ms: *time }],
            L1Action::Noop => vec![Intent::InvalidateNonce],
            L1Action::AgentSendAsset(s) => vec![s.intent("agentSendAsset")],
        })
    }
}
