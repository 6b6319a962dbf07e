//! The events ingest publishes: `Finding Accepted` (the canonical finding plus its dedup state) and
//! `Event Rejected` (why, and the original payload, truncated to fit the bus).

use serde::Serialize;
use vigil_adapters::AdapterError;
use vigil_dedup::PublishReason;
use vigil_model::Finding;
use vigil_model::text::clean;

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
    /// A digest of the payload: SQS and EventBridge deliver at least once, so the same rejected
    /// event may be published more than once; readers count it once by this id.
    pub event_id: String,
    pub sqs_message_id: Option<String>,
    pub received_at: String,
    pub payload_bytes: usize,
    pub payload_truncated: bool,
    /// The payload as received (lossily decoded if not UTF-8), truncated on a character boundary.
    pub payload: String,
}

impl EventRejected {
    /// `reason` and `path` go to the logs as well as to the event, so they are made one line without
    /// control or invisible characters here, whatever produced them. The payload is kept as
    /// received: it is the evidence, and JSON carries it escaped.
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
        let one_line = |s: &str| clean(s, vigil_adapters::MAX_MESSAGE_CHARS, false);
        EventRejected {
            code: code.to_owned(),
            reason: one_line(&reason),
            path: one_line(&path),
            event_id: crate::content_id(body),
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

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_adapters::{ErrorKind, ParseContext, parse_delivery};

    /// Nothing a log line or a terminal would act on: controls (C0, DEL, C1), ANSI escapes, bidi
    /// overrides, zero-width characters, line breaks.
    fn assert_one_clean_line(s: &str) {
        assert!(!s.is_empty());
        assert!(!s.chars().any(vigil_model::text::is_unsafe_char), "{s:?}");
    }

    fn rejected(body: &[u8]) -> EventRejected {
        let e = parse_delivery(body, &ParseContext::default()).unwrap_err();
        EventRejected::from_error(
            &e,
            body,
            Some("m1".into()),
            "2020-01-01T00:00:00.000Z".into(),
        )
    }

    #[test]
    fn a_hostile_value_is_quoted_escaped_in_the_reason() {
        let body = serde_json::to_vec(&serde_json::json!({
            "version": "0", "id": "1", "source": "falco", "detail-type": "Falco Alert",
            "detail": {"rule": "r", "priority": "Urg\u{1b}[31ment\n", "time": "2020-01-01T00:00:00Z"}
        }))
        .unwrap();
        let r = rejected(&body);
        assert_eq!(r.code, "invalid_value");
        assert_eq!(r.path, "detail.priority");
        assert_one_clean_line(&r.reason);
        assert!(
            r.reason
                .starts_with(r#"detail.priority: unknown Falco priority "Urg\u{1b}[31ment\n""#),
            "{}",
            r.reason
        );
        // The payload stays as received, for the user to inspect.
        assert_eq!(r.payload.as_bytes(), body.as_slice());
        let event = serde_json::to_string(&r).unwrap();
        assert!(
            !event.contains('\u{1b}') && !event.contains('\n'),
            "JSON escapes them"
        );
    }

    #[test]
    fn every_rejection_reason_is_one_clean_line() {
        let bodies: Vec<Vec<u8>> = vec![
            b"\xff\xfe{".to_vec(),
            b"{\"rule\": \"r\\ud800\"}".to_vec(),
            "[".repeat(200).into_bytes(),
            vec![b' '; vigil_adapters::MAX_EVENT_BYTES + 1],
            serde_json::to_vec(&serde_json::json!({
                "rule": "r", "priority": "Notice", "time": "\u{9b}31m\u{202e}2020\u{2028}"
            }))
            .unwrap(),
            serde_json::to_vec(&serde_json::json!({
                "detail-type": "\u{1b}]0;x\u{7}Alert\n", "source": "acme\u{200b}\r\n", "detail": {}
            }))
            .unwrap(),
        ];
        for body in bodies {
            let r = rejected(&body);
            assert_one_clean_line(&r.reason);
            assert_one_clean_line(&r.path);
            assert!(r.reason.chars().count() <= vigil_adapters::MAX_MESSAGE_CHARS);
        }
    }

    /// Whatever builds the reason, the event (and the log line made from it) gets one clean line.
    #[test]
    fn reasons_are_cleaned_whatever_built_them() {
        let e = vigil_adapters::AdapterError::new(
            "detail.\u{1b}[2Jx\n",
            ErrorKind::InvalidValue("bad\r\nINFO forged log line \u{202e}\u{0}".into()),
        );
        let r = EventRejected::from_error(&e, b"{}", None, String::new());
        assert_one_clean_line(&r.reason);
        assert_one_clean_line(&r.path);
        assert_eq!(r.path, "detail.x");
        let r = EventRejected::new(
            "x",
            "a\nb\u{85}c".into(),
            "$".into(),
            b"",
            None,
            String::new(),
        );
        assert_eq!(r.reason, "a bc");
        let r = EventRejected::new("x", "é".repeat(5000), "$".into(), b"", None, String::new());
        assert_eq!(r.reason.chars().count(), vigil_adapters::MAX_MESSAGE_CHARS);
    }
}
