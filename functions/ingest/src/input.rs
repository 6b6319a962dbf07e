//! What the function is invoked with: an SQS batch from the event source mapping (each body one
//! event), or one event directly (falcosidekick's bare Falco alert), and what it answers.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use vigil_lambda::{SqsBatchResponse, SqsEvent, sqs};

/// An invocation's payload as Lambda hands it over: SQS-shaped (every record `eventSource:
/// aws:sqs`) or anything else, which only a direct invocation can be.
#[derive(Debug, Clone)]
pub enum IngestPayload {
    /// Every record has `eventSource: aws:sqs` (not yet checked to come from the ingest queue).
    Sqs(SqsEvent),
    /// Any other JSON.
    Direct(Value),
}

impl<'de> Deserialize<'de> for IngestPayload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        match is_sqs_shaped(&value).then(|| SqsEvent::deserialize(&value)) {
            Some(Ok(event)) => Ok(IngestPayload::Sqs(event)),
            _ => Ok(IngestPayload::Direct(value)),
        }
    }
}

fn is_sqs_shaped(payload: &Value) -> bool {
    payload
        .get("Records")
        .and_then(Value::as_array)
        .is_some_and(|records| {
            !records.is_empty()
                && records.iter().all(|r| {
                    r.get("eventSource").and_then(Value::as_str) == Some(sqs::EVENT_SOURCE)
                })
        })
}

/// What ingest answers: the batch's failed messages, or a direct invocation's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum IngestResponse {
    /// `{"batchItemFailures": [...]}`, as the event source mapping expects (partial batch
    /// responses, `ReportBatchItemFailures`).
    Batch(SqsBatchResponse),
    /// The direct invocation's counts.
    Direct(DirectSummary),
}

/// A direct invocation's outcome (the invocation fails instead when its finding could not be
/// stored or published, so that Lambda retries it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DirectSummary {
    /// 1 when the event's finding was published as `Finding Accepted`.
    pub accepted: u64,
    /// Repeats and redeliveries.
    pub duplicates: u64,
    /// 1 when the event was published as `Event Rejected`.
    pub rejected: u64,
}

/// One message to process.
pub struct Message {
    /// SQS message id, reported back in `batchItemFailures`; `None` for a direct invocation.
    pub message_id: Option<String>,
    /// The message body: an EventBridge event from the queue, or the direct payload as JSON.
    pub body: Vec<u8>,
}

/// An invocation, read as the entry point it came through.
pub enum Invocation {
    /// The ingest queue's event source mapping: one message per record.
    SqsBatch(Vec<Message>),
    /// A direct invocation: the whole payload is one agent event.
    Direct(Message),
}

impl Invocation {
    /// `queues`: the ingest queue ARNs the event source mapping reads; when given, a batch is the
    /// mapping's only if every record names one of them. Any other SQS-shaped payload is someone
    /// invoking the function directly, and is read as one direct event (which it is not).
    pub fn from_payload(payload: IngestPayload, queues: &[String]) -> Invocation {
        match payload {
            IngestPayload::Sqs(event)
                if event.records.iter().all(|r| sqs::from_queues(r, queues)) =>
            {
                Invocation::SqsBatch(
                    event
                        .records
                        .into_iter()
                        .map(|r| Message {
                            message_id: r.message_id,
                            body: r.body.unwrap_or_default().into_bytes(),
                        })
                        .collect(),
                )
            }
            other => Invocation::direct_from(other),
        }
    }

    /// The whole payload as one directly invoked event (an SQS-shaped one read back as JSON).
    pub fn direct_from(payload: IngestPayload) -> Invocation {
        match payload {
            IngestPayload::Sqs(event) => {
                Invocation::direct(serde_json::to_value(event).unwrap_or_default())
            }
            IngestPayload::Direct(value) => Invocation::direct(value),
        }
    }

    /// One directly invoked event, whatever its shape.
    pub fn direct(payload: Value) -> Invocation {
        Invocation::Direct(Message {
            message_id: None,
            body: serde_json::to_vec(&payload).unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload(v: Value) -> IngestPayload {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn invocation_shapes() {
        let queue = "arn:aws:sqs:us-east-1:123456789012:vigil-ingest".to_owned();
        let sqs = json!({"Records": [{"eventSource": "aws:sqs", "eventSourceARN": queue, "messageId": "m1", "body": "{}"}]});
        assert!(
            matches!(Invocation::from_payload(payload(sqs.clone()), &[]), Invocation::SqsBatch(m) if m.len() == 1 && m[0].message_id.as_deref() == Some("m1"))
        );
        assert!(matches!(
            Invocation::from_payload(payload(sqs), std::slice::from_ref(&queue)),
            Invocation::SqsBatch(_)
        ));
        // SQS-shaped, but not from the ingest queue: a direct invocation, refused as a whole.
        let forged = json!({"Records": [{"eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:other", "messageId": "m1", "body": "{}"}]});
        assert!(matches!(
            Invocation::from_payload(payload(forged), std::slice::from_ref(&queue)),
            Invocation::Direct(_)
        ));
        for direct in [
            json!({"rule": "r", "priority": "Notice", "Records": "not sqs"}),
            json!({"Records": []}),
            json!({"Records": [{"eventSource": "aws:sqs"}, {"eventSource": "aws:sns"}]}),
            json!([1, 2]),
        ] {
            assert!(matches!(payload(direct.clone()), IngestPayload::Direct(v) if v == direct));
        }
    }

    #[test]
    fn answers_serialize_as_lambda_expects() {
        let mut batch = SqsBatchResponse::default();
        batch.add_failure("m1");
        assert_eq!(
            serde_json::to_value(IngestResponse::Batch(batch)).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "m1"}]})
        );
        let direct = DirectSummary {
            accepted: 1,
            duplicates: 0,
            rejected: 0,
        };
        assert_eq!(
            serde_json::to_value(IngestResponse::Direct(direct)).unwrap(),
            json!({"accepted": 1, "duplicates": 0, "rejected": 0})
        );
    }
}
