//! OKX order, cancel, amend and wallet bodies: strict reading into typed
//! intents, and the canonical body in the documented field order.

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::config::{Kind, OkxKeyConfig, instrument_kind};
use super::endpoints::Endpoint;
use crate::order::{Intent, NewOrder, OrderRef, Side};
use crate::venue::binance::RestError;
use crate::venue::jsonbody::Obj;

/// A client order id: 1 to 32 ASCII letters and digits.
pub fn check_cl_ord_id(s: &str) -> Result<(), String> {
    if !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a client order id (1 to 32 letters and digits)"
        ))
    }
}

fn check_tag(s: &str) -> Result<(), String> {
    if !s.is_empty() && s.len() <= 16 && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(format!("{s:?} is not a tag (1 to 16 letters and digits)"))
    }
}

fn check_ccy(s: &str) -> Result<(), String> {
    if !s.is_empty()
        && s.len() <= 16
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a currency (upper case letters and digits)"
        ))
    }
}

fn check_address(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 256
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-' | b'.' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(format!("{s:?} is not an address"))
    }
}

fn check_chain(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'(' | b')' | b' '));
    if ok {
        Ok(())
    } else {
        Err(format!("{s:?} is not a chain name"))
    }
}

fn check_uint_text(s: &str) -> Result<(), String> {
    if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!("{s:?} is not an order id (digits)"))
    }
}

fn check_sub_account(s: &str) -> Result<(), String> {
    if !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(format!("{s:?} is not a sub-account name"))
    }
}

/// One decoded body item.
pub struct Item {
    pub body: Map<String, Value>,
    pub intents: Vec<Intent>,
}

/// The instrument's policy symbol, kind and contract size.
fn instrument(
    cfg: &OkxKeyConfig,
    f: &mut Obj<'_>,
) -> Result<(String, Kind, Option<Decimal>), RestError> {
    let id = f.req_text("instId", |s| {
        instrument_kind(s)
            .map(|_| ())
            .ok_or_else(|| format!("{s:?} is not a spot or perpetual swap instId"))
    })?;
    let i = cfg.instrument(&id).ok_or_else(|| {
        RestError::param(
            f.path("instId"),
            format!(
                "{id:?} is not one of this key's instruments (okx.instruments: {})",
                cfg.instruments
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    let kind = instrument_kind(&id).expect("checked");
    Ok((i.symbol.clone(), kind, i.contract_size))
}

/// The order referred to by exactly one of `ordId` and `clOrdId`.
fn order_ref(f: &mut Obj<'_>) -> Result<OrderRef, RestError> {
    let oid = f.text("ordId", check_uint_text)?;
    let cid = f.text("clOrdId", check_cl_ord_id)?;
    match (oid, cid) {
        (Some(o), None) => o
            .parse()
            .map(OrderRef::Oid)
            .map_err(|_| RestError::param(f.path("ordId"), "too large")),
        (None, Some(c)) => Ok(OrderRef::Cloid(c)),
        _ => Err(RestError::param(
            f.path("ordId"),
            "give exactly one of ordId and clOrdId",
        )),
    }
}

fn order(cfg: &OkxKeyConfig, prefix: String, v: &Value, ep: &str) -> Result<Item, RestError> {
    let mut f = Obj::new(prefix, v, super::endpoints::ORDER_FIELDS, ep)?;
    let (symbol, kind, contract) = instrument(cfg, &mut f)?;
    let td = f.req_enumeration("tdMode", &["cash", "cross", "isolated", "spot_isolated"])?;
    if kind == Kind::Swap && !matches!(td, "cross" | "isolated") {
        return Err(RestError::param(
            f.path("tdMode"),
            format!("{td:?}: a swap trades in \"cross\" or \"isolated\" margin"),
        ));
    }
    if kind == Kind::Spot && td != "cash" {
        return Err(RestError::param(
            f.path("tdMode"),
            format!(
                "{td:?}: spot margin trading borrows, which policy does not judge; \
                 spot orders use \"cash\""
            ),
        ));
    }
    let side = match f.req_enumeration("side", &["buy", "sell"])? {
        "buy" => Side::Buy,
        _ => Side::Sell,
    };
    f.enumeration("posSide", &["long", "short", "net"])?;
    let ty = f.req_enumeration("ordType", &["market", "limit", "post_only", "fok", "ioc"])?;
    let sz = f.req_decimal("sz")?;
    let px = f.decimal("px", true)?;
    let market = ty == "market";
    if market && px.is_some() {
        return Err(RestError::param(
            f.path("px"),
            "is not sent with ordType market",
        ));
    }
    if !market && px.is_none() {
        return Err(f.missing("px"));
    }
    let reduce_only = f.boolean("reduceOnly")?.unwrap_or(false);
    let tgt = f.enumeration("tgtCcy", &["base_ccy", "quote_ccy"])?;
    if tgt.is_some() && !(kind == Kind::Spot && market) {
        return Err(RestError::param(
            f.path("tgtCcy"),
            "is sent only with spot market orders",
        ));
    }
    let client_id = f.text("clOrdId", check_cl_ord_id)?;
    f.text("tag", check_tag)?;
    f.boolean("banAmend")?;
    f.enumeration("stpMode", &["cancel_maker", "cancel_taker", "cancel_both"])?;
    let body = f.finish(super::endpoints::ORDER_FIELDS)?;
    // Spot market buys are sized in quote unless tgtCcy says base (and
    // sells in base unless it says quote).
    let in_quote = kind == Kind::Spot
        && market
        && match tgt {
            Some(t) => t == "quote_ccy",
            None => side == Side::Buy,
        };
    let (size, quote_size) = if in_quote {
        (None, Some(sz))
    } else {
        let base = match contract {
            Some(c) => sz
                .checked_mul(c)
                .ok_or_else(|| RestError::param("sz", "too large"))?,
            None => sz,
        };
        (Some(base), None)
    };
    Ok(Item {
        body,
        intents: vec![Intent::Place(NewOrder {
            symbol,
            side,
            size,
            quote_size,
            price: px,
            trigger_price: None,
            market_price: None,
            reduce_only,
            aggressive: matches!(ty, "market" | "fok" | "ioc"),
            client_id,
            fees: Vec::new(),
        })],
    })
}

fn cancel(cfg: &OkxKeyConfig, prefix: String, v: &Value, ep: &str) -> Result<Item, RestError> {
    let mut f = Obj::new(prefix, v, super::endpoints::CANCEL_FIELDS, ep)?;
    let (symbol, _, _) = instrument(cfg, &mut f)?;
    let order = order_ref(&mut f)?;
    Ok(Item {
        body: f.finish(super::endpoints::CANCEL_FIELDS)?,
        intents: vec![Intent::Cancel { symbol, order }],
    })
}

/// An amend names neither side nor type: the agent cannot know which way
/// the order trades, so it judges the new version both as a buy and as a
/// sell (each band, the notional twice): conservative, never looser.
fn amend(cfg: &OkxKeyConfig, prefix: String, v: &Value, ep: &str) -> Result<Item, RestError> {
    let mut f = Obj::new(prefix, v, super::endpoints::AMEND_FIELDS, ep)?;
    let (symbol, _, contract) = instrument(cfg, &mut f)?;
    let order = order_ref(&mut f)?;
    f.boolean("cxlOnFail")?;
    f.text("reqId", check_cl_ord_id)?;
    let sz = f.decimal("newSz", true)?;
    let px = f.decimal("newPx", true)?;
    let (Some(sz), Some(px)) = (sz, px) else {
        return Err(RestError::param(
            f.path(if sz.is_none() { "newSz" } else { "newPx" }),
            "an amend must state both newSz and newPx: policy judges the whole new order",
        ));
    };
    let base = match contract {
        Some(c) => sz
            .checked_mul(c)
            .ok_or_else(|| RestError::param(f.path("newSz"), "too large"))?,
        None => sz,
    };
    let client_id = match &order {
        OrderRef::Cloid(c) => Some(c.clone()),
        OrderRef::Oid(_) => None,
    };
    let intents = [Side::Buy, Side::Sell]
        .into_iter()
        .map(|side| {
            let mut new = NewOrder::limit(&symbol, side, base, px);
            new.client_id = client_id.clone();
            Intent::Modify {
                order: order.clone(),
                new,
            }
        })
        .collect();
    Ok(Item {
        body: f.finish(super::endpoints::AMEND_FIELDS)?,
        intents,
    })
}

fn cancel_all_after(v: &Value, ep: &str, now_ms: Option<u64>) -> Result<Item, RestError> {
    let mut f = Obj::new(
        String::new(),
        v,
        super::endpoints::CANCEL_ALL_AFTER_FIELDS,
        ep,
    )?;
    let t = f.req_text("timeOut", |s| {
        let ok = !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
        match s.parse::<u64>() {
            Ok(n) if ok && (n == 0 || (10..=120).contains(&n)) => Ok(()),
            _ => Err(format!("{s:?} is not 0 or 10 to 120 (seconds)")),
        }
    })?;
    f.text("tag", check_tag)?;
    let secs: u64 = t.parse().expect("checked");
    let at_ms = (secs > 0).then(|| now_ms.unwrap_or(0) + secs * 1000);
    Ok(Item {
        body: f.finish(super::endpoints::CANCEL_ALL_AFTER_FIELDS)?,
        intents: vec![Intent::ScheduleCancel { at_ms }],
    })
}

fn transfer(v: &Value, ep: &str) -> Result<Item, RestError> {
    let mut f = Obj::new(String::new(), v, super::endpoints::TRANSFER_FIELDS, ep)?;
    let ty = f
        .enumeration("type", &["0", "1", "2", "3", "4"])?
        .unwrap_or("0");
    let ccy = f.req_text("ccy", check_ccy)?;
    let amount = f.req_decimal("amt")?;
    let from = f.req_enumeration("from", &["6", "18"])?;
    let to = f.req_enumeration("to", &["6", "18"])?;
    let sub = f.text("subAcct", check_sub_account)?;
    f.text("clientId", check_cl_ord_id)?;
    if ty != "0" && sub.is_none() {
        return Err(f.missing("subAcct"));
    }
    let destination = match sub {
        None => format!("{from}->{to}"),
        Some(s) => format!("type{ty}:{s}:{from}->{to}"),
    };
    Ok(Item {
        body: f.finish(super::endpoints::TRANSFER_FIELDS)?,
        intents: vec![Intent::Transfer {
            kind: "okx/asset/transfer".into(),
            destination,
            asset: ccy,
            amount,
        }],
    })
}

fn withdrawal(v: &Value, ep: &str) -> Result<Item, RestError> {
    let mut f = Obj::new(String::new(), v, super::endpoints::WITHDRAWAL_FIELDS, ep)?;
    let ccy = f.req_text("ccy", check_ccy)?;
    let amount = f.req_decimal("amt")?;
    let dest = f.req_enumeration("dest", &["3", "4"])?;
    let to = f.req_text("toAddr", check_address)?;
    let chain = f.text("chain", check_chain)?;
    f.text("clientId", check_cl_ord_id)?;
    if dest == "4" && chain.is_none() {
        return Err(f.missing("chain"));
    }
    let destination = match chain {
        Some(c) => format!("{c}:{to}"),
        None => format!("internal:{to}"),
    };
    Ok(Item {
        body: f.finish(super::endpoints::WITHDRAWAL_FIELDS)?,
        intents: vec![Intent::Transfer {
            kind: "okx/asset/withdrawal".into(),
            destination,
            asset: ccy,
            amount,
        }],
    })
}

/// Decode the body of `ep`; returns the canonical body and the intents.
pub fn decode(
    cfg: &OkxKeyConfig,
    ep: Endpoint,
    body: &Value,
    now_ms: Option<u64>,
) -> Result<(Value, Vec<Intent>), RestError> {
    let name = format!("POST {}", ep.path());
    let one = |prefix: String, v: &Value| -> Result<Item, RestError> {
        match ep {
            Endpoint::Order | Endpoint::BatchOrders => order(cfg, prefix, v, &name),
            Endpoint::CancelOrder | Endpoint::CancelBatchOrders => cancel(cfg, prefix, v, &name),
            Endpoint::AmendOrder | Endpoint::AmendBatchOrders => amend(cfg, prefix, v, &name),
            Endpoint::CancelAllAfter => cancel_all_after(v, &name, now_ms),
            Endpoint::Transfer => transfer(v, &name),
            Endpoint::Withdrawal => withdrawal(v, &name),
        }
    };
    if ep.is_batch() {
        let items = crate::venue::jsonbody::list(body, "body", super::endpoints::MAX_BATCH)?;
        let mut out = Vec::with_capacity(items.len());
        let mut intents = Vec::new();
        for (i, v) in items.iter().enumerate() {
            let item = one(format!("[{i}]."), v)?;
            out.push(Value::Object(item.body));
            intents.extend(item.intents);
        }
        Ok((Value::Array(out), intents))
    } else {
        let item = one(String::new(), body)?;
        Ok((Value::Object(item.body), item.intents))
    }
}
