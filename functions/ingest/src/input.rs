//! What the function is invoked with: an SQS batch from the event source mapping (each body one
//! event), or one event directly (an EventBridge event, or falcosidekick's bare Falco alert).

use serde_json::Value;

/// One message to process.
pub struct Message {
    /// SQS message id, reported back in `batchItemFailures`; `None` for a direct invocation.
    pub message_id: Option<String>,
    pub body: Vec<u8>,
}

pub enum Invocation {
    SqsBatch(Vec<Message>),
    Direct(Message),
}

impl Invocation {
    /// `queues`: the ingest queue ARNs the event source mapping reads; when given, a batch is the
    /// mapping's only if every record names one of them.
    pub fn from_payload(payload: Value, queues: &[String]) -> Invocation {
        if let Some(records) = sqs_records(&payload).filter(|records| {
            queues.is_empty()
                || records.iter().all(|r| {
                    r.get("eventSourceARN")
                        .and_then(Value::as_str)
                        .is_some_and(|arn| queues.iter().any(|q| q == arn))
                })
        }) {
            return Invocation::SqsBatch(
                records
                    .iter()
                    .map(|r| Message {
                        message_id: r
                            .get("messageId")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        body: r
                            .get("body")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .as_bytes()
                            .to_vec(),
                    })
                    .collect(),
            );
        }
        Invocation::direct(payload)
    }

    /// One directly invoked event, whatever its shape.
    pub fn direct(payload: Value) -> Invocation {
        Invocation::Direct(Message {
            message_id: None,
            body: serde_json::to_vec(&payload).unwrap_or_default(),
        })
    }
}

fn sqs_records(payload: &Value) -> Option<&Vec<Value>> {
    let records = payload.get("Records")?.as_array()?;
    records
        .iter()
        .all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"))
        .then_some(records)
        .filter(|r| !r.is_empty())
}
