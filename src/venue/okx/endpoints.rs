//! The OKX v5 endpoints the agent decodes (all `POST` with a JSON body),
//! with their documented field lists.

/// A decoded endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Order,
    BatchOrders,
    CancelOrder,
    CancelBatchOrders,
    AmendOrder,
    AmendBatchOrders,
    CancelAllAfter,
    Transfer,
    Withdrawal,
}

/// Every decoded endpoint: (path, endpoint).
pub const ENDPOINTS: &[(&str, Endpoint)] = &[
    ("/api/v5/trade/order", Endpoint::Order),
    ("/api/v5/trade/batch-orders", Endpoint::BatchOrders),
    ("/api/v5/trade/cancel-order", Endpoint::CancelOrder),
    (
        "/api/v5/trade/cancel-batch-orders",
        Endpoint::CancelBatchOrders,
    ),
    ("/api/v5/trade/amend-order", Endpoint::AmendOrder),
    (
        "/api/v5/trade/amend-batch-orders",
        Endpoint::AmendBatchOrders,
    ),
    ("/api/v5/trade/cancel-all-after", Endpoint::CancelAllAfter),
    ("/api/v5/asset/transfer", Endpoint::Transfer),
    ("/api/v5/asset/withdrawal", Endpoint::Withdrawal),
];

/// A place order (and each order of a batch), in the documented order.
pub const ORDER_FIELDS: &[&str] = &[
    "instId",
    "tdMode",
    "clOrdId",
    "tag",
    "side",
    "posSide",
    "ordType",
    "sz",
    "px",
    "reduceOnly",
    "tgtCcy",
    "banAmend",
    "stpMode",
];
/// A cancel (and each of a batch).
pub const CANCEL_FIELDS: &[&str] = &["instId", "ordId", "clOrdId"];
/// An amend (and each of a batch).
pub const AMEND_FIELDS: &[&str] = &[
    "instId",
    "cxlOnFail",
    "ordId",
    "clOrdId",
    "reqId",
    "newSz",
    "newPx",
];
/// `cancel-all-after`.
pub const CANCEL_ALL_AFTER_FIELDS: &[&str] = &["timeOut", "tag"];
/// `asset/transfer`.
pub const TRANSFER_FIELDS: &[&str] = &["type", "ccy", "amt", "from", "to", "subAcct", "clientId"];
/// `asset/withdrawal`.
pub const WITHDRAWAL_FIELDS: &[&str] = &["ccy", "amt", "dest", "toAddr", "chain", "clientId"];

/// Most items in a batch (the venue's limit).
pub const MAX_BATCH: usize = 20;

impl Endpoint {
    /// The decoded endpoint at `path`, if any.
    pub fn find_path(path: &str) -> Option<Endpoint> {
        ENDPOINTS.iter().find(|(p, _)| *p == path).map(|(_, e)| *e)
    }

    pub fn path(self) -> &'static str {
        ENDPOINTS
            .iter()
            .find(|(_, e)| *e == self)
            .map(|(p, _)| *p)
            .expect("every endpoint is in the table")
    }

    /// The fields one item of its body takes.
    pub fn fields(self) -> &'static [&'static str] {
        use Endpoint::*;
        match self {
            Order | BatchOrders => ORDER_FIELDS,
            CancelOrder | CancelBatchOrders => CANCEL_FIELDS,
            AmendOrder | AmendBatchOrders => AMEND_FIELDS,
            CancelAllAfter => CANCEL_ALL_AFTER_FIELDS,
            Transfer => TRANSFER_FIELDS,
            Withdrawal => WITHDRAWAL_FIELDS,
        }
    }

    /// A batch endpoint: its body is an array.
    pub fn is_batch(self) -> bool {
        matches!(
            self,
            Endpoint::BatchOrders | Endpoint::CancelBatchOrders | Endpoint::AmendBatchOrders
        )
    }
}
