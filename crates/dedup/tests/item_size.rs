//! The dedup item stays under 1 KB, so that every counting `UpdateItem` costs one write unit
//! (DynamoDB bills it on the larger of the item's size before and after, in 1 KB units), however
//! many times its fingerprint repeats. Sizes by DynamoDB's documented rules
//! ([`vigil_dedup::record::item_size`]).

use chrono::{Duration, TimeZone, Utc};
use std::collections::HashMap;
use vigil_dedup::record::{self, item_size};
use vigil_dedup::{DedupConfig, DedupStore, Occurrence};
use vigil_testkit::{Emulator, TABLE_NAME};

type Item = HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;

/// A Falco ECS finding as ingest records it, with a fingerprint as long as the model makes them and
/// a rule name longer than the rule keeps.
fn occ(fp: &str, event_id: String) -> Occurrence {
    Occurrence {
        fingerprint: fp.into(),
        event_id,
        source: "falco",
        rule: "Terminal shell in container with a rather long custom rule name that goes on and on \
               past any limit"
            .into(),
        securityhub_id: format!("vigil-{fp}"),
        arrival: "agent_bus",
        sender_account: Some("123456789012".into()),
        account: Some("123456789012".into()),
        task_arn: Some(
            "arn:aws:ecs:ap-southeast-2:123456789012:task/production-cluster/0123456789abcdef0123456789abcdef"
                .into(),
        ),
        // As long as a region name gets (ap-southeast-2).
        region: Some("ap-southeast-2".into()),
        sequence_tasks: Vec::new(),
        source_refs: Vec::new(),
        severity: 70,
    }
}

async fn item(
    client: &aws_sdk_dynamodb::Client,
    key: HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> Item {
    client
        .get_item()
        .table_name(TABLE_NAME)
        .set_key(Some(key))
        .send()
        .await
        .unwrap()
        .item
        .expect("item exists")
}

#[test]
fn sizes_follow_the_documented_rules() {
    use aws_sdk_dynamodb::primitives::Blob;
    use aws_sdk_dynamodb::types::AttributeValue as V;
    let item: Item = HashMap::from([
        ("pk".into(), V::S("FP#ab".into())),                    // 2 + 5
        ("n".into(), V::N("1700000000".into())),                // 1 + (1 significant: 1 + 1)
        ("m".into(), V::N("-123.450".into())),                  // 1 + (5: 3 + 1)
        ("b".into(), V::B(Blob::new(vec![0u8; 8]))),            // 1 + 8
        ("ss".into(), V::Ss(vec!["abc".into(), "de".into()])),  // 2 + 5
        ("bs".into(), V::Bs(vec![Blob::new(vec![1u8; 8]); 3])), // 2 + 24
        ("t".into(), V::Bool(true)),                            // 1 + 1
        ("l".into(), V::L(vec![V::S("xy".into()), V::N("42".into())])), // 1 + 3 + (1 + 2) + (1 + 2)
        ("é".into(), V::S("é".into())),                         // 2 + 2
    ]);
    assert_eq!(
        item_size(&item),
        7 + 3 + 5 + 9 + 7 + 26 + 2 + 10 + 4,
        "names and values, by type"
    );
}

#[tokio::test]
async fn the_dedup_item_stays_under_one_kilobyte_after_ten_thousand_occurrences() {
    let emulator = Emulator::start();
    emulator.create_table().await;
    let client = aws_sdk_dynamodb::Client::new(&emulator.sdk_config().await);
    let config = DedupConfig::new(TABLE_NAME);
    let store = DedupStore::new(client.clone(), config);
    let fp = format!("v1:{}", "0123456789abcdef".repeat(4));
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();

    // 10,000 occurrences: the first 100 one by one, the rest as ingest counts a batch's repeats.
    let mut sizes = Vec::new();
    let mut next = 0u64;
    let mut event = |n: u64| {
        let id = format!("b1c5f2d6-0000-4000-8000-{n:012x}");
        occ(&fp, id)
    };
    while next < 10_000 {
        let take = if next < 100 {
            1
        } else {
            store.max_group() as u64
        }
        .min(10_000 - next);
        let group: Vec<Occurrence> = (next..next + take).map(&mut event).collect();
        let at = t0 + Duration::seconds(next as i64 / 10);
        let recorded = store.record_group(&group, at).await.unwrap();
        assert_eq!(recorded.last().unwrap().outcome.count(), next + take);
        next += take;
        if next.is_multiple_of(1_000) || next <= 100 {
            sizes.push(item_size(&item(&client, record::dedup_key(&fp)).await));
        }
    }
    let rec = item(&client, record::dedup_key(&fp)).await;
    assert_eq!(rec[record::COUNT].as_n().unwrap(), "10000");
    let size = item_size(&rec);
    let largest = sizes.iter().copied().max().unwrap();
    println!("dedup item after 10,000 occurrences: {size} bytes (largest seen {largest})");
    assert!(size < 1024, "{size} bytes: {rec:?}");
    assert!(largest < 1024, "{largest} bytes at some point");
    // At its largest: forwarded (the confirmed import's time and event), its highest severity
    // raised by a named occurrence, and its list of unpublished occurrences full (publications
    // that failed for good).
    let later = t0 + Duration::seconds(1_000);
    assert!(
        store
            .mark_enriched(&fp, "b1c5f2d6-0000-4000-8000-000000000000", Some(later))
            .await
            .unwrap()
    );
    let mut severe = event(10_000);
    severe.severity = 100;
    store.record(&severe, later).await.unwrap();
    let raised = item(&client, record::dedup_key(&fp)).await;
    assert!(raised.contains_key(record::RAISED_BY) && raised.contains_key(record::FORWARDED_AT));
    // Both generations of remembered ids full.
    let fill = raised[record::DIGESTS_CURRENT].as_bs().unwrap().len() as u64;
    let group: Vec<Occurrence> = (10_001..10_001 + store.max_group() as u64 - fill)
        .map(&mut event)
        .collect();
    store.record_group(&group, later).await.unwrap();
    let full = item(&client, record::dedup_key(&fp)).await;
    assert_eq!(
        full[record::DIGESTS_CURRENT].as_bs().unwrap().len()
            + full[record::DIGESTS_PREVIOUS].as_bs().unwrap().len(),
        2 * store.max_group()
    );
    let full_size = item_size(&full);
    println!("forwarded, raised, both generations full: {full_size} bytes");
    assert!(full_size < 1024, "{full_size} bytes: {full:?}");
    let ids: Vec<String> = (0..record::UNPUBLISHED_MAX)
        .map(|n| format!("b1c5f2d6-0000-4000-9000-{n:012x}"))
        .collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    assert!(store.list_unpublished(&fp, &ids).await.unwrap());
    let listed = item(&client, record::dedup_key(&fp)).await;
    let size = item_size(&listed);
    println!("with {} unpublished listed: {size} bytes", ids.len());
    assert!(
        size - full_size <= 11 + 8 * record::UNPUBLISHED_MAX,
        "the list adds its name and 8 bytes an id: {size} bytes: {listed:?}"
    );
    let remembered = rec[record::DIGESTS_CURRENT].as_bs().unwrap().len()
        + rec[record::DIGESTS_PREVIOUS].as_bs().unwrap().len();
    assert!(
        (store.max_group()..=2 * store.max_group()).contains(&remembered),
        "{remembered} ids remembered"
    );
    for gone in [
        record::LEGACY_IDS_CURRENT,
        record::LEGACY_IDS_PREVIOUS,
        record::FINGERPRINT,
        record::SECURITY_HUB_ID,
    ] {
        assert!(!rec.contains_key(gone), "{gone} is not written");
    }
}

#[tokio::test]
async fn a_record_written_by_the_earlier_layout_shrinks_with_its_next_count() {
    use aws_sdk_dynamodb::types::AttributeValue as V;
    let emulator = Emulator::start();
    emulator.create_table().await;
    let client = aws_sdk_dynamodb::Client::new(&emulator.sdk_config().await);
    let store = DedupStore::new(client.clone(), DedupConfig::new(TABLE_NAME));
    let fp = "legacy";
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    store.record(&occ(fp, "e0".into()), t0).await.unwrap();
    let ids = |g: &str| V::Ss((0..256).map(|i| format!("{g}-{i:032x}")).collect());
    client
        .update_item()
        .table_name(TABLE_NAME)
        .set_key(Some(record::dedup_key(fp)))
        .update_expression("SET #a = :a, #b = :b, #f = :f")
        .expression_attribute_names("#a", record::LEGACY_IDS_CURRENT)
        .expression_attribute_names("#b", record::LEGACY_IDS_PREVIOUS)
        .expression_attribute_names("#f", record::FINGERPRINT)
        .expression_attribute_values(":a", ids("cur"))
        .expression_attribute_values(":b", ids("prev"))
        .expression_attribute_values(":f", V::S(fp.into()))
        .send()
        .await
        .unwrap();
    assert!(item_size(&item(&client, record::dedup_key(fp)).await) > 18_000);
    store.record(&occ(fp, "e1".into()), t0).await.unwrap();
    let rec = item(&client, record::dedup_key(fp)).await;
    assert_eq!(rec[record::COUNT].as_n().unwrap(), "2");
    assert!(item_size(&rec) < 1024, "{}", item_size(&rec));
}

#[tokio::test]
async fn a_sequence_keeps_its_tasks_in_their_own_item_written_only_when_they_change() {
    let emulator = Emulator::start();
    emulator.create_table().await;
    let client = aws_sdk_dynamodb::Client::new(&emulator.sdk_config().await);
    let store = DedupStore::new(client.clone(), DedupConfig::new(TABLE_NAME));
    let fp = "sequence";
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let task =
        |i: usize| format!("arn:aws:ecs:us-east-1:123456789012:task/production-cluster/{i:032x}");
    let seq = |id: &str, tasks: std::ops::Range<usize>| Occurrence {
        task_arn: None,
        sequence_tasks: tasks.map(task).collect(),
        source_refs: Vec::new(),
        ..occ(fp, id.into())
    };
    emulator.reset_api_calls();
    store.record(&seq("e0", 0..99), t0).await.unwrap();
    assert_eq!(
        emulator.calls("dynamodb", "UpdateItem"),
        3,
        "refused (no vouched task set), the task item, the count"
    );
    emulator.reset_api_calls();
    for i in 1..=30 {
        store
            .record(&seq(&format!("e{i}"), 0..99), t0)
            .await
            .unwrap();
    }
    assert_eq!(
        emulator.calls("dynamodb", "UpdateItem"),
        30,
        "the same tasks again: one count each, the task item untouched"
    );
    let dedup = item(&client, record::dedup_key(fp)).await;
    assert!(item_size(&dedup) < 1024, "{}", item_size(&dedup));
    assert!(!dedup.contains_key(record::ORIGIN_SEQUENCE_TASKS));
    let tasks = item(&client, record::sequence_key(fp)).await;
    assert!(item_size(&tasks) > 8_000, "the tasks' own item");

    // GuardDuty adds a task: written once, then vouched for.
    emulator.reset_api_calls();
    store.record(&seq("e31", 0..100), t0).await.unwrap();
    store.record(&seq("e32", 0..100), t0).await.unwrap();
    assert_eq!(emulator.calls("dynamodb", "UpdateItem"), 4);
    let origin = store.origin(fp).await.unwrap().unwrap();
    assert_eq!(origin.sequence_tasks.len(), 100);
    assert!(origin.sequence_tasks.contains(&task(99)));
    assert_eq!(
        item(&client, record::dedup_key(fp)).await[record::COUNT]
            .as_n()
            .unwrap(),
        "33"
    );

    // A record whose task item would expire before it does writes it again.
    emulator.reset_api_calls();
    store
        .record(&seq("e33", 0..100), t0 + Duration::days(2))
        .await
        .unwrap();
    assert_eq!(emulator.calls("dynamodb", "UpdateItem"), 3);
}
