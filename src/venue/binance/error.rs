//! Why a Binance-style REST request was refused. A parameter error names
//! the parameter (inside a batch, its place: `batchOrders[1].price`), so the
//! bot's author can see what to fix; the agent relays the message as the
//! reason for the denial.

use thiserror::Error;

/// A request the venue layer will not build a query string for.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RestError {
    /// A parameter (or the method, path or parameter list itself) is
    /// missing, unknown, of the wrong type, malformed, or one the agent
    /// does not sign. `field` is the parameter's name or place.
    #[error("{field}: {reason}")]
    Param { field: String, reason: String },
    /// The endpoint is not one this key may sign for: not decoded by the
    /// agent and not on the key's read-only allowlist, or in a market the
    /// key is not enabled for.
    #[error("{0}")]
    Endpoint(String),
}

impl RestError {
    pub(crate) fn param(field: impl Into<String>, reason: impl Into<String>) -> Self {
        RestError::Param {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The offending parameter's name or place (empty for endpoint errors).
    pub fn field(&self) -> &str {
        match self {
            RestError::Param { field, .. } => field,
            RestError::Endpoint(_) => "",
        }
    }
}
