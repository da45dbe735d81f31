//! User-signed actions (transfers, withdrawals, approvals): each is an
//! EIP-712 struct `HyperliquidTransaction:<Name>` in the
//! "HyperliquidSignTransaction" domain, whose chain id is the action's
//! `signatureChainId`. The key signs the struct itself, not a hash of the
//! action, so strings (amounts, string-typed addresses) are signed exactly
//! as written; we check their shape and keep their text.

use serde::Serialize;
use serde_json::Value;

use super::error::VenueError;
use super::json::Obj;
use super::meta::Meta;
use super::number::{AddressText, DecimalText, parse_hex_chain_id, parse_token};
use super::send_asset::{self, SendAsset};
use super::shapes;
use crate::crypto::eip712::{
    Domain, Field, Message, Types, Value as TypedValue, typed_data_digest,
};
use crate::order::Intent;

/// The `signatureChainId` the SDK uses (0x66eee, Arbitrum Sepolia); filled
/// in when a request leaves it out, as the SDK does when it signs.
pub const DEFAULT_SIGNATURE_CHAIN_ID: u64 = 0x66eee;

/// Highest `maxFeeRate` accepted for approveBuilderFee, in percent.
pub const MAX_BUILDER_FEE_PERCENT: u32 = 1;

pub use super::shapes::USER_TYPES;

/// `hyperliquidChain`: which Hyperliquid network the action is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HyperliquidChain {
    Mainnet,
    Testnet,
}

impl HyperliquidChain {
    pub fn as_str(self) -> &'static str {
        match self {
            HyperliquidChain::Mainnet => "Mainnet",
            HyperliquidChain::Testnet => "Testnet",
        }
    }

    pub fn is_mainnet(self) -> bool {
        self == HyperliquidChain::Mainnet
    }
}

/// The typed body of a user-signed action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserAction {
    /// Send USDC (perp balance) to another account.
    UsdSend {
        destination: AddressText,
        amount: DecimalText,
        time: u64,
    },
    /// Send a spot token to another account. `token` is `NAME:0x<tokenId>`.
    SpotSend {
        destination: AddressText,
        token: String,
        amount: DecimalText,
        time: u64,
    },
    /// Withdraw USDC to an address on Arbitrum (`withdraw3`).
    Withdraw {
        destination: AddressText,
        amount: DecimalText,
        time: u64,
    },
    /// Move USDC between the perp and spot balances, of the account or of
    /// one of its subaccounts (`"<amount> subaccount:<address>"`).
    UsdClassTransfer {
        amount: DecimalText,
        subaccount: Option<AddressText>,
        to_perp: bool,
        nonce: u64,
    },
    /// Let another key (an "agent") trade for the account. The SDK signs
    /// an absent name as "" and then leaves the field out.
    ApproveAgent {
        agent_address: AddressText,
        agent_name: Option<String>,
        nonce: u64,
    },
    /// Let a builder charge fees up to `max_fee_rate` percent.
    ApproveBuilderFee {
        /// The number before the "%".
        max_fee_rate: DecimalText,
        builder: AddressText,
        nonce: u64,
    },
    /// Move a token between balances (perp dexs, spot) of the account or
    /// to another account (`sendAsset`).
    SendAsset(SendAsset),
}

/// A user-signed action with its signing context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSignedAction {
    pub signature_chain_id: u64,
    pub chain: HyperliquidChain,
    pub action: UserAction,
}

/// Parse a user-signed action of type `ty` (already read from `type`).
pub(crate) fn parse(
    meta: &Meta,
    ty: &str,
    v: &Value,
    is_mainnet: bool,
) -> Result<UserSignedAction, VenueError> {
    let Some(fields) = shapes::user_fields(ty) else {
        return Err(VenueError::UnknownActionType {
            path: "type".into(),
            ty: ty.to_string(),
        });
    };
    let allowed: Vec<&str> = shapes::USER_COMMON.iter().chain(fields).copied().collect();
    let a = Obj::new(String::new(), v, &allowed)?;

    let signature_chain_id = match a.opt_str("signatureChainId")? {
        Some(s) => parse_hex_chain_id(&a.path("signatureChainId"), s)?,
        None => DEFAULT_SIGNATURE_CHAIN_ID,
    };
    let expected = if is_mainnet {
        HyperliquidChain::Mainnet
    } else {
        HyperliquidChain::Testnet
    };
    let chain = match a.opt_str("hyperliquidChain")? {
        None => expected,
        Some(s) => {
            let chain = match s {
                "Mainnet" => HyperliquidChain::Mainnet,
                "Testnet" => HyperliquidChain::Testnet,
                _ => {
                    return Err(VenueError::invalid(
                        a.path("hyperliquidChain"),
                        format!("{s:?} is not \"Mainnet\" or \"Testnet\""),
                    ));
                }
            };
            if chain != expected {
                return Err(VenueError::invalid(
                    a.path("hyperliquidChain"),
                    format!(
                        "action is for {} but the request is for {}",
                        chain.as_str(),
                        expected.as_str()
                    ),
                ));
            }
            chain
        }
    };

    let address = |key: &str| AddressText::parse(&a.path(key), a.str(key)?);
    let amount = |key: &str| DecimalText::positive(&a.path(key), a.str(key)?);
    let action = match ty {
        "usdSend" => UserAction::UsdSend {
            destination: address("destination")?,
            amount: amount("amount")?,
            time: a.u64("time")?,
        },
        "withdraw3" => UserAction::Withdraw {
            destination: address("destination")?,
            amount: amount("amount")?,
            time: a.u64("time")?,
        },
        "spotSend" => UserAction::SpotSend {
            destination: address("destination")?,
            token: parse_token(&a.path("token"), a.str("token")?)?,
            amount: amount("amount")?,
            time: a.u64("time")?,
        },
        "usdClassTransfer" => {
            let path = a.path("amount");
            let text = a.str("amount")?;
            let (amount, subaccount) = match text.split_once(' ') {
                None => (DecimalText::positive(&path, text)?, None),
                Some((num, rest)) => {
                    let sub = rest.strip_prefix("subaccount:").ok_or_else(|| {
                        VenueError::invalid(
                            &path,
                            format!(
                                "{text:?} is not \"<amount>\" or \"<amount> subaccount:<address>\""
                            ),
                        )
                    })?;
                    (
                        DecimalText::positive(&path, num)?,
                        Some(AddressText::parse(&path, sub)?),
                    )
                }
            };
            UserAction::UsdClassTransfer {
                amount,
                subaccount,
                to_perp: a.bool("toPerp")?,
                nonce: a.u64("nonce")?,
            }
        }
        "approveAgent" => UserAction::ApproveAgent {
            agent_address: address("agentAddress")?,
            agent_name: a.opt_str("agentName")?.map(str::to_string),
            nonce: a.u64("nonce")?,
        },
        "approveBuilderFee" => {
            let path = a.path("maxFeeRate");
            let text = a.str("maxFeeRate")?;
            let num = text.strip_suffix('%').ok_or_else(|| {
                VenueError::invalid(
                    &path,
                    format!("{text:?} is not a percentage like \"0.01%\""),
                )
            })?;
            let rate = DecimalText::non_negative(&path, num)?;
            if rate.value() > MAX_BUILDER_FEE_PERCENT.into() {
                return Err(VenueError::invalid(
                    &path,
                    format!("{text:?} exceeds {MAX_BUILDER_FEE_PERCENT}%"),
                ));
            }
            UserAction::ApproveBuilderFee {
                max_fee_rate: rate,
                builder: address("builder")?,
                nonce: a.u64("nonce")?,
            }
        }
        "sendAsset" => UserAction::SendAsset(SendAsset::parse(meta, &a)?),
        _ => unreachable!("type checked above"),
    };
    Ok(UserSignedAction {
        signature_chain_id,
        chain,
        action,
    })
}

// --------------------------------------------------------------- encoding
// JSON in the order the SDK posts each action (the order does not matter
// to the venue, but it makes our output byte-identical to the SDK's).

#[derive(Serialize)]
#[serde(untagged)]
enum UserW<'a> {
    Send {
        destination: &'a str,
        amount: &'a str,
        time: u64,
        #[serde(rename = "type")]
        ty: &'static str,
        #[serde(rename = "signatureChainId")]
        signature_chain_id: String,
        #[serde(rename = "hyperliquidChain")]
        chain: &'static str,
    },
    SpotSend {
        destination: &'a str,
        amount: &'a str,
        token: &'a str,
        time: u64,
        #[serde(rename = "type")]
        ty: &'static str,
        #[serde(rename = "signatureChainId")]
        signature_chain_id: String,
        #[serde(rename = "hyperliquidChain")]
        chain: &'static str,
    },
    UsdClassTransfer {
        #[serde(rename = "type")]
        ty: &'static str,
        amount: String,
        #[serde(rename = "toPerp")]
        to_perp: bool,
        nonce: u64,
        #[serde(rename = "signatureChainId")]
        signature_chain_id: String,
        #[serde(rename = "hyperliquidChain")]
        chain: &'static str,
    },
    ApproveAgent {
        #[serde(rename = "type")]
        ty: &'static str,
        #[serde(rename = "agentAddress")]
        agent_address: &'a str,
        #[serde(rename = "agentName", skip_serializing_if = "Option::is_none")]
        agent_name: Option<&'a str>,
        nonce: u64,
        #[serde(rename = "signatureChainId")]
        signature_chain_id: String,
        #[serde(rename = "hyperliquidChain")]
        chain: &'static str,
    },
    ApproveBuilderFee {
        #[serde(rename = "maxFeeRate")]
        max_fee_rate: String,
        builder: &'a str,
        nonce: u64,
        #[serde(rename = "type")]
        ty: &'static str,
        #[serde(rename = "signatureChainId")]
        signature_chain_id: String,
        #[serde(rename = "hyperliquidChain")]
        chain: &'static str,
    },
    SendAsset {
        #[serde(rename = "type")]
        ty: &'static str,
        destination: &'a str,
        #[serde(rename = "sourceDex")]
        source_dex: &'a str,
        #[serde(rename = "destinationDex")]
        destination_dex: &'a str,
        token: &'a str,
        amount: &'a str,
        #[serde(rename = "fromSubAccount")]
        from_sub_account: &'a str,
        nonce: u64,
        #[serde(rename = "signatureChainId")]
        signature_chain_id: String,
        #[serde(rename = "hyperliquidChain")]
        chain: &'static str,
    },
}

impl UserSignedAction {
    /// The `type` field.
    pub fn type_name(&self) -> &'static str {
        match self.action {
            UserAction::UsdSend { .. } => "usdSend",
            UserAction::SpotSend { .. } => "spotSend",
            UserAction::Withdraw { .. } => "withdraw3",
            UserAction::UsdClassTransfer { .. } => "usdClassTransfer",
            UserAction::ApproveAgent { .. } => "approveAgent",
            UserAction::ApproveBuilderFee { .. } => "approveBuilderFee",
            UserAction::SendAsset(_) => "sendAsset",
        }
    }

    /// The EIP-712 primary type the action is signed as.
    pub fn primary_type(&self) -> &'static str {
        match self.action {
            UserAction::UsdSend { .. } => "HyperliquidTransaction:UsdSend",
            UserAction::SpotSend { .. } => "HyperliquidTransaction:SpotSend",
            UserAction::Withdraw { .. } => "HyperliquidTransaction:Withdraw",
            UserAction::UsdClassTransfer { .. } => "HyperliquidTransaction:UsdClassTransfer",
            UserAction::ApproveAgent { .. } => "HyperliquidTransaction:ApproveAgent",
            UserAction::ApproveBuilderFee { .. } => "HyperliquidTransaction:ApproveBuilderFee",
            UserAction::SendAsset(_) => "HyperliquidTransaction:SendAsset",
        }
    }

    /// The nonce inside the action (`time` or `nonce`): the venue uses it
    /// as the request's nonce.
    pub fn nonce(&self) -> u64 {
        match &self.action {
            UserAction::UsdSend { time, .. }
            | UserAction::SpotSend { time, .. }
            | UserAction::Withdraw { time, .. } => *time,
            UserAction::UsdClassTransfer { nonce, .. }
            | UserAction::ApproveAgent { nonce, .. }
            | UserAction::ApproveBuilderFee { nonce, .. } => *nonce,
            UserAction::SendAsset(s) => s.nonce,
        }
    }

    fn class_amount(amount: &DecimalText, subaccount: &Option<AddressText>) -> String {
        match subaccount {
            None => amount.as_str().to_string(),
            Some(s) => format!("{} subaccount:{}", amount.as_str(), s.as_str()),
        }
    }

    fn wire(&self) -> UserW<'_> {
        let ty = self.type_name();
        let signature_chain_id = format!("{:#x}", self.signature_chain_id);
        let chain = self.chain.as_str();
        match &self.action {
            UserAction::UsdSend {
                destination,
                amount,
                time,
            }
            | UserAction::Withdraw {
                destination,
                amount,
                time,
            } => UserW::Send {
                destination: destination.as_str(),
                amount: amount.as_str(),
                time: *time,
                ty,
                signature_chain_id,
                chain,
            },
            UserAction::SpotSend {
                destination,
                token,
                amount,
                time,
            } => UserW::SpotSend {
                destination: destination.as_str(),
                amount: amount.as_str(),
                token,
                time: *time,
                ty,
                signature_chain_id,
                chain,
            },
            UserAction::UsdClassTransfer {
                amount,
                subaccount,
                to_perp,
                nonce,
            } => UserW::UsdClassTransfer {
                ty,
                amount: Self::class_amount(amount, subaccount),
                to_perp: *to_perp,
                nonce: *nonce,
                signature_chain_id,
                chain,
            },
            UserAction::ApproveAgent {
                agent_address,
                agent_name,
                nonce,
            } => UserW::ApproveAgent {
                ty,
                agent_address: agent_address.as_str(),
                agent_name: agent_name.as_deref(),
                nonce: *nonce,
                signature_chain_id,
                chain,
            },
            UserAction::ApproveBuilderFee {
                max_fee_rate,
                builder,
                nonce,
            } => UserW::ApproveBuilderFee {
                max_fee_rate: format!("{}%", max_fee_rate.as_str()),
                builder: builder.as_str(),
                nonce: *nonce,
                ty,
                signature_chain_id,
                chain,
            },
            UserAction::SendAsset(s) => UserW::SendAsset {
                ty,
                destination: s.destination.as_str(),
                source_dex: &s.source_dex,
                destination_dex: &s.destination_dex,
                token: &s.token,
                amount: s.amount.as_str(),
                from_sub_account: s.sub_account_text(),
                nonce: s.nonce,
                signature_chain_id,
                chain,
            },
        }
    }

    /// The canonical JSON text of the action, for the bot to post.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.wire()).expect("JSON encoding of plain values cannot fail")
    }

    /// The EIP-712 type list of the action's primary type (the SDK's).
    pub fn fields(&self) -> Vec<Field> {
        let list: &[(&str, &str)] = match self.action {
            UserAction::UsdSend { .. } | UserAction::Withdraw { .. } => &[
                ("hyperliquidChain", "string"),
                ("destination", "string"),
                ("amount", "string"),
                ("time", "uint64"),
            ],
            UserAction::SpotSend { .. } => &[
                ("hyperliquidChain", "string"),
                ("destination", "string"),
                ("token", "string"),
                ("amount", "string"),
                ("time", "uint64"),
            ],
            UserAction::UsdClassTransfer { .. } => &[
                ("hyperliquidChain", "string"),
                ("amount", "string"),
                ("toPerp", "bool"),
                ("nonce", "uint64"),
            ],
            UserAction::ApproveAgent { .. } => &[
                ("hyperliquidChain", "string"),
                ("agentAddress", "address"),
                ("agentName", "string"),
                ("nonce", "uint64"),
            ],
            UserAction::ApproveBuilderFee { .. } => &[
                ("hyperliquidChain", "string"),
                ("maxFeeRate", "string"),
                ("builder", "address"),
                ("nonce", "uint64"),
            ],
            UserAction::SendAsset(_) => send_asset::EIP712_FIELDS,
        };
        list.iter().map(|(n, t)| Field::new(*n, *t)).collect()
    }

    fn message(&self) -> Message {
        let m = Message::new().with("hyperliquidChain", TypedValue::string(self.chain.as_str()));
        match &self.action {
            UserAction::UsdSend {
                destination,
                amount,
                time,
            }
            | UserAction::Withdraw {
                destination,
                amount,
                time,
            } => m
                .with("destination", TypedValue::string(destination.as_str()))
                .with("amount", TypedValue::string(amount.as_str()))
                .with("time", TypedValue::uint(*time)),
            UserAction::SpotSend {
                destination,
                token,
                amount,
                time,
            } => m
                .with("destination", TypedValue::string(destination.as_str()))
                .with("token", TypedValue::string(token.clone()))
                .with("amount", TypedValue::string(amount.as_str()))
                .with("time", TypedValue::uint(*time)),
            UserAction::UsdClassTransfer {
                amount,
                subaccount,
                to_perp,
                nonce,
            } => m
                .with(
                    "amount",
                    TypedValue::string(Self::class_amount(amount, subaccount)),
                )
                .with("toPerp", TypedValue::Bool(*to_perp))
                .with("nonce", TypedValue::uint(*nonce)),
            UserAction::ApproveAgent {
                agent_address,
                agent_name,
                nonce,
            } => m
                .with("agentAddress", TypedValue::Address(agent_address.bytes()))
                .with(
                    "agentName",
                    TypedValue::string(agent_name.clone().unwrap_or_default()),
                )
                .with("nonce", TypedValue::uint(*nonce)),
            UserAction::ApproveBuilderFee {
                max_fee_rate,
                builder,
                nonce,
            } => m
                .with(
                    "maxFeeRate",
                    TypedValue::string(format!("{}%", max_fee_rate.as_str())),
                )
                .with("builder", TypedValue::Address(builder.bytes()))
                .with("nonce", TypedValue::uint(*nonce)),
            UserAction::SendAsset(s) => s.message(m),
        }
    }

    /// The "HyperliquidSignTransaction" domain with this action's chain id.
    pub fn domain(&self) -> Domain {
        Domain {
            name: Some("HyperliquidSignTransaction".into()),
            version: Some("1".into()),
            chain_id: Some(self.signature_chain_id),
            verifying_contract: Some([0; 20]),
            salt: None,
        }
    }

    /// The EIP-712 digest the key signs.
    pub fn digest(&self) -> [u8; 32] {
        let types = Types::new().with(self.primary_type(), self.fields());
        typed_data_digest(&self.domain(), &types, self.primary_type(), &self.message())
            .expect("the type list matches the message built for it")
    }

    /// What the action asks for, in policy's vocabulary. Destinations and
    /// grantees are lowercase `0x` hex.
    pub fn intents(&self) -> Vec<Intent> {
        let transfer =
            |kind: &str, destination: String, asset: &str, amount: &DecimalText| Intent::Transfer {
                kind: kind.to_string(),
                destination,
                asset: asset.to_string(),
                amount: amount.value(),
            };
        vec![match &self.action {
            UserAction::UsdSend {
                destination,
                amount,
                ..
            } => transfer("usdSend", destination.lower(), "USDC", amount),
            UserAction::Withdraw {
                destination,
                amount,
                ..
            } => transfer("withdraw3", destination.lower(), "USDC", amount),
            UserAction::SpotSend {
                destination,
                token,
                amount,
                ..
            } => transfer("spotSend", destination.lower(), token, amount),
            UserAction::UsdClassTransfer {
                amount,
                subaccount,
                to_perp,
                ..
            } => {
                let side = if *to_perp { "perp" } else { "spot" };
                let destination = match subaccount {
                    None => side.to_string(),
                    Some(s) => format!("{}:{side}", s.lower()),
                };
                transfer("usdClassTransfer", destination, "USDC", amount)
            }
            UserAction::ApproveAgent { agent_address, .. } => Intent::Approve {
                kind: "approveAgent".into(),
                grantee: agent_address.lower(),
            },
            UserAction::ApproveBuilderFee { builder, .. } => Intent::Approve {
                kind: "approveBuilderFee".into(),
                grantee: builder.lower(),
            },
            UserAction::SendAsset(s) => s.intent("sendAsset"),
        }]
    }
}
