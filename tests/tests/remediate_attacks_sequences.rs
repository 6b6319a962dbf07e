//! Attacks on the path from a GuardDuty attack sequence to StopTask: tasks added to a genuine
//! sequence after ingest, a sequence grafted onto an agent's finding, foreign senders and tasks,
//! protected services, one task named twice or in other casing, two instances deciding one
//! sequence at once, racing new arrivals of a rate-limited task, and stale replays. Every outcome
//! is read back from ECS.

use serde_json::{Value, json};
use vigil_e2e::{ACCOUNT, AttackSequence, Pipeline, generous, s, with_id};
use vigil_remediate::{Remediate, RemediationMode};

/// A playbook that stops every task an attack sequence names.
const STOP_SEQUENCES: &str = "version: 1\nplaybooks:\n  - name: sequence\n    match: {finding_types: [\"AttackSequence:*\"]}\n    actions: [stop_task]\n    mode: enforce\n  - name: shell\n    match: {rules: [\"Terminal shell*\"]}\n    actions: [stop_task]\n    mode: enforce\n";

const FIXTURE_UID: &str = "2f9a6c1e8d7b4a3f9c0e1d2b3a4f5e6d";

/// The documented attack sequence about this pipeline's cluster: uid `uid`, EventBridge id `id`,
/// naming `tasks`, every time `age_seconds` ago.
async fn sequence(p: &Pipeline, uid: &str, id: &str, tasks: &[String], age_seconds: i64) -> Value {
    AttackSequence::new(id)
        .uid(uid)
        .naming(tasks)
        .aged(age_seconds)
        .build(p)
        .await
}

/// A copy of a `Finding Enriched` event whose finding was changed by `change`, under a new id.
fn tampered(event: &str, id: &str, change: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(event).unwrap();
    v["id"] = json!(id);
    change(&mut v["detail"]["finding"]);
    v.to_string()
}

/// A sequence task entry for `task`, with its app container's runtime id, copied from `like`.
async fn sequence_task(p: &Pipeline, like: &Value, task: &str) -> Value {
    let mut t = like.clone();
    t["task_arn"] = json!(task);
    let runtime = p.emulator.runtime_id(&p.cluster, task, "app").await;
    if let Some(c) = t["containers"].get_mut(0) {
        c["uid"] = json!(runtime);
    }
    t
}

/// `sk outcome` of every action record and record set aside for `task`.
async fn records_of(p: &Pipeline, task: &str) -> Vec<String> {
    p.items("ACT#")
        .await
        .iter()
        .filter(|r| s(r, "pk").ends_with(task))
        .map(|r| format!("{} {}", s(r, "sk"), s(r, "outcome")))
        .collect()
}

/// No task of `service` stopped, no StopTask called, and a refusal on record for each of `named`.
async fn nothing_stopped_and_each_refused(p: &Pipeline, service: &[String], named: &[String]) {
    assert_eq!(p.stopped(service).await, 0);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    for t in named {
        let records = records_of(p, t).await;
        assert!(
            records.iter().any(|r| r.ends_with("refused")),
            "{records:?}"
        );
    }
}

async fn stopper(p: &Pipeline) -> Remediate {
    p.remediate_with(STOP_SEQUENCES, RemediationMode::Enforce, generous)
        .await
}

/// An attacker who can put a `Finding Enriched` on the remediate queue copies a genuine sequence
/// and adds the tasks of another service to `finding.sequence.tasks`. The sequence's fingerprint
/// covers no task and the dedup record vouches for the copy, so only the tasks ingest counted for
/// the sequence may be decided: the added tasks are refused with no ECS call, while the genuine
/// task is stopped. A genuine later occurrence of the sequence that names one of them (GuardDuty
/// growing the sequence) does stop it.
#[tokio::test]
async fn tasks_added_to_a_genuine_sequence_after_ingest_are_never_stopped() {
    let p = Pipeline::start().await;
    let shop = p.service("shop", 3).await;
    let billing = p.service("billing", 3).await;
    let genuine = sequence(&p, FIXTURE_UID, "seq-1", &shop[..1], 0).await;
    let events = p.through_ingest_and_enrich(&[genuine]).await;
    assert_eq!(events.len(), 1);
    let mut forged = Vec::new();
    for (i, id) in ["forged-1", "forged-2"].iter().enumerate() {
        let like: Value = serde_json::from_str::<Value>(&events[0]).unwrap()["detail"]["finding"]
            ["sequence"]["tasks"][0]
            .clone();
        let added = sequence_task(&p, &like, &billing[i]).await;
        let mut event = tampered(&events[0], id, |f| {
            f["sequence"]["tasks"].as_array_mut().unwrap().push(added);
        });
        if i == 1 {
            // The same tampering under the genuine event's own id.
            let genuine_id = serde_json::from_str::<Value>(&events[0]).unwrap()["id"].clone();
            event = with_id(&event, genuine_id.as_str().unwrap());
        }
        forged.push(event);
    }
    let remediate = stopper(&p).await;
    assert!(remediate.process(&forged, Some(ACCOUNT)).await.is_empty());
    assert!(remediate.process(&events, Some(ACCOUNT)).await.is_empty());
    assert_eq!(p.task_status(&billing[0]).await.1, "RUNNING");
    assert_eq!(p.task_status(&billing[1]).await.1, "RUNNING");
    assert_eq!(p.task_status(&shop[0]).await.1, "STOPPED");
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    for task in &billing[..2] {
        let records = records_of(&p, task).await;
        assert!(
            records.iter().all(|r| r.starts_with("UNTRUSTED#")),
            "{records:?}"
        );
        assert!(!records.is_empty());
    }

    // GuardDuty adds billing[0] to the sequence: a genuine occurrence, counted by ingest.
    let grown = sequence(
        &p,
        FIXTURE_UID,
        "seq-2",
        &[shop[0].clone(), billing[0].clone()],
        0,
    )
    .await;
    let published = p.through_ingest_and_enrich(&[grown]).await;
    // Counted, and published when dedup says (a repeat within the update interval waits for it):
    // the publication then carries the grown task list.
    let published = if published.is_empty() {
        let like: Value = serde_json::from_str::<Value>(&events[0]).unwrap()["detail"]["finding"]
            ["sequence"]["tasks"][0]
            .clone();
        let added = sequence_task(&p, &like, &billing[0]).await;
        vec![tampered(&events[0], "grown-published", |f| {
            f["sequence"]["tasks"].as_array_mut().unwrap().push(added);
        })]
    } else {
        published
    };
    assert!(
        remediate
            .process(&published, Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert_eq!(p.task_status(&billing[0]).await.1, "STOPPED");
    assert_eq!(p.task_status(&billing[1]).await.1, "RUNNING");
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 2);
}

/// A genuine agent finding with a sequence grafted on (so that remediation fans out to the
/// victims it names): its fields no longer hash to its fingerprint, and the dedup record counted
/// no sequence under it. Nothing is stopped, not even the agent finding's own task.
#[tokio::test]
async fn a_sequence_grafted_onto_an_agent_finding_is_refused() {
    let p = Pipeline::start().await;
    let shop = p.service("shop", 3).await;
    let genuine = sequence(&p, FIXTURE_UID, "seq-graft", &shop[..1], 0).await;
    let seq_event = p.through_ingest_and_enrich(&[genuine]).await.remove(0);
    let mut seq: Value =
        serde_json::from_str::<Value>(&seq_event).unwrap()["detail"]["finding"]["sequence"].clone();
    let like = seq["tasks"][0].clone();
    let mut victims = Vec::new();
    for t in &shop[1..] {
        victims.push(sequence_task(&p, &like, t).await);
    }
    seq["tasks"] = json!(victims);
    let falco = p
        .enriched(&[("shell-1", &shop[0], "Terminal shell in container")])
        .await
        .remove(0);
    let grafted = tampered(&falco, "grafted", |f| f["sequence"] = seq.clone());
    let remediate = stopper(&p).await;
    assert!(
        remediate
            .process(&[grafted], Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert_eq!(p.stopped(&shop).await, 0);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    for t in &shop[1..] {
        let records = records_of(&p, t).await;
        assert!(
            records.iter().all(|r| r.starts_with("UNTRUSTED#")),
            "{records:?}"
        );
    }
}

/// Sequences through ingest from a sender that is not trusted, and naming tasks of another
/// account (the ARNs rewritten) in the trusted cluster: nothing is stopped and ECS is not asked
/// to.
#[tokio::test]
async fn a_sequence_from_a_foreign_sender_or_naming_foreign_tasks_stops_nothing() {
    let p = Pipeline::start().await;
    let shop = p.service("shop", 3).await;
    let mut foreign_sender = sequence(
        &p,
        "foreignsender00000000000000000001",
        "seq-f1",
        &shop[..2],
        0,
    )
    .await;
    foreign_sender["account"] = json!("999999999999");
    let foreign_tasks: Vec<String> = shop[..2]
        .iter()
        .map(|t| t.replace(ACCOUNT, "210987654321"))
        .collect();
    let foreign_task_seq = sequence(
        &p,
        "foreigntasks0000000000000000002",
        "seq-f2",
        &foreign_tasks,
        0,
    )
    .await;
    let events = p
        .through_ingest_and_enrich(&[foreign_sender, foreign_task_seq])
        .await;
    let remediate = stopper(&p).await;
    assert!(remediate.process(&events, Some(ACCOUNT)).await.is_empty());
    assert_eq!(p.stopped(&shop).await, 0);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    assert!(
        p.action_records()
            .await
            .iter()
            .all(|r| s(r, "outcome") != "act"),
    );
}

/// A sequence naming every task of a protected service (by tag) and of a service listed as
/// protected: none is stopped.
#[tokio::test]
async fn tasks_of_protected_services_named_by_a_sequence_survive() {
    let p = Pipeline::start().await;
    let tagged = p
        .emulator
        .create_service(
            &p.cluster,
            "payments",
            &p.task_definition,
            2,
            &[("vigil:protected", "true")],
        )
        .await;
    let listed = p.service("ledger", 2).await;
    let named = [tagged[0].clone(), tagged[1].clone(), listed[0].clone()];
    let seq = sequence(&p, FIXTURE_UID, "seq-protected", &named, 0).await;
    let events = p.through_ingest_and_enrich(&[seq]).await;
    let remediate = p
        .remediate_with(STOP_SEQUENCES, RemediationMode::Enforce, |s| {
            generous(s);
            s.guardrails
                .protected_services
                .push(vigil_playbook::Glob::new("ledger").unwrap());
        })
        .await;
    assert!(remediate.process(&events, Some(ACCOUNT)).await.is_empty());
    assert_eq!(p.stopped(&tagged).await, 0);
    assert_eq!(p.stopped(&listed).await, 0);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
}

/// A sequence naming one task twice (once more after ingest, too) and another task of the
/// service by an upper-cased ARN: the task is stopped once, and the other casing neither stops
/// the other task nor lets the service drop below min_healthy.
#[tokio::test]
async fn the_same_task_twice_or_in_other_casing_is_stopped_at_most_once() {
    let p = Pipeline::start().await;
    let pair = p.service("pair", 2).await;
    let (prefix, id) = pair[1].rsplit_once('/').unwrap();
    let upper = format!("{prefix}/{}", id.to_uppercase());
    let named = [pair[0].clone(), pair[0].clone(), upper];
    let seq = sequence(&p, FIXTURE_UID, "seq-twice", &named, 0).await;
    let events = p.through_ingest_and_enrich(&[seq]).await;
    assert_eq!(events.len(), 1);
    // And the first task once more in the message itself.
    let doubled = {
        let tasks = serde_json::from_str::<Value>(&events[0]).unwrap()["detail"]["finding"]
            ["sequence"]["tasks"]
            .clone();
        let first = tasks[0].clone();
        tampered(&events[0], "doubled", |f| {
            f["sequence"]["tasks"].as_array_mut().unwrap().push(first);
        })
    };
    let remediate = stopper(&p).await;
    assert!(remediate.process(&events, Some(ACCOUNT)).await.is_empty());
    assert!(
        remediate
            .process(&[doubled], Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert_eq!(p.task_status(&pair[0]).await.1, "STOPPED");
    assert_eq!(p.task_status(&pair[1]).await.1, "RUNNING");
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
}

/// One sequence naming every task of a three-task service, delivered to two instances at the
/// same moment (and again): min_healthy holds across the tasks of the one sequence, and every
/// stop is made once.
#[tokio::test]
async fn two_instances_deciding_one_sequence_on_every_task_keep_min_healthy() {
    let p = Pipeline::start().await;
    let trio = p.service("trio", 3).await;
    let seq = sequence(&p, FIXTURE_UID, "seq-trio", &trio, 0).await;
    let events = p.through_ingest_and_enrich(&[seq]).await;
    let a = stopper(&p).await;
    let b = stopper(&p).await;
    for _ in 0..4 {
        let (fa, fb) = tokio::join!(
            a.process(&events, Some(ACCOUNT)),
            b.process(&events, Some(ACCOUNT))
        );
        if fa.is_empty() && fb.is_empty() {
            break;
        }
    }
    assert_eq!(p.stopped(&trio).await, 2);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 2);
    let acts = p
        .action_records()
        .await
        .iter()
        .filter(|r| s(r, "outcome") == "act")
        .count();
    assert_eq!(acts, 2);
}

/// One stop per service a minute, with the clock at `now + offset` seconds.
async fn limited_to_one(
    p: &Pipeline,
    now: chrono::DateTime<chrono::Utc>,
    offset: i64,
) -> Remediate {
    let clock: vigil_remediate::Clock =
        std::sync::Arc::new(move || now + chrono::Duration::seconds(offset));
    p.remediate_with(STOP_SEQUENCES, RemediationMode::Enforce, |s| {
        s.guardrails.stop_limit_per_service = 1;
        s.guardrails.stop_limit_window_seconds = 60;
    })
    .await
    .with_clock(clock)
}

/// A sequence on two tasks of one service, one stop allowed a minute: one task is rate-limited.
/// After the window two new arrivals of the sequence reach two instances at once: the limited
/// task is reopened by one of them and stopped once; the task already stopped is not stopped
/// again; a third arrival decides nothing.
#[tokio::test]
async fn racing_new_arrivals_of_a_rate_limited_sequence_stop_each_task_once() {
    let p = Pipeline::start().await;
    let quad = p.service("quad", 4).await;
    let seq = sequence(&p, FIXTURE_UID, "seq-limit", &quad[..2], 0).await;
    let event = p.through_ingest_and_enrich(&[seq]).await.remove(0);
    let now =
        chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp() / 60 * 60, 0).unwrap();
    let first = limited_to_one(&p, now, 0).await;
    assert!(
        first
            .process(std::slice::from_ref(&event), Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert_eq!(p.stopped(&quad).await, 1);
    assert_eq!(
        p.action_records()
            .await
            .iter()
            .filter(|r| s(r, "outcome") == "rate_limited")
            .count(),
        1
    );
    let a = limited_to_one(&p, now, 61).await;
    let b = limited_to_one(&p, now, 61).await;
    let (one, two) = (with_id(&event, "again-a"), with_id(&event, "again-b"));
    let (fa, fb) = tokio::join!(
        a.process(std::slice::from_ref(&one), Some(ACCOUNT)),
        b.process(std::slice::from_ref(&two), Some(ACCOUNT))
    );
    // A message that found the record busy comes back: deliver it again.
    if !fa.is_empty() {
        assert!(a.process(&[one], Some(ACCOUNT)).await.is_empty());
    }
    if !fb.is_empty() {
        assert!(b.process(&[two], Some(ACCOUNT)).await.is_empty());
    }
    assert_eq!(p.stopped(&quad[..2]).await, 2);
    assert_eq!(p.stopped(&quad).await, 2);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 2);
    // Both acts are final: another arrival, even after another window, decides nothing.
    assert!(
        limited_to_one(&p, now, 130)
            .await
            .process(&[with_id(&event, "again-c")], Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 2);
}

/// A sequence last observed two hours ago (a replay, or a backlog) is refused as stale on every
/// task it names.
#[tokio::test]
async fn an_old_sequence_replayed_is_refused_as_stale() {
    let p = Pipeline::start().await;
    let shop = p.service("shop", 3).await;
    let seq = sequence(&p, FIXTURE_UID, "seq-old", &shop[..2], 7200).await;
    let events = p.through_ingest_and_enrich(&[seq]).await;
    let remediate = stopper(&p).await;
    assert!(remediate.process(&events, Some(ACCOUNT)).await.is_empty());
    nothing_stopped_and_each_refused(&p, &shop, &shop[..2]).await;
}

/// Copies of a genuine sequence and a genuine agent alert, put on the queue two hours after ingest
/// last counted them with every observed time moved forward to now (times are not in the
/// fingerprint, so the dedup record vouches for the copies): a message is never fresher than the
/// last occurrence ingest counted, so both are refused as stale and nothing is stopped.
#[tokio::test]
async fn a_replay_with_its_observed_times_moved_forward_is_still_stale() {
    let p = Pipeline::start().await;
    let shop = p.service("shop", 3).await;
    let seq = sequence(&p, FIXTURE_UID, "seq-moved", &shop[..1], 0).await;
    let mut events = p.through_ingest_and_enrich(&[seq]).await;
    events.extend(
        p.enriched(&[("shell-moved", &shop[1], "Terminal shell in container")])
            .await,
    );
    assert_eq!(events.len(), 2);
    let later = chrono::Utc::now() + chrono::Duration::hours(2);
    let moved: Vec<String> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            tampered(e, &format!("moved-{i}"), |f| {
                let at = json!(later.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
                for k in ["observed_at", "first_observed_at", "last_observed_at"] {
                    f[k] = at.clone();
                }
            })
        })
        .collect();
    let clock: vigil_remediate::Clock = std::sync::Arc::new(move || later);
    let remediate = stopper(&p).await.with_clock(clock);
    assert!(remediate.process(&moved, Some(ACCOUNT)).await.is_empty());
    nothing_stopped_and_each_refused(&p, &shop, &shop[..2]).await;
}

/// A copy of a genuine sequence naming 150 tasks ingest never counted (and the genuine task 150
/// times more): no stop but the genuine task's, once, and no more than 100 decisions set aside.
#[tokio::test]
async fn a_sequence_naming_hundreds_of_tasks_is_bounded_and_stops_only_what_ingest_counted() {
    let p = Pipeline::start().await;
    let shop = p.service("shop", 3).await;
    let seq = sequence(&p, FIXTURE_UID, "seq-many", &shop[..1], 0).await;
    let events = p.through_ingest_and_enrich(&[seq]).await;
    let like: Value = serde_json::from_str::<Value>(&events[0]).unwrap()["detail"]["finding"]
        ["sequence"]["tasks"][0]
        .clone();
    let mut many = vec![like.clone(); 150];
    for i in 0..150 {
        let mut t = like.clone();
        t["task_arn"] = json!(format!(
            "arn:aws:ecs:us-east-1:{ACCOUNT}:task/prod/{:032x}",
            i + 1
        ));
        many.push(t);
    }
    let forged = tampered(&events[0], "many", |f| f["sequence"]["tasks"] = json!(many));
    let remediate = stopper(&p).await;
    assert!(remediate.process(&[forged], Some(ACCOUNT)).await.is_empty());
    assert_eq!(p.task_status(&shop[0]).await.1, "STOPPED");
    assert_eq!(p.stopped(&shop).await, 1);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    let aside = p
        .items("ACT#")
        .await
        .iter()
        .filter(|r| s(r, "sk").starts_with("UNTRUSTED#"))
        .count();
    assert!(aside <= 100, "{aside} decisions set aside");
}
