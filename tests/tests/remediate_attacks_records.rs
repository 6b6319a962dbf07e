//! Attacks through the shape of Vigil's own items (action records, dedup records written by earlier
//! versions) and through ingest's coalesced per-batch dedup write, each against the emulator. Every
//! outcome is read back from ECS and the table.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use vigil_e2e::{ACCOUNT, AttackSequence, Pipeline, generous, s, with_id};
use vigil_remediate::RemediationMode;
use vigil_testkit::TABLE_NAME;

const SHELL: &str = "Terminal shell in container";

type Item = HashMap<String, AttributeValue>;

async fn dynamodb(p: &Pipeline) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&p.emulator.sdk_config().await)
}

/// The enforced action record of `task` (`sk = ACTION#enforce`).
async fn enforced_record(p: &Pipeline, task: &str) -> Item {
    let records: Vec<Item> = p
        .action_records()
        .await
        .into_iter()
        .filter(|r| s(r, "sk") == "ACTION#enforce" && s(r, "pk").ends_with(task))
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    records.into_iter().next().unwrap()
}

/// Sets attributes of the item at `pk`/`sk` (and removes `remove`), as an earlier or other
/// version of Vigil could have left them.
async fn rewrite(p: &Pipeline, item: &Item, set: Vec<(&str, AttributeValue)>, remove: &[&str]) {
    let mut next = item.clone();
    for (k, v) in set {
        next.insert(k.to_owned(), v);
    }
    for k in remove {
        next.remove(*k);
    }
    dynamodb(p)
        .await
        .put_item()
        .table_name(TABLE_NAME)
        .set_item(Some(next))
        .send()
        .await
        .unwrap();
}

/// The dedup record (`sk = DEDUP`) of `fingerprint`.
async fn dedup_record(p: &Pipeline, fingerprint: &str) -> Item {
    let items = p.items(&format!("FP#{fingerprint}")).await;
    items
        .into_iter()
        .find(|i| s(i, "sk") == "DEDUP")
        .expect("a dedup record")
}

fn fingerprint_of(event: &str) -> String {
    let v: Value = serde_json::from_str(event).unwrap();
    v["detail"]["finding"]["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn string_set(item: &Item, k: &str) -> BTreeSet<String> {
    item.get(k)
        .and_then(|v| v.as_ss().ok())
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default()
}

/// A decision was made (a refusal: the task's service is protected) and a crash left its record
/// `acted` (the refusal not yet announced) with its lease run out. The record also holds an
/// attribute this version cannot read (a string where a boolean belongs). The same message comes
/// again to an instance under which the task is no longer protected: resuming would announce the
/// refusal; taking the unreadable record for a fresh claim would decide again and stop the task.
/// It must do neither: the message goes back to its queue and the task keeps running.
#[tokio::test]
async fn an_unreadable_action_record_past_its_decision_is_never_decided_again() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let events = p.enriched(&[("unreadable-1", &tasks[0], SHELL)]).await;
    assert_eq!(events.len(), 1);
    let protecting = p
        .remediate(RemediationMode::Enforce, |s| {
            generous(s);
            s.guardrails
                .protected_services
                .push(vigil_playbook::Glob::new("shop").unwrap());
        })
        .await;
    assert!(protecting.process(&events, Some(ACCOUNT)).await.is_empty());
    let record = enforced_record(&p, &tasks[0]).await;
    assert_eq!(s(&record, "outcome"), "refused");
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);

    // The crash after the decision, and the attribute no version writes so.
    rewrite(
        &p,
        &record,
        vec![
            ("phase", AttributeValue::S("acted".into())),
            ("lease_until", AttributeValue::N("0".into())),
            ("is_final", AttributeValue::S("false".into())),
        ],
        &[],
    )
    .await;
    let r = p.remediate(RemediationMode::Enforce, generous).await;
    let failed = r.process(&events, Some(ACCOUNT)).await;
    assert_eq!(failed, vec![0], "the message goes back to its queue");
    assert_eq!(
        p.task_status(&tasks[0]).await.1,
        "RUNNING",
        "an unreadable record was taken for a fresh claim and decided again"
    );
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    let after = enforced_record(&p, &tasks[0]).await;
    assert_eq!(s(&after, "phase"), "acted", "the record is left as it was");
    assert_eq!(s(&after, "outcome"), "refused");
    assert_eq!(
        after["lease_until"].as_n().unwrap(),
        "0",
        "the lease is given back"
    );
    assert!(
        p.items("RATE#").await.is_empty(),
        "no stop was counted against the limits"
    );
}

/// A stop done and complete, whose record then holds an unreadable attribute: the finding arriving
/// again (a new event) must neither reopen it nor stop anything; the task's service keeps its
/// other tasks.
#[tokio::test]
async fn a_complete_action_record_with_an_unreadable_attribute_is_not_claimed_again() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let events = p.enriched(&[("complete-1", &tasks[0], SHELL)]).await;
    let r = p.remediate(RemediationMode::Enforce, generous).await;
    assert!(r.process(&events, Some(ACCOUNT)).await.is_empty());
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    let record = enforced_record(&p, &tasks[0]).await;
    assert_eq!(s(&record, "phase"), "complete");
    for (k, v) in [
        ("is_final", AttributeValue::S("true".into())),
        ("decided_event", AttributeValue::N("7".into())),
        ("phase", AttributeValue::N("3".into())),
    ] {
        rewrite(&p, &record, vec![(k, v)], &[]).await;
        let again = vec![with_id(&events[0], &format!("complete-again-{k}"))];
        let _ = r.process(&again, Some(ACCOUNT)).await;
        assert_eq!(
            p.emulator.calls("ecs", "StopTask"),
            1,
            "a complete record with an unreadable {k} was acted on again"
        );
    }
    assert_eq!(p.stopped(&tasks).await, 1);
}

/// A dedup record as the first version wrote it: the count, the state, the unread fingerprint and
/// Security Hub id, event ids as a string set, no origin and no kept severity. It vouches for
/// nothing (remediation refuses the message, with no ECS call), and ingest reads it as the existing
/// record it is: the next occurrence continues its count and is not published as new.
#[tokio::test]
async fn a_legacy_dedup_record_vouches_for_nothing_and_is_never_taken_for_a_new_one() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 2).await;
    let events = p.enriched(&[("legacy-1", &tasks[0], SHELL)]).await;
    let fp = fingerprint_of(&events[0]);
    let record = dedup_record(&p, &fp).await;
    rewrite(
        &p,
        &record,
        vec![
            ("occurrences", AttributeValue::N("5".into())),
            ("dedup_state", AttributeValue::S("forwarded".into())),
            ("fingerprint", AttributeValue::S(fp.clone())),
            ("securityhub_id", AttributeValue::S(format!("vigil-{fp}"))),
            (
                "event_ids",
                AttributeValue::Ss(vec!["old-1".into(), "old-2".into()]),
            ),
        ],
        &[
            "origin_arrival",
            "origin_sender_account",
            "origin_account",
            "origin_task_arn",
            "max_severity",
            "event_digests",
        ],
    )
    .await;

    let r = p.remediate(RemediationMode::Enforce, generous).await;
    let again = vec![with_id(&events[0], "legacy-again")];
    assert!(r.process(&again, Some(ACCOUNT)).await.is_empty());
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    assert_eq!(p.task_status(&tasks[0]).await.1, "RUNNING");
    let refusals = p.untrusted_reasons().await;
    assert!(
        refusals
            .iter()
            .any(|r| r.contains("no dedup record vouches")),
        "{refusals:?}"
    );

    // The next occurrence, within the interval: counted on, as the 6th, and held back.
    let body = vigil_e2e::falco("legacy-2", &p.cluster, &tasks[0], SHELL);
    let accepted = p.ingest(&[body]).await;
    let reasons: Vec<Value> = accepted
        .iter()
        .map(|e| serde_json::from_str::<Value>(e).unwrap()["detail"]["dedup"].clone())
        .collect();
    assert!(
        reasons
            .iter()
            .all(|d| d["reason"] != "new" && d["count"] != 1),
        "an existing record was taken for a new one: {reasons:?}"
    );
    let record = dedup_record(&p, &fp).await;
    assert_eq!(record["occurrences"].as_n().unwrap(), "6");
    assert_eq!(s(&record, "dedup_state"), "forwarded");
    assert!(!record.contains_key("event_ids"), "legacy ids removed");
}

/// One SQS batch mixing a genuine GuardDuty attack sequence, a genuine repeat of it, and forged
/// copies: one sent as GuardDuty from another account naming another GuardDuty finding and another
/// task, and one from an agent source with the same detail. The coalesced write of the genuine
/// fingerprint counts the two genuine occurrences only: its record vouches for the genuine
/// GuardDuty finding and task alone, and the forged finding ARN and task are vouched by no record
/// of the genuine sender.
#[tokio::test]
async fn forged_copies_in_a_genuine_batch_are_never_vouched_by_its_record() {
    let p = Pipeline::start().await;
    let shop = p.service("shop", 3).await;
    let genuine_id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1";
    let forged_id = "fffffffffffffffffffffffffffffff9";
    let uid = "11111111111111111111111111111111";
    let genuine = AttackSequence::new("seq-genuine")
        .finding(genuine_id)
        .uid(uid)
        .naming(&shop[..1])
        .build(&p)
        .await;
    let mut repeat = genuine.clone();
    repeat["id"] = "seq-genuine-repeat".into();
    let mut foreign = AttackSequence::new("seq-foreign")
        .finding(forged_id)
        .uid(uid)
        .naming(&shop[..2])
        .build(&p)
        .await;
    foreign["account"] = "999999999999".into();
    let mut agent = AttackSequence::new("seq-agent")
        .finding(forged_id)
        .uid(uid)
        .naming(&shop[..2])
        .build(&p)
        .await;
    agent["source"] = "falco".into();
    agent["detail-type"] = "Falco Alert".into();
    let genuine_arn = genuine["detail"]["arn"].as_str().unwrap().to_owned();
    let forged_arn = foreign["detail"]["arn"].as_str().unwrap().to_owned();
    assert_ne!(genuine_arn, forged_arn);

    let accepted = p.ingest(&[foreign, genuine, agent, repeat]).await;
    let rejected = p.rejected.drain().await;
    assert_eq!(rejected.len(), 1, "the agent's copy: {rejected:?}");
    assert_eq!(rejected[0]["detail"]["code"], "forged_source");
    let fingerprints: BTreeSet<String> = accepted.iter().map(|e| fingerprint_of(e)).collect();
    assert_eq!(fingerprints.len(), 2, "the foreign copy is its own finding");

    let mut genuine_fp = None;
    for fp in &fingerprints {
        let record = dedup_record(&p, fp).await;
        if s(&record, "origin_sender_account") == ACCOUNT {
            genuine_fp = Some(fp.clone());
        }
    }
    let genuine_fp = genuine_fp.expect("the genuine sender's record");
    let record = dedup_record(&p, &genuine_fp).await;
    assert_eq!(record["occurrences"].as_n().unwrap(), "2");
    assert_eq!(
        string_set(&record, "origin_source_refs"),
        BTreeSet::from([genuine_arn.clone()]),
        "a forged GuardDuty finding vouched by the genuine record"
    );
    let tasks_item = p
        .items(&format!("FP#{genuine_fp}"))
        .await
        .into_iter()
        .find(|i| s(i, "sk") == "SEQ")
        .expect("the sequence's task item");
    let vouched = string_set(&tasks_item, "origin_sequence_tasks");
    assert!(vouched.contains(&shop[0]), "{vouched:?}");
    assert!(
        !vouched.contains(&shop[1]),
        "a forged task vouched by the genuine record: {vouched:?}"
    );
    // The foreign copy's record speaks for its own sender only.
    let foreign_fp = fingerprints.iter().find(|f| **f != genuine_fp).unwrap();
    let foreign_record = dedup_record(&p, foreign_fp).await;
    assert_eq!(s(&foreign_record, "origin_sender_account"), "999999999999");
    assert_eq!(
        string_set(&foreign_record, "origin_source_refs"),
        BTreeSet::from([forged_arn])
    );
}
