//! Ed25519 (pure EdDSA, RFC 8032): 64-byte signatures over the message
//! itself. Verified against the public key before release.

use ed25519_dalek::pkcs8::KeypairBytes;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use pkcs8::der::{self, Decode};
use pkcs8::{ObjectIdentifier, PrivateKeyInfoRef};
use zeroize::Zeroizing;

use super::CryptoError;

/// id-Ed25519 (RFC 8410).
const ED25519_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

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

/// The private key (the 32-byte seed of RFC 8032) in a PKCS#8 PEM document,
/// `-----BEGIN PRIVATE KEY-----`, as `openssl genpkey -algorithm ed25519`
/// writes it (version 1) or with its public key (version 2, RFC 8410; the
/// public key must match). Everything decoded is wiped: the DER in a
/// zeroizing buffer, the key in types that zeroize on drop.
pub fn seed_from_pkcs8_pem(pem: &str) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let bad = |m: String| CryptoError::BadPrivateKey(m);
    let mut buf = Zeroizing::new(vec![0u8; pem.len()]);
    let (label, der) = der::pem::decode(pem.as_bytes(), &mut buf)
        .map_err(|e| bad(format!("not a valid PEM document ({e})")))?;
    match label {
        "PRIVATE KEY" => {}
        "ENCRYPTED PRIVATE KEY" => {
            return Err(bad(
                "the PEM holds an encrypted PKCS#8 key: decrypt it straight into the import through a pipe \
                 (`openssl pkey -in KEY.pem | tradeward keys import --type ed25519 ...`), never into a file"
                    .into(),
            ));
        }
        other => {
            return Err(bad(format!(
                "a PEM {other:?} document is not a PKCS#8 private key (want -----BEGIN PRIVATE KEY-----)"
            )));
        }
    }
    let info = PrivateKeyInfoRef::from_der(der)
        .map_err(|e| bad(format!("not a PKCS#8 private key ({e})")))?;
    if info.algorithm.oid != ED25519_OID {
        let params = info
            .algorithm
            .parameters
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        return Err(bad(format!(
            "the PEM holds {}, not an Ed25519 key",
            algorithm_name(info.algorithm.oid, params)
        )));
    }
    let pair = KeypairBytes::try_from(info)
        .map_err(|e| bad(format!("malformed Ed25519 PKCS#8 key ({e})")))?;
    let key = SigningKey::try_from(&pair).map_err(|_| {
        bad("the PKCS#8 key's public key does not belong to its private key".into())
    })?;
    Ok(Zeroizing::new(key.to_bytes()))
}

/// What a PKCS#8 algorithm identifier names, for refusals.
fn algorithm_name(oid: ObjectIdentifier, params: Option<ObjectIdentifier>) -> String {
    let curve = match params.map(|p| p.to_string()).as_deref() {
        Some("1.2.840.10045.3.1.7") => "P-256".to_string(),
        Some("1.3.132.0.10") => "secp256k1".to_string(),
        Some("1.3.132.0.34") => "P-384".to_string(),
        Some("1.3.132.0.35") => "P-521".to_string(),
        Some(other) => format!("curve {other}"),
        None => "unnamed curve".to_string(),
    };
    match oid.to_string().as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => "an RSA key".into(),
        "1.2.840.10045.2.1" => format!("an EC key ({curve})"),
        "1.3.101.110" => "an X25519 key".into(),
        "1.3.101.111" => "an X448 key".into(),
        "1.3.101.113" => "an Ed448 key".into(),
        "1.2.840.10040.4.1" => "a DSA key".into(),
        other => format!("a key of algorithm {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032, section 7.1, test 1.
    const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    fn pem(der: &[u8], label: &str) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }

    /// PKCS#8 v1 for Ed25519: the fixed prefix RFC 8410 shows, then the seed.
    fn v1(seed: &[u8]) -> Vec<u8> {
        let mut der = hex::decode("302e020100300506032b657004220420").unwrap();
        der.extend_from_slice(seed);
        der
    }

    #[test]
    fn pkcs8_v1_and_v2_give_the_seed() {
        let seed = hex::decode(SEED).unwrap();
        let got = seed_from_pkcs8_pem(&pem(&v1(&seed), "PRIVATE KEY")).unwrap();
        assert_eq!(got.as_slice(), seed.as_slice());
        let key = SigningKey::from_bytes(&got);
        assert_eq!(hex::encode(key.verifying_key().to_bytes()), PUBLIC);
        // Version 2, with the public key, as ed25519-dalek writes it.
        use pkcs8::{EncodePrivateKey, LineEnding};
        let v2 = key.to_pkcs8_pem(LineEnding::CRLF).unwrap();
        assert_eq!(
            seed_from_pkcs8_pem(&v2).unwrap().as_slice(),
            seed.as_slice()
        );
    }

    #[test]
    fn other_documents_and_algorithms_are_refused() {
        let seed = hex::decode(SEED).unwrap();
        let err = |pem: &str| seed_from_pkcs8_pem(pem).unwrap_err().to_string();
        assert!(err(&pem(&v1(&seed), "PUBLIC KEY")).contains("not a PKCS#8 private key"));
        assert!(err(&pem(&v1(&seed), "ENCRYPTED PRIVATE KEY")).contains("encrypted"));
        assert!(
            err("-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n")
                .contains("not a valid PEM")
        );
        assert!(err(&pem(&v1(&seed)[..40], "PRIVATE KEY")).contains("PKCS#8"));
        // X25519 (1.3.101.110) has the same layout under another OID.
        let mut x = v1(&seed);
        x[11] = 0x6e;
        assert!(
            err(&pem(&x, "PRIVATE KEY")).contains("X25519"),
            "{}",
            err(&pem(&x, "PRIVATE KEY"))
        );
        // A seed of the wrong length inside a well-formed wrapper.
        let mut short = hex::decode("302d020100300506032b657004210420").unwrap();
        short.extend_from_slice(&seed[..31]);
        assert!(seed_from_pkcs8_pem(&pem(&short, "PRIVATE KEY")).is_err());
    }
}
