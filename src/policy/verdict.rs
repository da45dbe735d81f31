//! What policy answers: a verdict, and for a denial one structured value per
//! broken rule naming the rule, where it applies, the limit, the observed
//! value and, where waiting helps, when to retry.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The rules, by their stable codes (`snake_case` in JSON and journal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The request carries no intent.
    EmptyRequest,
    /// Size or price not above 0, or a notional too large to represent.
    InvalidOrder,
    /// The symbol is not in the key's allowlist.
    SymbolNotAllowed,
    /// An opening order without a client id on a key that requires one.
    ClientIdRequired,
    /// Order size above the symbol's `max_size`.
    MaxOrderSize,
    /// Order notional above the symbol's `max_notional` or the key's
    /// `max_order_notional`.
    MaxOrderNotional,
    /// Leverage above `max_leverage`, or none configured.
    MaxLeverage,
    /// The symbol has a band but no reference price is known.
    PriceMissing,
    /// The reference price is older than `price_max_age_ms`.
    PriceStale,
    /// An execution price of the order (limit, trigger, or the price
    /// assumed for a market order) is outside the band around the reference.
    PriceBand,
    /// A market order on a symbol without `max_slippage`.
    MarketOrder,
    /// More orders in one request than `max_orders_per_request`.
    MaxOrdersPerRequest,
    /// The order pays a fee to a payee no fee allowance names.
    FeeNotAllowed,
    /// The order's fee rate above the allowance's `max_rate`.
    FeeRate,
    /// A price update moves further from a recent reference than
    /// `max_move` (price feeds).
    PriceMove,
    /// A price-feed identity's update rate limit.
    FeedRate,
    /// The orders token bucket is short.
    OrdersRate,
    /// The cancels token bucket is short.
    CancelsRate,
    NotionalPerMinute,
    NotionalPerHour,
    NotionalPerDay,
    MaxOpenOrders,
    MaxOpenNotional,
    /// No transfer allowance names this destination, asset and kind.
    TransferNotAllowed,
    /// One transfer above the allowance's `max_amount`.
    TransferAmount,
    /// Transfers within 24 hours above the allowance's `max_per_day`.
    TransferPerDay,
    /// No approval allowance names this grantee and kind.
    ApprovalNotAllowed,
    /// The identity is in reduce-only mode and an intent does not reduce
    /// risk.
    ReduceOnly,
    /// The identity's circuit breaker is open and an intent does not reduce
    /// risk.
    BreakerOpen,
    /// The identity or key is halted (a tripped dead-man's switch or an
    /// operator's halt) and the intent is not an allowed risk reducer.
    Halted,
}

impl Rule {
    /// The stable code, as in JSON.
    pub fn code(self) -> &'static str {
        match self {
            Rule::EmptyRequest => "empty_request",
            Rule::InvalidOrder => "invalid_order",
            Rule::SymbolNotAllowed => "symbol_not_allowed",
            Rule::ClientIdRequired => "client_id_required",
            Rule::MaxOrderSize => "max_order_size",
            Rule::MaxOrderNotional => "max_order_notional",
            Rule::MaxLeverage => "max_leverage",
            Rule::PriceMissing => "price_missing",
            Rule::PriceStale => "price_stale",
            Rule::PriceBand => "price_band",
            Rule::MarketOrder => "market_order",
            Rule::MaxOrdersPerRequest => "max_orders_per_request",
            Rule::FeeNotAllowed => "fee_not_allowed",
            Rule::FeeRate => "fee_rate",
            Rule::PriceMove => "price_move",
            Rule::FeedRate => "feed_rate",
            Rule::OrdersRate => "orders_rate",
            Rule::CancelsRate => "cancels_rate",
            Rule::NotionalPerMinute => "notional_per_minute",
            Rule::NotionalPerHour => "notional_per_hour",
            Rule::NotionalPerDay => "notional_per_day",
            Rule::MaxOpenOrders => "max_open_orders",
            Rule::MaxOpenNotional => "max_open_notional",
            Rule::TransferNotAllowed => "transfer_not_allowed",
            Rule::TransferAmount => "transfer_amount",
            Rule::TransferPerDay => "transfer_per_day",
            Rule::ApprovalNotAllowed => "approval_not_allowed",
            Rule::ReduceOnly => "reduce_only",
            Rule::BreakerOpen => "breaker_open",
            Rule::Halted => "halted",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Rule::EmptyRequest => "the request carries no intent",
            Rule::InvalidOrder => "size and price must be above 0 and the notional at most 10^18",
            Rule::SymbolNotAllowed => "symbol not in the allowlist",
            Rule::ClientIdRequired => "opening orders need a client order id",
            Rule::MaxOrderSize => "order size above the maximum",
            Rule::MaxOrderNotional => "order notional above the maximum",
            Rule::MaxLeverage => "leverage above the maximum (or no maximum configured)",
            Rule::PriceMissing => "no reference price for a symbol with a price band",
            Rule::PriceStale => "reference price too old (age in ms)",
            Rule::PriceBand => "an execution price outside the band around the reference price",
            Rule::MarketOrder => "market orders need the symbol's max_slippage",
            Rule::MaxOrdersPerRequest => "more orders in one request than allowed",
            Rule::FeeNotAllowed => "no fee allowance for this payee",
            Rule::FeeRate => "fee rate above the maximum",
            Rule::PriceMove => "price update moves too far from a recent reference",
            Rule::FeedRate => "price feed update rate limit (tokens needed vs available)",
            Rule::OrdersRate => "orders rate limit (tokens needed vs available)",
            Rule::CancelsRate => "cancels rate limit (tokens needed vs available)",
            Rule::NotionalPerMinute => "opening notional within 60 s above the cap",
            Rule::NotionalPerHour => "opening notional within 1 h above the cap",
            Rule::NotionalPerDay => "opening notional within 24 h above the cap",
            Rule::MaxOpenOrders => "orders counted as open above the maximum",
            Rule::MaxOpenNotional => "notional counted as open above the maximum",
            Rule::TransferNotAllowed => "no transfer allowance for this destination and asset",
            Rule::TransferAmount => "transfer amount above the maximum",
            Rule::TransferPerDay => "transfers within 24 h above the maximum",
            Rule::ApprovalNotAllowed => "no approval allowance for this grantee",
            Rule::ReduceOnly => "identity is reduce-only and the intent does not reduce risk",
            Rule::BreakerOpen => "circuit breaker open; only risk-reducing intents pass",
            Rule::Halted => "halted; no new risk",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Where a limit applies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// An identity, by name.
    Identity(String),
    /// A key, by alias.
    Key(String),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Identity(n) => write!(f, "identity {n:?}"),
            Scope::Key(k) => write!(f, "key {k:?}"),
        }
    }
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Denial {
    pub rule: Rule,
    pub scope: Scope,
    /// The offending intent's index in the request, for per-intent rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<usize>,
    /// The symbol, destination or grantee concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The configured limit (for a price band: the band's edge price; for a
    /// rate: tokens available; for a stale price: the maximum age in ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Decimal>,
    /// What the request would make of the limited quantity (for a band: the
    /// order price; for a rate: tokens needed; for a stale price: its age).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<Decimal>,
    /// When the same request would pass this rule if nothing else happened
    /// meanwhile; absent where waiting does not help.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl Denial {
    pub(crate) fn new(rule: Rule, scope: Scope) -> Denial {
        Denial {
            rule,
            scope,
            intent: None,
            subject: None,
            limit: None,
            observed: None,
            retry_after_ms: None,
        }
    }
    pub(crate) fn intent(mut self, i: usize) -> Denial {
        self.intent = Some(i);
        self
    }
    pub(crate) fn subject(mut self, s: &str) -> Denial {
        self.subject = Some(s.to_string());
        self
    }
    pub(crate) fn values(mut self, limit: Option<Decimal>, observed: Option<Decimal>) -> Denial {
        self.limit = limit;
        self.observed = observed;
        self
    }
    pub(crate) fn retry(mut self, ms: Option<u64>) -> Denial {
        self.retry_after_ms = ms;
        self
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({}", self.rule, self.rule.what(), self.scope)?;
        if let Some(s) = &self.subject {
            write!(f, ", {s:?}")?;
        }
        if let Some(i) = self.intent {
            write!(f, ", intent {i}")?;
        }
        f.write_str(")")?;
        if let Some(o) = self.observed {
            write!(f, "; observed {o}")?;
        }
        if let Some(l) = self.limit {
            write!(f, "; limit {l}")?;
        }
        if let Some(r) = self.retry_after_ms {
            write!(f, "; retry after {r} ms")?;
        }
        Ok(())
    }
}

/// The answer to a request: allowed when no rule is broken.
///
/// Denials are listed in a fixed order (request-wide checks, then each
/// intent in order, then batch totals), and `breaker_open` always comes
/// last, so `rule()` is `breaker_open` exactly when the open breaker is the
/// only reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub denials: Vec<Denial>,
}

impl Verdict {
    pub fn allowed(&self) -> bool {
        self.denials.is_empty()
    }

    /// The first broken rule (the journal's `rule` for a denial).
    pub fn rule(&self) -> Option<Rule> {
        self.denials.first().map(|d| d.rule)
    }

    /// When to retry: the latest of the denials' retry times, if every
    /// denial has one (a request denied for a reason waiting cannot cure
    /// gets none).
    pub fn retry_after_ms(&self) -> Option<u64> {
        if self.denials.is_empty() {
            return None;
        }
        self.denials
            .iter()
            .map(|d| d.retry_after_ms)
            .try_fold(0, |m, r| r.map(|r| m.max(r)))
    }

    /// Whether this verdict is a denial that counts towards the identity's
    /// circuit breaker: every denial does, except one whose only reason is
    /// the open breaker itself.
    pub fn feeds_breaker(&self) -> bool {
        self.denials
            .iter()
            .any(|d| d.rule != Rule::BreakerOpen && d.rule != Rule::Halted)
    }

    /// All denials as one human-readable line.
    pub fn reason(&self) -> String {
        if self.denials.is_empty() {
            return "allowed".into();
        }
        self.denials
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Whether a journaled denial with this rule code counts towards the
/// breaker when replayed (the journal keeps `Verdict::rule()`).
pub fn rule_feeds_breaker(code: &str) -> bool {
    code != Rule::BreakerOpen.code() && code != Rule::Halted.code()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_serde() {
        for r in [
            Rule::EmptyRequest,
            Rule::MaxOpenNotional,
            Rule::NotionalPerMinute,
            Rule::BreakerOpen,
            Rule::TransferPerDay,
        ] {
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.code())
            );
        }
    }

    #[test]
    fn verdict_summaries() {
        let k = Scope::Key("hl".into());
        let a = Denial::new(Rule::OrdersRate, k.clone()).retry(Some(200));
        let b = Denial::new(Rule::NotionalPerMinute, k.clone()).retry(Some(900));
        let c = Denial::new(Rule::SymbolNotAllowed, k.clone()).subject("DOGE");
        let br = Denial::new(Rule::BreakerOpen, Scope::Identity("bot".into())).retry(Some(5));
        let v = |d: Vec<Denial>| Verdict { denials: d };
        assert!(v(vec![]).allowed());
        assert_eq!(v(vec![]).retry_after_ms(), None);
        assert_eq!(v(vec![a.clone(), b.clone()]).retry_after_ms(), Some(900));
        assert_eq!(v(vec![a.clone(), c.clone()]).retry_after_ms(), None);
        assert!(!v(vec![br.clone()]).feeds_breaker());
        assert!(v(vec![a.clone(), br.clone()]).feeds_breaker());
        assert!(!v(vec![]).feeds_breaker());
        assert!(!rule_feeds_breaker("breaker_open"));
        assert!(rule_feeds_breaker("orders_rate"));
        let text = c.to_string();
        assert_eq!(
            text,
            "symbol_not_allowed: symbol not in the allowlist (key \"hl\", \"DOGE\")"
        );
        let json = serde_json::to_value(b.clone().values(Some(5.into()), Some(7.into()))).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"rule": "notional_per_minute", "scope": {"key": "hl"},
                "limit": "5", "observed": "7", "retry_after_ms": 900})
        );
    }
}
