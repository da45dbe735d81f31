//! NIST P-256 ECDSA: raw `r ‖ s` (as JOSE/ES256 wants) or ASN.1 DER (as
//! X.509 and most TLS-adjacent tooling wants). We normalise nothing: P-256
//! consumers accept either `s`. Every signature is verified before release.
//!
//! The check of the token's signatures runs on AWS-LC (`aws-lc-rs`), which
//! verifies over a prehashed digest about five times faster than the `p256`
//! crate (docs/benchmarks.md); the `p256` crate still parses keys and
//! signatures and writes DER, and its verification checks journal
//! checkpoints offline (`super::verify_message`).

use aws_lc_rs::digest::{Digest, SHA256};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ParsedPublicKey};
use p256::ecdsa::{Signature, VerifyingKey};

use super::CryptoError;

/// Parse a SEC1 P-256 public key.
pub fn verifying_key(sec1: &[u8]) -> Result<VerifyingKey, CryptoError> {
    VerifyingKey::from_sec1_bytes(sec1).map_err(|_| CryptoError::BadPublicKey("P-256"))
}

/// A P-256 public key ready to verify the token's signatures.
#[derive(Clone)]
pub struct Verifier {
    parsed: ParsedPublicKey,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("p256::Verifier")
    }
}

impl Verifier {
    /// From a SEC1 point (compressed or not), checked on the curve.
    pub fn new(sec1: &[u8]) -> Result<Verifier, CryptoError> {
        // Parsed by the `p256` crate first (the point on the curve, the
        // encodings it accepts), then handed to AWS-LC uncompressed.
        let point = verifying_key(sec1)?.to_sec1_point(false);
        let parsed = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point.as_bytes())
            .map_err(|_| CryptoError::BadPublicKey("P-256"))?;
        Ok(Verifier { parsed })
    }
}

/// Check the token's raw `r ‖ s` over the 32-byte `digest` and return it
/// parsed.
pub fn finish(public_key: &Verifier, digest: &[u8], raw: &[u8]) -> Result<Signature, CryptoError> {
    let sig = Signature::from_slice(raw).map_err(|_| CryptoError::BadSignature("P-256"))?;
    let digest =
        Digest::import_less_safe(digest, &SHA256).map_err(|_| CryptoError::VerifyFailed)?;
    public_key
        .parsed
        .verify_digest_sig(&digest, raw)
        .map_err(|_| CryptoError::VerifyFailed)?;
    Ok(sig)
}

/// DER encoding of a signature.
pub fn to_der(sig: &Signature) -> Vec<u8> {
    sig.to_der().as_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;

    /// The AWS-LC check agrees with the `p256` crate's on random keys,
    /// digests and both forms of `s`.
    #[test]
    fn agrees_with_the_p256_crate() {
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        for i in 1u8..=40 {
            let sk = SigningKey::from_slice(&[i; 32]).unwrap();
            let v = Verifier::new(sk.verifying_key().to_sec1_point(false).as_bytes()).unwrap();
            let digest = [i.wrapping_mul(7); 32];
            let (sig, _) = sk.sign_prehash_recoverable(&digest);
            let high_s = Signature::from_scalars(sig.r(), -*sig.s()).unwrap();
            for s in [sig, high_s] {
                let ours = finish(&v, &digest, &s.to_bytes()).is_ok();
                let theirs = sk.verifying_key().verify_prehash(&digest, &s).is_ok();
                assert!(ours && theirs, "key {i}");
            }
            let mut wrong = digest;
            wrong[0] ^= 1;
            assert!(finish(&v, &wrong, &sig.to_bytes()).is_err());
        }
    }

    #[test]
    fn raw_and_der() {
        let sk = SigningKey::from_slice(&[5u8; 32]).unwrap();
        let digest = [3u8; 32];
        let (sig, _) = sk.sign_prehash_recoverable(&digest);
        let point = sk.verifying_key().to_sec1_point(true);
        let v = Verifier::new(point.as_bytes()).unwrap();
        let out = finish(&v, &digest, &sig.to_bytes()).unwrap();
        let der = to_der(&out);
        assert_eq!(der[0], 0x30);
        assert!(p256::ecdsa::DerSignature::from_bytes(&der).is_ok());
        assert_eq!(
            finish(&v, &[4u8; 32], &sig.to_bytes()),
            Err(CryptoError::VerifyFailed)
        );
        // A signature that is not r ‖ s, or not on this key.
        assert!(finish(&v, &digest, &sig.to_bytes()[..63]).is_err());
        let other = SigningKey::from_slice(&[6u8; 32]).unwrap();
        let (theirs, _) = other.sign_prehash_recoverable(&digest);
        assert_eq!(
            finish(&v, &digest, &theirs.to_bytes()),
            Err(CryptoError::VerifyFailed)
        );
        assert!(Verifier::new(&[4u8; 65]).is_err());
    }
}
