//! The dedup item's layout in the shared table.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const SK_DEDUP: &str = "DEDUP";
pub const EXPIRES_AT: &str = "expires_at";

pub const FINGERPRINT: &str = "fingerprint";
pub const FIRST_SEEN: &str = "first_seen";
pub const LAST_SEEN: &str = "last_seen";
pub const COUNT: &str = "occurrences";
pub const STATE: &str = "dedup_state";
pub const ACCEPTED_AT: &str = "accepted_at";
/// The `UpdatedAt` of the last import Security Hub confirmed (written only forward: see
/// [`DedupStore::mark_forwarded`](crate::DedupStore::mark_forwarded)).
pub const FORWARDED_AT: &str = "forwarded_at";
/// The highest normalized severity (0–100) counted so far: set with the first occurrence, raised
/// only by a conditional write that refuses to lower it.
pub const MAX_SEVERITY: &str = "max_severity";
pub const SECURITY_HUB_ID: &str = "securityhub_id";
pub const RULE: &str = "rule";
pub const SOURCE: &str = "source";
pub const LEASE_BUCKET: &str = "lease_bucket";
/// What ingest saw of the finding's origin, written once with the record: remediation checks every
/// message against these, and only Vigil's roles can write the table.
pub const ORIGIN_ARRIVAL: &str = "origin_arrival";
pub const ORIGIN_SENDER: &str = "origin_sender_account";
pub const ORIGIN_ACCOUNT: &str = "origin_account";
pub const ORIGIN_TASK: &str = "origin_task_arn";
/// For an attack sequence: every task ARN its counted occurrences named (a string set, grown with
/// each occurrence, as GuardDuty adds tasks to a sequence). The fingerprint of a sequence covers
/// no task, so this is what vouches for the tasks a message names.
pub const ORIGIN_SEQUENCE_TASKS: &str = "origin_sequence_tasks";
/// The source's own ids of the finding its counted occurrences named (a string set): for GuardDuty,
/// the GuardDuty finding ARN, which is the `Id` of GuardDuty's Security Hub finding. The fingerprint
/// does not cover it, so this is what vouches for the GuardDuty finding a message names.
pub const ORIGIN_SOURCE_REFS: &str = "origin_source_refs";
/// Stored for an origin value the finding does not have (DynamoDB keeps no `null` in a string).
pub const NONE: &str = "-";
pub const INTERVAL_BUCKET: &str = "interval_bucket";
/// Two generations of recently counted event ids (string sets); the current one rolls over into the
/// previous one when full, so the item stays small however hot the fingerprint.
pub const IDS_CURRENT: &str = "event_ids";
pub const IDS_PREVIOUS: &str = "event_ids_previous";

pub fn dedup_key(fingerprint: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (
            PK.to_owned(),
            AttributeValue::S(format!("FP#{fingerprint}")),
        ),
        (SK.to_owned(), AttributeValue::S(SK_DEDUP.to_owned())),
    ])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DedupState {
    Accepted,
    Forwarded,
}

impl DedupState {
    pub fn as_str(self) -> &'static str {
        match self {
            DedupState::Accepted => "accepted",
            DedupState::Forwarded => "forwarded",
        }
    }
}

/// The record's values before an update, or at a refused condition (both `ALL_OLD`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBefore {
    pub count: u64,
    pub state: DedupState,
    pub accepted_at: Option<i64>,
    pub lease_bucket: Option<i64>,
    pub interval_bucket: Option<i64>,
    /// `None` for a record written before severities were kept.
    pub max_severity: Option<u8>,
    /// The last confirmed import's `UpdatedAt`.
    pub forwarded_at: Option<DateTime<Utc>>,
}

impl RecordBefore {
    /// `None` when the attributes describe no existing record (the update created it).
    pub fn from_attributes(attrs: &HashMap<String, AttributeValue>) -> Option<Self> {
        let num = |k: &str| {
            attrs
                .get(k)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<i64>().ok())
        };
        let count = num(COUNT)?;
        let state = match attrs
            .get(STATE)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
        {
            Some("forwarded") => DedupState::Forwarded,
            _ => DedupState::Accepted,
        };
        Some(RecordBefore {
            count: u64::try_from(count).unwrap_or(0),
            state,
            accepted_at: num(ACCEPTED_AT),
            lease_bucket: num(LEASE_BUCKET),
            interval_bucket: num(INTERVAL_BUCKET),
            max_severity: num(MAX_SEVERITY).map(|n| n.clamp(0, 100) as u8),
            forwarded_at: attrs
                .get(FORWARDED_AT)
                .and_then(|v| v.as_s().ok())
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc)),
        })
    }
}

/// The origin of a finding as ingest recorded it on the dedup record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedOrigin {
    pub arrival: String,
    pub sender_account: Option<String>,
    pub account: Option<String>,
    pub task_arn: Option<String>,
    /// The tasks ingest counted for an attack sequence (empty for any other finding).
    pub sequence_tasks: std::collections::BTreeSet<String>,
    /// The source's own finding ids ingest counted an occurrence naming (GuardDuty finding ARNs).
    pub source_refs: std::collections::BTreeSet<String>,
    /// When ingest last counted an occurrence: no genuine message observed the finding later.
    pub last_seen: Option<DateTime<Utc>>,
    pub state: DedupState,
}

impl RecordedOrigin {
    /// `None` for an item without the origin attributes (written before they existed, or not a
    /// dedup record at all): such a record vouches for nothing.
    pub fn from_attributes(attrs: &HashMap<String, AttributeValue>) -> Option<Self> {
        let text = |k: &str| attrs.get(k).and_then(|v| v.as_s().ok()).cloned();
        let optional = |k: &str| text(k).filter(|v| v != NONE);
        Some(RecordedOrigin {
            arrival: text(ORIGIN_ARRIVAL)?,
            sender_account: optional(ORIGIN_SENDER),
            account: optional(ORIGIN_ACCOUNT),
            task_arn: optional(ORIGIN_TASK),
            sequence_tasks: attrs
                .get(ORIGIN_SEQUENCE_TASKS)
                .and_then(|v| v.as_ss().ok())
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default(),
            source_refs: attrs
                .get(ORIGIN_SOURCE_REFS)
                .and_then(|v| v.as_ss().ok())
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default(),
            last_seen: text(LAST_SEEN)
                .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
                .map(|t| t.with_timezone(&Utc)),
            state: match text(STATE).as_deref() {
                Some("forwarded") => DedupState::Forwarded,
                _ => DedupState::Accepted,
            },
        })
    }
}
