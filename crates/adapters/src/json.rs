//! Bounded JSON parsing and path-aware field access over `serde_json::Value`.
//!
//! Sources disagree on types (numbers as strings, nulls for absent fields, epoch or ISO times), so the
//! adapters read a parsed tree through these accessors, which accept the documented variations and
//! turn anything else into an [`AdapterError`] naming the field.

use crate::error::{AdapterError, ErrorKind};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// Largest event accepted: EventBridge's own PutEvents entry limit.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// Parses an event, refusing oversize input and nesting beyond serde_json's recursion limit (128).
pub fn parse_bounded(bytes: &[u8]) -> Result<Value, AdapterError> {
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(AdapterError::new(
            "$",
            ErrorKind::TooLarge {
                size: bytes.len(),
                limit: MAX_EVENT_BYTES,
            },
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let msg = e.to_string();
        if msg.contains("recursion limit") {
            AdapterError::new("$", ErrorKind::TooDeep)
        } else {
            AdapterError::new("$", ErrorKind::NotJson(msg))
        }
    })
}

pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An object together with its path from the event root.
#[derive(Clone)]
pub struct Obj<'a> {
    pub map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    pub fn root(value: &'a Value, path: &str) -> Result<Self, AdapterError> {
        match value {
            Value::Object(map) => Ok(Obj {
                map,
                path: path.to_owned(),
            }),
            other => Err(AdapterError::new(
                path,
                ErrorKind::WrongType {
                    expected: "an object",
                    found: type_name(other),
                },
            )),
        }
    }

    /// The dotted path of `key` inside this object.
    pub fn path_of(&self, key: &str) -> String {
        if self.path == "$" || self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn wrong(&self, key: &str, expected: &'static str, found: &Value) -> AdapterError {
        AdapterError::new(
            self.path_of(key),
            ErrorKind::WrongType {
                expected,
                found: type_name(found),
            },
        )
    }

    pub fn missing(&self, key: &str) -> AdapterError {
        AdapterError::new(self.path_of(key), ErrorKind::Missing)
    }

    pub fn invalid(&self, key: &str, why: impl Into<String>) -> AdapterError {
        AdapterError::new(self.path_of(key), ErrorKind::InvalidValue(why.into()))
    }

    /// Present and not null.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// A nested object; null or absent is `None`.
    pub fn obj(&self, key: &str) -> Result<Option<Obj<'a>>, AdapterError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj {
                map,
                path: self.path_of(key),
            })),
            Some(other) => Err(self.wrong(key, "an object", other)),
        }
    }

    /// A string; null, absent or blank is `None`.
    pub fn str(&self, key: &str) -> Result<Option<&'a str>, AdapterError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    pub fn req_str(&self, key: &str) -> Result<&'a str, AdapterError> {
        self.str(key)?.ok_or_else(|| self.missing(key))
    }

    /// A scalar read as text: strings as they are, numbers and booleans printed. For fields that
    /// sources send either way (`"1"` or `1`).
    pub fn text(&self, key: &str) -> Result<Option<String>, AdapterError> {
        Ok(match self.get(key) {
            None => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            Some(other) => return Err(self.wrong(key, "a string or number", other)),
        })
    }

    /// A number, or a string holding one.
    pub fn num(&self, key: &str) -> Result<Option<f64>, AdapterError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .map(Some)
                .map_err(|_| self.invalid(key, format!("{s:?} is not a number"))),
            Some(other) => Err(self.wrong(key, "a number", other)),
        }
    }

    /// An integer, or a string holding one. Fractions are refused.
    pub fn int(&self, key: &str) -> Result<Option<i64>, AdapterError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.invalid(key, format!("{n} is not an integer"))),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| self.invalid(key, format!("{s:?} is not an integer"))),
            Some(other) => Err(self.wrong(key, "an integer", other)),
        }
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, AdapterError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(other) => Err(self.wrong(key, "a boolean", other)),
        }
    }

    /// The objects of an array, each with its indexed path; non-object items are a type error.
    pub fn objs(&self, key: &str) -> Result<Vec<Obj<'a>>, AdapterError> {
        let Some(items) = self.arr(key)? else {
            return Ok(Vec::new());
        };
        let base = self.path_of(key);
        items
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_null())
            .map(|(i, v)| Obj::root(v, &format!("{base}[{i}]")))
            .collect()
    }

    pub fn arr(&self, key: &str) -> Result<Option<&'a Vec<Value>>, AdapterError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(other) => Err(self.wrong(key, "an array", other)),
        }
    }

    /// An array of strings; non-string items are a type error naming their index.
    pub fn strings(&self, key: &str) -> Result<Vec<String>, AdapterError> {
        let Some(items) = self.arr(key)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => out.push(s.clone()),
                Value::Null => {}
                other => {
                    return Err(AdapterError::new(
                        format!("{}[{i}]", self.path_of(key)),
                        ErrorKind::WrongType {
                            expected: "a string",
                            found: type_name(other),
                        },
                    ));
                }
            }
        }
        Ok(out)
    }

    /// A timestamp written as RFC 3339 or as an epoch number (unit told by magnitude). A value of the
    /// right type that is not a believable time is an error: silently inventing a time would be worse.
    pub fn time(&self, key: &str) -> Result<Option<DateTime<Utc>>, AdapterError> {
        match self.get(key) {
            None => Ok(None),
            Some(v @ (Value::String(_) | Value::Number(_))) => vigil_model::time::from_json(v)
                .map(Some)
                .ok_or_else(|| self.invalid(key, format!("{v} is not a timestamp"))),
            Some(other) => Err(self.wrong(key, "a timestamp", other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_name_nested_fields() {
        let v = json!({"detail": {"resource": {"count": "x"}}});
        let root = Obj::root(&v, "$").unwrap();
        let detail = root.obj("detail").unwrap().unwrap();
        let resource = detail.obj("resource").unwrap().unwrap();
        let err = resource.int("count").unwrap_err();
        assert_eq!(err.path, "detail.resource.count");
        assert_eq!(
            err.to_string(),
            "detail.resource.count: \"x\" is not an integer"
        );
    }

    #[test]
    fn lenient_scalars() {
        let v = json!({"a": "12", "b": 12, "c": null, "d": " ", "e": [1]});
        let o = Obj::root(&v, "$").unwrap();
        assert_eq!(o.int("a").unwrap(), Some(12));
        assert_eq!(o.text("b").unwrap().as_deref(), Some("12"));
        assert_eq!(o.str("c").unwrap(), None);
        assert_eq!(o.str("d").unwrap(), None);
        assert_eq!(
            o.str("e").unwrap_err().to_string(),
            "e: expected a string, found an array"
        );
        assert_eq!(o.req_str("zz").unwrap_err().to_string(), "zz: missing");
    }

    #[test]
    fn deep_nesting_and_size_are_refused() {
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert_eq!(
            parse_bounded(deep.as_bytes()).unwrap_err().kind,
            ErrorKind::TooDeep
        );
        let big = vec![b' '; MAX_EVENT_BYTES + 1];
        assert!(matches!(
            parse_bounded(&big).unwrap_err().kind,
            ErrorKind::TooLarge { .. }
        ));
        assert!(matches!(
            parse_bounded(b"\xff\xfe").unwrap_err().kind,
            ErrorKind::NotJson(_)
        ));
    }
}
