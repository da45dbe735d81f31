//! The Bybit v5 endpoints the agent decodes (all `POST` with a JSON body),
//! with their documented field lists.

/// A decoded endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Create,
    CreateBatch,
    Amend,
    AmendBatch,
    Cancel,
    CancelBatch,
    CancelAll,
}

/// Every decoded endpoint: (path, endpoint).
pub const ENDPOINTS: &[(&str, Endpoint)] = &[
    ("/v5/order/create", Endpoint::Create),
    ("/v5/order/create-batch", Endpoint::CreateBatch),
    ("/v5/order/amend", Endpoint::Amend),
    ("/v5/order/amend-batch", Endpoint::AmendBatch),
    ("/v5/order/cancel", Endpoint::Cancel),
    ("/v5/order/cancel-batch", Endpoint::CancelBatch),
    ("/v5/order/cancel-all", Endpoint::CancelAll),
];

/// A new order (and each order of a batch, without `category`).
pub const ORDER_FIELDS: &[&str] = &[
    "category",
    "symbol",
    "isLeverage",
    "side",
    "orderType",
    "qty",
    "marketUnit",
    "price",
    "triggerDirection",
    "orderFilter",
    "triggerPrice",
    "triggerBy",
    "timeInForce",
    "positionIdx",
    "orderLinkId",
    "reduceOnly",
    "closeOnTrigger",
    "smpType",
];
/// An amend.
pub const AMEND_FIELDS: &[&str] = &[
    "category",
    "symbol",
    "orderId",
    "orderLinkId",
    "triggerPrice",
    "qty",
    "price",
    "triggerBy",
];
/// A cancel.
pub const CANCEL_FIELDS: &[&str] = &[
    "category",
    "symbol",
    "orderId",
    "orderLinkId",
    "orderFilter",
];
/// A cancel of every open order on one symbol.
pub const CANCEL_ALL_FIELDS: &[&str] = &["category", "symbol", "orderFilter"];
/// A batch: the category and the list of requests.
pub const BATCH_FIELDS: &[&str] = &["category", "request"];

impl Endpoint {
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

    /// The fields its body (or one item of a batch, plus `category`) takes.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Endpoint::Create | Endpoint::CreateBatch => ORDER_FIELDS,
            Endpoint::Amend | Endpoint::AmendBatch => AMEND_FIELDS,
            Endpoint::Cancel | Endpoint::CancelBatch => CANCEL_FIELDS,
            Endpoint::CancelAll => CANCEL_ALL_FIELDS,
        }
    }

    pub fn is_batch(self) -> bool {
        matches!(
            self,
            Endpoint::CreateBatch | Endpoint::AmendBatch | Endpoint::CancelBatch
        )
    }
}
