//! The few things the agent asks of a PIV card, as a trait, and its
//! implementation on the `yubikey` crate.
//!
//! Why a trait: the recovery logic in [`super::device`] (reconnect after an
//! unplug, verify the PIN again after a reset, tell a touch timeout from a
//! refusal) must be tested for answers no virtual card gives (touch, a
//! device that vanishes mid-signature), so it is written against this
//! trait and unit-tested with scripted cards; the integration tests drive
//! the real implementation against a virtual card over PC/SC.

use super::slot::{PinPolicy, Slot, TouchPolicy};

/// What went wrong talking to the card, classified for recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardError {
    /// The card or its reader is gone (unplugged, reader lost, PC/SC
    /// service restarted): open the device again by serial.
    Gone(String),
    /// Another program reset the card: reconnect and verify the PIN again.
    Reset,
    /// Security status not satisfied (SW 6982): the PIN is not verified
    /// for this operation, or a touch did not come.
    SecurityStatus,
    WrongPin {
        tries: u8,
    },
    PinLocked,
    /// The device does not implement the command.
    NotSupported,
    /// Nothing in the slot or object.
    NotFound,
    Other(String),
}

impl std::fmt::Display for CardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CardError::Gone(why) => write!(f, "device not reachable ({why})"),
            CardError::Reset => f.write_str("device was reset by another program"),
            CardError::SecurityStatus => {
                f.write_str("security status not satisfied (PIN or touch)")
            }
            CardError::WrongPin { tries } => write!(f, "wrong PIN ({tries} tries left)"),
            CardError::PinLocked => f.write_str("PIN blocked (unblock it with the PUK)"),
            CardError::NotSupported => f.write_str("not supported by this device"),
            CardError::NotFound => f.write_str("not found"),
            CardError::Other(m) => f.write_str(m),
        }
    }
}

impl From<yubikey::Error> for CardError {
    fn from(e: yubikey::Error) -> CardError {
        use yubikey::Error as E;
        match e {
            E::PcscError {
                inner: Some(pcsc::Error::ResetCard),
            } => CardError::Reset,
            E::PcscError { inner } => CardError::Gone(match inner {
                Some(i) => i.to_string(),
                None => "PC/SC error".into(),
            }),
            E::AuthenticationError => CardError::SecurityStatus,
            E::WrongPin { tries } => CardError::WrongPin { tries },
            E::PinLocked => CardError::PinLocked,
            E::NotSupported => CardError::NotSupported,
            E::NotFound => CardError::NotFound,
            other => CardError::Other(other.to_string()),
        }
    }
}

/// The origin of a key, as the device reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Generated,
    Imported,
}

/// What GET METADATA (firmware 5.3 and later) says about a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotMetadata {
    /// The key is P-256 (`Some(false)`: another algorithm; `None`: not said).
    pub p256: Option<bool>,
    pub pin_policy: Option<PinPolicy>,
    pub touch_policy: Option<TouchPolicy>,
    pub origin: Option<Origin>,
    /// SEC1 uncompressed public key.
    pub public_key: Option<Vec<u8>>,
}

/// One open connection to a PIV card.
pub trait Card: Send {
    fn serial(&self) -> u32;
    /// Firmware version, "major.minor.patch".
    fn version(&self) -> String;
    /// Reconnect to the same reader after a reset; the card forgets the
    /// PIN, which the implementation verifies again if it had one.
    fn reconnect(&mut self) -> Result<(), CardError>;
    fn verify_pin(&mut self, pin: &[u8]) -> Result<(), CardError>;
    /// ECDSA P-256 over a 32-byte digest; the device's DER signature.
    fn sign_p256(&mut self, slot: Slot, digest: &[u8; 32]) -> Result<Vec<u8>, CardError>;
    fn metadata(&mut self, slot: Slot) -> Result<SlotMetadata, CardError>;
    /// The DER certificate stored for the slot, if any.
    fn certificate(&mut self, slot: Slot) -> Result<Option<Vec<u8>>, CardError>;
}

/// Opens cards by serial number.
pub trait Connector: Send {
    type Card: Card;
    fn open(&self, serial: u32) -> Result<Self::Card, CardError>;
}

/// The PC/SC connector: any reader holding a YubiKey-compatible PIV card.
#[derive(Debug, Default, Clone, Copy)]
pub struct PcscConnector;

impl Connector for PcscConnector {
    type Card = YubiKeyCard;
    fn open(&self, serial: u32) -> Result<YubiKeyCard, CardError> {
        let yk =
            yubikey::YubiKey::open_by_serial(yubikey::Serial(serial)).map_err(|e| match e {
                yubikey::Error::NotFound => {
                    CardError::Gone(format!("no YubiKey with serial {serial} is connected"))
                }
                e => CardError::from(e),
            })?;
        Ok(YubiKeyCard { yk: Some(yk) })
    }
}

/// A card reached through the `yubikey` crate.
pub struct YubiKeyCard {
    /// Always `Some` except while being dropped.
    yk: Option<yubikey::YubiKey>,
}

impl YubiKeyCard {
    pub fn inner(&mut self) -> &mut yubikey::YubiKey {
        self.yk.as_mut().expect("open card")
    }
}

impl Drop for YubiKeyCard {
    /// Leave the card as it is: the crate's default resets it, which would
    /// log out every other program using the device (the agent, while an
    /// operator lists keys).
    fn drop(&mut self) {
        if let Some(yk) = self.yk.take() {
            let _ = yk.disconnect(pcsc::Disposition::LeaveCard);
        }
    }
}

/// Parse an SPKI (DER) into a P-256 SEC1 point, if it is one.
pub fn spki_p256_point(spki_der: &[u8]) -> Option<Vec<u8>> {
    use p256::pkcs8::DecodePublicKey;
    let vk = p256::ecdsa::VerifyingKey::from_public_key_der(spki_der).ok()?;
    Some(vk.to_sec1_point(false).as_bytes().to_vec())
}

fn spki_to_der(spki: &x509_cert::spki::SubjectPublicKeyInfoOwned) -> Option<Vec<u8>> {
    use x509_cert::der::Encode;
    spki.to_der().ok()
}

impl Card for YubiKeyCard {
    fn serial(&self) -> u32 {
        self.yk.as_ref().expect("open card").serial().0
    }

    fn version(&self) -> String {
        self.yk.as_ref().expect("open card").version().to_string()
    }

    fn reconnect(&mut self) -> Result<(), CardError> {
        self.inner().reconnect().map_err(CardError::from)
    }

    fn verify_pin(&mut self, pin: &[u8]) -> Result<(), CardError> {
        self.inner().verify_pin(pin).map_err(CardError::from)
    }

    fn sign_p256(&mut self, slot: Slot, digest: &[u8; 32]) -> Result<Vec<u8>, CardError> {
        yubikey::piv::sign_data(
            self.inner(),
            digest,
            yubikey::piv::AlgorithmId::EccP256,
            slot.to_yubikey(),
        )
        .map(|b| b.to_vec())
        .map_err(CardError::from)
    }

    fn metadata(&mut self, slot: Slot) -> Result<SlotMetadata, CardError> {
        yubikey::piv::metadata(self.inner(), slot.to_yubikey())
            .map(map_metadata)
            .map_err(CardError::from)
    }

    fn certificate(&mut self, slot: Slot) -> Result<Option<Vec<u8>>, CardError> {
        use x509_cert::der::Encode;
        match yubikey::certificate::Certificate::read(self.inner(), slot.to_yubikey()) {
            Ok(c) => c
                .cert
                .to_der()
                .map(Some)
                .map_err(|e| CardError::Other(format!("certificate: {e}"))),
            Err(yubikey::Error::InvalidObject | yubikey::Error::NotFound) => Ok(None),
            Err(e) => Err(CardError::from(e)),
        }
    }
}

/// The `yubikey` crate's reading of a GET METADATA answer, in our terms.
pub fn map_metadata(m: yubikey::piv::SlotMetadata) -> SlotMetadata {
    use yubikey::piv::{AlgorithmId, ManagementAlgorithmId};
    let p256 = match m.algorithm {
        ManagementAlgorithmId::Asymmetric(AlgorithmId::EccP256) => Some(true),
        ManagementAlgorithmId::Asymmetric(_) => Some(false),
        _ => None,
    };
    SlotMetadata {
        p256,
        pin_policy: m.policy.map(|(p, _)| PinPolicy::from_yubikey(p)),
        touch_policy: m.policy.map(|(_, t)| TouchPolicy::from_yubikey(t)),
        origin: m.origin.map(|o| match o {
            yubikey::piv::Origin::Generated => Origin::Generated,
            yubikey::piv::Origin::Imported => Origin::Imported,
        }),
        public_key: m
            .public
            .as_ref()
            .and_then(spki_to_der)
            .and_then(|d| spki_p256_point(&d)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GET METADATA answer for a P-256 key, laid out as Yubico documents
    /// it: 01 algorithm, 02 PIN and touch policy, 03 origin, 04 public key
    /// (the point in tag 86, as GENERATE returns it).
    fn answer(alg: u8, pin: u8, touch: u8, origin: u8, point: &[u8]) -> yubikey::Buffer {
        let mut b = vec![0x01, 0x01, alg, 0x02, 0x02, pin, touch, 0x03, 0x01, origin];
        if !point.is_empty() {
            b.extend_from_slice(&[0x04, (point.len() + 2) as u8, 0x86, point.len() as u8]);
            b.extend_from_slice(point);
        }
        yubikey::Buffer::new(b)
    }

    fn point() -> Vec<u8> {
        let k = p256::ecdsa::SigningKey::from_slice(&[5u8; 32]).unwrap();
        k.verifying_key().to_sec1_point(false).as_bytes().to_vec()
    }

    #[test]
    fn metadata_of_a_generated_p256_key() {
        let m = yubikey::piv::SlotMetadata::try_from(answer(0x11, 2, 3, 1, &point())).unwrap();
        let m = map_metadata(m);
        assert_eq!(m.p256, Some(true));
        assert_eq!(m.pin_policy, Some(PinPolicy::Once));
        assert_eq!(m.touch_policy, Some(TouchPolicy::Cached));
        assert_eq!(m.origin, Some(Origin::Generated));
        assert_eq!(m.public_key, Some(point()));
    }

    #[test]
    fn metadata_of_an_imported_p384_key_and_garbage() {
        let m = yubikey::piv::SlotMetadata::try_from(answer(0x14, 3, 1, 2, &[])).unwrap();
        let m = map_metadata(m);
        assert_eq!(m.p256, Some(false));
        assert_eq!(m.pin_policy, Some(PinPolicy::Always));
        assert_eq!(m.touch_policy, Some(TouchPolicy::Never));
        assert_eq!(m.origin, Some(Origin::Imported));
        assert_eq!(m.public_key, None);
        for junk in [vec![], vec![0x01], vec![0x02, 0x05, 1]] {
            assert!(yubikey::piv::SlotMetadata::try_from(yubikey::Buffer::new(junk)).is_err());
        }
    }

    #[test]
    fn pcsc_errors_are_classified_for_recovery() {
        let e = |inner| CardError::from(yubikey::Error::PcscError { inner: Some(inner) });
        assert_eq!(e(pcsc::Error::ResetCard), CardError::Reset);
        assert!(matches!(e(pcsc::Error::RemovedCard), CardError::Gone(_)));
        assert!(matches!(e(pcsc::Error::NoService), CardError::Gone(_)));
        assert_eq!(
            CardError::from(yubikey::Error::AuthenticationError),
            CardError::SecurityStatus
        );
        assert_eq!(
            CardError::from(yubikey::Error::WrongPin { tries: 2 }),
            CardError::WrongPin { tries: 2 }
        );
    }
}
