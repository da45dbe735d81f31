//! The agent's configured keys: alias → token key, with the public key used
//! to check every signature the token returns, and the signing entry point
//! that turns a request into the bytes the token signs and the token's
//! answer into the format the caller asked for.
//!
//! Start-up checks live here too (after tmkms's keyring): every configured
//! key must exist, be sensitive and not extractable (unless the operator
//! opted in per key), and pass a sign-and-verify self-test.

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::backend::piv::PivHandle;
use crate::backend::pool::WorkerPool;
use crate::backend::uri::{Pkcs11Uri, UriError};
use crate::backend::{BackendError, KeyInfo, KeySelector, KeyType, TokenIdentity};
use crate::config::KeyConfig;
use crate::crypto::{self, CryptoError, secp256k1::RecoverableSignature};
use crate::journal::KeyRef;

/// The public half of a key, parsed once.
#[derive(Clone)]
enum Verifier {
    Secp256k1(k256::ecdsa::VerifyingKey),
    P256(crypto::p256::Verifier),
    Ed25519(ed25519_dalek::VerifyingKey),
    Hmac,
}

/// Which device signs for a key.
#[derive(Clone)]
pub enum KeySource {
    /// The PKCS#11 token, through the worker pool: the key's index in the
    /// pool's key table.
    Token(u32),
    /// A YubiKey's PIV applet (the slot is in the key's `info.piv`).
    Piv(PivHandle),
}

/// One configured key.
#[derive(Clone)]
pub struct KeyEntry {
    pub alias: String,
    pub config: KeyConfig,
    pub info: KeyInfo,
    source: KeySource,
    verifier: Verifier,
}

// The journal names token keys (in rotation and zeroisation records) but
// knows nothing of backends: its `KeyRef` is made from a token key, and
// turned back into a selector, here.
impl KeyRef {
    /// How the journal names the token key `info`.
    pub fn of(info: &KeyInfo) -> KeyRef {
        KeyRef {
            label: info.label.clone(),
            id: hex::encode(&info.id),
            public_key: info.public_key.as_deref().map(hex::encode),
        }
    }

    /// The selector that finds this key on the token.
    pub fn selector(&self) -> KeySelector {
        let id = hex::decode(&self.id).unwrap_or_default();
        KeySelector {
            label: Some(self.label.clone()),
            id: (!id.is_empty()).then_some(id),
        }
    }
}

/// What to sign.
#[derive(Debug, Clone)]
pub enum SignInput {
    /// A 32-byte digest, signed as is (ECDSA keys only).
    Digest([u8; 32]),
    /// A message: hashed with Keccak-256 (secp256k1) or SHA-256 (P-256),
    /// signed directly (Ed25519, HMAC).
    Message(Vec<u8>),
    /// An EIP-191 personal message (secp256k1 only).
    Eip191(Vec<u8>),
}

/// A finished, verified signature.
#[derive(Debug, Clone)]
pub enum SignOutput {
    Secp256k1 {
        digest: [u8; 32],
        sig: RecoverableSignature,
    },
    P256 {
        digest: [u8; 32],
        sig: p256::ecdsa::Signature,
    },
    Ed25519 {
        sig: [u8; 64],
    },
    Hmac {
        mac: [u8; 32],
    },
}

impl SignOutput {
    /// The signature bytes in the key type's usual form (65-byte `r‖s‖v`,
    /// raw P-256 `r‖s`, 64-byte Ed25519, 32-byte MAC).
    pub fn signature_bytes(&self) -> Vec<u8> {
        match self {
            SignOutput::Secp256k1 { sig, .. } => sig.to_bytes_65().to_vec(),
            SignOutput::P256 { sig, .. } => sig.to_bytes().to_vec(),
            SignOutput::Ed25519 { sig } => sig.to_vec(),
            SignOutput::Hmac { mac } => mac.to_vec(),
        }
    }

    /// A P-256 signature in ASN.1 DER (what X.509 and TLS tooling expect);
    /// `None` for other key types.
    pub fn p256_der(&self) -> Option<Vec<u8>> {
        match self {
            SignOutput::P256 { sig, .. } => Some(crate::crypto::p256::to_der(sig)),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("token output rejected: {0}")]
    Crypto(#[from] CryptoError),
}

pub struct Keyring {
    inner: std::sync::RwLock<Inner>,
    pool: WorkerPool,
    /// The PKCS#11 token in use: what a URI's token, library and module
    /// attributes must match.
    token: TokenIdentity,
}

/// The alias table. Rotation swaps an alias's entry in one write-locked
/// step; a request holds the `Arc` of the entry it looked up, so it signs
/// and verifies with one key from start to end — never half of each.
#[derive(Default)]
struct Inner {
    /// Current entries, in config order.
    entries: Vec<Arc<KeyEntry>>,
    by_alias: HashMap<String, usize>,
    /// Aliases whose keys were zeroized: never served again.
    zeroized: std::collections::BTreeSet<String>,
}

/// Why a rotation, rollback or zeroisation was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("no key {0:?}")]
    UnknownAlias(String),
    #[error("key {0:?} was zeroized")]
    Zeroized(String),
    #[error("{0}")]
    Refused(String),
}

fn missing_locked(inner: &Inner, alias: &str) -> KeyringError {
    if inner.zeroized.contains(alias) {
        KeyringError::Zeroized(alias.to_string())
    } else {
        KeyringError::UnknownAlias(alias.to_string())
    }
}

/// Check a token key against its config and build its entry.
fn build_entry(
    alias: &str,
    kc: &KeyConfig,
    info: KeyInfo,
    source: KeySource,
) -> Result<KeyEntry, String> {
    if info.key_type != kc.key_type {
        return Err(format!(
            "key {alias:?}: config says type {} but the token holds a {} key",
            kc.key_type, info.key_type
        ));
    }
    if !info.is_protected() && !kc.allow_extractable {
        return Err(format!(
            "key {alias:?} ({}) can leave the token (sensitive={}, extractable={}); refusing it. \
             Re-create it on the token, or set allow_extractable = true for this key",
            info.uri(),
            info.sensitive,
            info.extractable
        ));
    }
    let verifier = match (info.key_type, &info.public_key) {
        (KeyType::Hmac, _) => Verifier::Hmac,
        (_, None) => {
            return Err(format!(
                "key {alias:?}: the token holds no public key object with the same id; \
                 cannot verify its signatures"
            ));
        }
        (KeyType::Secp256k1, Some(pk)) => {
            Verifier::Secp256k1(crypto::secp256k1::verifying_key(pk).map_err(|e| e.to_string())?)
        }
        (KeyType::P256, Some(pk)) => {
            Verifier::P256(crypto::p256::Verifier::new(pk).map_err(|e| e.to_string())?)
        }
        (KeyType::Ed25519, Some(pk)) => {
            Verifier::Ed25519(crypto::ed25519::verifying_key(pk).map_err(|e| e.to_string())?)
        }
    };
    Ok(KeyEntry {
        alias: alias.to_string(),
        config: kc.clone(),
        info,
        source,
        verifier,
    })
}

fn piv_slot(entry: &KeyEntry) -> Result<crate::backend::piv::Slot, SignError> {
    entry
        .info
        .piv
        .as_ref()
        .map(|p| p.slot)
        .ok_or_else(|| SignError::Input("not a YubiKey key".into()))
}

fn piv_policies(entry: &KeyEntry) -> crate::backend::piv::device::KeyPolicies {
    entry.info.piv.as_ref().map(|p| p.policies()).unwrap_or(
        crate::backend::piv::device::KeyPolicies {
            pin: None,
            touch: None,
        },
    )
}

impl Keyring {
    /// Build the keyring from `(alias, config, key, source)`, in config
    /// order; `token` is the PKCS#11 token the pool's workers use.
    pub fn new(
        keys: Vec<(String, KeyConfig, KeyInfo, KeySource)>,
        pool: WorkerPool,
        token: TokenIdentity,
    ) -> Result<Keyring, String> {
        let mut inner = Inner::default();
        for (alias, kc, info, source) in keys {
            let entry = build_entry(&alias, &kc, info, source)?;
            // Two aliases for one token key would let per-alias settings
            // (raw_signing above all) be bypassed through the other alias.
            if let Some(other) = inner.entries.iter().find(|o| {
                o.info.uri() == entry.info.uri()
                    || (o.info.piv.is_none()
                        && entry.info.piv.is_none()
                        && o.info.label == entry.info.label
                        && o.info.id == entry.info.id)
            }) {
                return Err(format!(
                    "keys {:?} and {alias:?} name the same token key ({}); give each key one alias",
                    other.alias,
                    entry.info.uri()
                ));
            }
            inner.by_alias.insert(alias, inner.entries.len());
            inner.entries.push(Arc::new(entry));
        }
        Ok(Keyring {
            inner: std::sync::RwLock::new(inner),
            pool,
            token,
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The entries served (current keys, in config order; zeroized
    /// aliases left out).
    pub fn entries(&self) -> Vec<Arc<KeyEntry>> {
        let inner = self.read();
        inner
            .entries
            .iter()
            .filter(|e| inner.by_alias.contains_key(&e.alias))
            .cloned()
            .collect()
    }

    pub fn pool(&self) -> &WorkerPool {
        &self.pool
    }

    /// The PKCS#11 token in use.
    pub fn token(&self) -> &TokenIdentity {
        &self.token
    }

    /// Resolve an alias or a PKCS#11 URI to the current entry; `None` for
    /// a malformed or refused URI as for one that matches nothing.
    pub fn lookup(&self, reference: &str) -> Option<Arc<KeyEntry>> {
        self.resolve(reference).ok().flatten()
    }

    /// Resolve an alias or a PKCS#11 URI to the current entry. A URI the
    /// agent refuses (a PIN, a slot, an unknown attribute...) is an error
    /// naming the attribute; a URI that matches no key, or more than one,
    /// is `Ok(None)`.
    pub fn resolve(&self, reference: &str) -> Result<Option<Arc<KeyEntry>>, UriError> {
        let inner = self.read();
        if let Some(&i) = inner.by_alias.get(reference) {
            return Ok(Some(inner.entries[i].clone()));
        }
        if reference.starts_with("yubikey:") {
            return Ok(inner
                .entries
                .iter()
                .find(|e| {
                    inner.by_alias.contains_key(&e.alias)
                        && e.info.piv.is_some()
                        && e.info.uri() == reference
                })
                .cloned());
        }
        if !reference.starts_with("pkcs11:") {
            return Ok(None);
        }
        let uri = Pkcs11Uri::parse(reference)?;
        // A URI must name a key, and every token, library and module
        // attribute it has must match the token the agent uses.
        if !uri.names_key() || uri.check_token(&self.token).is_err() {
            return Ok(None);
        }
        let mut hits = inner
            .entries
            .iter()
            .filter(|e| inner.by_alias.contains_key(&e.alias) && uri.matches_key(&e.info));
        let Some(first) = hits.next() else {
            return Ok(None);
        };
        // An ambiguous URI resolves to nothing rather than to a guess.
        if hits.next().is_some() {
            Ok(None)
        } else {
            Ok(Some(first.clone()))
        }
    }

    /// Prepare `alias`'s next key: check the token key against the alias's
    /// config, add it to the workers' key table and self-test it (sign and
    /// verify). Nothing changes for callers until [`Keyring::activate`].
    pub async fn prepare(&self, alias: &str, info: KeyInfo) -> Result<Arc<KeyEntry>, KeyringError> {
        let current = self.lookup(alias).ok_or_else(|| self.missing(alias))?;
        if current.info.piv.is_some() || info.piv.is_some() {
            return Err(KeyringError::Refused(format!(
                "key {alias:?} is on a YubiKey: generate the new key into another slot \
                 (tradeward keys generate --backend yubikey) and point the config at it"
            )));
        }
        if info.label == current.info.label && info.id == current.info.id {
            return Err(KeyringError::Refused(format!(
                "key {alias:?} already uses {}",
                info.uri()
            )));
        }
        let sel = crate::backend::KeySelector {
            label: Some(info.label.clone()),
            id: (!info.id.is_empty()).then(|| info.id.clone()),
        };
        // Build (and so check) before the table grows.
        build_entry(alias, &current.config, info.clone(), KeySource::Token(0))
            .map_err(KeyringError::Refused)?;
        let index = self.pool.add_key(sel);
        let entry = Arc::new(
            build_entry(alias, &current.config, info, KeySource::Token(index))
                .map_err(KeyringError::Refused)?,
        );
        self.test_entry(&entry)
            .await
            .map_err(KeyringError::Refused)?;
        Ok(entry)
    }

    fn missing(&self, alias: &str) -> KeyringError {
        missing_locked(&self.read(), alias)
    }

    /// Make a prepared entry current for its alias. Returns the previous
    /// entry (still on the token; the journal keeps it for rollback).
    pub fn activate(&self, entry: Arc<KeyEntry>) -> Result<Arc<KeyEntry>, KeyringError> {
        let mut inner = self.write();
        let alias = entry.alias.clone();
        let Some(&i) = inner.by_alias.get(&alias) else {
            return Err(missing_locked(&inner, &alias));
        };
        Ok(std::mem::replace(&mut inner.entries[i], entry))
    }

    /// Stop serving `alias` for good; returns its current entry (whose
    /// token objects the caller destroys).
    pub fn zeroize(&self, alias: &str) -> Result<Arc<KeyEntry>, KeyringError> {
        let mut inner = self.write();
        let Some(i) = inner.by_alias.remove(alias) else {
            return Err(missing_locked(&inner, alias));
        };
        inner.zeroized.insert(alias.to_string());
        Ok(inner.entries[i].clone())
    }

    /// Aliases still served.
    pub fn aliases(&self) -> Vec<String> {
        let inner = self.read();
        inner
            .entries
            .iter()
            .filter(|e| inner.by_alias.contains_key(&e.alias))
            .map(|e| e.alias.clone())
            .collect()
    }

    pub fn payload(&self, entry: &KeyEntry, input: &SignInput) -> Result<Vec<u8>, SignError> {
        Ok(match (entry.info.key_type, input) {
            (KeyType::Secp256k1, SignInput::Digest(d)) | (KeyType::P256, SignInput::Digest(d)) => {
                d.to_vec()
            }
            (KeyType::Secp256k1, SignInput::Message(m)) => crypto::eth::keccak256(m).to_vec(),
            (KeyType::Secp256k1, SignInput::Eip191(m)) => {
                crypto::eth::personal_message_digest(m).to_vec()
            }
            (KeyType::P256, SignInput::Message(m)) => Sha256::digest(m).to_vec(),
            (KeyType::Ed25519 | KeyType::Hmac, SignInput::Message(m)) => m.clone(),
            (KeyType::P256, SignInput::Eip191(_)) => {
                return Err(SignError::Input(
                    "EIP-191 applies to secp256k1 keys only".into(),
                ));
            }
            (kt, _) => {
                return Err(SignError::Input(format!(
                    "{kt} keys sign messages, not digests"
                )));
            }
        })
    }

    /// Sign with `entry`, check the token's answer against the key's public
    /// key, and return it in finished form.
    pub async fn sign(&self, entry: &KeyEntry, input: SignInput) -> Result<SignOutput, SignError> {
        match (&entry.verifier, input) {
            (Verifier::Secp256k1(vk), input) => {
                let digest = match input {
                    SignInput::Digest(d) => d,
                    SignInput::Message(m) => crypto::eth::keccak256(&m),
                    SignInput::Eip191(m) => crypto::eth::personal_message_digest(&m),
                };
                let raw = self.raw_sign(entry, digest.to_vec()).await?;
                let sig = crypto::secp256k1::finish(vk, &digest, &raw)?;
                Ok(SignOutput::Secp256k1 { digest, sig })
            }
            (Verifier::P256(vk), input) => {
                let digest: [u8; 32] = match input {
                    SignInput::Digest(d) => d,
                    SignInput::Message(m) => Sha256::digest(&m).into(),
                    SignInput::Eip191(_) => {
                        return Err(SignError::Input(
                            "EIP-191 applies to secp256k1 keys only".into(),
                        ));
                    }
                };
                let raw = match &entry.source {
                    KeySource::Piv(dev) => {
                        let der = dev
                            .sign_p256(piv_slot(entry)?, piv_policies(entry), digest)
                            .await?;
                        // The device answers in DER; the pipeline wants r‖s.
                        p256::ecdsa::Signature::from_der(&der)
                            .map_err(|_| {
                                CryptoError::BadSignature("P-256 (DER, from the YubiKey)")
                            })?
                            .to_bytes()
                            .to_vec()
                    }
                    KeySource::Token(_) => self.raw_sign(entry, digest.to_vec()).await?,
                };
                let sig = crypto::p256::finish(vk, &digest, &raw)?;
                Ok(SignOutput::P256 { digest, sig })
            }
            (Verifier::Ed25519(vk), SignInput::Message(m)) => {
                let raw = self.raw_sign(entry, m.clone()).await?;
                let sig = crypto::ed25519::finish(vk, &m, &raw)?;
                Ok(SignOutput::Ed25519 { sig })
            }
            (Verifier::Hmac, SignInput::Message(m)) => {
                let raw = self.raw_sign(entry, m).await?;
                Ok(SignOutput::Hmac {
                    mac: crypto::hmac::finish(&raw)?,
                })
            }
            (Verifier::Ed25519(_), _) => Err(SignError::Input(
                "Ed25519 keys sign messages (pure EdDSA), not digests".into(),
            )),
            (Verifier::Hmac, _) => Err(SignError::Input(
                "HMAC keys sign messages, not digests".into(),
            )),
        }
    }

    /// The token's raw answer for a key signed through the worker pool.
    async fn raw_sign(&self, entry: &KeyEntry, data: Vec<u8>) -> Result<Vec<u8>, SignError> {
        match &entry.source {
            KeySource::Token(index) => Ok(self.pool.sign(*index, data).await?),
            KeySource::Piv(_) => Err(SignError::Input(format!(
                "{} keys cannot be held on a YubiKey",
                entry.info.key_type
            ))),
        }
    }

    /// Sign a fixed test message with every key and verify it. For HMAC keys
    /// the value cannot be checked without the secret; the self-test checks
    /// that two MACs over the same message agree and two over different
    /// messages do not.
    pub async fn self_test(&self) -> Result<(), String> {
        for e in self.entries() {
            self.test_entry(&e).await?;
        }
        Ok(())
    }

    /// Sign a test message with `e` (every signature is verified against
    /// its public key on the way); for HMAC keys, check the MACs are
    /// deterministic and message-dependent.
    async fn test_entry(&self, e: &KeyEntry) -> Result<(), String> {
        let msg = format!("tradeward self-test {} {}", e.alias, std::process::id()).into_bytes();
        let first = self
            .sign(e, SignInput::Message(msg.clone()))
            .await
            .map_err(|err| format!("self-test of key {:?} failed: {err}", e.alias))?;
        if let SignOutput::Hmac { mac } = first {
            let again = self.sign(e, SignInput::Message(msg.clone())).await;
            let other = self.sign(e, SignInput::Message(b"other".to_vec())).await;
            match (again, other) {
                (Ok(SignOutput::Hmac { mac: a }), Ok(SignOutput::Hmac { mac: o }))
                    if a == mac && o != mac => {}
                _ => {
                    return Err(format!(
                        "self-test of HMAC key {:?} failed: MACs inconsistent",
                        e.alias
                    ));
                }
            }
        }
        Ok(())
    }
}
