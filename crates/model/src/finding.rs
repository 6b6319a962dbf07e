//! The canonical finding. Its JSON form is a public contract: users and tools read these pointers
//! (`/source`, `/rule`, `/severity/label`, `/resource/task_arn`, …), so fields are renamed only with a new
//! `schema_version`. Unknown values serialize as `null`, never vanish, so every pointer always resolves.

use crate::{FindingFingerprint, Provenance, Severity};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Bumped whenever a field changes meaning or name.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
    strum::Display,
    strum::EnumString,
)]
/// The detector a finding came from.
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase", ascii_case_insensitive)]
pub enum Source {
    /// Falco, directly or through falcosidekick.
    Falco,
    /// Amazon GuardDuty (Runtime Monitoring, Extended Threat Detection) through EventBridge.
    Guardduty,
    /// Sysdig Secure runtime events.
    Sysdig,
    /// Another agent (`agent`); no adapter in this workspace produces it today.
    Agent,
}

impl Source {
    /// The source's name as Vigil writes it (`falco`, `guardduty`, `sysdig`, `agent`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Reads a source's name, case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        s.trim().parse().ok()
    }
}

/// One occurrence of a threat, normalized from any source: what every stage after ingest reads.
/// Times are UTC; fields the source did not give are `None` or empty.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    /// The schema this finding was written with ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The detector that raised it.
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
    /// The source's severity, mapped to the ASFF label and 0–100 normalized score.
    pub severity: Severity,
    /// When the source observed this occurrence.
    pub observed_at: DateTime<Utc>,
    /// First and last time the source saw the activity (equal to `observed_at` for single events;
    /// GuardDuty reports a span and a count).
    pub first_observed_at: DateTime<Utc>,
    /// The end of that span.
    pub last_observed_at: DateTime<Utc>,
    /// Occurrences the source folded into this one event (GuardDuty `service.count`; 1 otherwise).
    pub count: u64,
    /// The 12-digit AWS account the workload runs in.
    pub account: Option<String>,
    /// The AWS region the workload runs in (e.g. `eu-west-1`); decides the partition.
    pub region: Option<String>,
    /// The ECS workload: cluster, task, container, host.
    pub resource: Resource,
    /// The process that did it, when the source says.
    pub process: Option<Process>,
    /// The connection involved, when there is one.
    pub network: Option<Network>,
    /// All tags the source attached, as given.
    pub tags: Vec<String>,
    /// MITRE ATT&CK tactics and techniques found among the tags (e.g. `execution`, `T1059`).
    pub mitre: Vec<String>,
    /// What the finding is about: a workload (container or host), or, for detections on audit
    /// streams, a cloud account, a Kubernetes object or a SaaS identity. Absent in findings written
    /// before it existed, which were all about workloads.
    #[serde(default)]
    pub subject: Subject,
    /// The dedup key and the basis of the Security Hub `Id`; see [`FindingFingerprint`].
    pub fingerprint: FindingFingerprint,
    /// Where this occurrence came from (arrival, envelope source, sender account, ids), as the
    /// entry point saw it: the basis of every trust decision downstream.
    #[serde(default)]
    pub provenance: Provenance,
    /// What the event said about its own workload that does not hold together (a cluster label that
    /// is not the task ARN's cluster, a task in another account than the sender's). The finding is
    /// kept and imported; remediation refuses it.
    #[serde(default)]
    pub identity_conflicts: Vec<String>,
    /// Set when the event claimed observed times too far after it was received (a wrong clock, or a
    /// forged date such as year 9999): those times were clamped to the receive time. `null` when the
    /// times were believed; absent in findings written before it existed.
    #[serde(default)]
    pub time_clamped: Option<TimeClamp>,
    /// A GuardDuty attack sequence (Extended Threat Detection): its signals, indicators and every
    /// task and container it names. Absent for every other finding, and in findings written before
    /// it existed. See [`crate::AttackSequence`] and [`Finding::per_task`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<crate::AttackSequence>,
    /// The source event as received, bounded.
    pub raw: RawEvent,
}

/// How far after its receipt an event may say it was observed (clock skew between a host and AWS)
/// before its times are clamped.
pub const FUTURE_TOLERANCE_SECS: i64 = 5 * 60;

/// What clamping changed: the receive time the observed times were clamped to, and the latest time
/// the event claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeClamp {
    /// The receive time the observed times were clamped to.
    pub received_at: DateTime<Utc>,
    /// The latest of the observed times as the event gave them.
    pub claimed: DateTime<Utc>,
}

/// The tag an adapter adds to a source's sample finding (GuardDuty's "Generate sample findings"): it
/// flows through like any other, to test the wiring, and remediation never acts on it.
pub const SAMPLE_TAG: &str = "vigil:sample";

impl Finding {
    /// A sample finding, generated by its source to test the wiring (see [`SAMPLE_TAG`]).
    pub fn is_sample(&self) -> bool {
        self.tags.iter().any(|t| t == SAMPLE_TAG)
    }

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
            subject: Subject::default(),
            fingerprint: FindingFingerprint::pending(),
            provenance: Provenance::default(),
            identity_conflicts: Vec::new(),
            time_clamped: None,
            sequence: None,
            raw,
        }
    }

    /// Clamps observed times more than [`FUTURE_TOLERANCE_SECS`] after `received_at` to
    /// `received_at`, and records it in [`Finding::time_clamped`]. A time in the future would
    /// otherwise become Security Hub's `LastObservedAt` (and with it `UpdatedAt`), after which no
    /// later update of the finding is newer. Times are not in the fingerprint, so it stays valid.
    /// Returns whether anything was clamped.
    pub fn clamp_future_times(&mut self, received_at: DateTime<Utc>) -> bool {
        let limit = received_at + chrono::Duration::seconds(FUTURE_TOLERANCE_SECS);
        let claimed = self
            .observed_at
            .max(self.first_observed_at)
            .max(self.last_observed_at);
        if claimed <= limit {
            return false;
        }
        for t in [
            &mut self.observed_at,
            &mut self.first_observed_at,
            &mut self.last_observed_at,
        ] {
            if *t > limit {
                *t = received_at;
            }
        }
        // A span whose end was clamped but not its start keeps first <= last.
        self.first_observed_at = self.first_observed_at.min(self.last_observed_at);
        self.time_clamped = Some(TimeClamp {
            received_at,
            claimed,
        });
        true
    }

    /// Computes the fingerprint from the finding's current fields.
    pub fn seal(mut self) -> Self {
        self.fingerprint = FindingFingerprint::of(&self);
        self
    }
}

/// The kind of thing a finding is about. Only `workload` findings have a task or container, and only
/// they are remediated by ECS actions.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
    strum::Display,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum SubjectKind {
    /// A process in a container or on a host (Falco `syscall`, GuardDuty Runtime Monitoring, Sysdig
    /// workload runtime detections).
    #[default]
    Workload,
    /// A cloud account and its API calls (Falco `aws_cloudtrail`, `gcp_auditlog`, Azure plugins).
    Cloud,
    /// A Kubernetes API object (Falco `k8s_audit` and the EKS/GKE/AKS audit plugins).
    Kubernetes,
    /// A SaaS identity or organization (Falco `okta`, `github`, `keycloak`, …).
    Saas,
    /// Another plugin's event source: not a container, not otherwise known.
    Other,
}

impl SubjectKind {
    /// The kind as ASFF product fields and playbooks name it (`workload`, `cloud`, …).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What a finding is about, beyond its workload resource: the source's event source and, for
/// non-workload findings, who acted on what.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// What kind of subject the finding is about.
    pub kind: SubjectKind,
    /// The source's own name for the stream the event came from (Falco `source`: `syscall`,
    /// `aws_cloudtrail`, `k8s_audit`, `okta`, …; Sysdig's `source`), as given, lower-cased.
    #[serde(default)]
    pub event_source: Option<String>,
    /// Who acted: the CloudTrail user, Kubernetes user, Okta actor, GitHub user.
    #[serde(default)]
    pub user: Option<String>,
    /// The actor's unique id where the source gives one (CloudTrail `ct.user.arn`, GCP principal).
    #[serde(default)]
    pub user_id: Option<String>,
    /// The cloud account, project or organization the actor belongs to (`ct.user.accountid`).
    #[serde(default)]
    pub account: Option<String>,
    /// The address the call came from (`ct.srcip`, `ka.sourceips`, `okta.client.ip`).
    #[serde(default)]
    pub source_ip: Option<String>,
    /// The call or verb (`ct.name`, `ka.verb`, `okta.evt.type`, `github.type`).
    #[serde(default)]
    pub action: Option<String>,
    /// What was acted on: a Kubernetes object `resource/namespace/name`, a repository, a target user.
    #[serde(default)]
    pub target: Option<String>,
}

impl Subject {
    /// Whether the finding is about a container or host workload.
    pub fn is_workload(&self) -> bool {
        self.kind == SubjectKind::Workload
    }
}

/// The ECS workload a finding is about, as the source named it (not yet checked against ECS).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// The cluster ARN (`arn:<partition>:ecs:<region>:<account>:cluster/<name>`).
    pub cluster_arn: Option<String>,
    /// The task ARN (`arn:<partition>:ecs:<region>:<account>:task/<cluster>/<id>`).
    pub task_arn: Option<String>,
    /// The ECS service's name.
    pub service_name: Option<String>,
    /// The task definition's family.
    pub task_definition_family: Option<String>,
    /// The task definition's revision, as text as the source gave it.
    pub task_definition_revision: Option<String>,
    /// The ECS launch type (`FARGATE`, `EC2`), as the source gave it.
    pub launch_type: Option<String>,
    /// The host name or instance the event came from (e.g. Falco `hostname`, an EC2 instance id).
    pub host: Option<String>,
    /// The container; every field empty when the source named none.
    pub container: Container,
}

/// A container as the source named it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    /// The container's name (the ECS container name, or the runtime's name).
    pub name: Option<String>,
    /// Runtime id as the source gave it: full 64-hex or Docker's 12-character short form.
    pub id: Option<String>,
    /// Image reference `repository[:tag]` (or `repository@digest`).
    pub image: Option<String>,
    /// The image digest (`sha256:<64 hex>`).
    pub image_digest: Option<String>,
    /// Whether the source says it runs privileged.
    pub privileged: Option<bool>,
}

impl Container {
    /// Docker's 12-character short id, lower-cased: the form every source can agree on.
    pub fn short_id(&self) -> Option<String> {
        self.id
            .as_deref()
            .map(|id| crate::text::truncate_utf8(Self::bare_id(id), 12).to_ascii_lowercase())
    }

    /// A runtime id without white space around it and its `docker://` / `containerd://` schemes
    /// (each repeated prefix removed, as `str::trim_start_matches` does, without its substring
    /// searcher: these run for every finding).
    pub(crate) fn bare_id(id: &str) -> &str {
        fn strip_all<'s>(mut s: &'s str, prefix: &str) -> &'s str {
            while let Some(rest) = s.strip_prefix(prefix) {
                s = rest;
            }
            s
        }
        strip_all(strip_all(id.trim(), "docker://"), "containerd://")
    }

    /// Whether this is one of the containers whose runtime ids are given (by Docker's 12-character
    /// prefix, the form every source can agree on); `None` when either side is unknown.
    /// An id that is not 12 hex digits matches none: a truncated or empty id would otherwise be a
    /// prefix of every runtime id.
    pub fn is_among<'a>(&self, runtime_ids: impl IntoIterator<Item = &'a str>) -> Option<bool> {
        let id = self.short_id()?;
        let well_formed = id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit());
        let mut any = false;
        for r in runtime_ids {
            if well_formed && r.to_ascii_lowercase().starts_with(&id) {
                return Some(true);
            }
            any = true;
        }
        any.then_some(false)
    }
}

/// The process behind a finding, as the source gave it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    /// The process name (e.g. Falco `proc.name`).
    pub name: Option<String>,
    /// The executable's path (e.g. Falco `proc.exepath`).
    pub executable_path: Option<String>,
    /// The full command line (e.g. Falco `proc.cmdline`).
    pub command_line: Option<String>,
    /// The process id, in the container's or host's pid namespace as the source reports it.
    pub pid: Option<i64>,
    /// The parent process's name.
    pub parent_name: Option<String>,
    /// The parent process's id.
    pub parent_pid: Option<i64>,
    /// The user name it runs as.
    pub user: Option<String>,
    /// The numeric user id it runs as.
    pub uid: Option<i64>,
    /// The executable's SHA-256, hex (GuardDuty `executableSha256`).
    pub executable_sha256: Option<String>,
}

/// Which way a connection went, seen from the workload (ASFF `Network.Direction` `IN`/`OUT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkDirection {
    /// The workload accepted it.
    Inbound,
    /// The workload opened it.
    Outbound,
}

/// The network connection behind a finding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// Which way it went, when the source says.
    pub direction: Option<NetworkDirection>,
    /// The protocol (`tcp`, `udp`, …) as the source gave it.
    pub protocol: Option<String>,
    /// The workload's address.
    pub local_ip: Option<String>,
    /// The workload's port.
    pub local_port: Option<u16>,
    /// The peer's address.
    pub remote_ip: Option<String>,
    /// The peer's port.
    pub remote_port: Option<u16>,
    /// The connection as the source wrote it (Falco `fd.name`, e.g. `10.0.0.1:5432->203.0.113.9:443`).
    pub connection: Option<String>,
    /// The domain looked up or connected to (GuardDuty's `dnsRequestAction.domain`).
    #[serde(default)]
    pub domain: Option<String>,
}

impl Network {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Network::default()
    }
}

/// The source event kept for forensics: verbatim when small, otherwise a UTF-8-safe prefix as a string.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawEvent {
    /// The source event's full size, in bytes.
    pub size_bytes: usize,
    /// True when `event` is a prefix string rather than the event itself.
    pub truncated: bool,
    /// The event's JSON verbatim, or a JSON string holding its first bytes when truncated.
    pub event: Box<RawValue>,
}

impl RawEvent {
    /// Keeps at most this many bytes of the source event.
    pub const MAX_BYTES: usize = 8 * 1024;

    /// Keeps `json` verbatim when it fits in `MAX_BYTES`, else a prefix of it as a JSON string that,
    /// escapes included, fits too. Text that is not JSON is kept as such a string, whatever its size.
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
        Self::prefix(trimmed)
    }

    /// Like [`RawEvent::capture`], for a whole document serde_json has just parsed successfully (as
    /// the adapters do): kept without checking its syntax a second time.
    ///
    /// The caller vouches that `json` is valid JSON; it is checked again in debug builds.
    pub fn capture_parsed(json: &str) -> Self {
        let trimmed = crate::text::trim(json);
        debug_assert!(
            serde_json::from_str::<serde::de::IgnoredAny>(trimmed).is_ok(),
            "capture_parsed takes valid JSON only"
        );
        if trimmed.len() <= Self::MAX_BYTES {
            return RawEvent {
                size_bytes: trimmed.len(),
                truncated: false,
                event: verbatim(trimmed),
            };
        }
        Self::prefix(trimmed)
    }

    /// The first bytes of `trimmed` as a JSON string, escapes included within `MAX_BYTES`.
    fn prefix(trimmed: &str) -> Self {
        let prefix = json_string_prefix(trimmed, Self::MAX_BYTES - 64);
        let as_string = serde_json::to_string(prefix).expect("a str always serializes");
        RawEvent {
            size_bytes: trimmed.len(),
            truncated: true,
            event: RawValue::from_string(as_string).expect("serde_json output is valid JSON"),
        }
    }
}

/// `json` as a raw value, copied without being parsed again: serde_json's serializer writes a
/// value that serializes as its raw-value token verbatim, as it does for a `RawValue` itself.
/// `json` must be valid JSON (see [`RawEvent::capture_parsed`]).
fn verbatim(json: &str) -> Box<RawValue> {
    /// serde_json's name for a raw value, under which `RawValue` serializes its text.
    const TOKEN: &str = "$serde_json::private::RawValue";
    struct Verbatim<'a>(&'a str);
    impl serde::Serialize for Verbatim<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeStruct;
            let mut s = serializer.serialize_struct(TOKEN, 1)?;
            s.serialize_field(TOKEN, self.0)?;
            s.end()
        }
    }
    serde_json::value::to_raw_value(&Verbatim(json)).expect("a raw value always serializes")
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

    /// The raw event kept without a second parse is the same as the one kept after it.
    #[test]
    fn bare_id_strips_schemes_as_trim_start_matches() {
        for id in [
            "",
            " docker://abc ",
            "docker://docker://x",
            "containerd://docker://y",
            "docker://containerd://z",
            "containerd://",
            "dockerx",
            "\u{a0}docker://é",
        ] {
            let expected = id
                .trim()
                .trim_start_matches("docker://")
                .trim_start_matches("containerd://");
            assert_eq!(Container::bare_id(id), expected, "{id:?}");
        }
    }

    #[test]
    fn capture_parsed_keeps_what_capture_keeps() {
        let big_string = serde_json::json!({ "a": "é\"".repeat(5_000) }).to_string();
        let deep = format!("{}1{}", "[".repeat(120), "]".repeat(120));
        for json in [
            "{}",
            " {\"a\": [1, 2.5, null, true, \"\\u00e9\\n\"]}\n",
            "\"text\"",
            "-0",
            deep.as_str(),
            big_string.as_str(),
        ] {
            let (kept, parsed) = (RawEvent::capture(json), RawEvent::capture_parsed(json));
            assert_eq!(kept.event.get(), parsed.event.get(), "{json:.40}");
            assert_eq!(
                (kept.size_bytes, kept.truncated),
                (parsed.size_bytes, parsed.truncated)
            );
            assert_eq!(
                serde_json::to_string(&kept).unwrap(),
                serde_json::to_string(&parsed).unwrap()
            );
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

#[cfg(test)]
mod clamp_tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn finding(observed: DateTime<Utc>) -> Finding {
        Finding::new(
            Source::Falco,
            "r".into(),
            "t".into(),
            crate::Severity::new(crate::SeverityLabel::Low, 20, "Notice"),
            observed,
            RawEvent::capture("{}"),
        )
    }

    #[test]
    fn times_far_in_the_future_are_clamped_to_the_receive_time() {
        let received = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let year_9999 = Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap();
        let mut f = finding(year_9999);
        assert!(f.clamp_future_times(received));
        assert_eq!(f.observed_at, received);
        assert_eq!(f.first_observed_at, received);
        assert_eq!(f.last_observed_at, received);
        assert_eq!(
            f.time_clamped,
            Some(TimeClamp {
                received_at: received,
                claimed: year_9999
            })
        );
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["time_clamped"]["claimed"], "9999-12-31T23:59:59Z");
    }

    #[test]
    fn skew_within_the_tolerance_and_the_past_are_kept() {
        let received = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        for t in [
            received + Duration::seconds(FUTURE_TOLERANCE_SECS),
            received,
            received - Duration::days(400),
        ] {
            let mut f = finding(t);
            assert!(!f.clamp_future_times(received), "{t}");
            assert_eq!(f.last_observed_at, t);
            assert_eq!(f.time_clamped, None);
        }
        let mut f = finding(received + Duration::seconds(FUTURE_TOLERANCE_SECS + 1));
        assert!(f.clamp_future_times(received), "one second over");
    }

    #[test]
    fn a_span_ending_in_the_future_keeps_its_start() {
        let received = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut f = finding(received + Duration::days(3));
        f.first_observed_at = received - Duration::hours(1);
        assert!(f.clamp_future_times(received));
        assert_eq!(f.first_observed_at, received - Duration::hours(1));
        assert_eq!(f.last_observed_at, received);
        assert!(f.first_observed_at <= f.last_observed_at);
    }

    #[test]
    fn findings_written_before_the_field_still_parse() {
        let received = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut json = serde_json::to_value(finding(received)).unwrap();
        json.as_object_mut().unwrap().remove("time_clamped");
        let f: Finding = serde_json::from_value(json).unwrap();
        assert_eq!(f.time_clamped, None);
    }
}

#[cfg(test)]
mod container_tests {
    use super::Container;

    #[test]
    fn a_container_is_among_runtime_ids_by_its_short_id() {
        let c = Container {
            id: Some("AD64CBC71C7F".into()),
            ..Default::default()
        };
        assert_eq!(c.is_among(["ad64cbc71c7fb31c55507ec24c9f7794"]), Some(true));
        assert_eq!(c.is_among(["0123456789abcdef"]), Some(false));
        assert_eq!(c.is_among([]), None, "no runtime ids known");
        for malformed in ["docker://", "ad64", "ad64cbc71c7z"] {
            let c = Container {
                id: Some(malformed.into()),
                ..Default::default()
            };
            assert_eq!(
                c.is_among(["ad64cbc71c7fb31c"]),
                Some(false),
                "{malformed:?}"
            );
        }
        assert_eq!(
            Container::default().is_among(["ad64cbc71c7f"]),
            None,
            "no id named"
        );
    }
}
