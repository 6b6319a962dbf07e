//! Bounded JSON parsing and path-aware field access.
//!
//! Sources disagree on types (numbers as strings, nulls for absent fields, epoch or ISO times), so the
//! adapters read a parsed tree through these accessors, which accept the documented variations and
//! turn anything else into an [`AdapterError`] naming the field.
//!
//! Events are parsed into a [`Node`] tree that borrows its strings from the input (only strings with
//! escapes are copied) and keeps objects as entry lists: the same values, errors and limits as
//! `serde_json::Value` (a repeated key reads as its last value, as in a map), without an allocation
//! per key and string.
//!
//! One deliberate difference: serde_json (with `raw_value`) reads an object whose first key is its
//! private token `$serde_json::private::RawValue` as the JSON text in that key's string, parsed again
//! with a fresh nesting budget, so such objects nested in each other's strings get past the 128-level
//! limit (some 2,000 levels fit in 256 KiB). No real event has that key; [`parse_node`] refuses it.

use crate::error::{AdapterError, ErrorKind};
use chrono::{DateTime, Utc};
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};
use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use vigil_model::text::trim;

/// Largest event accepted: EventBridge's own PutEvents entry limit.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

fn check_size(bytes: &[u8]) -> Result<(), AdapterError> {
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(AdapterError::new(
            "$",
            ErrorKind::TooLarge {
                size: bytes.len(),
                limit: MAX_EVENT_BYTES,
            },
        ));
    }
    Ok(())
}

/// The deepest nesting accepted. serde_json's recursion limit refuses the 128th level of a
/// document, and an accepted event travels on four levels deeper, kept verbatim in the finding
/// (`detail.finding.raw.event` of `Finding Accepted` and `Finding Enriched`): every function must
/// still read what ingest accepted.
pub const MAX_DEPTH: usize = SERDE_JSON_MAX_DEPTH - PUBLISHED_DEPTH;

/// The most levels serde_json parses (its recursion limit refuses the 128th).
const SERDE_JSON_MAX_DEPTH: usize = 127;

/// The levels around a kept event in the events Vigil publishes: the envelope, `detail`,
/// `finding`, `raw` (the event is `raw.event`).
const PUBLISHED_DEPTH: usize = 4;

impl Node<'_> {
    /// How many containers deep the value nests, as serde_json counts them (a scalar is 0, `[]` 1).
    pub fn depth(&self) -> usize {
        match self {
            Node::Array(items) => 1 + items.iter().map(Node::depth).max().unwrap_or(0),
            Node::Object(entries) => 1 + entries.iter().map(|(_, v)| v.depth()).max().unwrap_or(0),
            _ => 0,
        }
    }
}

/// How deep the containers being parsed nest, counted as they are entered: the document's depth
/// ([`Node::depth`]) is known when the parse ends, without walking the tree again.
#[derive(Default)]
struct Nesting {
    current: Cell<usize>,
    deepest: Cell<usize>,
}

impl Nesting {
    fn enter(&self) {
        let level = self.current.get() + 1;
        self.current.set(level);
        self.deepest.set(self.deepest.get().max(level));
    }

    fn leave(&self) {
        self.current.set(self.current.get() - 1);
    }
}

fn parse_error(e: serde_json::Error) -> AdapterError {
    let msg = e.to_string();
    if msg.contains("recursion limit") {
        AdapterError::new("$", ErrorKind::TooDeep)
    } else if msg.contains(RAW_VALUE_TOKEN) {
        AdapterError::new(
            "$",
            ErrorKind::InvalidValue(format!("the object key {RAW_VALUE_TOKEN:?} is reserved")),
        )
    } else {
        AdapterError::new("$", ErrorKind::NotJson(msg))
    }
}

/// Parses an event into a [`Node`] tree borrowing from `bytes`, refusing oversize input and nesting
/// beyond serde_json's recursion limit, including nesting smuggled in through serde_json's raw-value
/// token.
pub fn parse_node(bytes: &[u8]) -> Result<Node<'_>, AdapterError> {
    parse_text(bytes).map(|(node, _)| node)
}

/// Like [`parse_node`], also returning the input as text (the whole document was valid UTF-8).
///
/// The bytes are checked as UTF-8 once, up front, and parsed as text, so serde_json does not check
/// each string again; bytes that are not UTF-8 are parsed as bytes, for serde_json's own error.
pub fn parse_text(bytes: &[u8]) -> Result<(Node<'_>, &str), AdapterError> {
    check_size(bytes)?;
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            // `serde_json::from_str`, the depth counted on the way.
            let nesting = Nesting::default();
            let mut de = serde_json::Deserializer::from_str(text);
            let node = NodeSeed(&nesting)
                .deserialize(&mut de)
                .and_then(|node| de.end().map(|()| node))
                .map_err(parse_error)?;
            debug_assert_eq!(nesting.deepest.get(), node.depth());
            if nesting.deepest.get() > MAX_DEPTH {
                return Err(AdapterError::new("$", ErrorKind::TooDeep));
            }
            Ok((node, text))
        }
        Err(not_utf8) => match serde_json::from_slice::<Node<'_>>(bytes) {
            Err(e) => Err(parse_error(e)),
            // Not reached (a document serde_json accepts is UTF-8), but never a panic.
            Ok(_) => Err(AdapterError::new(
                "$",
                ErrorKind::NotJson(not_utf8.to_string()),
            )),
        },
    }
}

/// A JSON value whose strings borrow from the input when they contain no escapes.
#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    /// JSON `null`.
    Null,
    /// A JSON boolean.
    Bool(bool),
    /// A JSON number, as parsed (integers kept exact).
    Number(Number),
    /// A JSON string, borrowed when it had no escapes.
    String(Cow<'a, str>),
    /// A JSON array.
    Array(Vec<Node<'a>>),
    /// Entries in input order; a repeated key reads as its last value.
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        NodeSeed(&Nesting::default()).deserialize(deserializer)
    }
}

/// Deserializes a [`Node`], counting its nesting.
struct NodeSeed<'n>(&'n Nesting);

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Node<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node<'de>, D::Error> {
        deserializer.deserialize_any(NodeVisitor(self.0))
    }
}

/// Mirrors `serde_json::Value`'s visitor, so a document parses (or fails) exactly as it would as a `Value`.
struct NodeVisitor<'n>(&'n Nesting);

impl<'de> Visitor<'de> for NodeVisitor<'_> {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node<'de>, E> {
        Ok(Node::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node<'de>, E> {
        Ok(Node::Number(v.into()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node<'de>, E> {
        Number::deserialize(de::value::I128Deserializer::new(v)).map(Node::Number)
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node<'de>, E> {
        Number::deserialize(de::value::U128Deserializer::new(v)).map(Node::Number)
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node<'de>, E> {
        Ok(Number::from_f64(v).map_or(Node::Null, Node::Number))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(v)))
    }
    fn visit_none<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
        NodeSeed(self.0).deserialize(d)
    }
    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        self.0.enter();
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(NodeSeed(self.0))? {
            items.push(item);
        }
        self.0.leave();
        Ok(Node::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        let Some(Key(first)) = map.next_key()? else {
            self.0.enter();
            self.0.leave();
            return Ok(Node::Object(Vec::new()));
        };
        // serde_json (built with `raw_value`, as here) would read this object as the JSON text held
        // in the key's string, parsed with a fresh nesting budget; refused (see the module docs).
        if first == RAW_VALUE_TOKEN {
            return Err(de::Error::custom(format!("reserved key {RAW_VALUE_TOKEN}")));
        }
        // Most objects of an event fit (a Falco alert's output fields are often more).
        self.0.enter();
        let mut entries = Vec::with_capacity(16);
        entries.push((first, map.next_value_seed(NodeSeed(self.0))?));
        while let Some(Key(k)) = map.next_key()? {
            entries.push((k, map.next_value_seed(NodeSeed(self.0))?));
        }
        self.0.leave();
        Ok(Node::Object(entries))
    }
}

const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// An object key, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A value of the tree.
#[derive(Clone, Copy, Debug)]
pub struct NodeRef<'a>(pub &'a Node<'a>);

impl<'a> From<&'a Node<'a>> for NodeRef<'a> {
    fn from(v: &'a Node<'a>) -> Self {
        NodeRef(v)
    }
}

/// An object's entries, in input order.
#[derive(Clone, Copy, Debug)]
pub struct ObjRef<'a>(&'a [(Cow<'a, str>, Node<'a>)]);

/// An array's items.
#[derive(Clone, Copy, Debug)]
pub struct ArrRef<'a>(&'a [Node<'a>]);

/// What a value is, with its contents.
#[derive(Clone, Copy, Debug)]
pub enum View<'a> {
    /// JSON `null`.
    Null,
    /// A JSON boolean.
    Bool(bool),
    /// A JSON number, as parsed (integers kept exact).
    Number(&'a Number),
    /// A JSON string, unescaped.
    Str(&'a str),
    /// A JSON array.
    Array(ArrRef<'a>),
    /// A JSON object.
    Object(ObjRef<'a>),
}

impl<'a> NodeRef<'a> {
    /// What the value is.
    pub fn view(self) -> View<'a> {
        match self.0 {
            Node::Null => View::Null,
            Node::Bool(b) => View::Bool(*b),
            Node::Number(n) => View::Number(n),
            Node::String(s) => View::Str(s),
            Node::Array(a) => View::Array(ArrRef(a)),
            Node::Object(m) => View::Object(ObjRef(m)),
        }
    }

    /// Whether the value is JSON `null`.
    pub fn is_null(self) -> bool {
        matches!(self.view(), View::Null)
    }
}

impl<'a> ObjRef<'a> {
    /// The value of `key` (the last one, if repeated), null included.
    pub fn get(self, key: &str) -> Option<NodeRef<'a>> {
        self.get_entry(key).map(|(_, v)| v)
    }

    /// The key (as stored in the tree) and value of `key`, as [`ObjRef::get`] finds it.
    pub fn get_entry(self, key: &str) -> Option<(&'a str, NodeRef<'a>)> {
        // Keys of one length often share a prefix (`proc.`, `container.`): their last bytes are
        // compared before the whole.
        let last = key.as_bytes().last();
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k.len() == key.len() && k.as_bytes().last() == last && k == key)
            .map(|(k, v)| (k.as_ref(), NodeRef(v)))
    }

    /// Whether `key` is present (null included).
    pub fn contains_key(self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The entries in document order (a repeated key appears each time).
    pub fn iter(self) -> impl Iterator<Item = (&'a str, NodeRef<'a>)> + 'a {
        self.0.iter().map(|(k, v)| (k.as_ref(), NodeRef(v)))
    }

    /// The value of the key `{prefix}{name}{suffix}`, found without building that key.
    pub fn get_composed(self, prefix: &str, name: &str, suffix: &str) -> Option<NodeRef<'a>> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| {
                k.len() == prefix.len() + name.len() + suffix.len()
                    && k.starts_with(prefix)
                    && k.ends_with(suffix)
                    && &k[prefix.len()..k.len() - suffix.len()] == name
            })
            .map(|(_, v)| NodeRef(v))
    }
}

impl<'a> ArrRef<'a> {
    /// How many items.
    pub fn len(self) -> usize {
        self.0.len()
    }

    /// Whether there are no items.
    pub fn is_empty(self) -> bool {
        self.0.is_empty()
    }

    /// The items in order.
    pub fn iter(self) -> impl Iterator<Item = NodeRef<'a>> {
        self.0.iter().map(NodeRef)
    }
}

fn view_type_name(v: View<'_>) -> &'static str {
    match v {
        View::Null => "null",
        View::Bool(_) => "a boolean",
        View::Number(_) => "a number",
        View::Str(_) => "a string",
        View::Array(_) => "an array",
        View::Object(_) => "an object",
    }
}

/// A scalar for an error message: strings quoted and escaped ([`crate::quote`]), numbers as JSON.
fn display(v: View<'_>) -> String {
    match v {
        View::Str(s) => crate::quote(s),
        View::Number(n) => Value::Number(n.clone()).to_string(),
        View::Bool(b) => b.to_string(),
        View::Null => "null".to_owned(),
        View::Array(_) => "[…]".to_owned(),
        View::Object(_) => "{…}".to_owned(),
    }
}

/// An object together with its path from the event root (borrowed for the root and its direct
/// children, the common case, so reading an event's objects costs no allocation).
#[derive(Clone)]
pub struct Obj<'a> {
    /// The object's entries.
    pub map: ObjRef<'a>,
    path: Cow<'a, str>,
}

impl<'a> Obj<'a> {
    /// `value` as an object at JSON path `path` (`$`, `detail`, …).
    ///
    /// Fails with [`ErrorKind::WrongType`] when `value` is not an object.
    pub fn root(value: impl Into<NodeRef<'a>>, path: &str) -> Result<Self, AdapterError> {
        match value.into().view() {
            View::Object(map) => Ok(Obj {
                map,
                path: if path == "$" {
                    Cow::Borrowed("$")
                } else {
                    Cow::Owned(path.to_owned())
                },
            }),
            other => Err(AdapterError::new(
                path,
                ErrorKind::WrongType {
                    expected: "an object",
                    found: view_type_name(other),
                },
            )),
        }
    }

    /// The dotted path of `key` inside this object.
    pub fn path_of(&self, key: &str) -> String {
        self.child_path(key).into_owned()
    }

    /// [`Obj::path_of`], borrowing `key` when it is the whole path.
    fn child_path<'k>(&self, key: &'k str) -> Cow<'k, str> {
        if self.path == "$" || self.path.is_empty() {
            Cow::Borrowed(key)
        } else {
            // Joined at its size: `format!` costs more than the copy (an object two levels
            // down, such as Falco's `detail.output_fields`, is read on every event).
            Cow::Owned([&*self.path, ".", key].concat())
        }
    }

    fn wrong(&self, key: &str, expected: &'static str, found: View<'_>) -> AdapterError {
        AdapterError::new(
            self.path_of(key),
            ErrorKind::WrongType {
                expected,
                found: view_type_name(found),
            },
        )
    }

    /// The [`ErrorKind::Missing`] error for `key` here.
    pub fn missing(&self, key: &str) -> AdapterError {
        AdapterError::new(self.path_of(key), ErrorKind::Missing)
    }

    /// The [`ErrorKind::InvalidValue`] error for `key` here, saying `why`.
    pub fn invalid(&self, key: &str, why: impl Into<String>) -> AdapterError {
        AdapterError::new(self.path_of(key), ErrorKind::InvalidValue(why.into()))
    }

    /// Present and not null.
    pub fn get(&self, key: &str) -> Option<View<'a>> {
        self.map
            .get(key)
            .map(NodeRef::view)
            .filter(|v| !matches!(v, View::Null))
    }

    /// Whether `key` is present and not null.
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// A nested object; null or absent is `None`.
    pub fn obj(&self, key: &str) -> Result<Option<Obj<'a>>, AdapterError> {
        let Some((stored_key, value)) = self.map.get_entry(key) else {
            return Ok(None);
        };
        match value.view() {
            View::Null => Ok(None),
            // The key as the tree holds it (the same text as `key`) outlives this object.
            View::Object(map) => Ok(Some(Obj {
                map,
                path: self.child_path(stored_key),
            })),
            other => Err(self.wrong(key, "an object", other)),
        }
    }

    /// A string; null, absent or blank is `None`.
    pub fn str(&self, key: &str) -> Result<Option<&'a str>, AdapterError> {
        match self.get(key) {
            None => Ok(None),
            Some(View::Str(s)) if trim(s).is_empty() => Ok(None),
            Some(View::Str(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    /// A string that must be there; fails with [`ErrorKind::Missing`] when null, absent or blank, or
    /// [`ErrorKind::WrongType`] when not a string.
    pub fn req_str(&self, key: &str) -> Result<&'a str, AdapterError> {
        self.str(key)?.ok_or_else(|| self.missing(key))
    }

    /// A scalar read as text: strings as they are, numbers and booleans printed. For fields that
    /// sources send either way (`"1"` or `1`).
    pub fn text(&self, key: &str) -> Result<Option<Cow<'a, str>>, AdapterError> {
        Ok(match self.get(key) {
            None => None,
            Some(View::Str(s)) if trim(s).is_empty() => None,
            Some(View::Str(s)) => Some(Cow::Borrowed(s)),
            Some(View::Number(n)) => Some(Cow::Owned(n.to_string())),
            Some(View::Bool(b)) => Some(Cow::Owned(b.to_string())),
            Some(other) => return Err(self.wrong(key, "a string or number", other)),
        })
    }

    /// A number, or a string holding one.
    pub fn num(&self, key: &str) -> Result<Option<f64>, AdapterError> {
        match self.get(key) {
            None => Ok(None),
            Some(View::Number(n)) => Ok(n.as_f64()),
            Some(View::Str(s)) if trim(s).is_empty() => Ok(None),
            Some(View::Str(s)) => trim(s)
                .parse::<f64>()
                .map(Some)
                .map_err(|_| self.invalid(key, format!("{} is not a number", crate::quote(s)))),
            Some(other) => Err(self.wrong(key, "a number", other)),
        }
    }

    /// An integer, or a string holding one. Fractions are refused.
    pub fn int(&self, key: &str) -> Result<Option<i64>, AdapterError> {
        match self.get(key) {
            None => Ok(None),
            Some(View::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.invalid(key, format!("{n} is not an integer"))),
            Some(View::Str(s)) if trim(s).is_empty() => Ok(None),
            Some(View::Str(s)) => trim(s)
                .parse::<i64>()
                .map(Some)
                .map_err(|_| self.invalid(key, format!("{} is not an integer", crate::quote(s)))),
            Some(other) => Err(self.wrong(key, "an integer", other)),
        }
    }

    /// A boolean, or the string `true`/`false` in any case; null or absent is `None`. Fails on any other
    /// type or string.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, AdapterError> {
        match self.get(key) {
            None => Ok(None),
            Some(View::Bool(b)) => Ok(Some(b)),
            Some(View::Str(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(View::Str(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
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

    /// An array; null or absent is `None`. Fails when the value is not an array.
    pub fn arr(&self, key: &str) -> Result<Option<ArrRef<'a>>, AdapterError> {
        match self.get(key) {
            None => Ok(None),
            Some(View::Array(a)) => Ok(Some(a)),
            Some(other) => Err(self.wrong(key, "an array", other)),
        }
    }

    /// An array of strings; non-string items are a type error naming their index.
    pub fn strings(&self, key: &str) -> Result<Vec<String>, AdapterError> {
        Ok(self.strs(key)?.into_iter().map(str::to_owned).collect())
    }

    /// Like [`Obj::strings`], borrowing the strings from the parsed event.
    pub fn strs(&self, key: &str) -> Result<Vec<&'a str>, AdapterError> {
        let Some(items) = self.arr(key)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item.view() {
                View::Str(s) => out.push(s),
                View::Null => {}
                other => {
                    return Err(AdapterError::new(
                        format!("{}[{i}]", self.path_of(key)),
                        ErrorKind::WrongType {
                            expected: "a string",
                            found: view_type_name(other),
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
        let parsed = match self.get(key) {
            None => return Ok(None),
            Some(View::Str(s)) => vigil_model::time::from_json_str(s),
            Some(View::Number(n)) => vigil_model::time::from_json_number(n),
            Some(other) => return Err(self.wrong(key, "a timestamp", other)),
        };
        parsed.map(Some).ok_or_else(|| {
            let shown = self.get(key).map(display).unwrap_or_default();
            self.invalid(key, format!("{shown} is not a timestamp"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_name_nested_fields() {
        let text = json!({"detail": {"resource": {"count": "x"}}}).to_string();
        let v = parse_node(text.as_bytes()).unwrap();
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
        let text = json!({"a": "12", "b": 12, "c": null, "d": " ", "e": [1]}).to_string();
        let v = parse_node(text.as_bytes()).unwrap();
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
            parse_node(deep.as_bytes()).unwrap_err().kind,
            ErrorKind::TooDeep
        );
        let big = vec![b' '; MAX_EVENT_BYTES + 1];
        assert!(matches!(
            parse_node(&big).unwrap_err().kind,
            ErrorKind::TooLarge { .. }
        ));
        assert!(matches!(
            parse_node(b"\xff\xfe").unwrap_err().kind,
            ErrorKind::NotJson(_)
        ));
        let at_limit = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse_node(at_limit.as_bytes()).is_ok());
        let over = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(
            parse_node(over.as_bytes()).unwrap_err().kind,
            ErrorKind::TooDeep
        );
    }

    /// serde_json's raw-value token re-parses its string with a fresh nesting budget: objects nested
    /// in each other's strings would get 15 × 120 levels deep in 256 KiB.
    #[test]
    fn raw_value_token_cannot_smuggle_nesting() {
        let mut doc = "1".to_owned();
        for _ in 0..15 {
            let quoted = serde_json::to_string(&doc).unwrap();
            doc = format!(
                "{}{{\"{RAW_VALUE_TOKEN}\":{quoted}}}{}",
                "[".repeat(120),
                "]".repeat(120)
            );
        }
        assert!(doc.len() <= MAX_EVENT_BYTES, "{}", doc.len());
        let err = parse_node(doc.as_bytes()).unwrap_err();
        assert_eq!(err.path, "$");
        assert!(matches!(err.kind, ErrorKind::InvalidValue(_)), "{err}");
        assert!(err.to_string().contains("reserved"), "{err}");
        // A shallow use is refused by the tree the adapters read, too.
        let shallow = format!("{{\"{RAW_VALUE_TOKEN}\":\"{{}}\"}}");
        assert!(parse_node(shallow.as_bytes()).is_err());
        // The token anywhere but first, or as a value, is an ordinary string.
        let ordinary = format!("{{\"a\":1,\"{RAW_VALUE_TOKEN}\":\"{RAW_VALUE_TOKEN}\"}}");
        assert!(parse_node(ordinary.as_bytes()).is_ok());
    }
}
