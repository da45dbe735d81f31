//! Why a Hyperliquid request was refused. Every variant names the field
//! (as a path from the action's root, e.g. `orders[0].p`) so the bot's
//! author can see what to fix; the agent relays the message as the reason
//! for a denial.

use thiserror::Error;

/// A request the venue layer will not build a payload for.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VenueError {
    #[error("{path}: required field is missing")]
    Missing { path: String },
    #[error("{path}: unknown field")]
    UnknownField { path: String },
    #[error("{path}: expected {expected}, got {got}")]
    WrongType {
        path: String,
        expected: &'static str,
        got: &'static str,
    },
    #[error("{path}: unknown action type {ty:?}")]
    UnknownActionType { path: String, ty: String },
    #[error("{path}: unknown asset index {index}")]
    UnknownAsset { path: String, index: u64 },
    #[error("{path}: {value:?} {reason}")]
    BadNumber {
        path: String,
        value: String,
        reason: String,
    },
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
    #[error("asset metadata: {0}")]
    Meta(String),
}

impl VenueError {
    pub(crate) fn invalid(path: impl Into<String>, reason: impl Into<String>) -> Self {
        VenueError::Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// The path of the offending field (empty for metadata errors).
    pub fn path(&self) -> &str {
        match self {
            VenueError::Missing { path }
            | VenueError::UnknownField { path }
            | VenueError::WrongType { path, .. }
            | VenueError::UnknownActionType { path, .. }
            | VenueError::UnknownAsset { path, .. }
            | VenueError::BadNumber { path, .. }
            | VenueError::Invalid { path, .. } => path,
            VenueError::Meta(_) => "",
        }
    }
}
