//! RFC 7512 PKCS#11 URIs naming a signing key:
//! `pkcs11:token=dev;object=hl-main;id=%01%02;type=private`.
//!
//! Every attribute is either honoured or refused; none is dropped silently
//! (docs/config.md, "PKCS#11 URIs", has the table):
//!
//! - `object`, `id`, `type` name the key. `type` must be `private` (an
//!   ECDSA or Ed25519 key) or `secret-key` (an HMAC secret): a public key,
//!   certificate or data object cannot sign.
//! - `token`, `manufacturer`, `model`, `serial` must match the token in use
//!   (its CK_TOKEN_INFO); `library-manufacturer`, `library-description`,
//!   `library-version` the loaded module (its CK_INFO); and the query
//!   attributes `module-name`, `module-path` the module the agent loaded.
//!   Nothing is ever loaded or opened because a URI names it.
//! - `slot-id`, `slot-description`, `slot-manufacturer` are refused: slot
//!   numbers and descriptions change when a token is re-inserted or
//!   re-initialised (SoftHSM numbers its slots anew), so a key reference
//!   that pins a slot would break or, worse, point elsewhere. The token is
//!   named by `token`/`serial`.
//! - `pin-value`, `pin-source`, in the path or the query, are refused: PINs
//!   never travel inside identifiers that end up in configs, logs or argv.
//! - Anything else, vendor `x-` attributes included, is refused: an
//!   attribute the agent does not understand could narrow the choice of key
//!   in a way it cannot honour.

use std::fmt;
use std::path::{Path, PathBuf};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use super::{KeyInfo, KeyType, TokenIdentity};

/// The object classes a signing key reference may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectType {
    /// `type=private`: a private key (secp256k1, P-256, Ed25519).
    Private,
    /// `type=secret-key`: a secret key (the HMAC secrets).
    SecretKey,
}

impl ObjectType {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectType::Private => "private",
            ObjectType::SecretKey => "secret-key",
        }
    }

    /// The object type of a key of type `kt`.
    pub fn of(kt: KeyType) -> ObjectType {
        if kt == KeyType::Hmac {
            ObjectType::SecretKey
        } else {
            ObjectType::Private
        }
    }
}

/// A parsed key reference. Every field is an attribute tradeward honours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `token`: CK_TOKEN_INFO label.
    pub token: Option<String>,
    /// `manufacturer`: CK_TOKEN_INFO manufacturerID.
    pub manufacturer: Option<String>,
    /// `model`: CK_TOKEN_INFO model.
    pub model: Option<String>,
    /// `serial`: CK_TOKEN_INFO serialNumber.
    pub serial: Option<String>,
    /// `library-manufacturer`: CK_INFO manufacturerID.
    pub library_manufacturer: Option<String>,
    /// `library-description`: CK_INFO libraryDescription.
    pub library_description: Option<String>,
    /// `library-version`: CK_INFO libraryVersion (`M` means `M.0`).
    pub library_version: Option<(u8, u8)>,
    /// `object`: CKA_LABEL.
    pub object: Option<String>,
    /// `id`: CKA_ID.
    pub id: Option<Vec<u8>>,
    /// `type`: the object class.
    pub object_type: Option<ObjectType>,
    /// `?module-name=`: the module's file name, with or without the `lib`
    /// prefix and the suffix.
    pub module_name: Option<String>,
    /// `?module-path=`: the module's path, or the directory holding it.
    pub module_path: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UriError {
    #[error("not a PKCS#11 URI (must start with \"pkcs11:\")")]
    Scheme,
    #[error("malformed attribute {0:?}")]
    Malformed(String),
    #[error("bad percent-encoding in {0:?}")]
    Encoding(String),
    #[error("attribute {0:?} appears twice")]
    Duplicate(String),
    #[error(
        "PIN attributes are not accepted in a key reference ({0}): the agent reads the PIN from its \
         config (pin_file, pin_env or the prompt)"
    )]
    Pin(String),
    #[error("attribute {attr:?} is refused: {why}")]
    Refused { attr: String, why: String },
    #[error("unknown attribute {0:?} (see the table of accepted attributes in docs/config.md)")]
    Unknown(String),
}

fn refused(attr: &str, why: impl Into<String>) -> UriError {
    UriError::Refused {
        attr: attr.into(),
        why: why.into(),
    }
}

const SLOT_WHY: &str = "slots change when a token is re-inserted or re-initialised; \
                        name the token by token= or serial= instead";

/// Path attributes (RFC 7512 section 2.3) and what becomes of them.
fn path_attr(out: &mut Pkcs11Uri, name: &str, value: &str, raw: &str) -> Result<(), UriError> {
    let text = || -> Result<String, UriError> {
        percent_decode_str(value)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| UriError::Encoding(raw.into()))
    };
    match name {
        "token" => set(&mut out.token, text()?, name),
        "manufacturer" => set(&mut out.manufacturer, text()?, name),
        "model" => set(&mut out.model, text()?, name),
        "serial" => set(&mut out.serial, text()?, name),
        "library-manufacturer" => set(&mut out.library_manufacturer, text()?, name),
        "library-description" => set(&mut out.library_description, text()?, name),
        "library-version" => {
            let v = parse_version(&text()?).ok_or_else(|| {
                refused(
                    name,
                    "the version must be M or M.N, decimal numbers up to 255",
                )
            })?;
            set(&mut out.library_version, v, name)
        }
        "object" => set(&mut out.object, text()?, name),
        "id" => set(&mut out.id, percent_decode_str(value).collect(), name),
        "type" => {
            let t = match text()?.as_str() {
                "private" => ObjectType::Private,
                "secret-key" => ObjectType::SecretKey,
                other @ ("public" | "cert" | "data") => {
                    return Err(refused(
                        name,
                        format!(
                            "type={other} names an object that cannot sign; a signing key is \
                             type=private (or type=secret-key for an HMAC secret)"
                        ),
                    ));
                }
                other => {
                    return Err(refused(
                        name,
                        format!(
                            "{other:?} is not an RFC 7512 object type; a signing key is \
                             type=private (or type=secret-key for an HMAC secret)"
                        ),
                    ));
                }
            };
            set(&mut out.object_type, t, name)
        }
        "slot-id" | "slot-description" | "slot-manufacturer" => Err(refused(name, SLOT_WHY)),
        "pin-value" | "pin-source" => Err(UriError::Pin(name.into())),
        "module-name" | "module-path" => Err(refused(
            name,
            format!("{name} belongs in the query part (pkcs11:...?{name}=...)"),
        )),
        _ if name.starts_with("x-") => Err(refused(
            name,
            "vendor attributes are not understood by tradeward",
        )),
        _ => Err(UriError::Unknown(name.into())),
    }
}

/// Query attributes (RFC 7512 section 2.3).
fn query_attr(out: &mut Pkcs11Uri, name: &str, value: &str, raw: &str) -> Result<(), UriError> {
    let text = || -> Result<String, UriError> {
        percent_decode_str(value)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| UriError::Encoding(raw.into()))
    };
    match name {
        "pin-value" | "pin-source" => Err(UriError::Pin(name.into())),
        "module-name" => set(&mut out.module_name, text()?, name),
        "module-path" => set(&mut out.module_path, text()?, name),
        _ if name.starts_with("x-") => Err(refused(
            name,
            "vendor attributes are not understood by tradeward",
        )),
        _ => Err(UriError::Unknown(format!("?{name}"))),
    }
}

fn parse_version(s: &str) -> Option<(u8, u8)> {
    let num = |p: &str| -> Option<u8> {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    match s.split_once('.') {
        Some((m, n)) => Some((num(m)?, num(n)?)),
        None => Some((num(s)?, 0)),
    }
}

impl Pkcs11Uri {
    pub fn parse(s: &str) -> Result<Self, UriError> {
        let rest = s.strip_prefix("pkcs11:").ok_or(UriError::Scheme)?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut out = Pkcs11Uri::default();
        // PIN attributes first, wherever they are: the refusal to carry a
        // PIN must not depend on what else is wrong with the URI.
        let attrs = path
            .split(';')
            .chain(query.into_iter().flat_map(|q| q.split('&')));
        for attr in attrs {
            let name = attr.split_once('=').map_or(attr, |(n, _)| n);
            if name == "pin-value" || name == "pin-source" {
                return Err(UriError::Pin(name.into()));
            }
        }
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| UriError::Malformed(attr.into()))?;
            check_encoding(value, attr)?;
            path_attr(&mut out, name, value, attr)?;
        }
        for attr in query.into_iter().flat_map(|q| q.split('&')) {
            if attr.is_empty() {
                continue;
            }
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| UriError::Malformed(attr.into()))?;
            check_encoding(value, attr)?;
            query_attr(&mut out, name, value, attr)?;
        }
        Ok(out)
    }

    /// Whether the URI names a key at all (an `object` or an `id`): a URI
    /// naming only a token would match every key in it.
    pub fn names_key(&self) -> bool {
        self.object.is_some() || self.id.is_some()
    }

    /// Check the token, library and module attributes against what the
    /// agent actually uses. The error names the first attribute that does
    /// not match.
    pub fn check_token(&self, t: &TokenIdentity) -> Result<(), String> {
        let text = [
            ("token", &self.token, &t.label),
            ("manufacturer", &self.manufacturer, &t.manufacturer),
            ("model", &self.model, &t.model),
            ("serial", &self.serial, &t.serial),
            (
                "library-manufacturer",
                &self.library_manufacturer,
                &t.library_manufacturer,
            ),
            (
                "library-description",
                &self.library_description,
                &t.library_description,
            ),
        ];
        for (name, want, have) in text {
            if let Some(w) = want
                && w != have
            {
                return Err(format!("{name}={w:?}, but the token's is {have:?}"));
            }
        }
        if let Some((m, n)) = self.library_version
            && (m, n) != t.library_version
        {
            let (hm, hn) = t.library_version;
            return Err(format!(
                "library-version={m}.{n}, but the module's is {hm}.{hn}"
            ));
        }
        if let Some(p) = &self.module_path
            && !t.modules.iter().any(|m| module_path_matches(p, m))
        {
            return Err(format!(
                "module-path={p:?}, but the agent's module is {}",
                show_modules(&t.modules)
            ));
        }
        if let Some(n) = &self.module_name
            && !t.modules.iter().any(|m| module_name_matches(n, m))
        {
            return Err(format!(
                "module-name={n:?}, but the agent's module is {}",
                show_modules(&t.modules)
            ));
        }
        Ok(())
    }

    /// Whether the key attributes (`object`, `id`, `type`) match `k`.
    pub fn matches_key(&self, k: &KeyInfo) -> bool {
        k.piv.is_none()
            && self.object.as_ref().is_none_or(|o| *o == k.label)
            && self.id.as_ref().is_none_or(|id| *id == k.id)
            && self
                .object_type
                .is_none_or(|t| t == ObjectType::of(k.key_type))
    }
}

/// `module-path` names the module file itself or the directory holding it.
fn module_path_matches(value: &str, module: &Path) -> bool {
    let v = Path::new(value);
    v == module || module.parent() == Some(v)
}

/// `module-name` is the module's file name, with or without the `lib`
/// prefix and the platform suffix: `softhsm2`, `libsofthsm2` and
/// `libsofthsm2.so` all name `/usr/lib/softhsm/libsofthsm2.so`.
fn module_name_matches(value: &str, module: &Path) -> bool {
    let Some(file) = module.file_name().and_then(|f| f.to_str()) else {
        return false;
    };
    let stem = file.split('.').next().unwrap_or(file);
    value == file || value == stem || stem.strip_prefix("lib") == Some(value)
}

fn show_modules(modules: &[PathBuf]) -> String {
    modules
        .iter()
        .map(|m| format!("{:?}", m.display().to_string()))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// A value must be `%` followed by two hex digits wherever it has a `%`
/// (percent_decode_str passes a stray `%` through unchanged).
fn check_encoding(value: &str, attr: &str) -> Result<(), UriError> {
    let b = value.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'%'
            && !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return Err(UriError::Encoding(attr.into()));
        }
    }
    Ok(())
}

fn set<T>(slot: &mut Option<T>, v: T, name: &str) -> Result<(), UriError> {
    if slot.is_some() {
        return Err(UriError::Duplicate(name.into()));
    }
    *slot = Some(v);
    Ok(())
}

/// What a value may hold unencoded: RFC 3986's unreserved characters.
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A query value may also hold `/` (module paths).
const QUERY_VALUE: &AsciiSet = &VALUE.remove(b'/');

impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pkcs11:")?;
        let mut parts: Vec<String> = Vec::new();
        let text = |parts: &mut Vec<String>, name: &str, v: &Option<String>| {
            if let Some(v) = v {
                parts.push(format!("{name}={}", utf8_percent_encode(v, VALUE)));
            }
        };
        text(&mut parts, "token", &self.token);
        text(&mut parts, "manufacturer", &self.manufacturer);
        text(&mut parts, "model", &self.model);
        text(&mut parts, "serial", &self.serial);
        text(
            &mut parts,
            "library-manufacturer",
            &self.library_manufacturer,
        );
        text(&mut parts, "library-description", &self.library_description);
        if let Some((m, n)) = self.library_version {
            parts.push(format!("library-version={m}.{n}"));
        }
        text(&mut parts, "object", &self.object);
        if let Some(id) = &self.id {
            // Every byte encoded, as p11tool writes ids: CKA_ID is binary,
            // and percent_encode would leave its alphanumeric bytes bare.
            let hex: String = id.iter().map(|b| format!("%{b:02X}")).collect();
            parts.push(format!("id={hex}"));
        }
        if let Some(t) = self.object_type {
            parts.push(format!("type={}", t.as_str()));
        }
        f.write_str(&parts.join(";"))?;
        let query: Vec<String> = [
            ("module-name", &self.module_name),
            ("module-path", &self.module_path),
        ]
        .into_iter()
        .filter_map(|(n, v)| {
            v.as_ref()
                .map(|v| format!("{n}={}", utf8_percent_encode(v, QUERY_VALUE)))
        })
        .collect();
        if !query.is_empty() {
            write!(f, "?{}", query.join("&"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> TokenIdentity {
        TokenIdentity {
            label: "tradeward dev".into(),
            serial: "3f57a29a5ad0ed05".into(),
            manufacturer: "SoftHSM project".into(),
            model: "SoftHSM v2".into(),
            library_manufacturer: "SoftHSM".into(),
            library_description: "Implementation of PKCS11".into(),
            library_version: (2, 6),
            modules: vec![
                "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so".into(),
                "/usr/lib/softhsm/libsofthsm2.so".into(),
            ],
        }
    }

    fn key(kt: KeyType) -> KeyInfo {
        KeyInfo {
            label: "hl-main".into(),
            id: vec![0x01, 0xab],
            key_type: kt,
            public_key: None,
            sensitive: true,
            extractable: false,
            local: true,
            always_sensitive: true,
            never_extractable: true,
            token_label: "tradeward dev".into(),
            token_serial: "3f57a29a5ad0ed05".into(),
            piv: None,
        }
    }

    fn err(s: &str) -> UriError {
        Pkcs11Uri::parse(s).expect_err(s)
    }

    /// The attribute a refusal names.
    fn refused_attr(s: &str) -> String {
        match err(s) {
            UriError::Refused { attr, .. } => attr,
            UriError::Pin(a) => a,
            UriError::Unknown(a) => a,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn round_trip() {
        let u = Pkcs11Uri {
            token: Some("tradeward dev".into()),
            object: Some("hl-main".into()),
            id: Some(vec![0x01, 0xab, b'A']),
            object_type: Some(ObjectType::Private),
            ..Default::default()
        };
        let s = u.to_string();
        assert_eq!(
            s,
            "pkcs11:token=tradeward%20dev;object=hl-main;id=%01%AB%41;type=private"
        );
        assert_eq!(Pkcs11Uri::parse(&s).unwrap(), u);
        let full = Pkcs11Uri {
            manufacturer: Some("SoftHSM project".into()),
            model: Some("SoftHSM v2".into()),
            serial: Some("3f57".into()),
            library_manufacturer: Some("SoftHSM".into()),
            library_description: Some("Implementation of PKCS11".into()),
            library_version: Some((2, 6)),
            module_name: Some("softhsm2".into()),
            module_path: Some("/usr/lib/softhsm/libsofthsm2.so".into()),
            ..u
        };
        let s = full.to_string();
        assert!(
            s.ends_with("?module-name=softhsm2&module-path=/usr/lib/softhsm/libsofthsm2.so"),
            "{s}"
        );
        assert_eq!(Pkcs11Uri::parse(&s).unwrap(), full);
        // Lower-case hex and unencoded characters read the same.
        assert_eq!(
            Pkcs11Uri::parse("pkcs11:id=%01%ab%41").unwrap().id,
            Some(vec![1, 0xab, b'A'])
        );
        assert_eq!(
            Pkcs11Uri::parse("pkcs11:id=%01%abA").unwrap().id,
            Some(vec![1, 0xab, b'A'])
        );
    }

    #[test]
    fn malformed() {
        assert_eq!(Pkcs11Uri::parse("pkcs12:x"), Err(UriError::Scheme));
        for bad in ["pkcs11:id=%zz", "pkcs11:id=%1", "pkcs11:object=a%"] {
            assert!(matches!(err(bad), UriError::Encoding(_)), "{bad}");
        }
        assert!(matches!(err("pkcs11:object=%ff"), UriError::Encoding(_)));
        assert!(matches!(err("pkcs11:object"), UriError::Malformed(_)));
        assert!(matches!(
            err("pkcs11:object=a?module-name"),
            UriError::Malformed(_)
        ));
        assert!(matches!(
            err("pkcs11:object=a;object=b"),
            UriError::Duplicate(_)
        ));
        assert!(matches!(
            err("pkcs11:id=%01;id=%01"),
            UriError::Duplicate(_)
        ));
    }

    #[test]
    fn pins_are_refused_in_the_path_and_the_query() {
        for s in [
            "pkcs11:object=K;pin-value=1234",
            "pkcs11:pin-source=file:/etc/pin;object=K",
            "pkcs11:object=K?pin-value=1234",
            "pkcs11:object=K?module-name=softhsm2&pin-source=%2Fetc%2Fpin",
            // Even when something else is wrong too.
            "pkcs11:object=K;bogus;pin-value=1234",
            "pkcs11:object=K;pin-value",
        ] {
            let e = err(s);
            assert!(matches!(e, UriError::Pin(_)), "{s}: {e:?}");
            assert!(e.to_string().contains("PIN"), "{e}");
            assert!(!e.to_string().contains("1234"), "{e}");
        }
    }

    #[test]
    fn refused_attributes_are_named() {
        for (s, attr) in [
            ("pkcs11:object=K;slot-id=0", "slot-id"),
            (
                "pkcs11:object=K;slot-description=SoftHSM",
                "slot-description",
            ),
            ("pkcs11:object=K;slot-manufacturer=x", "slot-manufacturer"),
            ("pkcs11:object=K;type=public", "type"),
            ("pkcs11:object=K;type=cert", "type"),
            ("pkcs11:object=K;type=data", "type"),
            ("pkcs11:object=K;type=secret", "type"),
            ("pkcs11:object=K;x-vendor=1", "x-vendor"),
            ("pkcs11:object=K?x-vendor=1", "x-vendor"),
            ("pkcs11:object=K;colour=blue", "colour"),
            ("pkcs11:object=K?token=dev", "?token"),
            ("pkcs11:object=K;module-path=/usr/lib", "module-path"),
            ("pkcs11:object=K;library-version=2.x", "library-version"),
            ("pkcs11:object=K;library-version=256", "library-version"),
        ] {
            assert_eq!(refused_attr(s), attr, "{s}");
            assert!(err(s).to_string().contains(attr), "{}", err(s));
        }
    }

    #[test]
    fn token_attributes_are_matched() {
        let t = token();
        for ok in [
            "pkcs11:object=K;token=tradeward%20dev;serial=3f57a29a5ad0ed05",
            "pkcs11:object=K;manufacturer=SoftHSM%20project;model=SoftHSM%20v2",
            "pkcs11:object=K;library-manufacturer=SoftHSM;library-description=Implementation%20of%20PKCS11",
            "pkcs11:object=K;library-version=2.6",
            "pkcs11:object=K?module-path=/usr/lib/softhsm/libsofthsm2.so",
            "pkcs11:object=K?module-path=/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
            "pkcs11:object=K?module-path=/usr/lib/softhsm",
            "pkcs11:object=K?module-name=softhsm2",
            "pkcs11:object=K?module-name=libsofthsm2",
            "pkcs11:object=K?module-name=libsofthsm2.so",
        ] {
            let u = Pkcs11Uri::parse(ok).unwrap();
            assert_eq!(u.check_token(&t), Ok(()), "{ok}");
        }
        for (bad, attr) in [
            ("pkcs11:object=K;token=other", "token="),
            ("pkcs11:object=K;serial=0000", "serial="),
            ("pkcs11:object=K;manufacturer=Yubico", "manufacturer="),
            ("pkcs11:object=K;model=YubiHSM", "model="),
            (
                "pkcs11:object=K;library-manufacturer=Yubico",
                "library-manufacturer=",
            ),
            (
                "pkcs11:object=K;library-description=x",
                "library-description=",
            ),
            ("pkcs11:object=K;library-version=2", "library-version="),
            (
                "pkcs11:object=K?module-path=/usr/lib/libykcs11.so",
                "module-path=",
            ),
            ("pkcs11:object=K?module-path=/usr/lib", "module-path="),
            ("pkcs11:object=K?module-name=ykcs11", "module-name="),
            ("pkcs11:object=K?module-name=softhsm", "module-name="),
        ] {
            let u = Pkcs11Uri::parse(bad).unwrap();
            let e = u.check_token(&t).expect_err(bad);
            assert!(e.starts_with(attr), "{bad}: {e}");
        }
        // "M" is "M.0".
        let mut t2 = t.clone();
        t2.library_version = (2, 0);
        let u = Pkcs11Uri::parse("pkcs11:object=K;library-version=2").unwrap();
        assert_eq!(u.check_token(&t2), Ok(()));
    }

    #[test]
    fn key_attributes_are_matched() {
        let ec = key(KeyType::Secp256k1);
        let mac = key(KeyType::Hmac);
        let m = |s: &str, k: &KeyInfo| Pkcs11Uri::parse(s).unwrap().matches_key(k);
        assert!(m("pkcs11:object=hl-main", &ec));
        assert!(m("pkcs11:id=%01%ab", &ec));
        assert!(m("pkcs11:object=hl-main;id=%01%ab;type=private", &ec));
        assert!(!m("pkcs11:object=hl-main;type=secret-key", &ec));
        assert!(m("pkcs11:object=hl-main;type=secret-key", &mac));
        assert!(!m("pkcs11:object=hl-main;type=private", &mac));
        assert!(!m("pkcs11:object=other", &ec));
        assert!(!m("pkcs11:object=hl-main;id=%01", &ec));
        assert!(!Pkcs11Uri::parse("pkcs11:token=x").unwrap().names_key());
    }

    #[test]
    fn key_info_uri_parses_back() {
        let k = key(KeyType::Hmac);
        let u = Pkcs11Uri::parse(&k.uri()).unwrap();
        assert!(u.matches_key(&k));
        assert_eq!(u.object_type, Some(ObjectType::SecretKey));
        assert_eq!(u.token.as_deref(), Some("tradeward dev"));
    }
}
