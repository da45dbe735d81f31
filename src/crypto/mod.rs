//! Signature formats: everything that turns what a token returns into what a
//! venue or verifier expects. Nothing here talks to hardware; it only
//! post-processes bytes, so every function is a pure, unit-testable
//! transformation.

pub mod ed25519;
pub mod eip712;
pub mod eth;
pub mod hmac;
pub mod p256;
pub mod secp256k1;

use thiserror::Error;

/// Errors from signature post-processing. Any of these on the signing path
/// means the token produced something we cannot vouch for: the agent denies.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("public key is not a valid {0} point")]
    BadPublicKey(&'static str),
    #[error("token returned a malformed {0} signature")]
    BadSignature(&'static str),
    #[error("signature does not verify against the key's public key")]
    VerifyFailed,
    #[error("digest must be exactly 32 bytes, got {0}")]
    BadDigestLength(usize),
}

/// Parse a CKA_EC_POINT value. The standard says it is a DER OCTET STRING
/// wrapping the point, but some modules return the bare point; accept both.
pub fn unwrap_ec_point(raw: &[u8]) -> Vec<u8> {
    if raw.len() >= 2 && raw[0] == 0x04 {
        // Could be a bare uncompressed point (0x04 || X || Y) or an OCTET
        // STRING (tag 0x04). Decide by whether the DER length matches.
        if let Some((len, hdr)) = der_len(&raw[1..])
            && 1 + hdr + len == raw.len()
        {
            return raw[1 + hdr..].to_vec();
        }
    }
    raw.to_vec()
}

/// Wrap bytes in a DER OCTET STRING (for CKA_EC_POINT on import).
pub fn der_octet_string(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![0x04];
    let n = bytes.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend_from_slice(&[0x81, n as u8]);
    } else {
        out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(bytes);
    out
}

/// Decode a DER length; returns (length, bytes used by the length field).
fn der_len(b: &[u8]) -> Option<(usize, usize)> {
    let first = *b.first()?;
    if first < 0x80 {
        return Some((first as usize, 1));
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 2 || b.len() < 1 + n {
        return None;
    }
    let mut len = 0usize;
    for &byte in &b[1..=n] {
        len = (len << 8) | byte as usize;
    }
    Some((len, 1 + n))
}

/// DER-encoded OIDs used as CKA_EC_PARAMS.
pub mod oid {
    /// secp256k1: 1.3.132.0.10
    pub const SECP256K1: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];
    /// prime256v1 / P-256: 1.2.840.10045.3.1.7
    pub const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    /// Ed25519: 1.3.101.112
    pub const ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
    /// PrintableString "edwards25519", which some modules (and older
    /// pkcs11-tool versions) use instead of the OID.
    pub const ED25519_NAME: &[u8] = &[
        0x13, 0x0c, b'e', b'd', b'w', b'a', b'r', b'd', b's', b'2', b'5', b'5', b'1', b'9',
    ];
}

/// Verify a signature over `message` made the way the agent signs messages
/// for each key type (secp256k1: Keccak-256 of the message, 65-byte
/// `r‖s‖v`; P-256: SHA-256, raw `r‖s`; Ed25519: pure). Used to check
/// journal checkpoints offline with only the audit key's public key.
pub fn verify_message(
    key_type: &str,
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    use ::p256::ecdsa::signature::hazmat::PrehashVerifier;
    use sha2::Digest as _;
    match key_type {
        "secp256k1" => {
            let vk = secp256k1::verifying_key(public_key)?;
            if signature.len() != 65 {
                return Err(CryptoError::BadSignature("secp256k1"));
            }
            let sig = k256::ecdsa::Signature::from_slice(&signature[..64])
                .map_err(|_| CryptoError::BadSignature("secp256k1"))?;
            vk.verify_prehash(&eth::keccak256(message), &sig)
                .map_err(|_| CryptoError::VerifyFailed)
        }
        "p256" => {
            let vk = p256::verifying_key(public_key)?;
            let sig = ::p256::ecdsa::Signature::from_slice(signature)
                .map_err(|_| CryptoError::BadSignature("P-256"))?;
            let digest: [u8; 32] = sha2::Sha256::digest(message).into();
            vk.verify_prehash(&digest, &sig)
                .map_err(|_| CryptoError::VerifyFailed)
        }
        "ed25519" => {
            let vk = ed25519::verifying_key(public_key)?;
            ed25519::finish(&vk, message, signature).map(|_| ())
        }
        _ => Err(CryptoError::BadPublicKey("a key type with a public key")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_point_octet_string_round_trip() {
        let mut point = vec![0x04];
        point.extend_from_slice(&[7u8; 64]);
        let wrapped = der_octet_string(&point);
        assert_eq!(wrapped[..2], [0x04, 65]);
        assert_eq!(unwrap_ec_point(&wrapped), point);
        // A bare point is returned unchanged.
        assert_eq!(unwrap_ec_point(&point), point);
        let ed = [9u8; 32];
        assert_eq!(unwrap_ec_point(&der_octet_string(&ed)), ed);
    }
}
