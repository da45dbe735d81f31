//! The compiled policy: a validated `[policy]` with each identity's and
//! each key's settings merged over their defaults (one merge for the
//! settings they share), and what the rest of policy asks of it.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::amount::units_floor;
use super::batch::Flow;
use super::config::{
    ANY_SYMBOL, ApprovalAllowance, BreakerConfig, DEFAULT_MAX_ORDERS_PER_REQUEST,
    DEFAULT_OPEN_ORDER_TTL_MS, DEFAULT_PRICE_MAX_AGE_MS, FeeAllowance, IdentityLimits, KeyLimits,
    PolicyConfig, RateConfig, SymbolLimits, TransferAllowance, address_key, refill_ms,
};
use super::verdict::Rule;

/// 24 hours in ms.
pub const DAY_MS: u64 = 86_400_000;

/// The rolling notional windows: rule and span.
pub(crate) const WINDOWS: [(Rule, u64); 3] = [
    (Rule::NotionalPerMinute, 60_000),
    (Rule::NotionalPerHour, 3_600_000),
    (Rule::NotionalPerDay, DAY_MS),
];

/// A money limit, as configured and in units (rounded down).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cap {
    pub value: Decimal,
    pub units: i128,
}

impl Cap {
    fn new(value: Option<Decimal>) -> Option<Cap> {
        value.map(|value| Cap {
            value,
            units: units_floor(value),
        })
    }
}

/// The limits an identity and a key share.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScopeRules {
    pub orders_rate: Option<RateConfig>,
    pub cancels_rate: Option<RateConfig>,
    /// Per minute, hour, day (as `WINDOWS`).
    pub caps: [Option<Cap>; 3],
    pub max_open_orders: Option<u64>,
    pub max_open_notional: Option<Cap>,
}

impl ScopeRules {
    pub fn rate(&self, flow: Flow) -> Option<&RateConfig> {
        match flow {
            Flow::Orders => self.orders_rate.as_ref(),
            Flow::Cancels => self.cancels_rate.as_ref(),
        }
    }

    fn horizon_ms(&self) -> u64 {
        [&self.orders_rate, &self.cancels_rate]
            .into_iter()
            .flatten()
            .map(refill_ms)
            .max()
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IdentityRules {
    pub scope: ScopeRules,
    pub reduce_only: bool,
    pub breaker: Option<BreakerConfig>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeyRules {
    pub scope: ScopeRules,
    pub max_order_notional: Option<Decimal>,
    pub max_leverage: Option<u32>,
    pub price_max_age_ms: u64,
    pub open_order_ttl_ms: u64,
    pub require_client_id: bool,
    pub max_orders_per_request: u32,
    pub symbols: BTreeMap<String, SymbolLimits>,
    pub transfers: Vec<TransferAllowance>,
    pub approvals: Vec<ApprovalAllowance>,
    pub fees: Vec<FeeAllowance>,
}

impl KeyRules {
    pub(crate) fn symbol(&self, symbol: &str) -> Option<&SymbolLimits> {
        self.symbols
            .get(symbol)
            .or_else(|| self.symbols.get(ANY_SYMBOL))
    }

    pub(crate) fn transfer(
        &self,
        destination_key: &str,
        asset: &str,
    ) -> Option<&TransferAllowance> {
        self.transfers
            .iter()
            .find(|t| address_key(&t.destination) == destination_key && t.asset == asset)
    }
}

/// A validated, compiled `[policy]`: per identity and per key rules with the
/// defaults already merged in. Immutable; replace it to reload.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    config: PolicyConfig,
    identity_defaults: IdentityRules,
    identities: BTreeMap<String, IdentityRules>,
    key_defaults: KeyRules,
    keys: BTreeMap<String, KeyRules>,
    shadow: Option<Box<Policy>>,
}

/// The settings an identity's and a key's table share, as configured.
/// `config` keeps the two tables apart (each rejects unknown keys, which
/// serde's `flatten` would not), so each gives this view of itself and
/// `ScopeRules::merge` merges it once for both.
struct ScopeLimits<'a> {
    orders_rate: &'a Option<RateConfig>,
    cancels_rate: &'a Option<RateConfig>,
    /// Per minute, hour, day (as `WINDOWS`).
    caps: [Option<Decimal>; 3],
    max_open_orders: Option<u32>,
    max_open_notional: Option<Decimal>,
}

impl<'a> From<&'a IdentityLimits> for ScopeLimits<'a> {
    fn from(l: &'a IdentityLimits) -> ScopeLimits<'a> {
        ScopeLimits {
            orders_rate: &l.orders_rate,
            cancels_rate: &l.cancels_rate,
            caps: [
                l.max_notional_per_minute,
                l.max_notional_per_hour,
                l.max_notional_per_day,
            ],
            max_open_orders: l.max_open_orders,
            max_open_notional: l.max_open_notional,
        }
    }
}

impl<'a> From<&'a KeyLimits> for ScopeLimits<'a> {
    fn from(l: &'a KeyLimits) -> ScopeLimits<'a> {
        ScopeLimits {
            orders_rate: &l.orders_rate,
            cancels_rate: &l.cancels_rate,
            caps: [
                l.max_notional_per_minute,
                l.max_notional_per_hour,
                l.max_notional_per_day,
            ],
            max_open_orders: l.max_open_orders,
            max_open_notional: l.max_open_notional,
        }
    }
}

impl ScopeRules {
    /// The one scope merge: a table's own settings over the defaults',
    /// setting by setting.
    fn merge(o: ScopeLimits, d: ScopeLimits) -> ScopeRules {
        ScopeRules {
            orders_rate: o.orders_rate.as_ref().or(d.orders_rate.as_ref()).cloned(),
            cancels_rate: o.cancels_rate.as_ref().or(d.cancels_rate.as_ref()).cloned(),
            caps: [0, 1, 2].map(|i| Cap::new(o.caps[i].or(d.caps[i]))),
            max_open_orders: o.max_open_orders.or(d.max_open_orders).map(u64::from),
            max_open_notional: Cap::new(o.max_open_notional.or(d.max_open_notional)),
        }
    }
}

fn identity_rules(d: &IdentityLimits, own: Option<&IdentityLimits>) -> IdentityRules {
    let o = own.cloned().unwrap_or_default();
    let d = d.clone();
    IdentityRules {
        scope: ScopeRules::merge((&o).into(), (&d).into()),
        reduce_only: o.reduce_only.or(d.reduce_only).unwrap_or(false),
        breaker: o.breaker.or(d.breaker),
    }
}

fn key_rules(d: &KeyLimits, own: Option<&KeyLimits>) -> KeyRules {
    let o = own.cloned().unwrap_or_default();
    let d = d.clone();
    KeyRules {
        scope: ScopeRules::merge((&o).into(), (&d).into()),
        max_order_notional: o.max_order_notional.or(d.max_order_notional),
        max_leverage: o.max_leverage.or(d.max_leverage),
        price_max_age_ms: o
            .price_max_age_ms
            .or(d.price_max_age_ms)
            .unwrap_or(DEFAULT_PRICE_MAX_AGE_MS),
        open_order_ttl_ms: o
            .open_order_ttl_ms
            .or(d.open_order_ttl_ms)
            .unwrap_or(DEFAULT_OPEN_ORDER_TTL_MS),
        require_client_id: o.require_client_id.or(d.require_client_id).unwrap_or(false),
        max_orders_per_request: o
            .max_orders_per_request
            .or(d.max_orders_per_request)
            .unwrap_or(DEFAULT_MAX_ORDERS_PER_REQUEST),
        symbols: o.symbols.or(d.symbols).unwrap_or_default(),
        transfers: o.transfers,
        approvals: o.approvals,
        fees: o.fees,
    }
}

impl Policy {
    /// Validate and compile a `[policy]` section (and its shadow, if any).
    pub fn from_config(config: PolicyConfig) -> Result<Policy, String> {
        config.validate()?;
        Ok(Policy::compile(config))
    }

    fn compile(config: PolicyConfig) -> Policy {
        let identity_defaults = identity_rules(&config.identity_defaults, None);
        let identities = config
            .identities
            .iter()
            .map(|(n, l)| {
                (
                    n.clone(),
                    identity_rules(&config.identity_defaults, Some(l)),
                )
            })
            .collect();
        let key_defaults = key_rules(&config.key_defaults, None);
        let keys = config
            .keys
            .iter()
            .map(|(k, l)| (k.clone(), key_rules(&config.key_defaults, Some(l))))
            .collect();
        let shadow = config
            .shadow
            .as_ref()
            .map(|s| Box::new(Policy::compile((**s).clone())));
        Policy {
            config,
            identity_defaults,
            identities,
            key_defaults,
            keys,
            shadow,
        }
    }

    /// The configuration this policy was compiled from.
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// The shadow policy (`[policy.shadow]`), if configured.
    pub fn shadow(&self) -> Option<&Policy> {
        self.shadow.as_deref()
    }

    pub(crate) fn identity(&self, name: &str) -> &IdentityRules {
        self.identities.get(name).unwrap_or(&self.identity_defaults)
    }

    pub(crate) fn key(&self, alias: &str) -> &KeyRules {
        self.keys.get(alias).unwrap_or(&self.key_defaults)
    }

    /// How far back the journal must be replayed for the rebuilt state to
    /// be exact for windows, open orders and breakers (and no looser than
    /// the original for token buckets, see `PolicyState::for_partial_replay`):
    /// the longest of one day, any open-order TTL, any breaker window plus
    /// cool-down and any bucket's refill time, in this policy or its shadow.
    pub fn replay_horizon_ms(&self) -> u64 {
        let ids = std::iter::once(&self.identity_defaults).chain(self.identities.values());
        let keys = std::iter::once(&self.key_defaults).chain(self.keys.values());
        let mut h = DAY_MS;
        for i in ids {
            h = h.max(i.scope.horizon_ms());
            if let Some(b) = &i.breaker {
                h = h.max(b.window_ms.saturating_add(b.cooldown_ms));
            }
        }
        for k in keys {
            h = h.max(k.scope.horizon_ms()).max(k.open_order_ttl_ms);
        }
        if let Some(s) = &self.shadow {
            h = h.max(s.replay_horizon_ms());
        }
        h
    }
}
