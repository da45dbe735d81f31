//! `[keys.ALIAS.rest]`: what a key may sign for a Binance-style REST API.

use serde::Deserialize;

use super::params::{check_param_name, check_path};

/// Binance's own ceiling for `recvWindow`.
pub const MAX_RECV_WINDOW_MS: u64 = 60_000;

/// The `recvWindow` the agent sends when the bot gives none.
pub const DEFAULT_RECV_WINDOW_MS: u64 = 5_000;

/// `[keys.ALIAS.rest]`.
/// Parameters that move value on the decoded endpoints (order sides and
/// sizes, prices, amounts, addresses, batches), and those that change
/// futures account settings (leverage, margin type, position and
/// multi-asset modes). A read-only allowlist entry may not list them: the
/// venue's signature does not cover the path, so a signed read carrying
/// them could be replayed to a trading, transfer or settings endpoint.
/// Every such endpoint needs at least one of them, so a read without them
/// cannot complete one. (`symbol`, `orderId`, `type`, `coin` and the like
/// stay allowed: a read that carries them can at most be replayed as a
/// cancel, which only reduces risk.)
pub const VALUE_MOVING_PARAMS: &[&str] = &[
    "side",
    "quantity",
    "quoteOrderQty",
    "price",
    "stopPrice",
    "icebergQty",
    "trailingDelta",
    "activationPrice",
    "callbackRate",
    "cancelReplaceMode",
    "batchOrders",
    "amount",
    "address",
    "addressTag",
    "leverage",
    "marginType",
    "dualSidePosition",
    "multiAssetsMargin",
];

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestKeyConfig {
    /// The venue this key belongs to; a request must name the same one.
    pub venue: RestVenue,
    /// The markets whose order endpoints this key may sign for. Wallet
    /// endpoints (transfers, withdrawals) are always decoded and judged by
    /// policy; read-only endpoints need `read_only` entries.
    pub markets: Vec<Market>,
    /// `recvWindow` sent when the bot gives none (ms).
    #[serde(default = "default_recv_window")]
    pub recv_window_ms: u64,
    /// The largest `recvWindow` a bot may ask for (ms); default:
    /// `recv_window_ms`. A signed request stays valid at the venue for this
    /// long, and can be sent more than once within it.
    pub max_recv_window_ms: Option<u64>,
    /// Endpoints the agent does not decode that this key may still sign
    /// requests for: `GET` only, each with the parameters it may carry.
    #[serde(default)]
    pub read_only: Vec<ReadOnlyEndpoint>,
}

fn default_recv_window() -> u64 {
    DEFAULT_RECV_WINDOW_MS
}

/// The venues whose REST signing the agent knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RestVenue {
    Binance,
}

impl RestVenue {
    pub fn as_str(self) -> &'static str {
        match self {
            RestVenue::Binance => "binance",
        }
    }

    pub fn parse(s: &str) -> Option<RestVenue> {
        match s {
            "binance" => Some(RestVenue::Binance),
            _ => None,
        }
    }
}

/// A market whose order endpoints the agent decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Market {
    /// Spot: `/api/v3/...`.
    Spot,
    /// USD-M futures: `/fapi/v1/...`.
    Usdm,
}

impl Market {
    /// The name used in config.
    pub fn as_str(self) -> &'static str {
        match self {
            Market::Spot => "spot",
            Market::Usdm => "usdm",
        }
    }

    /// A name for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Market::Spot => "spot",
            Market::Usdm => "USD-M futures",
        }
    }
}

/// One `[[keys.ALIAS.rest.read_only]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadOnlyEndpoint {
    /// Must be "GET".
    pub method: String,
    /// The exact path, e.g. "/api/v3/account".
    pub path: String,
    /// The parameters a request to it may carry (besides `recvWindow` and
    /// the agent's `timestamp`); none by default.
    #[serde(default)]
    pub params: Vec<String>,
}

impl RestKeyConfig {
    /// The `recvWindow` ceiling in force.
    pub fn max_recv_window(&self) -> u64 {
        self.max_recv_window_ms.unwrap_or(self.recv_window_ms)
    }

    pub fn allows_market(&self, m: Market) -> bool {
        self.markets.contains(&m)
    }

    /// The read-only entry for a GET of `path`, if any.
    pub fn read_only_entry(&self, path: &str) -> Option<&ReadOnlyEndpoint> {
        self.read_only.iter().find(|e| e.path == path)
    }

    /// Cross-checks serde cannot express. Messages name the setting
    /// relative to the table (the caller prefixes `keys.ALIAS.rest.`).
    pub fn validate(&self) -> Result<(), String> {
        for (i, m) in self.markets.iter().enumerate() {
            if self.markets[..i].contains(m) {
                return Err(format!("markets lists {:?} twice", m.as_str()));
            }
        }
        if self.recv_window_ms == 0 || self.recv_window_ms > MAX_RECV_WINDOW_MS {
            return Err(format!(
                "recv_window_ms must be between 1 and {MAX_RECV_WINDOW_MS} (got {})",
                self.recv_window_ms
            ));
        }
        let max = self.max_recv_window();
        if max < self.recv_window_ms || max > MAX_RECV_WINDOW_MS {
            return Err(format!(
                "max_recv_window_ms must be between recv_window_ms ({}) and {MAX_RECV_WINDOW_MS} (got {max})",
                self.recv_window_ms
            ));
        }
        for (i, e) in self.read_only.iter().enumerate() {
            let at = format!("read_only[{i}]");
            if e.method != "GET" {
                return Err(format!(
                    "{at}.method: {:?} is not \"GET\"; only GET endpoints can be allowlisted \
                     (trading and transfer endpoints are decoded and judged by policy)",
                    e.method
                ));
            }
            check_path(&e.path).map_err(|r| format!("{at}.path: {r}"))?;
            if self.read_only[..i].iter().any(|o| o.path == e.path) {
                return Err(format!("{at}: GET {} is listed twice", e.path));
            }
            for (j, p) in e.params.iter().enumerate() {
                check_param_name(p).map_err(|r| format!("{at}.params: {r}"))?;
                match p.as_str() {
                    "timestamp" | "signature" => {
                        return Err(format!(
                            "{at}.params: {p:?} is set by the agent, never by a bot"
                        ));
                    }
                    "recvWindow" => {
                        return Err(format!(
                            "{at}.params: \"recvWindow\" is always allowed (up to max_recv_window_ms); do not list it"
                        ));
                    }
                    _ => {}
                }
                if VALUE_MOVING_PARAMS.contains(&p.as_str()) {
                    return Err(format!(
                        "{at}.params: {p:?} is a parameter of the trading and transfer endpoints. \
                         Binance's signature does not cover the path, so a signed read carrying it \
                         could be replayed to one of them"
                    ));
                }
                if e.params[..j].contains(p) {
                    return Err(format!("{at}.params lists {p:?} twice"));
                }
            }
        }
        Ok(())
    }
}
