//! The `[policy]` section of the agent's config file. The types mirror the
//! TOML table by table and every table rejects unknown keys, so a misspelt
//! limit is a parse error naming its line, never a silently missing limit.
//!
//! Layout (see docs/policy.md for every key):
//!
//! ```toml
//! [policy.identity_defaults]      # limits for identities without their own table
//! [policy.identities.NAME]        # one identity's limits (field by field over the defaults)
//! [policy.key_defaults]           # limits for keys without their own table
//! [policy.key_defaults.symbols.SYMBOL]
//! [policy.keys.ALIAS]             # one key's limits (field by field over the defaults)
//! [policy.keys.ALIAS.symbols.SYMBOL]
//! [[policy.keys.ALIAS.transfers]] # an allowed transfer destination
//! [[policy.keys.ALIAS.approvals]] # an allowed grantee
//! [[policy.keys.ALIAS.fees]]      # an allowed fee payee (e.g. a builder) and its largest rate
//! [policy.price_feeds]            # sanity checks on reference prices (all symbols)
//! [policy.price_feeds.symbols.SYMBOL]
//! [policy.shadow]                 # a second policy, same layout, judged but never enforced
//! ```

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;

/// The largest money amount a limit may name: 10^15 quote (or asset)
/// units. Anything above is a typo, not a limit.
pub const MAX_LIMIT: Decimal = Decimal::from_parts(0xA4C6_8000, 0x0003_8D7E, 0, false, 0);

/// The longest open-order TTL, breaker window or breaker cool-down: 30 days.
/// It bounds how far back the journal must be replayed.
pub const MAX_SPAN_MS: u64 = 30 * 24 * 3_600_000;

/// Default open-order TTL: 24 hours.
pub const DEFAULT_OPEN_ORDER_TTL_MS: u64 = 24 * 3_600_000;

/// Default most orders (new or modified) in one request, for keys that set
/// no `max_orders_per_request`: enough for a market maker's quote refresh,
/// far below what a hostile batch would send.
pub const DEFAULT_MAX_ORDERS_PER_REQUEST: u32 = 50;

/// Default maximum age of a reference price: 10 seconds.
pub const DEFAULT_PRICE_MAX_AGE_MS: u64 = 10_000;

/// The symbol entry that matches any symbol not listed by name.
pub const ANY_SYMBOL: &str = "*";

/// The whole `[policy]` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Limits for every identity that has no table of its own, and the
    /// fall-back for each setting an identity's table leaves out.
    #[serde(default)]
    pub identity_defaults: IdentityLimits,
    /// Per identity, by the identity's name in `[identities]`.
    #[serde(default)]
    pub identities: BTreeMap<String, IdentityLimits>,
    /// Limits for every key that has no table of its own, and the fall-back
    /// for each setting a key's table leaves out.
    #[serde(default)]
    pub key_defaults: KeyLimits,
    /// Per key, by the key's alias in `[keys]`.
    #[serde(default)]
    pub keys: BTreeMap<String, KeyLimits>,
    /// Sanity checks on reference prices from price-feed identities.
    #[serde(default)]
    pub price_feeds: FeedsConfig,
    /// A second policy with the same layout, judged against the same
    /// requests but never enforced (shadow mode). It may not have a shadow
    /// of its own.
    #[serde(default)]
    pub shadow: Option<Box<PolicyConfig>>,
}

/// A token bucket: `burst` tokens at most, refilled at `per_sec` tokens a
/// second. One intent takes one token.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    pub burst: u32,
    pub per_sec: Decimal,
}

/// The circuit breaker: `denials` counted denials within `window_ms` open
/// it for `cooldown_ms`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    pub denials: u32,
    pub window_ms: u64,
    pub cooldown_ms: u64,
}

/// `[policy.identity_defaults]` and `[policy.identities.NAME]`. Every
/// setting is optional; an identity's table overrides the defaults setting
/// by setting.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityLimits {
    /// Every intent except cancels (`cancel`, `schedule_cancel`).
    pub orders_rate: Option<RateConfig>,
    /// Cancels (`cancel`, `schedule_cancel`).
    pub cancels_rate: Option<RateConfig>,
    /// Opening notional authorised within any 60 s.
    pub max_notional_per_minute: Option<Decimal>,
    /// Opening notional authorised within any 3600 s.
    pub max_notional_per_hour: Option<Decimal>,
    /// Opening notional authorised within any 86400 s.
    pub max_notional_per_day: Option<Decimal>,
    /// Opening orders counted as open (see docs/policy.md).
    pub max_open_orders: Option<u32>,
    /// Notional of the opening orders counted as open.
    pub max_open_notional: Option<Decimal>,
    /// Allow only intents that reduce risk.
    pub reduce_only: Option<bool>,
    pub breaker: Option<BreakerConfig>,
}

/// `[policy.key_defaults]` and `[policy.keys.ALIAS]`. Every setting is
/// optional; a key's table overrides the defaults setting by setting
/// (`symbols` as a whole).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyLimits {
    pub orders_rate: Option<RateConfig>,
    pub cancels_rate: Option<RateConfig>,
    pub max_notional_per_minute: Option<Decimal>,
    pub max_notional_per_hour: Option<Decimal>,
    pub max_notional_per_day: Option<Decimal>,
    pub max_open_orders: Option<u32>,
    pub max_open_notional: Option<Decimal>,
    /// Largest notional (price × size) of any one order.
    pub max_order_notional: Option<Decimal>,
    /// Largest leverage a `set_leverage` may ask for (a symbol's own
    /// `max_leverage` takes precedence).
    pub max_leverage: Option<u32>,
    /// A reference price older than this denies orders that need it.
    pub price_max_age_ms: Option<u64>,
    /// How long an authorised opening order counts as open at most.
    pub open_order_ttl_ms: Option<u64>,
    /// Deny opening orders without a client order id (without one, a bot
    /// cannot report the order closed and it stays counted until its TTL).
    pub require_client_id: Option<bool>,
    /// Most orders (new or modified) in one request; default
    /// `DEFAULT_MAX_ORDERS_PER_REQUEST`. Each key serves one venue, so this
    /// is also the per-venue setting.
    pub max_orders_per_request: Option<u32>,
    /// The symbol allowlist: orders, leverage and margin changes on a symbol
    /// not listed here (and with no `"*"` entry) are denied.
    pub symbols: Option<BTreeMap<String, SymbolLimits>>,
    /// Allowed transfer destinations. Only in `[policy.keys.ALIAS]`.
    #[serde(default)]
    pub transfers: Vec<TransferAllowance>,
    /// Allowed grantees. Only in `[policy.keys.ALIAS]`.
    #[serde(default)]
    pub approvals: Vec<ApprovalAllowance>,
    /// Allowed fee payees (e.g. Hyperliquid builders). An order that pays a
    /// fee to anyone not listed is denied. Only in `[policy.keys.ALIAS]`.
    #[serde(default)]
    pub fees: Vec<FeeAllowance>,
}

/// `[policy.keys.ALIAS.symbols.SYMBOL]`: listing a symbol allows it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymbolLimits {
    /// Largest order size in base units.
    pub max_size: Option<Decimal>,
    /// Largest order notional on this symbol.
    pub max_notional: Option<Decimal>,
    /// Largest leverage; overrides the key's `max_leverage`.
    pub max_leverage: Option<u32>,
    /// Buys above ref × (1 + band) and sells below ref × (1 − band) are
    /// denied. Setting it makes a fresh reference price mandatory.
    pub price_band: Option<Decimal>,
    /// The band for aggressive orders (IOC, market triggers); falls back to
    /// `price_band`.
    pub aggressive_price_band: Option<Decimal>,
    /// Overrides the key's `price_max_age_ms` for this symbol.
    pub price_max_age_ms: Option<u64>,
    /// The price-feed symbol to take the reference price from (default: the
    /// symbol itself), e.g. "BTC" for a venue symbol "BTCUSDT".
    pub reference: Option<String>,
    /// Allows market orders (no price of their own) on this symbol: policy
    /// judges them at reference × (1 + max_slippage) for notional and at
    /// reference × (1 ± max_slippage) against the band. Unset: market
    /// orders are denied.
    pub max_slippage: Option<Decimal>,
}

/// `[[policy.keys.ALIAS.transfers]]`: one allowed destination and asset.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferAllowance {
    /// Compared exactly, except that two `0x…` hex addresses compare
    /// case-insensitively.
    pub destination: String,
    /// The asset, compared exactly (e.g. "USDC").
    pub asset: String,
    /// Largest amount of one transfer.
    pub max_amount: Decimal,
    /// Largest total within any 24 hours, to this destination in this asset.
    pub max_per_day: Decimal,
    /// Transfer kinds allowed (e.g. "withdraw3", "usd_send"); empty: any.
    #[serde(default)]
    pub kinds: Vec<String>,
}

/// `[[policy.keys.ALIAS.fees]]`: one allowed fee payee.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeAllowance {
    /// The fee's kind as the venue names it (e.g. "builder").
    pub kind: String,
    /// Who receives it; compared like a transfer destination.
    pub payee: String,
    /// Largest rate, as a fraction of the order's notional
    /// (0.0001 = 1 basis point).
    pub max_rate: Decimal,
}

/// `[[policy.keys.ALIAS.approvals]]`: one allowed grantee.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalAllowance {
    /// Compared like a transfer destination.
    pub grantee: String,
    /// Approval kinds allowed (e.g. "approve_agent"); empty: any.
    #[serde(default)]
    pub kinds: Vec<String>,
}

/// Default span over which `max_move` bounds the total move: one minute.
pub const DEFAULT_MOVE_WINDOW_MS: u64 = 60_000;

/// Most distinct feeds one symbol may require (and keep prices from).
pub const MAX_QUORUM: u32 = 16;

/// `[policy.price_feeds]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedsConfig {
    /// For every symbol without a table of its own, and the fall-back for
    /// each setting a symbol's table leaves out.
    #[serde(default)]
    pub defaults: FeedLimits,
    /// Per feed symbol (the name feeds send, e.g. "BTC").
    #[serde(default)]
    pub symbols: BTreeMap<String, FeedLimits>,
}

/// `[policy.price_feeds.defaults]` and `[policy.price_feeds.symbols.SYMBOL]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedLimits {
    /// Largest move of one update from any reference accepted within
    /// `move_window_ms`, as a fraction (0.05 = 5 %). Unset: no move check.
    pub max_move: Option<Decimal>,
    /// The span `max_move` looks back over (default 60 000 ms).
    pub move_window_ms: Option<u64>,
    /// Distinct feeds whose fresh prices the reference needs (default 1);
    /// the reference is their median.
    pub quorum: Option<u32>,
    /// A feed's price older than this no longer counts towards the quorum
    /// (default 10 000 ms).
    pub max_age_ms: Option<u64>,
    /// Each feed identity's own token bucket for updates (all symbols).
    /// Only in `defaults`.
    pub rate: Option<RateConfig>,
}

impl FeedsConfig {
    pub(crate) fn validate(&self, at: &str) -> Result<(), String> {
        self.defaults.validate(&format!("{at}.defaults"))?;
        for (symbol, l) in &self.symbols {
            let at = format!("{at}.symbols.{symbol}");
            if symbol.trim().is_empty() || symbol.trim() != symbol {
                return Err(format!("{at}: a symbol must be non-empty without spaces"));
            }
            if l.rate.is_some() {
                return Err(format!(
                    "{at}.rate: a feed's rate limit covers all its symbols; set it in the defaults"
                ));
            }
            l.validate(&at)?;
        }
        Ok(())
    }
}

impl FeedLimits {
    fn validate(&self, at: &str) -> Result<(), String> {
        if let Some(m) = self.max_move
            && (m <= Decimal::ZERO || m >= Decimal::ONE)
        {
            return Err(format!(
                "{at}.max_move is a fraction of the reference: above 0 and below 1 (got {m})"
            ));
        }
        for (name, v) in [
            ("move_window_ms", self.move_window_ms),
            ("max_age_ms", self.max_age_ms),
        ] {
            if let Some(v) = v
                && (v == 0 || v > MAX_SPAN_MS)
            {
                return Err(format!(
                    "{at}.{name} must be between 1 and {MAX_SPAN_MS} ms (got {v})"
                ));
            }
        }
        if let Some(q) = self.quorum
            && (q == 0 || q > MAX_QUORUM)
        {
            return Err(format!(
                "{at}.quorum must be between 1 and {MAX_QUORUM} (got {q})"
            ));
        }
        if let Some(r) = &self.rate
            && (r.burst == 0 || r.per_sec <= Decimal::ZERO)
        {
            return Err(format!(
                "{at}.rate needs a burst of at least 1 and per_sec above 0"
            ));
        }
        Ok(())
    }
}

impl PolicyConfig {
    /// Parse the contents of a `[policy]` table given as its own TOML
    /// document (no validation). Used by tests and tools; the agent embeds
    /// `PolicyConfig` in its own config type.
    pub fn parse(text: &str) -> Result<PolicyConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Reject values that cannot be meant: negative or absurd limits, empty
    /// buckets, bands of 100 % or more, zero windows, allowlists in the
    /// defaults, a shadow inside a shadow. Messages name the setting.
    pub fn validate(&self) -> Result<(), String> {
        self.validate_at("policy")
    }

    fn validate_at(&self, at: &str) -> Result<(), String> {
        self.identity_defaults
            .validate(&format!("{at}.identity_defaults"))?;
        for (name, limits) in &self.identities {
            limits.validate(&format!("{at}.identities.{name}"))?;
        }
        let defaults = format!("{at}.key_defaults");
        self.key_defaults.validate(&defaults)?;
        if !self.key_defaults.transfers.is_empty()
            || !self.key_defaults.approvals.is_empty()
            || !self.key_defaults.fees.is_empty()
        {
            return Err(format!(
                "{defaults}: transfers, approvals and fees name destinations for one key and belong in [{at}.keys.ALIAS]"
            ));
        }
        self.price_feeds.validate(&format!("{at}.price_feeds"))?;
        for (alias, limits) in &self.keys {
            limits.validate(&format!("{at}.keys.{alias}"))?;
        }
        if let Some(shadow) = &self.shadow {
            if shadow.shadow.is_some() {
                return Err(format!("{at}.shadow: a shadow policy cannot have a shadow"));
            }
            shadow.validate_at(&format!("{at}.shadow"))?;
        }
        Ok(())
    }

    /// Cross-check against the rest of the agent's config: every table under
    /// `[policy.keys]` must name a key in `[keys]` and every table under
    /// `[policy.identities]` an identity in `[identities]`, so that a typo
    /// in a name cannot leave a key or identity on the defaults.
    pub fn check_names<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a str> + Clone,
        identities: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Result<(), String> {
        let mut policies = vec![("policy", self)];
        if let Some(s) = &self.shadow {
            policies.push(("policy.shadow", s));
        }
        for (at, p) in policies {
            for alias in p.keys.keys() {
                if !keys.clone().into_iter().any(|k| k == alias) {
                    return Err(format!(
                        "{at}.keys.{alias}: no key named {alias:?} in [keys]"
                    ));
                }
            }
            for name in p.identities.keys() {
                if !identities.clone().into_iter().any(|i| i == name) {
                    return Err(format!(
                        "{at}.identities.{name}: no identity named {name:?} in [identities]"
                    ));
                }
            }
        }
        Ok(())
    }
}

fn check_amount(at: &str, name: &str, v: &Option<Decimal>) -> Result<(), String> {
    match v {
        Some(v) => check_money(at, name, *v),
        None => Ok(()),
    }
}

fn check_money(at: &str, name: &str, v: Decimal) -> Result<(), String> {
    if v.is_sign_negative() && !v.is_zero() {
        return Err(format!("{at}.{name} must not be negative (got {v})"));
    }
    if v > MAX_LIMIT {
        return Err(format!("{at}.{name} must be at most {MAX_LIMIT} (got {v})"));
    }
    Ok(())
}

fn check_rate(at: &str, name: &str, r: &Option<RateConfig>) -> Result<(), String> {
    if let Some(r) = r {
        if r.burst == 0 {
            return Err(format!(
                "{at}.{name}.burst must be at least 1 (a bucket that holds no token denies everything)"
            ));
        }
        if r.per_sec <= Decimal::ZERO || r.per_sec > Decimal::from(1_000_000) {
            return Err(format!(
                "{at}.{name}.per_sec must be above 0 and at most 1000000 (got {})",
                r.per_sec
            ));
        }
        if refill_ms(r) > MAX_SPAN_MS {
            return Err(format!(
                "{at}.{name}: refilling {} tokens at {} a second takes longer than 30 days",
                r.burst, r.per_sec
            ));
        }
    }
    Ok(())
}

/// Milliseconds a bucket takes to refill from empty.
pub(crate) fn refill_ms(r: &RateConfig) -> u64 {
    let ms = Decimal::from(r.burst) * Decimal::from(1000) / r.per_sec;
    ms.ceil().to_u64().unwrap_or(u64::MAX)
}

fn check_span(at: &str, name: &str, v: Option<u64>) -> Result<(), String> {
    if let Some(v) = v
        && (v == 0 || v > MAX_SPAN_MS)
    {
        return Err(format!(
            "{at}.{name} must be between 1 and {MAX_SPAN_MS} ms (got {v})"
        ));
    }
    Ok(())
}

fn check_band(at: &str, name: &str, v: &Option<Decimal>) -> Result<(), String> {
    if let Some(b) = v
        && (b.is_sign_negative() && !b.is_zero() || *b >= Decimal::ONE)
    {
        return Err(format!(
            "{at}.{name} is a fraction of the reference price: at least 0 and below 1 (got {b})"
        ));
    }
    Ok(())
}

fn check_leverage(at: &str, name: &str, v: Option<u32>) -> Result<(), String> {
    if v == Some(0) {
        return Err(format!("{at}.{name} must be at least 1"));
    }
    Ok(())
}

fn check_name(at: &str, what: &str, v: &str) -> Result<(), String> {
    if v.trim().is_empty() || v.trim() != v {
        return Err(format!(
            "{at}.{what} must be non-empty without surrounding spaces (got {v:?})"
        ));
    }
    Ok(())
}

impl IdentityLimits {
    fn validate(&self, at: &str) -> Result<(), String> {
        check_rate(at, "orders_rate", &self.orders_rate)?;
        check_rate(at, "cancels_rate", &self.cancels_rate)?;
        check_amount(at, "max_notional_per_minute", &self.max_notional_per_minute)?;
        check_amount(at, "max_notional_per_hour", &self.max_notional_per_hour)?;
        check_amount(at, "max_notional_per_day", &self.max_notional_per_day)?;
        check_amount(at, "max_open_notional", &self.max_open_notional)?;
        if let Some(b) = &self.breaker {
            if b.denials == 0 {
                return Err(format!("{at}.breaker.denials must be at least 1"));
            }
            check_span(at, "breaker.window_ms", Some(b.window_ms))?;
            check_span(at, "breaker.cooldown_ms", Some(b.cooldown_ms))?;
        }
        Ok(())
    }
}

impl KeyLimits {
    fn validate(&self, at: &str) -> Result<(), String> {
        check_rate(at, "orders_rate", &self.orders_rate)?;
        check_rate(at, "cancels_rate", &self.cancels_rate)?;
        check_amount(at, "max_notional_per_minute", &self.max_notional_per_minute)?;
        check_amount(at, "max_notional_per_hour", &self.max_notional_per_hour)?;
        check_amount(at, "max_notional_per_day", &self.max_notional_per_day)?;
        check_amount(at, "max_open_notional", &self.max_open_notional)?;
        check_amount(at, "max_order_notional", &self.max_order_notional)?;
        check_leverage(at, "max_leverage", self.max_leverage)?;
        check_span(at, "price_max_age_ms", self.price_max_age_ms)?;
        check_span(at, "open_order_ttl_ms", self.open_order_ttl_ms)?;
        for (symbol, s) in self.symbols.iter().flatten() {
            let at = format!("{at}.symbols.{symbol}");
            check_name(&at, "(name)", symbol)?;
            check_amount(&at, "max_size", &s.max_size)?;
            check_amount(&at, "max_notional", &s.max_notional)?;
            check_leverage(&at, "max_leverage", s.max_leverage)?;
            check_band(&at, "price_band", &s.price_band)?;
            check_band(&at, "aggressive_price_band", &s.aggressive_price_band)?;
            check_span(&at, "price_max_age_ms", s.price_max_age_ms)?;
            check_band(&at, "max_slippage", &s.max_slippage)?;
            if let Some(r) = &s.reference {
                check_name(&at, "reference", r)?;
            }
        }
        for (i, t) in self.transfers.iter().enumerate() {
            let at = format!("{at}.transfers[{i}]");
            check_name(&at, "destination", &t.destination)?;
            check_name(&at, "asset", &t.asset)?;
            check_money(&at, "max_amount", t.max_amount)?;
            check_money(&at, "max_per_day", t.max_per_day)?;
            for k in &t.kinds {
                check_name(&at, "kinds", k)?;
            }
            if self.transfers[..i]
                .iter()
                .any(|o| same_address(&o.destination, &t.destination) && o.asset == t.asset)
            {
                return Err(format!(
                    "{at}: destination {:?} with asset {:?} is listed twice",
                    t.destination, t.asset
                ));
            }
        }
        if self.max_orders_per_request == Some(0) {
            return Err(format!("{at}.max_orders_per_request must be at least 1"));
        }
        for (i, f) in self.fees.iter().enumerate() {
            let at = format!("{at}.fees[{i}]");
            check_name(&at, "kind", &f.kind)?;
            check_name(&at, "payee", &f.payee)?;
            check_band(&at, "max_rate", &Some(f.max_rate))?;
            if self.fees[..i]
                .iter()
                .any(|o| o.kind == f.kind && same_address(&o.payee, &f.payee))
            {
                return Err(format!(
                    "{at}: {} payee {:?} is listed twice",
                    f.kind, f.payee
                ));
            }
        }
        for (i, a) in self.approvals.iter().enumerate() {
            let at = format!("{at}.approvals[{i}]");
            check_name(&at, "grantee", &a.grantee)?;
            for k in &a.kinds {
                check_name(&at, "kinds", k)?;
            }
        }
        Ok(())
    }
}

/// Address comparison for destinations and grantees: exact, except that
/// `0x…` hex strings (Ethereum-style addresses, whose letter case is only a
/// checksum) compare case-insensitively. Other encodings (base58, bech32
/// with case meaning) are compared exactly.
pub fn same_address(a: &str, b: &str) -> bool {
    fn hex(s: &str) -> Option<&str> {
        let h = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
        (!h.is_empty() && h.bytes().all(|c| c.is_ascii_hexdigit())).then_some(h)
    }
    match (hex(a), hex(b)) {
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        _ => a == b,
    }
}

/// The canonical form under which transfers to a destination are summed.
pub(crate) fn address_key(a: &str) -> String {
    match a.strip_prefix("0x").or_else(|| a.strip_prefix("0X")) {
        Some(h) if !h.is_empty() && h.bytes().all(|c| c.is_ascii_hexdigit()) => {
            format!("0x{}", h.to_ascii_lowercase())
        }
        _ => a.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
[identity_defaults]
orders_rate = { burst = 20, per_sec = "10" }
cancels_rate = { burst = 100, per_sec = 50 }
max_notional_per_minute = "100000"
max_notional_per_hour = "1000000"
max_notional_per_day = "5000000"
max_open_orders = 200
max_open_notional = "1000000"
breaker = { denials = 10, window_ms = 60000, cooldown_ms = 300000 }

[identities.bot]
reduce_only = true

[key_defaults]
price_max_age_ms = 5000

[keys.hl]
max_order_notional = "50000"
max_leverage = 5
open_order_ttl_ms = 3600000
require_client_id = true

[keys.hl.symbols.BTC]
max_size = "1.5"
max_notional = "100000"
max_leverage = 20
price_band = "0.02"
aggressive_price_band = "0.005"

[keys.hl.symbols."PURR/USDC"]
max_size = 1000

[[keys.hl.transfers]]
destination = "0x00000000000000000000000000000000000000Ab"
asset = "USDC"
max_amount = "1000"
max_per_day = "5000"
kinds = ["withdraw3"]

[[keys.hl.approvals]]
grantee = "0x1111111111111111111111111111111111111111"

[shadow.identity_defaults]
max_notional_per_day = "2500000"
"#;

    #[test]
    fn parses_the_full_layout() {
        let c = PolicyConfig::parse(FULL).unwrap();
        c.validate().unwrap();
        assert_eq!(
            c.identity_defaults.orders_rate,
            Some(RateConfig {
                burst: 20,
                per_sec: Decimal::from(10)
            })
        );
        assert_eq!(c.identities["bot"].reduce_only, Some(true));
        let hl = &c.keys["hl"];
        let btc = &hl.symbols.as_ref().unwrap()["BTC"];
        assert_eq!(btc.price_band, Some(Decimal::new(2, 2)));
        assert_eq!(
            hl.symbols.as_ref().unwrap()["PURR/USDC"].max_size,
            Some(Decimal::from(1000))
        );
        assert_eq!(hl.transfers[0].kinds, vec!["withdraw3".to_string()]);
        assert_eq!(
            c.shadow
                .as_ref()
                .unwrap()
                .identity_defaults
                .max_notional_per_day,
            Some(Decimal::from(2_500_000))
        );
        assert_eq!(MAX_LIMIT, Decimal::from(1_000_000_000_000_000u64));
    }

    #[test]
    fn unknown_settings_are_errors() {
        for (from, to, field) in [
            ("reduce_only = true", "reduce_onyl = true", "reduce_onyl"),
            ("max_size = \"1.5\"", "max_sise = \"1.5\"", "max_sise"),
            ("asset = \"USDC\"", "asset = \"USDC\"\nmemo = \"x\"", "memo"),
            ("burst = 20,", "burst = 20, per_min = 3,", "per_min"),
            (
                "cooldown_ms = 300000",
                "cooldown_ms = 300000, reset = 1",
                "reset",
            ),
            (
                "[shadow.identity_defaults]",
                "[shadow.identity_default]",
                "identity_default",
            ),
        ] {
            let e = PolicyConfig::parse(&FULL.replace(from, to)).unwrap_err();
            assert!(e.contains(&format!("unknown field `{field}`")), "{e}");
        }
        // A key-only setting is not accepted for an identity.
        let e = PolicyConfig::parse("[identities.bot]\nmax_order_notional = 5").unwrap_err();
        assert!(e.contains("unknown field `max_order_notional`"), "{e}");
        // A negative amount is a Decimal, so it parses, and validate rejects it.
        let e = PolicyConfig::parse("[key_defaults]\nmax_order_notional = \"abc\"").unwrap_err();
        assert!(e.contains("Decimal"), "{e}");
    }

    #[test]
    fn validate_rejects_nonsense() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "max_order_notional = \"50000\"",
                "max_order_notional = \"-1\"",
                "policy.keys.hl.max_order_notional must not be negative",
            ),
            (
                "max_notional_per_day = \"5000000\"",
                "max_notional_per_day = \"1000000000000000.1\"",
                "policy.identity_defaults.max_notional_per_day must be at most",
            ),
            (
                "burst = 20,",
                "burst = 0,",
                "policy.identity_defaults.orders_rate.burst must be at least 1",
            ),
            (
                "per_sec = 50",
                "per_sec = 0",
                "policy.identity_defaults.cancels_rate.per_sec must be above 0",
            ),
            (
                "per_sec = 50",
                "per_sec = \"0.00001\"",
                "takes longer than 30 days",
            ),
            (
                "price_band = \"0.02\"",
                "price_band = \"1\"",
                "policy.keys.hl.symbols.BTC.price_band is a fraction",
            ),
            (
                "aggressive_price_band = \"0.005\"",
                "aggressive_price_band = \"-0.01\"",
                "aggressive_price_band is a fraction",
            ),
            (
                "max_leverage = 20",
                "max_leverage = 0",
                "policy.keys.hl.symbols.BTC.max_leverage must be at least 1",
            ),
            (
                "open_order_ttl_ms = 3600000",
                "open_order_ttl_ms = 0",
                "policy.keys.hl.open_order_ttl_ms must be between 1",
            ),
            (
                "price_max_age_ms = 5000",
                "price_max_age_ms = 2592000001",
                "policy.key_defaults.price_max_age_ms must be between 1",
            ),
            (
                "denials = 10",
                "denials = 0",
                "policy.identity_defaults.breaker.denials must be at least 1",
            ),
            (
                "window_ms = 60000",
                "window_ms = 0",
                "breaker.window_ms must be between 1",
            ),
            (
                "max_amount = \"1000\"",
                "max_amount = \"-5\"",
                "policy.keys.hl.transfers[0].max_amount must not be negative",
            ),
            (
                "asset = \"USDC\"",
                "asset = \"\"",
                "policy.keys.hl.transfers[0].asset must be non-empty",
            ),
            (
                "grantee = \"0x1111111111111111111111111111111111111111\"",
                "grantee = \" 0x11\"",
                "policy.keys.hl.approvals[0].grantee must be non-empty",
            ),
            (
                "max_notional_per_day = \"2500000\"",
                "max_notional_per_day = \"-2\"",
                "policy.shadow.identity_defaults.max_notional_per_day must not be negative",
            ),
            (
                "[shadow.identity_defaults]",
                "[shadow.shadow]\n[shadow.identity_defaults]",
                "policy.shadow: a shadow policy cannot have a shadow",
            ),
            (
                "[key_defaults]",
                "[[key_defaults.transfers]]\ndestination = \"x\"\nasset = \"A\"\nmax_amount = 1\nmax_per_day = 1\n[key_defaults]",
                "belong in [policy.keys.ALIAS]",
            ),
        ];
        for (from, to, want) in cases {
            assert!(FULL.contains(from), "{from}");
            let c = PolicyConfig::parse(&FULL.replacen(from, to, 1))
                .unwrap_or_else(|e| panic!("{to}: {e}"));
            let e = c.validate().unwrap_err();
            assert!(e.contains(want), "{to}: {e}");
        }
        // Just inside the bounds.
        for (from, to) in [
            ("max_order_notional = \"50000\"", "max_order_notional = 0"),
            (
                "max_notional_per_day = \"5000000\"",
                "max_notional_per_day = \"1000000000000000\"",
            ),
            ("price_band = \"0.02\"", "price_band = \"0.9999\""),
            ("price_band = \"0.02\"", "price_band = 0"),
            (
                "open_order_ttl_ms = 3600000",
                "open_order_ttl_ms = 2592000000",
            ),
            ("burst = 20,", "burst = 1,"),
        ] {
            let c = PolicyConfig::parse(&FULL.replacen(from, to, 1)).unwrap();
            c.validate().unwrap_or_else(|e| panic!("{to}: {e}"));
        }
    }

    #[test]
    fn duplicate_destinations_are_rejected() {
        let extra = "\n[[keys.hl.transfers]]\ndestination = \"0x00000000000000000000000000000000000000AB\"\nasset = \"USDC\"\nmax_amount = 1\nmax_per_day = 1\n";
        // Append into the hl key (before the shadow section).
        let text = FULL.replace(
            "[[keys.hl.approvals]]",
            &format!("{extra}\n[[keys.hl.approvals]]"),
        );
        let e = PolicyConfig::parse(&text).unwrap().validate().unwrap_err();
        assert!(e.contains("listed twice"), "{e}");
    }

    #[test]
    fn names_are_checked_against_the_agent_config() {
        let c = PolicyConfig::parse(FULL).unwrap();
        c.check_names(["hl", "api"], ["bot"]).unwrap();
        let e = c.check_names(["hll"], ["bot"]).unwrap_err();
        assert!(e.contains("policy.keys.hl: no key named"), "{e}");
        let e = c.check_names(["hl"], ["robot"]).unwrap_err();
        assert!(e.contains("policy.identities.bot: no identity"), "{e}");
        let c = PolicyConfig::parse("[shadow.keys.x]\n").unwrap();
        let e = c.check_names(["hl"], ["bot"]).unwrap_err();
        assert!(e.contains("policy.shadow.keys.x"), "{e}");
    }

    /// Every TOML example in docs/policy.md parses and validates (the
    /// layout sketch with placeholder names excepted).
    #[test]
    fn documentation_examples_are_valid() {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            policy: PolicyConfig,
        }
        let doc = include_str!("../../docs/policy.md");
        let mut checked = 0;
        for block in doc.split("```toml").skip(1) {
            let block = block.split("```").next().unwrap();
            if block.contains("ALIAS") {
                continue;
            }
            let file: File = toml::from_str(block).unwrap_or_else(|e| panic!("{block}\n{e}"));
            file.policy
                .validate()
                .unwrap_or_else(|e| panic!("{block}\n{e}"));
            checked += 1;
        }
        assert!(checked >= 10, "{checked}");
    }

    #[test]
    fn addresses() {
        let cases = [
            ("0xAbC1", "0xabc1", true),
            ("0XABC1", "0xabc1", true),
            ("0xabc1", "0xabc2", false),
            ("AbC1", "abc1", false),
            ("So1anaAddr", "so1anaaddr", false),
            ("0x", "0X", false),
            ("0xzz", "0xZZ", false),
        ];
        for (a, b, same) in cases {
            assert_eq!(same_address(a, b), same, "{a} {b}");
            if same {
                assert_eq!(address_key(a), address_key(b));
            }
        }
        assert_eq!(address_key("0xAB"), "0xab");
        assert_eq!(address_key("Base58Xy"), "Base58Xy");
    }
}
