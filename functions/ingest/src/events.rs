//! The events ingest publishes: `Finding Accepted` (the canonical finding plus its dedup state) and
//! `Event Rejected` (why, and the original payload, truncated to fit the bus).

use serde::Serialize;
use vigil_adapters::AdapterError;
use vigil_dedup::PublishReason;
use vigil_model::Finding;

pub const FINDING_ACCEPTED: &str = "Finding Accepted";
pub const EVENT_REJECTED: &str = "Event Rejected";

/// Keeps a rejected payload well inside the 256 KB entry limit.
pub const MAX_REJECTED_PAYLOAD_BYTES: usize = 64 * 1024;

#[derive(Debug, Serialize)]
pub struct FindingAccepted<'a> {
    pub finding: &'a Finding,
    pub dedup: DedupSummary,
}

#[derive(Debug, Serialize)]
pub struct DedupSummary {
    /// Occurrences counted for this fingerprint so far.
    pub count: u64,
    pub reason: PublishReason,
    /// The Security Hub finding id (`vigil-<fingerprint>`).
    pub securityhub_id: String,
    /// The delivery this publication came from.
    pub event_id: String,
}

#[derive(Debug, Serialize)]
pub struct EventRejected {
    /// Machine-readable error class (`not_json`, `missing_field`, `unknown_source`, …).
    pub code: String,
    /// The one-line reason, naming the field.
    pub reason: String,
    /// JSON path of the field at fault.
    pub path: String,
    pub sqs_message_id: Option<String>,
    pub received_at: String,
    pub payload_bytes: usize,
    pub payload_truncated: bool,
    /// The payload as received (lossily decoded if not UTF-8), truncated on a character boundary.
    pub payload: String,
}

impl EventRejected {
    pub fn new(
        code: &str,
        reason: String,
        path: String,
        body: &[u8],
        sqs_message_id: Option<String>,
        received_at: String,
    ) -> Self {
        let text = String::from_utf8_lossy(body);
        let kept = vigil_model::text::truncate_utf8(&text, MAX_REJECTED_PAYLOAD_BYTES);
        EventRejected {
            code: code.to_owned(),
            reason,
            path,
            sqs_message_id,
            received_at,
            payload_bytes: body.len(),
            payload_truncated: kept.len() < text.len(),
            payload: kept.to_owned(),
        }
    }

    pub fn from_error(
        e: &AdapterError,
        body: &[u8],
        sqs_message_id: Option<String>,
        received_at: String,
    ) -> Self {
        Self::new(
            e.code(),
            e.to_string(),
            e.path.clone(),
            body,
            sqs_message_id,
            received_at,
        )
    }
}
