//! Why an event was refused. Every error names the JSON path of the field at fault, so the one-line
//! reason a user sees (`detail.priority: unknown Falco priority "Urgent"`) says where to look.

use std::fmt;

/// An event Vigil refuses, and where in it the fault is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct AdapterError {
    /// Dotted JSON path of the offending field (`$` for the event as a whole).
    pub path: String,
    /// What is wrong there.
    pub kind: ErrorKind,
}

/// What is wrong with a refused event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// Larger than the EventBridge event limit we accept.
    TooLarge {
        /// The event's size, in bytes.
        size: usize,
        /// The largest accepted, in bytes ([`crate::MAX_EVENT_BYTES`]).
        limit: usize,
    },
    /// Not parseable as JSON (includes invalid UTF-8).
    NotJson(String),
    /// Nested deeper than the parser allows.
    TooDeep,
    /// A field holds the wrong JSON type.
    WrongType {
        /// The JSON type the field should hold (`string`, `object`, …).
        expected: &'static str,
        /// The JSON type it holds.
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
    /// The event claims an origin its arrival contradicts (an AWS service's or Vigil's source, or an
    /// AWS service's event shape, from an agent).
    ForgedSource(String),
}

impl AdapterError {
    /// The error `kind` at JSON path `path`.
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
            ErrorKind::ForgedSource(_) => "forged_source",
        }
    }
}

/// Longest message [`AdapterError`]'s `Display` writes, in characters.
pub const MAX_MESSAGE_CHARS: usize = 1024;

/// Longest piece of an input value an error message quotes, in characters.
const MAX_QUOTED_CHARS: usize = 64;

/// An input value quoted for an error message: cut to 64 characters (`…` marks the cut) and written
/// as a Rust string literal, so control characters, ANSI escapes, bidi overrides and zero-width
/// characters show as visible escapes (`"Urg\u{1b}[31m\n"`) instead of acting on a log or terminal.
pub fn quote(value: &str) -> String {
    let cut = vigil_model::text::truncate_chars(value, MAX_QUOTED_CHARS);
    if cut.len() < value.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

impl AdapterError {
    fn message(&self) -> String {
        let why = match &self.kind {
            ErrorKind::TooLarge { size, limit } => {
                format!("event is {size} bytes, over the {limit}-byte limit")
            }
            ErrorKind::NotJson(e) => format!("not valid JSON ({e})"),
            ErrorKind::TooDeep => "nested too deeply".to_owned(),
            ErrorKind::WrongType { expected, found } => {
                format!("expected {expected}, found {found}")
            }
            ErrorKind::Missing => "missing".to_owned(),
            ErrorKind::UnknownSource(why) => format!("unknown source ({why})"),
            ErrorKind::Unsupported(why) => format!("unsupported event ({why})"),
            ErrorKind::InvalidValue(why) => why.clone(),
            ErrorKind::ForgedSource(why) => format!("refused ({why})"),
        };
        format!("{}: {why}", self.path)
    }
}

/// One line, at most [`MAX_MESSAGE_CHARS`] characters, without control or invisible formatting
/// characters: the message goes to logs, to `Event Rejected` and to a terminal. Values quoted from
/// the input are already escaped ([`quote`]); the final cleaning guards every other part.
impl fmt::Display for AdapterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = self.message();
        f.write_str(&vigil_model::text::clean_cow(
            &message,
            MAX_MESSAGE_CHARS,
            false,
        ))
    }
}
