//! Smoke test of the virtual card through the unmodified `yubikey` crate.
//!
//! Start the card first, then run with the printed environment:
//!
//! ```sh
//! eval "$(scripts/virtual-piv.sh start /tmp/vpiv)"
//! cargo run --manifest-path tests/virtual-piv/Cargo.toml --example smoke -- 21000001
//! scripts/virtual-piv.sh stop /tmp/vpiv
//! ```
//!
//! The core path (open by serial, PIN, default management key, P-256 key in
//! 9c, sign a SHA-256 digest, verify with `p256`) must work: the program
//! exits non-zero otherwise. Then it tries the rest of what tradeward's
//! backend may use and prints, per operation, whether it works. It changes
//! PIN, PUK and management key and puts them back, but leaves keys and
//! certificates behind: run it against a freshly started card.

use std::str::FromStr;
use std::time::Duration;

use p256::ecdsa::{signature::hazmat::PrehashVerifier, Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use x509_cert::{
    name::Name, serial_number::SerialNumber, spki::SubjectPublicKeyInfoOwned, time::Validity,
};
use yubikey::{
    certificate::{CertInfo, Certificate},
    piv::{self, AlgorithmId, RetiredSlotId, SlotId},
    MgmKey, MgmType, PinPolicy, Serial, TouchPolicy, YubiKey,
};

const PIN: &[u8] = b"123456";
const PUK: &[u8] = b"12345678";

type Outcome = Result<String, String>;

struct Report {
    rows: Vec<(String, Outcome)>,
}

impl Report {
    fn record(&mut self, name: &str, outcome: Outcome) -> bool {
        match &outcome {
            Ok(detail) => println!("[ OK ] {name}{}", suffix(detail)),
            Err(detail) => println!("[FAIL] {name}: {detail}"),
        }
        let ok = outcome.is_ok();
        self.rows.push((name.to_string(), outcome));
        ok
    }
}

fn suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    }
}

fn e<E: std::fmt::Debug>(err: E) -> String {
    format!("{err:?}")
}

fn verifying_key(spki: &SubjectPublicKeyInfoOwned) -> Result<VerifyingKey, String> {
    VerifyingKey::from_sec1_bytes(spki.subject_public_key.raw_bytes()).map_err(e)
}

/// Verifies the PIN right before signing (9c has PIN policy "always"), signs
/// the digest and checks the DER signature against the public key.
fn sign_and_verify(yk: &mut YubiKey, slot: SlotId, key: &VerifyingKey, digest: &[u8]) -> Outcome {
    yk.verify_pin(PIN)
        .map_err(|err| format!("verify_pin: {err:?}"))?;
    let der = piv::sign_data(yk, digest, AlgorithmId::EccP256, slot)
        .map_err(|err| format!("sign_data: {err:?}"))?;
    let signature = Signature::from_der(&der).map_err(|err| format!("DER signature: {err:?}"))?;
    key.verify_prehash(digest, &signature)
        .map_err(|err| format!("signature does not verify: {err:?}"))?;
    Ok(format!("{}-byte DER signature verified", der.len()))
}

fn generate_p256(yk: &mut YubiKey, slot: SlotId) -> Result<VerifyingKey, String> {
    let spki = piv::generate(
        yk,
        slot,
        AlgorithmId::EccP256,
        PinPolicy::Default,
        TouchPolicy::Default,
    )
    .map_err(|err| format!("generate: {err:?}"))?;
    verifying_key(&spki)
}

fn main() {
    let serial: u32 = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("VIRTUAL_PIV_SERIAL").ok())
        .map(|s| s.parse().expect("serial must be a number"))
        .unwrap_or(21_000_001);
    let mut report = Report { rows: Vec::new() };
    let digest = Sha256::digest(b"tradeward virtual PIV smoke test").to_vec();

    // ---- the core path -------------------------------------------------
    let mut yk = match YubiKey::open_by_serial(Serial(serial)) {
        Ok(yk) => yk,
        Err(err) => {
            report.record("YubiKey::open_by_serial", Err(e(err)));
            std::process::exit(1);
        }
    };
    report.record(
        "YubiKey::open_by_serial",
        Ok(format!(
            "reader {:?}, version {}, serial {}",
            yk.name(),
            yk.version(),
            yk.serial()
        )),
    );
    let mut core_ok = true;
    core_ok &= report.record(
        "YubiKey::verify_pin(123456)",
        yk.verify_pin(PIN).map(|_| String::new()).map_err(e),
    );
    core_ok &= report.record(
        "YubiKey::authenticate(MgmKey::default())",
        yk.authenticate(MgmKey::default())
            .map(|_| String::new())
            .map_err(e),
    );
    let key_9c = generate_p256(&mut yk, SlotId::Signature);
    core_ok &= report.record(
        "piv::generate(9c, EccP256)",
        key_9c
            .as_ref()
            .map(|_| "65-byte uncompressed point".to_string())
            .map_err(Clone::clone),
    );
    if let Ok(key) = &key_9c {
        core_ok &= report.record(
            "piv::sign_data(9c, SHA-256 digest) + p256 verify",
            sign_and_verify(&mut yk, SlotId::Signature, key, &digest),
        );
    }
    if !core_ok {
        println!("core path failed");
        std::process::exit(1);
    }

    // ---- everything else -----------------------------------------------
    report.record(
        "YubiKey::get_pin_retries",
        yk.get_pin_retries()
            .map(|n| format!("{n} retries"))
            .map_err(e),
    );
    // get_pin_retries re-selects, which drops the PIN and management-key
    // authentication.
    let _ = yk.verify_pin(PIN);
    let _ = yk.authenticate(MgmKey::default());

    for (name, slot) in [
        ("9a", SlotId::Authentication),
        ("9d", SlotId::KeyManagement),
        ("9e", SlotId::CardAuthentication),
    ] {
        let outcome = generate_p256(&mut yk, slot)
            .and_then(|key| sign_and_verify(&mut yk, slot, &key, &digest));
        report.record(&format!("generate + sign P-256 in {name}"), outcome);
    }

    let retired = [
        RetiredSlotId::R1,
        RetiredSlotId::R2,
        RetiredSlotId::R3,
        RetiredSlotId::R4,
        RetiredSlotId::R5,
        RetiredSlotId::R6,
        RetiredSlotId::R7,
        RetiredSlotId::R8,
        RetiredSlotId::R9,
        RetiredSlotId::R10,
        RetiredSlotId::R11,
        RetiredSlotId::R12,
        RetiredSlotId::R13,
        RetiredSlotId::R14,
        RetiredSlotId::R15,
        RetiredSlotId::R16,
        RetiredSlotId::R17,
        RetiredSlotId::R18,
        RetiredSlotId::R19,
        RetiredSlotId::R20,
    ];
    let mut retired_failures = Vec::new();
    for r in retired {
        let slot = SlotId::Retired(r);
        let outcome = generate_p256(&mut yk, slot)
            .and_then(|key| sign_and_verify(&mut yk, slot, &key, &digest));
        if let Err(err) = outcome {
            retired_failures.push(format!("{:02x}: {err}", u8::from(slot)));
        }
    }
    report.record(
        "generate + sign P-256 in retired slots 82..95",
        if retired_failures.is_empty() {
            Ok("all 20".into())
        } else {
            Err(retired_failures.join("; "))
        },
    );

    report.record(
        "piv::generate(82, EccP384)",
        piv::generate(
            &mut yk,
            SlotId::Retired(RetiredSlotId::R1),
            AlgorithmId::EccP384,
            PinPolicy::Default,
            TouchPolicy::Default,
        )
        .map(|spki| format!("{}-byte point", spki.subject_public_key.raw_bytes().len()))
        .map_err(e),
    );
    report.record(
        "Ed25519",
        Err("not available: yubikey 0.8.0 has no Ed25519 AlgorithmId, and piv-authenticator 0.7.0 does not implement it".into()),
    );
    report.record(
        "PinPolicy::Never / TouchPolicy::Never on generate",
        piv::generate(
            &mut yk,
            SlotId::Retired(RetiredSlotId::R2),
            AlgorithmId::EccP256,
            PinPolicy::Never,
            TouchPolicy::Never,
        )
        .map(|_| "accepted (the applet ignores policies)".into())
        .map_err(e),
    );

    // Certificates: a self-signed one made with the card's 9a key, read back.
    let _ = yk.verify_pin(PIN);
    let _ = yk.authenticate(MgmKey::default());
    let cert_outcome = (|| -> Result<String, String> {
        let spki = piv::generate(
            &mut yk,
            SlotId::Authentication,
            AlgorithmId::EccP256,
            PinPolicy::Default,
            TouchPolicy::Default,
        )
        .map_err(e)?;
        yk.verify_pin(PIN).map_err(e)?;
        let subject = Name::from_str("CN=tradeward virtual PIV smoke test").map_err(e)?;
        let validity = Validity::from_now(Duration::from_secs(86_400)).map_err(e)?;
        let serial = SerialNumber::from(42u32);
        let cert = Certificate::generate_self_signed::<_, p256::NistP256>(
            &mut yk,
            SlotId::Authentication,
            serial,
            validity,
            subject,
            spki,
            |_builder| Ok(()),
        )
        .map_err(|err| format!("generate_self_signed: {err:?}"))?;
        let back = Certificate::read(&mut yk, SlotId::Authentication)
            .map_err(|err| format!("read: {err:?}"))?;
        if back.cert != cert.cert {
            return Err("certificate read back differs".into());
        }
        Ok(format!("subject {:?}", back.subject()))
    })();
    report.record(
        "Certificate::generate_self_signed(9a) + Certificate::read",
        cert_outcome,
    );
    let _ = yk.authenticate(MgmKey::default());
    let cert_write = (|| -> Result<String, String> {
        let cert = Certificate::read(&mut yk, SlotId::Authentication).map_err(e)?;
        cert.write(
            &mut yk,
            SlotId::Retired(RetiredSlotId::R20),
            CertInfo::Uncompressed,
        )
        .map_err(e)?;
        let back = Certificate::read(&mut yk, SlotId::Retired(RetiredSlotId::R20)).map_err(e)?;
        if back.cert != cert.cert {
            return Err("certificate read back differs".into());
        }
        Ok(String::new())
    })();
    report.record("Certificate::write(95) + read", cert_write);
    report.record(
        "YubiKey::piv_keys (Key::list)",
        yk.piv_keys()
            .map(|keys| {
                format!(
                    "{} slots with certificates: {:?}",
                    keys.len(),
                    keys.iter().map(|k| k.slot()).collect::<Vec<_>>()
                )
            })
            .map_err(e),
    );

    report.record(
        "YubiKey::chuid",
        yk.chuid().map(|c| format!("GUID {}", c.uuid())).map_err(e),
    );
    report.record(
        "YubiKey::cccid",
        yk.cccid()
            .map(|c| {
                format!(
                    "card id {:02x?}",
                    c.card_id().map(|id| id.0).unwrap_or_default()
                )
            })
            .map_err(e),
    );

    // PIN / PUK changes, put back afterwards.
    report.record(
        "YubiKey::change_pin",
        yk.change_pin(PIN, b"654321")
            .and_then(|_| yk.verify_pin(b"654321"))
            .and_then(|_| yk.change_pin(b"654321", PIN))
            .and_then(|_| yk.verify_pin(PIN))
            .map(|_| "123456 -> 654321 -> 123456".into())
            .map_err(e),
    );
    report.record(
        "YubiKey::verify_pin(wrong)",
        match yk.verify_pin(b"000000") {
            Err(yubikey::Error::WrongPin { tries }) => Ok(format!("WrongPin {{ tries: {tries} }}")),
            other => Err(format!("unexpected: {other:?}")),
        },
    );
    let _ = yk.verify_pin(PIN);
    report.record(
        "YubiKey::change_puk",
        yk.change_puk(PUK, b"87654321")
            .and_then(|_| yk.change_puk(b"87654321", PUK))
            .map(|_| "12345678 -> 87654321 -> 12345678".into())
            .map_err(e),
    );

    // A new 3DES management key, then back to the default.
    let new_key = MgmKey::new([
        0x21, 0x43, 0x65, 0x87, 0xA9, 0xCB, 0xED, 0x0F, 0x10, 0x32, 0x54, 0x76, 0x98, 0xBA, 0xDC,
        0xFE, 0x13, 0x57, 0x9B, 0xDF, 0x02, 0x46, 0x8A, 0xCE,
    ])
    .expect("not a weak key");
    let _ = yk.authenticate(MgmKey::default());
    report.record(
        "MgmKey::set_manual (new 3DES key)",
        new_key
            .set_manual(&mut yk, false)
            .and_then(|_| yk.authenticate(new_key.clone()))
            .map(|_| "authenticated with the new key".into())
            .map_err(e),
    );
    report.record(
        "authenticate(old default key) after change",
        match yk.authenticate(MgmKey::default()) {
            Err(err) => Ok(format!("rejected as expected: {err:?}")),
            Ok(()) => Err("the old key still works".into()),
        },
    );
    let _ = yk.authenticate(new_key.clone());
    report.record(
        "MgmKey::set_default",
        MgmKey::set_default(&mut yk)
            .and_then(|_| yk.authenticate(MgmKey::default()))
            .map(|_| String::new())
            .map_err(e),
    );

    // PIN-protected management key (yubikey-manager's scheme: key in the
    // PIN-protected object 5FC109, flag in admin data 5FFF00).
    let protected_key = MgmKey::new([
        0x3C, 0x5A, 0x78, 0x96, 0xB4, 0xD2, 0xF0, 0x1E, 0x2D, 0x4B, 0x69, 0x87, 0xA5, 0xC3, 0xE1,
        0x0F, 0x1F, 0x3D, 0x5B, 0x79, 0x97, 0xB5, 0xD3, 0xF1,
    ])
    .expect("not a weak key");
    let _ = yk.verify_pin(PIN);
    let _ = yk.authenticate(MgmKey::default());
    report.record(
        "MgmKey::set_protected",
        protected_key
            .set_protected(&mut yk)
            .map(|_| String::new())
            .map_err(e),
    );
    report.record(
        "YubiKey::config",
        yk.config()
            .map(|c| {
                format!(
                    "mgm_type {:?}, protected_data_available {}",
                    c.mgm_type, c.protected_data_available
                )
            })
            .and_then(|detail| {
                if detail.contains(&format!("{:?}", MgmType::Protected)) {
                    Ok(detail)
                } else {
                    Err(yubikey::Error::GenericError)
                }
            })
            .map_err(e),
    );
    // Re-open (new session: PIN and management key dropped), then recover.
    drop(yk);
    let mut yk = YubiKey::open_by_serial(Serial(serial)).expect("re-open");
    report.record(
        "MgmKey::get_protected without PIN",
        match MgmKey::get_protected(&mut yk) {
            Err(err) => Ok(format!("refused as expected: {err:?}")),
            Ok(_) => Err("read the protected key without the PIN".into()),
        },
    );
    report.record(
        "MgmKey::get_protected after verify_pin + authenticate",
        yk.verify_pin(PIN)
            .and_then(|_| MgmKey::get_protected(&mut yk))
            .and_then(|key| yk.authenticate(key))
            .map(|_| "recovered key authenticates".into())
            .map_err(e),
    );
    let _ = MgmKey::set_default(&mut yk);

    // Raw object access (fetch_object / save_object).
    let _ = yk.authenticate(MgmKey::default());
    report.record(
        "YubiKey::save_object + fetch_object (5FC10D, retired cert 1)",
        {
            let mut data = vec![0x70, 0x03, 1, 2, 3, 0x71, 0x01, 0x00, 0xFE, 0x00];
            yk.save_object(0x5F_C10D, &mut data)
                .and_then(|_| yk.fetch_object(0x5F_C10D))
                .map(|back| format!("{} bytes back", back.len()))
                .map_err(e)
        },
    );
    report.record(
        "save_object + fetch_object(5FFF15, Yubico vendor object)",
        {
            let mut data = vec![0x88, 0x03, 0x89, 0x01, 0x42];
            yk.save_object(0x5F_FF15, &mut data)
                .and_then(|_| yk.fetch_object(0x5F_FF15))
                .map_err(e)
                .and_then(|back| {
                    if back.as_slice() == data.as_slice() {
                        Ok("round trip".to_string())
                    } else {
                        Err(format!("read back {:02x?}", back.as_slice()))
                    }
                })
        },
    );
    drop(yk);
    let mut yk = YubiKey::open_by_serial(Serial(serial)).expect("re-open");
    report.record(
        "save_object(5FFF15) without management key",
        match yk.save_object(0x5F_FF15, &mut [0x88, 0x00]) {
            Err(err) => Ok(format!("refused as expected: {err:?}")),
            Ok(()) => Err("written without authentication".into()),
        },
    );
    let _ = yk.authenticate(MgmKey::default());
    report.record(
        "fetch_object(5FC10C, key history)",
        match yk.fetch_object(0x5F_C10C) {
            Err(yubikey::Error::NotFound) => Ok("NotFound, as intended".into()),
            other => Err(format!("{other:?}")),
        },
    );

    // Not expected to work.
    report.record(
        "piv::metadata(9c) [not expected]",
        piv::metadata(&mut yk, SlotId::Signature)
            .map(|m| format!("{m:?}"))
            .map_err(e),
    );
    report.record(
        "piv::attest(9c) [not expected]",
        piv::attest(&mut yk, SlotId::Signature)
            .map(|b| format!("{} bytes", b.len()))
            .map_err(e),
    );

    // Keys survive a re-open; PIN state does not.
    drop(yk);
    let mut yk = YubiKey::open_by_serial(Serial(serial)).expect("re-open");
    let key = key_9c.expect("checked above");
    report.record(
        "sign with 9c without verify_pin after re-open",
        match piv::sign_data(&mut yk, &digest, AlgorithmId::EccP256, SlotId::Signature) {
            Err(err) => Ok(format!("refused as expected: {err:?}")),
            Ok(_) => Err("signed without the PIN".into()),
        },
    );
    report.record(
        "sign with 9c after re-open (key persisted)",
        sign_and_verify(&mut yk, SlotId::Signature, &key, &digest),
    );

    // PIN policies as the applet applies them (it ignores the policy given
    // at generation): 9c needs the PIN right before every signature, the
    // other slots once per session, 9e never.
    report.record(
        "9c: second signature after one verify_pin",
        match piv::sign_data(&mut yk, &digest, AlgorithmId::EccP256, SlotId::Signature) {
            Err(err) => Ok(format!("refused (PIN policy always): {err:?}")),
            Ok(_) => Err("signed twice after one verify".into()),
        },
    );
    report.record(
        "9a: two signatures after one verify_pin",
        yk.verify_pin(PIN)
            .and_then(|_| {
                piv::sign_data(
                    &mut yk,
                    &digest,
                    AlgorithmId::EccP256,
                    SlotId::Authentication,
                )
            })
            .and_then(|_| {
                piv::sign_data(
                    &mut yk,
                    &digest,
                    AlgorithmId::EccP256,
                    SlotId::Authentication,
                )
            })
            .map(|_| "PIN policy once".into())
            .map_err(e),
    );
    drop(yk);
    let mut yk = YubiKey::open_by_serial(Serial(serial)).expect("re-open");
    report.record(
        "9e: signature without any PIN",
        piv::sign_data(
            &mut yk,
            &digest,
            AlgorithmId::EccP256,
            SlotId::CardAuthentication,
        )
        .map(|_| "PIN policy never".into())
        .map_err(e),
    );

    // Block the PIN, then unblock it with the PUK.
    let mut tries = Vec::new();
    for _ in 0..3 {
        match yk.verify_pin(b"999999") {
            Err(yubikey::Error::WrongPin { tries: n }) => tries.push(n),
            _ => tries.push(u8::MAX),
        }
    }
    report.record(
        "PIN blocked after 3 wrong PINs",
        match yk.verify_pin(PIN) {
            Err(err) => Ok(format!(
                "tries left {tries:?}, then correct PIN gives {err:?}"
            )),
            Ok(()) => Err(format!("PIN still usable (tries left {tries:?})")),
        },
    );
    report.record(
        "YubiKey::unblock_pin(PUK, new PIN)",
        yk.unblock_pin(PUK, PIN)
            .and_then(|_| yk.verify_pin(PIN))
            .map(|_| String::new())
            .map_err(e),
    );
    report.record(
        "YubiKey::get_pin_retries at the end",
        yk.get_pin_retries().map(|n| format!("{n}")).map_err(e),
    );

    let failed: Vec<&String> = report
        .rows
        .iter()
        .filter(|(name, outcome)| {
            outcome.is_err() && !name.contains("[not expected]") && name != "Ed25519"
        })
        .map(|(name, _)| name)
        .collect();
    println!();
    println!(
        "{} operations tried, {} failed unexpectedly{}",
        report.rows.len(),
        failed.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(": {failed:?}")
        }
    );
}
