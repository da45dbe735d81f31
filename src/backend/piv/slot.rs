//! PIV key slots and the PIN and touch policies a key is generated with.
//!
//! Operators name slots the way Yubico's tools do ("9a", "9c", "9d", "9e",
//! and the retired key-management slots "82" to "95"); the attestation slot
//! (f9) and the management slots are not key slots tradeward will use.

use serde::{Deserialize, Serialize};

/// A PIV slot that can hold a signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot(u8);

impl Slot {
    /// Every slot tradeward may use, in listing order.
    pub fn all() -> impl Iterator<Item = Slot> {
        [0x9a, 0x9c, 0x9d, 0x9e]
            .into_iter()
            .chain(0x82..=0x95)
            .map(Slot)
    }

    /// From the slot's byte (the P2 of GENERATE and GENERAL AUTHENTICATE).
    pub fn from_byte(b: u8) -> Option<Slot> {
        matches!(b, 0x9a | 0x9c | 0x9d | 0x9e | 0x82..=0x95).then_some(Slot(b))
    }

    pub fn byte(self) -> u8 {
        self.0
    }

    /// What the slot is meant for, as NIST SP 800-73 names it.
    pub fn purpose(self) -> &'static str {
        match self.0 {
            0x9a => "PIV authentication",
            0x9c => "digital signature",
            0x9d => "key management",
            0x9e => "card authentication",
            _ => "retired key management",
        }
    }

    /// The PIN policy the device applies when a key is generated with
    /// "default" (per Yubico's documentation of the PIV applet).
    pub fn default_pin_policy(self) -> PinPolicy {
        match self.0 {
            0x9c => PinPolicy::Always,
            0x9e => PinPolicy::Never,
            _ => PinPolicy::Once,
        }
    }

    pub(crate) fn to_yubikey(self) -> yubikey::piv::SlotId {
        yubikey::piv::SlotId::try_from(self.0).expect("slot bytes are valid PIV slots")
    }
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02x}", self.0)
    }
}

impl std::str::FromStr for Slot {
    type Err = String;
    fn from_str(s: &str) -> Result<Slot, String> {
        let t = s.trim().to_ascii_lowercase();
        let t = t.strip_prefix("0x").unwrap_or(&t);
        u8::from_str_radix(t, 16)
            .ok()
            .filter(|_| t.len() == 2)
            .and_then(Slot::from_byte)
            .ok_or_else(|| {
                format!(
                    "unknown PIV slot {s:?} (expected 9a, 9c, 9d, 9e or a retired slot 82 to 95)"
                )
            })
    }
}

impl Serialize for Slot {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Slot {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Slot, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// When the device asks for the PIN before it signs with a key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PinPolicy {
    /// The slot's default (9c: always; 9e: never; others: once).
    #[default]
    Default,
    /// Never: anyone holding the device may sign.
    Never,
    /// Once per session: after one PIN verification.
    Once,
    /// Before every signature.
    Always,
}

/// When the device asks for a touch before it signs with a key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TouchPolicy {
    /// The device default (never).
    #[default]
    Default,
    Never,
    /// Every signature waits for a touch (about 15 s, then it fails).
    Always,
    /// A touch is good for 15 s of signatures.
    Cached,
}

impl PinPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PinPolicy::Default => "default",
            PinPolicy::Never => "never",
            PinPolicy::Once => "once",
            PinPolicy::Always => "always",
        }
    }

    /// The policy the device applies in `slot` (resolving "default").
    pub fn effective(self, slot: Slot) -> PinPolicy {
        match self {
            PinPolicy::Default => slot.default_pin_policy(),
            p => p,
        }
    }

    pub(crate) fn to_yubikey(self) -> yubikey::PinPolicy {
        match self {
            PinPolicy::Default => yubikey::PinPolicy::Default,
            PinPolicy::Never => yubikey::PinPolicy::Never,
            PinPolicy::Once => yubikey::PinPolicy::Once,
            PinPolicy::Always => yubikey::PinPolicy::Always,
        }
    }

    pub(crate) fn from_yubikey(p: yubikey::PinPolicy) -> PinPolicy {
        match p {
            yubikey::PinPolicy::Default => PinPolicy::Default,
            yubikey::PinPolicy::Never => PinPolicy::Never,
            yubikey::PinPolicy::Once => PinPolicy::Once,
            yubikey::PinPolicy::Always => PinPolicy::Always,
        }
    }
}

impl TouchPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            TouchPolicy::Default => "default",
            TouchPolicy::Never => "never",
            TouchPolicy::Always => "always",
            TouchPolicy::Cached => "cached",
        }
    }

    /// The policy the device applies (resolving "default").
    pub fn effective(self) -> TouchPolicy {
        match self {
            TouchPolicy::Default => TouchPolicy::Never,
            p => p,
        }
    }

    /// True when a signature may wait for a touch.
    pub fn needs_touch(self) -> bool {
        matches!(self.effective(), TouchPolicy::Always | TouchPolicy::Cached)
    }

    pub(crate) fn to_yubikey(self) -> yubikey::TouchPolicy {
        match self {
            TouchPolicy::Default => yubikey::TouchPolicy::Default,
            TouchPolicy::Never => yubikey::TouchPolicy::Never,
            TouchPolicy::Always => yubikey::TouchPolicy::Always,
            TouchPolicy::Cached => yubikey::TouchPolicy::Cached,
        }
    }

    pub(crate) fn from_yubikey(p: yubikey::TouchPolicy) -> TouchPolicy {
        match p {
            yubikey::TouchPolicy::Default => TouchPolicy::Default,
            yubikey::TouchPolicy::Never => TouchPolicy::Never,
            yubikey::TouchPolicy::Always => TouchPolicy::Always,
            yubikey::TouchPolicy::Cached => TouchPolicy::Cached,
        }
    }
}

impl std::str::FromStr for PinPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        <PinPolicy as clap::ValueEnum>::from_str(s, true)
            .map_err(|_| format!("unknown PIN policy {s:?} (default, never, once, always)"))
    }
}

impl std::str::FromStr for TouchPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        <TouchPolicy as clap::ValueEnum>::from_str(s, true)
            .map_err(|_| format!("unknown touch policy {s:?} (default, never, always, cached)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_parse_and_print() {
        for s in ["9a", "9c", "9d", "9e", "82", "95", "0x9C", " 9c "] {
            let slot: Slot = s.parse().unwrap();
            assert_eq!(
                slot.to_string(),
                s.trim().to_ascii_lowercase().trim_start_matches("0x")
            );
        }
        for bad in ["f9", "9b", "80", "96", "", "9", "9cc", "zz", "-1"] {
            assert!(bad.parse::<Slot>().is_err(), "{bad}");
        }
        assert_eq!(Slot::all().count(), 24);
        for s in Slot::all() {
            assert_eq!(u8::from(s.to_yubikey()), s.byte());
        }
    }

    #[test]
    fn default_policies_follow_the_slot() {
        let s = |x: &str| x.parse::<Slot>().unwrap();
        assert_eq!(PinPolicy::Default.effective(s("9c")), PinPolicy::Always);
        assert_eq!(PinPolicy::Default.effective(s("9e")), PinPolicy::Never);
        assert_eq!(PinPolicy::Default.effective(s("9a")), PinPolicy::Once);
        assert_eq!(PinPolicy::Never.effective(s("9c")), PinPolicy::Never);
        assert!(!TouchPolicy::Default.needs_touch());
        assert!(TouchPolicy::Cached.needs_touch());
    }
}
