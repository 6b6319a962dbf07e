//! PutEvents with per-entry retry: a request that fails as a whole is retried whole; a request that
//! succeeds with some failed entries retries only those. What still fails is reported per event, so
//! the caller can hand exactly those messages back to SQS. The loop is [`send_entries`]; each of its
//! attempts sends a request once ([`sdk_retry`]), so `max_attempts` attempts are at most
//! `max_attempts` sends of an event.

use crate::client::sdk_retry;
use crate::request_builder::{VigilEvent, batches};
use tracing::warn;
use vigil_runtime::{EntryFailure, RetryPolicy, send_entries};

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
        send_entries(&self.retry, events.len(), |attempt, pending| {
            self.attempt(events, attempt, pending)
        })
        .await
    }

    /// One attempt: the `pending` events in as few requests as the limits allow, one send each;
    /// returns the events that failed.
    async fn attempt(
        &self,
        events: &[VigilEvent],
        attempt: u32,
        pending: Vec<usize>,
    ) -> Vec<(usize, EntryFailure<PublishError>)> {
        let failed = |code: &str, message: String| {
            EntryFailure::Retryable(PublishError::Failed {
                attempts: attempt,
                code: code.to_owned(),
                message,
            })
        };
        let (requests, oversized) = batches(events, &pending);
        let mut failures: Vec<(usize, EntryFailure<PublishError>)> = oversized
            .into_iter()
            .map(|i| {
                let too_large = PublishError::TooLarge(events[i].entry_size());
                (i, EntryFailure::Permanent(too_large))
            })
            .collect();
        for request in requests {
            let entries = request
                .iter()
                .map(|&i| events[i].to_entry(&self.bus_name))
                .collect::<Vec<_>>();
            let sent = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .customize()
                .config_override(
                    aws_sdk_eventbridge::config::Builder::default().retry_config(sdk_retry()),
                )
                .send()
                .await;
            match sent {
                Ok(out) => {
                    let statuses = out.entries.unwrap_or_default();
                    for (pos, &i) in request.iter().enumerate() {
                        match statuses.get(pos) {
                            Some(s) if s.error_code.is_none() && s.event_id.is_some() => {}
                            Some(s) => failures.push((
                                i,
                                failed(
                                    s.error_code.as_deref().unwrap_or("Unknown"),
                                    s.error_message.clone().unwrap_or_default(),
                                ),
                            )),
                            None => failures.push((
                                i,
                                failed("MissingResult", "no result entry returned".into()),
                            )),
                        }
                    }
                }
                Err(e) => {
                    let message = aws_sdk_eventbridge::error::DisplayErrorContext(&e).to_string();
                    warn!(attempt, error = %message, entries = request.len(), "PutEvents request failed");
                    failures.extend(
                        request
                            .iter()
                            .map(|&i| (i, failed("RequestFailed", message.clone()))),
                    );
                }
            }
        }
        let retrying = failures
            .iter()
            .filter(|(_, f)| matches!(f, EntryFailure::Retryable(_)))
            .count();
        if retrying > 0 && attempt < self.retry.max_attempts {
            warn!(
                attempt,
                failed = retrying,
                "PutEvents entries failed; retrying"
            );
        }
        failures
    }
}

impl EventPublisher {
    /// The same publisher with another retry policy.
    pub fn with_retry(self, retry: RetryPolicy) -> Self {
        EventPublisher { retry, ..self }
    }
}
