//! The events ingest publishes: `Finding Accepted` (the canonical finding plus its dedup state) and
//! `Event Rejected` (why, and the original payload, truncated to fit the bus).

use vigil_adapters::AdapterError;
use vigil_model::text::clean;

pub use vigil_contract::{
    DedupSummary, EVENT_REJECTED, EventRejected, FINDING_ACCEPTED, FindingAccepted,
};

/// Keeps a rejected payload well inside the 256 KB entry limit.
pub const MAX_REJECTED_PAYLOAD_BYTES: usize = 64 * 1024;

/// An `Event Rejected` detail. `reason` and `path` go to the logs as well as to the event, so they
/// are made one line without control or invisible characters here, whatever produced them. The
/// payload is kept as received: it is the evidence, and JSON carries it escaped.
pub fn rejected(
    code: &str,
    reason: String,
    path: String,
    body: &[u8],
    sqs_message_id: Option<String>,
    received_at: String,
) -> EventRejected {
    let text = String::from_utf8_lossy(body);
    let kept = vigil_model::text::truncate_utf8(&text, MAX_REJECTED_PAYLOAD_BYTES);
    let one_line = |s: &str| clean(s, vigil_adapters::MAX_MESSAGE_CHARS, false);
    EventRejected {
        code: code.to_owned(),
        reason: one_line(&reason),
        path: one_line(&path),
        event_id: vigil_contract::content_id(body),
        sqs_message_id,
        received_at,
        payload_bytes: body.len(),
        payload_truncated: kept.len() < text.len(),
        payload: kept.to_owned(),
    }
}

/// An `Event Rejected` detail for an adapter's refusal.
pub fn rejected_by(
    e: &AdapterError,
    body: &[u8],
    sqs_message_id: Option<String>,
    received_at: String,
) -> EventRejected {
    rejected(
        e.code(),
        e.to_string(),
        e.path.clone(),
        body,
        sqs_message_id,
        received_at,
    )
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

    fn rejected_body(body: &[u8]) -> EventRejected {
        let e = parse_delivery(body, &ParseContext::default()).unwrap_err();
        rejected_by(
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
        let r = rejected_body(&body);
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
            let r = rejected_body(&body);
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
        let r = rejected_by(&e, b"{}", None, String::new());
        assert_one_clean_line(&r.reason);
        assert_one_clean_line(&r.path);
        assert_eq!(r.path, "detail.x");
        let r = rejected(
            "x",
            "a\nb\u{85}c".into(),
            "$".into(),
            b"",
            None,
            String::new(),
        );
        assert_eq!(r.reason, "a bc");
        let r = rejected("x", "é".repeat(5000), "$".into(), b"", None, String::new());
        assert_eq!(r.reason.chars().count(), vigil_adapters::MAX_MESSAGE_CHARS);
    }
}
