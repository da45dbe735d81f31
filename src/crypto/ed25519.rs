//! Ed25519 (pure EdDSA, RFC 8032): 64-byte signatures over the message
//! itself. Verified against the public key before release.

use ed25519_dalek::{Signature, VerifyingKey};

use super::CryptoError;

/// Parse a 32-byte Ed25519 public key.
pub fn verifying_key(bytes: &[u8]) -> Result<VerifyingKey, CryptoError> {
    let arr: &[u8; 32] = bytes
        .try_into()
        .map_err(|_| CryptoError::BadPublicKey("Ed25519"))?;
    VerifyingKey::from_bytes(arr).map_err(|_| CryptoError::BadPublicKey("Ed25519"))
}

/// Check the token's signature over `message`.
pub fn finish(
    public_key: &VerifyingKey,
    message: &[u8],
    raw: &[u8],
) -> Result<[u8; 64], CryptoError> {
    let arr: [u8; 64] = raw
        .try_into()
        .map_err(|_| CryptoError::BadSignature("Ed25519"))?;
    let sig = Signature::from_bytes(&arr);
    public_key
        .verify_strict(message, &sig)
        .map_err(|_| CryptoError::VerifyFailed)?;
    Ok(arr)
}

/// Base58 (Bitcoin alphabet) rendering of a public key, the form Solana-style
/// tooling and several venues show.
pub fn base58(public_key: &[u8]) -> String {
    bs58::encode(public_key).into_string()
}
