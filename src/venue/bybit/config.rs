//! `[keys.ALIAS.bybit]`: what an HMAC key may sign for Bybit's v5 API.

use serde::Deserialize;

use crate::venue::binance::{check_param_name, check_path};

/// Bybit's own ceiling for `recv_window` is far above what a bot needs; the
/// agent holds keys to this.
pub const MAX_RECV_WINDOW_MS: u64 = 60_000;
/// The `recv_window` sent when the bot gives none.
pub const DEFAULT_RECV_WINDOW_MS: u64 = 5_000;

/// `[keys.ALIAS.bybit]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BybitKeyConfig {
    /// The API key string (public; signed with each request and sent in
    /// `X-BAPI-API-KEY`).
    pub api_key: String,
    /// `recv_window` (ms) when the bot gives none.
    #[serde(default = "default_recv_window")]
    pub recv_window_ms: u64,
    /// The largest `recv_window` a bot may ask for; default:
    /// `recv_window_ms`. A signed request stays valid this long.
    pub max_recv_window_ms: Option<u64>,
    /// The instruments this key trades, each mapped to a policy symbol.
    pub instruments: Vec<Instrument>,
    /// `GET` endpoints the agent does not decode, with their parameters.
    #[serde(default)]
    pub read_only: Vec<ReadOnly>,
}

fn default_recv_window() -> u64 {
    DEFAULT_RECV_WINDOW_MS
}

/// A product category the agent decodes orders of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// USDT/USDC perpetuals and futures: sizes in base coin.
    Linear,
    Spot,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Linear => "linear",
            Category::Spot => "spot",
        }
    }

    /// Most orders in one batch request (the venue's limits).
    pub fn max_batch(self) -> usize {
        match self {
            Category::Linear => 20,
            Category::Spot => 10,
        }
    }
}

/// One `[[keys.ALIAS.bybit.instruments]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instrument {
    pub category: Category,
    /// Bybit's symbol, e.g. "BTCUSDT".
    pub symbol: String,
    /// The symbol policy judges it under.
    pub policy_symbol: String,
}

/// One `[[keys.ALIAS.bybit.read_only]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadOnly {
    pub path: String,
    #[serde(default)]
    pub params: Vec<String>,
}

/// A Bybit symbol: upper case letters and digits.
pub fn check_symbol(s: &str) -> Result<(), String> {
    if !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a symbol (upper case letters and digits)"
        ))
    }
}

impl BybitKeyConfig {
    pub fn max_recv_window(&self) -> u64 {
        self.max_recv_window_ms.unwrap_or(self.recv_window_ms)
    }

    pub fn instrument(&self, category: Category, symbol: &str) -> Option<&Instrument> {
        self.instruments
            .iter()
            .find(|i| i.category == category && i.symbol == symbol)
    }

    /// Cross-checks serde cannot express (messages relative to the table).
    pub fn validate(&self) -> Result<(), String> {
        if self.api_key.is_empty()
            || self.api_key.len() > 64
            || !self.api_key.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err("api_key: not a Bybit API key (letters and digits)".into());
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
        if self.instruments.is_empty() {
            return Err("instruments: list at least one instrument".into());
        }
        for (n, i) in self.instruments.iter().enumerate() {
            check_symbol(&i.symbol).map_err(|e| format!("instruments[{n}].symbol: {e}"))?;
            if i.policy_symbol.is_empty() || i.policy_symbol.len() > 40 {
                return Err(format!(
                    "instruments[{n}].policy_symbol: 1 to 40 characters"
                ));
            }
            if self.instruments[..n]
                .iter()
                .any(|o| o.category == i.category && o.symbol == i.symbol)
            {
                return Err(format!(
                    "instruments[{n}]: {} {} is listed twice",
                    i.category.as_str(),
                    i.symbol
                ));
            }
        }
        for (n, e) in self.read_only.iter().enumerate() {
            check_path(&e.path).map_err(|r| format!("read_only[{n}].path: {r}"))?;
            if !e.path.starts_with("/v5/") {
                return Err(format!("read_only[{n}].path: not a /v5/ path"));
            }
            for p in &e.params {
                check_param_name(p).map_err(|r| format!("read_only[{n}].params: {r}"))?;
            }
        }
        Ok(())
    }
}
