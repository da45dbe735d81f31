//! What the dead-man's switch's instructions are before and after signing,
//! shared by the trip (`trip`) and each venue's cancel signing
//! (`trip_okx`, `trip_bybit`), which the trip calls: one vocabulary, so
//! that none of them imports another's.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::authorize::{Caller, Request};
use crate::keyring::KeyEntry;
use crate::protocol::ErrorCode;

/// The op name agent-originated decisions are journaled under.
pub const TRIP_OP: &str = "deadman.trip";

pub use crate::journal::record::AGENT_RULE;

/// One instruction before signing.
#[derive(Debug, Clone, PartialEq)]
pub enum Planned {
    Hyperliquid {
        key: String,
        action: Value,
    },
    /// An instruction that could not be built (e.g. no reference price to
    /// price a flattening order): reported in the document as an error.
    Unbuildable {
        key: String,
        error: String,
    },
    Rest {
        key: String,
        method: &'static str,
        path: &'static str,
        symbol: String,
    },
    /// An OKX request (`POST path` with `body`): see `trip_okx`.
    Okx {
        key: String,
        path: &'static str,
        body: Value,
    },
    /// A Bybit request (`POST path` with `body`): see `trip_bybit`.
    Bybit {
        key: String,
        path: &'static str,
        body: Value,
    },
}

/// Why an instruction could not be made.
#[derive(Debug, thiserror::Error)]
pub enum InstructionError {
    #[error("{0}")]
    Venue(String),
    #[error("journal: {0}")]
    Journal(String),
    #[error("signing: {0}")]
    Sign(String),
}

/// The request of an instruction the agent makes itself for `identity`:
/// the journal records the agent's uid and pid, and `why` as what was asked
/// (its digest stands in for a request's).
pub fn agent_request<'a>(
    identity: &str,
    op: &'a str,
    entry: &'a KeyEntry,
    why: &str,
) -> Request<'a> {
    Request {
        caller: Caller::agent(identity),
        op,
        entry,
        request_sha256: hex::encode(Sha256::digest(why.as_bytes())),
        request_bytes: why.len(),
    }
}

/// The signing path's refusal, as an instruction's error: a journal that
/// could not be written, or a signing failure (already recorded).
pub fn instruction_error(e: crate::authorize::Refusal) -> InstructionError {
    let e = e.into_error();
    match e.code {
        ErrorCode::JournalUnavailable => InstructionError::Journal(e.message),
        ErrorCode::BadParams => InstructionError::Venue(e.message),
        _ => InstructionError::Sign(e.message),
    }
}
