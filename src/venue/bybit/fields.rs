//! Every Bybit body field the agent reads, and what judges it (rows of the
//! table in `venue::fields`, rendered into docs/policy.md).

use super::endpoints::{ENDPOINTS, Endpoint};
use crate::venue::verdict::Verdict::{self, Inert, Judged};

const CANCEL_REF: Verdict =
    Inert("names the order a cancel or amend applies to; a cancel only removes risk");

/// (field, verdict), for every endpoint that takes the field.
pub const BYBIT: &[(&str, Verdict)] = &[
    (
        "category",
        Judged("linear or spot: with `symbol`, one of the key's `bybit.instruments`"),
    ),
    (
        "symbol",
        Judged(
            "must be one of the key's `bybit.instruments`; its policy symbol: `symbol_not_allowed`",
        ),
    ),
    (
        "isLeverage",
        Judged("refused unless 0: a spot margin order borrows"),
    ),
    (
        "side",
        Judged("direction of `price_band` (buys above, sells below the band)"),
    ),
    (
        "orderType",
        Judged("Market needs `max_slippage` and takes the `aggressive_price_band`"),
    ),
    (
        "qty",
        Judged(
            "`max_order_size`, `max_order_notional`, caps, open notional (a spot market buy: its notional)",
        ),
    ),
    (
        "marketUnit",
        Judged("whether a spot market order's `qty` is its notional (quote) or its size (base)"),
    ),
    ("price", Judged("`price_band`, `max_order_notional`")),
    (
        "triggerDirection",
        Inert("which way the trigger fires; the trigger price itself is banded"),
    ),
    (
        "orderFilter",
        Inert("order or conditional order; a conditional one must carry its triggerPrice"),
    ),
    (
        "triggerPrice",
        Judged("`price_band`, `max_order_notional` (notional at the highest price)"),
    ),
    (
        "triggerBy",
        Inert("which venue price fires the trigger; the trigger price itself is banded"),
    ),
    (
        "timeInForce",
        Judged("IOC and FOK take the `aggressive_price_band`"),
    ),
    (
        "positionIdx",
        Inert("the hedge-mode position; only `reduceOnly` makes an order reducing"),
    ),
    ("orderLinkId", CANCEL_REF),
    (
        "reduceOnly",
        Judged("`reduce_only`, `halted`, `breaker_open`; opening orders count as open"),
    ),
    ("closeOnTrigger", Judged("true only with reduceOnly true")),
    (
        "smpType",
        Inert("self-trade prevention; it can only cancel"),
    ),
    ("orderId", CANCEL_REF),
    (
        "request",
        Judged(
            "`max_orders_per_request` (and the venue's 20 linear, 10 spot); each item as its single twin",
        ),
    ),
];

/// The verdict on field `name` (for any endpoint that takes it).
pub fn verdict(name: &str) -> Option<Verdict> {
    BYBIT.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

fn endpoint_fields(e: Endpoint) -> Vec<&'static str> {
    let mut f: Vec<&'static str> = e.fields().to_vec();
    if e.is_batch() {
        f.push("request");
    }
    f
}

/// The rows of the docs table.
pub fn render_rows(cell: fn(Verdict) -> String) -> String {
    let mut out = String::new();
    for (path, e) in ENDPOINTS {
        for f in endpoint_fields(*e) {
            let v = verdict(f).map_or("**missing**".into(), cell);
            out.push_str(&format!("| Bybit | `POST {path}` | `{f}` | {v} |\n"));
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
            for f in endpoint_fields(*e) {
                assert!(verdict(f).is_some(), "bybit {path} {f} has no verdict");
            }
        }
        for (name, _) in BYBIT {
            assert!(
                ENDPOINTS
                    .iter()
                    .any(|(_, e)| endpoint_fields(*e).contains(name)),
                "venue::bybit::fields names {name}, which no endpoint takes"
            );
        }
    }
}
