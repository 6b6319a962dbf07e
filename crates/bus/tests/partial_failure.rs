//! PutEvents partial failures and request failures are retried for exactly the entries that failed.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::operation::put_events::{PutEventsError, PutEventsOutput};
use aws_sdk_eventbridge::types::PutEventsResultEntry;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use std::sync::{Arc, Mutex};
use vigil_bus::{EventPublisher, PublishError, RetryPolicy, VigilEvent};

fn events(n: usize) -> Vec<VigilEvent> {
    (0..n)
        .map(|i| VigilEvent::new("Finding Accepted", &serde_json::json!({ "n": i })).unwrap())
        .collect()
}

fn ok(id: &str) -> PutEventsResultEntry {
    PutEventsResultEntry::builder().event_id(id).build()
}

fn throttled() -> PutEventsResultEntry {
    PutEventsResultEntry::builder()
        .error_code("ThrottlingException")
        .error_message("Rate exceeded")
        .build()
}

#[tokio::test]
async fn only_failed_entries_are_retried() {
    let sent: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let record = sent.clone();
    // First call: entries 1 and 3 throttled. Second call: the two retried entries succeed.
    let rule = mock!(Client::put_events)
        .match_requests(move |req| {
            record.lock().unwrap().push(
                req.entries()
                    .iter()
                    .map(|e| e.detail().unwrap_or("").to_owned())
                    .collect(),
            );
            true
        })
        .sequence()
        .output(|| {
            PutEventsOutput::builder()
                .failed_entry_count(2)
                .entries(ok("a"))
                .entries(throttled())
                .entries(ok("c"))
                .entries(throttled())
                .build()
        })
        .output(|| {
            PutEventsOutput::builder()
                .failed_entry_count(0)
                .entries(ok("b"))
                .entries(ok("d"))
                .build()
        })
        .build();
    let client = mock_client!(aws_sdk_eventbridge, RuleMode::Sequential, [&rule]);
    let publisher = EventPublisher::new(client, "vigil", RetryPolicy::immediate(3));
    let results = publisher.publish(&events(4)).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let sent = sent.lock().unwrap();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[1],
        vec![r#"{"n":1}"#, r#"{"n":3}"#],
        "only the throttled entries were sent again"
    );
}

#[tokio::test]
async fn entries_failing_beyond_the_budget_are_reported_individually() {
    let rule = mock!(Client::put_events)
        .sequence()
        .output(|| {
            PutEventsOutput::builder()
                .failed_entry_count(1)
                .entries(ok("a"))
                .entries(throttled())
                .build()
        })
        .output(|| {
            PutEventsOutput::builder()
                .failed_entry_count(1)
                .entries(throttled())
                .build()
        })
        .times(2)
        .build();
    let client = mock_client!(aws_sdk_eventbridge, RuleMode::Sequential, [&rule]);
    let publisher = EventPublisher::new(client, "vigil", RetryPolicy::immediate(3));
    let results = publisher.publish(&events(2)).await;
    assert_eq!(results[0], Ok(()));
    assert!(
        matches!(&results[1], Err(PublishError::Failed { attempts: 3, code, .. }) if code == "ThrottlingException")
    );
}

#[tokio::test]
async fn a_failed_request_is_retried_whole() {
    let rule = mock!(Client::put_events)
        .sequence()
        .error(|| PutEventsError::unhandled("connection reset"))
        .output(|| {
            PutEventsOutput::builder()
                .failed_entry_count(0)
                .entries(ok("a"))
                .entries(ok("b"))
                .build()
        })
        .build();
    let client = mock_client!(aws_sdk_eventbridge, RuleMode::Sequential, [&rule]);
    let publisher = EventPublisher::new(client, "vigil", RetryPolicy::immediate(3));
    assert!(
        publisher
            .publish(&events(2))
            .await
            .iter()
            .all(Result::is_ok)
    );
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test]
async fn more_than_ten_events_take_several_calls() {
    let rule = mock!(Client::put_events).then_compute_output(|req| {
        let mut out = PutEventsOutput::builder().failed_entry_count(0);
        for _ in req.entries() {
            out = out.entries(ok("x"));
        }
        out.build()
    });
    let client = mock_client!(aws_sdk_eventbridge, RuleMode::MatchAny, [&rule]);
    let publisher = EventPublisher::new(client, "vigil", RetryPolicy::immediate(1));
    assert!(
        publisher
            .publish(&events(25))
            .await
            .iter()
            .all(Result::is_ok)
    );
    assert_eq!(rule.num_calls(), 3);
}

/// The SDK's standard retry, as a client built from `aws_config::load_from_env()` has it.
fn standard_sdk_retry() -> aws_sdk_eventbridge::config::retry::RetryConfig {
    aws_sdk_eventbridge::config::retry::RetryConfig::standard().with_max_attempts(3)
}

#[tokio::test]
async fn a_throttled_call_is_sent_once_per_attempt_whatever_the_client_retry() {
    // Throttled for good: each of the publisher's 4 attempts is one send, not the SDK's 3.
    let rule = mock!(Client::put_events).then_error(|| {
        PutEventsError::generic(
            aws_sdk_eventbridge::error::ErrorMetadata::builder()
                .code("ThrottlingException")
                .message("Rate exceeded")
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_eventbridge, RuleMode::MatchAny, [&rule], |c| c
        .retry_config(standard_sdk_retry()));
    let publisher = EventPublisher::new(client, "vigil", RetryPolicy::immediate(4));
    let results = publisher.publish(&events(3)).await;
    assert_eq!(rule.num_calls(), 4, "4 sends, not 4 × 3 = 12");
    for r in &results {
        assert!(
            matches!(r, Err(PublishError::Failed { attempts: 4, code, .. }) if code == "RequestFailed"),
            "{r:?}"
        );
    }
}

#[test]
fn the_functions_client_leaves_retrying_to_the_publisher() {
    let client = vigil_bus::client(aws_sdk_eventbridge::Config::builder());
    let retry = client.config().retry_config().cloned();
    assert_eq!(retry.map(|r| r.max_attempts()), Some(1));
    assert_eq!(vigil_bus::sdk_retry().max_attempts(), 1);
}
