//! Policy: pure decisions over typed intents and state. No I/O, no clocks:
//! every call takes the time as `now_ms` (milliseconds since the Unix
//! epoch, as journaled).
//!
//! The pieces:
//!
//! - [`PolicyConfig`] mirrors the `[policy]` section of the agent's config;
//!   [`Policy::from_config`] validates and compiles it.
//! - [`Policy::evaluate`] judges a [`Request`] (identity, key, intents,
//!   time) against a [`PolicyState`] without changing it, and answers a
//!   [`Verdict`]: allowed, or a list of [`Denial`]s naming the rule, its
//!   scope, the limit, the observed value and, where waiting helps, when to
//!   retry.
//! - [`PolicyState`] changes only through `commit` (an allowed request),
//!   `record_denial`, `update_price` and `report_closed`, each with its
//!   time, so replaying those calls from the journal rebuilds it.
//! - [`Engine`] ties one policy, its state and its shadow together: `decide`
//!   for live requests, `replay` for journal records.
//!
//! See docs/policy.md for the configuration reference and the semantics.
//!
//! # Files, bottom up
//!
//! A file imports only files above it in this list, so there are no
//! cycles (`mod.rs` only declares and re-exports; the test files,
//! `*_tests.rs` and `props*.rs`, sit on top):
//!
//! 1. `amount`, `verdict`, `window`, `prices`, `halts`, `config`: no other
//!    policy file. `config` mirrors `[policy]`, price feeds' settings
//!    included.
//! 2. `bucket`, `breaker` (on `config`), `open_orders` (on `amount`,
//!    `verdict`); `batch`: the [`Request`] and what it asks for in total
//!    (`Flow`, `Batch`), for both `evaluate` and `commit`.
//! 3. `feeds`: price updates into references; `limits`: the compiled
//!    limits ([`Policy`], its construction, the one scope merge,
//!    [`DAY_MS`] and the notional windows).
//! 4. `state`: [`PolicyState`] and the calls that change it.
//! 5. `execution`: one order's own checks.
//! 6. `rules`: the checks of a request, [`Policy::evaluate`] (it calls
//!    `execution`'s order checks).
//! 7. `engine`: [`Engine`], a policy, its state and its shadow.

mod amount;
mod batch;
mod breaker;
mod bucket;
mod config;
mod engine;
mod execution;
mod feeds;
mod halts;
mod limits;
mod open_orders;
mod prices;
mod rules;
mod state;
mod verdict;
mod window;

#[cfg(test)]
mod limits_tests;
#[cfg(test)]
mod props;
#[cfg(test)]
mod props_execution;
#[cfg(test)]
mod rules_tests;

pub use batch::Request;
pub use config::{
    ANY_SYMBOL, ApprovalAllowance, BreakerConfig, DEFAULT_MAX_ORDERS_PER_REQUEST,
    DEFAULT_OPEN_ORDER_TTL_MS, DEFAULT_PRICE_MAX_AGE_MS, FeeAllowance, IdentityLimits, KeyLimits,
    MAX_LIMIT, MAX_SPAN_MS, PolicyConfig, RateConfig, SymbolLimits, TransferAllowance,
    same_address,
};
pub use config::{FeedLimits, FeedsConfig};
pub use engine::{Engine, KeyUsage, Outcome};
pub use feeds::FeedError;
pub use halts::{Halt, HaltScope, Halts};
pub use limits::{DAY_MS, Policy};
pub use open_orders::OpenOrder;
pub use prices::RefPrice;
pub use state::PolicyState;
pub use verdict::{Denial, Rule, Scope, Verdict, rule_feeds_breaker};
