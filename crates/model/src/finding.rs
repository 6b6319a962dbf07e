//! The canonical finding. Its JSON form is a public contract: users and tools read these pointers
//! (`/source`, `/rule`, `/severity/label`, `/resource/task_arn`, …), so fields are renamed only with a new
//! `schema_version`. Unknown values serialize as `null`, never vanish, so every pointer always resolves.

use crate::{FindingFingerprint, Severity};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Bumped whenever a field changes meaning or name.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Falco,
    Guardduty,
    Sysdig,
    Agent,
}

impl Source {
    pub const fn as_str(self) -> &'static str {
        match self {
            Source::Falco => "falco",
            Source::Guardduty => "guardduty",
            Source::Sysdig => "sysdig",
            Source::Agent => "agent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Source::Falco,
            Source::Guardduty,
            Source::Sysdig,
            Source::Agent,
        ]
        .into_iter()
        .find(|src| src.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    pub schema_version: u32,
    pub source: Source,
    /// The identifier the source gave this occurrence (EventBridge id, falcosidekick uuid, GuardDuty
    /// finding id, Sysdig event id). Not part of the fingerprint.
    pub source_event_id: Option<String>,
    /// Rule or finding type that fired (Falco rule, GuardDuty type, Sysdig rule name).
    pub rule: String,
    /// A one-line headline for people.
    pub title: String,
    /// The source's own description or output line.
    pub description: Option<String>,
    pub severity: Severity,
    /// When the source observed this occurrence.
    pub observed_at: DateTime<Utc>,
    /// First and last time the source saw the activity (equal to `observed_at` for single events;
    /// GuardDuty reports a span and a count).
    pub first_observed_at: DateTime<Utc>,
    pub last_observed_at: DateTime<Utc>,
    /// Occurrences the source folded into this one event (GuardDuty `service.count`; 1 otherwise).
    pub count: u64,
    pub account: Option<String>,
    pub region: Option<String>,
    pub resource: Resource,
    pub process: Option<Process>,
    pub network: Option<Network>,
    /// All tags the source attached, as given.
    pub tags: Vec<String>,
    /// MITRE ATT&CK tactics and techniques found among the tags (e.g. `execution`, `T1059`).
    pub mitre: Vec<String>,
    pub fingerprint: FindingFingerprint,
    pub raw: RawEvent,
}

impl Finding {
    /// Starts a finding with the fields every source has; the caller fills in the rest and then calls
    /// [`Finding::seal`] to compute the fingerprint from the final fields.
    pub fn new(
        source: Source,
        rule: String,
        title: String,
        severity: Severity,
        observed_at: DateTime<Utc>,
        raw: RawEvent,
    ) -> Self {
        Finding {
            schema_version: SCHEMA_VERSION,
            source,
            source_event_id: None,
            rule,
            title,
            description: None,
            severity,
            observed_at,
            first_observed_at: observed_at,
            last_observed_at: observed_at,
            count: 1,
            account: None,
            region: None,
            resource: Resource::default(),
            process: None,
            network: None,
            tags: Vec::new(),
            mitre: Vec::new(),
            fingerprint: FindingFingerprint::pending(),
            raw,
        }
    }

    /// Computes the fingerprint from the finding's current fields.
    pub fn seal(mut self) -> Self {
        self.fingerprint = FindingFingerprint::of(&self);
        self
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub cluster_arn: Option<String>,
    pub task_arn: Option<String>,
    pub service_name: Option<String>,
    pub task_definition_family: Option<String>,
    pub task_definition_revision: Option<String>,
    pub launch_type: Option<String>,
    pub host: Option<String>,
    pub container: Container,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    pub name: Option<String>,
    /// Runtime id as the source gave it: full 64-hex or Docker's 12-character short form.
    pub id: Option<String>,
    /// Image reference `repository[:tag]` (or `repository@digest`).
    pub image: Option<String>,
    pub image_digest: Option<String>,
    pub privileged: Option<bool>,
}

impl Container {
    /// Docker's 12-character short id, lower-cased: the form every source can agree on.
    pub fn short_id(&self) -> Option<String> {
        self.id.as_deref().map(|id| {
            let id = id
                .trim()
                .trim_start_matches("docker://")
                .trim_start_matches("containerd://");
            crate::text::truncate_utf8(id, 12).to_ascii_lowercase()
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    pub name: Option<String>,
    pub executable_path: Option<String>,
    pub command_line: Option<String>,
    pub pid: Option<i64>,
    pub parent_name: Option<String>,
    pub parent_pid: Option<i64>,
    pub user: Option<String>,
    pub uid: Option<i64>,
    pub executable_sha256: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkDirection {
    Inbound,
    Outbound,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub direction: Option<NetworkDirection>,
    pub protocol: Option<String>,
    pub local_ip: Option<String>,
    pub local_port: Option<u16>,
    pub remote_ip: Option<String>,
    pub remote_port: Option<u16>,
    /// The connection as the source wrote it (Falco `fd.name`, e.g. `10.0.0.1:5432->203.0.113.9:443`).
    pub connection: Option<String>,
}

impl Network {
    pub fn is_empty(&self) -> bool {
        *self == Network::default()
    }
}

/// The source event kept for forensics: verbatim when small, otherwise a UTF-8-safe prefix as a string.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawEvent {
    pub size_bytes: usize,
    pub truncated: bool,
    pub event: Box<RawValue>,
}

impl RawEvent {
    /// Keeps at most this many bytes of the source event.
    pub const MAX_BYTES: usize = 8 * 1024;

    /// Keeps `json` verbatim when it fits in `MAX_BYTES`, else a prefix of it as a JSON string that,
    /// escapes included, fits too. `json` must already be valid JSON (the adapters parsed it).
    pub fn capture(json: &str) -> Self {
        let trimmed = json.trim();
        if trimmed.len() <= Self::MAX_BYTES
            && let Ok(event) = RawValue::from_string(trimmed.to_owned())
        {
            return RawEvent {
                size_bytes: trimmed.len(),
                truncated: false,
                event,
            };
        }
        let prefix = json_string_prefix(trimmed, Self::MAX_BYTES - 64);
        let as_string = serde_json::to_string(prefix).expect("a str always serializes");
        RawEvent {
            size_bytes: trimmed.len(),
            truncated: true,
            event: RawValue::from_string(as_string).expect("serde_json output is valid JSON"),
        }
    }
}

/// The longest prefix of `s`, on a character boundary, whose JSON string escaping (as serde_json
/// writes it: `\"`, `\\`, short escapes, `\u00XX` for other controls) takes at most `max_bytes`.
fn json_string_prefix(s: &str, max_bytes: usize) -> &str {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        used += match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        };
        if used > max_bytes {
            return &s[..i];
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_event_keeps_small_events_verbatim_and_caps_large_ones() {
        let small = RawEvent::capture(r#"{"a": 1}"#);
        assert!(!small.truncated);
        assert_eq!(small.event.get(), r#"{"a": 1}"#);

        let big = format!(r#"{{"a": "{}"}}"#, "é".repeat(10_000));
        let raw = RawEvent::capture(&big);
        assert!(raw.truncated);
        assert_eq!(raw.size_bytes, big.len());
        assert!(raw.event.get().len() <= RawEvent::MAX_BYTES);
        let as_str: String = serde_json::from_str(raw.event.get()).unwrap();
        assert!(big.starts_with(&as_str));

        // Escapes count: quotes, backslashes and controls take 2 to 6 bytes each in a JSON string.
        for filler in ["\"", "\\", "\u{1b}", "\n", "\u{1b}[31mé\"", "🦀"] {
            let big = serde_json::json!({ "a": filler.repeat(20_000) }).to_string();
            let raw = RawEvent::capture(&big);
            assert!(raw.truncated);
            let len = raw.event.get().len();
            assert!(len <= RawEvent::MAX_BYTES, "{filler:?}: {len}");
            assert!(
                len >= RawEvent::MAX_BYTES - 64 - 8,
                "{filler:?}: only {len}"
            );
            let as_str: String = serde_json::from_str(raw.event.get()).unwrap();
            assert!(big.starts_with(&as_str));
        }
    }

    #[test]
    fn short_id_normalizes_forms() {
        let c = Container {
            id: Some("AD64CBC71C7FB31C55507EC24C9F77947132B03D".into()),
            ..Default::default()
        };
        assert_eq!(c.short_id().as_deref(), Some("ad64cbc71c7f"));
        let c = Container {
            id: Some("containerd://ad64cbc71c7fb31c".into()),
            ..Default::default()
        };
        assert_eq!(c.short_id().as_deref(), Some("ad64cbc71c7f"));
    }
}
