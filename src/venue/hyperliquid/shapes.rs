//! The shape of every object the Hyperliquid parser accepts: the fields it
//! allows, by name. The parser takes its allowed-field lists from here (an
//! unknown field is refused), and `venue::fields` says for each of these
//! fields which rule judges it or why it moves no value; a test holds the
//! two together, so a field added here without a verdict fails the build's
//! tests.

/// The request envelope of `hyperliquid.sign_l1_action` /
/// `sign_user_action` (besides `key` and `action`): what reaches the signed
/// bytes from outside the action.
pub const L1_REQUEST: &[&str] = &["nonce", "vault_address", "expires_after", "is_mainnet"];
pub const USER_REQUEST: &[&str] = &["is_mainnet"];

pub const ORDER_ACTION: &[&str] = &["type", "orders", "grouping", "builder"];
pub const ORDER: &[&str] = &["a", "b", "p", "s", "r", "t", "c"];
pub const ORDER_TYPE: &[&str] = &["limit", "trigger"];
pub const LIMIT: &[&str] = &["tif"];
pub const TRIGGER: &[&str] = &["isMarket", "triggerPx", "tpsl"];
pub const BUILDER: &[&str] = &["b", "f"];
/// `grouping` as an object: the order priority.
pub const PRIORITY: &[&str] = &["p"];
pub const CANCEL_ACTION: &[&str] = &["type", "cancels"];
pub const CANCEL: &[&str] = &["a", "o"];
pub const CANCEL_BY_CLOID: &[&str] = &["asset", "cloid"];
pub const MODIFY_ACTION: &[&str] = &["type", "oid", "order"];
pub const BATCH_MODIFY_ACTION: &[&str] = &["type", "modifies"];
pub const MODIFY: &[&str] = &["oid", "order"];
pub const UPDATE_LEVERAGE: &[&str] = &["type", "asset", "isCross", "leverage"];
pub const UPDATE_ISOLATED_MARGIN: &[&str] = &["type", "asset", "isBuy", "ntli"];
pub const SCHEDULE_CANCEL: &[&str] = &["type", "time"];
pub const NOOP: &[&str] = &["type"];

/// The user-signed action types, as the `type` field spells them.
pub const USER_TYPES: &[&str] = &[
    "usdSend",
    "spotSend",
    "withdraw3",
    "usdClassTransfer",
    "approveAgent",
    "approveBuilderFee",
    "sendAsset",
];

/// The fields of both actions besides `type` (and, for `sendAsset`,
/// `signatureChainId` and `hyperliquidChain`).
pub const SEND_ASSET: &[&str] = &[
    "destination",
    "sourceDex",
    "destinationDex",
    "token",
    "amount",
    "fromSubAccount",
    "nonce",
];

/// Fields every user-signed action has.
pub const USER_COMMON: &[&str] = &["type", "signatureChainId", "hyperliquidChain"];

/// The fields of a user-signed action of type `ty` besides `USER_COMMON`.
pub fn user_fields(ty: &str) -> Option<&'static [&'static str]> {
    Some(match ty {
        "usdSend" | "withdraw3" => &["destination", "amount", "time"],
        "spotSend" => &["destination", "token", "amount", "time"],
        "usdClassTransfer" => &["amount", "toPerp", "nonce"],
        "approveAgent" => &["agentAddress", "agentName", "nonce"],
        "approveBuilderFee" => &["maxFeeRate", "builder", "nonce"],
        "sendAsset" => SEND_ASSET,
        _ => return None,
    })
}

/// Every shape by name (an action type, or `type.path` for a nested
/// object), with its fields. `venue::fields` covers each.
pub fn all() -> Vec<(String, Vec<&'static str>)> {
    let mut out: Vec<(String, Vec<&'static str>)> = vec![
        ("request (L1)".into(), L1_REQUEST.to_vec()),
        ("request (user-signed)".into(), USER_REQUEST.to_vec()),
        ("order".into(), ORDER_ACTION.to_vec()),
        ("order.orders[]".into(), ORDER.to_vec()),
        ("order.orders[].t".into(), ORDER_TYPE.to_vec()),
        ("order.orders[].t.limit".into(), LIMIT.to_vec()),
        ("order.orders[].t.trigger".into(), TRIGGER.to_vec()),
        ("order.builder".into(), BUILDER.to_vec()),
        ("order.grouping".into(), PRIORITY.to_vec()),
        ("cancel".into(), CANCEL_ACTION.to_vec()),
        ("cancel.cancels[]".into(), CANCEL.to_vec()),
        ("cancelByCloid".into(), CANCEL_ACTION.to_vec()),
        ("cancelByCloid.cancels[]".into(), CANCEL_BY_CLOID.to_vec()),
        ("modify".into(), MODIFY_ACTION.to_vec()),
        ("batchModify".into(), BATCH_MODIFY_ACTION.to_vec()),
        ("batchModify.modifies[]".into(), MODIFY.to_vec()),
        ("updateLeverage".into(), UPDATE_LEVERAGE.to_vec()),
        (
            "updateIsolatedMargin".into(),
            UPDATE_ISOLATED_MARGIN.to_vec(),
        ),
        ("scheduleCancel".into(), SCHEDULE_CANCEL.to_vec()),
        ("noop".into(), NOOP.to_vec()),
        (
            "agentSendAsset".into(),
            std::iter::once("type")
                .chain(SEND_ASSET.iter().copied())
                .collect(),
        ),
    ];
    for ty in USER_TYPES {
        let fields = user_fields(ty).unwrap_or_default();
        out.push((
            (*ty).to_string(),
            USER_COMMON.iter().chain(fields).copied().collect(),
        ));
    }
    out
}
