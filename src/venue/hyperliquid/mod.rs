//! Hyperliquid: parse an action (the JSON object the official SDK builds)
//! strictly into typed values, turn it into intents for policy, and build
//! the exact digest the key signs.
//!
//! * **L1 actions** (`order`, `cancel`, `cancelByCloid`, `modify`,
//!   `batchModify`, `updateLeverage`, `updateIsolatedMargin`,
//!   `scheduleCancel`, `noop`, `agentSendAsset`): re-encoded canonically
//!   as msgpack with the SDK's key order and the SDK's number strings;
//!   hashed with the nonce, the vault address and `expires_after` as the
//!   venue does; signed as the EIP-712 struct `Agent{source, connectionId}`
//!   in the "Exchange" domain (chain id 1337).
//! * **User-signed actions** (`usdSend`, `spotSend`, `withdraw3`,
//!   `usdClassTransfer`, `approveAgent`, `approveBuilderFee`, `sendAsset`):
//!   signed as their own EIP-712 structs in the
//!   "HyperliquidSignTransaction" domain.
//!
//! Assets are those of the key's metadata: the main perp dex, spot, and
//! the builder-deployed perp dexs (HIP-3) the operator configured.
//!
//! Anything else — another action type, an unknown field, a value of the
//! wrong JSON type, a malformed number, a price or size the asset does not
//! allow, an unknown asset — is refused with a [`VenueError`] naming the
//! field. The bot must post the canonical JSON we return
//! ([`Prepared::action_json`]), which is exactly what was hashed.

mod cancels;
mod error;
mod json;
mod l1;
mod l1_intents;
mod meta;
mod number;
mod send_asset;
pub mod shapes;
mod user;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_actions;

use serde_json::Value;

pub use cancels::{OpenRef, SCHEDULE_CANCEL_MIN_LEAD_MS, cancel_actions, schedule_cancel};
pub use error::VenueError;
pub use json::parse_json_strict;
pub use l1::{
    Builder, CancelCloid, CancelOid, Grouping, L1_TYPES, L1Action, MAX_BUILDER_FEE, ModifyOrder,
    OidOrCloid, Order, OrderType, Tif, Tpsl, action_hash, l1_digest, l1_domain,
};
pub use meta::{
    AssetInfo, AssetKind, MAX_DECIMALS_PERP, MAX_DECIMALS_SPOT, MAX_PERP_DEX_INDEX, Meta,
    PERP_DEX_ASSET_OFFSET, PERP_DEX_ASSET_STRIDE, SPOT_ASSET_OFFSET,
};
pub use number::{
    AddressText, Cloid, DecimalText, MAX_PRICE_SIG_FIGS, parse_address, parse_plain_decimal,
    parse_positive, to_wire,
};
pub use send_asset::SendAsset;
pub use user::{
    DEFAULT_SIGNATURE_CHAIN_ID, HyperliquidChain, MAX_BUILDER_FEE_PERCENT, USER_TYPES, UserAction,
    UserSignedAction,
};

use crate::order::Intent;

/// A parsed Hyperliquid action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    L1(L1Action),
    User(UserSignedAction),
}

impl Action {
    /// The `type` field.
    pub fn type_name(&self) -> &'static str {
        match self {
            Action::L1(a) => a.type_name(),
            Action::User(a) => a.type_name(),
        }
    }

    /// The canonical JSON text of the action.
    pub fn to_json(&self) -> String {
        match self {
            Action::L1(a) => a.to_json(),
            Action::User(a) => a.to_json(),
        }
    }

    /// What the action asks for, in policy's vocabulary.
    pub fn intents(&self, meta: &Meta) -> Result<Vec<Intent>, VenueError> {
        match self {
            Action::L1(a) => a.intents(meta),
            Action::User(a) => Ok(a.intents()),
        }
    }

    /// The nonce an action carries itself (a user-signed action's `time`
    /// / `nonce`, `agentSendAsset`'s `nonce`), which must be the request's
    /// nonce; `None` for the other L1 actions, whose nonce the request (or
    /// the agent's nonce book) supplies.
    pub fn embedded_nonce(&self) -> Option<u64> {
        match self {
            Action::L1(a) => a.embedded_nonce(),
            Action::User(a) => Some(a.nonce()),
        }
    }

    /// The subaccount whose funds the action moves (`fromSubAccount` of
    /// `sendAsset` / `agentSendAsset`), if any: the key must be allowed to
    /// act for it.
    pub fn from_sub_account(&self) -> Option<[u8; 20]> {
        let s = match self {
            Action::L1(L1Action::AgentSendAsset(s)) => s,
            Action::User(UserSignedAction {
                action: UserAction::SendAsset(s),
                ..
            }) => s,
            _ => return None,
        };
        s.from_sub_account.as_ref().map(AddressText::bytes)
    }

    /// An L1 action that moves funds (`agentSendAsset`): the caller needs
    /// the grant for moving funds too, not only the one for L1 actions.
    pub fn is_l1_transfer(&self) -> bool {
        matches!(self, Action::L1(a) if a.moves_funds())
    }
}

/// Parse an action strictly. `is_mainnet` is the network the request is
/// for: a user-signed action's `hyperliquidChain` must match it (and is
/// filled in from it when absent, as the SDK does when it signs).
pub fn parse_action(meta: &Meta, action: &Value, is_mainnet: bool) -> Result<Action, VenueError> {
    let Some(obj) = action.as_object() else {
        return Err(VenueError::WrongType {
            path: "action".into(),
            expected: "an object",
            got: json::kind(action),
        });
    };
    let ty = match obj.get("type") {
        None => {
            return Err(VenueError::Missing {
                path: "type".into(),
            });
        }
        Some(t) => json::as_str("type".into(), t)?,
    };
    if L1_TYPES.contains(&ty) {
        l1::parse(meta, ty, action).map(Action::L1)
    } else if USER_TYPES.contains(&ty) {
        user::parse(meta, ty, action, is_mainnet).map(Action::User)
    } else {
        Err(VenueError::UnknownActionType {
            path: "type".into(),
            ty: ty.to_string(),
        })
    }
}

/// What a bot asks the agent to sign: the action and its signing context.
#[derive(Debug, Clone, Copy)]
pub struct SignRequest<'a> {
    /// The action object.
    pub action: &'a Value,
    /// The request nonce (ms timestamp). For a user-signed action it must
    /// equal the action's own `time` / `nonce`.
    pub nonce: u64,
    /// Trade for this vault or subaccount (L1 actions only).
    pub vault_address: Option<&'a str>,
    /// Venue rejects the action after this time (UTC ms; L1 actions only).
    pub expires_after: Option<u64>,
    /// Mainnet (true) or testnet.
    pub is_mainnet: bool,
}

/// A parsed, judged-ready and encoded request.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub action: Action,
    /// What policy judges.
    pub intents: Vec<Intent>,
    /// The canonical action JSON; the bot must post exactly this.
    pub action_json: String,
    pub nonce: u64,
    pub vault_address: Option<[u8; 20]>,
    pub expires_after: Option<u64>,
    pub is_mainnet: bool,
    /// L1 only: the msgpack bytes that were hashed.
    pub msgpack: Option<Vec<u8>>,
    /// L1 only: the action hash (the `Agent`'s `connectionId`).
    pub action_hash: Option<[u8; 32]>,
    /// The 32-byte EIP-712 digest for the key to sign.
    pub digest: [u8; 32],
}

impl Prepared {
    /// The vault address as lowercase `0x` hex (as the bot should post it).
    pub fn vault_address_hex(&self) -> Option<String> {
        self.vault_address.as_ref().map(number::address_hex)
    }
}

/// Parse, check and encode a request; the result carries the intents for
/// policy and the digest to sign. Nothing here signs.
pub fn prepare(meta: &Meta, req: &SignRequest<'_>) -> Result<Prepared, VenueError> {
    prepare_parsed(meta, parse_action(meta, req.action, req.is_mainnet)?, req)
}

/// [`prepare`] for an action the caller has already parsed from
/// `req.action` with [`parse_action`] (the signing op parses it once, to
/// learn its kind before it takes the lock, and encodes that same parse).
pub fn prepare_parsed(
    meta: &Meta,
    action: Action,
    req: &SignRequest<'_>,
) -> Result<Prepared, VenueError> {
    let vault_address = req
        .vault_address
        .map(|v| parse_address("vaultAddress", v))
        .transpose()?;
    let intents = action.intents(meta)?;
    let action_json = action.to_json();
    match &action {
        Action::L1(a) => {
            if let Some(n) = a.embedded_nonce()
                && n != req.nonce
            {
                return Err(VenueError::invalid(
                    "nonce",
                    format!("{n} differs from the request nonce {}", req.nonce),
                ));
            }
            if a.moves_funds() && vault_address.is_some() {
                return Err(VenueError::invalid(
                    "vaultAddress",
                    format!(
                        "{} does not take a vault address; fromSubAccount names the account the funds come from",
                        a.type_name()
                    ),
                ));
            }
            let msgpack = a.to_msgpack();
            let hash = action_hash(
                &msgpack,
                req.nonce,
                vault_address.as_ref(),
                req.expires_after,
            );
            Ok(Prepared {
                digest: l1_digest(&hash, req.is_mainnet),
                action_hash: Some(hash),
                msgpack: Some(msgpack),
                action,
                intents,
                action_json,
                nonce: req.nonce,
                vault_address,
                expires_after: req.expires_after,
                is_mainnet: req.is_mainnet,
            })
        }
        Action::User(u) => {
            if vault_address.is_some() {
                return Err(VenueError::invalid(
                    "vaultAddress",
                    format!(
                        "a user-signed action ({}) does not sign a vault address; leave it out",
                        u.type_name()
                    ),
                ));
            }
            if req.expires_after.is_some() {
                return Err(VenueError::invalid(
                    "expiresAfter",
                    format!(
                        "a user-signed action ({}) does not support expires_after",
                        u.type_name()
                    ),
                ));
            }
            if u.nonce() != req.nonce {
                return Err(VenueError::invalid(
                    if matches!(
                        u.action,
                        UserAction::UsdSend { .. }
                            | UserAction::SpotSend { .. }
                            | UserAction::Withdraw { .. }
                    ) {
                        "time"
                    } else {
                        "nonce"
                    },
                    format!("{} differs from the request nonce {}", u.nonce(), req.nonce),
                ));
            }
            Ok(Prepared {
                digest: u.digest(),
                action_hash: None,
                msgpack: None,
                action,
                intents,
                action_json,
                nonce: req.nonce,
                vault_address: None,
                expires_after: None,
                is_mainnet: req.is_mainnet,
            })
        }
    }
}

/// A reduce-only IOC order that closes a reported position of `size`
/// (signed: above 0 long, below 0 short) in `symbol`, priced `slippage_bps`
/// through `reference` so that it executes at once, with the price and size
/// rounded to what the venue accepts (away from the book for the price, up
/// for the size: reduce-only never opens more than the position).
pub fn flatten_action(
    meta: &Meta,
    symbol: &str,
    size: rust_decimal::Decimal,
    reference: rust_decimal::Decimal,
    slippage_bps: u32,
) -> Result<Value, String> {
    use rust_decimal::Decimal;
    let asset = meta
        .by_name(symbol)
        .ok_or_else(|| format!("unknown symbol {symbol:?}"))?;
    if size.is_zero() || reference <= Decimal::ZERO {
        return Err("nothing to flatten".into());
    }
    let is_buy = size < Decimal::ZERO;
    let slip = Decimal::from(slippage_bps) / Decimal::from(10_000);
    let raw = if is_buy {
        reference * (Decimal::ONE + slip)
    } else {
        reference * (Decimal::ONE - slip)
    };
    let price = number::round_price(raw, asset, is_buy);
    let qty = number::round_size_up(size.abs(), asset);
    if price <= Decimal::ZERO || qty <= Decimal::ZERO {
        return Err(format!("cannot price a {symbol} order from {reference}"));
    }
    Ok(serde_json::json!({
        "type": "order",
        "orders": [{
            "a": asset.index,
            "b": is_buy,
            "p": number::to_wire(&price),
            "s": number::to_wire(&qty),
            "r": true,
            "t": {"limit": {"tif": "Ioc"}},
        }],
        "grouping": "na",
    }))
}
