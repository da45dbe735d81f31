//! L1 actions (orders, cancels, modifies, leverage, margin, scheduled
//! cancel, noop, agentSendAsset): typed values, their strict parse, their
//! canonical encoding (msgpack and JSON with the SDK's key order), the
//! action hash and the `Agent` EIP-712 digest.

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;

use super::error::VenueError;
use super::json::Obj;
use super::meta::{AssetInfo, AssetKind, Meta};
use super::number::{
    Cloid, address_hex, check_price, check_size, parse_address, parse_positive, to_wire,
};
use super::send_asset::{self, SendAsset};
use super::shapes;
use crate::crypto::eip712::{self, Domain, Field, Message, Types, Value as TypedValue};
use crate::crypto::eth::keccak256;
use crate::order::{Fee, OrderRef};

/// Largest builder fee `f` (tenths of a basis point): 1000 = 1 %, the
/// venue's ceiling (spot; perps allow 0.1 %).
pub const MAX_BUILDER_FEE: u64 = 1000;

/// Time in force of a limit order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tif {
    /// Add liquidity only (post-only).
    Alo,
    /// Immediate or cancel.
    Ioc,
    /// Good till cancelled.
    Gtc,
    /// Immediate or cancel, marked as a market order (the venue's
    /// front end sends it; the TypeScript SDK offers it).
    FrontendMarket,
}

impl Tif {
    pub fn as_str(self) -> &'static str {
        match self {
            Tif::Alo => "Alo",
            Tif::Ioc => "Ioc",
            Tif::Gtc => "Gtc",
            Tif::FrontendMarket => "FrontendMarket",
        }
    }
}

/// Take-profit or stop-loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tpsl {
    Tp,
    Sl,
}

impl Tpsl {
    pub fn as_str(self) -> &'static str {
        match self {
            Tpsl::Tp => "tp",
            Tpsl::Sl => "sl",
        }
    }
}

/// The `t` of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderType {
    Limit {
        tif: Tif,
    },
    Trigger {
        is_market: bool,
        trigger_px: Decimal,
        tpsl: Tpsl,
    },
}

/// One order on the wire (`{a, b, p, s, r, t, c?}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub asset: u32,
    pub is_buy: bool,
    pub price: Decimal,
    pub size: Decimal,
    pub reduce_only: bool,
    pub order_type: OrderType,
    pub cloid: Option<Cloid>,
}

impl Order {
    /// IOC, or a trigger that executes as a market order.
    pub fn is_aggressive(&self) -> bool {
        match self.order_type {
            OrderType::Limit { tif } => matches!(tif, Tif::Ioc | Tif::FrontendMarket),
            OrderType::Trigger { is_market, .. } => is_market,
        }
    }
}

/// How the orders of one action relate, or the order priority they pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grouping {
    Na,
    NormalTpsl,
    PositionTpsl,
    /// Order priority `{"p": rate}`: a fee of `rate / 10^8` of the filled
    /// notional, burned (the SDKs' `PriorityGrouping`).
    Priority(u64),
}

/// The largest order priority the venue takes: 10^8 (the whole notional).
pub const MAX_PRIORITY: u64 = 100_000_000;

impl Grouping {
    /// The name of a named grouping; `None` for a priority.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Grouping::Na => Some("na"),
            Grouping::NormalTpsl => Some("normalTpsl"),
            Grouping::PositionTpsl => Some("positionTpsl"),
            Grouping::Priority(_) => None,
        }
    }
}

/// A builder who takes a fee on the orders (`{b, f}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Builder {
    pub address: [u8; 20],
    /// Tenths of a basis point (10 = 1 bp).
    pub fee: u64,
}

impl Builder {
    /// The fee in policy's terms: a fraction of the notional paid to the
    /// builder's address (`f` is in tenths of a basis point).
    pub fn fee(&self) -> Fee {
        Fee {
            kind: "builder".into(),
            payee: address_hex(&self.address),
            rate: Decimal::new(self.fee as i64, 5),
        }
    }
}

/// An order by venue id or by cloid (the `oid` of a modify).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OidOrCloid {
    Oid(u64),
    Cloid(Cloid),
}

impl OidOrCloid {
    pub(crate) fn to_ref(self) -> OrderRef {
        match self {
            OidOrCloid::Oid(o) => OrderRef::Oid(o),
            OidOrCloid::Cloid(c) => OrderRef::Cloid(c.to_string()),
        }
    }
}

/// `{a, o}` of a cancel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CancelOid {
    pub asset: u32,
    pub oid: u64,
}

/// `{asset, cloid}` of a cancelByCloid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CancelCloid {
    pub asset: u32,
    pub cloid: Cloid,
}

/// `{oid, order}` of a modify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModifyOrder {
    pub oid: OidOrCloid,
    pub order: Order,
}

/// An L1 action: signed through the `Agent` struct over its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum L1Action {
    Order {
        orders: Vec<Order>,
        grouping: Grouping,
        builder: Option<Builder>,
    },
    Cancel {
        cancels: Vec<CancelOid>,
    },
    CancelByCloid {
        cancels: Vec<CancelCloid>,
    },
    Modify(ModifyOrder),
    BatchModify {
        modifies: Vec<ModifyOrder>,
    },
    UpdateLeverage {
        asset: u32,
        is_cross: bool,
        leverage: u32,
    },
    UpdateIsolatedMargin {
        asset: u32,
        is_buy: bool,
        /// Margin change in micro-USD (1e-6), negative to remove.
        ntli: i64,
    },
    ScheduleCancel {
        /// When to cancel (UTC ms); `None` clears a schedule.
        time: Option<u64>,
    },
    /// Do nothing but use up the nonce (invalidates a pending action
    /// signed with it).
    Noop,
    /// `sendAsset` signed by an API wallet; its `nonce` is the request's.
    AgentSendAsset(SendAsset),
}

/// The L1 action types, as the `type` field spells them.
pub const L1_TYPES: &[&str] = &[
    "order",
    "cancel",
    "cancelByCloid",
    "modify",
    "batchModify",
    "updateLeverage",
    "updateIsolatedMargin",
    "scheduleCancel",
    "noop",
    "agentSendAsset",
];

// ---------------------------------------------------------------- parsing

fn asset<'m>(meta: &'m Meta, obj: &Obj<'_>, key: &str) -> Result<(u32, &'m AssetInfo), VenueError> {
    let index = obj.u64(key)?;
    let info = u32::try_from(index)
        .ok()
        .and_then(|i| meta.by_index(i))
        .ok_or_else(|| VenueError::UnknownAsset {
            path: obj.path(key),
            index,
        })?;
    Ok((info.index, info))
}

fn perp_asset<'m>(
    meta: &'m Meta,
    obj: &Obj<'_>,
    key: &str,
) -> Result<(u32, &'m AssetInfo), VenueError> {
    let (i, info) = asset(meta, obj, key)?;
    if info.kind != AssetKind::Perp {
        return Err(VenueError::invalid(
            obj.path(key),
            format!(
                "{} is a spot asset; this action is for perps only",
                info.symbol
            ),
        ));
    }
    Ok((i, info))
}

fn parse_order(meta: &Meta, path: String, v: &Value) -> Result<Order, VenueError> {
    let o = Obj::new(path, v, shapes::ORDER)?;
    let (asset, info) = asset(meta, &o, "a")?;
    if info.is_delisted {
        return Err(VenueError::invalid(
            o.path("a"),
            format!("{} is delisted", info.symbol),
        ));
    }
    let is_buy = o.bool("b")?;
    let p = o.str("p")?;
    let price = parse_positive(&o.path("p"), p)?;
    check_price(&o.path("p"), p, &price, info)?;
    let s = o.str("s")?;
    let size = parse_positive(&o.path("s"), s)?;
    check_size(&o.path("s"), s, &size, info)?;
    let reduce_only = o.bool("r")?;
    let order_type = parse_order_type(info, o.path("t"), o.req("t")?)?;
    let cloid = o
        .opt_str("c")?
        .map(|c| Cloid::parse(&o.path("c"), c))
        .transpose()?;
    Ok(Order {
        asset,
        is_buy,
        price,
        size,
        reduce_only,
        order_type,
        cloid,
    })
}

fn parse_order_type(info: &AssetInfo, path: String, v: &Value) -> Result<OrderType, VenueError> {
    let t = Obj::new(path.clone(), v, shapes::ORDER_TYPE)?;
    match (t.opt("limit"), t.opt("trigger")) {
        (Some(limit), None) => {
            let l = Obj::new(t.path("limit"), limit, shapes::LIMIT)?;
            let tif = match l.str("tif")? {
                "Alo" => Tif::Alo,
                "Ioc" => Tif::Ioc,
                "Gtc" => Tif::Gtc,
                "FrontendMarket" => Tif::FrontendMarket,
                other => {
                    return Err(VenueError::invalid(
                        l.path("tif"),
                        format!(
                            "{other:?} is not a time in force (Alo, Ioc, Gtc or FrontendMarket)"
                        ),
                    ));
                }
            };
            Ok(OrderType::Limit { tif })
        }
        (None, Some(trigger)) => {
            let tr = Obj::new(t.path("trigger"), trigger, shapes::TRIGGER)?;
            let is_market = tr.bool("isMarket")?;
            let px = tr.str("triggerPx")?;
            let trigger_px = parse_positive(&tr.path("triggerPx"), px)?;
            check_price(&tr.path("triggerPx"), px, &trigger_px, info)?;
            let tpsl = match tr.str("tpsl")? {
                "tp" => Tpsl::Tp,
                "sl" => Tpsl::Sl,
                other => {
                    return Err(VenueError::invalid(
                        tr.path("tpsl"),
                        format!("{other:?} is not \"tp\" or \"sl\""),
                    ));
                }
            };
            Ok(OrderType::Trigger {
                is_market,
                trigger_px,
                tpsl,
            })
        }
        _ => Err(VenueError::invalid(
            path,
            "must have exactly one of \"limit\" and \"trigger\"",
        )),
    }
}

fn parse_oid(path: String, v: &Value) -> Result<OidOrCloid, VenueError> {
    match v {
        Value::String(s) => Ok(OidOrCloid::Cloid(Cloid::parse(&path, s)?)),
        _ => super::json::as_u64(path, v).map(OidOrCloid::Oid),
    }
}

fn parse_modify(meta: &Meta, obj: &Obj<'_>) -> Result<ModifyOrder, VenueError> {
    Ok(ModifyOrder {
        oid: parse_oid(obj.path("oid"), obj.req("oid")?)?,
        order: parse_order(meta, obj.path("order"), obj.req("order")?)?,
    })
}

/// Parse an L1 action of type `ty` (already read from `type`).
pub(crate) fn parse(meta: &Meta, ty: &str, v: &Value) -> Result<L1Action, VenueError> {
    let root = String::new();
    match ty {
        "order" => {
            let a = Obj::new(root, v, shapes::ORDER_ACTION)?;
            let orders = a
                .array("orders")?
                .iter()
                .enumerate()
                .map(|(i, o)| parse_order(meta, format!("orders[{i}]"), o))
                .collect::<Result<Vec<_>, _>>()?;
            let grouping = if a.req("grouping")?.is_object() {
                // The SDKs' order priority, `{"p": rate}`: a fee on the
                // filled notional, judged as a fee of kind "priority".
                let g = Obj::new(a.path("grouping"), a.req("grouping")?, shapes::PRIORITY)?;
                let p = g.u64("p")?;
                if p > MAX_PRIORITY {
                    return Err(VenueError::invalid(
                        g.path("p"),
                        format!("{p} exceeds {MAX_PRIORITY} (the whole notional)"),
                    ));
                }
                Grouping::Priority(p)
            } else {
                match a.str("grouping")? {
                    "na" => Grouping::Na,
                    "normalTpsl" => Grouping::NormalTpsl,
                    "positionTpsl" => Grouping::PositionTpsl,
                    other => {
                        return Err(VenueError::invalid(
                            a.path("grouping"),
                            format!(
                                "{other:?} is not a grouping (na, normalTpsl, positionTpsl or {{\"p\": priority}})"
                            ),
                        ));
                    }
                }
            };
            let builder = match a.opt("builder") {
                None => None,
                Some(b) => {
                    let b = Obj::new(a.path("builder"), b, shapes::BUILDER)?;
                    let address = parse_address(&b.path("b"), b.str("b")?)?;
                    let fee = b.u64("f")?;
                    if fee > MAX_BUILDER_FEE {
                        return Err(VenueError::invalid(
                            b.path("f"),
                            format!(
                                "builder fee {fee} exceeds {MAX_BUILDER_FEE} (tenths of a basis point)"
                            ),
                        ));
                    }
                    Some(Builder { address, fee })
                }
            };
            Ok(L1Action::Order {
                orders,
                grouping,
                builder,
            })
        }
        "cancel" => {
            let a = Obj::new(root, v, shapes::CANCEL_ACTION)?;
            let cancels = a
                .array("cancels")?
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let c = Obj::new(format!("cancels[{i}]"), c, shapes::CANCEL)?;
                    Ok(CancelOid {
                        asset: asset(meta, &c, "a")?.0,
                        oid: c.u64("o")?,
                    })
                })
                .collect::<Result<Vec<_>, VenueError>>()?;
            Ok(L1Action::Cancel { cancels })
        }
        "cancelByCloid" => {
            let a = Obj::new(root, v, shapes::CANCEL_ACTION)?;
            let cancels = a
                .array("cancels")?
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let c = Obj::new(format!("cancels[{i}]"), c, shapes::CANCEL_BY_CLOID)?;
                    Ok(CancelCloid {
                        asset: asset(meta, &c, "asset")?.0,
                        cloid: Cloid::parse(&c.path("cloid"), c.str("cloid")?)?,
                    })
                })
                .collect::<Result<Vec<_>, VenueError>>()?;
            Ok(L1Action::CancelByCloid { cancels })
        }
        "modify" => {
            let a = Obj::new(root, v, shapes::MODIFY_ACTION)?;
            Ok(L1Action::Modify(parse_modify(meta, &a)?))
        }
        "batchModify" => {
            let a = Obj::new(root, v, shapes::BATCH_MODIFY_ACTION)?;
            let modifies = a
                .array("modifies")?
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    parse_modify(
                        meta,
                        &Obj::new(format!("modifies[{i}]"), m, shapes::MODIFY)?,
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(L1Action::BatchModify { modifies })
        }
        "updateLeverage" => {
            let a = Obj::new(root, v, shapes::UPDATE_LEVERAGE)?;
            let (asset, info) = perp_asset(meta, &a, "asset")?;
            let is_cross = a.bool("isCross")?;
            if is_cross && info.only_isolated {
                return Err(VenueError::invalid(
                    a.path("isCross"),
                    format!("{} allows isolated margin only", info.symbol),
                ));
            }
            let leverage = a.u32("leverage")?;
            if leverage == 0 {
                return Err(VenueError::invalid(
                    a.path("leverage"),
                    "must be at least 1",
                ));
            }
            if let Some(max) = info.max_leverage
                && leverage > max
            {
                return Err(VenueError::invalid(
                    a.path("leverage"),
                    format!(
                        "{leverage} exceeds the maximum leverage of {} ({max})",
                        info.symbol
                    ),
                ));
            }
            Ok(L1Action::UpdateLeverage {
                asset,
                is_cross,
                leverage,
            })
        }
        "updateIsolatedMargin" => {
            let a = Obj::new(root, v, shapes::UPDATE_ISOLATED_MARGIN)?;
            let (asset, _) = perp_asset(meta, &a, "asset")?;
            let is_buy = a.bool("isBuy")?;
            let ntli = a.i64("ntli")?;
            if ntli == 0 {
                return Err(VenueError::invalid(a.path("ntli"), "must not be zero"));
            }
            Ok(L1Action::UpdateIsolatedMargin {
                asset,
                is_buy,
                ntli,
            })
        }
        "scheduleCancel" => {
            let a = Obj::new(root, v, shapes::SCHEDULE_CANCEL)?;
            Ok(L1Action::ScheduleCancel {
                time: a.opt_u64("time")?,
            })
        }
        "noop" => {
            Obj::new(root, v, shapes::NOOP)?;
            Ok(L1Action::Noop)
        }
        "agentSendAsset" => {
            let fields: Vec<&str> = std::iter::once("type")
                .chain(send_asset::FIELDS.iter().copied())
                .collect();
            let a = Obj::new(root, v, &fields)?;
            Ok(L1Action::AgentSendAsset(SendAsset::parse(meta, &a)?))
        }
        _ => Err(VenueError::UnknownActionType {
            path: "type".into(),
            ty: ty.to_string(),
        }),
    }
}

// --------------------------------------------------------------- encoding
//
// Wire structs, one per shape, with fields in exactly the order the SDK
// builds its dicts. The same structs serialise to msgpack (what is hashed)
// and to JSON (what the bot posts), so the two cannot drift apart.

#[derive(Serialize)]
struct LimitW {
    tif: &'static str,
}

#[derive(Serialize)]
struct TriggerW {
    #[serde(rename = "isMarket")]
    is_market: bool,
    #[serde(rename = "triggerPx")]
    trigger_px: String,
    tpsl: &'static str,
}

#[derive(Serialize)]
struct OrderTypeW {
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<LimitW>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trigger: Option<TriggerW>,
}

#[derive(Serialize)]
struct OrderW {
    a: u32,
    b: bool,
    p: String,
    s: String,
    r: bool,
    t: OrderTypeW,
    #[serde(skip_serializing_if = "Option::is_none")]
    c: Option<String>,
}

#[derive(Serialize)]
struct BuilderW {
    b: String,
    f: u64,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OidW {
    Oid(u64),
    Cloid(String),
}

#[derive(Serialize)]
struct CancelW {
    a: u32,
    o: u64,
}

#[derive(Serialize)]
struct CancelCloidW {
    asset: u32,
    cloid: String,
}

#[derive(Serialize)]
struct ModifyW {
    oid: OidW,
    order: OrderW,
}

/// `grouping`: a name, or the priority object `{"p": rate}`.
#[derive(Serialize)]
#[serde(untagged)]
enum GroupingW {
    Name(&'static str),
    Priority { p: u64 },
}

#[derive(Serialize)]
#[serde(untagged)]
enum ActionW {
    Order {
        #[serde(rename = "type")]
        ty: &'static str,
        orders: Vec<OrderW>,
        grouping: GroupingW,
        #[serde(skip_serializing_if = "Option::is_none")]
        builder: Option<BuilderW>,
    },
    Cancel {
        #[serde(rename = "type")]
        ty: &'static str,
        cancels: Vec<CancelW>,
    },
    CancelByCloid {
        #[serde(rename = "type")]
        ty: &'static str,
        cancels: Vec<CancelCloidW>,
    },
    Modify {
        #[serde(rename = "type")]
        ty: &'static str,
        oid: OidW,
        order: OrderW,
    },
    BatchModify {
        #[serde(rename = "type")]
        ty: &'static str,
        modifies: Vec<ModifyW>,
    },
    UpdateLeverage {
        #[serde(rename = "type")]
        ty: &'static str,
        asset: u32,
        #[serde(rename = "isCross")]
        is_cross: bool,
        leverage: u32,
    },
    UpdateIsolatedMargin {
        #[serde(rename = "type")]
        ty: &'static str,
        asset: u32,
        #[serde(rename = "isBuy")]
        is_buy: bool,
        ntli: i64,
    },
    ScheduleCancel {
        #[serde(rename = "type")]
        ty: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        time: Option<u64>,
    },
    Noop {
        #[serde(rename = "type")]
        ty: &'static str,
    },
    AgentSendAsset(send_asset::L1Wire),
}

fn order_w(o: &Order) -> OrderW {
    OrderW {
        a: o.asset,
        b: o.is_buy,
        p: to_wire(&o.price),
        s: to_wire(&o.size),
        r: o.reduce_only,
        t: match &o.order_type {
            OrderType::Limit { tif } => OrderTypeW {
                limit: Some(LimitW { tif: tif.as_str() }),
                trigger: None,
            },
            OrderType::Trigger {
                is_market,
                trigger_px,
                tpsl,
            } => OrderTypeW {
                limit: None,
                trigger: Some(TriggerW {
                    is_market: *is_market,
                    trigger_px: to_wire(trigger_px),
                    tpsl: tpsl.as_str(),
                }),
            },
        },
        c: o.cloid.map(|c| c.to_string()),
    }
}

fn oid_w(o: &OidOrCloid) -> OidW {
    match o {
        OidOrCloid::Oid(o) => OidW::Oid(*o),
        OidOrCloid::Cloid(c) => OidW::Cloid(c.to_string()),
    }
}

impl L1Action {
    /// The `type` field.
    pub fn type_name(&self) -> &'static str {
        match self {
            L1Action::Order { .. } => "order",
            L1Action::Cancel { .. } => "cancel",
            L1Action::CancelByCloid { .. } => "cancelByCloid",
            L1Action::Modify(_) => "modify",
            L1Action::BatchModify { .. } => "batchModify",
            L1Action::UpdateLeverage { .. } => "updateLeverage",
            L1Action::UpdateIsolatedMargin { .. } => "updateIsolatedMargin",
            L1Action::ScheduleCancel { .. } => "scheduleCancel",
            L1Action::Noop => "noop",
            L1Action::AgentSendAsset(_) => "agentSendAsset",
        }
    }

    fn wire(&self) -> ActionW {
        let ty = self.type_name();
        match self {
            L1Action::Order {
                orders,
                grouping,
                builder,
            } => ActionW::Order {
                ty,
                orders: orders.iter().map(order_w).collect(),
                grouping: match grouping.name() {
                    Some(n) => GroupingW::Name(n),
                    None => GroupingW::Priority {
                        p: match grouping {
                            Grouping::Priority(p) => *p,
                            _ => 0,
                        },
                    },
                },
                builder: builder.map(|b| BuilderW {
                    b: address_hex(&b.address),
                    f: b.fee,
                }),
            },
            L1Action::Cancel { cancels } => ActionW::Cancel {
                ty,
                cancels: cancels
                    .iter()
                    .map(|c| CancelW {
                        a: c.asset,
                        o: c.oid,
                    })
                    .collect(),
            },
            L1Action::CancelByCloid { cancels } => ActionW::CancelByCloid {
                ty,
                cancels: cancels
                    .iter()
                    .map(|c| CancelCloidW {
                        asset: c.asset,
                        cloid: c.cloid.to_string(),
                    })
                    .collect(),
            },
            L1Action::Modify(m) => ActionW::Modify {
                ty,
                oid: oid_w(&m.oid),
                order: order_w(&m.order),
            },
            L1Action::BatchModify { modifies } => ActionW::BatchModify {
                ty,
                modifies: modifies
                    .iter()
                    .map(|m| ModifyW {
                        oid: oid_w(&m.oid),
                        order: order_w(&m.order),
                    })
                    .collect(),
            },
            L1Action::UpdateLeverage {
                asset,
                is_cross,
                leverage,
            } => ActionW::UpdateLeverage {
                ty,
                asset: *asset,
                is_cross: *is_cross,
                leverage: *leverage,
            },
            L1Action::UpdateIsolatedMargin {
                asset,
                is_buy,
                ntli,
            } => ActionW::UpdateIsolatedMargin {
                ty,
                asset: *asset,
                is_buy: *is_buy,
                ntli: *ntli,
            },
            L1Action::ScheduleCancel { time } => ActionW::ScheduleCancel { ty, time: *time },
            L1Action::Noop => ActionW::Noop { ty },
            L1Action::AgentSendAsset(s) => ActionW::AgentSendAsset(s.l1_wire(ty)),
        }
    }

    /// The nonce the action carries itself (`agentSendAsset`'s `nonce`),
    /// which must be the request's nonce.
    pub fn embedded_nonce(&self) -> Option<u64> {
        match self {
            L1Action::AgentSendAsset(s) => Some(s.nonce),
            _ => None,
        }
    }

    /// The action moves funds (and so needs the grant for that, besides
    /// the policy's allowance).
    pub fn moves_funds(&self) -> bool {
        matches!(self, L1Action::AgentSendAsset(_))
    }

    /// The msgpack bytes the venue hashes (`msgpack.packb(action)` in the
    /// SDK: maps with the SDK's key order, smallest integer encodings).
    pub fn to_msgpack(&self) -> Vec<u8> {
        rmp_serde::to_vec_named(&self.wire()).expect("msgpack encoding into a Vec cannot fail")
    }

    /// The canonical JSON text of the action (same keys and order as the
    /// msgpack), for the bot to post unchanged.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.wire()).expect("JSON encoding of plain values cannot fail")
    }
}

/// The venue's action hash: `keccak256(msgpack(action) ‖ nonce (u64 BE) ‖
/// vault flag [‖ vault address] [‖ 0x00 ‖ expires_after (u64 BE)])`.
pub fn action_hash(
    msgpack: &[u8],
    nonce: u64,
    vault_address: Option<&[u8; 20]>,
    expires_after: Option<u64>,
) -> [u8; 32] {
    let mut data = Vec::with_capacity(msgpack.len() + 8 + 21 + 9);
    data.extend_from_slice(msgpack);
    data.extend_from_slice(&nonce.to_be_bytes());
    match vault_address {
        None => data.push(0),
        Some(a) => {
            data.push(1);
            data.extend_from_slice(a);
        }
    }
    if let Some(t) = expires_after {
        data.push(0);
        data.extend_from_slice(&t.to_be_bytes());
    }
    keccak256(&data)
}

/// The "Exchange" EIP-712 domain L1 actions are signed in.
pub fn l1_domain() -> Domain {
    Domain {
        name: Some("Exchange".into()),
        version: Some("1".into()),
        chain_id: Some(1337),
        verifying_contract: Some([0; 20]),
        salt: None,
    }
}

/// The digest a key signs for an L1 action: EIP-712 over
/// `Agent{source: "a" (mainnet) | "b" (testnet), connectionId: action_hash}`.
pub fn l1_digest(action_hash: &[u8; 32], is_mainnet: bool) -> [u8; 32] {
    let types = Types::new().with(
        "Agent",
        vec![
            Field::new("source", "string"),
            Field::new("connectionId", "bytes32"),
        ],
    );
    let msg = Message::new()
        .with(
            "source",
            TypedValue::string(if is_mainnet { "a" } else { "b" }),
        )
        .with("connectionId", TypedValue::bytes32(*action_hash));
    let struct_hash = types
        .hash_struct("Agent", &msg)
        .expect("the Agent type matches its message");
    eip712::digest(&l1_domain().separator(), &struct_hash)
}
