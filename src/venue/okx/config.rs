//! `[keys.ALIAS.okx]`: what an HMAC key may sign for OKX's v5 REST API.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::venue::binance::check_path;

/// `[keys.ALIAS.okx]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OkxKeyConfig {
    /// The API key string (public: it names the key to the venue; sent in
    /// `OK-ACCESS-KEY`).
    pub api_key: String,
    /// A file holding the API passphrase (mode 0600 or stricter, owned by
    /// the agent's user): read at start, returned only in the headers of
    /// a signed request (see docs/okx.md for why a file).
    pub passphrase_file: PathBuf,
    /// Send `x-simulated-trading: 1` (demo trading).
    #[serde(default)]
    pub demo: bool,
    /// The instruments this key trades, by OKX `instId`; any other is
    /// refused. Each maps to the symbol policy knows it by.
    pub instruments: BTreeMap<String, Instrument>,
    /// Endpoints the agent does not decode that this key may still sign:
    /// `GET` only, each with the query parameters it may carry.
    #[serde(default)]
    pub read_only: Vec<ReadOnly>,
}

/// `[keys.ALIAS.okx.instruments."BTC-USDT-SWAP"]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instrument {
    /// The policy symbol (`[policy.keys.ALIAS.symbols.SYMBOL]`).
    pub symbol: String,
    /// Base units per contract (`ctVal`) for a swap (`-SWAP`): `sz` is
    /// in contracts, policy judges base units. Not set for spot.
    pub contract_size: Option<Decimal>,
}

/// One `[[keys.ALIAS.okx.read_only]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadOnly {
    pub path: String,
    #[serde(default)]
    pub params: Vec<String>,
}

/// What an instrument is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Spot,
    Swap,
}

/// `BASE-QUOTE` (spot) or `BASE-QUOTE-SWAP` (perpetual swap), upper case.
pub fn instrument_kind(inst_id: &str) -> Option<Kind> {
    let parts: Vec<&str> = inst_id.split('-').collect();
    let word = |p: &&str| {
        !p.is_empty()
            && p.len() <= 16
            && p.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    };
    match parts.as_slice() {
        [b, q] if word(b) && word(q) => Some(Kind::Spot),
        [b, q, "SWAP"] if word(b) && word(q) => Some(Kind::Swap),
        _ => None,
    }
}

impl OkxKeyConfig {
    /// Cross-checks serde cannot express (messages relative to the table).
    pub fn validate(&self) -> Result<(), String> {
        if self.api_key.is_empty()
            || self.api_key.len() > 64
            || !self
                .api_key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err("api_key: not an OKX API key (letters, digits and -)".into());
        }
        if self.instruments.is_empty() {
            return Err("instruments: list at least one instrument".into());
        }
        for (id, i) in &self.instruments {
            let kind = instrument_kind(id).ok_or_else(|| {
                format!(
                    "instruments.{id:?}: not a spot (BASE-QUOTE) or perpetual swap (BASE-QUOTE-SWAP) instId"
                )
            })?;
            if i.symbol.is_empty() || i.symbol.len() > 40 {
                return Err(format!("instruments.{id:?}.symbol: 1 to 40 characters"));
            }
            match (kind, i.contract_size) {
                (Kind::Swap, None) => {
                    return Err(format!(
                        "instruments.{id:?}.contract_size: required for a swap (the instrument's ctVal)"
                    ));
                }
                (Kind::Swap, Some(c)) if c <= Decimal::ZERO => {
                    return Err(format!(
                        "instruments.{id:?}.contract_size: must be above zero"
                    ));
                }
                (Kind::Spot, Some(_)) => {
                    return Err(format!(
                        "instruments.{id:?}.contract_size: a spot instrument has none"
                    ));
                }
                _ => {}
            }
        }
        for (i, e) in self.read_only.iter().enumerate() {
            check_path(&e.path).map_err(|r| format!("read_only[{i}].path: {r}"))?;
            if !e.path.starts_with("/api/v5/") {
                return Err(format!("read_only[{i}].path: not an /api/v5/ path"));
            }
            if super::endpoints::Endpoint::find_path(&e.path).is_some() {
                return Err(format!(
                    "read_only[{i}].path: {} is an endpoint the agent decodes",
                    e.path
                ));
            }
            for p in &e.params {
                crate::venue::binance::check_param_name(p)
                    .map_err(|r| format!("read_only[{i}].params: {r}"))?;
            }
        }
        Ok(())
    }

    pub fn instrument(&self, inst_id: &str) -> Option<&Instrument> {
        self.instruments.get(inst_id)
    }
}
