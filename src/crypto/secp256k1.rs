//! secp256k1 ECDSA as Ethereum-family venues want it: a 65-byte `r ‖ s ‖ v`
//! with `s` in the low half of the group order.
//!
//! A token's CKM_ECDSA returns raw `r ‖ s` and roughly half of those have a
//! high `s`, which venues reject as malleable. We normalise `s`, verify the
//! signature against the key's public key, and read the recovery id off the
//! point that verification computes (see [`finish`]).

use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};

use super::CryptoError;

/// A normalised, recoverable secp256k1 signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoverableSignature {
    pub r: [u8; 32],
    pub s: [u8; 32],
    /// Recovery id, 0 or 1 (add 27 for the legacy Ethereum `v`).
    pub recovery_id: u8,
}

impl RecoverableSignature {
    /// `r ‖ s ‖ v` with `v` in {27, 28}, the form `eth_account` and the
    /// Hyperliquid SDK produce.
    pub fn to_bytes_65(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[..32].copy_from_slice(&self.r);
        out[32..64].copy_from_slice(&self.s);
        out[64] = 27 + self.recovery_id;
        out
    }

    /// The Ethereum `v` value (27 or 28).
    pub fn v(&self) -> u8 {
        27 + self.recovery_id
    }
}

/// Parse a SEC1 public key (compressed or uncompressed).
pub fn verifying_key(sec1: &[u8]) -> Result<VerifyingKey, CryptoError> {
    VerifyingKey::from_sec1_bytes(sec1).map_err(|_| CryptoError::BadPublicKey("secp256k1"))
}

/// Uncompressed SEC1 encoding (65 bytes, leading 0x04).
pub fn uncompressed(key: &VerifyingKey) -> Vec<u8> {
    key.to_sec1_point(false).as_bytes().to_vec()
}

/// Turn a token's raw `r ‖ s` over `digest` into a low-s recoverable
/// signature for `public_key`. Fails if the token's signature does not verify.
///
/// One double-scalar multiplication does both jobs. ECDSA verification
/// computes `R = s⁻¹·z·G + s⁻¹·r·Q` and accepts when `R.x ≡ r (mod n)`.
/// That `R` is exactly the point public-key recovery starts from, so its
/// y parity (and whether its x exceeded the order) *is* the recovery id:
/// recovering with that id gives back `Q`. Trial recovery would cost one
/// multiplication plus a square root per candidate id (1.5 on average);
/// this costs one multiplication. The unit tests check the id against the
/// crate's own recovery.
pub fn finish(
    public_key: &VerifyingKey,
    digest: &[u8],
    raw: &[u8],
) -> Result<RecoverableSignature, CryptoError> {
    use k256::elliptic_curve::CurveAffine;
    use k256::elliptic_curve::ops::{Invert, MulByGeneratorVartime, Reduce};
    use k256::elliptic_curve::point::AffineCoordinates;
    use k256::{FieldBytes, ProjectivePoint, Scalar};

    if digest.len() != 32 {
        return Err(CryptoError::BadDigestLength(digest.len()));
    }
    let sig = Signature::from_slice(raw).map_err(|_| CryptoError::BadSignature("secp256k1"))?;
    let sig = sig.normalize_s();
    let (r, s) = sig.split_scalars();
    let digest =
        FieldBytes::try_from(digest).map_err(|_| CryptoError::BadDigestLength(digest.len()))?;
    let z = <Scalar as Reduce<FieldBytes>>::reduce(&digest);
    let s_inv: Scalar = *Invert::invert(&s);
    let q = ProjectivePoint::from(*public_key.as_affine());
    let point =
        ProjectivePoint::mul_by_generator_and_mul_add_vartime(&(z * s_inv), &(*r * s_inv), &q)
            .to_affine();
    // The identity has no x; its encoding here is all zeros, which no
    // non-zero r equals.
    let x = point.x();
    let x_mod_n = <Scalar as Reduce<FieldBytes>>::reduce(&x);
    if x_mod_n != *r || bool::from(point.is_identity()) {
        return Err(CryptoError::VerifyFailed);
    }
    let x_reduced = x != x_mod_n.to_bytes();
    let recid = RecoveryId::new(point.y_is_odd().into(), x_reduced);
    let (r, s) = sig.split_bytes();
    let mut out = RecoverableSignature {
        r: [0; 32],
        s: [0; 32],
        recovery_id: recid.to_byte(),
    };
    out.r.copy_from_slice(&r);
    out.s.copy_from_slice(&s);
    Ok(out)
}

/// True when `s` is in the low half of the order (BIP-62 / EIP-2).
pub fn is_low_s(s: &[u8; 32]) -> bool {
    // n/2 for secp256k1.
    const HALF_N: [u8; 32] = [
        0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b,
        0x20, 0xa0,
    ];
    s.as_slice() <= HALF_N.as_slice()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::ecdsa::SigningKey;
    use k256::ecdsa::signature::hazmat::PrehashVerifier;
    use sha3::Digest;

    fn key() -> SigningKey {
        SigningKey::from_slice(&[0x11; 32]).unwrap()
    }

    #[test]
    fn high_s_is_normalised_and_recovers() {
        let sk = key();
        let vk = *sk.verifying_key();
        let digest = [0x42u8; 32];
        let (sig, _) = sk.sign_prehash_recoverable(&digest);
        // Build the high-s twin of the signature, as a token might return it.
        let (r, s) = sig.split_scalars();
        let high = Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
        for raw in [sig.to_bytes(), high.to_bytes()] {
            let out = finish(&vk, &digest, &raw).unwrap();
            assert!(is_low_s(&out.s));
            let recovered = VerifyingKey::recover_from_prehash(
                &digest,
                &Signature::from_slice(&out.to_bytes_65()[..64]).unwrap(),
                RecoveryId::from_byte(out.recovery_id).unwrap(),
            )
            .unwrap();
            assert_eq!(recovered, vk);
        }
    }

    #[test]
    fn one_verification_accepts_exactly_the_valid_signatures_and_finds_v() {
        let sk = key();
        let vk = *sk.verifying_key();
        for i in 0..300u32 {
            let digest: [u8; 32] = sha3::Keccak256::digest(i.to_be_bytes()).into();
            let (sig, _) = sk.sign_prehash_recoverable(&digest);
            let out = finish(&vk, &digest, &sig.to_bytes()).unwrap();
            // What we accepted verifies with the crate's own verifier.
            let ours = Signature::from_slice(&out.to_bytes_65()[..64]).unwrap();
            vk.verify_prehash(&digest, &ours).unwrap();
            // The recovery id read off the verification is the one the
            // crate's own recovery needs to find this key.
            let id = RecoveryId::from_byte(out.recovery_id).unwrap();
            assert_eq!(
                VerifyingKey::recover_from_prehash(&digest, &ours, id).unwrap(),
                vk
            );
            let wrong = RecoveryId::from_byte(out.recovery_id ^ 1).unwrap();
            assert_ne!(
                VerifyingKey::recover_from_prehash(&digest, &ours, wrong).ok(),
                Some(vk)
            );
            // Any other digest, r or s is refused.
            let mut other = digest;
            other[(i % 32) as usize] ^= 1;
            assert_eq!(
                finish(&vk, &other, &sig.to_bytes()),
                Err(CryptoError::VerifyFailed)
            );
            let mut bent = sig.to_bytes();
            bent[(i % 64) as usize] ^= 0x40;
            assert!(finish(&vk, &digest, &bent).is_err());
        }
    }

    #[test]
    fn wrong_key_is_rejected() {
        let digest = [1u8; 32];
        let (sig, _) = key().sign_prehash_recoverable(&digest);
        let other = *SigningKey::from_slice(&[0x22; 32]).unwrap().verifying_key();
        assert_eq!(
            finish(&other, &digest, &sig.to_bytes()),
            Err(CryptoError::VerifyFailed)
        );
        assert_eq!(
            finish(&other, &digest[..31], &sig.to_bytes()),
            Err(CryptoError::BadDigestLength(31))
        );
        assert!(finish(&other, &digest, &[0u8; 12]).is_err());
    }
}
