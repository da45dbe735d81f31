//! Numbers, addresses and ids as Hyperliquid writes them, read strictly.
//!
//! Prices and sizes travel as strings of a plain decimal ("50000",
//! "0.001"). We accept only that shape — digits, at most one point with
//! digits on both sides, no sign, no exponent, no whitespace, no leading
//! zeros — because every other spelling ("1e3", " 1", "+1", "NaN", ".5")
//! is a place where two parsers could disagree about the value. The
//! canonical wire form is the SDK's: the normalised decimal, without
//! trailing zeros ("1.50" → "1.5", "100.0" → "100").

use rust_decimal::Decimal;

use super::error::VenueError;
use super::meta::AssetInfo;
use crate::crypto::eth::checksum_address;

/// Longest numeric string we look at (Decimal holds 28 digits anyway).
const MAX_NUMBER_LEN: usize = 40;

/// Significant figures a non-integer price may have.
pub const MAX_PRICE_SIG_FIGS: u32 = 5;

fn bad(path: &str, value: &str, reason: impl Into<String>) -> VenueError {
    VenueError::BadNumber {
        path: path.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Parse a plain, non-negative decimal. Returns it normalised (no
/// trailing zeros in the scale). Zero is allowed here; callers that need
/// a positive value use [`parse_positive`].
pub fn parse_plain_decimal(path: &str, s: &str) -> Result<Decimal, VenueError> {
    if s.is_empty() {
        return Err(bad(path, s, "is empty"));
    }
    if s.len() > MAX_NUMBER_LEN {
        return Err(bad(path, s, "is too long"));
    }
    for c in s.chars() {
        match c {
            '0'..='9' | '.' => {}
            '-' | '+' => return Err(bad(path, s, "must not have a sign")),
            'e' | 'E' if s.chars().any(|c| c.is_ascii_digit()) => {
                return Err(bad(path, s, "must not use an exponent"));
            }
            c if c.is_whitespace() => return Err(bad(path, s, "must not contain whitespace")),
            ',' | '_' => return Err(bad(path, s, "must not contain separators")),
            _ => return Err(bad(path, s, "is not a plain decimal number")),
        }
    }
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    if let Some(f) = frac {
        if f.contains('.') {
            return Err(bad(path, s, "has more than one decimal point"));
        }
        if int.is_empty() || f.is_empty() {
            return Err(bad(
                path,
                s,
                "needs digits on both sides of the decimal point",
            ));
        }
    }
    if int.len() > 1 && int.starts_with('0') {
        return Err(bad(path, s, "has leading zeros"));
    }
    let d = Decimal::from_str_exact(s).map_err(|_| bad(path, s, "has too many digits"))?;
    Ok(d.normalize())
}

/// Parse a plain decimal that must be greater than zero.
pub fn parse_positive(path: &str, s: &str) -> Result<Decimal, VenueError> {
    let d = parse_plain_decimal(path, s)?;
    if d.is_zero() {
        return Err(bad(path, s, "must be greater than zero"));
    }
    Ok(d)
}

/// The SDK's wire form of a decimal: normalised, plain.
pub fn to_wire(d: &Decimal) -> String {
    d.normalize().to_string()
}

/// Number of significant figures of a normalised decimal.
fn sig_figs(d: &Decimal) -> u32 {
    let m = d.normalize().mantissa().unsigned_abs();
    if m == 0 { 0 } else { m.ilog10() + 1 }
}

/// The nearest valid price for `asset` at or below (`up` false) or at or
/// above (`up` true) `d`: at most `MAX_DECIMALS − szDecimals` decimals and 5
/// significant figures, or an integer. For prices the agent makes itself
/// (flattening orders at a trip).
pub fn round_price(d: Decimal, asset: &AssetInfo, up: bool) -> Decimal {
    let strategy = if up {
        rust_decimal::RoundingStrategy::AwayFromZero
    } else {
        rust_decimal::RoundingStrategy::ToZero
    };
    let mut dp = asset.max_price_decimals();
    loop {
        let r = d.round_dp_with_strategy(dp, strategy).normalize();
        if r.scale() == 0 || sig_figs(&r) <= MAX_PRICE_SIG_FIGS || dp == 0 {
            return r;
        }
        dp -= 1;
    }
}

/// A size rounded up to `szDecimals` (a reduce-only order may ask for more
/// than the position; the venue closes only what is there).
pub fn round_size_up(d: Decimal, asset: &AssetInfo) -> Decimal {
    d.round_dp_with_strategy(
        asset.sz_decimals,
        rust_decimal::RoundingStrategy::AwayFromZero,
    )
    .normalize()
}

/// A size must have at most `szDecimals` decimals.
pub fn check_size(path: &str, s: &str, d: &Decimal, asset: &AssetInfo) -> Result<(), VenueError> {
    if d.scale() > asset.sz_decimals {
        return Err(bad(
            path,
            s,
            format!(
                "has more than {} decimals (szDecimals of {})",
                asset.sz_decimals, asset.symbol
            ),
        ));
    }
    Ok(())
}

/// A price must be an integer, or have at most 5 significant figures and
/// at most `MAX_DECIMALS − szDecimals` decimals (6 for perps, 8 for spot).
pub fn check_price(path: &str, s: &str, d: &Decimal, asset: &AssetInfo) -> Result<(), VenueError> {
    if d.scale() == 0 {
        return Ok(());
    }
    let figs = sig_figs(d);
    if figs > MAX_PRICE_SIG_FIGS {
        return Err(bad(
            path,
            s,
            format!(
                "has {figs} significant figures; a non-integer price may have at most {MAX_PRICE_SIG_FIGS}"
            ),
        ));
    }
    let max = asset.max_price_decimals();
    if d.scale() > max {
        return Err(bad(
            path,
            s,
            format!(
                "has more than {max} decimals (the most a {} price may have)",
                asset.symbol
            ),
        ));
    }
    Ok(())
}

/// Parse `0x` + 40 hex digits. All-lowercase and all-uppercase are
/// accepted as is; mixed case must be a correct EIP-55 checksum, since a
/// wrong one means the address was mistyped.
pub fn parse_address(path: &str, s: &str) -> Result<[u8; 20], VenueError> {
    let invalid = |reason: &str| VenueError::invalid(path, format!("{s:?} {reason}"));
    let hexpart = s
        .strip_prefix("0x")
        .ok_or_else(|| invalid("is not an address (0x + 40 hex digits)"))?;
    if hexpart.len() != 40 || !hexpart.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid("is not an address (0x + 40 hex digits)"));
    }
    let mut out = [0u8; 20];
    hex::decode_to_slice(hexpart, &mut out)
        .map_err(|_| invalid("is not an address (0x + 40 hex digits)"))?;
    let has_lower = hexpart.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = hexpart.bytes().any(|b| b.is_ascii_uppercase());
    if has_lower && has_upper && checksum_address(&out) != s {
        return Err(invalid("has a wrong EIP-55 checksum"));
    }
    Ok(out)
}

/// Lowercase `0x` hex of an address (the SDK's form for addresses it
/// writes itself, e.g. a builder).
pub fn address_hex(a: &[u8; 20]) -> String {
    format!("0x{}", hex::encode(a))
}

/// A Hyperliquid client order id: 16 bytes, written `0x` + 32 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cloid(pub [u8; 16]);

impl Cloid {
    /// Parse `0x` + 32 hex digits (either case; rendered lowercase).
    pub fn parse(path: &str, s: &str) -> Result<Self, VenueError> {
        let invalid =
            || VenueError::invalid(path, format!("{s:?} is not a cloid (0x + 32 hex digits)"));
        let hexpart = s.strip_prefix("0x").ok_or_else(invalid)?;
        if hexpart.len() != 32 || !hexpart.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        let mut out = [0u8; 16];
        hex::decode_to_slice(hexpart, &mut out).map_err(|_| invalid())?;
        Ok(Cloid(out))
    }
}

impl std::fmt::Display for Cloid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

/// Parse a chain id written as `0x` hex (e.g. `signatureChainId`
/// "0x66eee"): at most 16 hex digits, not zero.
pub fn parse_hex_chain_id(path: &str, s: &str) -> Result<u64, VenueError> {
    let invalid = || VenueError::invalid(path, format!("{s:?} is not a 0x-hex chain id"));
    let hexpart = s.strip_prefix("0x").ok_or_else(invalid)?;
    if hexpart.is_empty() || hexpart.len() > 16 || !hexpart.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    let v = u64::from_str_radix(hexpart, 16).map_err(|_| invalid())?;
    if v == 0 {
        return Err(VenueError::invalid(path, "chain id must not be zero"));
    }
    Ok(v)
}

/// A decimal that is only carried, not re-encoded: user-signed actions
/// sign the amount string exactly as written ("1.0" stays "1.0"), so we
/// keep the text and check that it is a plain decimal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecimalText {
    text: String,
    value: Decimal,
}

impl DecimalText {
    /// A plain decimal greater than zero.
    pub fn positive(path: &str, s: &str) -> Result<Self, VenueError> {
        Ok(DecimalText {
            value: parse_positive(path, s)?,
            text: s.to_string(),
        })
    }

    /// A plain decimal, zero allowed.
    pub fn non_negative(path: &str, s: &str) -> Result<Self, VenueError> {
        Ok(DecimalText {
            value: parse_plain_decimal(path, s)?,
            text: s.to_string(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn value(&self) -> Decimal {
        self.value
    }
}

/// An address carried as the exact string that is signed (user-signed
/// actions sign some addresses as EIP-712 `string`s, where case matters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressText {
    text: String,
    bytes: [u8; 20],
}

impl AddressText {
    pub fn parse(path: &str, s: &str) -> Result<Self, VenueError> {
        Ok(AddressText {
            bytes: parse_address(path, s)?,
            text: s.to_string(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn bytes(&self) -> [u8; 20] {
        self.bytes
    }

    /// Lowercase `0x` hex, the form intents carry (so policy compares
    /// addresses, not spellings).
    pub fn lower(&self) -> String {
        address_hex(&self.bytes)
    }
}

/// A spot token as `spotSend` and `sendAsset` name it: `NAME:0x<tokenId>`.
pub(crate) fn parse_token(path: &str, s: &str) -> Result<String, VenueError> {
    let ok = s.split_once(':').is_some_and(|(name, id)| {
        !name.is_empty()
            && name.len() <= 32
            && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
            && id.len() == 34
            && id.starts_with("0x")
            && id[2..].bytes().all(|b| b.is_ascii_hexdigit())
    });
    if !ok {
        return Err(VenueError::invalid(
            path,
            format!("{s:?} is not a spot token (NAME:0x + 32 hex digits)"),
        ));
    }
    Ok(s.to_string())
}
