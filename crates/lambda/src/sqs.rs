//! SQS batches as Lambda's event source mapping delivers them, and the partial-batch answer
//! (`ReportBatchItemFailures`): the messages named in `batchItemFailures` go back to the queue, every
//! other one is deleted.
//!
//! Shapes: [Using Lambda with Amazon SQS](https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html)
//! (the event) and "Reporting batch item failures" (the response).

use crate::{Context, LambdaEvent, SqsBatchResponse, SqsEvent, SqsMessage};
use tracing::warn;

/// `eventSource` of every record the SQS event source mapping delivers.
pub const EVENT_SOURCE: &str = "aws:sqs";

/// Whether `record` was delivered by the mapping of one of `queues` (any queue when `queues` is
/// empty, as in a deployment that does not name them). Only a function's own mapping names its
/// queue; a record naming another was put together by someone invoking the function directly.
pub fn from_queues(record: &SqsMessage, queues: &[String]) -> bool {
    queues.is_empty()
        || record
            .event_source_arn
            .as_deref()
            .is_some_and(|arn| queues.iter().any(|q| q == arn))
}

/// The records of `event` that `queues` delivered; each other record is logged with the source it
/// claims and left out (it cannot be returned to a queue it never came from).
pub fn own_records(event: SqsEvent, queues: &[String], function: &str) -> Vec<SqsMessage> {
    let mut records = event.records;
    records.retain(|r| {
        let ours = from_queues(r, queues);
        if !ours {
            warn!(
                function,
                event_source = r.event_source_arn.as_deref(),
                "a record from outside the function's queue ignored"
            );
        }
        ours
    });
    records
}

/// The message's body; empty when the record has none.
pub fn body(record: &SqsMessage) -> &str {
    record.body.as_deref().unwrap_or_default()
}

/// `ApproximateReceiveCount`: 1 on the first delivery, more on each redelivery.
pub fn receive_count(record: &SqsMessage) -> Option<u32> {
    record
        .attributes
        .get("ApproximateReceiveCount")?
        .trim()
        .parse()
        .ok()
}

/// The answer naming the messages at `failed` (indexes into `records`) for redelivery.
pub fn failures(
    records: &[SqsMessage],
    failed: impl IntoIterator<Item = usize>,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for i in failed {
        if let Some(id) = records.get(i).and_then(|r| r.message_id.clone()) {
            response.add_failure(id);
        }
    }
    response
}

/// The message ids a response returns to the queue.
pub fn failed_ids(response: &SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

/// One message as the mapping delivers it: its id, body and receive count.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// The SQS `messageId`: the id a partial-batch failure returns.
    pub message_id: String,
    /// The message body as sent (for Vigil's queues, an EventBridge event envelope as JSON).
    pub body: String,
    /// The SQS `ApproximateReceiveCount` attribute: 1 on the first delivery.
    pub receive_count: u32,
}

impl Delivered {
    /// A first delivery of `body` under `message_id`.
    pub fn new(message_id: impl Into<String>, body: impl Into<String>) -> Self {
        Delivered {
            message_id: message_id.into(),
            body: body.into(),
            receive_count: 1,
        }
    }
}

/// An invocation of the function `function_arn` by the mapping of `queue_arn` with `messages`: what
/// the local pipeline's relay and the tests hand a handler, shaped as Lambda delivers it.
pub fn invocation(
    queue_arn: &str,
    function_arn: &str,
    messages: impl IntoIterator<Item = Delivered>,
) -> LambdaEvent<SqsEvent> {
    let mut event = SqsEvent::default();
    event.records = messages
        .into_iter()
        .map(|m| {
            let mut record = SqsMessage::default();
            record.message_id = Some(m.message_id);
            record.body = Some(m.body);
            record.event_source = Some(EVENT_SOURCE.to_owned());
            record.event_source_arn = Some(queue_arn.to_owned());
            record.attributes.insert(
                "ApproximateReceiveCount".to_owned(),
                m.receive_count.to_string(),
            );
            record
        })
        .collect();
    let mut context = Context::default();
    context.invoked_function_arn = function_arn.to_owned();
    LambdaEvent::new(event, context)
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:vigil-remediate";

    #[test]
    fn a_batch_reads_from_lambdas_json_and_answers_by_message_id() {
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
            {"messageId": "m1", "body": "{}", "eventSource": "aws:sqs", "eventSourceARN": QUEUE,
             "attributes": {"ApproximateReceiveCount": "3"}},
            {"messageId": "m2", "body": "x", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:other"}
        ]}))
        .unwrap();
        let records = own_records(event, &[QUEUE.to_owned()], "remediate");
        assert_eq!(records.len(), 1);
        assert_eq!(receive_count(&records[0]), Some(3));
        assert_eq!(body(&records[0]), "{}");
        let response = failures(&records, [0, 7]);
        assert_eq!(failed_ids(&response), ["m1"]);
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m1"}]})
        );
    }

    #[test]
    fn no_named_queue_takes_every_record() {
        let LambdaEvent { payload, context } =
            invocation(QUEUE, "arn:fn", [Delivered::new("a", "b")]);
        assert_eq!(context.invoked_function_arn, "arn:fn");
        assert!(from_queues(&payload.records[0], &[]));
        assert!(!from_queues(&payload.records[0], &["other".to_owned()]));
        assert_eq!(receive_count(&payload.records[0]), Some(1));
    }
}
