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
