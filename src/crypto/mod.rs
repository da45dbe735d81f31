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
    #[error("{0}")]
    BadPrivateKey(String),
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

/// A public key as a PEM `PUBLIC KEY` document (X.509
/// SubjectPublicKeyInfo, RFC 5280; Ed25519 as RFC 8410 has it, the ECDSA
/// curves with their named-curve OID and the uncompressed point), the form
/// exchanges' API-key registration and OpenSSL read. LF line endings, with
/// a final one.
pub fn public_key_pem(key_type: &str, public_key: &[u8]) -> Result<String, CryptoError> {
    use ::p256::pkcs8::{EncodePublicKey, LineEnding};
    let pem = match key_type {
        "ed25519" => ed25519::verifying_key(public_key)?.to_public_key_pem(LineEnding::LF),
        "secp256k1" => k256::PublicKey::from_sec1_bytes(public_key)
            .map_err(|_| CryptoError::BadPublicKey("secp256k1"))?
            .to_public_key_pem(LineEnding::LF),
        "p256" => ::p256::PublicKey::from_sec1_bytes(public_key)
            .map_err(|_| CryptoError::BadPublicKey("P-256"))?
            .to_public_key_pem(LineEnding::LF),
        _ => return Err(CryptoError::BadPublicKey("a key type with a public key")),
    };
    // Encoding a valid key cannot fail; a failure is reported, not hidden.
    pem.map_err(|_| CryptoError::BadPublicKey("encodable"))
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

    #[test]
    fn public_key_pem_is_subject_public_key_info() {
        use ::p256::elliptic_curve::sec1::ToSec1Point;
        use base64::Engine;
        let body = |pem: &str, label: &str| {
            let b64: String = pem
                .strip_prefix(&format!("-----BEGIN {label}-----\n"))
                .and_then(|p| p.strip_suffix(&format!("-----END {label}-----\n")))
                .unwrap_or_else(|| panic!("not a {label} PEM: {pem}"))
                .lines()
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap()
        };
        // Ed25519 (RFC 8410): SEQUENCE { SEQUENCE { id-Ed25519 }, BIT STRING key }.
        let ed = hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
            .unwrap();
        let der = body(&public_key_pem("ed25519", &ed).unwrap(), "PUBLIC KEY");
        assert_eq!(hex::encode(&der[..12]), "302a300506032b6570032100");
        assert_eq!(der[12..], ed[..]);
        // ECDSA: id-ecPublicKey with the named curve, the uncompressed point.
        let k1 = k256::SecretKey::from_slice(&[1u8; 32])
            .unwrap()
            .public_key();
        let k1_point = k1.to_sec1_point(false).as_bytes().to_vec();
        let compressed = k1.to_sec1_point(true).as_bytes().to_vec();
        for point in [&k1_point, &compressed] {
            let der = body(&public_key_pem("secp256k1", point).unwrap(), "PUBLIC KEY");
            assert!(
                der.windows(oid::SECP256K1.len())
                    .any(|w| w == oid::SECP256K1)
            );
            assert!(der.ends_with(&k1_point));
        }
        let p2 = ::p256::SecretKey::from_slice(&[1u8; 32])
            .unwrap()
            .public_key();
        let p2_point = p2.to_sec1_point(false).as_bytes().to_vec();
        let der = body(&public_key_pem("p256", &p2_point).unwrap(), "PUBLIC KEY");
        assert!(der.windows(oid::P256.len()).any(|w| w == oid::P256));
        assert!(der.ends_with(&p2_point));
        assert!(public_key_pem("hmac", &[]).is_err());
        assert!(public_key_pem("p256", &k1_point).is_err());
    }
}
