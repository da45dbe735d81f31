//! RFC 7512 PKCS#11 URIs: `pkcs11:token=dev;object=hl-main;id=%01%02;type=private`.
//!
//! Only the path attributes that identify a token and a key are understood.
//! A URI carrying a PIN (`pin-value`, `pin-source`) is refused: PINs never
//! travel inside identifiers that end up in configs, logs or argv.

use std::fmt;

/// The parts of a PKCS#11 URI tradeward uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    pub token: Option<String>,
    pub serial: Option<String>,
    pub object: Option<String>,
    pub id: Option<Vec<u8>>,
    pub object_type: Option<String>,
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
    #[error("PIN attributes are not accepted in a key reference ({0})")]
    Pin(String),
}

impl Pkcs11Uri {
    pub fn parse(s: &str) -> Result<Self, UriError> {
        let rest = s.strip_prefix("pkcs11:").ok_or(UriError::Scheme)?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut out = Pkcs11Uri::default();
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| UriError::Malformed(attr.into()))?;
            let bytes = pct_decode(value).ok_or_else(|| UriError::Encoding(attr.into()))?;
            let text =
                || String::from_utf8(bytes.clone()).map_err(|_| UriError::Encoding(attr.into()));
            let slot = match name {
                "token" => {
                    set(&mut out.token, text()?, name)?;
                    continue;
                }
                "serial" => &mut out.serial,
                "object" => &mut out.object,
                "type" => &mut out.object_type,
                "id" => {
                    if out.id.is_some() {
                        return Err(UriError::Duplicate(name.into()));
                    }
                    out.id = Some(bytes);
                    continue;
                }
                // Other standard attributes (manufacturer, model, library-*,
                // slot-*) narrow the search further; we do not use them but
                // they do not make the URI invalid.
                _ => continue,
            };
            set(slot, text()?, name)?;
        }
        if let Some(q) = query {
            for attr in q.split('&').filter(|a| !a.is_empty()) {
                let name = attr.split_once('=').map(|(n, _)| n).unwrap_or(attr);
                if name == "pin-value" || name == "pin-source" {
                    return Err(UriError::Pin(name.into()));
                }
            }
        }
        Ok(out)
    }
}

fn set(slot: &mut Option<String>, v: String, name: &str) -> Result<(), UriError> {
    if slot.is_some() {
        return Err(UriError::Duplicate(name.into()));
    }
    *slot = Some(v);
    Ok(())
}

fn pct_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = b.get(i + 1..i + 3)?;
            let h = std::str::from_utf8(h).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

fn pct_encode(f: &mut fmt::Formatter<'_>, bytes: &[u8], all: bool) -> fmt::Result {
    for &c in bytes {
        let unreserved = c.is_ascii_alphanumeric() || b"-._~".contains(&c);
        if unreserved && !all {
            write!(f, "{}", c as char)?;
        } else {
            write!(f, "%{c:02x}")?;
        }
    }
    Ok(())
}

impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pkcs11:")?;
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            if !std::mem::take(&mut first) {
                f.write_str(";")?;
            }
            Ok::<(), fmt::Error>(())
        };
        if let Some(t) = &self.token {
            sep(f)?;
            f.write_str("token=")?;
            pct_encode(f, t.as_bytes(), false)?;
        }
        if let Some(s) = &self.serial {
            sep(f)?;
            f.write_str("serial=")?;
            pct_encode(f, s.as_bytes(), false)?;
        }
        if let Some(o) = &self.object {
            sep(f)?;
            f.write_str("object=")?;
            pct_encode(f, o.as_bytes(), false)?;
        }
        if let Some(id) = &self.id {
            sep(f)?;
            f.write_str("id=")?;
            pct_encode(f, id, true)?;
        }
        if let Some(t) = &self.object_type {
            sep(f)?;
            f.write_str("type=")?;
            pct_encode(f, t.as_bytes(), false)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let u = Pkcs11Uri {
            token: Some("tradeward dev".into()),
            serial: None,
            object: Some("hl-main".into()),
            id: Some(vec![0x01, 0xab]),
            object_type: Some("private".into()),
        };
        let s = u.to_string();
        assert_eq!(
            s,
            "pkcs11:token=tradeward%20dev;object=hl-main;id=%01%ab;type=private"
        );
        assert_eq!(Pkcs11Uri::parse(&s).unwrap(), u);
    }

    #[test]
    fn rejects() {
        assert_eq!(Pkcs11Uri::parse("pkcs12:x"), Err(UriError::Scheme));
        assert!(matches!(
            Pkcs11Uri::parse("pkcs11:id=%zz"),
            Err(UriError::Encoding(_))
        ));
        assert!(matches!(
            Pkcs11Uri::parse("pkcs11:object"),
            Err(UriError::Malformed(_))
        ));
        assert!(matches!(
            Pkcs11Uri::parse("pkcs11:object=a;object=b"),
            Err(UriError::Duplicate(_))
        ));
        assert!(matches!(
            Pkcs11Uri::parse("pkcs11:object=a?pin-value=1234"),
            Err(UriError::Pin(_))
        ));
        // Unused standard attributes are tolerated.
        assert_eq!(
            Pkcs11Uri::parse("pkcs11:model=SoftHSM%20v2;object=k")
                .unwrap()
                .object
                .as_deref(),
            Some("k")
        );
    }
}
