//! YubiKey PIV keys, behind the same key-store ideas as PKCS#11: a key is
//! found by where it lives (device serial and slot), its public key and
//! attributes are read at start, and the agent signs exactly the digest it
//! is handed. PIV offers P-256 (and, from firmware 5.7, Ed25519, which the
//! `yubikey` crate 0.8 cannot drive yet) but not secp256k1, so a YubiKey
//! serves P-256 keys: ES256 JWT/API keys, the journal's audit key, and
//! generic `sign` for non-trading uses.
//!
//! Each device is driven by one thread of the agent ([`PivHandle`]): PC/SC
//! talks to a card one command at a time anyway, and unlike a PKCS#11
//! vendor module the PC/SC client library is not third-party code loaded
//! into the agent, so no worker process is needed to contain it.

pub mod attest;
pub mod card;
pub mod device;
pub mod provision;
pub mod slot;

use std::sync::mpsc;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use self::card::{Card, Connector, Origin, PcscConnector};
use self::device::{Device, KeyPolicies};
pub use self::slot::{PinPolicy, Slot, TouchPolicy};
use super::{BackendError, KeyInfo, KeyType};

/// Where a PIV key's PIN and touch policies were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicySource {
    /// The device's own GET METADATA answer (firmware 5.3 and later).
    Device,
    /// tradeward's self-signed certificate in the slot, which records what
    /// was asked for at generation; not vouched for by the device.
    Certificate,
    /// Neither is available.
    Unknown,
}

/// The PIV part of a key's description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PivKeyInfo {
    pub serial: u32,
    pub slot: Slot,
    pub version: String,
    pub pin_policy: Option<PinPolicy>,
    pub touch_policy: Option<TouchPolicy>,
    pub policy_source: PolicySource,
    /// As the device reports it (metadata), if it does.
    pub origin: Option<Origin>,
    /// Subject of the slot's certificate.
    pub certificate_subject: Option<String>,
}

impl PivKeyInfo {
    pub fn policies(&self) -> KeyPolicies {
        KeyPolicies {
            pin: self.pin_policy,
            touch: self.touch_policy,
        }
    }
}

/// The reference tradeward prints and accepts for a PIV key.
pub fn reference(serial: u32, slot: Slot) -> String {
    format!("yubikey:serial={serial};slot={slot}")
}

/// The subject tradeward writes into a generated key's certificate: the
/// label, and the policies asked for (so devices without GET METADATA
/// can still show them, marked as not vouched for).
pub fn certificate_subject(label: &str, pin: PinPolicy, touch: TouchPolicy) -> String {
    format!(
        "CN={},OU=tradeward pin-policy={} touch-policy={}",
        label.replace([',', '+', '=', '\\', '"', '<', '>', ';'], "_"),
        pin.as_str(),
        touch.as_str()
    )
}

/// Read back what [`certificate_subject`] wrote: (label, pin, touch).
pub fn parse_certificate_subject(
    subject: &str,
) -> (Option<String>, Option<PinPolicy>, Option<TouchPolicy>) {
    let mut label = None;
    let (mut pin, mut touch) = (None, None);
    for part in subject.split(',') {
        let part = part.trim();
        if let Some(cn) = part.strip_prefix("CN=") {
            label = Some(cn.to_string());
        } else if let Some(ou) = part.strip_prefix("OU=tradeward ") {
            for kv in ou.split_whitespace() {
                match kv.split_once('=') {
                    Some(("pin-policy", v)) => pin = v.parse().ok(),
                    Some(("touch-policy", v)) => touch = v.parse().ok(),
                    _ => {}
                }
            }
        }
    }
    (label, pin, touch)
}

/// Describe the key in `slot`: public key from the device's metadata or
/// the slot's certificate, policies where known. `Ok(None)`: the slot is
/// empty (or holds a key tradeward cannot use and no certificate).
pub fn describe<C: Connector>(
    dev: &mut Device<C>,
    slot: Slot,
) -> Result<Option<KeyInfo>, BackendError> {
    let meta = dev.metadata(slot)?;
    let cert = dev.certificate(slot)?;
    let cert_info = cert.as_deref().and_then(|der| {
        let (subject, spki) = attest::subject_and_spki(der).ok()?;
        Some((subject, card::spki_p256_point(&spki)))
    });
    if let Some(m) = &meta
        && m.p256 == Some(false)
    {
        return Err(BackendError::Unsupported(format!(
            "slot {slot} of YubiKey {} holds a key that is not P-256",
            dev.serial()
        )));
    }
    let meta_pk = meta.as_ref().and_then(|m| m.public_key.clone());
    let cert_pk = cert_info.as_ref().and_then(|(_, pk)| pk.clone());
    let public_key = match (meta_pk, cert_pk) {
        (Some(m), Some(c)) if m != c => {
            return Err(BackendError::Invalid(format!(
                "slot {slot} of YubiKey {}: the certificate's public key is not the key in the slot; \
                 the certificate is stale (replace it, or generate the key again)",
                dev.serial()
            )));
        }
        (Some(m), _) => m,
        (None, Some(c)) => c,
        (None, None) => {
            if cert.is_some() {
                return Err(BackendError::Unsupported(format!(
                    "slot {slot} of YubiKey {}: its certificate is not for a P-256 key",
                    dev.serial()
                )));
            }
            return Ok(None);
        }
    };
    let subject = cert_info.map(|(s, _)| s);
    let (label, cert_pin, cert_touch) = subject
        .as_deref()
        .map(parse_certificate_subject)
        .unwrap_or((None, None, None));
    let (pin_policy, touch_policy, policy_source) = match &meta {
        Some(m) if m.pin_policy.is_some() => (m.pin_policy, m.touch_policy, PolicySource::Device),
        _ if cert_pin.is_some() || cert_touch.is_some() => {
            (cert_pin, cert_touch, PolicySource::Certificate)
        }
        _ => (None, None, PolicySource::Unknown),
    };
    let origin = meta.as_ref().and_then(|m| m.origin);
    let serial = dev.serial();
    let version = dev.card()?.version();
    Ok(Some(KeyInfo {
        label: label.unwrap_or_else(|| format!("slot {slot}")),
        id: vec![slot.byte()],
        key_type: KeyType::P256,
        public_key: Some(public_key),
        // A PIV private key can never be read out of the device.
        sensitive: true,
        extractable: false,
        local: origin == Some(Origin::Generated),
        always_sensitive: true,
        never_extractable: true,
        token_label: format!("YubiKey {serial}"),
        token_serial: serial.to_string(),
        piv: Some(PivKeyInfo {
            serial,
            slot,
            version,
            pin_policy,
            touch_policy,
            policy_source,
            origin,
            certificate_subject: subject,
        }),
    }))
}

enum Job {
    Sign {
        slot: Slot,
        policies: KeyPolicies,
        digest: [u8; 32],
        reply: oneshot::Sender<Result<Vec<u8>, BackendError>>,
    },
    Describe {
        slot: Slot,
        reply: oneshot::Sender<Result<Option<KeyInfo>, BackendError>>,
    },
}

/// One YubiKey, driven by its own thread. Cheap to clone.
#[derive(Clone)]
pub struct PivHandle {
    tx: mpsc::Sender<Job>,
    serial: u32,
    timeout: Duration,
}

impl PivHandle {
    /// Open the device (a wrong PIN or a missing device fails here) and
    /// start its thread.
    pub fn start(
        serial: u32,
        pin: SecretString,
        timeout: Duration,
    ) -> Result<PivHandle, BackendError> {
        Self::start_with(PcscConnector, serial, pin, timeout)
    }

    pub fn start_with<C: Connector + 'static>(
        connector: C,
        serial: u32,
        pin: SecretString,
        timeout: Duration,
    ) -> Result<PivHandle, BackendError> {
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("yubikey-{serial}"))
            .spawn(move || {
                let mut dev = match Device::open(connector, serial, Some(pin)) {
                    Ok(d) => {
                        let _ = ready_tx.send(Ok(()));
                        d
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                while let Ok(job) = rx.recv() {
                    match job {
                        Job::Sign {
                            slot,
                            policies,
                            digest,
                            reply,
                        } => {
                            let _ = reply.send(dev.sign_p256(slot, policies, &digest));
                        }
                        Job::Describe { slot, reply } => {
                            let _ = reply.send(describe(&mut dev, slot));
                        }
                    }
                }
            })
            .map_err(|e| BackendError::Module(format!("cannot start the YubiKey thread: {e}")))?;
        ready_rx
            .recv()
            .map_err(|_| BackendError::Module("the YubiKey thread ended".into()))??;
        Ok(PivHandle {
            tx,
            serial,
            timeout,
        })
    }

    pub fn serial(&self) -> u32 {
        self.serial
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, BackendError>>) -> Job,
    ) -> Result<T, BackendError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).map_err(|_| {
            BackendError::Stopped(format!("YubiKey {}: its thread ended", self.serial))
        })?;
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(BackendError::WorkerUnavailable(format!(
                "YubiKey {}: the request was dropped",
                self.serial
            ))),
            Err(_) => Err(BackendError::WorkerUnavailable(format!(
                "YubiKey {} did not answer within {} ms (busy, waiting for a touch, or hung)",
                self.serial,
                self.timeout.as_millis()
            ))),
        }
    }

    /// Sign a digest with the P-256 key in `slot`: the device's DER answer.
    pub async fn sign_p256(
        &self,
        slot: Slot,
        policies: KeyPolicies,
        digest: [u8; 32],
    ) -> Result<Vec<u8>, BackendError> {
        self.ask(|reply| Job::Sign {
            slot,
            policies,
            digest,
            reply,
        })
        .await
    }

    pub async fn describe(&self, slot: Slot) -> Result<Option<KeyInfo>, BackendError> {
        self.ask(|reply| Job::Describe { slot, reply }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_subject_round_trips() {
        let s = certificate_subject("es256, main", PinPolicy::Once, TouchPolicy::Cached);
        assert_eq!(
            s,
            "CN=es256_ main,OU=tradeward pin-policy=once touch-policy=cached"
        );
        let (l, p, t) = parse_certificate_subject(&s);
        assert_eq!(l.as_deref(), Some("es256_ main"));
        assert_eq!(p, Some(PinPolicy::Once));
        assert_eq!(t, Some(TouchPolicy::Cached));
        assert_eq!(
            parse_certificate_subject("CN=other"),
            (Some("other".into()), None, None)
        );
        assert_eq!(
            reference(21000001, "9c".parse().unwrap()),
            "yubikey:serial=21000001;slot=9c"
        );
    }
}
