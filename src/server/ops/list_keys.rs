//! `list_keys`: the keys granted to the caller, with their public halves.
//! Only public material; an identity never learns of keys it was not granted.

use serde_json::{Map, Value, json};

use crate::authorize::Refusal;
use crate::keyring::KeyEntry;
use crate::protocol::{Params, to_hex};
use crate::server::AgentState;
use crate::server::peer::Identity;

/// JSON description of one key.
pub fn describe(e: &KeyEntry) -> Value {
    let mut v = json!({
        "alias": e.alias,
        "type": e.info.key_type.as_str(),
        "label": e.info.label,
        "id": to_hex(&e.info.id),
        "uri": e.info.uri(),
        "raw_signing": e.config.raw_signing,
        "local": e.info.local,
    });
    let m = v.as_object_mut().expect("object");
    if let Some(pk) = &e.info.public_key {
        m.insert("public_key".into(), Value::String(to_hex(pk)));
    }
    if let Some(a) = e.info.eth_address() {
        m.insert("address".into(), Value::String(a));
    }
    if let Some(b) = e.info.base58() {
        m.insert("public_key_base58".into(), Value::String(b));
    }
    v
}

pub fn run(
    state: &AgentState,
    who: &Identity,
    params: &Map<String, Value>,
) -> Result<Value, Refusal> {
    Params::new(params, &[])?;
    let keys: Vec<Value> = state
        .keyring
        .entries()
        .iter()
        .filter(|e| who.may_use_key(&e.alias))
        .map(|e| describe(e))
        .collect();
    Ok(json!({ "keys": keys }))
}
