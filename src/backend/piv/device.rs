//! One YubiKey as the agent uses it: opened by serial, PIN verified, and
//! kept usable through the things that happen to a USB device — it is
//! unplugged and plugged back, another program resets it, the PIN must be
//! given again for a key whose policy is "always", a touch does not come.
//!
//! The rules, in one place ([`Device::sign`]):
//! - a device that is gone is opened again by serial (and its PIN verified)
//!   on the next request; if it is still gone the request fails with a
//!   retryable "not connected" error and nothing is signed;
//! - a reset card is reconnected and its PIN verified again;
//! - "security status not satisfied" is answered once by verifying the PIN
//!   and trying again; if it comes back and the key may need a touch, the
//!   caller gets a retryable touch-timeout error, otherwise a refusal;
//! - a wrong or blocked PIN is never retried (a YubiKey blocks its PIN
//!   after three wrong tries): the device stops signing until an operator
//!   fixes the PIN file and restarts the agent.

use secrecy::{ExposeSecret, SecretString};

use super::card::{Card, CardError, Connector};
use super::slot::{PinPolicy, Slot, TouchPolicy};
use crate::backend::BackendError;

/// The policies of the key being signed with, as far as they are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPolicies {
    pub pin: Option<PinPolicy>,
    pub touch: Option<TouchPolicy>,
}

pub struct Device<C: Connector> {
    connector: C,
    serial: u32,
    /// None: a read-only look (listing); nothing that needs the PIN works.
    pin: Option<SecretString>,
    card: Option<C::Card>,
    /// Set by a wrong or blocked PIN: no further tries.
    stopped: Option<String>,
}

/// How many times one request may go round the recovery steps.
const MAX_STEPS: usize = 4;

impl<C: Connector> Device<C> {
    /// Open the device and verify its PIN now, so a wrong PIN or a missing
    /// device stops the agent's start.
    pub fn open(
        connector: C,
        serial: u32,
        pin: Option<SecretString>,
    ) -> Result<Self, BackendError> {
        let mut d = Device {
            connector,
            serial,
            pin,
            card: None,
            stopped: None,
        };
        d.connect()?;
        Ok(d)
    }

    pub fn serial(&self) -> u32 {
        self.serial
    }

    /// The open card (connecting first if needed).
    pub fn card(&mut self) -> Result<&mut C::Card, BackendError> {
        if self.card.is_none() {
            self.connect()?;
        }
        Ok(self.card.as_mut().expect("connected"))
    }

    fn connect(&mut self) -> Result<(), BackendError> {
        if let Some(why) = &self.stopped {
            return Err(BackendError::Stopped(why.clone()));
        }
        let mut card = self.connector.open(self.serial).map_err(|e| match e {
            CardError::Gone(why) => {
                BackendError::TokenNotFound(format!("YubiKey {}: {why}", self.serial))
            }
            e => BackendError::Token(format!("YubiKey {}: {e}", self.serial)),
        })?;
        self.verify(&mut card)?;
        tracing::info!(serial = self.serial, version = %card.version(), "YubiKey opened, PIN verified");
        self.card = Some(card);
        Ok(())
    }

    fn verify(&mut self, card: &mut C::Card) -> Result<(), BackendError> {
        let Some(pin) = &self.pin else {
            return Ok(());
        };
        match card.verify_pin(pin.expose_secret().as_bytes()) {
            Ok(()) => Ok(()),
            Err(e @ (CardError::WrongPin { .. } | CardError::PinLocked)) => {
                let why = format!(
                    "YubiKey {}: {e}; fix the PIN and restart the agent",
                    self.serial
                );
                self.stopped = Some(why.clone());
                Err(BackendError::Login(why))
            }
            Err(CardError::Gone(why)) => Err(BackendError::TokenNotFound(format!(
                "YubiKey {}: {why}",
                self.serial
            ))),
            Err(e) => Err(BackendError::Token(format!(
                "YubiKey {}: PIN verification failed: {e}",
                self.serial
            ))),
        }
    }

    /// Run `op` on the card, recovering from a lost or reset device and
    /// from a forgotten PIN as described in the module docs.
    fn with_recovery<T>(
        &mut self,
        policies: KeyPolicies,
        what: &str,
        mut op: impl FnMut(&mut C::Card) -> Result<T, CardError>,
    ) -> Result<T, BackendError> {
        let mut pin_given = false;
        let mut last = String::new();
        for _ in 0..MAX_STEPS {
            if self.card.is_none() {
                self.connect()?;
                pin_given = true;
            }
            let card = self.card.as_mut().expect("connected");
            match op(card) {
                Ok(v) => return Ok(v),
                Err(CardError::Gone(why)) => {
                    tracing::warn!(serial = self.serial, %why, "YubiKey lost; opening it again");
                    self.card = None;
                    last = why;
                }
                Err(CardError::Reset) => {
                    tracing::info!(serial = self.serial, "YubiKey was reset; reconnecting");
                    match card.reconnect() {
                        Ok(()) => {}
                        Err(_) => self.card = None,
                    }
                    last = "reset".into();
                }
                Err(CardError::SecurityStatus) if self.pin.is_none() => {
                    return Err(BackendError::Login(format!(
                        "YubiKey {}: {what} needs the PIN",
                        self.serial
                    )));
                }
                Err(CardError::SecurityStatus) if !pin_given => {
                    let mut card = self.card.take().expect("connected");
                    let r = self.verify(&mut card);
                    self.card = Some(card);
                    r?;
                    pin_given = true;
                }
                Err(CardError::SecurityStatus) => {
                    return Err(if policies.touch.is_none_or(|t| t.needs_touch()) {
                        BackendError::Touch(format!(
                            "YubiKey {}: {what} needs a touch and none came in time; touch the device when it blinks, then retry",
                            self.serial
                        ))
                    } else {
                        BackendError::Rejected(format!(
                            "YubiKey {}: {what} refused: security status not satisfied after PIN verification",
                            self.serial
                        ))
                    });
                }
                Err(CardError::NotFound) => {
                    return Err(BackendError::KeyNotFound(format!(
                        "YubiKey {}: {what}: nothing there",
                        self.serial
                    )));
                }
                Err(CardError::NotSupported) => {
                    return Err(BackendError::Unsupported(format!(
                        "YubiKey {}: {what}: not supported by this device",
                        self.serial
                    )));
                }
                Err(e) => {
                    return Err(BackendError::Token(format!(
                        "YubiKey {}: {what} failed: {e}",
                        self.serial
                    )));
                }
            }
        }
        Err(BackendError::TokenNotFound(format!(
            "YubiKey {}: {what} failed after reconnecting ({last})",
            self.serial
        )))
    }

    /// Sign a 32-byte digest with the P-256 key in `slot`: the device's DER
    /// signature (the keyring verifies and normalises it).
    pub fn sign_p256(
        &mut self,
        slot: Slot,
        policies: KeyPolicies,
        digest: &[u8; 32],
    ) -> Result<Vec<u8>, BackendError> {
        // With PIN policy "always" the device wants a VERIFY right before
        // each signature: give it, rather than fail first.
        if policies.pin.map(|p| p.effective(slot)) == Some(PinPolicy::Always) && self.card.is_some()
        {
            let mut card = self.card.take().expect("connected");
            let r = self.verify(&mut card);
            match r {
                Ok(()) => self.card = Some(card),
                Err(BackendError::Login(w)) => return Err(BackendError::Login(w)),
                // Anything else: the recovery below reconnects.
                Err(_) => {}
            }
        }
        self.with_recovery(policies, &format!("signing with slot {slot}"), |c| {
            c.sign_p256(slot, digest)
        })
    }

    /// The slot's metadata, where the device reports it (firmware 5.3+).
    pub fn metadata(
        &mut self,
        slot: Slot,
    ) -> Result<Option<super::card::SlotMetadata>, BackendError> {
        let none = KeyPolicies {
            pin: None,
            touch: Some(TouchPolicy::Never),
        };
        match self.with_recovery(none, &format!("reading metadata of slot {slot}"), |c| {
            c.metadata(slot)
        }) {
            Ok(m) => Ok(Some(m)),
            Err(BackendError::Unsupported(_)) => Ok(None),
            // Older firmware answers an unknown instruction with a plain
            // error rather than "not supported".
            Err(BackendError::Token(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn certificate(&mut self, slot: Slot) -> Result<Option<Vec<u8>>, BackendError> {
        let none = KeyPolicies {
            pin: None,
            touch: Some(TouchPolicy::Never),
        };
        self.with_recovery(
            none,
            &format!("reading the certificate of slot {slot}"),
            |c| c.certificate(slot),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    /// A scripted card: each call takes the next scripted answer for its
    /// operation (or succeeds when the script is empty).
    #[derive(Default)]
    struct Script {
        opens: VecDeque<Result<(), CardError>>,
        signs: VecDeque<Result<Vec<u8>, CardError>>,
        pins: VecDeque<Result<(), CardError>>,
        reconnects: VecDeque<Result<(), CardError>>,
        log: Vec<&'static str>,
    }

    #[derive(Clone, Default)]
    struct Fake(Arc<Mutex<Script>>);

    struct FakeCard(Arc<Mutex<Script>>);

    impl Connector for Fake {
        type Card = FakeCard;
        fn open(&self, _serial: u32) -> Result<FakeCard, CardError> {
            let mut s = self.0.lock().unwrap();
            s.log.push("open");
            s.opens.pop_front().unwrap_or(Ok(()))?;
            Ok(FakeCard(self.0.clone()))
        }
    }

    impl Card for FakeCard {
        fn serial(&self) -> u32 {
            7
        }
        fn version(&self) -> String {
            "5.4.3".into()
        }
        fn reconnect(&mut self) -> Result<(), CardError> {
            let mut s = self.0.lock().unwrap();
            s.log.push("reconnect");
            s.reconnects.pop_front().unwrap_or(Ok(()))
        }
        fn verify_pin(&mut self, pin: &[u8]) -> Result<(), CardError> {
            assert_eq!(pin, b"123456");
            let mut s = self.0.lock().unwrap();
            s.log.push("pin");
            s.pins.pop_front().unwrap_or(Ok(()))
        }
        fn sign_p256(&mut self, _slot: Slot, _d: &[u8; 32]) -> Result<Vec<u8>, CardError> {
            let mut s = self.0.lock().unwrap();
            s.log.push("sign");
            s.signs.pop_front().unwrap_or(Ok(vec![0x30]))
        }
        fn metadata(&mut self, _slot: Slot) -> Result<super::super::card::SlotMetadata, CardError> {
            Err(CardError::NotSupported)
        }
        fn certificate(&mut self, _slot: Slot) -> Result<Option<Vec<u8>>, CardError> {
            Ok(None)
        }
    }

    fn device(f: &Fake) -> Device<Fake> {
        Device::open(f.clone(), 7, Some(SecretString::from("123456"))).unwrap()
    }

    fn log(f: &Fake) -> Vec<&'static str> {
        std::mem::take(&mut f.0.lock().unwrap().log)
    }

    const D: [u8; 32] = [1; 32];
    const QUIET: KeyPolicies = KeyPolicies {
        pin: Some(PinPolicy::Once),
        touch: Some(TouchPolicy::Never),
    };
    const TOUCHY: KeyPolicies = KeyPolicies {
        pin: Some(PinPolicy::Once),
        touch: Some(TouchPolicy::Always),
    };
    fn slot() -> Slot {
        "9a".parse().unwrap()
    }

    #[test]
    fn opens_and_verifies_the_pin_once() {
        let f = Fake::default();
        let mut d = device(&f);
        assert_eq!(d.sign_p256(slot(), QUIET, &D).unwrap(), vec![0x30]);
        d.sign_p256(slot(), QUIET, &D).unwrap();
        assert_eq!(log(&f), ["open", "pin", "sign", "sign"]);
    }

    #[test]
    fn unplugged_device_is_opened_again_and_the_request_succeeds() {
        let f = Fake::default();
        let mut d = device(&f);
        log(&f);
        f.0.lock()
            .unwrap()
            .signs
            .push_back(Err(CardError::Gone("removed".into())));
        d.sign_p256(slot(), QUIET, &D).unwrap();
        assert_eq!(log(&f), ["sign", "open", "pin", "sign"]);
    }

    #[test]
    fn a_device_still_missing_gives_a_retryable_error_and_is_tried_again_later() {
        let f = Fake::default();
        let mut d = device(&f);
        {
            let mut s = f.0.lock().unwrap();
            s.signs.push_back(Err(CardError::Gone("removed".into())));
            s.opens.push_back(Err(CardError::Gone("no reader".into())));
        }
        let e = d.sign_p256(slot(), QUIET, &D).unwrap_err();
        assert!(e.retryable(), "{e:?}");
        assert!(matches!(e, BackendError::TokenNotFound(_)), "{e:?}");
        // Plugged back in: the next request opens it.
        d.sign_p256(slot(), QUIET, &D).unwrap();
    }

    #[test]
    fn reset_by_another_program_reconnects() {
        let f = Fake::default();
        let mut d = device(&f);
        log(&f);
        f.0.lock().unwrap().signs.push_back(Err(CardError::Reset));
        d.sign_p256(slot(), QUIET, &D).unwrap();
        assert_eq!(log(&f), ["sign", "reconnect", "sign"]);
    }

    #[test]
    fn forgotten_pin_is_verified_again_once() {
        let f = Fake::default();
        let mut d = device(&f);
        log(&f);
        f.0.lock()
            .unwrap()
            .signs
            .push_back(Err(CardError::SecurityStatus));
        d.sign_p256(slot(), QUIET, &D).unwrap();
        assert_eq!(log(&f), ["sign", "pin", "sign"]);
    }

    #[test]
    fn pin_always_verifies_before_each_signature() {
        let f = Fake::default();
        let mut d = device(&f);
        log(&f);
        let always = KeyPolicies {
            pin: Some(PinPolicy::Always),
            touch: Some(TouchPolicy::Never),
        };
        d.sign_p256(slot(), always, &D).unwrap();
        d.sign_p256(slot(), always, &D).unwrap();
        assert_eq!(log(&f), ["pin", "sign", "pin", "sign"]);
        // Slot 9c's default is "always" too.
        let default = KeyPolicies {
            pin: Some(PinPolicy::Default),
            touch: None,
        };
        d.sign_p256("9c".parse().unwrap(), default, &D).unwrap();
        assert_eq!(log(&f), ["pin", "sign"]);
    }

    #[test]
    fn missing_touch_is_a_retryable_touch_error() {
        let f = Fake::default();
        let mut d = device(&f);
        {
            let mut s = f.0.lock().unwrap();
            s.signs.push_back(Err(CardError::SecurityStatus));
            s.signs.push_back(Err(CardError::SecurityStatus));
        }
        let e = d.sign_p256(slot(), TOUCHY, &D).unwrap_err();
        assert!(matches!(e, BackendError::Touch(_)), "{e:?}");
        assert!(e.retryable());
        assert!(e.to_string().contains("touch"), "{e}");
        // The same refusal for a key that never needs a touch is final.
        {
            let mut s = f.0.lock().unwrap();
            s.signs.push_back(Err(CardError::SecurityStatus));
            s.signs.push_back(Err(CardError::SecurityStatus));
        }
        let e = d.sign_p256(slot(), QUIET, &D).unwrap_err();
        assert!(matches!(e, BackendError::Rejected(_)), "{e:?}");
        assert!(!e.retryable());
    }

    #[test]
    fn wrong_pin_is_never_tried_again() {
        let f = Fake::default();
        let mut d = device(&f);
        {
            let mut s = f.0.lock().unwrap();
            s.signs.push_back(Err(CardError::SecurityStatus));
            s.pins.push_back(Err(CardError::WrongPin { tries: 2 }));
        }
        let e = d.sign_p256(slot(), QUIET, &D).unwrap_err();
        assert!(matches!(e, BackendError::Login(_)), "{e:?}");
        log(&f);
        // Even after the device vanishes, no new PIN try is made.
        f.0.lock()
            .unwrap()
            .signs
            .push_back(Err(CardError::Gone("x".into())));
        let e = d.sign_p256(slot(), QUIET, &D).unwrap_err();
        assert!(matches!(e, BackendError::Stopped(_)), "{e:?}");
        assert_eq!(log(&f), ["sign"]);
        // At start, a wrong PIN stops the open.
        let f = Fake::default();
        f.0.lock()
            .unwrap()
            .pins
            .push_back(Err(CardError::PinLocked));
        let e = Device::open(f.clone(), 7, Some(SecretString::from("123456")))
            .err()
            .unwrap();
        assert!(matches!(e, BackendError::Login(_)), "{e:?}");
    }

    #[test]
    fn endless_resets_end_in_an_error() {
        let f = Fake::default();
        let mut d = device(&f);
        for _ in 0..10 {
            f.0.lock().unwrap().signs.push_back(Err(CardError::Reset));
        }
        let e = d.sign_p256(slot(), QUIET, &D).unwrap_err();
        assert!(e.retryable(), "{e:?}");
    }
}
