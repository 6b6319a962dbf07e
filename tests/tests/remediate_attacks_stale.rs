//! Attacks on a stale message finishing the stop it finds unfinished (`decision::remediate_one`,
//! `only_stale`; `job::run` with `Job::stale`; `decision::decide` settling a lapsed stop found
//! untrusted): stale messages meeting a record claimed without a decision, an `acting` stop whose
//! hold stands or has lapsed, an `acted` stop, unfinished non-stop decisions; stale copies failing
//! another trust check too; a copy of the genuine message with its observed times moved back, or
//! naming another cluster; a stale copy racing the genuine message on two instances; an attack
//! sequence naming a task with an unfinished stop and one without; and what a flood of stale
//! replays costs. Every stop is read back from ECS.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use std::collections::HashMap;
use vigil_e2e::{ACCOUNT, AttackSequence, Pipeline, alerts, s, with_id};
use vigil_remediate::{Remediate, RemediateSettings, RemediationMode};
use vigil_testkit::TABLE_NAME;

mod blind;
mod hold_kit;

use hold_kit::*;

/// Past the default `max_finding_age_seconds` (an hour): a message this late is stale.
const LATE: i64 = 2 * 3600;

/// A hold outlasting a stale message's lateness: the stored stop is still held when it comes.
fn long_hold(s: &mut RemediateSettings) {
    s.hold_seconds = 3 * 3600;
}

/// The item `sk` of `task`.
async fn record_at(p: &Pipeline, task: &str, sk: &str) -> Item {
    let all = p.action_records().await;
    all.iter()
        .find(|r| s(r, "pk").ends_with(task) && s(r, "sk") == sk)
        .cloned()
        .unwrap_or_else(|| panic!("no {sk} item of {task}: {all:?}"))
}

/// `event` (a `Finding Enriched`) with `edit` applied to its parsed form.
fn edited(event: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(event).unwrap();
    edit(&mut v);
    v.to_string()
}

/// A copy of the genuine `event`, same EventBridge id, with every observed time of its finding
/// moved `seconds` back: nothing the fingerprint or the dedup record covers is changed.
fn backdated(event: &str, seconds: i64) -> String {
    edited(event, |v| {
        let f = &mut v["detail"]["finding"];
        for k in ["observed_at", "first_observed_at", "last_observed_at"] {
            let t = chrono::DateTime::parse_from_rfc3339(f[k].as_str().unwrap()).unwrap();
            f[k] = json!((t - chrono::Duration::seconds(seconds)).to_rfc3339());
        }
    })
}

/// A copy of the genuine `event` naming a cluster that does not exist (its task left
/// unenriched): neither the fingerprint nor the dedup record covers the cluster, so the copy is
/// vouched for, and ECS, asked in that cluster, does not know the task.
fn decoy_of(p: &Pipeline, event: &str) -> String {
    let nowhere = p.cluster.replace("cluster/prod", "cluster/nowhere");
    edited(event, |v| {
        v["detail"]["enrichment"]["task"] = Value::Null;
        v["detail"]["finding"]["resource"]["cluster_arn"] = json!(nowhere);
    })
}

/// A stop decided, counted and held on a service of 3, its StopTask failing until its hold lapsed
/// (`STOP_HOLD_SECONDS` 600, the finding still fresh). A copy of the genuine message, same
/// EventBridge id, with its observed times moved two hours back (covered by neither the
/// fingerprint nor the dedup record) arrives first: it is stale, finds the stop unfinished and
/// settles it as refused. The genuine message, fresh, must still decide the stop again and make
/// it: it must not be taken for a redelivery of the event the refusal was made for. (It was: the
/// refusal was recorded for the copy's event id, the genuine message deleted as a duplicate, the
/// task left running. Before the change, the copy was recorded aside.)
#[tokio::test]
async fn a_backdated_copy_cannot_settle_a_lapsed_stop_the_genuine_message_still_makes() {
    let p = Pipeline::start().await;
    let tasks = p.service("backdated", 3).await;
    let book = vigil_e2e::playbooks("");
    let events = alerts(&p, &tasks[..1], SHELL, "backdated").await;
    let t = now();
    let crashed = crashing(&p, &book, t, |_| {}).await;
    assert_eq!(crashed.process(&events, Some(ACCOUNT)).await, [0]);
    let later = t + HOLD + 5;
    taken(
        &at(&p, &book, later, |_| {}).await,
        &backdated(&events[0], LATE),
    )
    .await;
    let settled = record_at(&p, &tasks[0], "ACTION#enforce").await;
    assert_eq!(
        (s(&settled, "outcome"), s(&settled, "phase")),
        ("refused", "complete"),
        "{}",
        reason(&settled)
    );
    assert!(
        reason(&settled).starts_with("fresh:"),
        "{}",
        reason(&settled)
    );
    assert_eq!(p.task_status(&tasks[0]).await.1, "RUNNING");

    taken(&at(&p, &book, later + 1, |_| {}).await, &events[0]).await;
    let r = record_at(&p, &tasks[0], "ACTION#enforce").await;
    assert_eq!(
        (s(&r, "outcome"), s(&r, "phase")),
        ("act", "complete"),
        "the genuine message was taken for a duplicate of the copy's refusal: {}",
        reason(&r)
    );
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    assert_eq!(stop_calls(&p), 1);
    assert_eq!(
        stops_at(&p, &service_scope(&p, "backdated")).await.first(),
        Some(&t)
    );
    // The stale copy again, and the genuine message again: nothing more.
    let again = at(&p, &book, later + 2, |_| {}).await;
    taken(&again, &backdated(&events[0], LATE)).await;
    taken(&again, &events[0]).await;
    assert_eq!(stop_calls(&p), 1);
    assert_eq!(
        s(
            &record_at(&p, &tasks[0], "ACTION#enforce").await,
            "decided_at"
        ),
        s(&r, "decided_at")
    );
}

/// A stop decided and held on a two-task service (`min_healthy_tasks` 1), its StopTask failing
/// until its hold lapsed; a finding on the other task, decided then, stops it (the pending task
/// counted as healthy). A copy of the pending stop's message naming a cluster that does not exist,
/// stale (its times moved back) on one service and fresh on another, finds the stop unfinished: ECS
/// does not know the task in the copy's cluster, and that says nothing about whether it still runs
/// in the cluster the stop was decided in. The stop must not be carried on blind (both tasks
/// stopped): the copy goes back to its queue, and the genuine message decides the stop again and
/// refuses it (`min_healthy`). (A lapsed stop whose look missed was carried on as if its task were
/// gone: fixed.)
#[tokio::test]
async fn a_decoy_naming_another_cluster_cannot_carry_a_lapsed_stop_on_blind() {
    let p = Pipeline::start().await;
    let book = vigil_e2e::playbooks("");
    for (service, stale) in [("pair-stale", true), ("pair-fresh", false)] {
        let pair = p.service(service, 2).await;
        let events = alerts(&p, &pair, SHELL, service).await;
        let t = now();
        let crashed = crashing(&p, &book, t, |_| {}).await;
        assert_eq!(crashed.process(&events[..1], Some(ACCOUNT)).await, [0]);
        let later = t + HOLD + 1;
        taken(&at(&p, &book, later, |_| {}).await, &events[1]).await;
        assert_eq!(p.task_status(&pair[1]).await.1, "STOPPED");
        let decoy = match stale {
            true => decoy_of(&p, &backdated(&events[0], LATE)),
            false => decoy_of(&p, &events[0]),
        };
        let r = at(&p, &book, later + 1, |_| {}).await;
        for id in [None, Some("decoy-again")] {
            let body = id.map_or(decoy.clone(), |id| with_id(&decoy, id));
            r.process(&[body], Some(ACCOUNT)).await;
            assert_eq!(
                p.task_status(&pair[0]).await.1,
                "RUNNING",
                "{service}: min_healthy_tasks 1 broken by the decoy: {:?}",
                records_of(&p, &pair[0]).await
            );
        }
        taken(&at(&p, &book, later + 2, |_| {}).await, &events[0]).await;
        let record = record_at(&p, &pair[0], "ACTION#enforce").await;
        assert_eq!(
            (s(&record, "outcome"), s(&record, "phase")),
            ("refused", "complete"),
            "{service}: {}",
            reason(&record)
        );
        assert!(
            reason(&record).contains("min_healthy"),
            "{}",
            reason(&record)
        );
        assert_eq!(p.stopped(&pair).await, 1, "{service}");
    }
}

/// An attempt claimed the record and crashed before deciding (`claimed`, no decision, lease run
/// out); the message comes back stale. A claimed record holds nothing decided to carry on: the
/// stale message must decide nothing new. What must hold: recorded aside as untrusted (stale), no
/// ECS call, the claimed record as the crash left it, no hold and no count; the genuine message,
/// fresh, then decides and stops once.
#[tokio::test]
async fn a_stale_message_on_a_record_claimed_without_a_decision_decides_nothing() {
    let p = Pipeline::start().await;
    let tasks = p.service("claimed", 3).await;
    let book = vigil_e2e::playbooks("");
    let events = alerts(&p, &tasks[..1], SHELL, "claimed").await;
    let t = now();
    let fp = serde_json::from_str::<Value>(&events[0]).unwrap()["detail"]["finding"]["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    let crashed: Item = HashMap::from([
        (
            "pk".into(),
            AttributeValue::S(format!("ACT#{fp}#{}", tasks[0])),
        ),
        ("sk".into(), AttributeValue::S("ACTION#enforce".into())),
        ("phase".into(), AttributeValue::S("claimed".into())),
        ("lease_owner".into(), AttributeValue::S("crashed".into())),
        ("lease_until".into(), AttributeValue::N("0".into())),
        ("created_at".into(), AttributeValue::N(t.to_string())),
        ("attempts".into(), AttributeValue::N("1".into())),
    ]);
    aws_sdk_dynamodb::Client::new(&p.emulator.sdk_config().await)
        .put_item()
        .table_name(TABLE_NAME)
        .set_item(Some(crashed.clone()))
        .send()
        .await
        .unwrap();
    p.emulator.reset_api_calls();
    let stale = at(&p, &book, t + LATE, |_| {}).await;
    taken(&stale, &events[0]).await;
    taken(&stale, &with_id(&events[0], "claimed-again")).await;
    assert_eq!(p.emulator.calls("ecs", "DescribeTasks"), 0, "no look");
    assert_eq!(p.emulator.calls("dynamodb", "UpdateItem"), 0, "no claim");
    assert_eq!(
        p.emulator.calls("dynamodb", "TransactWriteItems"),
        0,
        "no decision"
    );
    assert_eq!(
        record_at(&p, &tasks[0], "ACTION#enforce").await,
        crashed,
        "the crashed claim was changed"
    );
    let aside = record_at(&p, &tasks[0], &format!("UNTRUSTED#enforce#{ACCOUNT}")).await;
    assert!(reason(&aside).starts_with("fresh:"), "{}", reason(&aside));
    assert!(stops_at(&p, &service_scope(&p, "claimed")).await.is_empty());
    assert_eq!(p.stopped(&tasks).await, 0);

    taken(&at(&p, &book, t + 1, |_| {}).await, &events[0]).await;
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    assert_eq!(stop_calls(&p), 1);
}

/// A stop decided and held (for three hours), its StopTask failing, the finding stale by now.
/// Stale copies that fail another trust check as well must not reach it through the new path:
/// the genuine message from a sender this instance no longer trusts, a copy with its rule swapped
/// (its fields no longer hash to the fingerprint it names, the genuine one) and a copy claiming an
/// identity conflict. What must hold: each recorded aside with a reason other than freshness, no
/// StopTask, the record still `acting` as decided; the genuine stale message then carries the stop
/// on, once.
#[tokio::test]
async fn stale_copies_failing_another_trust_check_never_reach_an_unfinished_stop() {
    let p = Pipeline::start().await;
    let tasks = p.service("forged", 3).await;
    let book = vigil_e2e::playbooks("");
    let events = alerts(&p, &tasks[..1], SHELL, "forged").await;
    let t = now();
    let crashed = crashing(&p, &book, t, long_hold).await;
    assert_eq!(crashed.process(&events, Some(ACCOUNT)).await, [0]);
    let decided = record_at(&p, &tasks[0], "ACTION#enforce").await;
    assert_eq!(s(&decided, "phase"), "acting");
    let stale = at(&p, &book, t + LATE, long_hold).await;

    // The sender's account is no longer trusted (this instance trusts only its own, another).
    assert_eq!(
        stale.process(&events, Some("999999999999")).await,
        Vec::<usize>::new()
    );
    let copies = [
        edited(&events[0], |v| {
            v["detail"]["finding"]["rule"] = json!("Terminal shell in container (second rule)")
        }),
        edited(&events[0], |v| {
            v["detail"]["finding"]["identity_conflicts"] = json!(["forged"])
        }),
    ];
    for copy in &copies {
        taken(&stale, copy).await;
    }
    let asides: Vec<Item> = p
        .action_records()
        .await
        .into_iter()
        .filter(|r| s(r, "pk").ends_with(&tasks[0]) && s(r, "sk").starts_with("UNTRUSTED#"))
        .collect();
    assert!(!asides.is_empty());
    for aside in &asides {
        assert!(!reason(aside).starts_with("fresh:"), "{}", reason(aside));
    }
    assert_eq!(stop_calls(&p), 0);
    assert_eq!(p.task_status(&tasks[0]).await.1, "RUNNING");
    let r = record_at(&p, &tasks[0], "ACTION#enforce").await;
    assert_eq!(
        (s(&r, "phase"), s(&r, "decided_at")),
        ("acting", s(&decided, "decided_at"))
    );

    taken(&stale, &events[0]).await;
    let r = record_at(&p, &tasks[0], "ACTION#enforce").await;
    assert_eq!((s(&r, "outcome"), s(&r, "phase")), ("act", "complete"));
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    assert_eq!(stop_calls(&p), 1);
    assert_eq!(stops_at(&p, &service_scope(&p, "forged")).await, [t]);
}

/// Delivers `body` to `r` until it is taken (a message finding the record claimed by the other
/// instance's attempt, with no SQS delivery to leave it to, comes back).
async fn until_taken(r: &Remediate, body: &str) {
    for _ in 0..20 {
        if r.process(&[body.to_owned()], Some(ACCOUNT))
            .await
            .is_empty()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("never taken");
}

/// A stop decided and held, its StopTask failing; then two instances at once (on one clock) get
/// the genuine message, fresh, and a copy of it with its observed times moved back, stale: once
/// while the stop is held (three hours), and once after its hold lapsed (600 s) on a service with
/// room to spare. What must hold: the held stop carried on and made once, counted once, announced
/// once; the lapsed stop made once whichever message claims first (the stale copy settles it as
/// refused, and the genuine message then decides it again and makes it), its first count kept.
/// (The instances share a clock: a lease is taken over by the taker's clock, so an instance whose
/// clock ran hours ahead would take a live lease over whatever the messages are.)
#[tokio::test]
async fn a_stale_copy_racing_the_fresh_message_on_two_instances_stops_once() {
    let p = Pipeline::start().await;
    let book = vigil_e2e::playbooks("");

    let held = p.service("race-held", 3).await;
    let events = alerts(&p, &held[..1], SHELL, "race-held").await;
    let t = now();
    let crashed = crashing(&p, &book, t, long_hold).await;
    assert_eq!(crashed.process(&events, Some(ACCOUNT)).await, [0]);
    p.executed.drain().await;
    let one = at(&p, &book, t + 60, long_hold).await;
    let two = at(&p, &book, t + 60, long_hold).await;
    let copy = backdated(&events[0], LATE);
    tokio::join!(until_taken(&one, &copy), until_taken(&two, &events[0]));
    let r = record_at(&p, &held[0], "ACTION#enforce").await;
    assert_eq!((s(&r, "outcome"), s(&r, "phase")), ("act", "complete"));
    assert!(decision(&r).get("lapsed_stop").is_none());
    assert_eq!(stop_calls(&p), 1);
    assert_eq!(p.stopped(&held).await, 1);
    assert_eq!(stops_at(&p, &service_scope(&p, "race-held")).await, [t]);
    assert_eq!(p.executed.drain().await.len(), 1, "announced once");

    let lapsed = p.service("race-lapsed", 3).await;
    let events = alerts(&p, &lapsed[..1], SHELL, "race-lapsed").await;
    let t = now();
    let crashed = crashing(&p, &book, t, |_| {}).await;
    assert_eq!(crashed.process(&events, Some(ACCOUNT)).await, [0]);
    let one = at(&p, &book, t + HOLD + 5, |_| {}).await;
    let two = at(&p, &book, t + HOLD + 5, |_| {}).await;
    let copy = backdated(&events[0], LATE);
    tokio::join!(until_taken(&one, &copy), until_taken(&two, &events[0]));
    // The copy may have settled it last: the genuine message, delivered again, decides it.
    until_taken(&two, &events[0]).await;
    let r = record_at(&p, &lapsed[0], "ACTION#enforce").await;
    assert_eq!(
        (s(&r, "outcome"), s(&r, "phase")),
        ("act", "complete"),
        "{}",
        reason(&r)
    );
    assert_eq!(p.task_status(&lapsed[0]).await.1, "STOPPED");
    assert_eq!(stop_calls(&p), 2, "one StopTask per service");
    let counted = stops_at(&p, &service_scope(&p, "race-lapsed")).await;
    assert_eq!(counted.first(), Some(&t), "{counted:?}");
    assert!(counted.len() <= 2, "{counted:?}");
}

/// A stop made whose attempt crashed before its announcement (`acted`), its message back two
/// hours later, stale. What must hold: the stored stop completed as decided (no second StopTask,
/// no new decision), announced once; the stale message again is recorded aside.
#[tokio::test]
async fn a_stale_message_on_an_acted_stop_completes_it_without_stopping_again() {
    let p = Pipeline::start().await;
    let tasks = p.service("acted", 3).await;
    let event = blind::stopped_then_crashed(&p, &tasks, "acted", "acted").await;
    let before = p.enforced_record(&tasks[0]).await.unwrap();
    p.emulator.reset_api_calls();
    let stale = at(&p, vigil_e2e::PLAYBOOKS, now() + LATE, |_| {}).await;
    taken(&stale, &event).await;
    let r = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!((s(&r, "outcome"), s(&r, "phase")), ("act", "complete"));
    assert_eq!(s(&r, "decided_at"), s(&before, "decided_at"));
    assert_eq!(s(&r, "decision"), s(&before, "decision"));
    assert_eq!(stop_calls(&p), 0);
    assert_eq!(p.executed.drain().await.len(), 1);
    taken(&stale, &event).await;
    assert_eq!(p.executed.drain().await.len(), 0);
    assert_eq!(stop_calls(&p), 0);
    assert_eq!(p.stopped(&tasks).await, 1);
}

/// Decisions that are not stops, left unfinished (`acted`: the attempt crashed before its
/// announcement, and before its proposal): a refusal by `min_healthy` on a one-task service, and a
/// proposal awaiting approval. Their message comes back stale. What must hold: each carried on as
/// decided when fresh (same decision, same time), completed and announced, nothing stopped, held
/// or counted; the proposal is filed with the time it was decided, not the stale message's.
#[tokio::test]
async fn a_stale_message_settles_unfinished_non_stops_as_they_were_decided() {
    let p = Pipeline::start().await;
    let book = vigil_e2e::playbooks("");
    let solo = p.service("solo", 1).await;
    let refused = alerts(&p, &solo, SHELL, "solo").await;
    taken(&at(&p, &book, now(), |_| {}).await, &refused[0]).await;
    let before = record_at(&p, &solo[0], "ACTION#enforce").await;
    assert_eq!(s(&before, "outcome"), "refused");
    blind::crash_in(&p, &before, "acted").await;

    let proposed = p.service("proposed", 3).await;
    let asked = alerts(&p, &proposed[..1], SHELL, "proposed").await;
    let approver = p
        .remediate_with(
            vigil_e2e::queue::APPROVE_SHELLS,
            RemediationMode::Enforce,
            vigil_e2e::queue::approver,
        )
        .await;
    taken(&approver, &asked[0]).await;
    let awaiting = record_at(&p, &proposed[0], "ACTION#approve").await;
    assert_eq!(s(&awaiting, "outcome"), "awaiting_approval");
    blind::crash_in(&p, &awaiting, "acted").await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&p.emulator.sdk_config().await);
    for item in p.items("PROPOSAL#").await {
        dynamodb
            .delete_item()
            .table_name(TABLE_NAME)
            .key("pk", item["pk"].clone())
            .key("sk", item["sk"].clone())
            .send()
            .await
            .unwrap();
    }
    p.executed.drain().await;
    p.emulator.reset_api_calls();

    let late = now() + LATE;
    taken(&at(&p, &book, late, |_| {}).await, &refused[0]).await;
    let approver = p
        .remediate_with(
            vigil_e2e::queue::APPROVE_SHELLS,
            RemediationMode::Enforce,
            vigil_e2e::queue::approver,
        )
        .await
        .with_clock(clock(late));
    taken(&approver, &asked[0]).await;

    for (task, sk, was) in [
        (&solo[0], "ACTION#enforce", &before),
        (&proposed[0], "ACTION#approve", &awaiting),
    ] {
        let r = record_at(&p, task, sk).await;
        assert_eq!(
            (s(&r, "outcome"), s(&r, "phase")),
            (s(was, "outcome"), "complete")
        );
        assert_eq!(s(&r, "decision"), s(was, "decision"));
    }
    let proposals = p.items("PROPOSAL#").await;
    assert!(!proposals.is_empty(), "the proposal was not filed");
    for proposal in &proposals {
        assert_eq!(
            s(proposal, "proposed_at"),
            decision(&awaiting)["decided_at"].as_str().unwrap()
        );
    }
    assert_eq!(p.executed.drain().await.len(), 2);
    assert_eq!(stop_calls(&p), 0);
    assert_eq!(p.emulator.calls("dynamodb", "TransactWriteItems"), 0);
    assert_eq!(p.stopped(&solo).await + p.stopped(&proposed).await, 0);
}

/// Stale replays of a finding whose stop is complete (new EventBridge ids, an archive replayed),
/// and stale copies with their rule swapped. What they cost: a genuine stale replay, the dedup
/// record and one read of the action record (is a stop unfinished?) and the conditional write of
/// the aside; a disputed copy, the dedup record and the aside, without the action record's read.
/// None claims, decides, looks at ECS or calls Security Hub.
#[tokio::test]
async fn a_flood_of_stale_replays_costs_one_record_read_each_and_nothing_more() {
    let p = Pipeline::start().await;
    let tasks = p.service("flood", 3).await;
    let book = vigil_e2e::playbooks("");
    let events = alerts(&p, &tasks[..1], SHELL, "flood").await;
    let t = now();
    taken(&at(&p, &book, t, |_| {}).await, &events[0]).await;
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    let stale = at(&p, &book, t + LATE, |_| {}).await;
    const N: u64 = 6;
    let replays: Vec<String> = (0..N)
        .map(|i| with_id(&events[0], &format!("replay-{i}")))
        .collect();
    p.emulator.reset_api_calls();
    assert!(stale.process(&replays, Some(ACCOUNT)).await.is_empty());
    let calls = |p: &Pipeline| {
        [
            ("dynamodb", "GetItem"),
            ("dynamodb", "PutItem"),
            ("dynamodb", "UpdateItem"),
            ("dynamodb", "TransactWriteItems"),
            ("dynamodb", "Query"),
            ("ecs", "DescribeTasks"),
            ("securityhub", "BatchUpdateFindings"),
        ]
        .map(|(service, op)| p.emulator.calls(service, op))
    };
    assert_eq!(calls(&p), [2 * N, N, 0, 0, 0, 0, 0]);
    let copies: Vec<String> = replays
        .iter()
        .map(|r| {
            edited(r, |v| {
                v["detail"]["finding"]["rule"] = json!("Terminal shell in container (second rule)")
            })
        })
        .collect();
    p.emulator.reset_api_calls();
    assert!(stale.process(&copies, Some(ACCOUNT)).await.is_empty());
    assert_eq!(calls(&p), [N, N, 0, 0, 0, 0, 0]);
    assert_eq!(stop_calls(&p), 0);
    assert_eq!(
        records_of(&p, &tasks[0]).await,
        [
            "ACTION#enforce act complete".to_owned(),
            format!("UNTRUSTED#enforce#{ACCOUNT} refused ")
        ]
    );
}

/// A GuardDuty attack sequence naming two tasks of a service: one's stop decided and held (three
/// hours) with its StopTask failing, the other refused (protected). The sequence comes back stale.
/// What must hold: the unfinished stop carried on and made once; the refused task, its record
/// complete, is recorded aside as stale and not decided again (still running, its refusal kept);
/// the message taken.
#[tokio::test]
async fn a_stale_sequence_carries_on_only_the_task_whose_stop_is_unfinished() {
    const STOP_SEQUENCES: &str = "version: 1\nplaybooks:\n  - name: sequence\n    match: {finding_types: [\"AttackSequence:*\"]}\n    actions: [stop_task]\n    mode: enforce\n";
    let p = Pipeline::start().await;
    let shop = p.service("shop", 3).await;
    p.protect(&shop[1]).await;
    let seq = AttackSequence::new("seq-stale")
        .naming(&shop[..2])
        .build(&p)
        .await;
    let events = p.through_ingest_and_enrich(&[seq]).await;
    assert_eq!(events.len(), 1);
    let t = now();
    let crashed = crashing(&p, STOP_SEQUENCES, t, long_hold).await;
    assert_eq!(crashed.process(&events, Some(ACCOUNT)).await, [0]);
    assert_eq!(
        s(&record_at(&p, &shop[0], "ACTION#enforce").await, "phase"),
        "acting"
    );
    let refused = record_at(&p, &shop[1], "ACTION#enforce").await;
    assert_eq!(
        (s(&refused, "outcome"), s(&refused, "phase")),
        ("refused", "complete")
    );

    taken(
        &at(&p, STOP_SEQUENCES, t + LATE, long_hold).await,
        &events[0],
    )
    .await;
    let r = record_at(&p, &shop[0], "ACTION#enforce").await;
    assert_eq!((s(&r, "outcome"), s(&r, "phase")), ("act", "complete"));
    assert_eq!(p.task_status(&shop[0]).await.1, "STOPPED");
    assert_eq!(p.task_status(&shop[1]).await.1, "RUNNING");
    assert_eq!(stop_calls(&p), 1);
    assert_eq!(
        record_at(&p, &shop[1], "ACTION#enforce").await,
        refused,
        "the refused task was decided again"
    );
    let aside = record_at(&p, &shop[1], &format!("UNTRUSTED#enforce#{ACCOUNT}")).await;
    assert!(reason(&aside).starts_with("fresh:"), "{}", reason(&aside));
}
