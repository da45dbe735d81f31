//! PIV attestation: the device signs a certificate for a key it generated
//! with its attestation key (slot f9), whose own certificate Yubico issued.
//! A valid attestation shows the key was generated on that device (the
//! device never attests an imported key) and carries the key's PIN and
//! touch policies, the firmware version and the serial number in Yubico's
//! extensions (arc 1.3.6.1.4.1.41482.3).
//!
//! Checked here: the slot certificate is signed by the device certificate
//! (RSA PKCS#1 v1.5 with SHA-256, or ECDSA P-256 with SHA-256), names it as
//! issuer, certifies the public key the slot holds, and — when the operator
//! supplies Yubico's CA certificate — the device certificate is signed by
//! that CA.

use serde::Serialize;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};

use super::slot::{PinPolicy, TouchPolicy};

const OID_FIRMWARE: &str = "1.3.6.1.4.1.41482.3.3";
const OID_SERIAL: &str = "1.3.6.1.4.1.41482.3.7";
const OID_POLICY: &str = "1.3.6.1.4.1.41482.3.8";
const OID_FORM_FACTOR: &str = "1.3.6.1.4.1.41482.3.9";
const OID_RSA_SHA256: &str = "1.2.840.113549.1.1.11";
const OID_ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";

/// DigestInfo prefix for SHA-256 (RFC 8017, section 9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// What a verified attestation says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attestation {
    /// Always true for a verified attestation: the device attests only keys
    /// it generated.
    pub generated_on_device: bool,
    pub serial: Option<u32>,
    pub firmware: Option<String>,
    pub pin_policy: Option<PinPolicy>,
    pub touch_policy: Option<TouchPolicy>,
    pub form_factor: Option<u8>,
    /// SEC1 point of the attested key.
    pub public_key: Vec<u8>,
    pub device_certificate_subject: String,
    /// Whether the device certificate was checked against a CA the
    /// operator supplied.
    pub chain_to_ca: bool,
}

/// Read a DER certificate, or a PEM one.
pub fn parse_certificate(bytes: &[u8]) -> Result<Certificate, String> {
    if let Ok(text) = std::str::from_utf8(bytes)
        && text.contains("-----BEGIN CERTIFICATE-----")
    {
        use x509_cert::der::DecodePem;
        return Certificate::from_pem(text.as_bytes()).map_err(|e| format!("PEM certificate: {e}"));
    }
    Certificate::from_der(bytes).map_err(|e| format!("DER certificate: {e}"))
}

/// A certificate's subject (RFC 4514 form) and SPKI (DER).
pub fn subject_and_spki(der: &[u8]) -> Result<(String, Vec<u8>), String> {
    let c = Certificate::from_der(der).map_err(|e| format!("certificate: {e}"))?;
    let spki = c
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| e.to_string())?;
    Ok((c.tbs_certificate.subject.to_string(), spki))
}

/// Check that `cert` was signed by the key of `issuer`.
fn check_signature(cert: &Certificate, issuer: &Certificate) -> Result<(), String> {
    let tbs = cert.tbs_certificate.to_der().map_err(|e| e.to_string())?;
    let sig = cert
        .signature
        .as_bytes()
        .ok_or("signature is not a whole number of bytes")?;
    let alg = cert.signature_algorithm.oid.to_string();
    let issuer_spki = issuer
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| e.to_string())?;
    match alg.as_str() {
        OID_RSA_SHA256 => {
            use rsa::pkcs8::DecodePublicKey;
            let key = rsa::RsaPublicKey::from_public_key_der(&issuer_spki)
                .map_err(|e| format!("issuer key is not RSA: {e}"))?;
            let scheme = rsa::Pkcs1v15Sign {
                hash_len: Some(32),
                prefix: SHA256_DIGEST_INFO.to_vec().into_boxed_slice(),
            };
            key.verify(scheme, &Sha256::digest(&tbs), sig)
                .map_err(|_| "RSA signature does not verify".to_string())
        }
        OID_ECDSA_SHA256 => {
            use p256::ecdsa::signature::Verifier;
            use p256::pkcs8::DecodePublicKey;
            let key = p256::ecdsa::VerifyingKey::from_public_key_der(&issuer_spki)
                .map_err(|e| format!("issuer key is not P-256: {e}"))?;
            let sig = p256::ecdsa::Signature::from_der(sig)
                .map_err(|e| format!("ECDSA signature: {e}"))?;
            key.verify(&tbs, &sig)
                .map_err(|_| "ECDSA signature does not verify".to_string())
        }
        other => Err(format!("unsupported signature algorithm {other}")),
    }
}

fn extension<'a>(cert: &'a Certificate, oid: &str) -> Option<&'a [u8]> {
    cert.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id.to_string() == oid)
        .map(|e| e.extn_value.as_bytes())
}

/// Verify `slot_cert` (the answer to ATTEST) against `device_cert` (the
/// certificate in slot f9), optionally `ca`, and the public key the slot is
/// known to hold (`expected_key`, SEC1).
pub fn verify(
    slot_cert: &[u8],
    device_cert: &[u8],
    ca: Option<&[u8]>,
    expected_key: Option<&[u8]>,
) -> Result<Attestation, String> {
    let slot =
        Certificate::from_der(slot_cert).map_err(|e| format!("attestation certificate: {e}"))?;
    let device = parse_certificate(device_cert)
        .map_err(|e| format!("device attestation certificate: {e}"))?;
    if slot.tbs_certificate.issuer != device.tbs_certificate.subject {
        return Err(format!(
            "the attestation was issued by {:?}, not by the device certificate {:?}",
            slot.tbs_certificate.issuer.to_string(),
            device.tbs_certificate.subject.to_string()
        ));
    }
    check_signature(&slot, &device).map_err(|e| format!("attestation certificate: {e}"))?;
    let chain_to_ca = match ca {
        Some(ca) => {
            let ca = parse_certificate(ca).map_err(|e| format!("CA certificate: {e}"))?;
            if device.tbs_certificate.issuer != ca.tbs_certificate.subject {
                return Err("the device certificate was not issued by the given CA".into());
            }
            check_signature(&device, &ca).map_err(|e| format!("device certificate: {e}"))?;
            true
        }
        None => false,
    };
    let spki = slot
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| e.to_string())?;
    let public_key = super::card::spki_p256_point(&spki).ok_or("the attested key is not P-256")?;
    if let Some(k) = expected_key
        && k != public_key.as_slice()
    {
        return Err("the attested key is not the key in the slot".into());
    }
    let firmware = extension(&slot, OID_FIRMWARE)
        .filter(|v| v.len() == 3)
        .map(|v| format!("{}.{}.{}", v[0], v[1], v[2]));
    let serial = extension(&slot, OID_SERIAL).and_then(|v| {
        // A DER INTEGER (positive, at most 4 value bytes after a sign byte).
        let n = x509_cert::der::asn1::Uint::from_der(v).ok()?;
        let b = n.as_bytes();
        (b.len() <= 4).then(|| b.iter().fold(0u32, |acc, x| (acc << 8) | *x as u32))
    });
    let (pin_policy, touch_policy) = match extension(&slot, OID_POLICY) {
        Some(&[p, t, ..]) => (
            match p {
                1 => Some(PinPolicy::Never),
                2 => Some(PinPolicy::Once),
                3 => Some(PinPolicy::Always),
                _ => None,
            },
            match t {
                1 => Some(TouchPolicy::Never),
                2 => Some(TouchPolicy::Always),
                3 => Some(TouchPolicy::Cached),
                _ => None,
            },
        ),
        _ => (None, None),
    };
    let form_factor = extension(&slot, OID_FORM_FACTOR).and_then(|v| v.first().copied());
    Ok(Attestation {
        generated_on_device: true,
        serial,
        firmware,
        pin_policy,
        touch_policy,
        form_factor,
        public_key,
        device_certificate_subject: device.tbs_certificate.subject.to_string(),
        chain_to_ca,
    })
}

#[cfg(test)]
mod tests {
    //! No device here attests, so these chains are synthesised in the
    //! format Yubico documents for PIV attestation: a device certificate
    //! (slot f9) signing a slot certificate that carries the firmware,
    //! serial and policy extensions.

    use super::*;
    use p256::ecdsa::SigningKey;
    use x509_cert::der::asn1::{BitString, ObjectIdentifier, OctetString, UtcTime};
    use x509_cert::ext::Extension;
    use x509_cert::name::Name;
    use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
    use x509_cert::time::{Time, Validity};
    use x509_cert::{TbsCertificate, Version};

    enum Issuer<'a> {
        Ec(&'a SigningKey),
        Rsa(&'a rsa::RsaPrivateKey),
    }

    fn spki_of_ec(k: &SigningKey) -> SubjectPublicKeyInfoOwned {
        use p256::pkcs8::EncodePublicKey;
        let der = k.verifying_key().to_public_key_der().unwrap();
        SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).unwrap()
    }

    fn spki_of_rsa(k: &rsa::RsaPrivateKey) -> SubjectPublicKeyInfoOwned {
        use rsa::pkcs8::EncodePublicKey;
        let der = k.to_public_key().to_public_key_der().unwrap();
        SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).unwrap()
    }

    fn ext(oid: &str, value: &[u8]) -> Extension {
        Extension {
            extn_id: ObjectIdentifier::new_unwrap(oid),
            critical: false,
            extn_value: OctetString::new(value.to_vec()).unwrap(),
        }
    }

    fn cert(
        subject: &str,
        issuer_name: &str,
        spki: SubjectPublicKeyInfoOwned,
        extensions: Vec<Extension>,
        issuer: Issuer<'_>,
    ) -> Vec<u8> {
        let oid = match issuer {
            Issuer::Ec(_) => OID_ECDSA_SHA256,
            Issuer::Rsa(_) => OID_RSA_SHA256,
        };
        let alg = AlgorithmIdentifierOwned {
            oid: ObjectIdentifier::new_unwrap(oid),
            parameters: None,
        };
        let t = |s| {
            Time::UtcTime(UtcTime::from_unix_duration(std::time::Duration::from_secs(s)).unwrap())
        };
        let tbs = TbsCertificate {
            version: Version::V3,
            serial_number: x509_cert::serial_number::SerialNumber::new(&[1, 2, 3]).unwrap(),
            signature: alg.clone(),
            issuer: issuer_name.parse::<Name>().unwrap(),
            validity: Validity {
                not_before: t(1_600_000_000),
                not_after: t(2_000_000_000),
            },
            subject: subject.parse::<Name>().unwrap(),
            subject_public_key_info: spki,
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: (!extensions.is_empty()).then_some(extensions),
        };
        let body = tbs.to_der().unwrap();
        let sig = match issuer {
            Issuer::Ec(k) => {
                use p256::ecdsa::signature::Signer;
                let s: p256::ecdsa::Signature = k.sign(&body);
                s.to_der().as_bytes().to_vec()
            }
            Issuer::Rsa(k) => {
                let scheme = rsa::Pkcs1v15Sign {
                    hash_len: Some(32),
                    prefix: SHA256_DIGEST_INFO.to_vec().into_boxed_slice(),
                };
                k.sign(scheme, &Sha256::digest(&body)).unwrap()
            }
        };
        Certificate {
            tbs_certificate: tbs,
            signature_algorithm: alg,
            signature: BitString::from_bytes(&sig).unwrap(),
        }
        .to_der()
        .unwrap()
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).unwrap()
    }

    fn serial_der(n: u32) -> Vec<u8> {
        x509_cert::der::asn1::Uint::new(&n.to_be_bytes())
            .unwrap()
            .to_der()
            .unwrap()
    }

    fn slot_exts() -> Vec<Extension> {
        vec![
            ext(OID_FIRMWARE, &[5, 4, 3]),
            ext(OID_SERIAL, &serial_der(21_000_001)),
            ext(OID_POLICY, &[2, 3]),
            ext(OID_FORM_FACTOR, &[0x81]),
        ]
    }

    const DEVICE: &str = "CN=Yubico PIV Attestation";
    const SLOT: &str = "CN=YubiKey PIV Attestation 9c";
    const CA: &str = "CN=Test PIV Root CA";

    #[test]
    fn ec_chain_verifies_and_reports_the_extensions() {
        let (ca, device, slot) = (key(1), key(2), key(3));
        let ca_cert = cert(CA, CA, spki_of_ec(&ca), vec![], Issuer::Ec(&ca));
        let device_cert = cert(DEVICE, CA, spki_of_ec(&device), vec![], Issuer::Ec(&ca));
        let slot_cert = cert(
            SLOT,
            DEVICE,
            spki_of_ec(&slot),
            slot_exts(),
            Issuer::Ec(&device),
        );
        let pk = slot
            .verifying_key()
            .to_sec1_point(false)
            .as_bytes()
            .to_vec();

        let a = verify(&slot_cert, &device_cert, Some(&ca_cert), Some(&pk)).unwrap();
        assert!(a.generated_on_device && a.chain_to_ca);
        assert_eq!(a.serial, Some(21_000_001));
        assert_eq!(a.firmware.as_deref(), Some("5.4.3"));
        assert_eq!(a.pin_policy, Some(PinPolicy::Once));
        assert_eq!(a.touch_policy, Some(TouchPolicy::Cached));
        assert_eq!(a.form_factor, Some(0x81));
        assert_eq!(a.public_key, pk);
        assert_eq!(a.device_certificate_subject, DEVICE);

        // Without a CA, the chain stops at the device certificate.
        let a = verify(&slot_cert, &device_cert, None, None).unwrap();
        assert!(!a.chain_to_ca);
        // PEM device certificates are accepted too.
        let pem = x509_cert::der::pem::encode_string(
            "CERTIFICATE",
            x509_cert::der::pem::LineEnding::LF,
            &device_cert,
        )
        .unwrap();
        verify(&slot_cert, pem.as_bytes(), None, None).unwrap();
    }

    #[test]
    fn rsa_device_certificate_verifies() {
        use p256_v013::elliptic_curve::rand_core::OsRng;
        let device = rsa::RsaPrivateKey::new(&mut OsRng, 2048).unwrap();
        let slot = key(4);
        let device_cert = cert(
            DEVICE,
            CA,
            spki_of_rsa(&device),
            vec![],
            Issuer::Rsa(&device),
        );
        let slot_cert = cert(
            SLOT,
            DEVICE,
            spki_of_ec(&slot),
            slot_exts(),
            Issuer::Rsa(&device),
        );
        let a = verify(&slot_cert, &device_cert, None, None).unwrap();
        assert_eq!(a.serial, Some(21_000_001));
        // A flipped bit in the signed part is caught.
        let mut bad = slot_cert.clone();
        let i = bad.len() / 3;
        bad[i] ^= 1;
        assert!(verify(&bad, &device_cert, None, None).is_err());
    }

    #[test]
    fn forgeries_are_refused() {
        let (ca, device, slot, other) = (key(1), key(2), key(3), key(9));
        let device_cert = cert(DEVICE, CA, spki_of_ec(&device), vec![], Issuer::Ec(&ca));
        // Signed by another key under the device's name.
        let forged = cert(
            SLOT,
            DEVICE,
            spki_of_ec(&slot),
            slot_exts(),
            Issuer::Ec(&other),
        );
        let e = verify(&forged, &device_cert, None, None).unwrap_err();
        assert!(e.contains("does not verify"), "{e}");
        // Issued by someone else.
        let stranger = cert(
            SLOT,
            "CN=Someone",
            spki_of_ec(&slot),
            slot_exts(),
            Issuer::Ec(&device),
        );
        let e = verify(&stranger, &device_cert, None, None).unwrap_err();
        assert!(e.contains("not by the device certificate"), "{e}");
        // For a different key than the slot holds.
        let good = cert(
            SLOT,
            DEVICE,
            spki_of_ec(&slot),
            slot_exts(),
            Issuer::Ec(&device),
        );
        let pk_other = other
            .verifying_key()
            .to_sec1_point(false)
            .as_bytes()
            .to_vec();
        let e = verify(&good, &device_cert, None, Some(&pk_other)).unwrap_err();
        assert!(e.contains("not the key in the slot"), "{e}");
        // A device certificate from another CA.
        let other_ca = cert(CA, CA, spki_of_ec(&other), vec![], Issuer::Ec(&other));
        let e = verify(&good, &device_cert, Some(&other_ca), None).unwrap_err();
        assert!(e.contains("device certificate"), "{e}");
        // Garbage.
        assert!(verify(b"junk", &device_cert, None, None).is_err());
        assert!(verify(&good, b"junk", None, None).is_err());
    }
}
