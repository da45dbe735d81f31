//! Reading a bot's parameters strictly, and writing the query string.
//!
//! Parameters arrive as a JSON object (name → value, in the bot's order) or
//! as a query string (`a=1&b=2`, percent-encoded). Either way every name is
//! checked, a name given twice is refused, and every value is read as the
//! one type its parameter has: decimals only from strings (a JSON number is
//! not exact), integers from JSON integers or digit strings, booleans from
//! JSON booleans or "true"/"false". The query string the agent writes
//! percent-encodes names and values as RFC 3986 says (everything but
//! `A-Z a-z 0-9 - _ . ~`), which is what the venue's documentation asks
//! for: the signature covers exactly the encoded string that is sent.

use rust_decimal::Decimal;
use serde_json::Value;

use super::error::RestError;

/// Longest decimal accepted, in characters.
const MAX_NUMBER_LEN: usize = 40;
/// Longest free-text value accepted.
const MAX_TEXT_LEN: usize = 1024;
/// Most parameters in one request.
pub const MAX_PARAMS: usize = 64;

/// A parameter name: 1 to 64 ASCII letters, digits and `_`.
pub fn check_param_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a parameter name (1 to 64 ASCII letters, digits and _)"
        ))
    }
}

/// An endpoint path: `/` then segments of ASCII letters, digits, `_`, `-`
/// and `.`, none empty, `.` or `..`; no query string.
pub fn check_path(path: &str) -> Result<(), String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("{path:?} does not start with \"/\""));
    };
    if path.len() > 200 {
        return Err("is longer than 200 characters".into());
    }
    if path.contains('?') {
        return Err(format!(
            "{path:?} contains a query string; give the parameters in \"params\""
        ));
    }
    for seg in rest.split('/') {
        let ok = !seg.is_empty()
            && seg != "."
            && seg != ".."
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
        if !ok {
            return Err(format!(
                "{path:?} is not a plain endpoint path (segments of letters, digits, _, - and .)"
            ));
        }
    }
    Ok(())
}

/// Read the `params` of a request into (name, value) pairs in the bot's
/// order. Absent or null: none.
pub(crate) fn read_params(v: Option<&Value>) -> Result<Vec<(String, Value)>, RestError> {
    let items: Vec<(String, Value)> = match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(m)) => {
            // The frame parser has already refused a name given twice.
            for k in m.keys() {
                check_param_name(k).map_err(|r| RestError::param("params", r))?;
            }
            m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        }
        Some(Value::String(s)) => parse_query(s)?,
        Some(_) => {
            return Err(RestError::param(
                "params",
                "must be an object (name → value) or a query string",
            ));
        }
    };
    if items.len() > MAX_PARAMS {
        return Err(RestError::param(
            "params",
            format!("more than {MAX_PARAMS} parameters"),
        ));
    }
    Ok(items)
}

/// Parse `a=1&b=x%20y` into pairs. A name given twice, an empty pair, a
/// pair without `=`, a raw `+` (space or plus?) and a bad escape are
/// refused.
pub(crate) fn parse_query(s: &str) -> Result<Vec<(String, Value)>, RestError> {
    let mut out: Vec<(String, Value)> = Vec::new();
    if s.is_empty() {
        return Ok(out);
    }
    for piece in s.split('&') {
        if piece.is_empty() {
            return Err(RestError::param(
                "params",
                "empty parameter in the query string (\"&&\", or \"&\" at an end)",
            ));
        }
        let Some((name, raw)) = piece.split_once('=') else {
            return Err(RestError::param(
                "params",
                format!("{piece:?} has no \"=\" (write name=value)"),
            ));
        };
        check_param_name(name).map_err(|r| RestError::param("params", r))?;
        if out.iter().any(|(n, _)| n == name) {
            return Err(RestError::param(
                name,
                "parameter given twice; a request must say one thing",
            ));
        }
        let value = percent_decode(raw).map_err(|r| RestError::param(name, r))?;
        out.push((name.to_string(), Value::String(value)));
    }
    Ok(out)
}

fn percent_decode(raw: &str) -> Result<String, String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                return Err(
                    "a raw \"+\" in a query string is ambiguous (plus or space?); write %2B or %20"
                        .into(),
                );
            }
            b'%' => {
                let digits = bytes
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .ok_or("bad percent escape (% must be followed by two hex digits)")?;
                let text = std::str::from_utf8(digits).expect("hex digits are ASCII");
                out.push(u8::from_str_radix(text, 16).expect("two hex digits fit a byte"));
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "is not UTF-8 once percent-decoded".into())
}

/// RFC 3986 percent-encoding: every byte but `A-Z a-z 0-9 - _ . ~`.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `name=value&...`, both percent-encoded.
pub fn encode_query<N: AsRef<str>, V: AsRef<str>>(params: &[(N, V)]) -> String {
    let mut out = String::new();
    for (i, (n, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&percent_encode(n.as_ref()));
        out.push('=');
        out.push_str(&percent_encode(v.as_ref()));
    }
    out
}

/// The JSON type of a value, for messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(n) if n.is_u64() || n.is_i64() => "an integer",
        Value::Number(_) => "a non-integer number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong(path: &str, expected: &str, v: &Value) -> RestError {
    RestError::param(path, format!("expected {expected}, got {}", kind(v)))
}

/// A plain decimal: digits, at most one `.` with digits on both sides, no
/// sign, no exponent, no leading zeros, no spaces; returned normalised.
/// `positive`: zero is refused too.
pub(crate) fn parse_decimal(path: &str, s: &str, positive: bool) -> Result<Decimal, RestError> {
    let bad = |reason: &str| RestError::param(path, format!("{s:?} {reason}"));
    if s.is_empty() {
        return Err(bad("is empty"));
    }
    if s.len() > MAX_NUMBER_LEN {
        return Err(bad("is too long"));
    }
    let has_digit = s.bytes().any(|b| b.is_ascii_digit());
    for c in s.chars() {
        match c {
            '0'..='9' | '.' => {}
            '-' => return Err(bad("must not be negative")),
            '+' => return Err(bad("must not have a sign")),
            'e' | 'E' if has_digit => return Err(bad("must not use an exponent")),
            c if c.is_whitespace() => return Err(bad("must not contain whitespace")),
            ',' | '_' => return Err(bad("must not contain separators")),
            _ => return Err(bad("is not a plain decimal number")),
        }
    }
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    if let Some(f) = frac {
        if f.contains('.') {
            return Err(bad("has more than one decimal point"));
        }
        if int.is_empty() || f.is_empty() {
            return Err(bad("needs digits on both sides of the decimal point"));
        }
    }
    if int.len() > 1 && int.starts_with('0') {
        return Err(bad("has leading zeros"));
    }
    let d = Decimal::from_str_exact(s).map_err(|_| bad("has too many digits"))?;
    if positive && d.is_zero() {
        return Err(bad("must be greater than zero"));
    }
    Ok(d.normalize())
}

/// An unsigned integer: a JSON integer ≥ 0, or a string of digits without
/// leading zeros.
pub(crate) fn parse_uint(path: &str, v: &Value) -> Result<u64, RestError> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| wrong(path, "an unsigned integer", v)),
        Value::String(s) => {
            let ok = !s.is_empty()
                && s.len() <= 20
                && s.bytes().all(|b| b.is_ascii_digit())
                && !(s.len() > 1 && s.starts_with('0'));
            if !ok {
                return Err(RestError::param(
                    path,
                    format!("{s:?} is not an unsigned integer (digits only, no leading zeros)"),
                ));
            }
            s.parse::<u64>()
                .map_err(|_| RestError::param(path, format!("{s:?} is too large")))
        }
        _ => Err(wrong(path, "an unsigned integer", v)),
    }
}

/// A boolean: a JSON bool, or the string "true"/"false" (either all lower
/// or all upper case).
pub(crate) fn parse_bool(path: &str, v: &Value) -> Result<bool, RestError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.as_str() {
            "true" | "TRUE" => Ok(true),
            "false" | "FALSE" => Ok(false),
            _ => Err(RestError::param(
                path,
                format!("{s:?} is not \"true\" or \"false\""),
            )),
        },
        _ => Err(wrong(path, "a bool", v)),
    }
}

/// A free-text value of a read-only endpoint: a string without control
/// characters, an integer, or a bool, as the text that is sent.
pub(crate) fn scalar_text(path: &str, v: &Value) -> Result<String, RestError> {
    match v {
        Value::String(s) => {
            check_text(s).map_err(|r| RestError::param(path, r))?;
            Ok(s.clone())
        }
        Value::Number(n) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(_) => Err(RestError::param(
            path,
            "a non-integer JSON number is not exact; send it as a string",
        )),
        _ => Err(wrong(path, "a string, an integer or a bool", v)),
    }
}

/// Text without control characters, at most 1024 bytes.
pub(crate) fn check_text(s: &str) -> Result<(), String> {
    if s.len() > MAX_TEXT_LEN {
        return Err(format!("is longer than {MAX_TEXT_LEN} bytes"));
    }
    if s.chars().any(char::is_control) {
        return Err("contains control characters".into());
    }
    Ok(())
}

/// The parameters of one decoded request (or of one order in a batch),
/// taken one by one as they are understood; what is taken is written out
/// again in canonical form, in the endpoint's documented order.
pub(crate) struct Fields<'a> {
    /// Prepended to names in messages (e.g. `batchOrders[2].`).
    prefix: String,
    items: Vec<(&'a str, &'a Value)>,
    out: Vec<(&'static str, String)>,
}

impl<'a> Fields<'a> {
    /// `items` must all be in `known`; the first that is not is refused.
    pub(crate) fn new(
        prefix: String,
        items: Vec<(&'a str, &'a Value)>,
        known: &[&'static str],
        endpoint: &str,
    ) -> Result<Self, RestError> {
        if let Some((name, _)) = items.iter().find(|(n, _)| !known.contains(n)) {
            return Err(RestError::param(
                format!("{prefix}{name}"),
                format!("unknown parameter for {endpoint}"),
            ));
        }
        Ok(Fields {
            prefix,
            items,
            out: Vec::new(),
        })
    }

    pub(crate) fn path(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    pub(crate) fn present(&self, name: &str) -> bool {
        self.items.iter().any(|(n, _)| *n == name)
    }

    fn take(&mut self, name: &str) -> Option<&'a Value> {
        let i = self.items.iter().position(|(n, _)| *n == name)?;
        Some(self.items.remove(i).1)
    }

    fn emit(&mut self, name: &'static str, text: String) {
        self.out.push((name, text));
    }

    pub(crate) fn missing(&self, name: &str) -> RestError {
        RestError::param(self.path(name), "required parameter is missing")
    }

    /// Refuse `name` if it is there.
    pub(crate) fn forbid(&self, name: &str, reason: &str) -> Result<(), RestError> {
        if self.present(name) {
            return Err(RestError::param(self.path(name), reason));
        }
        Ok(())
    }

    fn string(&mut self, name: &str) -> Result<Option<&'a str>, RestError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(wrong(&self.path(name), "a string", v)),
        }
    }

    /// One of `allowed`, written as is.
    pub(crate) fn enumeration(
        &mut self,
        name: &'static str,
        allowed: &[&'static str],
    ) -> Result<Option<&'static str>, RestError> {
        let Some(s) = self.string(name)? else {
            return Ok(None);
        };
        let Some(hit) = allowed.iter().find(|a| **a == s) else {
            return Err(RestError::param(
                self.path(name),
                format!("{s:?} is not one of {}", allowed.join(", ")),
            ));
        };
        self.emit(name, hit.to_string());
        Ok(Some(hit))
    }

    pub(crate) fn req_enumeration(
        &mut self,
        name: &'static str,
        allowed: &[&'static str],
    ) -> Result<&'static str, RestError> {
        self.enumeration(name, allowed)?
            .ok_or_else(|| self.missing(name))
    }

    /// A decimal above zero (written normalised).
    pub(crate) fn positive(&mut self, name: &'static str) -> Result<Option<Decimal>, RestError> {
        let path = self.path(name);
        let Some(s) = self.string(name).map_err(|e| match e {
            RestError::Param { field, reason } => RestError::Param {
                field,
                reason: format!(
                    "{reason} (decimals are sent as strings: a JSON number is not exact)"
                ),
            },
            other => other,
        })?
        else {
            return Ok(None);
        };
        let d = parse_decimal(&path, s, true)?;
        self.emit(name, d.to_string());
        Ok(Some(d))
    }

    pub(crate) fn req_positive(&mut self, name: &'static str) -> Result<Decimal, RestError> {
        self.positive(name)?.ok_or_else(|| self.missing(name))
    }

    pub(crate) fn uint(&mut self, name: &'static str) -> Result<Option<u64>, RestError> {
        let path = self.path(name);
        let Some(v) = self.take(name) else {
            return Ok(None);
        };
        let n = parse_uint(&path, v)?;
        self.emit(name, n.to_string());
        Ok(Some(n))
    }

    /// A boolean, written as `spelled.0` (true) or `spelled.1` (false).
    pub(crate) fn boolean(
        &mut self,
        name: &'static str,
        spelled: (&'static str, &'static str),
    ) -> Result<Option<bool>, RestError> {
        let path = self.path(name);
        let Some(v) = self.take(name) else {
            return Ok(None);
        };
        let b = parse_bool(&path, v)?;
        self.emit(name, (if b { spelled.0 } else { spelled.1 }).to_string());
        Ok(Some(b))
    }

    /// A string value checked by `check`, written as is.
    pub(crate) fn text(
        &mut self,
        name: &'static str,
        check: fn(&str) -> Result<(), String>,
    ) -> Result<Option<String>, RestError> {
        let Some(s) = self.string(name)? else {
            return Ok(None);
        };
        check(s).map_err(|r| RestError::param(self.path(name), r))?;
        self.emit(name, s.to_string());
        Ok(Some(s.to_string()))
    }

    pub(crate) fn req_text(
        &mut self,
        name: &'static str,
        check: fn(&str) -> Result<(), String>,
    ) -> Result<String, RestError> {
        self.text(name, check)?.ok_or_else(|| self.missing(name))
    }

    /// A value the caller parses itself (e.g. a JSON list) and writes out
    /// with [`Fields::emit_raw`].
    pub(crate) fn raw(&mut self, name: &'static str) -> Option<&'a Value> {
        self.take(name)
    }

    pub(crate) fn emit_raw(&mut self, name: &'static str, text: String) {
        self.emit(name, text);
    }

    /// Everything understood, in `order`. A parameter that is known but was
    /// not taken (which the endpoint parsers never leave) is refused.
    pub(crate) fn finish(
        mut self,
        order: &[&'static str],
    ) -> Result<Vec<(&'static str, String)>, RestError> {
        if let Some((name, _)) = self.items.first() {
            return Err(RestError::param(
                self.path(name),
                "parameter not accepted here",
            ));
        }
        self.out
            .sort_by_key(|(n, _)| order.iter().position(|o| o == n).unwrap_or(usize::MAX));
        Ok(self.out)
    }
}

// ------------------------------------------------------------ value checks

/// A symbol or asset: letters (any script: the venue lists some in Chinese),
/// digits and `_`; no ASCII lower case (the venue's names are upper case).
pub(crate) fn check_symbol(s: &str) -> Result<(), String> {
    if s.is_empty() || s.chars().count() > 40 {
        return Err(format!("{s:?} is not a symbol (1 to 40 characters)"));
    }
    if s.bytes().any(|b| b.is_ascii_lowercase()) {
        return Err(format!("{s:?} must be upper case"));
    }
    if !s.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Err(format!(
            "{s:?} is not a symbol (letters, digits and _ only)"
        ));
    }
    Ok(())
}

/// A client order id, as the venue defines it: `^[.A-Z:/a-z0-9_-]{1,36}$`.
pub(crate) fn check_client_id(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 36
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'/' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a client order id (1 to 36 of A-Z a-z 0-9 . : / _ -)"
        ))
    }
}

/// An identifier the bot chooses for a withdrawal or transfer: 1 to 64 of
/// the client-id characters.
pub(crate) fn check_client_ref(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'/' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not an id (1 to 64 of A-Z a-z 0-9 . : / _ -)"
        ))
    }
}

/// A name of the venue's vocabulary (a network, a transfer type): upper
/// case ASCII letters, digits and `_`.
pub(crate) fn check_code(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a name (upper case letters, digits and _)"
        ))
    }
}

/// A withdrawal address: 1 to 128 ASCII letters, digits and `: _ - .`.
pub(crate) fn check_address(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not an address (1 to 128 ASCII letters, digits, :, _, - and .)"
        ))
    }
}

/// A memo / tag: 1 to 128 printable ASCII characters, no spaces.
pub(crate) fn check_tag(s: &str) -> Result<(), String> {
    let ok = !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not an address tag (1 to 128 printable ASCII characters, no spaces)"
        ))
    }
}

/// A short label: 1 to 64 printable ASCII characters (spaces allowed).
pub(crate) fn check_label(s: &str) -> Result<(), String> {
    let ok = !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a label (1 to 64 printable ASCII characters)"
        ))
    }
}
