//! The agent's configured keys: alias → token key, with the public key used
//! to check every signature the token returns, and the signing entry point
//! that turns a request into the bytes the token signs and the token's
//! answer into the format the caller asked for.
//!
//! Start-up checks live here too (after tmkms's keyring): every configured
//! key must exist, be sensitive and not extractable (unless the operator
//! opted in per key), and pass a sign-and-verify self-test.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::backend::pool::WorkerPool;
use crate::backend::uri::Pkcs11Uri;
use crate::backend::{BackendError, KeyInfo, KeyType};
use crate::config::{Config, KeyConfig};
use crate::crypto::{self, CryptoError, secp256k1::RecoverableSignature};

/// The public half of a key, parsed once.
#[derive(Clone)]
enum Verifier {
    Secp256k1(k256::ecdsa::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    Hmac,
}

/// One configured key.
#[derive(Clone)]
pub struct KeyEntry {
    pub alias: String,
    pub config: KeyConfig,
    pub info: KeyInfo,
    index: u32,
    verifier: Verifier,
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
    entries: Vec<KeyEntry>,
    by_alias: HashMap<String, usize>,
    pool: WorkerPool,
}

impl Keyring {
    /// Build the keyring from the config and what the first worker found in
    /// the token (same order as the config's `[keys]`). Refuses keys whose
    /// attributes break invariant 1.
    pub fn new(cfg: &Config, infos: Vec<KeyInfo>, pool: WorkerPool) -> Result<Keyring, String> {
        let mut entries = Vec::new();
        let mut by_alias = HashMap::new();
        for (i, ((alias, kc), info)) in cfg.keys.iter().zip(infos).enumerate() {
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
                (KeyType::Secp256k1, Some(pk)) => Verifier::Secp256k1(
                    crypto::secp256k1::verifying_key(pk).map_err(|e| e.to_string())?,
                ),
                (KeyType::P256, Some(pk)) => {
                    Verifier::P256(crypto::p256::verifying_key(pk).map_err(|e| e.to_string())?)
                }
                (KeyType::Ed25519, Some(pk)) => Verifier::Ed25519(
                    crypto::ed25519::verifying_key(pk).map_err(|e| e.to_string())?,
                ),
            };
            // Two aliases for one token key would let per-alias settings
            // (raw_signing above all) be bypassed through the other alias.
            if let Some(other) = entries
                .iter()
                .find(|o: &&KeyEntry| o.info.label == info.label && o.info.id == info.id)
            {
                return Err(format!(
                    "keys {:?} and {alias:?} name the same token key ({}); give each key one alias",
                    other.alias,
                    info.uri()
                ));
            }
            by_alias.insert(alias.clone(), i);
            entries.push(KeyEntry {
                alias: alias.clone(),
                config: kc.clone(),
                info,
                index: i as u32,
                verifier,
            });
        }
        Ok(Keyring {
            entries,
            by_alias,
            pool,
        })
    }

    pub fn entries(&self) -> &[KeyEntry] {
        &self.entries
    }

    pub fn pool(&self) -> &WorkerPool {
        &self.pool
    }

    /// Find a key by alias or by PKCS#11 URI (matched on object label / id).
    pub fn lookup(&self, reference: &str) -> Option<&KeyEntry> {
        if let Some(&i) = self.by_alias.get(reference) {
            return Some(&self.entries[i]);
        }
        let uri = Pkcs11Uri::parse(reference).ok()?;
        if uri.object.is_none() && uri.id.is_none() {
            return None;
        }
        let mut hits = self.entries.iter().filter(|e| {
            uri.object.as_ref().is_none_or(|o| *o == e.info.label)
                && uri.id.as_ref().is_none_or(|id| *id == e.info.id)
                && uri.token.as_ref().is_none_or(|t| *t == e.info.token_label)
                && uri
                    .serial
                    .as_ref()
                    .is_none_or(|s| *s == e.info.token_serial)
        });
        let first = hits.next()?;
        // An ambiguous URI resolves to nothing rather than to a guess.
        if hits.next().is_some() {
            None
        } else {
            Some(first)
        }
    }

    /// Exactly the bytes the token will be handed for `input` (the digest
    /// for ECDSA keys, the message for Ed25519 and HMAC). The journal
    /// records their hash with the decision, before signing.
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
                let raw = self.pool.sign(entry.index, digest.to_vec()).await?;
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
                let raw = self.pool.sign(entry.index, digest.to_vec()).await?;
                let sig = crypto::p256::finish(vk, &digest, &raw)?;
                Ok(SignOutput::P256 { digest, sig })
            }
            (Verifier::Ed25519(vk), SignInput::Message(m)) => {
                let raw = self.pool.sign(entry.index, m.clone()).await?;
                let sig = crypto::ed25519::finish(vk, &m, &raw)?;
                Ok(SignOutput::Ed25519 { sig })
            }
            (Verifier::Hmac, SignInput::Message(m)) => {
                let raw = self.pool.sign(entry.index, m).await?;
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

    /// Sign a fixed test message with every key and verify it. For HMAC keys
    /// the value cannot be checked without the secret; the self-test checks
    /// that two MACs over the same message agree and two over different
    /// messages do not.
    pub async fn self_test(&self) -> Result<(), String> {
        for e in &self.entries {
            let msg =
                format!("tradeward self-test {} {}", e.alias, std::process::id()).into_bytes();
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
        }
        Ok(())
    }
}
