//! The dedup record against the AWS API emulator: one UpdateItem per occurrence, redeliveries never
//! counted twice, generations of remembered ids rolling over, forwarded marking.

use chrono::{Duration, TimeZone, Utc};
use vigil_dedup::{
    DedupConfig, DedupError, DedupStore, Occurrence, Outcome, PublishReason, Recorded,
};
use vigil_fault_injection::{FaultInjector, FaultKind, FaultPlan, Service};
use vigil_testkit::{Emulator, TABLE_NAME};

async fn store(emulator: &Emulator, remembered: usize) -> (DedupStore, aws_sdk_dynamodb::Client) {
    emulator.create_table().await;
    let client = aws_sdk_dynamodb::Client::new(&emulator.sdk_config().await);
    let mut config = DedupConfig::new(TABLE_NAME);
    config.remembered_event_ids = remembered;
    (DedupStore::new(client.clone(), config), client)
}

fn occ(fp: &str, event_id: &str) -> Occurrence {
    Occurrence {
        fingerprint: fp.into(),
        event_id: event_id.into(),
        source: "falco",
        rule: "Terminal shell in container".into(),
        securityhub_id: "vigil-x".into(),
        arrival: "agent_bus",
        sender_account: Some("123456789012".into()),
        account: Some("123456789012".into()),
        task_arn: None,
        region: Some("us-east-1".into()),
        sequence_tasks: Vec::new(),
        source_refs: Vec::new(),
        severity: 20,
    }
}

async fn item(
    client: &aws_sdk_dynamodb::Client,
    fp: &str,
) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    client
        .get_item()
        .table_name(TABLE_NAME)
        .set_key(Some(vigil_dedup::record::dedup_key(fp)))
        .send()
        .await
        .unwrap()
        .item
        .expect("record exists")
}

#[tokio::test]
async fn counts_once_per_event_id_with_one_update_each() {
    let emulator = Emulator::start();
    let (store, client) = store(&emulator, 256).await;
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    emulator.reset_api_calls();

    let first = store.record(&occ("fp1", "e0"), t0).await.unwrap();
    assert_eq!(
        first,
        Outcome::Publish {
            reason: PublishReason::New,
            count: 1
        }
    );
    let mut published = 1;
    for i in 1..=50 {
        let o = store
            .record(&occ("fp1", &format!("e{i}")), t0 + Duration::seconds(1))
            .await
            .unwrap();
        assert_eq!(o.count(), i + 1);
        published += u64::from(o.should_publish());
    }
    assert_eq!(published, 2, "new, then the 10th occurrence");
    assert_eq!(
        emulator.calls("dynamodb", "UpdateItem"),
        51,
        "exactly one UpdateItem per occurrence"
    );
    assert_eq!(
        emulator.calls("dynamodb", "GetItem"),
        0,
        "no read before write"
    );

    // The same event id delivered again (3 deliveries in all) is recognized, not counted.
    for _ in 0..2 {
        let o = store
            .record(&occ("fp1", "e7"), t0 + Duration::seconds(2))
            .await
            .unwrap();
        assert_eq!(
            o,
            Outcome::Publish {
                reason: PublishReason::Redelivery,
                count: 51
            },
            "still accepted: let through"
        );
    }
    let rec = item(&client, "fp1").await;
    assert_eq!(rec["occurrences"].as_n().unwrap(), "51");
    assert_eq!(rec["dedup_state"].as_s().unwrap(), "accepted");
    assert_eq!(
        rec["first_seen"].as_s().unwrap(),
        "2026-01-01T00:00:00.000Z"
    );
    let expires: i64 = rec["expires_at"].as_n().unwrap().parse().unwrap();
    assert_eq!(
        expires,
        (t0 + Duration::seconds(1)).timestamp() + 24 * 3600,
        "refreshed by the last counted occurrence only"
    );

    // Forwarded: redeliveries are then quiet.
    assert!(store.mark_enriched("fp1", "e", Some(t0)).await.unwrap());
    assert_eq!(
        store.record(&occ("fp1", "e7"), t0).await.unwrap(),
        Outcome::Redelivered { count: 51 }
    );
    assert!(
        !store
            .mark_enriched("never-seen", "e", Some(t0))
            .await
            .unwrap(),
        "no record is created by a late confirmation"
    );
}

#[tokio::test]
async fn a_repeat_after_the_lease_is_let_through_while_accepted() {
    let emulator = Emulator::start();
    let (store, _) = store(&emulator, 256).await;
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 5).unwrap();
    store.record(&occ("fp", "a"), t0).await.unwrap();
    assert_eq!(
        store
            .record(&occ("fp", "b"), t0 + Duration::seconds(30))
            .await
            .unwrap(),
        Outcome::Duplicate { count: 2 }
    );
    let late = store
        .record(&occ("fp", "c"), t0 + Duration::seconds(180))
        .await
        .unwrap();
    assert_eq!(
        late,
        Outcome::Publish {
            reason: PublishReason::LeaseExpired,
            count: 3
        }
    );
    // Once per lease window, not on every repeat.
    assert_eq!(
        store
            .record(&occ("fp", "d"), t0 + Duration::seconds(181))
            .await
            .unwrap(),
        Outcome::Duplicate { count: 4 }
    );
}

#[tokio::test]
async fn remembered_ids_roll_over_and_stay_bounded() {
    let emulator = Emulator::start();
    let (store, client) = store(&emulator, 4).await;
    let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    for i in 0..10 {
        store
            .record(&occ("hot", &format!("id{i}")), t)
            .await
            .unwrap();
    }
    let rec = item(&client, "hot").await;
    assert_eq!(rec["occurrences"].as_n().unwrap(), "10");
    let current = rec["event_digests"].as_bs().unwrap().len();
    let previous = rec["event_digests_prev"].as_bs().unwrap().len();
    assert!(
        current <= 4 && previous <= 4,
        "bounded: {current} + {previous}"
    );
    // The last ids are still recognized as redeliveries.
    assert!(matches!(
        store.record(&occ("hot", "id9"), t).await.unwrap(),
        Outcome::Publish {
            reason: PublishReason::Redelivery,
            ..
        }
    ));
    assert!(matches!(
        store.record(&occ("hot", "id6"), t).await.unwrap(),
        Outcome::Publish {
            reason: PublishReason::Redelivery,
            ..
        }
    ));
    assert_eq!(
        item(&client, "hot").await["occurrences"].as_n().unwrap(),
        "10"
    );
}

#[tokio::test]
async fn the_first_occurrence_records_the_origin_and_later_ones_never_change_it() {
    let emulator = Emulator::start();
    let (store, _) = store(&emulator, 256).await;
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    assert_eq!(
        store.origin("fp-origin").await.unwrap(),
        None,
        "no record vouches for nothing"
    );

    let task = "arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef";
    let mut first = occ("fp-origin", "e0");
    first.task_arn = Some(task.into());
    store.record(&first, t0).await.unwrap();
    let mut later = occ("fp-origin", "e1");
    later.arrival = "direct_invoke";
    later.sender_account = Some("999999999999".into());
    later.task_arn = None;
    later.region = Some("eu-west-1".into());
    store.record(&later, t0).await.unwrap();

    let origin = store.origin("fp-origin").await.unwrap().expect("recorded");
    assert_eq!(origin.arrival, "agent_bus");
    assert_eq!(origin.sender_account.as_deref(), Some("123456789012"));
    assert_eq!(origin.account.as_deref(), Some("123456789012"));
    assert_eq!(origin.task_arn.as_deref(), Some(task));
    assert_eq!(origin.region.as_deref(), Some("us-east-1"));
    assert_eq!(origin.state, vigil_dedup::DedupState::Accepted);
}

fn severe(fp: &str, event_id: &str, severity: u8) -> Occurrence {
    Occurrence {
        severity,
        ..occ(fp, event_id)
    }
}

#[tokio::test]
async fn a_more_severe_repeat_is_published_at_once_and_the_highest_severity_is_kept() {
    let emulator = Emulator::start();
    let (store, client) = store(&emulator, 256).await;
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let at = |s: i64| t0 + Duration::seconds(s);

    let first = store
        .record_occurrence(&severe("fp", "e0", 20), at(0))
        .await
        .unwrap();
    assert_eq!(first.highest_severity, 20);
    assert_eq!(first.outcome.count(), 1);
    assert!(
        !store
            .record_occurrence(&severe("fp", "e1", 20), at(1))
            .await
            .unwrap()
            .outcome
            .should_publish(),
        "an equal repeat waits for the interval"
    );
    emulator.reset_api_calls();
    let high = store
        .record_occurrence(&severe("fp", "e2", 70), at(2))
        .await
        .unwrap();
    assert_eq!(
        high,
        Recorded {
            outcome: Outcome::Publish {
                reason: PublishReason::Escalated,
                count: 3
            },
            highest_severity: 70,
            last_update: None,
            listed_unpublished: false,
        }
    );
    assert_eq!(
        emulator.calls("dynamodb", "UpdateItem"),
        2,
        "the count, then the conditional raise"
    );
    assert_eq!(
        item(&client, "fp").await["max_severity"].as_n().unwrap(),
        "70"
    );

    // Less severe afterwards: not published within the interval, and the record keeps 70.
    let low = store
        .record_occurrence(&severe("fp", "e3", 20), at(3))
        .await
        .unwrap();
    assert_eq!(low.outcome, Outcome::Duplicate { count: 4 });
    assert_eq!(low.highest_severity, 70);
    // Published at the next interval with the highest severity, not its own.
    assert!(store.mark_enriched("fp", "e", Some(at(3))).await.unwrap());
    let later = store
        .record_occurrence(&severe("fp", "e4", 0), at(901))
        .await
        .unwrap();
    assert_eq!(
        later.outcome,
        Outcome::Publish {
            reason: PublishReason::Interval,
            count: 5
        }
    );
    assert_eq!(later.highest_severity, 70);
    assert_eq!(later.last_update, Some(at(3)));
    assert_eq!(
        item(&client, "fp").await["max_severity"].as_n().unwrap(),
        "70"
    );
}

#[tokio::test]
async fn concurrent_writers_leave_the_highest_severity() {
    let emulator = Emulator::start();
    let (store, client) = store(&emulator, 256).await;
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    store.record(&severe("fp", "base", 0), t0).await.unwrap();
    let mut set = tokio::task::JoinSet::new();
    for (i, sev) in [40u8, 95, 70, 20, 90, 60, 100, 45].into_iter().enumerate() {
        let store = store.clone();
        set.spawn(async move {
            store
                .record_occurrence(&severe("fp", &format!("e{i}"), sev), t0)
                .await
                .unwrap()
        });
    }
    let mut escalations = 0;
    while let Some(r) = set.join_next().await {
        let r = r.unwrap();
        escalations += u32::from(matches!(
            r.outcome,
            Outcome::Publish {
                reason: PublishReason::Escalated,
                ..
            }
        ));
        assert!(r.highest_severity > 0);
    }
    assert!(escalations >= 1);
    assert_eq!(
        item(&client, "fp").await["max_severity"].as_n().unwrap(),
        "100",
        "no writer lowered it"
    );
    // A redelivery of the most severe one is not another escalation.
    let again = store
        .record_occurrence(&severe("fp", "e6", 100), t0)
        .await
        .unwrap();
    assert_eq!(again.highest_severity, 100);
    assert!(!matches!(
        again.outcome,
        Outcome::Publish {
            reason: PublishReason::Escalated,
            ..
        }
    ));
}

#[tokio::test]
async fn the_last_confirmed_update_time_only_moves_forward_and_is_returned() {
    let emulator = Emulator::start();
    let (store, client) = store(&emulator, 256).await;
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    store.record(&occ("fp", "e0"), t0).await.unwrap();
    assert!(
        store
            .mark_enriched("fp", "e", Some(t0 + Duration::seconds(10)))
            .await
            .unwrap()
    );
    // A slower import confirmed after the newer one: still forwarded, the time not moved back.
    assert!(
        store
            .mark_enriched("fp", "e", Some(t0 + Duration::seconds(5)))
            .await
            .unwrap()
    );
    assert_eq!(
        item(&client, "fp").await["forwarded_at"].as_s().unwrap(),
        "2026-01-01T00:00:10.000Z"
    );
    let next = store.record_occurrence(&occ("fp", "e1"), t0).await.unwrap();
    assert_eq!(next.last_update, Some(t0 + Duration::seconds(10)));
}

/// Occurrences counted a write at a time publish on exactly the occurrences they would one by one,
/// with the same counts and severities, and the record ends the same.
#[tokio::test]
async fn a_coalesced_write_decides_each_occurrence_as_if_counted_alone() {
    let emulator = Emulator::start();
    let (store, client) = store(&emulator, 20).await;
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    // 130 occurrences over three update intervals, crossing counts 10 and 100, with severities
    // that rise and fall, and one event delivered twice in one batch.
    let severities = [20u8, 20, 40, 20, 70, 70, 90, 10, 20, 20, 95];
    let ids: Vec<String> = (0..130)
        .map(|i| {
            if i == 57 {
                "e55".into()
            } else {
                format!("e{i}")
            }
        })
        .collect();
    let at = |i: usize| {
        t0 + Duration::seconds(if i < 50 {
            0
        } else if i < 90 {
            901
        } else {
            1802
        })
    };
    let mut one_by_one = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let o = severe("alone", id, severities[i % severities.len()]);
        one_by_one.push(store.record_occurrence(&o, at(i)).await.unwrap());
    }
    emulator.reset_api_calls();
    let mut grouped = Vec::new();
    // Batches as ingest would see them: within one interval each, up to 20 per write.
    for range in [0..13, 13..50, 50..90, 90..130] {
        let group: Vec<Occurrence> = range
            .clone()
            .map(|i| severe("grouped", &ids[i], severities[i % severities.len()]))
            .collect();
        grouped.extend(store.record_group(&group, at(range.start)).await.unwrap());
    }
    assert_eq!(grouped, one_by_one);
    let published = grouped
        .iter()
        .filter(|r| r.outcome.should_publish())
        .count();
    assert!(
        published >= 6,
        "new, escalations, milestones, intervals: {published}"
    );
    let writes = emulator.calls("dynamodb", "UpdateItem");
    assert!(writes <= 16, "{writes} writes for 130 occurrences");
    let (a, b) = (item(&client, "alone").await, item(&client, "grouped").await);
    for k in [
        "occurrences",
        "max_severity",
        "lease_bucket",
        "interval_bucket",
        "last_seen",
    ] {
        assert_eq!(a[k], b[k], "{k}");
    }
    assert_eq!(b["occurrences"].as_n().unwrap(), "129");
}

/// A write's occurrences coming again, alone or mixed with new ones, are recognized one by one:
/// the new ones are counted, the others are not.
#[tokio::test]
async fn a_redelivered_subset_of_a_coalesced_write_is_recognized() {
    let emulator = Emulator::start();
    let (store, client) = store(&emulator, 20).await;
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let group = |ids: &[&str]| ids.iter().map(|id| occ("fp", id)).collect::<Vec<_>>();
    let first = store
        .record_group(&group(&["a", "b", "c", "d", "e"]), t0)
        .await
        .unwrap();
    assert_eq!(first.last().unwrap().outcome.count(), 5);
    assert!(store.mark_enriched("fp", "e", Some(t0)).await.unwrap());
    let again = store
        .record_group(&group(&["x", "b", "y", "d", "x"]), t0)
        .await
        .unwrap();
    let outcomes: Vec<Outcome> = again.into_iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            Outcome::Duplicate { count: 6 },
            Outcome::Redelivered { count: 5 },
            Outcome::Duplicate { count: 7 },
            Outcome::Redelivered { count: 5 },
            Outcome::Redelivered { count: 7 },
        ]
    );
    assert_eq!(
        item(&client, "fp").await["occurrences"].as_n().unwrap(),
        "7"
    );
    // All of a write again: nothing counted.
    let none = store
        .record_group(&group(&["a", "b", "c", "d", "e", "x", "y"]), t0)
        .await
        .unwrap();
    assert!(
        none.iter()
            .all(|r| matches!(r.outcome, Outcome::Redelivered { .. }))
    );
    assert_eq!(
        item(&client, "fp").await["occurrences"].as_n().unwrap(),
        "7"
    );
}

/// A process that does not know how full the current generation is (or knows it wrong, because
/// another one wrote since) is refused once and then counts right.
#[tokio::test]
async fn a_generation_is_rolled_over_whoever_knows_how_full_it_is() {
    let emulator = Emulator::start();
    let (a, client) = store(&emulator, 4).await;
    let b = DedupStore::new(client.clone(), a.config().clone());
    let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let group = |ids: &[&str]| ids.iter().map(|id| occ("fp", id)).collect::<Vec<_>>();
    a.record_group(&group(&["a1", "a2", "a3"]), t)
        .await
        .unwrap();
    emulator.reset_api_calls();
    a.record_group(&group(&["a4", "a5"]), t).await.unwrap();
    assert_eq!(
        emulator.calls("dynamodb", "UpdateItem"),
        1,
        "a knew the generation held 3: the next one starts at once"
    );
    emulator.reset_api_calls();
    b.record_group(&group(&["b1", "b2", "b3"]), t)
        .await
        .unwrap();
    assert_eq!(
        emulator.calls("dynamodb", "UpdateItem"),
        2,
        "b did not know: refused, then rolled"
    );
    emulator.reset_api_calls();
    let again = a.record_group(&group(&["a6", "a5"]), t).await.unwrap();
    assert_eq!(
        emulator.calls("dynamodb", "UpdateItem"),
        2,
        "refused for a5 (remembered), then a6 counted into b's generation"
    );
    assert_eq!(
        again[1].outcome,
        Outcome::Publish {
            reason: PublishReason::Redelivery,
            count: 8
        }
    );
    let rec = item(&client, "fp").await;
    assert_eq!(rec["occurrences"].as_n().unwrap(), "9");
    assert_eq!(
        rec["event_digests"].as_bs().unwrap().len(),
        4,
        "b1, b2, b3, a6"
    );
    assert_eq!(
        rec["event_digests_prev"].as_bs().unwrap().len(),
        2,
        "a4, a5"
    );
}

#[tokio::test]
async fn the_published_marker_is_per_occurrence_and_forwards_only_when_asked() {
    let emulator = Emulator::start();
    let (store, client) = store(&emulator, 64).await;
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    store.record(&occ("fp", "e1"), t0).await.unwrap();
    assert!(!store.enriched_published("fp", "e1").await.unwrap());

    // Published while the import is still to be retried: marked, not forwarded.
    assert!(store.mark_enriched("fp", "e1", None).await.unwrap());
    assert!(store.enriched_published("fp", "e1").await.unwrap());
    assert!(
        !store.enriched_published("fp", "e2").await.unwrap(),
        "another occurrence"
    );
    assert_eq!(
        item(&client, "fp").await["dedup_state"].as_s().unwrap(),
        "accepted"
    );

    // The retried import is confirmed: forwarded, the marker kept.
    assert!(store.mark_enriched("fp", "e1", Some(t0)).await.unwrap());
    let rec = item(&client, "fp").await;
    assert_eq!(rec["dedup_state"].as_s().unwrap(), "forwarded");
    assert_eq!(
        rec["forwarded_at"].as_s().unwrap(),
        "2026-01-01T00:00:00.000Z"
    );
    assert!(store.enriched_published("fp", "e1").await.unwrap());

    // No record: nothing is created, and nothing was published for it.
    assert!(!store.mark_enriched("never-seen", "e1", None).await.unwrap());
    assert!(!store.enriched_published("never-seen", "e1").await.unwrap());
}

/// A store whose DynamoDB client (with the functions' SDK retry) fails each of the SDK's attempts at
/// the first write with `kind`.
async fn failing_first_write(
    emulator: &Emulator,
    kind: FaultKind,
) -> (DedupStore, FaultInjector, aws_sdk_dynamodb::Client) {
    emulator.create_table().await;
    let attempts = u64::from(vigil_runtime::SDK_STANDARD_ATTEMPTS);
    let faults =
        FaultInjector::new(FaultPlan::none().first_requests(Service::DynamoDb, attempts, kind));
    let config = emulator.sdk_config().await;
    let store = DedupStore::new(
        vigil_dedup::client(faults.dynamodb_config(&config)),
        DedupConfig::new(TABLE_NAME),
    );
    (store, faults, aws_sdk_dynamodb::Client::new(&config))
}

fn count_of(
    item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> u64 {
    item[vigil_dedup::record::COUNT]
        .as_n()
        .unwrap()
        .parse()
        .unwrap()
}

/// A counting write DynamoDB applied but whose answer was lost on every one of the SDK's attempts
/// (a 500 after the write): the record, read back, remembers the id, so the occurrence is answered
/// as counted (published, the record still `accepted`), not left to its redelivery. Once more
/// than 20–40 other occurrences had been counted, the redelivery would no longer be recognized and
/// would be counted a second time.
#[tokio::test]
async fn a_write_applied_whose_every_answer_was_lost_is_read_back_and_counted_once() {
    let emulator = Emulator::start();
    let (store, faults, client) =
        failing_first_write(&emulator, FaultKind::ServerErrorAfterApply).await;
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let first = store.record(&occ("fp-lost", "e1"), t0).await.unwrap();
    assert_eq!(
        first,
        Outcome::Publish {
            reason: PublishReason::Redelivery,
            count: 1
        }
    );
    let stats = faults.stats();
    assert_eq!(
        stats.operation(Service::DynamoDb, "UpdateItem"),
        3,
        "{stats:?}"
    );
    assert_eq!(
        stats.operation(Service::DynamoDb, "GetItem"),
        1,
        "{stats:?}"
    );
    assert_eq!(count_of(&item(&client, "fp-lost").await), 1);
    // Had the message come back anyway (SQS redelivers at least once), it is not counted again.
    assert_eq!(
        store.record(&occ("fp-lost", "e1"), t0).await.unwrap(),
        Outcome::Publish {
            reason: PublishReason::Redelivery,
            count: 1
        }
    );
    assert_eq!(count_of(&item(&client, "fp-lost").await), 1);
}

/// A counting write that never reached DynamoDB on any attempt (the connection dropped before it
/// was sent): the record, read back, does not remember the id, so the error stands and the message
/// comes back; its redelivery is counted, once.
#[tokio::test]
async fn a_write_never_applied_stays_an_error_and_its_redelivery_counts() {
    let emulator = Emulator::start();
    let (store, faults, client) = failing_first_write(&emulator, FaultKind::DropBeforeApply).await;
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let failed = store.record(&occ("fp-unsent", "e1"), t0).await;
    assert!(
        matches!(failed, Err(DedupError::Update { .. })),
        "{failed:?}"
    );
    let stats = faults.stats();
    assert_eq!(
        stats.operation(Service::DynamoDb, "GetItem"),
        1,
        "{stats:?}"
    );
    assert_eq!(
        store.record(&occ("fp-unsent", "e1"), t0).await.unwrap(),
        Outcome::Publish {
            reason: PublishReason::New,
            count: 1
        }
    );
    assert_eq!(count_of(&item(&client, "fp-unsent").await), 1);
}

/// An occurrence whose publication failed for good is listed unpublished: its redelivery, after a
/// generation and more of other occurrences (its id no longer remembered), is not counted again and
/// is published, even on a forwarded record; published, it leaves the list. Without the list the
/// same redelivery is counted a second time.
#[tokio::test]
async fn a_listed_unpublished_occurrence_is_recognized_beyond_the_remembered_ids_and_published() {
    let emulator = Emulator::start();
    let (store, client) = store(&emulator, 4).await;
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    store.record(&occ("fp", "first"), t0).await.unwrap();
    assert!(store.mark_enriched("fp", "first", Some(t0)).await.unwrap());
    for i in 2..10 {
        store
            .record(&occ("fp", &format!("e{i}")), t0)
            .await
            .unwrap();
    }
    // The tenth occurrence is a milestone, published; say its publication failed for good.
    let tenth = store.record(&occ("fp", "tenth"), t0).await.unwrap();
    assert_eq!(
        tenth,
        Outcome::Publish {
            reason: PublishReason::Milestone,
            count: 10
        }
    );
    assert!(store.list_unpublished("fp", &["tenth"]).await.unwrap());
    // Three generations of 4 other occurrences: "tenth" is no longer among the remembered ids.
    for i in 11..=22 {
        store
            .record(&occ("fp", &format!("e{i}")), t0)
            .await
            .unwrap();
    }
    let rec = item(&client, "fp").await;
    assert_eq!(rec["unpublished"].as_bs().unwrap().len(), 1);

    emulator.reset_api_calls();
    let again = store
        .record_occurrence(&occ("fp", "tenth"), t0)
        .await
        .unwrap();
    assert_eq!(
        again.outcome,
        Outcome::Publish {
            reason: PublishReason::Redelivery,
            count: 22
        },
        "not counted again, and published although the record is forwarded"
    );
    assert!(again.listed_unpublished);
    assert_eq!(
        item(&client, "fp").await["occurrences"].as_n().unwrap(),
        "22"
    );

    store.clear_unpublished("fp", &["tenth"]).await.unwrap();
    assert!(
        !item(&client, "fp").await.contains_key("unpublished"),
        "the published occurrence left the list"
    );
    // Off the list, it is remembered again for a generation: a copy SQS still brings is not counted.
    let copy = store.record(&occ("fp", "tenth"), t0).await.unwrap();
    assert_eq!(copy, Outcome::Redelivered { count: 22 });
    for i in 23..=30 {
        store
            .record(&occ("fp", &format!("e{i}")), t0)
            .await
            .unwrap();
    }
    // Off the list and out of the remembered ids, the same id is counted again: what the list is for.
    let unlisted = store.record(&occ("fp", "tenth"), t0).await.unwrap();
    assert_eq!(unlisted, Outcome::Duplicate { count: 31 });
}

#[tokio::test]
async fn the_unpublished_list_is_bounded_and_never_creates_a_record() {
    let emulator = Emulator::start();
    let (store, client) = store(&emulator, 20).await;
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    assert!(
        !store.list_unpublished("absent", &["e"]).await.unwrap(),
        "no record: nothing listed"
    );
    assert!(emulator.table_items().await.is_empty(), "and none created");
    store.clear_unpublished("absent", &["e"]).await.unwrap();
    assert!(emulator.table_items().await.is_empty());

    store.record(&occ("fp", "e0"), t0).await.unwrap();
    let ids: Vec<String> = (0..12).map(|i| format!("u{i}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    assert!(store.list_unpublished("fp", &ids[..6]).await.unwrap());
    // The same ids again take no room.
    assert!(store.list_unpublished("fp", &ids[..2]).await.unwrap());
    assert!(
        !store.list_unpublished("fp", &ids[6..9]).await.unwrap(),
        "three more would pass the bound of eight"
    );
    assert!(store.list_unpublished("fp", &ids[6..8]).await.unwrap());
    assert_eq!(
        item(&client, "fp").await["unpublished"]
            .as_bs()
            .unwrap()
            .len(),
        vigil_dedup::record::UNPUBLISHED_MAX
    );
    // Given more than fit at once, the first eight are listed.
    store.clear_unpublished("fp", &ids).await.unwrap();
    assert!(
        !store.list_unpublished("fp", &ids).await.unwrap(),
        "not all twelve were listed"
    );
    let listed = item(&client, "fp").await["unpublished"]
        .as_bs()
        .unwrap()
        .len();
    assert_eq!(listed, vigil_dedup::record::UNPUBLISHED_MAX);
}
