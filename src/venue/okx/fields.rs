//! Every OKX body field the agent reads, and what judges it (the rows of
//! the table in `venue::fields`, rendered into docs/policy.md).

use super::endpoints::{ENDPOINTS, Endpoint};
use crate::venue::verdict::Verdict::{self, Inert, Judged};

const SYMBOL: Verdict =
    Judged("must be one of the key's `okx.instruments`; its symbol: `symbol_not_allowed`");
const CANCEL_REF: Verdict =
    Inert("names the order a cancel or amend applies to; a cancel only removes risk");

/// (endpoint, field, verdict); `None` for the endpoint: every endpoint that
/// takes the field.
pub const OKX: &[(Option<Endpoint>, &str, Verdict)] = &[
    (None, "instId", SYMBOL),
    (
        None,
        "tdMode",
        Judged("spot: `cash` only (margin borrows); a swap: cross or isolated"),
    ),
    (
        Some(Endpoint::Order),
        "clOrdId",
        Inert("names the order for reports and cancels (`require_client_id` can demand one)"),
    ),
    (
        Some(Endpoint::BatchOrders),
        "clOrdId",
        Inert("names the order for reports and cancels (`require_client_id` can demand one)"),
    ),
    (None, "clOrdId", CANCEL_REF),
    (None, "ordId", CANCEL_REF),
    (
        Some(Endpoint::CancelAllAfter),
        "tag",
        Inert("the bot's own tag"),
    ),
    (None, "tag", Inert("the bot's own tag")),
    (
        None,
        "side",
        Judged("direction of `price_band` (buys above, sells below the band)"),
    ),
    (
        None,
        "posSide",
        Inert("the hedge-mode position; only `reduceOnly` makes an order reducing"),
    ),
    (
        None,
        "ordType",
        Judged("market, fok and ioc take the `aggressive_price_band`; market needs `max_slippage`"),
    ),
    (
        None,
        "sz",
        Judged(
            "`max_order_size`, `max_order_notional`, caps, open notional (swaps: × contract_size)",
        ),
    ),
    (None, "px", Judged("`price_band`, `max_order_notional`")),
    (
        None,
        "reduceOnly",
        Judged("`reduce_only`, `halted`, `breaker_open`; opening orders count as open"),
    ),
    (
        None,
        "tgtCcy",
        Judged("whether a spot market order's `sz` is its notional (quote) or its size (base)"),
    ),
    (
        None,
        "banAmend",
        Inert("stops the venue from amending the order's size itself"),
    ),
    (
        None,
        "stpMode",
        Inert("self-trade prevention; it can only cancel"),
    ),
    (
        None,
        "cxlOnFail",
        Inert("cancel the order when the amend fails: only removes risk"),
    ),
    (None, "reqId", Inert("the bot's own id for the amend")),
    (
        None,
        "newSz",
        Judged("as `sz`; required (the whole new order is judged, as a buy and as a sell)"),
    ),
    (
        None,
        "newPx",
        Judged("as `px`; required, banded both ways (an amend does not say its side)"),
    ),
    (
        None,
        "timeOut",
        Judged("the venue's own dead-man's switch: arming reduces risk, 0 (disarm) does not"),
    ),
    (
        None,
        "type",
        Judged("`transfer_not_allowed` (part of the destination an allowance names)"),
    ),
    (
        None,
        "ccy",
        Judged("`transfer_not_allowed` (the allowance names the asset)"),
    ),
    (None, "amt", Judged("`transfer_amount`, `transfer_per_day`")),
    (
        None,
        "from",
        Judged("`transfer_not_allowed` (part of the destination)"),
    ),
    (
        None,
        "to",
        Judged("`transfer_not_allowed` (part of the destination)"),
    ),
    (
        None,
        "subAcct",
        Judged("`transfer_not_allowed` (part of the destination)"),
    ),
    (None, "clientId", Inert("the bot's own id for the transfer")),
    (
        None,
        "dest",
        Judged("`transfer_not_allowed` (on-chain: the chain is part of the destination)"),
    ),
    (
        None,
        "toAddr",
        Judged("`transfer_not_allowed` (an allowance names the destination)"),
    ),
    (
        None,
        "chain",
        Judged("`transfer_not_allowed` (part of the destination)"),
    ),
];

/// The verdict on field `name` of endpoint `e`.
pub fn verdict(e: Endpoint, name: &str) -> Option<Verdict> {
    OKX.iter()
        .find(|(ep, n, _)| *ep == Some(e) && *n == name)
        .or_else(|| OKX.iter().find(|(ep, n, _)| ep.is_none() && *n == name))
        .map(|(_, _, v)| *v)
}

/// The rows of the docs table.
pub fn render_rows(cell: fn(Verdict) -> String) -> String {
    let mut out = String::new();
    for (path, e) in ENDPOINTS {
        for f in e.fields() {
            let v = verdict(*e, f).map_or("**missing**".into(), cell);
            out.push_str(&format!("| OKX | `POST {path}` | `{f}` | {v} |\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_judged_or_declared_inert_and_no_row_is_stale() {
        for (path, e) in ENDPOINTS {
            for f in e.fields() {
                assert!(verdict(*e, f).is_some(), "okx {path} {f} has no verdict");
            }
        }
        for (ep, name, _) in OKX {
            assert!(
                ENDPOINTS
                    .iter()
                    .any(|(_, e)| (ep.is_none() || *ep == Some(*e)) && e.fields().contains(name)),
                "venue::okx::fields names {name}, which no endpoint takes"
            );
        }
    }
}
