//! Wallet endpoints that move funds: decoded as transfers, which policy
//! denies unless an allowance of the key names the destination and asset.
//!
//! | endpoint | kind | destination |
//! | --- | --- | --- |
//! | `POST /sapi/v1/capital/withdraw/apply` | `capital/withdraw/apply` | `address`, or `address:addressTag` |
//! | `POST /sapi/v1/asset/transfer` | `asset/transfer` | `type`, or `type:toSymbol` |
//! | `POST /sapi/v1/futures/transfer` | `futures/transfer` | `MAIN_UMFUTURE`, `UMFUTURE_MAIN`, `MAIN_CMFUTURE` or `CMFUTURE_MAIN` (types 1 to 4) |
//!
//! A withdrawal's tag is part of its destination: at an exchange's deposit
//! address the tag says whose account is credited.

use serde_json::Value;

use super::error::RestError;
use super::orders::Decoded;
use super::params::{
    Fields, check_address, check_client_ref, check_code, check_label, check_symbol, check_tag,
};
use crate::order::Intent;

/// `POST /sapi/v1/capital/withdraw/apply`, in the documented order.
pub const WITHDRAW_PARAMS: &[&str] = &[
    "coin",
    "withdrawOrderId",
    "network",
    "address",
    "addressTag",
    "amount",
    "transactionFeeFlag",
    "name",
    "walletType",
];

/// `POST /sapi/v1/asset/transfer`.
pub const ASSET_TRANSFER_PARAMS: &[&str] = &["type", "asset", "amount", "fromSymbol", "toSymbol"];

/// `POST /sapi/v1/futures/transfer`.
pub const FUTURES_TRANSFER_PARAMS: &[&str] = &["asset", "amount", "type"];

/// The `type` values of `futures/transfer`, as universal-transfer names.
pub const FUTURES_TRANSFER_TYPES: [&str; 4] = [
    "MAIN_UMFUTURE",
    "UMFUTURE_MAIN",
    "MAIN_CMFUTURE",
    "CMFUTURE_MAIN",
];

fn fields<'a>(
    items: &'a [(String, Value)],
    known: &[&'static str],
    endpoint: &str,
) -> Result<Fields<'a>, RestError> {
    Fields::new(
        String::new(),
        items.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        known,
        endpoint,
    )
}

/// `POST /sapi/v1/capital/withdraw/apply`.
pub(crate) fn withdraw(items: &[(String, Value)], endpoint: &str) -> Result<Decoded, RestError> {
    let mut f = fields(items, WITHDRAW_PARAMS, endpoint)?;
    let coin = f.req_text("coin", check_symbol)?;
    f.text("withdrawOrderId", check_client_ref)?;
    f.text("network", check_code)?;
    let address = f.req_text("address", check_address)?;
    let tag = f.text("addressTag", check_tag)?;
    let amount = f.req_positive("amount")?;
    f.boolean("transactionFeeFlag", ("true", "false"))?;
    f.text("name", check_label)?;
    if let Some(w) = f.uint("walletType")?
        && w > 1
    {
        return Err(RestError::param(
            "walletType",
            format!("{w} is not 0 (spot wallet) or 1 (funding wallet)"),
        ));
    }
    let destination = match tag {
        None => address,
        Some(t) => format!("{address}:{t}"),
    };
    Ok(Decoded {
        params: f.finish(WITHDRAW_PARAMS)?,
        intents: vec![Intent::Transfer {
            kind: "capital/withdraw/apply".into(),
            destination,
            asset: coin,
            amount,
        }],
    })
}

/// `POST /sapi/v1/asset/transfer` (universal transfer between the
/// account's own wallets).
pub(crate) fn asset_transfer(
    items: &[(String, Value)],
    endpoint: &str,
) -> Result<Decoded, RestError> {
    let mut f = fields(items, ASSET_TRANSFER_PARAMS, endpoint)?;
    let ty = f.req_text("type", check_code)?;
    let asset = f.req_text("asset", check_symbol)?;
    let amount = f.req_positive("amount")?;
    f.text("fromSymbol", check_symbol)?;
    let to = f.text("toSymbol", check_symbol)?;
    let destination = match to {
        None => ty,
        Some(s) => format!("{ty}:{s}"),
    };
    Ok(Decoded {
        params: f.finish(ASSET_TRANSFER_PARAMS)?,
        intents: vec![Intent::Transfer {
            kind: "asset/transfer".into(),
            destination,
            asset,
            amount,
        }],
    })
}

/// `POST /sapi/v1/futures/transfer` (spot ↔ futures wallet).
pub(crate) fn futures_transfer(
    items: &[(String, Value)],
    endpoint: &str,
) -> Result<Decoded, RestError> {
    let mut f = fields(items, FUTURES_TRANSFER_PARAMS, endpoint)?;
    let asset = f.req_text("asset", check_symbol)?;
    let amount = f.req_positive("amount")?;
    let ty = f.uint("type")?.ok_or_else(|| f.missing("type"))?;
    let destination = usize::try_from(ty)
        .ok()
        .and_then(|t| t.checked_sub(1))
        .and_then(|i| FUTURES_TRANSFER_TYPES.get(i))
        .ok_or_else(|| RestError::param("type", format!("{ty} is not 1, 2, 3 or 4")))?;
    Ok(Decoded {
        params: f.finish(FUTURES_TRANSFER_PARAMS)?,
        intents: vec![Intent::Transfer {
            kind: "futures/transfer".into(),
            destination: destination.to_string(),
            asset,
            amount,
        }],
    })
}
