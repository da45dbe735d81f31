//! EIP-712 typed structured data hashing: `typeHash`, `encodeData`,
//! `hashStruct`, the domain separator and the final digest
//! `keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(message))`.
//!
//! Deliberately small: the atomic types venues use (`string`, `bytes`,
//! `bool`, `address`, `bytes1`…`bytes32`, `uint8`…`uint256`) and nested
//! structs. Arrays and signed integers are refused rather than guessed at.
//! Encoding is strict: a message must carry exactly the fields of its type,
//! each with a value of the right kind and range, so a typo can never
//! silently hash as a zero.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use super::eth::keccak256;

/// Why typed data could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Eip712Error {
    #[error("unknown struct type {0:?}")]
    UnknownType(String),
    #[error("field {field:?} has unsupported type {ty:?}")]
    UnsupportedType { field: String, ty: String },
    #[error("field {field:?} of {ty} is missing from the message")]
    MissingField { ty: String, field: String },
    #[error("field {field:?} is not a member of {ty}")]
    ExtraField { ty: String, field: String },
    #[error("field {field:?} is declared {ty} but the value is {value}")]
    Mismatch {
        field: String,
        ty: String,
        value: &'static str,
    },
    #[error("value of field {field:?} does not fit {ty}")]
    OutOfRange { field: String, ty: String },
}

/// One member of a struct type: `{"name": ..., "type": ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub ty: String,
}

impl Field {
    pub fn new(name: impl Into<String>, ty: impl Into<String>) -> Self {
        Field {
            name: name.into(),
            ty: ty.into(),
        }
    }
}

/// A set of struct type definitions (the `types` object of typed data,
/// without `EIP712Domain`, which [`Domain`] handles).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Types {
    structs: BTreeMap<String, Vec<Field>>,
}

/// A value to encode. Unsigned integers are 32 bytes, big-endian.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    String(String),
    Bytes(Vec<u8>),
    Bool(bool),
    Address([u8; 20]),
    /// A `bytesN` value (1 ≤ N ≤ 32); its length must equal N.
    FixedBytes(Vec<u8>),
    Uint([u8; 32]),
    Struct(Message),
}

impl Value {
    pub fn string(s: impl Into<String>) -> Self {
        Value::String(s.into())
    }

    pub fn uint(v: u64) -> Self {
        Value::Uint(uint_word(v))
    }

    pub fn bytes32(b: [u8; 32]) -> Self {
        Value::FixedBytes(b.to_vec())
    }

    fn kind(&self) -> &'static str {
        match self {
            Value::String(_) => "a string",
            Value::Bytes(_) => "bytes",
            Value::Bool(_) => "a bool",
            Value::Address(_) => "an address",
            Value::FixedBytes(_) => "fixed bytes",
            Value::Uint(_) => "an unsigned integer",
            Value::Struct(_) => "a struct",
        }
    }
}

/// A struct value: field name → value. Field order does not matter here;
/// the type definition fixes the encoding order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    fields: BTreeMap<String, Value>,
}

impl Message {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add (or replace) a field; returns `self` for chaining.
    pub fn with(mut self, name: impl Into<String>, value: Value) -> Self {
        self.fields.insert(name.into(), value);
        self
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }
}

/// A uint256 word holding `v`.
pub fn uint_word(v: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[24..].copy_from_slice(&v.to_be_bytes());
    out
}

impl Types {
    pub fn new() -> Self {
        Self::default()
    }

    /// Define (or redefine) a struct type.
    pub fn add(&mut self, name: impl Into<String>, fields: Vec<Field>) -> &mut Self {
        self.structs.insert(name.into(), fields);
        self
    }

    /// Chaining form of [`Types::add`].
    pub fn with(mut self, name: impl Into<String>, fields: Vec<Field>) -> Self {
        self.add(name, fields);
        self
    }

    fn fields(&self, name: &str) -> Result<&[Field], Eip712Error> {
        self.structs
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| Eip712Error::UnknownType(name.to_string()))
    }

    /// `encodeType`: `Name(type1 name1,...)` followed by every struct it
    /// references, directly or not, sorted by name.
    pub fn encode_type(&self, primary: &str) -> Result<String, Eip712Error> {
        let mut deps = BTreeSet::new();
        self.collect_deps(primary, &mut deps)?;
        deps.remove(primary);
        let mut out = String::new();
        for name in std::iter::once(primary).chain(deps.iter().map(String::as_str)) {
            out.push_str(name);
            out.push('(');
            let fields = self.fields(name)?;
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&f.ty);
                out.push(' ');
                out.push_str(&f.name);
            }
            out.push(')');
        }
        Ok(out)
    }

    fn collect_deps(&self, name: &str, seen: &mut BTreeSet<String>) -> Result<(), Eip712Error> {
        if !seen.insert(name.to_string()) {
            return Ok(());
        }
        for f in self.fields(name)? {
            if self.structs.contains_key(&f.ty) {
                self.collect_deps(&f.ty, seen)?;
            }
        }
        Ok(())
    }

    /// `typeHash = keccak256(encodeType(primary))`.
    pub fn type_hash(&self, primary: &str) -> Result<[u8; 32], Eip712Error> {
        Ok(keccak256(self.encode_type(primary)?.as_bytes()))
    }

    /// `encodeData`: the 32-byte words of each member, in type order
    /// (without the leading type hash).
    pub fn encode_data(&self, primary: &str, message: &Message) -> Result<Vec<u8>, Eip712Error> {
        let fields = self.fields(primary)?;
        if let Some(extra) = message
            .fields
            .keys()
            .find(|k| !fields.iter().any(|f| &f.name == *k))
        {
            return Err(Eip712Error::ExtraField {
                ty: primary.to_string(),
                field: extra.clone(),
            });
        }
        let mut out = Vec::with_capacity(32 * fields.len());
        for f in fields {
            let value = message
                .get(&f.name)
                .ok_or_else(|| Eip712Error::MissingField {
                    ty: primary.to_string(),
                    field: f.name.clone(),
                })?;
            out.extend_from_slice(&self.encode_value(&f.name, &f.ty, value)?);
        }
        Ok(out)
    }

    /// `hashStruct = keccak256(typeHash ‖ encodeData)`.
    pub fn hash_struct(&self, primary: &str, message: &Message) -> Result<[u8; 32], Eip712Error> {
        let mut buf = self.type_hash(primary)?.to_vec();
        buf.extend_from_slice(&self.encode_data(primary, message)?);
        Ok(keccak256(&buf))
    }

    fn encode_value(&self, field: &str, ty: &str, value: &Value) -> Result<[u8; 32], Eip712Error> {
        let mismatch = || Eip712Error::Mismatch {
            field: field.to_string(),
            ty: ty.to_string(),
            value: value.kind(),
        };
        let out_of_range = || Eip712Error::OutOfRange {
            field: field.to_string(),
            ty: ty.to_string(),
        };
        if self.structs.contains_key(ty) {
            return match value {
                Value::Struct(m) => self.hash_struct(ty, m),
                _ => Err(mismatch()),
            };
        }
        match ty {
            "string" => match value {
                Value::String(s) => Ok(keccak256(s.as_bytes())),
                _ => Err(mismatch()),
            },
            "bytes" => match value {
                Value::Bytes(b) => Ok(keccak256(b)),
                _ => Err(mismatch()),
            },
            "bool" => match value {
                Value::Bool(b) => Ok(uint_word(*b as u64)),
                _ => Err(mismatch()),
            },
            "address" => match value {
                Value::Address(a) => {
                    let mut out = [0u8; 32];
                    out[12..].copy_from_slice(a);
                    Ok(out)
                }
                _ => Err(mismatch()),
            },
            _ => {
                if let Some(n) = ty.strip_prefix("bytes").and_then(type_size) {
                    if !(1..=32).contains(&n) {
                        return Err(unsupported(field, ty));
                    }
                    return match value {
                        Value::FixedBytes(b) if b.len() == n => {
                            let mut out = [0u8; 32];
                            out[..n].copy_from_slice(b);
                            Ok(out)
                        }
                        Value::FixedBytes(_) => Err(out_of_range()),
                        _ => Err(mismatch()),
                    };
                }
                if let Some(bits) = ty.strip_prefix("uint").and_then(type_size) {
                    if bits == 0 || bits > 256 || bits % 8 != 0 {
                        return Err(unsupported(field, ty));
                    }
                    return match value {
                        Value::Uint(word) => {
                            // Every byte above the type's width must be zero.
                            let high = 32 - bits / 8;
                            if word[..high].iter().any(|&b| b != 0) {
                                Err(out_of_range())
                            } else {
                                Ok(*word)
                            }
                        }
                        _ => Err(mismatch()),
                    };
                }
                Err(unsupported(field, ty))
            }
        }
    }
}

fn unsupported(field: &str, ty: &str) -> Eip712Error {
    Eip712Error::UnsupportedType {
        field: field.to_string(),
        ty: ty.to_string(),
    }
}

/// The `N` of `bytesN` / `uintN`: plain decimal digits, no leading zero.
fn type_size(s: &str) -> Option<usize> {
    if s.is_empty() || s.len() > 3 || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The `EIP712Domain` values. Only the fields that are `Some` are part of
/// the domain type, in the order the standard fixes (name, version,
/// chainId, verifyingContract, salt). Chain ids are bounded by 2^64 − 1 in
/// practice (EIP-2294), so a `u64` holds any real one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Domain {
    pub name: Option<String>,
    pub version: Option<String>,
    pub chain_id: Option<u64>,
    pub verifying_contract: Option<[u8; 20]>,
    pub salt: Option<[u8; 32]>,
}

impl Domain {
    /// `hashStruct(eip712Domain)`.
    pub fn separator(&self) -> [u8; 32] {
        let mut fields = Vec::new();
        let mut message = Message::new();
        if let Some(name) = &self.name {
            fields.push(Field::new("name", "string"));
            message = message.with("name", Value::string(name.clone()));
        }
        if let Some(version) = &self.version {
            fields.push(Field::new("version", "string"));
            message = message.with("version", Value::string(version.clone()));
        }
        if let Some(chain_id) = self.chain_id {
            fields.push(Field::new("chainId", "uint256"));
            message = message.with("chainId", Value::uint(chain_id));
        }
        if let Some(contract) = self.verifying_contract {
            fields.push(Field::new("verifyingContract", "address"));
            message = message.with("verifyingContract", Value::Address(contract));
        }
        if let Some(salt) = self.salt {
            fields.push(Field::new("salt", "bytes32"));
            message = message.with("salt", Value::bytes32(salt));
        }
        Types::new()
            .with("EIP712Domain", fields)
            .hash_struct("EIP712Domain", &message)
            .expect("the domain type is built from its own values")
    }
}

/// The digest a key signs: `keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ structHash)`.
pub fn digest(domain_separator: &[u8; 32], struct_hash: &[u8; 32]) -> [u8; 32] {
    let mut buf = [0u8; 66];
    buf[0] = 0x19;
    buf[1] = 0x01;
    buf[2..34].copy_from_slice(domain_separator);
    buf[34..].copy_from_slice(struct_hash);
    keccak256(&buf)
}

/// Everything at once: the digest of `message` (of type `primary`) in
/// `domain`.
pub fn typed_data_digest(
    domain: &Domain,
    types: &Types,
    primary: &str,
    message: &Message,
) -> Result<[u8; 32], Eip712Error> {
    Ok(digest(
        &domain.separator(),
        &types.hash_struct(primary, message)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> [u8; 20] {
        hex::decode(s.trim_start_matches("0x"))
            .unwrap()
            .try_into()
            .unwrap()
    }

    fn h(s: &str) -> String {
        s.trim_start_matches("0x").to_string()
    }

    fn mail_types() -> Types {
        Types::new()
            .with(
                "Person",
                vec![
                    Field::new("name", "string"),
                    Field::new("wallet", "address"),
                ],
            )
            .with(
                "Mail",
                vec![
                    Field::new("from", "Person"),
                    Field::new("to", "Person"),
                    Field::new("contents", "string"),
                ],
            )
    }

    fn person(name: &str, wallet: &str) -> Value {
        Value::Struct(
            Message::new()
                .with("name", Value::string(name))
                .with("wallet", Value::Address(addr(wallet))),
        )
    }

    fn mail() -> Message {
        Message::new()
            .with(
                "from",
                person("Cow", "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"),
            )
            .with(
                "to",
                person("Bob", "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"),
            )
            .with("contents", Value::string("Hello, Bob!"))
    }

    fn mail_domain() -> Domain {
        Domain {
            name: Some("Ether Mail".into()),
            version: Some("1".into()),
            chain_id: Some(1),
            verifying_contract: Some(addr("0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC")),
            salt: None,
        }
    }

    /// The worked example of the EIP-712 specification (and its reference
    /// implementation, Example.js).
    #[test]
    fn spec_mail_example() {
        let types = mail_types();
        assert_eq!(
            types.encode_type("Mail").unwrap(),
            "Mail(Person from,Person to,string contents)Person(string name,address wallet)"
        );
        assert_eq!(
            hex::encode(types.type_hash("Mail").unwrap()),
            h("0xa0cedeb2dc280ba39b857546d74f5549c3a1d7bdc2dd96bf881f76108e23dac2")
        );
        assert_eq!(
            hex::encode(types.hash_struct("Mail", &mail()).unwrap()),
            h("0xc52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e")
        );
        assert_eq!(
            hex::encode(mail_domain().separator()),
            h("0xf2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f")
        );
        assert_eq!(
            hex::encode(typed_data_digest(&mail_domain(), &types, "Mail", &mail()).unwrap()),
            h("0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2")
        );
    }

    /// The spec example's signature (private key keccak256("cow"), v = 28) recovers
    /// Cow's address over our digest.
    #[test]
    fn spec_mail_signature_recovers() {
        use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
        let d = typed_data_digest(&mail_domain(), &mail_types(), "Mail", &mail()).unwrap();
        let r = hex::decode("4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d")
            .unwrap();
        let s = hex::decode("07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b91562")
            .unwrap();
        let sig = Signature::from_slice(&[r, s].concat()).unwrap();
        // v = 28 in the specification: recovery id 1.
        let vk = VerifyingKey::recover_from_prehash(&d, &sig, RecoveryId::from_byte(1).unwrap())
            .unwrap();
        let address = super::super::eth::address(vk.to_sec1_point(false).as_bytes());
        assert_eq!(address, addr("0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"));
    }

    /// Hyperliquid's L1 `Agent` struct: the domain separator of its
    /// "Exchange" domain and a digest, cross-checked with eth_account.
    #[test]
    fn agent_domain_known_values() {
        let domain = Domain {
            name: Some("Exchange".into()),
            version: Some("1".into()),
            chain_id: Some(1337),
            verifying_contract: Some([0; 20]),
            salt: None,
        };
        let types = Types::new().with(
            "Agent",
            vec![
                Field::new("source", "string"),
                Field::new("connectionId", "bytes32"),
            ],
        );
        assert_eq!(
            types.encode_type("Agent").unwrap(),
            "Agent(string source,bytes32 connectionId)"
        );
        let msg = Message::new()
            .with("source", Value::string("a"))
            .with("connectionId", Value::bytes32([0x11; 32]));
        // Values from eth_account.messages.encode_typed_data (0.13.7).
        assert_eq!(
            hex::encode(domain.separator()),
            "d79297fcdf2ffcd4ae223d01edaa2ba214ff8f401d7c9300d995d17c82aa4040"
        );
        assert_eq!(
            hex::encode(typed_data_digest(&domain, &types, "Agent", &msg).unwrap()),
            "5c4c9744212c68e6e2b8a8fccccf13a203b9ecc45ac6664fee435be990ba1e1d"
        );
    }

    #[test]
    fn uint_bool_bytes_encoding() {
        let types = Types::new().with(
            "T",
            vec![
                Field::new("a", "uint64"),
                Field::new("b", "bool"),
                Field::new("c", "bytes"),
                Field::new("d", "bytes4"),
                Field::new("e", "uint256"),
            ],
        );
        let msg = Message::new()
            .with("a", Value::uint(0x0102))
            .with("b", Value::Bool(true))
            .with("c", Value::Bytes(b"hi".to_vec()))
            .with("d", Value::FixedBytes(vec![1, 2, 3, 4]))
            .with("e", Value::Uint([0xff; 32]));
        let data = types.encode_data("T", &msg).unwrap();
        assert_eq!(data.len(), 5 * 32);
        assert_eq!(&data[30..32], &[1, 2]);
        assert!(data[..30].iter().all(|&b| b == 0));
        assert_eq!(data[63], 1);
        assert_eq!(&data[64..96], &keccak256(b"hi"));
        assert_eq!(&data[96..100], &[1, 2, 3, 4]);
        assert!(data[100..128].iter().all(|&b| b == 0));
        assert_eq!(&data[128..], &[0xff; 32]);
    }

    #[test]
    fn strictness() {
        let types = Types::new().with(
            "T",
            vec![Field::new("a", "uint64"), Field::new("s", "string")],
        );
        let ok = Message::new()
            .with("a", Value::uint(1))
            .with("s", Value::string("x"));
        assert!(types.hash_struct("T", &ok).is_ok());
        // Missing field.
        let m = Message::new().with("a", Value::uint(1));
        assert!(matches!(
            types.hash_struct("T", &m),
            Err(Eip712Error::MissingField { .. })
        ));
        // Extra field.
        let m = ok.clone().with("z", Value::Bool(true));
        assert!(matches!(
            types.hash_struct("T", &m),
            Err(Eip712Error::ExtraField { .. })
        ));
        // Wrong kind.
        let m = ok.clone().with("s", Value::Bool(true));
        assert!(matches!(
            types.hash_struct("T", &m),
            Err(Eip712Error::Mismatch { .. })
        ));
        // Too large for uint64.
        let mut word = [0u8; 32];
        word[23] = 1;
        let m = ok.clone().with("a", Value::Uint(word));
        assert!(matches!(
            types.hash_struct("T", &m),
            Err(Eip712Error::OutOfRange { .. })
        ));
        // Unknown primary type; unsupported member types.
        assert!(matches!(
            types.hash_struct("U", &ok),
            Err(Eip712Error::UnknownType(_))
        ));
        for ty in [
            "int256", "uint7", "uint264", "bytes33", "bytes0", "uint064", "string[]",
        ] {
            let t = Types::new().with("T", vec![Field::new("a", ty)]);
            let m = Message::new().with("a", Value::uint(1));
            assert!(
                matches!(
                    t.hash_struct("T", &m),
                    Err(Eip712Error::UnsupportedType { .. })
                ),
                "{ty}"
            );
        }
        // bytesN must have exactly N bytes.
        let t = Types::new().with("T", vec![Field::new("a", "bytes32")]);
        let m = Message::new().with("a", Value::FixedBytes(vec![1; 31]));
        assert!(matches!(
            t.hash_struct("T", &m),
            Err(Eip712Error::OutOfRange { .. })
        ));
    }
}
