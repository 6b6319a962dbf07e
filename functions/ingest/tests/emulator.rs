//! The ingest function against the AWS API emulator: SQS batches in, dedup records in DynamoDB,
//! `Finding Accepted` / `Event Rejected` out on the bus.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use vigil_ingest::{Ingest, IngestConfig};
use vigil_testkit::{BUS_NAME, BusTap, Emulator, TABLE_NAME};

const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:vigil-ingest";

struct Harness {
    emulator: Emulator,
    ingest: Ingest,
    now: Arc<Mutex<DateTime<Utc>>>,
    accepted: BusTap,
    rejected: BusTap,
}

impl Harness {
    async fn start() -> Harness {
        let emulator = Emulator::start();
        emulator.create_table().await;
        emulator.create_bus().await;
        let accepted = emulator.tap_vigil("accepted", "Finding Accepted").await;
        let rejected = emulator.tap_vigil("rejected", "Event Rejected").await;
        let config = emulator.sdk_config().await;
        // 00:00:00 starts every lease and interval window, so the test controls when they turn over.
        let now = Arc::new(Mutex::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        ));
        let clock = now.clone();
        let ingest = Ingest::from_env(IngestConfig::new(TABLE_NAME, BUS_NAME), &config)
            .with_clock(Arc::new(move || *clock.lock().unwrap()));
        emulator.reset_api_calls();
        Harness {
            emulator,
            ingest,
            now,
            accepted,
            rejected,
        }
    }

    fn advance(&self, secs: i64) {
        *self.now.lock().unwrap() += Duration::seconds(secs);
    }

    async fn send(&self, bodies: &[String]) -> Value {
        let records: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| json!({"messageId": format!("msg-{i}"), "eventSource": "aws:sqs", "body": b}))
            .collect();
        vigil_lambda::invoke_json(
            |e| self.ingest.handle(e),
            json!({ "Records": records }),
            FUNCTION_ARN,
        )
        .await
        .unwrap()
    }
}

fn falco_event(event_id: &str) -> String {
    let mut v: Value =
        serde_json::from_str(include_str!("../../../samples/falco-ecs-eventbridge.json")).unwrap();
    v["id"] = json!(event_id);
    v.to_string()
}

fn no_failures(response: &Value) {
    assert_eq!(response["batchItemFailures"], json!([]), "{response}");
}

#[tokio::test]
async fn first_event_is_accepted_and_published() {
    let h = Harness::start().await;
    no_failures(&h.send(&[falco_event("e-1")]).await);
    let published = h.accepted.drain().await;
    assert_eq!(published.len(), 1);
    let detail = &published[0]["detail"];
    assert_eq!(detail["finding"]["rule"], "Terminal shell in container");
    assert_eq!(
        detail["finding"]["resource"]["task_arn"],
        "arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b4cb40f1f4fe4a2971f76ae5a47ad"
    );
    assert_eq!(detail["dedup"]["count"], 1);
    assert_eq!(detail["dedup"]["reason"], "new");
    assert_eq!(
        detail["dedup"]["securityhub_id"],
        format!(
            "vigil-{}",
            detail["finding"]["fingerprint"].as_str().unwrap()
        )
    );
    assert_eq!(
        published[0]["account"], "123456789012",
        "the envelope the bus delivered"
    );
    assert_eq!(h.emulator.calls("dynamodb", "UpdateItem"), 1);
}

#[tokio::test]
async fn repeats_are_counted_and_published_only_at_milestones() {
    let h = Harness::start().await;
    no_failures(&h.send(&[falco_event("first")]).await);
    for batch in 0..5 {
        h.advance(1);
        let bodies: Vec<String> = (0..10)
            .map(|i| falco_event(&format!("repeat-{batch}-{i}")))
            .collect();
        no_failures(&h.send(&bodies).await);
    }
    let published = h.accepted.drain().await;
    let counts: Vec<u64> = published
        .iter()
        .map(|e| e["detail"]["dedup"]["count"].as_u64().unwrap())
        .collect();
    assert_eq!(
        counts.len(),
        2,
        "51 occurrences, published for the new finding and the 10th: {counts:?}"
    );
    assert!(counts.contains(&1) && counts.contains(&10));
    assert_eq!(
        h.emulator.calls("dynamodb", "UpdateItem"),
        6,
        "one UpdateItem per fingerprint per batch (a batch whose ids do not fit the generation of \
         remembered ids starts the next one, known from the last write)"
    );
    let items = h.emulator.table_items().await;
    assert_eq!(items[0]["occurrences"].as_n().unwrap(), "51");
    assert_eq!(
        h.emulator.calls("dynamodb", "GetItem") + h.emulator.calls("dynamodb", "Query"),
        0
    );
}

#[tokio::test]
async fn the_same_event_id_delivered_three_times_counts_once() {
    let h = Harness::start().await;
    for _ in 0..3 {
        no_failures(&h.send(&[falco_event("same-id")]).await);
    }
    no_failures(&h.send(&[falco_event("other-id")]).await);
    let items = h.emulator.table_items().await;
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0]["occurrences"].as_n().unwrap(),
        "2",
        "three deliveries of one event and one other event"
    );
}

#[tokio::test]
async fn a_repeat_after_the_lease_is_republished_while_still_accepted() {
    let h = Harness::start().await;
    no_failures(&h.send(&[falco_event("a")]).await);
    h.advance(30);
    no_failures(&h.send(&[falco_event("b")]).await);
    assert_eq!(
        h.accepted.drain().await.len(),
        1,
        "within the lease: only the first"
    );
    h.advance(150);
    no_failures(&h.send(&[falco_event("c")]).await);
    let again = h.accepted.drain().await;
    assert_eq!(
        again.len(),
        1,
        "the enrich stage never confirmed: let through again"
    );
    assert_eq!(again[0]["detail"]["dedup"]["reason"], "lease_expired");
}

#[tokio::test]
async fn bad_events_are_published_as_rejected_and_never_fail_the_batch() {
    let h = Harness::start().await;
    let bodies = vec![
        "not json at all".to_owned(),
        json!({"source": "falco", "detail-type": "Falco Alert", "detail":
            {"rule": "r", "priority": "Urgent", "output": "x", "time": "2026-01-01T00:00:00Z"}})
        .to_string(),
        json!({"source": "acme", "detail-type": "Scan", "detail": {"a": 1}}).to_string(),
        falco_event("good"),
        "x".repeat(300 * 1024),
    ];
    no_failures(&h.send(&bodies).await);
    let rejected = h.rejected.drain().await;
    assert_eq!(rejected.len(), 4);
    let mut codes: Vec<&str> = rejected
        .iter()
        .map(|e| e["detail"]["code"].as_str().unwrap())
        .collect();
    codes.sort_unstable();
    assert_eq!(
        codes,
        ["invalid_value", "not_json", "too_large", "unknown_source"]
    );
    let oversized = rejected
        .iter()
        .find(|e| e["detail"]["code"] == "too_large")
        .unwrap();
    assert_eq!(oversized["detail"]["payload_truncated"], true);
    assert_eq!(oversized["detail"]["payload_bytes"], 300 * 1024);
    let priority = rejected
        .iter()
        .find(|e| e["detail"]["code"] == "invalid_value")
        .unwrap();
    assert!(
        priority["detail"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("detail.priority: unknown Falco priority")
    );
    assert_eq!(
        h.accepted.drain().await.len(),
        1,
        "the good event in the same batch went through"
    );
}

#[tokio::test]
async fn a_bare_falco_alert_invoked_directly_is_accepted_with_the_functions_account() {
    let h = Harness::start().await;
    let alert: Value =
        serde_json::from_str(include_str!("../../../samples/falco-public-2.json")).unwrap();
    let response = vigil_lambda::invoke_json(|e| h.ingest.handle(e), alert, FUNCTION_ARN)
        .await
        .unwrap();
    assert_eq!(response["accepted"], 1);
    let published = h.accepted.drain().await;
    assert_eq!(published[0]["detail"]["finding"]["account"], "123456789012");
    assert_eq!(published[0]["detail"]["finding"]["region"], "us-east-1");
}

#[tokio::test]
async fn dynamodb_requests_per_thousand_events() {
    let h = Harness::start().await;
    // 1,000 events over 100 distinct findings (different tasks), in batches of 100 as SQS delivers.
    for batch in 0..10 {
        let bodies: Vec<String> = (0..100)
            .map(|i| {
                let mut v: Value =
                    serde_json::from_str(&falco_event(&format!("ev-{batch}-{i}"))).unwrap();
                v["detail"]["output_fields"]["container.label.com.amazonaws.ecs.task-arn"] =
                    json!(format!(
                        "arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/{:032x}",
                        i
                    ));
                v.to_string()
            })
            .collect();
        no_failures(&h.send(&bodies).await);
    }
    let calls = h.emulator.api_calls();
    let ddb: u64 = calls
        .get("dynamodb")
        .map(|ops| ops.values().sum())
        .unwrap_or(0);
    println!(
        "DynamoDB requests for 1000 events: {ddb} ({:?})",
        calls.get("dynamodb")
    );
    assert_eq!(ddb, 1000, "exactly one DynamoDB request per event");
    let published = h.accepted.drain().await;
    // Each finding occurs 10 times: published when new and at the 10th occurrence (a milestone).
    assert_eq!(published.len(), 200);
    let put_events = h.emulator.calls("events", "PutEvents");
    println!("PutEvents requests for 1000 events: {put_events}");
    assert_eq!(
        put_events, 20,
        "two batches of 100 publications, ten entries per call"
    );
}

/// falcosidekick or Sysdig sending the same event again (a retry puts it with a new EventBridge
/// id) is a redelivery: counted once. Another sender's event with the same producer id is its own.
#[tokio::test]
async fn a_producers_retry_under_a_new_eventbridge_id_counts_once() {
    let h = Harness::start().await;
    let with_uuid = |event_id: &str, uuid: &str, account: &str| {
        let mut v: Value = serde_json::from_str(&falco_event(event_id)).unwrap();
        v["detail"]["uuid"] = json!(uuid);
        v["account"] = json!(account);
        v.to_string()
    };
    let uuid = "5c1e0b3a-8f0e-4a8a-9d6f-0b1c2d3e4f50";
    no_failures(
        &h.send(&[
            with_uuid("eb-1", uuid, "111122223333"),
            with_uuid("eb-2", uuid, "111122223333"),
        ])
        .await,
    );
    no_failures(&h.send(&[with_uuid("eb-3", uuid, "111122223333")]).await);
    // Counted once; the copies are let through again only as redeliveries of a record enrich has
    // not yet confirmed (no loss), never as new occurrences.
    let published = h.accepted.drain().await;
    let mut reasons: Vec<&str> = published
        .iter()
        .map(|e| e["detail"]["dedup"]["reason"].as_str().unwrap())
        .collect();
    reasons.sort_unstable();
    assert_eq!(reasons, ["new", "redelivery", "redelivery"]);
    for e in &published {
        assert_eq!(e["detail"]["dedup"]["count"], 1);
        assert_eq!(e["detail"]["dedup"]["event_id"], format!("producer:{uuid}"));
    }

    // A different alert from the same producer is a repeat, counted.
    no_failures(
        &h.send(&[with_uuid(
            "eb-4",
            "5c1e0b3a-8f0e-4a8a-9d6f-0b1c2d3e4f51",
            "111122223333",
        )])
        .await,
    );
    // The same uuid from another sender is another finding altogether.
    no_failures(&h.send(&[with_uuid("eb-5", uuid, "444455556666")]).await);
    let later = h.accepted.drain().await;
    let new: Vec<&Value> = later
        .iter()
        .filter(|e| e["detail"]["dedup"]["reason"] == "new")
        .collect();
    assert_eq!(new.len(), 1, "the other sender's finding is new: {later:?}");
    assert_eq!(
        new[0]["detail"]["finding"]["provenance"]["sender_account"],
        "444455556666"
    );
    let mut counts: Vec<i64> = h
        .emulator
        .table_items()
        .await
        .iter()
        .filter_map(|i| i.get("occurrences").and_then(|v| v.as_n().ok()))
        .map(|n| n.parse().unwrap())
        .collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        [1, 2],
        "the retry counted once; the other alert once more"
    );
}

/// The fixture's alert with another Falco priority (Notice is LOW 20, Error HIGH 70, Critical 90).
fn falco_with_priority(event_id: &str, priority: &str) -> String {
    let mut v: Value = serde_json::from_str(&falco_event(event_id)).unwrap();
    v["detail"]["priority"] = json!(priority);
    v.to_string()
}

#[tokio::test]
async fn a_more_severe_repeat_is_published_at_once_and_carries_the_highest_severity() {
    let h = Harness::start().await;
    no_failures(&h.send(&[falco_with_priority("low-1", "Notice")]).await);
    let first = h.accepted.drain().await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["detail"]["dedup"]["highest_severity"], 20);

    // Low copies within the interval: counted, held back.
    h.advance(10);
    no_failures(&h.send(&[falco_with_priority("low-2", "Notice")]).await);
    assert!(h.accepted.drain().await.is_empty());

    // The genuine severe occurrence, still within the interval: published at once.
    h.advance(10);
    no_failures(&h.send(&[falco_with_priority("high-1", "Error")]).await);
    let high = h.accepted.drain().await;
    assert_eq!(high.len(), 1, "not held back by the update interval");
    let dedup = &high[0]["detail"]["dedup"];
    assert_eq!(dedup["reason"], "escalated");
    assert_eq!(dedup["count"], 3);
    assert_eq!(dedup["highest_severity"], 70);
    assert_eq!(high[0]["detail"]["finding"]["severity"]["label"], "HIGH");
    assert_eq!(
        high[0]["detail"]["finding"]["fingerprint"], first[0]["detail"]["finding"]["fingerprint"],
        "severity is not in the fingerprint"
    );

    // A low copy at the next interval boundary is published as a count update carrying 70.
    h.advance(900);
    no_failures(&h.send(&[falco_with_priority("low-3", "Notice")]).await);
    let later = h.accepted.drain().await;
    assert_eq!(later.len(), 1);
    assert_eq!(later[0]["detail"]["dedup"]["reason"], "lease_expired");
    assert_eq!(later[0]["detail"]["dedup"]["highest_severity"], 70);
    // Another severe one, as severe as before: no escalation, held back.
    h.advance(10);
    no_failures(&h.send(&[falco_with_priority("high-2", "Error")]).await);
    assert!(h.accepted.drain().await.is_empty());
    let items = h.emulator.table_items().await;
    assert_eq!(items[0]["max_severity"].as_n().unwrap(), "70");
}

#[tokio::test]
async fn an_occurrence_dated_in_the_far_future_is_clamped_to_its_receipt_and_flagged() {
    let h = Harness::start().await;
    let mut v: Value = serde_json::from_str(&falco_event("future-1")).unwrap();
    v["detail"]["time"] = json!("9999-12-31T23:59:59Z");
    no_failures(&h.send(&[v.to_string()]).await);
    let published = h.accepted.drain().await;
    assert_eq!(published.len(), 1);
    let finding = &published[0]["detail"]["finding"];
    let received = "2026-01-01T00:00:00Z";
    for field in ["observed_at", "first_observed_at", "last_observed_at"] {
        assert_eq!(finding[field], received, "{field}");
    }
    assert_eq!(finding["time_clamped"]["claimed"], "9999-12-31T23:59:59Z");
    assert_eq!(finding["time_clamped"]["received_at"], received);

    // Four minutes ahead is clock skew, kept as sent.
    let mut v: Value = serde_json::from_str(&falco_event("skewed-1")).unwrap();
    v["detail"]["time"] = json!("2026-01-01T00:04:00Z");
    v["detail"]["rule"] = json!("Another rule");
    no_failures(&h.send(&[v.to_string()]).await);
    let published = h.accepted.drain().await;
    let finding = &published[0]["detail"]["finding"];
    assert_eq!(finding["last_observed_at"], "2026-01-01T00:04:00Z");
    assert_eq!(finding["time_clamped"], Value::Null);
}

fn falco_on_task(event_id: &str, task: usize) -> String {
    let mut v: Value = serde_json::from_str(&falco_event(event_id)).unwrap();
    v["detail"]["output_fields"]["container.label.com.amazonaws.ecs.task-arn"] = json!(format!(
        "arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/{task:032x}"
    ));
    v.to_string()
}

fn occurrences(
    items: &[std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>],
) -> Vec<u64> {
    let mut counts: Vec<u64> = items
        .iter()
        .filter(|i| i["sk"].as_s().unwrap() == "DEDUP")
        .map(|i| i["occurrences"].as_n().unwrap().parse().unwrap())
        .collect();
    counts.sort_unstable();
    counts
}

/// The hold-out flood's shape: batches of 100 over 40 findings. Each batch costs one write per
/// finding it holds, and every occurrence is counted.
#[tokio::test]
async fn repeats_within_a_batch_cost_one_write_per_fingerprint() {
    let h = Harness::start().await;
    for batch in 0..5 {
        let bodies: Vec<String> = (0..100)
            .map(|i| falco_on_task(&format!("ev-{batch}-{i}"), (batch * 100 + i) % 40))
            .collect();
        no_failures(&h.send(&bodies).await);
    }
    let writes = h.emulator.calls("dynamodb", "UpdateItem");
    println!("UpdateItem for 500 events over 40 findings: {writes}");
    assert_eq!(writes, 200, "40 per batch");
    assert_eq!(
        occurrences(&h.emulator.table_items().await),
        vec![
            12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 13, 13,
            13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13
        ]
    );
    let published = h.accepted.drain().await;
    let counts: Vec<u64> = published
        .iter()
        .map(|e| e["detail"]["dedup"]["count"].as_u64().unwrap())
        .collect();
    assert_eq!(
        counts.len(),
        80,
        "each finding when new and at its 10th: {counts:?}"
    );
    assert_eq!(counts.iter().filter(|c| **c == 10).count(), 40);
}

/// A coalesced write that fails fails exactly the messages it carried; their redelivery, even with
/// the batch's other messages again, counts each occurrence once.
#[tokio::test]
async fn a_failed_coalesced_write_fails_exactly_its_messages() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let h = Harness::start().await;
    no_failures(&h.send(&[falco_on_task("seed", 1)]).await);
    let seeded = h.emulator.table_items().await;
    let key = std::collections::HashMap::from([
        ("pk".to_owned(), seeded[0]["pk"].clone()),
        ("sk".to_owned(), seeded[0]["sk"].clone()),
    ]);
    let ddb = aws_sdk_dynamodb::Client::new(&h.emulator.sdk_config().await);
    // A count that is not a number: every write to task 1's record fails.
    ddb.update_item()
        .table_name(TABLE_NAME)
        .set_key(Some(key.clone()))
        .update_expression("SET occurrences = :bad")
        .expression_attribute_values(":bad", AttributeValue::S("broken".into()))
        .send()
        .await
        .unwrap();
    let bodies: Vec<String> = (0..9)
        .map(|i| falco_on_task(&format!("b-{i}"), 1 + i % 3))
        .collect();
    let response = h.send(&bodies).await;
    let failed: Vec<&str> = response["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap())
        .collect();
    assert_eq!(
        failed,
        vec!["msg-0", "msg-3", "msg-6"],
        "task 1's messages, no others"
    );

    ddb.update_item()
        .table_name(TABLE_NAME)
        .set_key(Some(key))
        .update_expression("SET occurrences = :one")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    h.emulator.reset_api_calls();
    no_failures(&h.send(&bodies).await);
    assert_eq!(
        h.emulator.calls("dynamodb", "UpdateItem"),
        3,
        "per fingerprint, one: the count of task 1's three, a refusal that names all of the \
         others' ids as remembered"
    );
    assert_eq!(occurrences(&h.emulator.table_items().await), vec![3, 3, 4]);
}
