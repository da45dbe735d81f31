//! The order endpoints of spot and USD-M futures: strict parsing into
//! intents, and the canonical parameters in the documented order.
//!
//! Every price an order can execute at goes to policy: the limit price, the
//! stop (trigger) price, or for a MARKET order nothing, in which case policy
//! judges it at the reference price and the symbol's `max_slippage`. Orders
//! are sized in base units (`quantity`) or, for spot MARKET orders, in
//! quote units (`quoteOrderQty`, then the order's notional). Trailing,
//! pegged and price-matched orders, whose price the venue chooses later, and
//! futures orders that close "the whole position" are refused with a reason.

use serde_json::{Map, Value};

use super::config::Market;
use super::error::RestError;
use super::params::{Fields, check_client_id, check_symbol, kind};
use crate::order::{Intent, NewOrder, OrderRef, Side};

/// `POST /api/v3/order`, in the documented order.
pub const SPOT_ORDER_PARAMS: &[&str] = &[
    "symbol",
    "side",
    "type",
    "timeInForce",
    "quantity",
    "quoteOrderQty",
    "price",
    "newClientOrderId",
    "strategyId",
    "strategyType",
    "stopPrice",
    "trailingDelta",
    "icebergQty",
    "newOrderRespType",
    "selfTradePreventionMode",
    "pegPriceType",
    "pegOffsetValue",
    "pegOffsetType",
];

/// `DELETE /api/v3/order`.
pub const SPOT_CANCEL_PARAMS: &[&str] = &[
    "symbol",
    "orderId",
    "origClientOrderId",
    "newClientOrderId",
    "cancelRestrictions",
];

/// `POST /api/v3/order/cancelReplace`.
pub const SPOT_CANCEL_REPLACE_PARAMS: &[&str] = &[
    "symbol",
    "side",
    "type",
    "cancelReplaceMode",
    "timeInForce",
    "quantity",
    "quoteOrderQty",
    "price",
    "cancelNewClientOrderId",
    "cancelOrigClientOrderId",
    "cancelOrderId",
    "newClientOrderId",
    "strategyId",
    "strategyType",
    "stopPrice",
    "trailingDelta",
    "icebergQty",
    "newOrderRespType",
    "selfTradePreventionMode",
    "cancelRestrictions",
    "orderRateLimitExceededMode",
    "pegPriceType",
    "pegOffsetValue",
    "pegOffsetType",
];

/// `DELETE /api/v3/openOrders` and `DELETE /fapi/v1/allOpenOrders`.
pub const CANCEL_ALL_PARAMS: &[&str] = &["symbol"];

/// `POST /fapi/v1/order` (and each order of a batch).
pub const FUTURES_ORDER_PARAMS: &[&str] = &[
    "symbol",
    "side",
    "positionSide",
    "type",
    "timeInForce",
    "quantity",
    "reduceOnly",
    "price",
    "newClientOrderId",
    "stopPrice",
    "closePosition",
    "activationPrice",
    "callbackRate",
    "workingType",
    "priceProtect",
    "newOrderRespType",
    "priceMatch",
    "selfTradePreventionMode",
    "goodTillDate",
];

/// `DELETE /fapi/v1/order`.
pub const FUTURES_CANCEL_PARAMS: &[&str] = &["symbol", "orderId", "origClientOrderId"];

/// `POST /fapi/v1/batchOrders`.
pub const FUTURES_BATCH_PARAMS: &[&str] = &["batchOrders"];

/// `DELETE /fapi/v1/batchOrders`.
pub const FUTURES_CANCEL_BATCH_PARAMS: &[&str] =
    &["symbol", "orderIdList", "origClientOrderIdList"];

/// Most orders in one futures batch (the venue's limit).
pub const MAX_BATCH_ORDERS: usize = 5;
/// Most ids in one futures batch cancel (the venue's limit).
pub const MAX_BATCH_CANCELS: usize = 10;

/// The client order id under which a cancel of every open order on a
/// symbol is recorded. The venue never accepts `*` in a client order id,
/// so it names no real order.
pub const ALL_ORDERS: &str = "*";

const TRAILING: &str = "trailing orders have no fixed price for policy to judge";
const PEGGED: &str = "pegged orders take their price from the book, so policy cannot judge it";

fn side(f: &mut Fields) -> Result<Side, RestError> {
    Ok(match f.req_enumeration("side", &["BUY", "SELL"])? {
        "BUY" => Side::Buy,
        _ => Side::Sell,
    })
}

/// `name` must be there exactly when `needed` (for order type `ty`).
fn requirement(
    f: &Fields,
    name: &str,
    given: bool,
    needed: bool,
    ty: &str,
) -> Result<(), RestError> {
    match (given, needed) {
        (false, true) => Err(RestError::param(
            f.path(name),
            format!("required with type {ty}"),
        )),
        (true, false) => Err(RestError::param(
            f.path(name),
            format!("is not sent with type {ty}"),
        )),
        _ => Ok(()),
    }
}

/// The order part of a spot new order or cancel-replace.
fn spot_order(f: &mut Fields) -> Result<NewOrder, RestError> {
    f.forbid("trailingDelta", TRAILING)?;
    for p in ["pegPriceType", "pegOffsetValue", "pegOffsetType"] {
        f.forbid(p, PEGGED)?;
    }
    let symbol = f.req_text("symbol", check_symbol)?;
    let side = side(f)?;
    let ty = f.req_enumeration(
        "type",
        &[
            "LIMIT",
            "LIMIT_MAKER",
            "STOP_LOSS",
            "STOP_LOSS_LIMIT",
            "TAKE_PROFIT",
            "TAKE_PROFIT_LIMIT",
            "MARKET",
        ],
    )?;
    // Limit types carry a price; stop types a stopPrice (both for the
    // *_LIMIT ones); STOP_LOSS and TAKE_PROFIT execute at market once
    // triggered, MARKET at once.
    let limit = matches!(
        ty,
        "LIMIT" | "LIMIT_MAKER" | "STOP_LOSS_LIMIT" | "TAKE_PROFIT_LIMIT"
    );
    let triggered = !matches!(ty, "LIMIT" | "LIMIT_MAKER" | "MARKET");
    let tif = f.enumeration("timeInForce", &["GTC", "IOC", "FOK"])?;
    let needs_tif = limit && ty != "LIMIT_MAKER";
    requirement(f, "timeInForce", tif.is_some(), needs_tif, ty)?;
    let size = f.positive("quantity")?;
    let quote_size = f.positive("quoteOrderQty")?;
    if ty == "MARKET" {
        if size.is_some() == quote_size.is_some() {
            return Err(RestError::param(
                f.path("quantity"),
                "a MARKET order takes exactly one of quantity and quoteOrderQty",
            ));
        }
    } else {
        requirement(f, "quoteOrderQty", quote_size.is_some(), false, ty)?;
        requirement(f, "quantity", size.is_some(), true, ty)?;
    }
    let price = f.positive("price")?;
    requirement(f, "price", price.is_some(), limit, ty)?;
    let stop_price = f.positive("stopPrice")?;
    requirement(f, "stopPrice", stop_price.is_some(), triggered, ty)?;
    if !limit && f.present("icebergQty") {
        return Err(RestError::param(
            f.path("icebergQty"),
            format!("is not sent with type {ty}"),
        ));
    }
    f.positive("icebergQty")?;
    let client_id = f.text("newClientOrderId", check_client_id)?;
    f.uint("strategyId")?;
    if let Some(t) = f.uint("strategyType")?
        && t < 1_000_000
    {
        return Err(RestError::param(
            f.path("strategyType"),
            format!("{t} is below 1000000 (smaller values are reserved by the venue)"),
        ));
    }
    f.enumeration("newOrderRespType", &["ACK", "RESULT", "FULL"])?;
    f.enumeration(
        "selfTradePreventionMode",
        &[
            "NONE",
            "EXPIRE_TAKER",
            "EXPIRE_MAKER",
            "EXPIRE_BOTH",
            "DECREMENT",
        ],
    )?;
    Ok(NewOrder {
        symbol,
        side,
        size,
        quote_size,
        price,
        trigger_price: stop_price,
        market_price: None,
        reduce_only: false,
        aggressive: matches!(tif, Some("IOC" | "FOK")) || !limit,
        client_id,
        fees: Vec::new(),
    })
}

/// One USD-M futures order (a new order, or one order of a batch).
fn futures_order(f: &mut Fields) -> Result<NewOrder, RestError> {
    f.forbid("activationPrice", TRAILING)?;
    f.forbid("callbackRate", TRAILING)?;
    let symbol = f.req_text("symbol", check_symbol)?;
    let side = side(f)?;
    f.enumeration("positionSide", &["BOTH", "LONG", "SHORT"])?;
    let ty = f.req_enumeration(
        "type",
        &[
            "LIMIT",
            "STOP",
            "TAKE_PROFIT",
            "STOP_MARKET",
            "TAKE_PROFIT_MARKET",
            "MARKET",
            "TRAILING_STOP_MARKET",
        ],
    )?;
    if ty == "TRAILING_STOP_MARKET" {
        return Err(RestError::param(f.path("type"), TRAILING));
    }
    let limit = matches!(ty, "LIMIT" | "STOP" | "TAKE_PROFIT");
    let triggered = !matches!(ty, "LIMIT" | "MARKET");
    let tif = f.enumeration("timeInForce", &["GTC", "IOC", "FOK", "GTX", "GTD"])?;
    if ty == "LIMIT" && tif.is_none() {
        return Err(RestError::param(
            f.path("timeInForce"),
            "required with type LIMIT",
        ));
    }
    if !limit && tif.is_some() {
        return Err(RestError::param(
            f.path("timeInForce"),
            format!("is not sent with type {ty}"),
        ));
    }
    if f.boolean("closePosition", ("true", "false"))? == Some(true) {
        return Err(RestError::param(
            f.path("closePosition"),
            "\"true\" closes whatever the position is at the time, a size policy cannot judge; \
             send reduceOnly=true with a quantity instead",
        ));
    }
    let size = f.req_positive("quantity")?;
    let reduce_only = f.boolean("reduceOnly", ("true", "false"))?.unwrap_or(false);
    let price = f.positive("price")?;
    requirement(f, "price", price.is_some(), limit, ty)?;
    let stop_price = f.positive("stopPrice")?;
    requirement(f, "stopPrice", stop_price.is_some(), triggered, ty)?;
    let client_id = f.text("newClientOrderId", check_client_id)?;
    f.enumeration("workingType", &["MARK_PRICE", "CONTRACT_PRICE"])?;
    f.boolean("priceProtect", ("TRUE", "FALSE"))?;
    f.enumeration("newOrderRespType", &["ACK", "RESULT"])?;
    let matched = f.enumeration(
        "priceMatch",
        &[
            "NONE",
            "OPPONENT",
            "OPPONENT_5",
            "OPPONENT_10",
            "OPPONENT_20",
            "QUEUE",
            "QUEUE_5",
            "QUEUE_10",
            "QUEUE_20",
        ],
    )?;
    if matched.is_some_and(|m| m != "NONE") {
        return Err(RestError::param(
            f.path("priceMatch"),
            "lets the venue choose the price, which policy then cannot judge; send a price",
        ));
    }
    f.enumeration(
        "selfTradePreventionMode",
        &["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    )?;
    let gtd = f.uint("goodTillDate")?;
    let needs_gtd = tif == Some("GTD");
    if gtd.is_some() != needs_gtd {
        return Err(RestError::param(
            f.path("goodTillDate"),
            if needs_gtd {
                "required with timeInForce GTD"
            } else {
                "is sent only with timeInForce GTD"
            },
        ));
    }
    Ok(NewOrder {
        symbol,
        side,
        size: Some(size),
        quote_size: None,
        price,
        trigger_price: stop_price,
        market_price: None,
        reduce_only,
        aggressive: matches!(tif, Some("IOC" | "FOK")) || !limit,
        client_id,
        fees: Vec::new(),
    })
}

/// An order by venue id or by client id (`id_name` / `cid_name`); the
/// venue looks an order up by its id first when both are given.
fn order_ref(
    f: &mut Fields,
    id_name: &'static str,
    cid_name: &'static str,
) -> Result<OrderRef, RestError> {
    let oid = f.uint(id_name)?;
    let cid = f.text(cid_name, check_client_id)?;
    match (oid, cid) {
        (Some(o), _) => Ok(OrderRef::Oid(o)),
        (None, Some(c)) => Ok(OrderRef::Cloid(c)),
        (None, None) => Err(RestError::param(
            f.path(id_name),
            format!("give {id_name} or {cid_name}"),
        )),
    }
}

/// What a decoded order request asks for, and its canonical parameters.
pub(crate) struct Decoded {
    pub params: Vec<(&'static str, String)>,
    pub intents: Vec<Intent>,
}

fn fields<'a>(
    items: &'a [(String, Value)],
    known: &[&'static str],
    endpoint: &str,
) -> Result<Fields<'a>, RestError> {
    Fields::new(
        String::new(),
        items.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        known,
        endpoint,
    )
}

/// A new order on `market` (`POST /api/v3/order` or `POST /fapi/v1/order`).
pub(crate) fn new_order(
    market: Market,
    items: &[(String, Value)],
    endpoint: &str,
) -> Result<Decoded, RestError> {
    let known = match market {
        Market::Spot => SPOT_ORDER_PARAMS,
        Market::Usdm => FUTURES_ORDER_PARAMS,
    };
    let mut f = fields(items, known, endpoint)?;
    let order = match market {
        Market::Spot => spot_order(&mut f)?,
        Market::Usdm => futures_order(&mut f)?,
    };
    Ok(Decoded {
        params: f.finish(known)?,
        intents: vec![Intent::Place(order)],
    })
}

/// `DELETE /api/v3/order`.
pub(crate) fn spot_cancel(items: &[(String, Value)], endpoint: &str) -> Result<Decoded, RestError> {
    let mut f = fields(items, SPOT_CANCEL_PARAMS, endpoint)?;
    let symbol = f.req_text("symbol", check_symbol)?;
    let order = order_ref(&mut f, "orderId", "origClientOrderId")?;
    f.text("newClientOrderId", check_client_id)?;
    f.enumeration("cancelRestrictions", &["ONLY_NEW", "ONLY_PARTIALLY_FILLED"])?;
    Ok(Decoded {
        params: f.finish(SPOT_CANCEL_PARAMS)?,
        intents: vec![Intent::Cancel { symbol, order }],
    })
}

/// `POST /api/v3/order/cancelReplace`: a modify (cancel one order, place
/// another).
pub(crate) fn spot_cancel_replace(
    items: &[(String, Value)],
    endpoint: &str,
) -> Result<Decoded, RestError> {
    let mut f = fields(items, SPOT_CANCEL_REPLACE_PARAMS, endpoint)?;
    f.req_enumeration("cancelReplaceMode", &["STOP_ON_FAILURE", "ALLOW_FAILURE"])?;
    let order = order_ref(&mut f, "cancelOrderId", "cancelOrigClientOrderId")?;
    f.text("cancelNewClientOrderId", check_client_id)?;
    f.enumeration("cancelRestrictions", &["ONLY_NEW", "ONLY_PARTIALLY_FILLED"])?;
    f.enumeration("orderRateLimitExceededMode", &["DO_NOTHING", "CANCEL_ONLY"])?;
    let new = spot_order(&mut f)?;
    Ok(Decoded {
        params: f.finish(SPOT_CANCEL_REPLACE_PARAMS)?,
        intents: vec![Intent::Modify { order, new }],
    })
}

/// `DELETE /api/v3/openOrders` and `DELETE /fapi/v1/allOpenOrders`: a
/// cancel of every open order on the symbol, recorded as a cancel of the
/// client order id [`ALL_ORDERS`].
pub(crate) fn cancel_all(items: &[(String, Value)], endpoint: &str) -> Result<Decoded, RestError> {
    let mut f = fields(items, CANCEL_ALL_PARAMS, endpoint)?;
    let symbol = f.req_text("symbol", check_symbol)?;
    Ok(Decoded {
        params: f.finish(CANCEL_ALL_PARAMS)?,
        intents: vec![Intent::Cancel {
            symbol,
            order: OrderRef::Cloid(ALL_ORDERS.into()),
        }],
    })
}

/// `DELETE /fapi/v1/order`.
pub(crate) fn futures_cancel(
    items: &[(String, Value)],
    endpoint: &str,
) -> Result<Decoded, RestError> {
    let mut f = fields(items, FUTURES_CANCEL_PARAMS, endpoint)?;
    let symbol = f.req_text("symbol", check_symbol)?;
    let order = order_ref(&mut f, "orderId", "origClientOrderId")?;
    Ok(Decoded {
        params: f.finish(FUTURES_CANCEL_PARAMS)?,
        intents: vec![Intent::Cancel { symbol, order }],
    })
}

/// A JSON list given as a JSON array or as the text of one (as it is sent).
fn json_list(path: &str, v: &Value, max: usize) -> Result<Vec<Value>, RestError> {
    let list = match v {
        Value::Array(a) => a.clone(),
        Value::String(s) => match crate::venue::hyperliquid::parse_json_strict(s) {
            Ok(Value::Array(a)) => a,
            Ok(other) => {
                return Err(RestError::param(
                    path,
                    format!("expected a JSON list, got {}", kind(&other)),
                ));
            }
            Err(e) => {
                return Err(RestError::param(
                    path,
                    format!(
                        "is not a JSON list: {}",
                        e.to_string().trim_start_matches("request: ")
                    ),
                ));
            }
        },
        other => {
            return Err(RestError::param(
                path,
                format!("expected a list, got {}", kind(other)),
            ));
        }
    };
    if list.is_empty() {
        return Err(RestError::param(path, "must not be empty"));
    }
    if list.len() > max {
        return Err(RestError::param(
            path,
            format!("has {} entries; the venue takes at most {max}", list.len()),
        ));
    }
    Ok(list)
}

/// `POST /fapi/v1/batchOrders`: up to five orders, judged as one request.
/// The canonical `batchOrders` value is a compact JSON list of objects whose
/// values are all strings, keys in the documented order.
pub(crate) fn futures_batch(
    items: &[(String, Value)],
    endpoint: &str,
) -> Result<Decoded, RestError> {
    let mut f = fields(items, FUTURES_BATCH_PARAMS, endpoint)?;
    let Some(v) = f.raw("batchOrders") else {
        return Err(f.missing("batchOrders"));
    };
    let list = json_list("batchOrders", v, MAX_BATCH_ORDERS)?;
    let mut intents = Vec::new();
    let mut rendered = Vec::new();
    for (i, order) in list.iter().enumerate() {
        let prefix = format!("batchOrders[{i}].");
        let Value::Object(m) = order else {
            return Err(RestError::param(
                format!("batchOrders[{i}]"),
                format!("expected an object, got {}", kind(order)),
            ));
        };
        let mut of = Fields::new(
            prefix,
            m.iter().map(|(k, v)| (k.as_str(), v)).collect(),
            FUTURES_ORDER_PARAMS,
            endpoint,
        )?;
        intents.push(Intent::Place(futures_order(&mut of)?));
        let obj: Map<String, Value> = of
            .finish(FUTURES_ORDER_PARAMS)?
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::String(v)))
            .collect();
        rendered.push(Value::Object(obj));
    }
    let text = serde_json::to_string(&rendered).expect("JSON of strings cannot fail");
    f.emit_raw("batchOrders", text);
    Ok(Decoded {
        params: f.finish(FUTURES_BATCH_PARAMS)?,
        intents,
    })
}

/// `DELETE /fapi/v1/batchOrders`: up to ten orders of one symbol, by venue
/// ids (`orderIdList`) or by client ids (`origClientOrderIdList`).
pub(crate) fn futures_cancel_batch(
    items: &[(String, Value)],
    endpoint: &str,
) -> Result<Decoded, RestError> {
    let mut f = fields(items, FUTURES_CANCEL_BATCH_PARAMS, endpoint)?;
    let symbol = f.req_text("symbol", check_symbol)?;
    let ids = f.raw("orderIdList");
    let cids = f.raw("origClientOrderIdList");
    let (refs, name, text) = match (ids, cids) {
        (Some(v), None) => {
            let list = json_list("orderIdList", v, MAX_BATCH_CANCELS)?;
            let mut ids = Vec::new();
            for (i, x) in list.iter().enumerate() {
                ids.push(x.as_u64().ok_or_else(|| {
                    RestError::param(
                        format!("orderIdList[{i}]"),
                        format!("expected an unsigned integer, got {}", kind(x)),
                    )
                })?);
            }
            let text = serde_json::to_string(&ids).expect("JSON of integers cannot fail");
            (
                ids.into_iter().map(OrderRef::Oid).collect::<Vec<_>>(),
                "orderIdList",
                text,
            )
        }
        (None, Some(v)) => {
            let list = json_list("origClientOrderIdList", v, MAX_BATCH_CANCELS)?;
            let mut cids = Vec::new();
            for (i, x) in list.iter().enumerate() {
                let path = format!("origClientOrderIdList[{i}]");
                let Value::String(s) = x else {
                    return Err(RestError::param(
                        path,
                        format!("expected a string, got {}", kind(x)),
                    ));
                };
                check_client_id(s).map_err(|r| RestError::param(path, r))?;
                cids.push(s.clone());
            }
            let text = serde_json::to_string(&cids).expect("JSON of strings cannot fail");
            (
                cids.into_iter().map(OrderRef::Cloid).collect(),
                "origClientOrderIdList",
                text,
            )
        }
        (Some(_), Some(_)) => {
            return Err(RestError::param(
                "origClientOrderIdList",
                "give orderIdList or origClientOrderIdList, not both",
            ));
        }
        (None, None) => {
            return Err(RestError::param(
                "orderIdList",
                "give orderIdList or origClientOrderIdList",
            ));
        }
    };
    f.emit_raw(name, text);
    Ok(Decoded {
        params: f.finish(FUTURES_CANCEL_BATCH_PARAMS)?,
        intents: refs
            .into_iter()
            .map(|order| Intent::Cancel {
                symbol: symbol.clone(),
                order,
            })
            .collect(),
    })
}
