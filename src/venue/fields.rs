//! Every field a venue parses into the bytes it signs, and what judges it:
//! a policy rule (or a refusal, or a check against the key's config), or a
//! one-line reason why it moves no value. This is the promise "policy
//! judges exactly what is signed" made checkable: the tests below take the
//! fields from the parsers' own lists (`hyperliquid::shapes`, the Binance
//! endpoint parameter lists) and fail when one has no verdict here, or a
//! verdict names a field no parser accepts. docs/policy.md carries the same
//! table, rendered from this one (`render_markdown`), and a test checks it
//! is current.

use super::binance::{self, Endpoint};

pub use super::verdict::Verdict;
use Verdict::{Inert, Judged};

const ORDER_KIND: Verdict = Inert("selects the action; each action's own fields are judged");
const CLIENT_ID: Verdict =
    Inert("names the order for reports and cancels (`require_client_id` can demand one)");
const CANCEL_REF: Verdict =
    Inert("names the order a cancel removes; a cancel only removes risk (any symbol)");
const ACTION_NONCE: Verdict =
    Judged("the key's nonce book: never reused, within the window (must equal the request nonce)");
const SYMBOL: Verdict = Judged("`symbol_not_allowed` (the key's symbol allowlist)");
const SIDE: Verdict = Judged("direction of `price_band` (buys above, sells below the band)");
const SIZE: Verdict = Judged("`max_order_size`, `max_order_notional`, rolling caps, open notional");
const PRICE: Verdict = Judged("`price_band`, `max_order_notional` (notional at the highest price)");
const REDUCE_ONLY: Verdict =
    Judged("`reduce_only`, `halted`, `breaker_open`; opening orders count as open");
const TRANSFER_TO: Verdict = Judged("`transfer_not_allowed` (an allowance names the destination)");
const TRANSFER_AMOUNT: Verdict = Judged("`transfer_amount`, `transfer_per_day`");
const TRANSFER_ASSET: Verdict = Judged("`transfer_not_allowed` (the allowance names the asset)");

/// Hyperliquid: (shape, field, verdict); shapes as `hyperliquid::shapes::all`.
pub const HYPERLIQUID: &[(&str, &str, Verdict)] = &[
    ("request (L1)", "nonce", ACTION_NONCE),
    (
        "request (L1)",
        "vault_address",
        Judged("the key's `vaults` list (`forbidden` otherwise)"),
    ),
    (
        "request (L1)",
        "expires_after",
        Inert("only shortens how long the venue accepts the action"),
    ),
    (
        "request (L1)",
        "is_mainnet",
        Judged("must match the key's `network` (`bad_params` otherwise)"),
    ),
    (
        "request (user-signed)",
        "is_mainnet",
        Judged("must match the key's `network` (`bad_params` otherwise)"),
    ),
    ("order", "type", ORDER_KIND),
    (
        "order",
        "orders",
        Judged("`max_orders_per_request`; each order as below"),
    ),
    (
        "order",
        "grouping",
        Inert(
            "a name links take-profit/stop-loss orders to a parent (each order is judged in full); an object is the priority (below)",
        ),
    ),
    (
        "order.grouping",
        "p",
        Judged(
            "`fee_not_allowed`, `fee_rate`: a fee of kind `priority`, payee `burn`, rate p / 10^8",
        ),
    ),
    (
        "order",
        "builder",
        Judged("`fee_not_allowed`, `fee_rate` (below)"),
    ),
    ("order.orders[]", "a", SYMBOL),
    ("order.orders[]", "b", SIDE),
    ("order.orders[]", "p", PRICE),
    ("order.orders[]", "s", SIZE),
    ("order.orders[]", "r", REDUCE_ONLY),
    (
        "order.orders[]",
        "t",
        Judged("which prices it executes at and how aggressively (below)"),
    ),
    ("order.orders[]", "c", CLIENT_ID),
    (
        "order.orders[].t",
        "limit",
        Judged("a limit order: judged at `p`"),
    ),
    (
        "order.orders[].t",
        "trigger",
        Judged("a trigger order: judged at `p` and `triggerPx`"),
    ),
    (
        "order.orders[].t.limit",
        "tif",
        Judged("`Ioc` and `FrontendMarket` take the `aggressive_price_band`"),
    ),
    (
        "order.orders[].t.trigger",
        "isMarket",
        Judged("a market trigger takes the `aggressive_price_band`"),
    ),
    ("order.orders[].t.trigger", "triggerPx", PRICE),
    (
        "order.orders[].t.trigger",
        "tpsl",
        Inert("which way the trigger fires; both prices are banded either way"),
    ),
    (
        "order.builder",
        "b",
        Judged("`fee_not_allowed` (a fee allowance names the builder)"),
    ),
    (
        "order.builder",
        "f",
        Judged("`fee_rate` (the allowance's `max_rate`)"),
    ),
    ("cancel", "type", ORDER_KIND),
    ("cancel", "cancels", Judged("`cancels_rate`")),
    ("cancel.cancels[]", "a", CANCEL_REF),
    ("cancel.cancels[]", "o", CANCEL_REF),
    ("cancelByCloid", "type", ORDER_KIND),
    ("cancelByCloid", "cancels", Judged("`cancels_rate`")),
    ("cancelByCloid.cancels[]", "asset", CANCEL_REF),
    ("cancelByCloid.cancels[]", "cloid", CANCEL_REF),
    ("modify", "type", ORDER_KIND),
    (
        "modify",
        "oid",
        Inert("names the order replaced; the new order is judged in full as opening"),
    ),
    ("modify", "order", Judged("as `order.orders[]`")),
    ("batchModify", "type", ORDER_KIND),
    (
        "batchModify",
        "modifies",
        Judged("`max_orders_per_request`; each as `modify`"),
    ),
    (
        "batchModify.modifies[]",
        "oid",
        Inert("names the order replaced; the new order is judged in full as opening"),
    ),
    (
        "batchModify.modifies[]",
        "order",
        Judged("as `order.orders[]`"),
    ),
    ("updateLeverage", "type", ORDER_KIND),
    ("updateLeverage", "asset", SYMBOL),
    (
        "updateLeverage",
        "isCross",
        Inert(
            "which margin backs the position, not its size; the venue refuses cross where an asset allows isolated only",
        ),
    ),
    (
        "updateLeverage",
        "leverage",
        Judged("`max_leverage` (denied when none is configured)"),
    ),
    ("updateIsolatedMargin", "type", ORDER_KIND),
    ("updateIsolatedMargin", "asset", SYMBOL),
    (
        "updateIsolatedMargin",
        "isBuy",
        Inert("which side's isolated position the margin is for"),
    ),
    (
        "updateIsolatedMargin",
        "ntli",
        Inert("moves margin between the account's own balances; nothing leaves the account"),
    ),
    ("scheduleCancel", "type", ORDER_KIND),
    (
        "scheduleCancel",
        "time",
        Judged("setting a time reduces risk; clearing one does not (`reduce_only`, `halted`)"),
    ),
    (
        "noop",
        "type",
        Judged("`cancels_rate`; invalidates a nonce, moves nothing"),
    ),
    ("agentSendAsset", "type", ORDER_KIND),
    ("agentSendAsset", "destination", TRANSFER_TO),
    (
        "agentSendAsset",
        "sourceDex",
        Judged("a dex the key's config lists (`bad_params` otherwise); funds stay the owner's"),
    ),
    (
        "agentSendAsset",
        "destinationDex",
        Judged("a dex the key's config lists (`bad_params` otherwise); funds stay the owner's"),
    ),
    ("agentSendAsset", "token", TRANSFER_ASSET),
    ("agentSendAsset", "amount", TRANSFER_AMOUNT),
    (
        "agentSendAsset",
        "fromSubAccount",
        Judged("the key's `vaults` list (`forbidden` otherwise)"),
    ),
    ("agentSendAsset", "nonce", ACTION_NONCE),
    ("usdSend", "type", ORDER_KIND),
    (
        "usdSend",
        "signatureChainId",
        Inert("the EIP-712 domain's chain id; names no account or amount"),
    ),
    (
        "usdSend",
        "hyperliquidChain",
        Judged("must match the key's `network`"),
    ),
    ("usdSend", "destination", TRANSFER_TO),
    ("usdSend", "amount", TRANSFER_AMOUNT),
    ("usdSend", "time", ACTION_NONCE),
    ("spotSend", "type", ORDER_KIND),
    (
        "spotSend",
        "signatureChainId",
        Inert("the EIP-712 domain's chain id; names no account or amount"),
    ),
    (
        "spotSend",
        "hyperliquidChain",
        Judged("must match the key's `network`"),
    ),
    ("spotSend", "destination", TRANSFER_TO),
    ("spotSend", "token", TRANSFER_ASSET),
    ("spotSend", "amount", TRANSFER_AMOUNT),
    ("spotSend", "time", ACTION_NONCE),
    ("withdraw3", "type", ORDER_KIND),
    (
        "withdraw3",
        "signatureChainId",
        Inert("the EIP-712 domain's chain id; names no account or amount"),
    ),
    (
        "withdraw3",
        "hyperliquidChain",
        Judged("must match the key's `network`"),
    ),
    ("withdraw3", "destination", TRANSFER_TO),
    ("withdraw3", "amount", TRANSFER_AMOUNT),
    ("withdraw3", "time", ACTION_NONCE),
    ("usdClassTransfer", "type", ORDER_KIND),
    (
        "usdClassTransfer",
        "signatureChainId",
        Inert("the EIP-712 domain's chain id; names no account or amount"),
    ),
    (
        "usdClassTransfer",
        "hyperliquidChain",
        Judged("must match the key's `network`"),
    ),
    (
        "usdClassTransfer",
        "amount",
        Judged(
            "`transfer_amount`, `transfer_per_day`; a subaccount named in it is the destination (`transfer_not_allowed`)",
        ),
    ),
    (
        "usdClassTransfer",
        "toPerp",
        Judged("`transfer_not_allowed` (destination `perp` or `spot`)"),
    ),
    ("usdClassTransfer", "nonce", ACTION_NONCE),
    ("approveAgent", "type", ORDER_KIND),
    (
        "approveAgent",
        "signatureChainId",
        Inert("the EIP-712 domain's chain id; names no account or amount"),
    ),
    (
        "approveAgent",
        "hyperliquidChain",
        Judged("must match the key's `network`"),
    ),
    (
        "approveAgent",
        "agentAddress",
        Judged("`approval_not_allowed` (an allowance names the grantee)"),
    ),
    (
        "approveAgent",
        "agentName",
        Inert("a label the venue shows for the agent"),
    ),
    ("approveAgent", "nonce", ACTION_NONCE),
    ("approveBuilderFee", "type", ORDER_KIND),
    (
        "approveBuilderFee",
        "signatureChainId",
        Inert("the EIP-712 domain's chain id; names no account or amount"),
    ),
    (
        "approveBuilderFee",
        "hyperliquidChain",
        Judged("must match the key's `network`"),
    ),
    (
        "approveBuilderFee",
        "maxFeeRate",
        Inert(
            "the venue's ceiling for this builder; every order's builder fee is judged itself (`fee_rate`)",
        ),
    ),
    (
        "approveBuilderFee",
        "builder",
        Judged("`approval_not_allowed` (an allowance names the builder)"),
    ),
    ("approveBuilderFee", "nonce", ACTION_NONCE),
    ("sendAsset", "type", ORDER_KIND),
    (
        "sendAsset",
        "signatureChainId",
        Inert("the EIP-712 domain's chain id; names no account or amount"),
    ),
    (
        "sendAsset",
        "hyperliquidChain",
        Judged("must match the key's `network`"),
    ),
    ("sendAsset", "destination", TRANSFER_TO),
    (
        "sendAsset",
        "sourceDex",
        Judged("a dex the key's config lists (`bad_params` otherwise); funds stay the owner's"),
    ),
    (
        "sendAsset",
        "destinationDex",
        Judged("a dex the key's config lists (`bad_params` otherwise); funds stay the owner's"),
    ),
    ("sendAsset", "token", TRANSFER_ASSET),
    ("sendAsset", "amount", TRANSFER_AMOUNT),
    (
        "sendAsset",
        "fromSubAccount",
        Judged("the key's `vaults` list (`forbidden` otherwise)"),
    ),
    ("sendAsset", "nonce", ACTION_NONCE),
];

/// The parameters every signed Binance-style request carries.
pub const BINANCE_COMMON: &[(&str, Verdict)] = &[
    (
        "recvWindow",
        Judged("at most the key's `max_recv_window_ms` (`bad_params` otherwise)"),
    ),
    (
        "timestamp",
        Judged("set by the agent; a request carrying one is refused"),
    ),
];

/// Binance-style REST: (parameter, verdict), for every order parameter list.
const BINANCE_ORDER: &[(&str, Verdict)] = &[
    ("symbol", SYMBOL),
    ("side", SIDE),
    (
        "positionSide",
        Inert("the hedge-mode position the order is for; only `reduceOnly` makes it reducing"),
    ),
    (
        "type",
        Judged("which prices the order executes at (`market_order` without `max_slippage`)"),
    ),
    (
        "timeInForce",
        Judged("IOC and FOK take the `aggressive_price_band`"),
    ),
    ("quantity", SIZE),
    (
        "quoteOrderQty",
        Judged("the notional of a market order sized in quote: `max_order_notional`, rolling caps"),
    ),
    ("reduceOnly", REDUCE_ONLY),
    ("price", PRICE),
    ("stopPrice", PRICE),
    ("newClientOrderId", CLIENT_ID),
    ("strategyId", Inert("the bot's own tag")),
    (
        "strategyType",
        Inert("the bot's own tag (at least 1000000)"),
    ),
    (
        "trailingDelta",
        Judged("refused: trailing orders have no fixed price"),
    ),
    (
        "activationPrice",
        Judged("refused: trailing orders have no fixed price"),
    ),
    (
        "callbackRate",
        Judged("refused: trailing orders have no fixed price"),
    ),
    (
        "icebergQty",
        Inert("how much of the order shows on the book; the whole quantity is judged"),
    ),
    (
        "closePosition",
        Judged("refused when true: the size would be whatever the position is"),
    ),
    (
        "workingType",
        Inert("which venue price fires the trigger; the trigger price itself is banded"),
    ),
    (
        "priceProtect",
        Inert("asks the venue to refuse triggers far from the mark price"),
    ),
    ("newOrderRespType", Inert("how much the venue answers")),
    (
        "priceMatch",
        Judged("refused unless NONE: the venue would choose the price"),
    ),
    (
        "selfTradePreventionMode",
        Inert(
            "what the venue does when the order would match the account's own; it can only cancel",
        ),
    ),
    ("goodTillDate", Inert("when the order expires")),
    (
        "pegPriceType",
        Judged("refused: pegged orders take their price from the book"),
    ),
    (
        "pegOffsetValue",
        Judged("refused: pegged orders take their price from the book"),
    ),
    (
        "pegOffsetType",
        Judged("refused: pegged orders take their price from the book"),
    ),
    (
        "cancelReplaceMode",
        Inert(
            "whether the new order goes in when the cancel fails; the new order is judged in full either way",
        ),
    ),
    ("cancelOrderId", CANCEL_REF),
    ("cancelOrigClientOrderId", CANCEL_REF),
    ("cancelNewClientOrderId", Inert("names the cancel")),
    (
        "cancelRestrictions",
        Inert("limits which order states the cancel applies to"),
    ),
    (
        "orderRateLimitExceededMode",
        Inert("what the venue does when its own rate limit is hit"),
    ),
    ("orderId", CANCEL_REF),
    ("origClientOrderId", CANCEL_REF),
    (
        "batchOrders",
        Judged("`max_orders_per_request`; each as a new order"),
    ),
    ("orderIdList", CANCEL_REF),
    ("origClientOrderIdList", CANCEL_REF),
];

/// Binance-style REST: wallet endpoint parameters.
const BINANCE_WALLET: &[(&str, Verdict)] = &[
    ("coin", TRANSFER_ASSET),
    ("asset", TRANSFER_ASSET),
    ("amount", TRANSFER_AMOUNT),
    ("address", TRANSFER_TO),
    ("addressTag", TRANSFER_TO),
    (
        "network",
        Judged("`transfer_not_allowed` (part of the destination an allowance names)"),
    ),
    (
        "withdrawOrderId",
        Inert("the bot's own id for the withdrawal"),
    ),
    (
        "transactionFeeFlag",
        Inert("who pays the network fee: the amount the destination gets, not where funds go"),
    ),
    (
        "name",
        Inert("a label for the address in the venue's address book"),
    ),
    (
        "walletType",
        Inert("which of the account's own wallets pays"),
    ),
    ("type", TRANSFER_TO),
    ("fromSymbol", TRANSFER_TO),
    ("toSymbol", TRANSFER_TO),
];

/// The parameter list each decoded endpoint takes (the parser's own).
pub fn binance_params(e: Endpoint) -> &'static [&'static str] {
    match e {
        Endpoint::SpotNewOrder => binance::SPOT_ORDER_PARAMS,
        Endpoint::SpotCancelOrder => binance::SPOT_CANCEL_PARAMS,
        Endpoint::SpotCancelReplace => binance::SPOT_CANCEL_REPLACE_PARAMS,
        Endpoint::SpotCancelOpenOrders | Endpoint::FuturesCancelAll => binance::CANCEL_ALL_PARAMS,
        Endpoint::FuturesNewOrder => binance::FUTURES_ORDER_PARAMS,
        Endpoint::FuturesCancelOrder => binance::FUTURES_CANCEL_PARAMS,
        Endpoint::FuturesBatchOrders => binance::FUTURES_BATCH_PARAMS,
        Endpoint::FuturesCancelBatch => binance::FUTURES_CANCEL_BATCH_PARAMS,
        Endpoint::Withdraw => binance::WITHDRAW_PARAMS,
        Endpoint::AssetTransfer => binance::ASSET_TRANSFER_PARAMS,
        Endpoint::FuturesTransfer => binance::FUTURES_TRANSFER_PARAMS,
    }
}

/// The verdict on parameter `name` of endpoint `e`.
pub fn binance_verdict(e: Endpoint, name: &str) -> Option<Verdict> {
    let table = match e {
        Endpoint::Withdraw | Endpoint::AssetTransfer | Endpoint::FuturesTransfer => BINANCE_WALLET,
        _ => BINANCE_ORDER,
    };
    table
        .iter()
        .chain(BINANCE_COMMON)
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
}

/// The verdict on field `field` of Hyperliquid shape `shape`.
pub fn hyperliquid_verdict(shape: &str, field: &str) -> Option<Verdict> {
    HYPERLIQUID
        .iter()
        .find(|(s, f, _)| *s == shape && *f == field)
        .map(|(_, _, v)| *v)
}

fn cell(v: Verdict) -> String {
    match v {
        Judged(w) => format!("judged | {w}"),
        Inert(w) => format!("inert | {w}"),
    }
}

/// The table as docs/policy.md carries it.
pub fn render_markdown() -> String {
    let mut out = String::from(
        "| venue | action or endpoint | field | verdict | by what, or why it moves no value |\n\
         | --- | --- | --- | --- | --- |\n",
    );
    for (shape, fields) in super::hyperliquid::shapes::all() {
        for f in fields {
            let v = hyperliquid_verdict(&shape, f).map_or("**missing**".into(), cell);
            out.push_str(&format!("| Hyperliquid | `{shape}` | `{f}` | {v} |\n"));
        }
    }
    for (method, path, e) in binance::ENDPOINTS {
        let fields = binance_params(*e)
            .iter()
            .chain(BINANCE_COMMON.iter().map(|(n, _)| n));
        for f in fields {
            let v = binance_verdict(*e, f).map_or("**missing**".into(), cell);
            out.push_str(&format!(
                "| Binance-style | `{} {path}` | `{f}` | {v} |\n",
                method.as_str()
            ));
        }
    }
    out.push_str(&super::okx::fields::render_rows(cell));
    out.push_str(&super::bybit::fields::render_rows(cell));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parsed_field_is_judged_or_declared_inert() {
        let mut missing = Vec::new();
        let shapes = super::super::hyperliquid::shapes::all();
        for (shape, fields) in &shapes {
            for f in fields {
                if hyperliquid_verdict(shape, f).is_none() {
                    missing.push(format!("hyperliquid {shape}.{f}"));
                }
            }
        }
        for (m, p, e) in binance::ENDPOINTS {
            for f in binance_params(*e) {
                if binance_verdict(*e, f).is_none() {
                    missing.push(format!("binance {} {p} {f}", m.as_str()));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "fields with no verdict in venue::fields (judge them or say why they are inert): {missing:?}"
        );
        // And no verdict names a field no parser accepts (a stale row).
        for (shape, field, _) in HYPERLIQUID {
            assert!(
                shapes
                    .iter()
                    .any(|(s, fs)| s == shape && fs.contains(field)),
                "venue::fields names {shape}.{field}, which the parser does not accept"
            );
        }
        for (name, _) in BINANCE_ORDER.iter().chain(BINANCE_WALLET) {
            assert!(
                binance::ENDPOINTS
                    .iter()
                    .any(|(_, _, e)| binance_params(*e).contains(name)),
                "venue::fields names the parameter {name}, which no endpoint takes"
            );
        }
    }

    #[test]
    fn every_action_type_has_a_shape() {
        let shapes: Vec<String> = super::super::hyperliquid::shapes::all()
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        for ty in super::super::hyperliquid::L1_TYPES
            .iter()
            .chain(super::super::hyperliquid::USER_TYPES)
        {
            assert!(shapes.iter().any(|s| s == ty), "no shape for {ty}");
        }
    }

    #[test]
    fn docs_policy_md_carries_the_current_table() {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/policy.md"))
            .expect("docs/policy.md");
        let table = render_markdown();
        assert!(
            docs.contains(&table),
            "docs/policy.md does not carry the current table of judged and inert fields; \
             paste this under \"Every field: judged or inert\":\n\n{table}"
        );
        assert!(!table.contains("**missing**"));
    }
}
