//! Why an event was refused. Every error names the JSON path of the field at fault, so the one-line
//! reason a user sees (`detail.priority: unknown Falco priority "Urgent"`) says where to look.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct AdapterError {
    /// Dotted JSON path of the offending field (`$` for the event as a whole).
    pub path: String,
    pub kind: ErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// Larger than the EventBridge event limit we accept.
    TooLarge { size: usize, limit: usize },
    /// Not parseable as JSON (includes invalid UTF-8).
    NotJson(String),
    /// Nested deeper than the parser allows.
    TooDeep,
    /// A field holds the wrong JSON type.
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    /// A required field is absent, null or empty.
    Missing,
    /// No adapter recognizes the event.
    UnknownSource(String),
    /// A recognized source sent a kind of event Vigil does not handle (e.g. a GuardDuty EKS finding).
    Unsupported(String),
    /// The field is present with the right type but an unusable value.
    InvalidValue(String),
}

impl AdapterError {
    pub fn new(path: impl Into<String>, kind: ErrorKind) -> Self {
        AdapterError {
            path: path.into(),
            kind,
        }
    }

    /// A stable machine-readable name for the error class (used in `Event Rejected` and metrics).
    pub fn code(&self) -> &'static str {
        match self.kind {
            ErrorKind::TooLarge { .. } => "too_large",
            ErrorKind::NotJson(_) => "not_json",
            ErrorKind::TooDeep => "too_deep",
            ErrorKind::WrongType { .. } => "wrong_type",
            ErrorKind::Missing => "missing_field",
            ErrorKind::UnknownSource(_) => "unknown_source",
            ErrorKind::Unsupported(_) => "unsupported",
            ErrorKind::InvalidValue(_) => "invalid_value",
        }
    }
}

impl fmt::Display for AdapterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.path)?;
        match &self.kind {
            ErrorKind::TooLarge { size, limit } => {
                write!(f, "event is {size} bytes, over the {limit}-byte limit")
            }
            ErrorKind::NotJson(e) => write!(f, "not valid JSON ({e})"),
            ErrorKind::TooDeep => write!(f, "nested too deeply"),
            ErrorKind::WrongType { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            ErrorKind::Missing => write!(f, "missing"),
            ErrorKind::UnknownSource(why) => write!(f, "unknown source ({why})"),
            ErrorKind::Unsupported(why) => write!(f, "unsupported event ({why})"),
            ErrorKind::InvalidValue(why) => write!(f, "{why}"),
        }
    }
}
