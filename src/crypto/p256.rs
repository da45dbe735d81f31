//! NIST P-256 ECDSA: raw `r ‖ s` (as JOSE/ES256 wants) or ASN.1 DER (as
//! X.509 and most TLS-adjacent tooling wants). We normalise nothing: P-256
//! consumers accept either `s`. Every signature is verified before release.

use p256::ecdsa::{Signature, VerifyingKey, signature::hazmat::PrehashVerifier};

use super::CryptoError;

/// Parse a SEC1 P-256 public key.
pub fn verifying_key(sec1: &[u8]) -> Result<VerifyingKey, CryptoError> {
    VerifyingKey::from_sec1_bytes(sec1).map_err(|_| CryptoError::BadPublicKey("P-256"))
}

/// Check the token's raw `r ‖ s` over `digest` and return it parsed.
pub fn finish(
    public_key: &VerifyingKey,
    digest: &[u8],
    raw: &[u8],
) -> Result<Signature, CryptoError> {
    let sig = Signature::from_slice(raw).map_err(|_| CryptoError::BadSignature("P-256"))?;
    public_key
        .verify_prehash(digest, &sig)
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

    #[test]
    fn raw_and_der() {
        let sk = SigningKey::from_slice(&[5u8; 32]).unwrap();
        let digest = [3u8; 32];
        let (sig, _) = sk.sign_prehash_recoverable(&digest);
        let out = finish(sk.verifying_key(), &digest, &sig.to_bytes()).unwrap();
        let der = to_der(&out);
        assert_eq!(der[0], 0x30);
        assert!(p256::ecdsa::DerSignature::from_bytes(&der).is_ok());
        assert_eq!(
            finish(sk.verifying_key(), &[4u8; 32], &sig.to_bytes()),
            Err(CryptoError::VerifyFailed)
        );
    }
}
