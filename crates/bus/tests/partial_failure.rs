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
