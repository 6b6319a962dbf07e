//! The contract between Vigil's functions: the events they publish on the agent bus, their
//! EventBridge `source` and `detail-type`, and their details, typed on both the writing and the
//! reading side so that the two cannot drift.
//!
//! | detail-type | written by | read by |
//! |---|---|---|
//! | [`FINDING_ACCEPTED`] | ingest | enrich |
//! | [`FINDING_ENRICHED`] | enrich | remediate |
//! | [`REMEDIATION_EXECUTED`] | remediate | users |
//! | [`EVENT_REJECTED`] | ingest | users (the rejected queue) |
//!
//! Every finding carries its [`vigil_model::Provenance`], stamped by ingest and never changed after.

#![warn(missing_docs)]

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use vigil_model::{Enrichment, Finding};

/// The EventBridge `source` of every event Vigil publishes. The agent bus's policy lets only the
/// function roles put it.
pub const SOURCE: &str = "vigil";
/// `detail-type` of ingest's event for a finding to enrich; detail [`FindingAccepted`].
pub const FINDING_ACCEPTED: &str = "Finding Accepted";
/// `detail-type` of enrich's event for a finding imported to Security Hub; detail [`FindingEnriched`].
pub const FINDING_ENRICHED: &str = "Finding Enriched";
/// `detail-type` of remediate's event for each decision it took on a finding.
pub const REMEDIATION_EXECUTED: &str = "Remediation Executed";
/// `detail-type` of ingest's event for a payload it could not read; detail [`EventRejected`].
pub const EVENT_REJECTED: &str = "Event Rejected";

/// Why ingest published an occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublishReason {
    /// The first occurrence of its fingerprint.
    New,
    /// A count milestone (1, 10, 100, …).
    Milestone,
    /// The first repeat in a new update interval: a count update for Security Hub.
    Interval,
    /// A repeat of a record still `accepted` past its lease: enrichment may have failed.
    LeaseExpired,
    /// A redelivered event whose record is not yet forwarded: its first delivery may not have
    /// been published.
    Redelivery,
    /// A repeat more severe than any occurrence counted before it: published at once, whatever the
    /// update interval, so a stream of low-severity copies cannot hold a severe one back.
    Escalated,
}

/// The dedup state of a published occurrence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedupSummary {
    /// Occurrences counted for this fingerprint so far.
    pub count: u64,
    /// Why this occurrence was published rather than only counted.
    pub reason: PublishReason,
    /// The Security Hub finding id (`vigil-<fingerprint>`).
    pub securityhub_id: String,
    /// The delivery this publication came from.
    pub event_id: String,
    /// The highest normalized severity (0–100) counted for this fingerprint so far, this
    /// occurrence's included: Security Hub's finding carries it, never less than the occurrence's
    /// own. `None` in events written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub highest_severity: Option<u8>,
    /// The `UpdatedAt` of the last Security Hub import confirmed for this fingerprint, as the dedup
    /// record held it when this occurrence was counted: the next import's `UpdatedAt` is never
    /// earlier. `None` before the first confirmed import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update: Option<chrono::DateTime<chrono::Utc>>,
}

/// The detail of `Finding Accepted`. Borrowed where it is written (no copy of the finding per
/// event), owned where it is read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FindingAccepted<'a> {
    /// The normalized finding, with its provenance.
    pub finding: Cow<'a, Finding>,
    /// The dedup state when ingest counted this occurrence.
    pub dedup: Cow<'a, DedupSummary>,
}

/// The detail of `Finding Enriched`: what remediation decides on. Remediation believes none of it
/// by itself: it checks the finding against the dedup record ingest wrote and the task against ECS.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FindingEnriched<'a> {
    /// The finding as ingest accepted it.
    pub finding: Cow<'a, Finding>,
    /// What ECS said of the finding's task; [`Enrichment::unenriched`](vigil_model::Enrichment::unenriched) with its reason when it could not be described.
    pub enrichment: Cow<'a, Enrichment>,
    /// The dedup state as [`FindingAccepted`] carried it.
    pub dedup: Cow<'a, DedupSummary>,
    /// Where the finding is in Security Hub.
    pub securityhub: SecurityHubRef,
}

/// Where the finding is in Security Hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityHubRef {
    /// The ASFF `Id`: `vigil-<fingerprint>` for Vigil's findings, GuardDuty's own finding ARN for GuardDuty's.
    pub id: String,
    /// The ASFF `ProductArn`: `arn:<partition>:securityhub:<region>:<account>:product/<account>/default` for Vigil's findings.
    pub product_arn: String,
    /// Whether Security Hub holds Vigil's finding: true once it confirmed this import. False for
    /// GuardDuty findings, which GuardDuty itself sends to Security Hub (no `import_error`), and
    /// for an import that failed (`import_error` says why): remediation does not wait for it.
    pub imported: bool,
    /// Why the import failed, when it did: Security Hub's refusal, no member role for the account,
    /// or a retryable failure (`retrying` set) that enrich goes on retrying apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_error: Option<ImportFailure>,
}

/// A Security Hub import that did not succeed, on `Finding Enriched`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportFailure {
    /// `not_routed` (the account has no member role, or no region), `rejected` (Security Hub
    /// refused the finding for good), `too_large`, `mapping`, or `retrying` (a retryable failure;
    /// the message goes back to the queue for the import alone).
    pub kind: String,
    /// The error code Security Hub (or the transport) gave, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The error, in words.
    pub message: String,
    /// True when the import is retried (the event is not published again for this occurrence).
    pub retrying: bool,
}

/// The detail of `Event Rejected`: why, and the original payload truncated to fit the bus.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventRejected {
    /// Machine-readable error class (`not_json`, `missing_field`, `forged_source`, …).
    pub code: String,
    /// The one-line reason, naming the field.
    pub reason: String,
    /// JSON path of the field at fault.
    pub path: String,
    /// A digest of the payload: SQS and EventBridge deliver at least once, so the same rejected
    /// event may be published more than once; readers count it once by this id.
    pub event_id: String,
    /// The SQS `messageId` the payload arrived in; `None` when ingest was invoked directly.
    pub sqs_message_id: Option<String>,
    /// When ingest read it: RFC 3339, UTC, milliseconds (`2026-01-01T00:00:00.000Z`).
    pub received_at: String,
    /// The payload's full size in bytes, before truncation.
    pub payload_bytes: usize,
    /// True when `payload` holds less than the whole payload.
    pub payload_truncated: bool,
    /// The payload as received (lossily decoded if not UTF-8), truncated on a character boundary.
    pub payload: String,
}

/// A delivery id for bytes that carry none: the same bytes delivered again get the same id
/// (`sha256:` and the first 16 bytes of the digest, in hex).
pub fn content_id(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let mut s = String::with_capacity(7 + 32);
    s.push_str("sha256:");
    for b in &digest[..16] {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_reasons_read_back_as_written() {
        for r in [
            PublishReason::New,
            PublishReason::Milestone,
            PublishReason::Interval,
            PublishReason::LeaseExpired,
            PublishReason::Redelivery,
            PublishReason::Escalated,
        ] {
            let text = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<PublishReason>(&text).unwrap(), r);
        }
        assert_eq!(
            serde_json::to_string(&PublishReason::LeaseExpired).unwrap(),
            "\"lease_expired\""
        );
    }

    #[test]
    fn summaries_written_before_severity_and_update_times_still_read() {
        let old = serde_json::json!({
            "count": 3, "reason": "interval", "securityhub_id": "vigil-x", "event_id": "e"
        });
        let s: DedupSummary = serde_json::from_value(old).unwrap();
        assert_eq!((s.highest_severity, s.last_update), (None, None));
        let s = DedupSummary {
            highest_severity: Some(70),
            reason: PublishReason::Escalated,
            ..s
        };
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["highest_severity"], 70);
        assert_eq!(json["reason"], "escalated");
        assert!(json.get("last_update").is_none());
    }

    #[test]
    fn content_ids_are_stable() {
        assert_eq!(content_id(b"abc"), content_id(b"abc"));
        assert_ne!(content_id(b"abc"), content_id(b"abd"));
        assert_eq!(content_id(b"abc").len(), 7 + 32);
    }
}
