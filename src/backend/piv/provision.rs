//! Operator provisioning of a YubiKey's PIV applet: first set-up (PIN,
//! PUK, management key), key generation with a self-signed certificate,
//! attestation, and finding the connected devices.
//!
//! The management key is handled the way a careful set-up tool does: a
//! random one is generated on the host, set on the device and stored in
//! the device's PIN-protected data object, with the "PIN-protected
//! management key" flag in the admin data, so the operator needs only the
//! PIN afterwards and the key never exists anywhere else.

use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use yubikey::{MgmKey, YubiKey};

use super::attest::{self, Attestation};
use super::card::{CardError, PcscConnector};
use super::device::Device;
use super::slot::{PinPolicy, Slot, TouchPolicy};
use crate::backend::KeyInfo;

/// The factory defaults of the PIV applet.
pub const DEFAULT_PIN: &str = "123456";
pub const DEFAULT_PUK: &str = "12345678";

fn err(what: &str, e: impl Into<CardError>) -> String {
    format!("{what}: {}", e.into())
}

/// A connected device: serial, firmware version and reader name.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceSummary {
    pub serial: u32,
    pub version: String,
    pub reader: String,
}

/// Every PIV device PC/SC can reach.
pub fn list_devices() -> Result<Vec<DeviceSummary>, String> {
    let mut ctx = yubikey::reader::Context::open().map_err(|e| err("PC/SC", e))?;
    let mut out = Vec::new();
    for reader in ctx.iter().map_err(|e| err("PC/SC readers", e))? {
        let name = reader.name().to_string();
        if let Ok(yk) = reader.open() {
            out.push(DeviceSummary {
                serial: yk.serial().0,
                version: yk.version().to_string(),
                reader: name,
            });
            let _ = yk.disconnect(pcsc::Disposition::LeaveCard);
        }
    }
    Ok(out)
}

/// Open by serial; with `None`, the only device connected.
pub fn open(serial: Option<u32>) -> Result<YubiKey, String> {
    match serial {
        Some(s) => YubiKey::open_by_serial(yubikey::Serial(s)).map_err(|e| match e {
            yubikey::Error::NotFound => format!("no YubiKey with serial {s} is connected"),
            e => err(&format!("YubiKey {s}"), e),
        }),
        None => YubiKey::open().map_err(|e| match e {
            yubikey::Error::NotFound => "no YubiKey is connected".to_string(),
            yubikey::Error::PcscError { inner: None } => {
                "more than one YubiKey is connected: pass --serial".to_string()
            }
            e => err("YubiKey", e),
        }),
    }
}

/// Disconnect without resetting the card (a reset would log out the agent).
pub fn close(yk: YubiKey) {
    let _ = yk.disconnect(pcsc::Disposition::LeaveCard);
}

fn check_pin_format(what: &str, v: &str, default: &str) -> Result<(), String> {
    let n = v.len();
    if !(6..=8).contains(&n) || !v.is_ascii() {
        return Err(format!("the new {what} must be 6 to 8 ASCII characters"));
    }
    if v == default {
        return Err(format!(
            "the new {what} is the factory default; choose another"
        ));
    }
    Ok(())
}

/// What `setup` needs: current and new PIN and PUK, and the current
/// management key (hex, 48 digits) if it is not the factory default.
pub struct SetupSecrets {
    pub current_pin: SecretString,
    pub new_pin: SecretString,
    pub current_puk: SecretString,
    pub new_puk: SecretString,
    pub current_management_key: Option<SecretString>,
}

pub fn parse_management_key(hex_key: &SecretString) -> Result<MgmKey, String> {
    let bytes = zeroize::Zeroizing::new(
        hex::decode(hex_key.expose_secret().trim())
            .map_err(|_| "the management key must be 48 hex digits (a 3DES key)".to_string())?,
    );
    MgmKey::from_bytes(&*bytes)
        .map_err(|_| "the management key must be 48 hex digits (a 3DES key)".into())
}

/// First set-up: new PIN and PUK, a random management key stored
/// PIN-protected on the device. Returns the device's serial.
pub fn setup(serial: Option<u32>, s: SetupSecrets) -> Result<u32, String> {
    check_pin_format("PIN", s.new_pin.expose_secret(), DEFAULT_PIN)?;
    check_pin_format("PUK", s.new_puk.expose_secret(), DEFAULT_PUK)?;
    let mut yk = open(serial)?;
    let serial = yk.serial().0;
    let result = (|| {
        let current = match &s.current_management_key {
            Some(k) => parse_management_key(k)?,
            None => MgmKey::default(),
        };
        if yk.authenticate(current).is_err() {
            // Already set up with a PIN-protected key? Then the PIN opens it.
            yk.verify_pin(s.current_pin.expose_secret().as_bytes())
                .map_err(|e| err("current PIN", e))?;
            let protected = MgmKey::get_protected(&mut yk).map_err(|_| {
                "the management key is neither the factory default nor PIN-protected on the device: \
                 pass the current one with --management-key-file"
                    .to_string()
            })?;
            yk.authenticate(protected)
                .map_err(|e| err("management key authentication", e))?;
        }
        if s.current_pin.expose_secret() != s.new_pin.expose_secret() {
            yk.change_pin(
                s.current_pin.expose_secret().as_bytes(),
                s.new_pin.expose_secret().as_bytes(),
            )
            .map_err(|e| err("changing the PIN", e))?;
        }
        if s.current_puk.expose_secret() != s.new_puk.expose_secret() {
            yk.change_puk(
                s.current_puk.expose_secret().as_bytes(),
                s.new_puk.expose_secret().as_bytes(),
            )
            .map_err(|e| err("changing the PUK", e))?;
        }
        yk.verify_pin(s.new_pin.expose_secret().as_bytes())
            .map_err(|e| err("verifying the new PIN", e))?;
        let key = MgmKey::generate();
        key.set_protected(&mut yk)
            .map_err(|e| err("setting the new management key", e))?;
        // Read it back through the PIN, as every later use will.
        yk.verify_pin(s.new_pin.expose_secret().as_bytes())
            .map_err(|e| err("verifying the new PIN", e))?;
        let back = MgmKey::get_protected(&mut yk)
            .map_err(|e| err("reading back the PIN-protected management key", e))?;
        yk.authenticate(back)
            .map_err(|e| err("authenticating with the new management key", e))?;
        Ok(serial)
    })();
    close(yk);
    result
}

/// Authenticate with the management key: the given one, else the one
/// stored PIN-protected on the device (the PIN must be verified).
fn authenticate(yk: &mut YubiKey, management_key: Option<&SecretString>) -> Result<(), String> {
    let key = match management_key {
        Some(k) => parse_management_key(k)?,
        None => MgmKey::get_protected(yk).map_err(|_| {
            "no PIN-protected management key on this device: run `tradeward yubikey setup` first, \
             or pass the management key with --management-key-file"
                .to_string()
        })?,
    };
    yk.authenticate(key)
        .map_err(|e| err("management key authentication", e))
}

/// What `generate` is asked for.
pub struct GenerateRequest<'a> {
    pub serial: Option<u32>,
    pub pin: &'a SecretString,
    pub management_key: Option<&'a SecretString>,
    pub slot: Slot,
    pub pin_policy: PinPolicy,
    pub touch_policy: TouchPolicy,
    pub label: &'a str,
    /// Replace a key already in the slot (it is destroyed).
    pub force: bool,
}

/// Generate a P-256 key in a slot, on the device, and write a self-signed
/// certificate for it (signed by the new key, so a touch may be needed).
pub fn generate(req: GenerateRequest<'_>) -> Result<KeyInfo, String> {
    let serial = {
        let yk = open(req.serial)?;
        let s = yk.serial().0;
        close(yk);
        s
    };
    if !req.force
        && let Some(k) = describe(serial, req.slot, None)?
    {
        return Err(format!(
            "slot {} of YubiKey {serial} already holds a key ({:?}); pass --force to replace it \
             (the old key is destroyed)",
            req.slot, k.label
        ));
    }
    let mut yk = open(Some(serial))?;
    let result = (|| {
        yk.verify_pin(req.pin.expose_secret().as_bytes())
            .map_err(|e| err("PIN", e))?;
        authenticate(&mut yk, req.management_key)?;
        let spki = yubikey::piv::generate(
            &mut yk,
            req.slot.to_yubikey(),
            yubikey::piv::AlgorithmId::EccP256,
            req.pin_policy.to_yubikey(),
            req.touch_policy.to_yubikey(),
        )
        .map_err(|e| err("generating the key", e))?;
        // The certificate is signed by the new key: its PIN policy may want
        // the PIN right before, its touch policy a touch.
        yk.verify_pin(req.pin.expose_secret().as_bytes())
            .map_err(|e| err("PIN", e))?;
        if req.touch_policy.needs_touch() {
            crate::out::stderr_fmt(format_args!(
                "Touch the YubiKey now to sign the new key's certificate...\n"
            ));
        }
        let subject = super::certificate_subject(req.label, req.pin_policy, req.touch_policy);
        let name = x509_cert::name::Name::from_str(&subject)
            .map_err(|e| format!("certificate subject: {e}"))?;
        let mut serial_bytes = [0u8; 16];
        getrandom_fill(&mut serial_bytes);
        serial_bytes[0] &= 0x7f;
        serial_bytes[0] |= 0x01;
        let cert_serial = x509_cert::serial_number::SerialNumber::new(&serial_bytes)
            .map_err(|e| format!("certificate serial: {e}"))?;
        let validity = x509_cert::time::Validity::from_now(Duration::from_secs(20 * 365 * 86_400))
            .map_err(|e| format!("certificate validity: {e}"))?;
        yubikey::certificate::Certificate::generate_self_signed::<_, p256_v013::NistP256>(
            &mut yk,
            req.slot.to_yubikey(),
            cert_serial,
            validity,
            name,
            spki,
            |_| Ok(()),
        )
        .map_err(|e| err("writing the key's certificate", e))?;
        Ok::<(), String>(())
    })();
    close(yk);
    result?;
    describe(serial, req.slot, None)?
        .ok_or_else(|| format!("slot {} is empty after generation", req.slot))
}

fn getrandom_fill(buf: &mut [u8]) {
    use p256_v013::elliptic_curve::rand_core::{OsRng, RngCore};
    OsRng.fill_bytes(buf);
}

/// Describe one slot (no PIN needed).
pub fn describe(
    serial: u32,
    slot: Slot,
    pin: Option<SecretString>,
) -> Result<Option<KeyInfo>, String> {
    let mut dev = Device::open(PcscConnector, serial, pin).map_err(|e| e.to_string())?;
    super::describe(&mut dev, slot).map_err(|e| e.to_string())
}

/// One listed slot: its key, or why tradeward cannot use what is there.
pub type SlotListing = Result<KeyInfo, (Slot, String)>;

/// Every key on the device, slot by slot (no PIN needed). A slot whose
/// key tradeward cannot use is reported as an error string for that slot.
pub fn list_keys(serial: u32) -> Result<Vec<SlotListing>, String> {
    let mut dev = Device::open(PcscConnector, serial, None).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for slot in Slot::all() {
        match super::describe(&mut dev, slot) {
            Ok(Some(k)) => out.push(Ok(k)),
            Ok(None) => {}
            Err(e) => out.push(Err((slot, e.to_string()))),
        }
    }
    Ok(out)
}

/// Ask the device to attest the key in `slot` and verify the answer
/// against the device's attestation certificate (and `ca`, if given).
pub fn attest_slot(
    serial: Option<u32>,
    slot: Slot,
    ca: Option<&[u8]>,
) -> Result<Attestation, String> {
    let mut yk = open(serial)?;
    let serial = yk.serial().0;
    let answers = (|| {
        let slot_cert = yubikey::piv::attest(&mut yk, slot.to_yubikey()).map_err(|e| match e {
            yubikey::Error::NotSupported => {
                format!("YubiKey {serial} does not support attestation")
            }
            e => err(&format!("attesting slot {slot}"), e),
        })?;
        let device =
            yubikey::certificate::Certificate::read(&mut yk, yubikey::piv::SlotId::Attestation)
                .map_err(|e| err("reading the device attestation certificate (slot f9)", e))?;
        use x509_cert::der::Encode;
        let device = device.cert.to_der().map_err(|e| e.to_string())?;
        Ok::<_, String>((slot_cert.to_vec(), device))
    })();
    close(yk);
    let (slot_cert, device_cert) = answers?;
    let expected = describe(serial, slot, None)?.and_then(|k| k.public_key);
    attest::verify(&slot_cert, &device_cert, ca, expected.as_deref())
}
