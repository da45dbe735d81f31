//! Generic EIP-712 typed data (`eip712.sign_typed_data`), for keys that
//! name the domains they may sign for (`[keys.ALIAS.eip712]`).
//!
//! Why so narrow: typed data can be anything, including an order. A key
//! signs typed data only for domains the operator listed, and never for
//! the domains whose payloads the agent polices itself (Hyperliquid's
//! `Exchange` agent domain and its user-action domain), since signing those
//! here would walk around the policy.
//!
//! Input is the `eth_signTypedData_v4` JSON shape: `{types, primaryType,
//! domain, message}`. Parsing is strict: unknown members, values of the
//! wrong kind, numbers out of range, and types the encoder does not
//! support (arrays, signed integers) are refused with the field named.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::crypto::eip712::{self, Domain, Field, Message, Types, Value as Typed};

/// The prefix of every refusal that is a matter of permission rather than
/// of a malformed request (the op answers `forbidden` for these).
pub const NOT_ALLOWED: &str = "not allowed";

/// Domain names whose payloads are policed by their own ops.
pub const RESERVED_DOMAINS: &[&str] = &["Exchange", "HyperliquidSignTransaction"];

/// `[keys.ALIAS.eip712]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Eip712KeyConfig {
    /// The domains this key may sign typed data for. A request's domain
    /// must equal one of them field for field (a field left out here must
    /// be absent from the request too).
    pub domains: Vec<AllowedDomain>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowedDomain {
    pub name: String,
    pub version: Option<String>,
    pub chain_id: Option<u64>,
    pub verifying_contract: Option<String>,
}

impl Eip712KeyConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.domains.is_empty() {
            return Err("domains must list at least one domain".into());
        }
        for d in &self.domains {
            if RESERVED_DOMAINS.contains(&d.name.as_str()) {
                return Err(format!(
                    "domain {:?} is signed only through the Hyperliquid ops, under policy",
                    d.name
                ));
            }
            if let Some(v) = &d.verifying_contract {
                address(v).map_err(|e| format!("verifying_contract: {e}"))?;
            }
        }
        Ok(())
    }
}

/// A parsed request, ready to sign.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub primary_type: String,
    pub domain_name: String,
    pub digest: [u8; 32],
}

fn address(s: &str) -> Result<[u8; 20], String> {
    let h = s
        .strip_prefix("0x")
        .ok_or_else(|| format!("{s:?} is not 0x-prefixed hex"))?;
    let b = hex::decode(h).map_err(|_| format!("{s:?} is not hex"))?;
    b.try_into()
        .map_err(|_| format!("{s:?} is not a 20-byte address"))
}

fn hex_bytes(path: &str, v: &Value) -> Result<Vec<u8>, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("{path}: expected a 0x-prefixed hex string"))?;
    let h = s
        .strip_prefix("0x")
        .ok_or_else(|| format!("{path}: expected a 0x-prefixed hex string"))?;
    hex::decode(h).map_err(|_| format!("{path}: not hex"))
}

/// A uint256 from a JSON number, a decimal string or a 0x hex string.
fn uint_word(path: &str, v: &Value) -> Result<[u8; 32], String> {
    let mut out = [0u8; 32];
    match v {
        Value::Number(n) => {
            let u = n.as_u64().ok_or_else(|| {
                format!("{path}: expected an unsigned integer (larger ones as strings)")
            })?;
            out[24..].copy_from_slice(&u.to_be_bytes());
        }
        Value::String(s) if s.starts_with("0x") => {
            let h = &s[2..];
            if h.is_empty() || h.len() > 64 {
                return Err(format!("{path}: hex integer of 1 to 64 digits expected"));
            }
            let padded = format!("{h:0>64}");
            let b = hex::decode(padded).map_err(|_| format!("{path}: not hex"))?;
            out.copy_from_slice(&b);
        }
        Value::String(s) => {
            if s.is_empty() || s.len() > 78 || !s.bytes().all(|c| c.is_ascii_digit()) {
                return Err(format!("{path}: expected a decimal integer string"));
            }
            for c in s.bytes() {
                // out = out * 10 + digit, with overflow detected.
                let mut carry = u32::from(c - b'0');
                for byte in out.iter_mut().rev() {
                    let x = u32::from(*byte) * 10 + carry;
                    *byte = (x & 0xff) as u8;
                    carry = x >> 8;
                }
                if carry != 0 {
                    return Err(format!("{path}: larger than 2^256 - 1"));
                }
            }
        }
        _ => return Err(format!("{path}: expected an unsigned integer")),
    }
    Ok(out)
}

/// Convert a JSON value of EIP-712 type `ty`.
fn value(
    types: &Map<String, Value>,
    path: &str,
    ty: &str,
    v: &Value,
    depth: usize,
) -> Result<Typed, String> {
    if depth > 16 {
        return Err(format!("{path}: structs nested too deep"));
    }
    if ty.ends_with(']') {
        return Err(format!("{path}: array types ({ty}) are not supported"));
    }
    if types.contains_key(ty) {
        let obj = v
            .as_object()
            .ok_or_else(|| format!("{path}: expected an object of type {ty}"))?;
        return Ok(Typed::Struct(message(types, path, ty, obj, depth + 1)?));
    }
    Ok(match ty {
        "string" => Typed::String(
            v.as_str()
                .ok_or_else(|| format!("{path}: expected a string"))?
                .to_string(),
        ),
        "bytes" => Typed::Bytes(hex_bytes(path, v)?),
        "bool" => Typed::Bool(
            v.as_bool()
                .ok_or_else(|| format!("{path}: expected true or false"))?,
        ),
        "address" => Typed::Address(
            address(
                v.as_str()
                    .ok_or_else(|| format!("{path}: expected an address string"))?,
            )
            .map_err(|e| format!("{path}: {e}"))?,
        ),
        t if t.starts_with("bytes") => Typed::FixedBytes(hex_bytes(path, v)?),
        t if t.starts_with("uint") => Typed::Uint(uint_word(path, v)?),
        t if t.starts_with("int") => {
            return Err(format!("{path}: signed integers ({t}) are not supported"));
        }
        t => return Err(format!("{path}: unknown type {t:?}")),
    })
}

fn fields_of(types: &Map<String, Value>, ty: &str) -> Result<Vec<Field>, String> {
    let list = types
        .get(ty)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("types.{ty} must be an array of {{name, type}}"))?;
    list.iter()
        .enumerate()
        .map(|(i, f)| {
            let o = f
                .as_object()
                .ok_or_else(|| format!("types.{ty}[{i}] must be an object"))?;
            if o.len() != 2 {
                return Err(format!("types.{ty}[{i}] must have exactly name and type"));
            }
            let name = o.get("name").and_then(Value::as_str);
            let t = o.get("type").and_then(Value::as_str);
            match (name, t) {
                (Some(n), Some(t)) => Ok(Field::new(n, t)),
                _ => Err(format!("types.{ty}[{i}] must have string name and type")),
            }
        })
        .collect()
}

fn message(
    types: &Map<String, Value>,
    path: &str,
    ty: &str,
    obj: &Map<String, Value>,
    depth: usize,
) -> Result<Message, String> {
    let fields = fields_of(types, ty)?;
    let mut m = Message::new();
    for f in &fields {
        let v = obj
            .get(&f.name)
            .ok_or_else(|| format!("{path}.{}: missing", f.name))?;
        m = m.with(
            f.name.clone(),
            value(types, &format!("{path}.{}", f.name), &f.ty, v, depth)?,
        );
    }
    if let Some(extra) = obj.keys().find(|k| !fields.iter().any(|f| &f.name == *k)) {
        return Err(format!("{path}.{extra}: not a member of {ty}"));
    }
    Ok(m)
}

/// Parse `typed_data`, check its domain against `cfg` and compute the
/// digest to sign.
pub fn prepare(cfg: &Eip712KeyConfig, typed_data: &Value) -> Result<Prepared, String> {
    let root = typed_data
        .as_object()
        .ok_or("typed_data must be an object {types, primaryType, domain, message}")?;
    if let Some(k) = root
        .keys()
        .find(|k| !["types", "primaryType", "domain", "message"].contains(&k.as_str()))
    {
        return Err(format!("typed_data.{k}: unknown member"));
    }
    let types = root
        .get("types")
        .and_then(Value::as_object)
        .ok_or("typed_data.types must be an object")?;
    let primary = root
        .get("primaryType")
        .and_then(Value::as_str)
        .ok_or("typed_data.primaryType must be a string")?;
    let dom = root
        .get("domain")
        .and_then(Value::as_object)
        .ok_or("typed_data.domain must be an object")?;
    let msg = root
        .get("message")
        .and_then(Value::as_object)
        .ok_or("typed_data.message must be an object")?;
    if primary == "EIP712Domain" || !types.contains_key(primary) {
        return Err(format!("primaryType {primary:?} is not defined in types"));
    }
    if primary == "Agent" || primary.starts_with("HyperliquidTransaction:") {
        return Err(format!(
            "{NOT_ALLOWED}: primaryType {primary:?} is a Hyperliquid payload: use the hyperliquid ops"
        ));
    }

    // The domain: only the standard fields, each of its standard type.
    let mut domain = Domain::default();
    for (k, v) in dom {
        let p = format!("domain.{k}");
        match k.as_str() {
            "name" => {
                domain.name = Some(
                    v.as_str()
                        .ok_or(format!("{p}: expected a string"))?
                        .to_string(),
                )
            }
            "version" => {
                domain.version = Some(
                    v.as_str()
                        .ok_or(format!("{p}: expected a string"))?
                        .to_string(),
                )
            }
            "chainId" => {
                let w = uint_word(&p, v)?;
                if w[..24].iter().any(|b| *b != 0) {
                    return Err(format!("{p}: out of range"));
                }
                domain.chain_id = Some(u64::from_be_bytes(w[24..].try_into().expect("8 bytes")));
            }
            "verifyingContract" => {
                domain.verifying_contract = Some(
                    address(v.as_str().ok_or(format!("{p}: expected an address"))?)
                        .map_err(|e| format!("{p}: {e}"))?,
                )
            }
            "salt" => return Err(format!("{p}: domains with a salt are not supported")),
            _ => return Err(format!("{p}: not an EIP712Domain field")),
        }
    }
    let name = domain.name.clone().ok_or("domain.name is required")?;
    if RESERVED_DOMAINS.contains(&name.as_str()) {
        return Err(format!(
            "{NOT_ALLOWED}: domain {name:?} is signed only through the Hyperliquid ops, under policy"
        ));
    }
    // The declared EIP712Domain type, if given, must match the values.
    if types.contains_key("EIP712Domain") {
        let fields = fields_of(types, "EIP712Domain")?;
        let expected: Vec<(&str, bool)> = vec![
            ("name", domain.name.is_some()),
            ("version", domain.version.is_some()),
            ("chainId", domain.chain_id.is_some()),
            ("verifyingContract", domain.verifying_contract.is_some()),
        ];
        let want: Vec<&str> = expected
            .iter()
            .filter(|(_, p)| *p)
            .map(|(n, _)| *n)
            .collect();
        let got: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        if want != got {
            return Err(format!(
                "types.EIP712Domain lists {got:?} but the domain has {want:?}"
            ));
        }
    }
    let allowed = cfg.domains.iter().any(|a| {
        a.name == name
            && a.version == domain.version
            && a.chain_id == domain.chain_id
            && a.verifying_contract
                .as_deref()
                .map(address)
                .transpose()
                .ok()
                .flatten()
                == domain.verifying_contract
    });
    if !allowed {
        let mut parts = vec![format!("name {name:?}")];
        if let Some(v) = &domain.version {
            parts.push(format!("version {v:?}"));
        }
        if let Some(c) = domain.chain_id {
            parts.push(format!("chainId {c}"));
        }
        if let Some(a) = domain.verifying_contract {
            parts.push(format!("verifyingContract 0x{}", hex::encode(a)));
        }
        return Err(format!(
            "{NOT_ALLOWED}: the domain ({}) is not in this key's eip712.domains",
            parts.join(", ")
        ));
    }

    let mut t = Types::new();
    for k in types.keys().filter(|k| *k != "EIP712Domain") {
        t.add(k.clone(), fields_of(types, k)?);
    }
    let m = message(types, "message", primary, msg, 0)?;
    let digest = eip712::typed_data_digest(&domain, &t, primary, &m).map_err(|e| e.to_string())?;
    Ok(Prepared {
        primary_type: primary.to_string(),
        domain_name: name,
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The example from the EIP-712 specification (Mail between persons).
    fn mail() -> Value {
        json!({
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"}
                ],
                "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
                "Mail": [
                    {"name": "from", "type": "Person"},
                    {"name": "to", "type": "Person"},
                    {"name": "contents", "type": "string"}
                ]
            },
            "primaryType": "Mail",
            "domain": {
                "name": "Ether Mail", "version": "1", "chainId": 1,
                "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"
            },
            "message": {
                "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
                "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
                "contents": "Hello, Bob!"
            }
        })
    }

    fn cfg() -> Eip712KeyConfig {
        Eip712KeyConfig {
            domains: vec![AllowedDomain {
                name: "Ether Mail".into(),
                version: Some("1".into()),
                chain_id: Some(1),
                verifying_contract: Some("0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC".into()),
            }],
        }
    }

    #[test]
    fn the_specification_example_hashes_to_its_published_digest() {
        let p = prepare(&cfg(), &mail()).unwrap();
        assert_eq!(
            hex::encode(p.digest),
            "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"
        );
    }

    #[test]
    fn domains_and_values_are_held_to_the_allowlist_and_the_types() {
        let c = cfg();
        let with = |f: &dyn Fn(&mut Value)| {
            let mut v = mail();
            f(&mut v);
            prepare(&c, &v).unwrap_err()
        };
        assert!(with(&|v| v["domain"]["chainId"] = json!(5)).contains("not in this key"));
        assert!(
            with(&|v| {
                v["domain"].as_object_mut().unwrap().remove("version");
            })
            .contains("EIP712Domain")
        );
        assert!(with(&|v| v["domain"]["name"] = json!("Exchange")).contains("Hyperliquid"));
        assert!(with(&|v| v["primaryType"] = json!("Agent")).contains("not defined"));
        assert!(with(&|v| v["message"]["extra"] = json!(1)).contains("not a member"));
        assert!(with(&|v| v["message"]["from"]["wallet"] = json!("0x12")).contains("20-byte"));
        assert!(with(&|v| v["message"]["contents"] = json!(5)).contains("expected a string"));
        assert!(with(&|v| v["types"]["Mail"][2]["type"] = json!("string[]")).contains("array"));
        assert!(with(&|v| v["domain"]["salt"] = json!("0x00")).contains("salt"));
        assert!(with(&|v| v["extra"] = json!({})).contains("unknown member"));
        // Big integers: decimal and hex strings, with overflow refused.
        assert_eq!(uint_word("x", &json!("255")).unwrap()[31], 255);
        assert_eq!(uint_word("x", &json!("0x0100")).unwrap()[30], 1);
        let max = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
        assert_eq!(uint_word("x", &json!(max)).unwrap(), [0xff; 32]);
        let over = "115792089237316195423570985008687907853269984665640564039457584007913129639936";
        assert!(uint_word("x", &json!(over)).is_err());
        assert!(uint_word("x", &json!(-1)).is_err());
        assert!(uint_word("x", &json!("1e3")).is_err());
        // A reserved domain cannot even be configured.
        let mut bad = cfg();
        bad.domains[0].name = "Exchange".into();
        assert!(bad.validate().is_err());
    }
}
