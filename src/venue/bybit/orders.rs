//! Bybit v5 order bodies (linear and spot): strict reading into typed
//! intents, and the canonical body in the documented field order.

use serde_json::{Map, Value};

use super::config::{BybitKeyConfig, Category, check_symbol};
use super::endpoints::{
    AMEND_FIELDS, BATCH_FIELDS, CANCEL_ALL_FIELDS, CANCEL_FIELDS, Endpoint, ORDER_FIELDS,
};
use crate::order::{Intent, NewOrder, OrderRef, Side};
use crate::venue::binance::RestError;
use crate::venue::jsonbody::{Obj, list};

/// The client order id under which a cancel of every open order on a
/// symbol is recorded (the venue never accepts `*` in one).
pub const ALL_ORDERS: &str = "*";

/// `orderLinkId`: 1 to 36 of letters, digits, `-` and `_`.
pub fn check_link_id(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 36
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not an orderLinkId (1 to 36 letters, digits, - and _)"
        ))
    }
}

fn check_order_id(s: &str) -> Result<(), String> {
    let ok =
        !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!("{s:?} is not an orderId"))
    }
}

fn category(f: &mut Obj<'_>) -> Result<Category, RestError> {
    Ok(match f.req_enumeration("category", &["linear", "spot"])? {
        "linear" => Category::Linear,
        _ => Category::Spot,
    })
}

/// The instrument's policy symbol.
fn symbol(cfg: &BybitKeyConfig, cat: Category, f: &mut Obj<'_>) -> Result<String, RestError> {
    let s = f.req_text("symbol", check_symbol)?;
    cfg.instrument(cat, &s)
        .map(|i| i.policy_symbol.clone())
        .ok_or_else(|| {
            RestError::param(
                f.path("symbol"),
                format!(
                    "{} {s} is not one of this key's instruments (bybit.instruments)",
                    cat.as_str()
                ),
            )
        })
}

/// The order referred to by exactly one of `orderId` and `orderLinkId`.
fn order_ref(f: &mut Obj<'_>) -> Result<OrderRef, RestError> {
    let oid = f.text("orderId", check_order_id)?;
    let link = f.text("orderLinkId", check_link_id)?;
    match (oid, link) {
        (Some(o), None) => Ok(match o.parse::<u64>() {
            Ok(n) => OrderRef::Oid(n),
            // Bybit order ids are UUIDs: recorded as the reference text.
            Err(_) => OrderRef::Cloid(o),
        }),
        (None, Some(l)) => Ok(OrderRef::Cloid(l)),
        _ => Err(RestError::param(
            f.path("orderId"),
            "give exactly one of orderId and orderLinkId",
        )),
    }
}

fn order(
    cfg: &BybitKeyConfig,
    cat: Category,
    prefix: String,
    v: &Value,
    ep: &str,
) -> Result<(Map<String, Value>, Intent), RestError> {
    let mut f = Obj::new(prefix, v, ORDER_FIELDS, ep)?;
    category(&mut f)?;
    let symbol = symbol(cfg, cat, &mut f)?;
    if let Some(l) = f.uint("isLeverage")?
        && l != 0
    {
        return Err(RestError::param(
            f.path("isLeverage"),
            "spot margin orders borrow, which policy does not judge; send 0 or leave it out",
        ));
    }
    let side = match f.req_enumeration("side", &["Buy", "Sell"])? {
        "Buy" => Side::Buy,
        _ => Side::Sell,
    };
    let ty = f.req_enumeration("orderType", &["Market", "Limit"])?;
    let qty = f.req_decimal("qty")?;
    let unit = f.enumeration("marketUnit", &["baseCoin", "quoteCoin"])?;
    if unit.is_some() && !(cat == Category::Spot && ty == "Market") {
        return Err(RestError::param(
            f.path("marketUnit"),
            "is sent only with spot market orders",
        ));
    }
    let price = f.decimal("price", true)?;
    match (ty, price) {
        ("Limit", None) => return Err(f.missing("price")),
        ("Market", Some(_)) => {
            return Err(RestError::param(
                f.path("price"),
                "is not sent with orderType Market",
            ));
        }
        _ => {}
    }
    let trigger = f.decimal("triggerPrice", true)?;
    let direction = f.uint("triggerDirection")?;
    if let Some(d) = direction
        && !(1..=2).contains(&d)
    {
        return Err(RestError::param(
            f.path("triggerDirection"),
            "is 1 (rises to) or 2 (falls to)",
        ));
    }
    if cat == Category::Linear && trigger.is_some() != direction.is_some() {
        return Err(RestError::param(
            f.path("triggerDirection"),
            "a linear conditional order takes both triggerPrice and triggerDirection",
        ));
    }
    f.enumeration("triggerBy", &["LastPrice", "IndexPrice", "MarkPrice"])?;
    let filter = f.enumeration("orderFilter", &["Order", "tpslOrder", "StopOrder"])?;
    if filter.is_some() && cat != Category::Spot {
        return Err(RestError::param(
            f.path("orderFilter"),
            "is sent only with spot orders",
        ));
    }
    if matches!(filter, Some("tpslOrder" | "StopOrder"))
        != (cat == Category::Spot && trigger.is_some())
        && cat == Category::Spot
    {
        return Err(RestError::param(
            f.path("orderFilter"),
            "a spot order has a triggerPrice exactly when orderFilter is tpslOrder or StopOrder",
        ));
    }
    let tif = f.enumeration("timeInForce", &["GTC", "IOC", "FOK", "PostOnly"])?;
    if let Some(p) = f.uint("positionIdx")?
        && p > 2
    {
        return Err(RestError::param(
            f.path("positionIdx"),
            "is 0 (one-way), 1 (hedge buy) or 2 (hedge sell)",
        ));
    }
    let client_id = f.text("orderLinkId", check_link_id)?;
    let reduce_only = f.boolean("reduceOnly")?.unwrap_or(false);
    if reduce_only && cat == Category::Spot {
        return Err(RestError::param(
            f.path("reduceOnly"),
            "is not sent with spot orders",
        ));
    }
    if f.boolean("closeOnTrigger")? == Some(true) && !reduce_only {
        return Err(RestError::param(
            f.path("closeOnTrigger"),
            "true only with reduceOnly true (it closes a position)",
        ));
    }
    f.enumeration(
        "smpType",
        &["None", "CancelMaker", "CancelTaker", "CancelBoth"],
    )?;
    let body = f.finish(ORDER_FIELDS)?;
    let market = ty == "Market";
    let in_quote = cat == Category::Spot
        && market
        && match unit {
            Some(u) => u == "quoteCoin",
            None => side == Side::Buy,
        };
    let (size, quote_size) = if in_quote {
        (None, Some(qty))
    } else {
        (Some(qty), None)
    };
    Ok((
        body,
        Intent::Place(NewOrder {
            symbol,
            side,
            size,
            quote_size,
            price,
            trigger_price: trigger,
            market_price: None,
            reduce_only,
            aggressive: market || matches!(tif, Some("IOC" | "FOK")),
            client_id,
            fees: Vec::new(),
        }),
    ))
}

fn cancel(
    cfg: &BybitKeyConfig,
    cat: Category,
    prefix: String,
    v: &Value,
    ep: &str,
) -> Result<(Map<String, Value>, Intent), RestError> {
    let mut f = Obj::new(prefix, v, CANCEL_FIELDS, ep)?;
    category(&mut f)?;
    let symbol = symbol(cfg, cat, &mut f)?;
    let order = order_ref(&mut f)?;
    f.enumeration("orderFilter", &["Order", "tpslOrder", "StopOrder"])?;
    Ok((f.finish(CANCEL_FIELDS)?, Intent::Cancel { symbol, order }))
}

/// An amend does not say the order's side: the new version is judged as a
/// buy and as a sell (conservative), and must state qty and price.
fn amend(
    cfg: &BybitKeyConfig,
    cat: Category,
    prefix: String,
    v: &Value,
    ep: &str,
) -> Result<(Map<String, Value>, Vec<Intent>), RestError> {
    let mut f = Obj::new(prefix, v, AMEND_FIELDS, ep)?;
    category(&mut f)?;
    let symbol = symbol(cfg, cat, &mut f)?;
    let order = order_ref(&mut f)?;
    let qty = f.decimal("qty", true)?;
    let price = f.decimal("price", true)?;
    let trigger = f.decimal("triggerPrice", true)?;
    f.enumeration("triggerBy", &["LastPrice", "IndexPrice", "MarkPrice"])?;
    let (Some(qty), Some(price)) = (qty, price) else {
        return Err(RestError::param(
            f.path(if qty.is_none() { "qty" } else { "price" }),
            "an amend must state both qty and price: policy judges the whole new order",
        ));
    };
    let client_id = match &order {
        OrderRef::Cloid(c) => Some(c.clone()),
        OrderRef::Oid(_) => None,
    };
    let intents = [Side::Buy, Side::Sell]
        .into_iter()
        .map(|side| {
            let mut new = NewOrder::limit(&symbol, side, qty, price);
            new.trigger_price = trigger;
            new.client_id = client_id.clone();
            Intent::Modify {
                order: order.clone(),
                new,
            }
        })
        .collect();
    Ok((f.finish(AMEND_FIELDS)?, intents))
}

/// Decode the body of `ep`: the canonical body and the intents.
pub fn decode(
    cfg: &BybitKeyConfig,
    ep: Endpoint,
    body: &Value,
) -> Result<(Value, Vec<Intent>), RestError> {
    let name = format!("POST {}", ep.path());
    if !ep.is_batch() {
        let cat = {
            let mut f = Obj::new(String::new(), body, ep.fields(), &name)?;
            category(&mut f)?
        };
        return match ep {
            Endpoint::Create => {
                let (b, i) = order(cfg, cat, String::new(), body, &name)?;
                Ok((Value::Object(b), vec![i]))
            }
            Endpoint::Cancel => {
                let (b, i) = cancel(cfg, cat, String::new(), body, &name)?;
                Ok((Value::Object(b), vec![i]))
            }
            Endpoint::Amend => {
                let (b, i) = amend(cfg, cat, String::new(), body, &name)?;
                Ok((Value::Object(b), i))
            }
            Endpoint::CancelAll => {
                let mut f = Obj::new(String::new(), body, CANCEL_ALL_FIELDS, &name)?;
                category(&mut f)?;
                let symbol = symbol(cfg, cat, &mut f)?;
                f.enumeration("orderFilter", &["Order", "tpslOrder", "StopOrder"])?;
                Ok((
                    Value::Object(f.finish(CANCEL_ALL_FIELDS)?),
                    vec![Intent::Cancel {
                        symbol,
                        order: OrderRef::Cloid(ALL_ORDERS.into()),
                    }],
                ))
            }
            _ => unreachable!("batch endpoints are handled below"),
        };
    }
    // A batch: {"category", "request": [items without category]}.
    let mut f = Obj::new(String::new(), body, BATCH_FIELDS, &name)?;
    let cat = category(&mut f)?;
    let Value::Object(m) = body else {
        unreachable!("Obj::new checked it is an object")
    };
    let items = match m.get("request") {
        Some(v) => list(v, "request", cat.max_batch())?,
        None => return Err(f.missing("request")),
    };
    let mut out = Vec::with_capacity(items.len());
    let mut intents = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("request[{i}].");
        if let Value::Object(o) = item
            && o.contains_key("category")
        {
            return Err(RestError::param(
                format!("{prefix}category"),
                "is given once, at the top of a batch",
            ));
        }
        // Each item is read as its single twin, with the batch's category.
        let mut with_cat = item.clone();
        if let Value::Object(o) = &mut with_cat {
            o.insert("category".into(), Value::String(cat.as_str().into()));
        }
        let (mut b, new) = match ep {
            Endpoint::CreateBatch => {
                let (b, i) = order(cfg, cat, prefix, &with_cat, &name)?;
                (b, vec![i])
            }
            Endpoint::CancelBatch => {
                let (b, i) = cancel(cfg, cat, prefix, &with_cat, &name)?;
                (b, vec![i])
            }
            _ => amend(cfg, cat, prefix, &with_cat, &name)?,
        };
        b.shift_remove("category");
        out.push(Value::Object(b));
        intents.extend(new);
    }
    let mut canonical = Map::new();
    canonical.insert("category".into(), Value::String(cat.as_str().into()));
    canonical.insert("request".into(), Value::Array(out));
    Ok((Value::Object(canonical), intents))
}
