//! The key store. Everything that touches hardware lives below this module:
//! opening a PKCS#11 module, finding keys, generating and importing them, and
//! the worker processes that do the signing. It knows nothing of policy or
//! sockets: it signs exactly the bytes it is handed.

pub mod piv;
pub mod pkcs11;
pub mod pool;
pub mod uri;
#[allow(unsafe_code)]
pub mod worker;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The key types tradeward signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// secp256k1 ECDSA (Ethereum, Hyperliquid).
    Secp256k1,
    /// NIST P-256 ECDSA.
    P256,
    /// Ed25519 (pure EdDSA).
    Ed25519,
    /// HMAC-SHA256 over a generic secret (exchange API secrets).
    Hmac,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Secp256k1 => "secp256k1",
            KeyType::P256 => "p256",
            KeyType::Ed25519 => "ed25519",
            KeyType::Hmac => "hmac",
        }
    }

    /// The mechanism the token signs with for this key type.
    pub fn mechanism(self) -> SignMechanism {
        match self {
            KeyType::Secp256k1 | KeyType::P256 => SignMechanism::Ecdsa,
            KeyType::Ed25519 => SignMechanism::Eddsa,
            KeyType::Hmac => SignMechanism::HmacSha256,
        }
    }
}

impl std::fmt::Display for KeyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for KeyType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "secp256k1" => Ok(KeyType::Secp256k1),
            "p256" => Ok(KeyType::P256),
            "ed25519" => Ok(KeyType::Ed25519),
            "hmac" => Ok(KeyType::Hmac),
            other => Err(format!(
                "unknown key type {other:?} (expected secp256k1, p256, ed25519 or hmac)"
            )),
        }
    }
}

/// The PKCS#11 mechanism used for a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignMechanism {
    /// CKM_ECDSA over a caller-computed 32-byte digest.
    Ecdsa,
    /// CKM_EDDSA, pure Ed25519 over the message.
    Eddsa,
    /// CKM_SHA256_HMAC over the message.
    HmacSha256,
}

/// How to find one key in a token: by label, by id, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySelector {
    pub label: Option<String>,
    pub id: Option<Vec<u8>>,
}

impl std::fmt::Display for KeySelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.label, &self.id) {
            (Some(l), Some(id)) => write!(f, "label={l:?} id={}", hex::encode(id)),
            (Some(l), None) => write!(f, "label={l:?}"),
            (None, Some(id)) => write!(f, "id={}", hex::encode(id)),
            (None, None) => f.write_str("(no selector)"),
        }
    }
}

/// How to find the token: by label or serial number (first match otherwise).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSelector {
    pub label: Option<String>,
    pub serial: Option<String>,
}

/// The token the agent uses, the module it is loaded from and that
/// module's library information: what the token and library attributes of
/// a PKCS#11 URI are checked against. Text fields have their blank padding
/// removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenIdentity {
    pub label: String,
    pub serial: String,
    pub manufacturer: String,
    pub model: String,
    pub library_manufacturer: String,
    pub library_description: String,
    pub library_version: (u8, u8),
    /// The module's path as loaded (canonical) and, where it differs, as
    /// the config names it.
    pub modules: Vec<std::path::PathBuf>,
}

/// What the token says about one key. Public material only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    pub label: String,
    pub id: Vec<u8>,
    pub key_type: KeyType,
    /// SEC1 uncompressed point for ECDSA keys, 32 bytes for Ed25519, absent
    /// for HMAC secrets.
    pub public_key: Option<Vec<u8>>,
    pub sensitive: bool,
    pub extractable: bool,
    /// CKA_LOCAL: generated on the device (false for imported keys).
    pub local: bool,
    pub always_sensitive: bool,
    pub never_extractable: bool,
    /// Label of the token holding the key (for URIs).
    pub token_label: String,
    pub token_serial: String,
    /// Set for a key on a YubiKey's PIV applet: device, slot, policies.
    #[serde(default)]
    pub piv: Option<piv::PivKeyInfo>,
}

impl KeyInfo {
    /// RFC 7512 URI naming this key (for a YubiKey PIV key, a
    /// `yubikey:serial=N;slot=S` reference instead).
    pub fn uri(&self) -> String {
        if let Some(p) = &self.piv {
            return piv::reference(p.serial, p.slot);
        }
        uri::Pkcs11Uri {
            token: Some(self.token_label.clone()),
            serial: Some(self.token_serial.clone()),
            object: Some(self.label.clone()),
            id: Some(self.id.clone()),
            object_type: Some(uri::ObjectType::of(self.key_type)),
            ..Default::default()
        }
        .to_string()
    }

    /// The Ethereum address (EIP-55) of a secp256k1 key.
    pub fn eth_address(&self) -> Option<String> {
        match (self.key_type, &self.public_key) {
            (KeyType::Secp256k1, Some(pk)) if pk.len() == 65 => Some(
                crate::crypto::eth::checksum_address(&crate::crypto::eth::address(pk)),
            ),
            _ => None,
        }
    }

    /// Base58 public key of an Ed25519 key.
    pub fn base58(&self) -> Option<String> {
        match (self.key_type, &self.public_key) {
            (KeyType::Ed25519, Some(pk)) => Some(crate::crypto::ed25519::base58(pk)),
            _ => None,
        }
    }

    /// True when the key can never leave the token.
    pub fn is_protected(&self) -> bool {
        self.sensitive && !self.extractable
    }
}

/// Errors from the key store, classified the way callers need: is it worth
/// retrying, and whose fault is it?
#[derive(Debug, Error, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackendError {
    #[error("PKCS#11 module {0}")]
    Module(String),
    #[error("token not found: {0}")]
    TokenNotFound(String),
    #[error("login failed: {0}")]
    Login(String),
    #[error("key not found: {0}")]
    KeyNotFound(String),
    #[error("{0}")]
    Ambiguous(String),
    #[error("unsupported key: {0}")]
    Unsupported(String),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("token error: {0}")]
    Token(String),
    /// The token refused the operation for a reason retrying will not fix
    /// (e.g. the key may not sign).
    #[error("token refused: {0}")]
    Rejected(String),
    /// No signing worker is left (they could not log in); only an operator
    /// can fix this.
    #[error("signing stopped: {0}")]
    Stopped(String),
    /// The signing worker died or could not be reached; the request was not
    /// signed and may be retried.
    #[error("signing worker unavailable: {0}")]
    WorkerUnavailable(String),
    /// The device waited for a touch that did not come; retry and touch it.
    #[error("touch needed: {0}")]
    Touch(String),
}

impl BackendError {
    /// Whether a caller may retry the same request.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            BackendError::WorkerUnavailable(_)
                | BackendError::Touch(_)
                | BackendError::Token(_)
                | BackendError::TokenNotFound(_)
        )
    }
}
