//! Asset metadata, read from the venue's own `meta`, `spotMeta` and
//! `perpDexs` info responses (saved to files by the operator, or fetched by
//! a helper).
//!
//! * Perps: `{"universe": [{"name", "szDecimals", "maxLeverage", ...}, ...]}`;
//!   the asset index is the position in `universe`.
//! * Spot: `{"universe": [{"name", "tokens": [base, quote], "index", ...}],
//!   "tokens": [{"name", "szDecimals", "index", ...}]}`; the asset index is
//!   10000 + the pair's `index`, the size decimals are the base token's.
//! * Builder-deployed perp dexs (HIP-3): the `meta` response of one dex
//!   (`{"type": "meta", "dex": NAME}`), whose asset names are `NAME:COIN`;
//!   the asset index is 100000 + 10000 × the dex's position in the
//!   `perpDexs` response (the main dex, `null`, is position 0) + the
//!   position in that dex's `universe`, as the official SDKs compute it.
//!
//! Unknown fields in these files are ignored (the venue adds fields over
//! time); the fields we use are checked strictly.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::Value;

use super::error::VenueError;

/// Spot asset indices start here.
pub const SPOT_ASSET_OFFSET: u32 = 10_000;
/// Asset indices of builder-deployed perp dexs start here.
pub const PERP_DEX_ASSET_OFFSET: u32 = 100_000;
/// Asset indices per builder-deployed perp dex (and most assets in one).
pub const PERP_DEX_ASSET_STRIDE: u32 = 10_000;
/// Highest position in `perpDexs` we accept: asset indices stay below
/// 100 000 000, where the venue's outcome markets start.
pub const MAX_PERP_DEX_INDEX: u32 =
    (100_000_000 - PERP_DEX_ASSET_OFFSET) / PERP_DEX_ASSET_STRIDE - 1;
/// Longest dex name accepted.
const MAX_DEX_NAME_LEN: usize = 32;
/// Decimals a perp price may have, before subtracting `szDecimals`.
pub const MAX_DECIMALS_PERP: u32 = 6;
/// Decimals a spot price may have, before subtracting `szDecimals`.
pub const MAX_DECIMALS_SPOT: u32 = 8;

/// Perpetual or spot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssetKind {
    Perp,
    Spot,
}

/// One tradable asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetInfo {
    /// The venue's asset index (`a` / `asset` in actions).
    pub index: u32,
    /// The name intents carry: the perp's name ("BTC"; "xyz:XYZ100" on a
    /// builder-deployed dex), or for spot "BASE/QUOTE" from the token names
    /// ("PURR/USDC", "HYPE/USDC"; should two pairs share that name, the
    /// later one keeps its coin name).
    pub symbol: String,
    /// The venue's coin name from the universe ("BTC", "xyz:XYZ100",
    /// "PURR/USDC", "@107").
    pub coin: String,
    pub kind: AssetKind,
    /// Decimals a size may have (spot: the base token's).
    pub sz_decimals: u32,
    /// Highest leverage (perps; `None` for spot or when not given).
    pub max_leverage: Option<u32>,
    /// Perp that allows isolated margin only (`onlyIsolated`, or any
    /// `marginMode`: "strictIsolated", "noCross" or one we do not know).
    pub only_isolated: bool,
    /// Perp the venue has delisted: no new orders.
    pub is_delisted: bool,
}

impl AssetInfo {
    /// Most decimals a price may have: `MAX_DECIMALS − szDecimals`.
    pub fn max_price_decimals(&self) -> u32 {
        let max = match self.kind {
            AssetKind::Perp => MAX_DECIMALS_PERP,
            AssetKind::Spot => MAX_DECIMALS_SPOT,
        };
        max.saturating_sub(self.sz_decimals)
    }
}

fn read_json(path: &Path, what: &str) -> Result<Value, VenueError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| meta_err(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        meta_err(format!(
            "{what} ({}) is not valid JSON: {e}",
            path.display()
        ))
    })
}

/// Perp and spot asset metadata with lookups by index and by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    by_index: BTreeMap<u32, AssetInfo>,
    by_name: HashMap<String, u32>,
    /// Builder-deployed perp dexs loaded: name → position in `perpDexs`.
    dexes: BTreeMap<String, u32>,
}

fn meta_err(msg: impl Into<String>) -> VenueError {
    VenueError::Meta(msg.into())
}

fn field<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a Value, VenueError> {
    v.get(key)
        .ok_or_else(|| meta_err(format!("{what}: missing {key:?}")))
}

fn field_str<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a str, VenueError> {
    field(v, key, what)?
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| meta_err(format!("{what}: {key:?} must be a non-empty string")))
}

fn field_u32(v: &Value, key: &str, what: &str) -> Result<u32, VenueError> {
    field(v, key, what)?
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            meta_err(format!(
                "{what}: {key:?} must be a small non-negative integer"
            ))
        })
}

fn opt_bool(v: &Value, key: &str, what: &str) -> Result<bool, VenueError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(meta_err(format!("{what}: {key:?} must be a bool"))),
    }
}

/// `marginMode` restricts cross margin in every mode the venue has
/// ("strictIsolated", "noCross"); a mode we do not know is taken to do so
/// too (refusing cross margin is the safe reading).
fn no_cross_margin_mode(v: &Value, what: &str) -> Result<bool, VenueError> {
    match v.get("marginMode") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::String(_)) => Ok(true),
        Some(_) => Err(meta_err(format!("{what}: \"marginMode\" must be a string"))),
    }
}

/// A builder-deployed dex's name as `perpDexs` and `sendAsset` spell it.
fn check_dex_name(name: &str) -> Result<(), VenueError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_DEX_NAME_LEN
        && name != "spot"
        && name.bytes().all(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(meta_err(format!(
            "{name:?} is not a builder-deployed perp dex name (1 to {MAX_DEX_NAME_LEN} letters or digits, not \"spot\")"
        )))
    }
}

impl Meta {
    /// Build from the parsed `meta` response and, optionally, `spotMeta`.
    pub fn from_values(perp: &Value, spot: Option<&Value>) -> Result<Self, VenueError> {
        let mut meta = Meta::default();
        meta.add_perps(perp, "meta", 0, None)?;
        if let Some(spot) = spot {
            meta.add_spot(spot)?;
        }
        Ok(meta)
    }

    /// Add a perp `universe`: asset index `offset` + position; on a
    /// builder-deployed dex every name must be `DEX:COIN`.
    fn add_perps(
        &mut self,
        perp: &Value,
        what: &str,
        offset: u32,
        dex: Option<&str>,
    ) -> Result<(), VenueError> {
        let universe = field(perp, "universe", what)?
            .as_array()
            .ok_or_else(|| meta_err(format!("{what}: \"universe\" must be an array")))?;
        for (i, a) in universe.iter().enumerate() {
            let what = format!("{what}.universe[{i}]");
            let name = field_str(a, "name", &what)?;
            if let Some(dex) = dex
                && name
                    .strip_prefix(dex)
                    .and_then(|rest| rest.strip_prefix(':'))
                    .is_none_or(str::is_empty)
            {
                return Err(meta_err(format!(
                    "{what}: {name:?} is not an asset of dex {dex:?} (\"{dex}:COIN\"): is this the meta of another dex?"
                )));
            }
            let sz_decimals = field_u32(a, "szDecimals", &what)?;
            if sz_decimals > MAX_DECIMALS_PERP {
                return Err(meta_err(format!(
                    "{what}: szDecimals {sz_decimals} exceeds {MAX_DECIMALS_PERP}"
                )));
            }
            let max_leverage = match a.get("maxLeverage") {
                None | Some(Value::Null) => None,
                Some(_) => Some(field_u32(a, "maxLeverage", &what)?),
            };
            let index = u32::try_from(i)
                .ok()
                .filter(|&i| i < PERP_DEX_ASSET_STRIDE)
                .ok_or_else(|| meta_err(format!("{what}: too many perp assets")))?
                + offset;
            let only_isolated =
                opt_bool(a, "onlyIsolated", &what)? | no_cross_margin_mode(a, &what)?;
            self.insert(AssetInfo {
                index,
                symbol: name.to_string(),
                coin: name.to_string(),
                kind: AssetKind::Perp,
                sz_decimals,
                max_leverage,
                only_isolated,
                is_delisted: opt_bool(a, "isDelisted", &what)?,
            })?;
        }
        Ok(())
    }

    /// Add the assets of the builder-deployed perp dex `name` (HIP-3):
    /// `perp_dexs` is the venue's `perpDexs` response, whose position of
    /// the dex fixes the asset indices; `dex_meta` is the dex's own `meta`
    /// response.
    pub fn add_perp_dex(
        &mut self,
        name: &str,
        perp_dexs: &Value,
        dex_meta: &Value,
    ) -> Result<(), VenueError> {
        check_dex_name(name)?;
        let list = perp_dexs
            .as_array()
            .ok_or_else(|| meta_err("perpDexs: must be an array"))?;
        let mut found = None;
        for (i, d) in list.iter().enumerate() {
            let what = format!("perpDexs[{i}]");
            if d.is_null() {
                continue;
            }
            if i == 0 {
                return Err(meta_err(format!("{what}: must be null (the main dex)")));
            }
            if field_str(d, "name", &what)? == name {
                if found.is_some() {
                    return Err(meta_err(format!("perpDexs: dex {name:?} is listed twice")));
                }
                found = Some(i);
            }
        }
        let position = found
            .and_then(|i| u32::try_from(i).ok())
            .ok_or_else(|| meta_err(format!("perpDexs: no dex named {name:?}")))?;
        if position > MAX_PERP_DEX_INDEX {
            return Err(meta_err(format!(
                "perpDexs: dex {name:?} at position {position} is beyond the asset index range"
            )));
        }
        if self.dexes.contains_key(name) {
            return Err(meta_err(format!("dex {name:?} is loaded twice")));
        }
        let offset = PERP_DEX_ASSET_OFFSET + position * PERP_DEX_ASSET_STRIDE;
        self.add_perps(
            dex_meta,
            &format!("meta of dex {name:?}"),
            offset,
            Some(name),
        )?;
        self.dexes.insert(name.to_string(), position);
        Ok(())
    }

    /// Load builder-deployed perp dexs: the `perpDexs` response from
    /// `perp_dexs`, and each dex's `meta` response from its file.
    pub fn load_perp_dexs<'a>(
        &mut self,
        perp_dexs: &Path,
        dex_meta: impl IntoIterator<Item = (&'a str, &'a Path)>,
    ) -> Result<(), VenueError> {
        let list = read_json(perp_dexs, "perpDexs")?;
        for (name, path) in dex_meta {
            let m = read_json(path, &format!("meta of dex {name:?}"))?;
            self.add_perp_dex(name, &list, &m)?;
        }
        Ok(())
    }

    /// The builder-deployed perp dex `name` is loaded.
    pub fn has_dex(&self, name: &str) -> bool {
        self.dexes.contains_key(name)
    }

    /// The builder-deployed perp dexs loaded, with their positions in
    /// `perpDexs`.
    pub fn dexes(&self) -> impl Iterator<Item = (&str, u32)> {
        self.dexes.iter().map(|(n, p)| (n.as_str(), *p))
    }

    fn add_spot(&mut self, spot: &Value) -> Result<(), VenueError> {
        let mut tokens: HashMap<u64, (&str, u32)> = HashMap::new();
        let token_list = field(spot, "tokens", "spotMeta")?
            .as_array()
            .ok_or_else(|| meta_err("spotMeta: \"tokens\" must be an array"))?;
        for (i, t) in token_list.iter().enumerate() {
            let what = format!("spotMeta.tokens[{i}]");
            let index = u64::from(field_u32(t, "index", &what)?);
            let name = field_str(t, "name", &what)?;
            let sz = field_u32(t, "szDecimals", &what)?;
            if sz > MAX_DECIMALS_SPOT {
                return Err(meta_err(format!(
                    "{what}: szDecimals {sz} exceeds {MAX_DECIMALS_SPOT}"
                )));
            }
            if tokens.insert(index, (name, sz)).is_some() {
                return Err(meta_err(format!("{what}: duplicate token index {index}")));
            }
        }
        let universe = field(spot, "universe", "spotMeta")?
            .as_array()
            .ok_or_else(|| meta_err("spotMeta: \"universe\" must be an array"))?;
        for (i, p) in universe.iter().enumerate() {
            let what = format!("spotMeta.universe[{i}]");
            let coin = field_str(p, "name", &what)?;
            let pair_index = field_u32(p, "index", &what)?;
            let index = pair_index
                .checked_add(SPOT_ASSET_OFFSET)
                .filter(|&a| a < 100_000)
                .ok_or_else(|| meta_err(format!("{what}: index {pair_index} out of range")))?;
            let pair = field(p, "tokens", &what)?
                .as_array()
                .filter(|t| t.len() == 2)
                .ok_or_else(|| meta_err(format!("{what}: \"tokens\" must be [base, quote]")))?;
            let token = |v: &Value| {
                v.as_u64()
                    .and_then(|i| tokens.get(&i).copied())
                    .ok_or_else(|| meta_err(format!("{what}: unknown token {v}")))
            };
            let (base, sz_decimals) = token(&pair[0])?;
            let (quote, _) = token(&pair[1])?;
            let display = format!("{base}/{quote}");
            let symbol = if self.by_name.contains_key(&display) {
                coin.to_string()
            } else {
                display
            };
            self.insert(AssetInfo {
                index,
                symbol,
                coin: coin.to_string(),
                kind: AssetKind::Spot,
                sz_decimals,
                max_leverage: None,
                only_isolated: false,
                is_delisted: false,
            })?;
        }
        Ok(())
    }

    fn insert(&mut self, info: AssetInfo) -> Result<(), VenueError> {
        if self.by_index.contains_key(&info.index) {
            return Err(meta_err(format!("duplicate asset index {}", info.index)));
        }
        for name in [&info.symbol, &info.coin] {
            match self.by_name.get(name) {
                Some(&i) if i != info.index => {
                    return Err(meta_err(format!(
                        "asset name {name:?} is used by assets {i} and {}",
                        info.index
                    )));
                }
                _ => {
                    self.by_name.insert(name.clone(), info.index);
                }
            }
        }
        self.by_index.insert(info.index, info);
        Ok(())
    }

    /// Build from the text of the `meta` and `spotMeta` responses.
    pub fn from_json_str(perp: &str, spot: Option<&str>) -> Result<Self, VenueError> {
        let perp: Value = serde_json::from_str(perp)
            .map_err(|e| meta_err(format!("meta is not valid JSON: {e}")))?;
        let spot: Option<Value> = spot
            .map(|s| {
                serde_json::from_str(s)
                    .map_err(|e| meta_err(format!("spotMeta is not valid JSON: {e}")))
            })
            .transpose()?;
        Self::from_values(&perp, spot.as_ref())
    }

    /// Load from files holding the `meta` and `spotMeta` responses.
    pub fn load(perp_path: &Path, spot_path: Option<&Path>) -> Result<Self, VenueError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .map_err(|e| meta_err(format!("cannot read {}: {e}", p.display())))
        };
        let perp = read(perp_path)?;
        let spot = spot_path.map(read).transpose()?;
        Self::from_json_str(&perp, spot.as_deref())
    }

    /// The asset with this index.
    pub fn by_index(&self, index: u32) -> Option<&AssetInfo> {
        self.by_index.get(&index)
    }

    /// The asset with this symbol or coin name ("BTC", "PURR/USDC",
    /// "HYPE/USDC", "@107").
    pub fn by_name(&self, name: &str) -> Option<&AssetInfo> {
        self.by_name.get(name).and_then(|i| self.by_index.get(i))
    }

    /// All assets, by index.
    pub fn assets(&self) -> impl Iterator<Item = &AssetInfo> {
        self.by_index.values()
    }

    pub fn len(&self) -> usize {
        self.by_index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_index.is_empty()
    }
}
