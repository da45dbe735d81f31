//! The endpoints the agent decodes: each (method, path) with its market,
//! its documented parameter order, and the parser that turns its
//! parameters into intents.

use super::config::Market;

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn parse(s: &str) -> Option<Method> {
        match s {
            "GET" => Some(Method::Get),
            "POST" => Some(Method::Post),
            "PUT" => Some(Method::Put),
            "DELETE" => Some(Method::Delete),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// A decoded endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /api/v3/order`
    SpotNewOrder,
    /// `DELETE /api/v3/order`
    SpotCancelOrder,
    /// `POST /api/v3/order/cancelReplace`
    SpotCancelReplace,
    /// `DELETE /api/v3/openOrders`
    SpotCancelOpenOrders,
    /// `POST /fapi/v1/order`
    FuturesNewOrder,
    /// `DELETE /fapi/v1/order`
    FuturesCancelOrder,
    /// `POST /fapi/v1/batchOrders`
    FuturesBatchOrders,
    /// `DELETE /fapi/v1/batchOrders`
    FuturesCancelBatch,
    /// `DELETE /fapi/v1/allOpenOrders`
    FuturesCancelAll,
    /// `POST /sapi/v1/capital/withdraw/apply`
    Withdraw,
    /// `POST /sapi/v1/asset/transfer`
    AssetTransfer,
    /// `POST /sapi/v1/futures/transfer`
    FuturesTransfer,
}

/// Every decoded endpoint.
pub const ENDPOINTS: &[(Method, &str, Endpoint)] = &[
    (Method::Post, "/api/v3/order", Endpoint::SpotNewOrder),
    (Method::Delete, "/api/v3/order", Endpoint::SpotCancelOrder),
    (
        Method::Post,
        "/api/v3/order/cancelReplace",
        Endpoint::SpotCancelReplace,
    ),
    (
        Method::Delete,
        "/api/v3/openOrders",
        Endpoint::SpotCancelOpenOrders,
    ),
    (Method::Post, "/fapi/v1/order", Endpoint::FuturesNewOrder),
    (
        Method::Delete,
        "/fapi/v1/order",
        Endpoint::FuturesCancelOrder,
    ),
    (
        Method::Post,
        "/fapi/v1/batchOrders",
        Endpoint::FuturesBatchOrders,
    ),
    (
        Method::Delete,
        "/fapi/v1/batchOrders",
        Endpoint::FuturesCancelBatch,
    ),
    (
        Method::Delete,
        "/fapi/v1/allOpenOrders",
        Endpoint::FuturesCancelAll,
    ),
    (
        Method::Post,
        "/sapi/v1/capital/withdraw/apply",
        Endpoint::Withdraw,
    ),
    (
        Method::Post,
        "/sapi/v1/asset/transfer",
        Endpoint::AssetTransfer,
    ),
    (
        Method::Post,
        "/sapi/v1/futures/transfer",
        Endpoint::FuturesTransfer,
    ),
];

impl Endpoint {
    /// The decoded endpoint at (method, path), if any.
    pub fn find(method: Method, path: &str) -> Option<Endpoint> {
        ENDPOINTS
            .iter()
            .find(|(m, p, _)| *m == method && *p == path)
            .map(|(_, _, e)| *e)
    }

    /// The market whose order endpoints this is; `None` for the wallet
    /// endpoints (transfers), which every REST key may ask for (policy
    /// denies them unless it names the destination).
    pub fn market(self) -> Option<Market> {
        use Endpoint::*;
        match self {
            SpotNewOrder | SpotCancelOrder | SpotCancelReplace | SpotCancelOpenOrders => {
                Some(Market::Spot)
            }
            FuturesNewOrder | FuturesCancelOrder | FuturesBatchOrders | FuturesCancelBatch
            | FuturesCancelAll => Some(Market::Usdm),
            Withdraw | AssetTransfer | FuturesTransfer => None,
        }
    }

    /// Method and path, for messages.
    pub fn describe(self) -> String {
        let (m, p, _) = ENDPOINTS
            .iter()
            .find(|(_, _, e)| *e == self)
            .expect("every endpoint is in the table");
        format!("{} {p}", m.as_str())
    }
}
