//! Plays the Lambda SQS event source mapping: reads a function's queue in batches of the template's
//! batch size (waiting up to its batching window), hands the batch to the handler as the SQS event
//! Lambda would send, honours `batchItemFailures`, and deletes only what succeeded. Failed messages
//! come back after a short visibility timeout (locally, instead of the template's minutes) until the
//! queue's `maxReceiveCount` sends them to its dead-letter queue.

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Seconds a failed message stays invisible before the relay sees it again.
pub const RETRY_VISIBILITY_SECONDS: i32 = 1;

#[derive(Debug, Clone)]
pub struct QueueFeed {
    pub url: String,
    pub arn: String,
    pub batch_size: usize,
    pub window: Duration,
}

/// One batch as Lambda would see it, and the receipt handles by message id.
pub struct Batch {
    pub event: Value,
    pub receipts: Vec<(String, String)>,
    /// Message bodies, for the summary.
    pub bodies: Vec<String>,
}

pub async fn receive(sqs: &aws_sdk_sqs::Client, feed: &QueueFeed) -> Result<Option<Batch>, String> {
    let started = Instant::now();
    let mut records = Vec::new();
    let mut receipts = Vec::new();
    let mut bodies = Vec::new();
    while records.len() < feed.batch_size {
        let want = (feed.batch_size - records.len()).min(10) as i32;
        let out = sqs
            .receive_message()
            .queue_url(&feed.url)
            .max_number_of_messages(want)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "ReceiveMessage: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                )
            })?;
        let got = out.messages();
        for m in got {
            let id = m.message_id().unwrap_or_default().to_owned();
            let body = m.body().unwrap_or_default().to_owned();
            let count = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .cloned()
                .unwrap_or_else(|| "1".into());
            records.push(json!({
                "messageId": id,
                "receiptHandle": m.receipt_handle(),
                "body": body,
                "attributes": {"ApproximateReceiveCount": count},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": feed.arn,
                "awsRegion": "us-east-1",
            }));
            receipts.push((id, m.receipt_handle().unwrap_or_default().to_owned()));
            bodies.push(body);
        }
        if got.is_empty() || started.elapsed() >= feed.window {
            break;
        }
    }
    if records.is_empty() {
        return Ok(None);
    }
    Ok(Some(Batch {
        event: json!({ "Records": records }),
        receipts,
        bodies,
    }))
}

/// Deletes the messages the handler did not list as failures; makes the failures visible again soon.
pub async fn settle(
    sqs: &aws_sdk_sqs::Client,
    feed: &QueueFeed,
    batch: &Batch,
    response: &Value,
) -> Result<usize, String> {
    let failed: Vec<&str> = response
        .get("batchItemFailures")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.get("itemIdentifier").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let mut done = Vec::new();
    for (id, receipt) in &batch.receipts {
        if failed.contains(&id.as_str()) {
            sqs.change_message_visibility()
                .queue_url(&feed.url)
                .receipt_handle(receipt)
                .visibility_timeout(RETRY_VISIBILITY_SECONDS)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "ChangeMessageVisibility: {}",
                        aws_sdk_sqs::error::DisplayErrorContext(&e)
                    )
                })?;
        } else {
            done.push(
                DeleteMessageBatchRequestEntry::builder()
                    .id(format!("d{}", done.len()))
                    .receipt_handle(receipt)
                    .build()
                    .map_err(|e| e.to_string())?,
            );
        }
    }
    for chunk in done.chunks(10) {
        sqs.delete_message_batch()
            .queue_url(&feed.url)
            .set_entries(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "DeleteMessageBatch: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                )
            })?;
    }
    Ok(failed.len())
}

/// Messages in a queue, visible or in flight.
pub async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<u64, String> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| {
            format!(
                "GetQueueAttributes: {}",
                aws_sdk_sqs::error::DisplayErrorContext(&e)
            )
        })?;
    let attrs = out.attributes();
    let n = |k: A| {
        attrs
            .and_then(|a| a.get(&k))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(n(A::ApproximateNumberOfMessages) + n(A::ApproximateNumberOfMessagesNotVisible))
}
