//! Reading a JSON request body strictly (OKX and Bybit sign the body as
//! sent): an object whose every name is known to the endpoint, each value
//! read as the one type its field has (decimals only from strings, in plain
//! notation, with at most [`MAX_DECIMALS`] decimals; booleans only from JSON
//! booleans), and written out again in canonical form, in the endpoint's
//! documented order, so the agent signs the bytes it judged.

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::binance::{RestError, parse_decimal};

/// Most decimals a number may carry (no venue's tick is finer).
pub const MAX_DECIMALS: u32 = 16;

/// The JSON type of a value, for messages.
pub fn kind(v: &Value) -> &'static str {
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

/// A plain decimal above zero (or at least zero with `positive` false),
/// with at most [`MAX_DECIMALS`] decimals.
pub fn decimal(path: &str, s: &str, positive: bool) -> Result<Decimal, RestError> {
    let d = parse_decimal(path, s, positive)?;
    if d.scale() > MAX_DECIMALS {
        return Err(RestError::param(
            path,
            format!("{s:?} has more than {MAX_DECIMALS} decimals"),
        ));
    }
    Ok(d)
}

/// One JSON object of a body, read field by field.
pub struct Obj<'a> {
    prefix: String,
    map: &'a Map<String, Value>,
    taken: Vec<&'a str>,
    out: Vec<(&'static str, Value)>,
}

impl<'a> Obj<'a> {
    /// `v` must be an object whose names are all in `known`.
    pub fn new(
        prefix: String,
        v: &'a Value,
        known: &[&'static str],
        endpoint: &str,
    ) -> Result<Self, RestError> {
        let Value::Object(map) = v else {
            return Err(RestError::param(
                if prefix.is_empty() {
                    "body".to_string()
                } else {
                    prefix.trim_end_matches('.').to_string()
                },
                format!("must be an object, not {}", kind(v)),
            ));
        };
        if let Some(name) = map.keys().find(|n| !known.contains(&n.as_str())) {
            return Err(RestError::param(
                format!("{prefix}{name}"),
                format!("unknown field for {endpoint}"),
            ));
        }
        Ok(Obj {
            prefix,
            map,
            taken: Vec::new(),
            out: Vec::new(),
        })
    }

    pub fn path(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    pub fn present(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    pub fn missing(&self, name: &str) -> RestError {
        RestError::param(self.path(name), "required field is missing")
    }

    pub fn forbid(&self, name: &str, reason: &str) -> Result<(), RestError> {
        if self.present(name) {
            return Err(RestError::param(self.path(name), reason));
        }
        Ok(())
    }

    fn take(&mut self, name: &'a str) -> Option<&'a Value> {
        let v = self.map.get(name)?;
        self.taken.push(name);
        Some(v)
    }

    fn string(&mut self, name: &'static str) -> Result<Option<&'a str>, RestError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(RestError::param(
                self.path(name),
                format!("expected a string, got {}", kind(v)),
            )),
        }
    }

    /// One of `allowed`.
    pub fn enumeration(
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
        self.out.push((name, Value::String(hit.to_string())));
        Ok(Some(hit))
    }

    pub fn req_enumeration(
        &mut self,
        name: &'static str,
        allowed: &[&'static str],
    ) -> Result<&'static str, RestError> {
        self.enumeration(name, allowed)?
            .ok_or_else(|| self.missing(name))
    }

    /// A decimal string (above zero when `positive`), written normalised.
    pub fn decimal(
        &mut self,
        name: &'static str,
        positive: bool,
    ) -> Result<Option<Decimal>, RestError> {
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
        let d = decimal(&path, s, positive)?;
        self.out.push((name, Value::String(d.to_string())));
        Ok(Some(d))
    }

    pub fn req_decimal(&mut self, name: &'static str) -> Result<Decimal, RestError> {
        self.decimal(name, true)?.ok_or_else(|| self.missing(name))
    }

    /// A JSON boolean.
    pub fn boolean(&mut self, name: &'static str) -> Result<Option<bool>, RestError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => {
                self.out.push((name, Value::Bool(*b)));
                Ok(Some(*b))
            }
            Some(v) => Err(RestError::param(
                self.path(name),
                format!("expected a JSON bool, got {}", kind(v)),
            )),
        }
    }

    /// A string checked by `check`, written as is.
    pub fn text(
        &mut self,
        name: &'static str,
        check: fn(&str) -> Result<(), String>,
    ) -> Result<Option<String>, RestError> {
        let Some(s) = self.string(name)? else {
            return Ok(None);
        };
        check(s).map_err(|r| RestError::param(self.path(name), r))?;
        self.out.push((name, Value::String(s.to_string())));
        Ok(Some(s.to_string()))
    }

    pub fn req_text(
        &mut self,
        name: &'static str,
        check: fn(&str) -> Result<(), String>,
    ) -> Result<String, RestError> {
        self.text(name, check)?.ok_or_else(|| self.missing(name))
    }

    /// An unsigned integer: a JSON integer or a string of digits, written
    /// back as it came (string or number).
    pub fn uint(&mut self, name: &'static str) -> Result<Option<u64>, RestError> {
        let path = self.path(name);
        let Some(v) = self.take(name) else {
            return Ok(None);
        };
        let bad = || {
            RestError::param(
                path.clone(),
                format!(
                    "expected an unsigned integer (digits, no leading zeros), got {}",
                    kind(v)
                ),
            )
        };
        let n = match v {
            Value::Number(n) => n.as_u64().ok_or_else(bad)?,
            Value::String(s) => {
                let ok = !s.is_empty()
                    && s.len() <= 20
                    && s.bytes().all(|b| b.is_ascii_digit())
                    && !(s.len() > 1 && s.starts_with('0'));
                if !ok {
                    return Err(bad());
                }
                s.parse().map_err(|_| bad())?
            }
            _ => return Err(bad()),
        };
        self.out.push((name, v.clone()));
        Ok(Some(n))
    }

    /// Everything understood, in `order`, as one JSON object.
    pub fn finish(mut self, order: &[&'static str]) -> Result<Map<String, Value>, RestError> {
        if let Some(name) = self.map.keys().find(|n| !self.taken.contains(&n.as_str())) {
            return Err(RestError::param(self.path(name), "field not accepted here"));
        }
        self.out
            .sort_by_key(|(n, _)| order.iter().position(|o| o == n).unwrap_or(usize::MAX));
        Ok(self
            .out
            .into_iter()
            .map(|(n, v)| (n.to_string(), v))
            .collect())
    }
}

/// A list of objects (a batch): an array of 1 to `max` items.
pub fn list<'a>(v: &'a Value, name: &str, max: usize) -> Result<&'a [Value], RestError> {
    let Value::Array(items) = v else {
        return Err(RestError::param(
            name,
            format!("must be an array, not {}", kind(v)),
        ));
    };
    if items.is_empty() || items.len() > max {
        return Err(RestError::param(
            name,
            format!("must hold 1 to {max} items (got {})", items.len()),
        ));
    }
    Ok(items)
}

/// A read-only query value (OKX and Bybit allowlists): 1 to 128 of
/// letters, digits and `- _ . ,` (nothing the query string would need to
/// escape).
pub fn check_query_value(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b','));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a plain query value (letters, digits, - _ . ,)"
        ))
    }
}
