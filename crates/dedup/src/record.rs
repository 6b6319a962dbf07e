//! The dedup item's layout in the shared table.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// The table's partition key: `FP#<fingerprint>` for both of a fingerprint's items.
pub const PK: &str = "pk";
/// The table's sort key: [`SK_DEDUP`] or [`SK_SEQUENCE`].
pub const SK: &str = "sk";
/// The sort key of the dedup record.
pub const SK_DEDUP: &str = "DEDUP";
/// The table's TTL attribute, Unix epoch seconds: the last occurrence plus the window (DynamoDB
/// Time to Live deletes the item some time after it).
pub const EXPIRES_AT: &str = "expires_at";

/// Written by earlier versions (the fingerprint again, and `vigil-<fingerprint>`); no longer written,
/// as the key and the published event carry both: every byte of the item is billed on every write.
pub const FINGERPRINT: &str = "fingerprint";
/// When the first occurrence was counted: RFC 3339, UTC, milliseconds.
pub const FIRST_SEEN: &str = "first_seen";
/// When the last occurrence was counted: RFC 3339, UTC, milliseconds.
pub const LAST_SEEN: &str = "last_seen";
/// Occurrences counted (a number; redeliveries are not counted).
pub const COUNT: &str = "occurrences";
/// The record's [`DedupState`], as its [`DedupState::as_str`].
pub const STATE: &str = "dedup_state";
/// When the record was created in state `accepted`, Unix epoch seconds: the lease runs from it.
pub const ACCEPTED_AT: &str = "accepted_at";
/// The `UpdatedAt` of the last import Security Hub confirmed (written only forward: see
/// [`DedupStore::mark_enriched`](crate::DedupStore::mark_enriched)).
pub const FORWARDED_AT: &str = "forwarded_at";
/// The digest ([`digest`], 8 bytes) of the `Finding Accepted` event id whose `Finding Enriched`
/// enrich last published: a redelivery of that message (its Security Hub import to be retried)
/// does not publish it again. See [`DedupStore::mark_enriched`](crate::DedupStore::mark_enriched).
pub const ENRICHED_EVENT: &str = "enriched_event";
/// The highest normalized severity (0–100) counted so far: set with the first occurrence, raised
/// only by a conditional write that refuses to lower it.
pub const MAX_SEVERITY: &str = "max_severity";
/// The hex [`digest`] of the event id of the occurrence that last raised [`MAX_SEVERITY`] (written
/// by the same conditional write). Its publication may have failed after the raise: its
/// redelivery, no longer more severe than the record, is then recognized and published again.
pub const RAISED_BY: &str = "raised_by";
/// Written by earlier versions (`vigil-<fingerprint>`, see [`FINGERPRINT`]); removed by the next
/// count.
pub const SECURITY_HUB_ID: &str = "securityhub_id";
/// The rule's name, for people reading the table (nothing reads it back): its first
/// [`RULE_MAX_BYTES`] bytes, so a long rule name cannot push the item over 1 KB.
pub const RULE: &str = "rule";
/// The most bytes of the rule's name [`RULE`] keeps.
pub const RULE_MAX_BYTES: usize = 64;
/// The finding's source ([`vigil_model::Source::as_str`]), written once.
pub const SOURCE: &str = "source";
/// The lease's window ([`bucket`](crate::decision::bucket) of the last count, lease-long windows): a
/// record past its lease is republished once per window, not on every repeat.
pub const LEASE_BUCKET: &str = "lease_bucket";
/// What ingest saw of the finding's origin, written once with the record: remediation checks every
/// message against these, and only Vigil's roles can write the table.
pub const ORIGIN_ARRIVAL: &str = "origin_arrival";
/// The account EventBridge stamped on the finding's event (its `account`), or [`NONE`].
pub const ORIGIN_SENDER: &str = "origin_sender_account";
/// The account the finding is about, or [`NONE`].
pub const ORIGIN_ACCOUNT: &str = "origin_account";
/// The ECS task ARN the finding names, or [`NONE`].
pub const ORIGIN_TASK: &str = "origin_task_arn";
/// The region the finding is about (where Security Hub holds Vigil's finding), or [`NONE`]. The
/// fingerprint does not cover it: without it a copy naming another region could send the note
/// where the finding is not. Absent on records written before it existed (then not checked).
pub const ORIGIN_REGION: &str = "origin_region";
/// For an attack sequence: every task ARN its counted occurrences named (a string set, grown as
/// GuardDuty adds tasks to a sequence). The fingerprint of a sequence covers no task, so this is what
/// vouches for the tasks a message names. Kept in the sequence's own item ([`SK_SEQUENCE`], up to
/// 100 ARNs, ~9 KB), written only when an occurrence names tasks it may not hold yet, so that the
/// dedup item, rewritten by every occurrence, stays small. (Records written by earlier versions
/// hold it on the dedup item itself; [`RecordedOrigin`] reads both.)
pub const ORIGIN_SEQUENCE_TASKS: &str = "origin_sequence_tasks";
/// The sort key of a sequence's task item (same `pk` as its dedup record).
pub const SK_SEQUENCE: &str = "SEQ";
/// On the dedup record: digests ([`digest`] of the sorted, newline-joined ARNs) of the task sets
/// already merged into the sequence's task item, at most [`SEQUENCE_DIGESTS`] (a binary set). The
/// counting update requires the occurrence's set among them; when it is not, the task item is
/// written first, then the count adds the digest. So a digest here means its tasks are in the task
/// item, and an occurrence is never counted before its tasks are.
pub const SEQUENCE_DIGESTS: &str = "sequence_digests";
/// The most task-set digests [`SEQUENCE_DIGESTS`] holds; a new one then replaces them all.
pub const SEQUENCE_DIGESTS_MAX: usize = 8;
/// On the dedup record: when the sequence's task item expires (its own TTL, set to twice the window
/// when written). The counting update also requires it to outlive the record's new `expires_at`,
/// so the task item never expires under a record that still vouches for its tasks.
pub const SEQUENCE_EXPIRES_AT: &str = "sequence_expires_at";
/// The source's own ids of the finding its counted occurrences named (a string set): for GuardDuty,
/// the GuardDuty finding ARN, which is the `Id` of GuardDuty's Security Hub finding. The fingerprint
/// does not cover it, so this is what vouches for the GuardDuty finding a message names.
pub const ORIGIN_SOURCE_REFS: &str = "origin_source_refs";
/// Stored for an origin value the finding does not have (DynamoDB keeps no `null` in a string).
pub const NONE: &str = "-";
/// The update interval's window ([`bucket`](crate::decision::bucket) of the last count,
/// interval-long windows): the first repeat in a new one is republished.
pub const INTERVAL_BUCKET: &str = "interval_bucket";
/// Two generations of recently counted event ids, as 8-byte digests ([`digest`]) in binary sets: a
/// count adds its ids to the current one, or, when they would not fit, moves the current one to the
/// previous one and starts a new one with them. At most `2 × remembered_event_ids` digests of 8
/// bytes, so the item stays under 1 KB however hot the fingerprint.
pub const DIGESTS_CURRENT: &str = "event_digests";
/// The previous generation of remembered event-id digests (see [`DIGESTS_CURRENT`]).
pub const DIGESTS_PREVIOUS: &str = "event_digests_prev";
/// Digests ([`digest`]) of the event ids whose occurrence was counted and was to be published, but
/// whose publication failed for good (a binary set, at most [`UNPUBLISHED_MAX`], written only after
/// such a failure). The count refuses these ids like remembered ones, for as long as they are
/// listed, so a redelivery that comes after more than a generation of other occurrences is still
/// recognized (not counted twice), and it is published whatever the record's state; its successful
/// publication takes it off the list.
pub const UNPUBLISHED: &str = "unpublished";
/// The most ids [`UNPUBLISHED`] lists: 75 bytes at most, which only a record already near 1 KB
/// (forwarded, raised, both generations full) crosses, and only while the list is not empty.
pub const UNPUBLISHED_MAX: usize = 8;
/// Bytes of SHA-256 kept per digest.
pub const DIGEST_BYTES: usize = 8;
/// The event id string sets earlier versions kept (~18 KB on a hot fingerprint): removed by the next
/// count.
pub const LEGACY_IDS_CURRENT: &str = "event_ids";
/// The previous generation of [`LEGACY_IDS_CURRENT`], removed with it.
pub const LEGACY_IDS_PREVIOUS: &str = "event_ids_previous";

/// The first [`DIGEST_BYTES`] bytes of the SHA-256 of `text`.
pub fn digest(text: &str) -> [u8; DIGEST_BYTES] {
    use sha2::{Digest, Sha256};
    let full = Sha256::digest(text.as_bytes());
    let mut out = [0u8; DIGEST_BYTES];
    out.copy_from_slice(&full[..DIGEST_BYTES]);
    out
}

/// The digest of a sequence's task set: of its ARNs, sorted and joined by newlines.
pub fn task_set_digest<'a>(tasks: impl IntoIterator<Item = &'a String>) -> [u8; DIGEST_BYTES] {
    let mut sorted: Vec<&str> = tasks.into_iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    digest(&sorted.join("\n"))
}

/// A string cut to at most `max` bytes, on a character boundary.
pub fn truncated(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The item's size as DynamoDB bills it ("DynamoDB item sizes and formats", Amazon DynamoDB
/// Developer Guide): the sum over attributes of the name's UTF-8 bytes plus the value's size;
/// strings by their UTF-8 bytes, binaries by their raw bytes, numbers 1 byte per two significant
/// digits plus 1 (leading and trailing zeros trimmed), booleans and nulls 1, lists and maps 3 plus
/// 1 per element plus the elements' sizes, sets the sum of their elements' sizes.
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn number_size(n: &str) -> usize {
    let digits: String = n.chars().filter(char::is_ascii_digit).collect();
    let mantissa = match n.find(['e', 'E']) {
        Some(at) => n[..at].chars().filter(char::is_ascii_digit).collect(),
        None => digits,
    };
    let significant = mantissa.trim_start_matches('0').trim_end_matches('0').len();
    significant.max(1).div_ceil(2) + 1
}

fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(list) => 3 + list.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, e)| 1 + k.len() + value_size(e))
                .sum::<usize>()
        }
        _ => 0,
    }
}

/// The key of a fingerprint's dedup record (`pk = FP#<fingerprint>`, `sk = DEDUP`).
pub fn dedup_key(fingerprint: &str) -> HashMap<String, AttributeValue> {
    key(fingerprint, SK_DEDUP)
}

/// The key of a sequence's task item.
pub fn sequence_key(fingerprint: &str) -> HashMap<String, AttributeValue> {
    key(fingerprint, SK_SEQUENCE)
}

fn key(fingerprint: &str, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (
            PK.to_owned(),
            AttributeValue::S(format!("FP#{fingerprint}")),
        ),
        (SK.to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

/// Where a dedup record is: accepted (published; Security Hub has not confirmed an import yet) or
/// forwarded (Security Hub confirmed one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum DedupState {
    /// Accepted and published; no import confirmed yet (also a record that predates the state).
    #[default]
    Accepted,
    /// Security Hub confirmed an import.
    Forwarded,
}

impl DedupState {
    /// The `dedup_state` attribute's value.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The record's values before an update, or at a refused condition (both `ALL_OLD`), read from
/// the item's attributes (numbers as DynamoDB `N`, times as RFC 3339 strings).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct RecordBefore {
    /// Occurrences counted ([`COUNT`]).
    #[serde(rename = "occurrences")]
    pub count: u64,
    /// [`STATE`].
    #[serde(rename = "dedup_state", default)]
    pub state: DedupState,
    /// When the finding was accepted, Unix seconds ([`ACCEPTED_AT`]).
    #[serde(default)]
    pub accepted_at: Option<i64>,
    /// The republish lease's bucket ([`LEASE_BUCKET`]).
    #[serde(default)]
    pub lease_bucket: Option<i64>,
    /// The republish interval's bucket ([`INTERVAL_BUCKET`]).
    #[serde(default)]
    pub interval_bucket: Option<i64>,
    /// `None` for a record written before severities were kept ([`MAX_SEVERITY`], 0–100).
    #[serde(default)]
    pub max_severity: Option<u8>,
    /// The last confirmed import's `UpdatedAt` ([`FORWARDED_AT`]).
    #[serde(default)]
    pub forwarded_at: Option<DateTime<Utc>>,
}

impl RecordBefore {
    /// `None` when the attributes describe no existing record (the update created it), or none
    /// this version can read (no version wrote one).
    pub fn from_attributes(attrs: &HashMap<String, AttributeValue>) -> Option<Self> {
        serde_dynamo::from_item(attrs.clone()).ok()
    }
}

/// The origin of a finding as ingest recorded it on the dedup record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct RecordedOrigin {
    /// How the finding arrived (`Arrival`'s name, [`ORIGIN_ARRIVAL`]).
    #[serde(rename = "origin_arrival")]
    pub arrival: String,
    /// The sender account EventBridge stamped ([`ORIGIN_SENDER`]).
    #[serde(
        rename = "origin_sender_account",
        default,
        deserialize_with = "recorded"
    )]
    pub sender_account: Option<String>,
    /// The account the finding is about ([`ORIGIN_ACCOUNT`]).
    #[serde(rename = "origin_account", default, deserialize_with = "recorded")]
    pub account: Option<String>,
    /// The task the finding names ([`ORIGIN_TASK`]).
    #[serde(rename = "origin_task_arn", default, deserialize_with = "recorded")]
    pub task_arn: Option<String>,
    /// The region the finding is about as ingest recorded it ([`ORIGIN_REGION`]): [`NONE`] when it
    /// named none, `None` on a record written before the attribute existed (nothing to check).
    #[serde(rename = "origin_region", default)]
    pub region: Option<String>,
    /// The tasks ingest counted for an attack sequence (empty for any other finding).
    #[serde(rename = "origin_sequence_tasks", default)]
    pub sequence_tasks: std::collections::BTreeSet<String>,
    /// The source's own finding ids ingest counted an occurrence naming (GuardDuty finding ARNs).
    #[serde(rename = "origin_source_refs", default)]
    pub source_refs: std::collections::BTreeSet<String>,
    /// When ingest last counted an occurrence: no genuine message observed the finding later.
    #[serde(default)]
    pub last_seen: Option<DateTime<Utc>>,
    /// [`STATE`].
    #[serde(rename = "dedup_state", default)]
    pub state: DedupState,
}

/// An origin value, `None` where ingest stored [`NONE`].
fn recorded<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde::Deserialize;
    Ok(Option::<String>::deserialize(d)?.filter(|v| v != NONE))
}

impl RecordedOrigin {
    /// Where `finding` disagrees with what ingest recorded (arrival, sender account, account, task,
    /// region),
    /// each described as "<what> <message's> where ingest recorded <record's>"; empty when it agrees.
    /// Only Vigil's function roles write the record, and the fingerprint covers the sender and the
    /// task, so a genuine message always agrees with it.
    pub fn disagreements(&self, finding: &vigil_model::Finding) -> Vec<String> {
        let p = &finding.provenance;
        let fields = [
            (
                "arrival",
                Some(p.arrival.as_str()),
                Some(self.arrival.as_str()),
            ),
            (
                "sender account",
                p.sender_account.as_deref(),
                self.sender_account.as_deref(),
            ),
            (
                "account",
                finding.account.as_deref(),
                self.account.as_deref(),
            ),
            (
                "task",
                finding.resource.task_arn.as_deref(),
                self.task_arn.as_deref(),
            ),
        ];
        let mut differ: Vec<String> = fields
            .iter()
            .filter(|(_, message, table)| message != table)
            .map(|(what, message, table)| {
                format!(
                    "{what} {} where ingest recorded {}",
                    message.unwrap_or("none"),
                    table.unwrap_or("none")
                )
            })
            .collect();
        if let Some(recorded) = self.region.as_deref() {
            let message = finding.region.as_deref().unwrap_or(NONE);
            if message != recorded {
                differ.push(format!(
                    "region {} where ingest recorded {}",
                    if message == NONE { "none" } else { message },
                    if recorded == NONE { "none" } else { recorded }
                ));
            }
        }
        differ
    }

    /// `None` for an item without the origin attributes (written before they existed, or not a
    /// dedup record at all): such a record vouches for nothing.
    pub fn from_attributes(attrs: &HashMap<String, AttributeValue>) -> Option<Self> {
        serde_dynamo::from_item(attrs.clone()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(region: Option<&str>) -> RecordedOrigin {
        RecordedOrigin {
            arrival: "agent_bus".into(),
            sender_account: Some("123456789012".into()),
            account: Some("123456789012".into()),
            task_arn: None,
            region: region.map(str::to_owned),
            sequence_tasks: Default::default(),
            source_refs: Default::default(),
            last_seen: None,
            state: DedupState::Accepted,
        }
    }

    fn finding(region: Option<&str>) -> vigil_model::Finding {
        let mut f = vigil_model::fixtures::terminal_shell("123456789012", "us-east-1");
        f.resource.task_arn = None;
        f.region = region.map(str::to_owned);
        f
    }

    #[test]
    fn a_region_other_than_the_recorded_one_disagrees_and_an_unrecorded_one_is_not_checked() {
        let east = recorded(Some("us-east-1"));
        assert!(east.disagreements(&finding(Some("us-east-1"))).is_empty());
        assert_eq!(
            east.disagreements(&finding(Some("us-west-2"))),
            ["region us-west-2 where ingest recorded us-east-1"]
        );
        assert_eq!(
            east.disagreements(&finding(None)),
            ["region none where ingest recorded us-east-1"]
        );
        let none = recorded(Some(NONE));
        assert!(none.disagreements(&finding(None)).is_empty());
        assert_eq!(
            none.disagreements(&finding(Some("us-east-1"))),
            ["region us-east-1 where ingest recorded none"]
        );
        // A record written before the region was kept vouches for none: nothing to compare.
        let legacy = recorded(None);
        assert!(legacy.disagreements(&finding(Some("eu-west-1"))).is_empty());
    }
}
