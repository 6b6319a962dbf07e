//! Plays the Lambda SQS event source mapping: reads a function's queue in batches of the template's
//! batch size (waiting up to its batching window), hands the batch to the handler as the SQS event
//! Lambda would send, honours `batchItemFailures`, and deletes only what succeeded. Failed messages
//! come back after a short visibility timeout (locally, instead of the template's minutes) until the
//! queue's `maxReceiveCount` sends them to its dead-letter queue.
//!
//! Like the real poller, it outlives an unreachable SQS endpoint: a failed call is tried again until
//! [`SQS_OUTAGE_LIMIT`] has passed. A [`Storm`] turns at-least-once delivery up to its worst: every
//! message is delivered 1 to N times, in shuffled batches.

use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

/// Seconds a failed message stays invisible before the relay sees it again.
pub const RETRY_VISIBILITY_SECONDS: i32 = 1;

/// How long the relay keeps trying an SQS call that fails (the emulator restarting) before the run
/// fails.
pub const SQS_OUTAGE_LIMIT: Duration = Duration::from_secs(60);

/// One queue's event source mapping, as the relay plays it.
#[derive(Debug, Clone)]
pub struct QueueFeed {
    /// The queue URL.
    pub url: String,
    /// The queue ARN (each record's `eventSourceARN`).
    pub arn: String,
    /// Records per batch at most (`BatchSize`; 10 when absent).
    pub batch_size: usize,
    /// How long to gather a batch (`MaximumBatchingWindowInSeconds`).
    pub window: Duration,
    /// Batches in flight at once (the mapping's `MaximumConcurrency`).
    pub concurrency: usize,
}

/// One batch as Lambda would see it, and the receipt handles by message id.
pub struct Batch {
    /// The SQS event (`{"Records": [...]}`) Lambda would pass.
    pub event: Value,
    /// `(message id, receipt handle)` per record, in the event's order.
    pub receipts: Vec<(String, String)>,
    /// Message bodies, for the summary.
    pub bodies: Vec<String>,
}

/// Every message delivered `1..=max_copies` times (a uniform draw per distinct body), in shuffled
/// batches: SQS's at-least-once delivery, and EventBridge's, at their worst.
#[derive(Debug, Clone)]
pub struct Storm {
    /// Deliveries of each body at most (1: no copies).
    pub max_copies: u32,
    /// Seed of the draws and the shuffles, so a run can be replayed.
    pub seed: u64,
}

/// The storm's memory: which bodies already got their copies, per queue.
pub struct StormState {
    storm: Storm,
    rng: fastrand::Rng,
    seen: HashSet<u64>,
    /// Extra deliveries sent so far.
    pub copies: u64,
}

impl StormState {
    /// A storm that has seen nothing yet.
    pub fn new(storm: Storm) -> Self {
        StormState {
            rng: fastrand::Rng::with_seed(storm.seed),
            storm,
            seen: HashSet::new(),
            copies: 0,
        }
    }

    /// How many extra copies of this body to send now (0 for a body already seen on this queue).
    fn copies_for(&mut self, queue: &str, body: &str) -> u32 {
        let mut h = DefaultHasher::new();
        (queue, body).hash(&mut h);
        if !self.seen.insert(h.finish()) {
            return 0;
        }
        self.rng.u32(1..=self.storm.max_copies.max(1)) - 1
    }
}

fn sqs_error<E: std::error::Error + 'static>(operation: &str, e: E) -> String {
    format!(
        "{operation}: {}",
        aws_sdk_sqs::error::DisplayErrorContext(e)
    )
}

/// Runs an SQS call until it succeeds or [`SQS_OUTAGE_LIMIT`] passes.
async fn persist<T, F, Fut>(mut call: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if started.elapsed() >= SQS_OUTAGE_LIMIT => {
                return Err(format!(
                    "{e} (still failing after {} s)",
                    SQS_OUTAGE_LIMIT.as_secs()
                ));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// Gathers one batch from `feed`'s queue, as the mapping would: up to `batch_size` records or
/// until `window` passes or the queue is empty; with a storm, sends each new body's extra copies
/// back to the queue and shuffles the batch. `None` when the queue had nothing.
///
/// # Errors
/// An SQS call still failing after [`SQS_OUTAGE_LIMIT`].
pub async fn receive(
    sqs: &aws_sdk_sqs::Client,
    feed: &QueueFeed,
    mut storm: Option<&mut StormState>,
) -> Result<Option<Batch>, String> {
    let started = Instant::now();
    let mut records = Vec::new();
    let mut receipts = Vec::new();
    let mut bodies = Vec::new();
    while records.len() < feed.batch_size {
        let want = (feed.batch_size - records.len()).min(10) as i32;
        let out = persist(|| async {
            sqs.receive_message()
                .queue_url(&feed.url)
                .max_number_of_messages(want)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send()
                .await
                .map_err(|e| sqs_error("ReceiveMessage", e))
        })
        .await?;
        let got = out.messages();
        let mut copies = Vec::new();
        for m in got {
            let id = m.message_id().unwrap_or_default().to_owned();
            let body = m.body().unwrap_or_default().to_owned();
            let count = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .cloned()
                .unwrap_or_else(|| "1".into());
            if let Some(storm) = storm.as_deref_mut() {
                for _ in 0..storm.copies_for(&feed.url, &body) {
                    copies.push(body.clone());
                }
            }
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
        if let Some(storm) = storm.as_deref_mut() {
            storm.copies += copies.len() as u64;
            send_bodies(sqs, &feed.url, &copies).await?;
        }
        if got.is_empty() || started.elapsed() >= feed.window {
            break;
        }
    }
    if records.is_empty() {
        return Ok(None);
    }
    if let Some(storm) = storm {
        // The same permutation for records, receipts and bodies keeps them aligned.
        let mut order: Vec<usize> = (0..records.len()).collect();
        storm.rng.shuffle(&mut order);
        records = order.iter().map(|&i| records[i].clone()).collect();
        receipts = order.iter().map(|&i| receipts[i].clone()).collect();
        bodies = order.iter().map(|&i| bodies[i].clone()).collect();
    }
    Ok(Some(Batch {
        event: json!({ "Records": records }),
        receipts,
        bodies,
    }))
}

/// Sends message bodies to a queue, ten to a call.
pub async fn send_bodies(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    bodies: &[String],
) -> Result<(), String> {
    for chunk in bodies.chunks(10) {
        let entries: Vec<SendMessageBatchRequestEntry> = chunk
            .iter()
            .enumerate()
            .map(|(i, b)| {
                SendMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .message_body(b)
                    .build()
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<_, _>>()?;
        let out = persist(|| async {
            sqs.send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries.clone()))
                .send()
                .await
                .map_err(|e| sqs_error("SendMessageBatch", e))
        })
        .await?;
        if !out.failed().is_empty() {
            return Err(format!(
                "SendMessageBatch refused {} messages: {:?}",
                out.failed().len(),
                out.failed().first().map(|f| f.message())
            ));
        }
    }
    Ok(())
}

/// The `itemIdentifier`s a handler's response lists as failed.
pub fn failed_ids(response: &Value) -> Vec<&str> {
    response
        .get("batchItemFailures")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.get("itemIdentifier").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// Deletes the messages the handler did not list as failures; makes the failures visible again soon.
pub async fn settle(
    sqs: &aws_sdk_sqs::Client,
    feed: &QueueFeed,
    batch: &Batch,
    response: &Value,
) -> Result<usize, String> {
    let failed = failed_ids(response);
    let mut done = Vec::new();
    for (id, receipt) in &batch.receipts {
        if failed.contains(&id.as_str()) {
            persist(|| async {
                sqs.change_message_visibility()
                    .queue_url(&feed.url)
                    .receipt_handle(receipt)
                    .visibility_timeout(RETRY_VISIBILITY_SECONDS)
                    .send()
                    .await
                    .map_err(|e| sqs_error("ChangeMessageVisibility", e))
            })
            .await?;
        } else {
            done.push(receipt.as_str());
        }
    }
    delete(sqs, &feed.url, &done).await?;
    Ok(failed.len())
}

/// Deletes messages by receipt handle, ten to a call.
async fn delete(sqs: &aws_sdk_sqs::Client, url: &str, receipts: &[&str]) -> Result<(), String> {
    for chunk in receipts.chunks(10) {
        let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
            .iter()
            .enumerate()
            .map(|(i, receipt)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(format!("d{i}"))
                    .receipt_handle(*receipt)
                    .build()
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<_, _>>()?;
        persist(|| async {
            sqs.delete_message_batch()
                .queue_url(url)
                .set_entries(Some(entries.clone()))
                .send()
                .await
                .map_err(|e| sqs_error("DeleteMessageBatch", e))
        })
        .await?;
    }
    Ok(())
}

/// Messages in a queue, visible or in flight.
pub async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<u64, String> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = persist(|| async {
        sqs.get_queue_attributes()
            .queue_url(url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| sqs_error("GetQueueAttributes", e))
    })
    .await?;
    let attrs = out.attributes();
    let n = |k: A| {
        attrs
            .and_then(|a| a.get(&k))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(n(A::ApproximateNumberOfMessages) + n(A::ApproximateNumberOfMessagesNotVisible))
}

/// Takes every message out of a queue (a dead-letter queue), deleting each once read.
pub async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<Vec<String>, String> {
    let mut bodies = Vec::new();
    loop {
        let out = persist(|| async {
            sqs.receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .send()
                .await
                .map_err(|e| sqs_error("ReceiveMessage", e))
        })
        .await?;
        if out.messages().is_empty() {
            return Ok(bodies);
        }
        let receipts: Vec<&str> = out
            .messages()
            .iter()
            .map(|m| m.receipt_handle().unwrap_or_default())
            .collect();
        delete(sqs, url, &receipts).await?;
        bodies.extend(
            out.messages()
                .iter()
                .map(|m| m.body().unwrap_or_default().to_owned()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storm_copies_each_body_once_per_queue_within_its_bound() {
        let mut s = StormState::new(Storm {
            max_copies: 5,
            seed: 7,
        });
        let mut seen_extra = HashSet::new();
        for i in 0..500 {
            let extra = s.copies_for("q", &format!("body-{i}"));
            assert!(extra <= 4);
            seen_extra.insert(extra);
            assert_eq!(s.copies_for("q", &format!("body-{i}")), 0, "only once");
        }
        assert_eq!(
            seen_extra.len(),
            5,
            "every count from 1 to 5 deliveries occurs"
        );
        // Another queue's copy of the same body is its own delivery.
        let mut fresh = 0;
        for i in 0..50 {
            fresh += u32::from(s.copies_for("other", &format!("body-{i}")) > 0);
        }
        assert!(fresh > 0);
    }

    #[test]
    fn failures_are_read_from_the_response() {
        let r = json!({"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "b"}]});
        assert_eq!(failed_ids(&r), ["a", "b"]);
        assert!(failed_ids(&json!({})).is_empty());
    }
}
