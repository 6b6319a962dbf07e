//! PutEvents with per-entry retry: a request that fails as a whole is retried whole; a request that
//! succeeds with some failed entries retries only those. What still fails is reported per event, so
//! the caller can hand exactly those messages back to SQS.

use crate::request_builder::{VigilEvent, batches};
use tracing::warn;
use vigil_runtime::RetryPolicy;

/// Why one event was not published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The entry is larger than one `PutEvents` request may be: its size in bytes; never sent.
    #[error("event is {0} bytes, over the PutEvents limit")]
    TooLarge(usize),
    /// EventBridge refused the entry (or the whole request) on every attempt.
    #[error("PutEvents entry failed after {attempts} attempts: {code}: {message}")]
    Failed {
        /// Attempts made, as the retry policy allows.
        attempts: u32,
        /// The entry's `ErrorCode` from the last attempt, or `RequestFailed` when the whole request failed,
        /// `MissingResult` when the response had no entry for it.
        code: String,
        /// The entry's `ErrorMessage`, or the SDK error's text when the whole request failed.
        message: String,
    },
}

/// Publishes [`VigilEvent`]s to one EventBridge bus with `PutEvents`, retrying failed entries.
#[derive(Clone)]
pub struct EventPublisher {
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
    retry: RetryPolicy,
}

impl EventPublisher {
    /// A publisher to bus `bus_name` (name or ARN) through `client`, retrying as `retry` says.
    pub fn new(
        client: aws_sdk_eventbridge::Client,
        bus_name: impl Into<String>,
        retry: RetryPolicy,
    ) -> Self {
        EventPublisher {
            client,
            bus_name: bus_name.into(),
            retry,
        }
    }

    /// Publishes `events`; the result for each is in the same position.
    pub async fn publish(&self, events: &[VigilEvent]) -> Vec<Result<(), PublishError>> {
        let mut results: Vec<Option<Result<(), PublishError>>> = vec![None; events.len()];
        let mut pending: Vec<usize> = (0..events.len()).collect();
        let mut last_error: Vec<(String, String)> =
            vec![(String::new(), String::new()); events.len()];

        for attempt in 1..=self.retry.max_attempts {
            if pending.is_empty() {
                break;
            }
            tokio::time::sleep(self.retry.delay_before(attempt)).await;
            let (requests, oversized) = batches(events, &pending);
            for i in oversized {
                results[i] = Some(Err(PublishError::TooLarge(events[i].entry_size())));
            }
            let mut still_failing = Vec::new();
            for request in requests {
                let entries = request
                    .iter()
                    .map(|&i| events[i].to_entry(&self.bus_name))
                    .collect::<Vec<_>>();
                match self
                    .client
                    .put_events()
                    .set_entries(Some(entries))
                    .send()
                    .await
                {
                    Ok(out) => {
                        let statuses = out.entries.unwrap_or_default();
                        for (pos, &i) in request.iter().enumerate() {
                            match statuses.get(pos) {
                                Some(s) if s.error_code.is_none() && s.event_id.is_some() => {
                                    results[i] = Some(Ok(()))
                                }
                                Some(s) => {
                                    last_error[i] = (
                                        s.error_code.clone().unwrap_or_else(|| "Unknown".into()),
                                        s.error_message.clone().unwrap_or_default(),
                                    );
                                    still_failing.push(i);
                                }
                                None => {
                                    last_error[i] =
                                        ("MissingResult".into(), "no result entry returned".into());
                                    still_failing.push(i);
                                }
                            }
                        }
                    }
                    Err(e) => {
                        let message =
                            aws_sdk_eventbridge::error::DisplayErrorContext(&e).to_string();
                        warn!(attempt, error = %message, entries = request.len(), "PutEvents request failed");
                        for &i in &request {
                            last_error[i] = ("RequestFailed".into(), message.clone());
                            still_failing.push(i);
                        }
                    }
                }
            }
            if !still_failing.is_empty() {
                warn!(
                    attempt,
                    failed = still_failing.len(),
                    "PutEvents entries failed; retrying"
                );
            }
            pending = still_failing;
        }
        for i in pending {
            let (code, message) = std::mem::take(&mut last_error[i]);
            results[i] = Some(Err(PublishError::Failed {
                attempts: self.retry.max_attempts,
                code,
                message,
            }));
        }
        results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect()
    }
}

impl EventPublisher {
    /// The same publisher with another retry policy.
    pub fn with_retry(self, retry: RetryPolicy) -> Self {
        EventPublisher { retry, ..self }
    }
}
