//! `sendAsset` and `agentSendAsset`: move a token from one balance of the
//! account (a perp dex, or spot), or of one of its subaccounts, to a
//! balance of `destination` (the account itself, or another one).
//! `sendAsset` is user-signed (EIP-712 `HyperliquidTransaction:SendAsset`,
//! signed by the account's own key); `agentSendAsset` carries the same
//! fields as an L1 action signed by an API wallet (the venue requires its
//! destination to be the account or one of its subaccounts).
//!
//! To policy both are transfers of `token` to `destination`, under the
//! same allowances as `usdSend` or `spotSend`. A move between two balances
//! of the same account is still a transfer, to the account's own address:
//! it needs an allowance naming that address.
//!
//! What the other fields can do, and how they are judged:
//!
//! * `sourceDex`, `destinationDex` — which balance of the sender the token
//!   leaves and which balance of the destination it reaches. They do not
//!   change who owns the funds, so policy does not judge them; but each
//!   must be "" (the main perp dex), "spot" or a builder-deployed dex this
//!   key's metadata lists, so a request cannot route funds through a dex
//!   the operator never configured.
//! * `fromSubAccount` — takes the funds from a subaccount instead of the
//!   account. Checked outside this module: the subaccount must be one the
//!   key may act for (`keys.ALIAS.hyperliquid.vaults`).
//! * `token` — `NAME:0x<tokenId>`, compared exactly by the allowance (a
//!   look-alike token of the same name has another id).

use serde::Serialize;

use super::error::VenueError;
use super::json::Obj;
use super::meta::Meta;
use super::number::parse_token;
use super::number::{AddressText, DecimalText, to_wire};
use crate::crypto::eip712::{Message, Value as TypedValue};
use crate::order::Intent;

pub(crate) use super::shapes::SEND_ASSET as FIELDS;

/// The EIP-712 type list of `HyperliquidTransaction:SendAsset` (the SDK's).
pub(crate) const EIP712_FIELDS: &[(&str, &str)] = &[
    ("hyperliquidChain", "string"),
    ("destination", "string"),
    ("sourceDex", "string"),
    ("destinationDex", "string"),
    ("token", "string"),
    ("amount", "string"),
    ("fromSubAccount", "string"),
    ("nonce", "uint64"),
];

/// The body of a `sendAsset` or `agentSendAsset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendAsset {
    /// Who receives the token.
    pub destination: AddressText,
    /// The balance the token leaves: "" (main perp dex), "spot" or a
    /// builder-deployed dex.
    pub source_dex: String,
    /// The balance of `destination` it reaches (as `source_dex`).
    pub destination_dex: String,
    /// `NAME:0x<tokenId>`.
    pub token: String,
    pub amount: DecimalText,
    /// The subaccount the funds come from; `None` ("" on the wire): the
    /// account itself.
    pub from_sub_account: Option<AddressText>,
    /// The action's own nonce: the request's nonce.
    pub nonce: u64,
}

fn dex(meta: &Meta, obj: &Obj<'_>, key: &str) -> Result<String, VenueError> {
    let name = obj.str(key)?;
    if name.is_empty() || name == "spot" || meta.has_dex(name) {
        return Ok(name.to_string());
    }
    let known: Vec<String> = meta.dexes().map(|(n, _)| format!("{n:?}")).collect();
    Err(VenueError::invalid(
        obj.path(key),
        format!(
            "{name:?} is not \"\" (the main perp dex), \"spot\" or a builder-deployed dex this key's metadata lists ({}); add it to keys.ALIAS.hyperliquid.dex_meta",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ),
    ))
}

impl SendAsset {
    /// Read the fields (the caller has checked that `obj` has no others).
    pub(crate) fn parse(meta: &Meta, obj: &Obj<'_>) -> Result<Self, VenueError> {
        let from_sub_account = match obj.opt_str("fromSubAccount")? {
            None | Some("") => None,
            Some(s) => Some(AddressText::parse(&obj.path("fromSubAccount"), s)?),
        };
        Ok(SendAsset {
            destination: AddressText::parse(&obj.path("destination"), obj.str("destination")?)?,
            source_dex: dex(meta, obj, "sourceDex")?,
            destination_dex: dex(meta, obj, "destinationDex")?,
            token: parse_token(&obj.path("token"), obj.str("token")?)?,
            amount: DecimalText::positive(&obj.path("amount"), obj.str("amount")?)?,
            from_sub_account,
            nonce: obj.u64("nonce")?,
        })
    }

    /// What it asks for, in policy's vocabulary: a transfer of `token` to
    /// `destination` (lowercase hex).
    pub(crate) fn intent(&self, kind: &str) -> Intent {
        Intent::Transfer {
            kind: kind.to_string(),
            destination: self.destination.lower(),
            asset: self.token.clone(),
            amount: self.amount.value(),
        }
    }

    /// `sendAsset`'s EIP-712 message: the strings exactly as written.
    pub(crate) fn message(&self, m: Message) -> Message {
        m.with("destination", TypedValue::string(self.destination.as_str()))
            .with("sourceDex", TypedValue::string(self.source_dex.clone()))
            .with(
                "destinationDex",
                TypedValue::string(self.destination_dex.clone()),
            )
            .with("token", TypedValue::string(self.token.clone()))
            .with("amount", TypedValue::string(self.amount.as_str()))
            .with(
                "fromSubAccount",
                TypedValue::string(self.sub_account_text()),
            )
            .with("nonce", TypedValue::uint(self.nonce))
    }

    /// `fromSubAccount` as written ("" for none).
    pub(crate) fn sub_account_text(&self) -> &str {
        self.from_sub_account.as_ref().map_or("", |a| a.as_str())
    }

    /// The `agentSendAsset` action as hashed: the venue's field order, the
    /// addresses in lowercase and the amount in its plain normalised form
    /// (an L1 action is hashed as the venue re-encodes it).
    pub(crate) fn l1_wire(&self, ty: &'static str) -> L1Wire {
        L1Wire {
            ty,
            destination: self.destination.lower(),
            source_dex: self.source_dex.clone(),
            destination_dex: self.destination_dex.clone(),
            token: self.token.clone(),
            amount: to_wire(&self.amount.value()),
            from_sub_account: self
                .from_sub_account
                .as_ref()
                .map_or_else(String::new, AddressText::lower),
            nonce: self.nonce,
        }
    }
}

/// `agentSendAsset` on the wire (msgpack and JSON).
#[derive(Serialize)]
pub(crate) struct L1Wire {
    #[serde(rename = "type")]
    ty: &'static str,
    destination: String,
    #[serde(rename = "sourceDex")]
    source_dex: String,
    #[serde(rename = "destinationDex")]
    destination_dex: String,
    token: String,
    amount: String,
    #[serde(rename = "fromSubAccount")]
    from_sub_account: String,
    nonce: u64,
}
