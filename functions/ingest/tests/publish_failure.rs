//! When the bus stays down, the message is handed back to SQS; its redelivery is published and, being
//! the same event id, not counted again. DynamoDB is the emulator; EventBridge is mocked to fail.

use aws_sdk_eventbridge::operation::put_events::{PutEventsError, PutEventsOutput};
use aws_sdk_eventbridge::types::PutEventsResultEntry;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use serde_json::json;
use vigil_bus::RetryPolicy;
use vigil_ingest::{Ingest, IngestConfig};
use vigil_testkit::{BUS_NAME, Emulator, TABLE_NAME};

#[tokio::test]
async fn a_failed_publication_is_redelivered_and_finished_exactly_once() {
    let emulator = Emulator::start();
    emulator.create_table().await;
    let ddb = aws_sdk_dynamodb::Client::new(&emulator.sdk_config().await);

    // Two attempts fail in the first invocation; the redelivery's attempt succeeds.
    let rule = mock!(aws_sdk_eventbridge::Client::put_events)
        .sequence()
        .error(|| PutEventsError::unhandled("service unavailable"))
        .times(2)
        .output(|| {
            PutEventsOutput::builder()
                .failed_entry_count(0)
                .entries(PutEventsResultEntry::builder().event_id("ok").build())
                .build()
        })
        .build();
    let events = mock_client!(aws_sdk_eventbridge, RuleMode::Sequential, [&rule]);
    let ingest = Ingest::new(
        ddb.clone(),
        events,
        IngestConfig::new(TABLE_NAME, BUS_NAME),
        Some("us-east-1".into()),
    )
    .with_retry(RetryPolicy::immediate(2));

    let body = include_str!("../../../samples/falco-ecs-eventbridge.json");
    let batch = json!({"Records": [{"messageId": "m-1", "eventSource": "aws:sqs", "body": body}]});

    let first = vigil_lambda::invoke_json(|e| ingest.handle(e), batch.clone(), "")
        .await
        .unwrap();
    assert_eq!(
        first["batchItemFailures"],
        json!([{"itemIdentifier": "m-1"}])
    );

    let second = vigil_lambda::invoke_json(|e| ingest.handle(e), batch, "")
        .await
        .unwrap();
    assert_eq!(
        second["batchItemFailures"],
        json!([]),
        "the redelivery was published"
    );
    assert_eq!(rule.num_calls(), 3);

    let items = emulator.table_items().await;
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0]["occurrences"].as_n().unwrap(),
        "1",
        "the redelivery was not counted twice"
    );
    assert_eq!(items[0]["dedup_state"].as_s().unwrap(), "accepted");
}

/// A bus that takes the first publication, fails the next two attempts (the second publication,
/// under `RetryPolicy::immediate(2)`), then takes four more.
fn bus_down_for_the_second_publication() -> (aws_smithy_mocks::Rule, aws_sdk_eventbridge::Client) {
    let ok = || {
        PutEventsOutput::builder()
            .failed_entry_count(0)
            .entries(PutEventsResultEntry::builder().event_id("ok").build())
            .build()
    };
    let rule = mock!(aws_sdk_eventbridge::Client::put_events)
        .sequence()
        .output(ok)
        .error(|| PutEventsError::unhandled("service unavailable"))
        .times(2)
        .output(ok)
        .times(4)
        .build();
    let events = mock_client!(aws_sdk_eventbridge, RuleMode::Sequential, [&rule]);
    (rule, events)
}

/// The severe occurrence of a forwarded finding raises the record's highest severity, then its
/// publication fails for good and SQS delivers it again. The raise already happened, so the
/// redelivery no longer looks like an escalation, and a forwarded record's redeliveries are quiet:
/// it must still be published, or the severe alert never reaches Security Hub or remediation (a
/// `min_severity: HIGH` playbook never sees it) while its message is acknowledged.
#[tokio::test]
async fn an_escalation_whose_publication_failed_is_published_by_its_redelivery() {
    let emulator = Emulator::start();
    emulator.create_table().await;
    let ddb = aws_sdk_dynamodb::Client::new(&emulator.sdk_config().await);
    // The first occurrence goes out; both attempts for the escalation fail; then the bus is back.
    let (rule, events) = bus_down_for_the_second_publication();
    let config = IngestConfig::new(TABLE_NAME, BUS_NAME);
    let dedup = vigil_dedup::DedupStore::new(ddb.clone(), config.dedup.clone());
    let ingest = Ingest::new(ddb.clone(), events, config, Some("us-east-1".into()))
        .with_retry(RetryPolicy::immediate(2));
    let batch = |id: &str, priority: &str| {
        let mut v: serde_json::Value =
            serde_json::from_str(include_str!("../../../samples/falco-ecs-eventbridge.json"))
                .unwrap();
        v["id"] = json!(id);
        v["detail"]["priority"] = json!(priority);
        json!({"Records": [{"messageId": id, "eventSource": "aws:sqs", "body": v.to_string()}]})
    };
    let send = |payload| vigil_lambda::invoke_json(|e| ingest.handle(e), payload, "");

    let first = send(batch("low", "Notice")).await.unwrap();
    assert_eq!(first["batchItemFailures"], json!([]));
    // Enrich confirmed the import: the record is forwarded.
    let items = emulator.table_items().await;
    let fingerprint = items[0]["pk"].as_s().unwrap().trim_start_matches("FP#");
    assert!(
        dedup
            .mark_enriched(fingerprint, "e", Some(chrono::Utc::now()))
            .await
            .unwrap()
    );

    let severe = send(batch("severe", "Error")).await.unwrap();
    assert_eq!(
        severe["batchItemFailures"],
        json!([{"itemIdentifier": "severe"}])
    );
    assert_eq!(rule.num_calls(), 3);

    let again = send(batch("severe", "Error")).await.unwrap();
    assert_eq!(again["batchItemFailures"], json!([]));
    assert_eq!(
        rule.num_calls(),
        4,
        "the redelivered escalation was acknowledged without being published"
    );
    let items = emulator.table_items().await;
    assert_eq!(items[0]["occurrences"].as_n().unwrap(), "2", "counted once");
    assert_eq!(items[0]["max_severity"].as_n().unwrap(), "70");

    // A redelivery of an occurrence that raised nothing stays quiet on a forwarded record.
    let low_again = send(batch("low", "Notice")).await.unwrap();
    assert_eq!(low_again["batchItemFailures"], json!([]));
    assert_eq!(rule.num_calls(), 4, "a low redelivery is not republished");
}

/// A hot fingerprint: the tenth occurrence of a forwarded finding (a milestone) cannot be published
/// while the bus is down, and its message is handed back. Before SQS brings it back, a generation
/// and more of other occurrences are counted, so the record no longer remembers its id. The
/// redelivery is still recognized (the record listed it unpublished): not counted a second time,
/// published although the record is forwarded, and then taken off the list.
#[tokio::test]
async fn a_failed_publication_of_a_hot_fingerprint_is_counted_once_and_published_by_its_late_redelivery()
 {
    let emulator = Emulator::start();
    emulator.create_table().await;
    let ddb = aws_sdk_dynamodb::Client::new(&emulator.sdk_config().await);
    // The first occurrence goes out; both attempts for the milestone fail; then the bus is back.
    let (rule, events) = bus_down_for_the_second_publication();
    let mut config = IngestConfig::new(TABLE_NAME, BUS_NAME);
    config.dedup.remembered_event_ids = 4;
    let dedup = vigil_dedup::DedupStore::new(ddb.clone(), config.dedup.clone());
    let now = chrono::Utc::now();
    let ingest = Ingest::new(ddb.clone(), events, config, Some("us-east-1".into()))
        .with_retry(RetryPolicy::immediate(2))
        .with_clock(std::sync::Arc::new(move || now));
    let message = |id: &str| {
        let mut v: serde_json::Value =
            serde_json::from_str(include_str!("../../../samples/falco-ecs-eventbridge.json"))
                .unwrap();
        v["id"] = json!(id);
        json!({"messageId": id, "eventSource": "aws:sqs", "body": v.to_string()})
    };
    let batch =
        |ids: &[String]| json!({"Records": ids.iter().map(|id| message(id)).collect::<Vec<_>>()});
    let send = |payload| vigil_lambda::invoke_json(|e| ingest.handle(e), payload, "");
    let ids = |from: u32, to: u32| (from..to).map(|n| format!("e{n}")).collect::<Vec<_>>();

    let first = send(batch(&ids(1, 2))).await.unwrap();
    assert_eq!(first["batchItemFailures"], json!([]));
    let fingerprint = emulator.table_items().await[0]["pk"]
        .as_s()
        .unwrap()
        .trim_start_matches("FP#")
        .to_owned();
    assert!(
        dedup
            .mark_enriched(&fingerprint, "e1", Some(now))
            .await
            .unwrap()
    );
    // Occurrences 2 to 9 are counted quietly; the tenth is the milestone whose publication fails.
    let quiet = send(batch(&ids(2, 10))).await.unwrap();
    assert_eq!(quiet["batchItemFailures"], json!([]));
    let tenth = send(batch(&ids(10, 11))).await.unwrap();
    assert_eq!(
        tenth["batchItemFailures"],
        json!([{"itemIdentifier": "e10"}])
    );
    assert_eq!(rule.num_calls(), 3);
    for from in [11, 21] {
        let others = send(batch(&ids(from, from + 10))).await.unwrap();
        assert_eq!(others["batchItemFailures"], json!([]));
    }
    assert_eq!(
        rule.num_calls(),
        3,
        "the other occurrences are counted quietly"
    );
    let record = &emulator.table_items().await[0];
    assert_eq!(record["occurrences"].as_n().unwrap(), "30");
    assert!(
        !record["event_digests"]
            .as_bs()
            .unwrap()
            .iter()
            .chain(record["event_digests_prev"].as_bs().unwrap())
            .any(|d| d.as_ref() == vigil_dedup::record::digest("e10")),
        "the record no longer remembers the tenth among its counted ids"
    );

    let redelivered = send(batch(&ids(10, 11))).await.unwrap();
    assert_eq!(redelivered["batchItemFailures"], json!([]));
    assert_eq!(rule.num_calls(), 4, "the redelivery was published");
    let record = &emulator.table_items().await[0];
    assert_eq!(
        record["occurrences"].as_n().unwrap(),
        "30",
        "the redelivery was not counted a second time"
    );
    assert!(
        !record.contains_key("unpublished"),
        "published, it left the list: {record:?}"
    );
}
