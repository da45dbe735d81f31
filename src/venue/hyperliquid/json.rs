//! Strict reading of JSON objects: every field is checked against the list
//! of fields the action type has, every value against the one JSON type it
//! may have (no `null` for "absent", no `1.0` for an integer, no `"1"` for a
//! bool), and every error names the field by its path.

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::error::VenueError;

/// The JSON type of a value, for error messages.
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

/// Append `key` to `path` (`a.b`, or `b` at the root).
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn wrong(path: String, expected: &'static str, v: &Value) -> VenueError {
    VenueError::WrongType {
        path,
        expected,
        got: kind(v),
    }
}

/// A JSON object being read, with its path for error messages.
pub(crate) struct Obj<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    /// `v` must be an object whose keys are all in `allowed`.
    pub(crate) fn new(path: String, v: &'a Value, allowed: &[&str]) -> Result<Self, VenueError> {
        let map = v
            .as_object()
            .ok_or_else(|| wrong(path.clone(), "an object", v))?;
        // Report unknown fields in a stable (sorted) order.
        let mut unknown: Vec<&String> = map
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .collect();
        unknown.sort();
        if let Some(k) = unknown.first() {
            return Err(VenueError::UnknownField {
                path: join(&path, k),
            });
        }
        Ok(Obj { path, map })
    }

    pub(crate) fn path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    pub(crate) fn opt(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    pub(crate) fn req(&self, key: &str) -> Result<&'a Value, VenueError> {
        self.map.get(key).ok_or_else(|| VenueError::Missing {
            path: self.path(key),
        })
    }

    pub(crate) fn str(&self, key: &str) -> Result<&'a str, VenueError> {
        as_str(self.path(key), self.req(key)?)
    }

    pub(crate) fn bool(&self, key: &str) -> Result<bool, VenueError> {
        let v = self.req(key)?;
        v.as_bool()
            .ok_or_else(|| wrong(self.path(key), "a bool", v))
    }

    pub(crate) fn u64(&self, key: &str) -> Result<u64, VenueError> {
        as_u64(self.path(key), self.req(key)?)
    }

    pub(crate) fn u32(&self, key: &str) -> Result<u32, VenueError> {
        let v = self.u64(key)?;
        u32::try_from(v)
            .map_err(|_| VenueError::invalid(self.path(key), format!("{v} is too large")))
    }

    pub(crate) fn i64(&self, key: &str) -> Result<i64, VenueError> {
        let v = self.req(key)?;
        v.as_i64()
            .ok_or_else(|| wrong(self.path(key), "a (64-bit) integer", v))
    }

    pub(crate) fn opt_u64(&self, key: &str) -> Result<Option<u64>, VenueError> {
        self.opt(key).map(|v| as_u64(self.path(key), v)).transpose()
    }

    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<&'a str>, VenueError> {
        self.opt(key).map(|v| as_str(self.path(key), v)).transpose()
    }

    /// A non-empty array.
    pub(crate) fn array(&self, key: &str) -> Result<&'a [Value], VenueError> {
        let v = self.req(key)?;
        let items = v
            .as_array()
            .ok_or_else(|| wrong(self.path(key), "an array", v))?;
        if items.is_empty() {
            return Err(VenueError::invalid(self.path(key), "must not be empty"));
        }
        Ok(items)
    }
}

pub(crate) fn as_str(path: String, v: &Value) -> Result<&str, VenueError> {
    v.as_str().ok_or_else(|| wrong(path, "a string", v))
}

pub(crate) fn as_u64(path: String, v: &Value) -> Result<u64, VenueError> {
    v.as_u64()
        .ok_or_else(|| wrong(path, "a non-negative (64-bit) integer", v))
}

/// Parse JSON text like `serde_json::from_str::<Value>`, but refuse an
/// object with the same key twice (which `serde_json` would silently
/// resolve to the last one): a request that says two things is denied.
pub fn parse_json_strict(text: &str) -> Result<Value, VenueError> {
    serde_json::from_str::<Strict>(text)
        .map(|s| s.0)
        .map_err(|e| VenueError::invalid("request", format!("invalid JSON: {e}")))
}

struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}
