//! What several commands print about a key: its JSON description and its
//! public key as PEM. Shared by `keys` and `yubikey`, which both list keys.

use serde_json::{Value, json};

use crate::backend::{KeyInfo, KeyType};
use crate::protocol::to_hex;

/// JSON description of a key, as `keys list --json` prints it.
pub fn key_json(k: &KeyInfo) -> Value {
    let mut v = json!({
        "label": k.label,
        "id": hex::encode(&k.id),
        "type": k.key_type.as_str(),
        "sensitive": k.sensitive,
        "extractable": k.extractable,
        "local": k.local,
        "always_sensitive": k.always_sensitive,
        "never_extractable": k.never_extractable,
        "uri": k.uri(),
    });
    let m = v.as_object_mut().expect("object");
    if let Some(pk) = &k.public_key {
        m.insert("public_key".into(), to_hex(pk).into());
    }
    if let Some(pem) = public_key_pem(k) {
        m.insert("public_key_pem".into(), pem.into());
    }
    if let Some(a) = k.eth_address() {
        m.insert("address".into(), a.into());
    }
    if let Some(b) = k.base58() {
        m.insert("public_key_base58".into(), b.into());
    }
    if let Some(p) = &k.piv {
        m.insert(
            "yubikey".into(),
            json!({
                "serial": p.serial,
                "slot": p.slot.to_string(),
                "firmware": p.version,
                "pin_policy": p.pin_policy.map(|x| x.as_str()),
                "touch_policy": p.touch_policy.map(|x| x.as_str()),
                "policy_source": p.policy_source,
                "origin": p.origin,
                "certificate_subject": p.certificate_subject,
            }),
        );
    }
    v
}

/// The key's public key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo), for
/// the types that have one.
pub fn public_key_pem(k: &KeyInfo) -> Option<String> {
    crate::crypto::public_key_pem(k.key_type.as_str(), k.public_key.as_deref()?).ok()
}

/// Print the PEM block, flush left so it copies as it is: always for an
/// Ed25519 key (what Binance's API-key registration asks for), for the
/// ECDSA curves when asked.
pub fn print_pem(k: &KeyInfo, asked: bool) {
    if !(asked || k.key_type == KeyType::Ed25519) {
        return;
    }
    if let Some(pem) = public_key_pem(k) {
        outln!("    public key as PEM (SubjectPublicKeyInfo):");
        outln!("{}", pem.trim_end());
    }
}
