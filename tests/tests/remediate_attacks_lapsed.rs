//! Attacks on the resumed stop whose hold lapsed before it was made (`job::finish`,
//! `lapsed_stop`; `decision::write_decision` with `lapsed_stop`): two instances resuming it at
//! once, or racing a fresh decision on the service's other task; a task protected, a service
//! shrunk or a task already held since; forged STOPPED changes before the resume; stored decisions
//! and hold items edited in the table; an approved stop; a playbook that may stop the last task; a
//! task of no service; a stop whose first count has left the stop limits' window; redeliveries and
//! new arrivals after the stop was decided again. Every stop is read back from ECS.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use std::collections::HashMap;
use vigil_e2e::queue::{APPROVALS_QUEUE, REMEDIATE_QUEUE, approval_of, approver, deliver};
use vigil_e2e::{ACCOUNT, PLAYBOOKS, Pipeline, alerts, s, stopped_change, with_id};
use vigil_remediate::{Remediate, RemediateSettings, RemediationMode};
use vigil_testkit::TABLE_NAME;

mod blind;
mod hold_kit;

use hold_kit::*;

/// Delivers `body` to `r` and expects it returned to the queue.
async fn returned(r: &Remediate, body: &str) {
    assert_eq!(r.process(&[body.to_owned()], Some(ACCOUNT)).await, [0]);
}

/// `crashing` on `event` at `t`: the record of its task is left `acting`, its stop counted and held.
async fn crash_on(p: &Pipeline, playbooks: &str, t: i64, event: &str) {
    let crashed = crashing(p, playbooks, t, |_| {}).await;
    returned(&crashed, event).await;
}

/// The hold item of `service` (`""`: the cluster's tasks of no service) as a task → until map.
async fn holds(p: &Pipeline, service: &str) -> HashMap<String, i64> {
    let pk = format!("HOLD#{}/{service}", p.cluster);
    p.items(&pk)
        .await
        .into_iter()
        .filter(|i| s(i, "pk") == pk)
        .flat_map(|i| {
            i["tasks"]
                .as_m()
                .unwrap()
                .iter()
                .map(|(t, v)| (t.clone(), v.as_n().unwrap().parse().unwrap()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The enforced record of `task` (there is one finding per task here).
async fn record(p: &Pipeline, task: &str) -> Item {
    p.enforced_record(task)
        .await
        .unwrap_or_else(|| panic!("no enforced record of {task}"))
}

/// `(outcome, phase)` of the enforced record of `task`.
async fn state(p: &Pipeline, task: &str) -> (String, String) {
    let r = record(p, task).await;
    (s(&r, "outcome").to_owned(), s(&r, "phase").to_owned())
}

fn pair(outcome: &str, phase: &str) -> (String, String) {
    (outcome.to_owned(), phase.to_owned())
}

async fn dynamodb(p: &Pipeline) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&p.emulator.sdk_config().await)
}

/// Writes `item` back as it is.
async fn put(p: &Pipeline, item: Item) {
    dynamodb(p)
        .await
        .put_item()
        .table_name(TABLE_NAME)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

/// The `acting` record of `task` with its stored decision edited by `edit` (its lease run out, as
/// a crashed attempt leaves it).
async fn edit_decision(p: &Pipeline, task: &str, edit: impl FnOnce(&mut Value)) {
    let mut r = record(p, task).await;
    assert_eq!(s(&r, "phase"), "acting");
    let mut d = decision(&r);
    edit(&mut d);
    r.insert("decision".into(), AttributeValue::S(d.to_string()));
    blind::crash_in(p, &r, "acting").await;
}

/// A stop decided, counted and held on a two-task service whose StopTask failed (at `t`), then the
/// other task stopped by Vigil once the hold lapsed (at `t + HOLD + 1`): the pending task is now
/// the service's last healthy one. Returns the tasks and their alerts.
async fn pending_then_the_other_stopped(
    p: &Pipeline,
    name: &str,
    t: i64,
) -> (Vec<String>, Vec<String>) {
    let tasks = p.service(name, 2).await;
    let events = alerts(p, &tasks, SHELL, name).await;
    crash_on(p, PLAYBOOKS, t, &events[0]).await;
    taken(&at(p, PLAYBOOKS, t + HOLD + 1, |_| {}).await, &events[1]).await;
    assert_eq!(p.task_status(&tasks[1]).await.1, "STOPPED");
    assert_eq!(p.task_status(&tasks[0]).await.1, "RUNNING");
    (tasks, events)
}

/// The same lapsed stop resumed by two instances at once (the message and a copy, each retried
/// until taken): one of them decides it again and stops the task; the task is stopped once,
/// counted once (when first decided), held once, and its record is complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_resuming_one_lapsed_stop_stop_it_once() {
    let p = Pipeline::start().await;
    let tasks = p.service("twice", 3).await;
    let events = alerts(&p, &tasks[..1], SHELL, "twice").await;
    let t = now();
    crash_on(&p, PLAYBOOKS, t, &events[0]).await;
    let later = t + HOLD + 1;
    let a = at(&p, PLAYBOOKS, later, |_| {}).await;
    let b = at(&p, PLAYBOOKS, later, |_| {}).await;
    let copy = with_id(&events[0], "twice-copy");
    let mut settled = false;
    for _ in 0..6 {
        let (fa, fb) = tokio::join!(
            a.process(&events[..1], Some(ACCOUNT)),
            b.process(std::slice::from_ref(&copy), Some(ACCOUNT))
        );
        if fa.is_empty() && fb.is_empty() {
            settled = true;
            break;
        }
    }
    assert!(settled, "messages still returned after 6 receives");
    assert_eq!(p.stopped(&tasks).await, 1);
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    assert_eq!(stop_calls(&p), 1, "one StopTask");
    assert_eq!(stops_at(&p, &service_scope(&p, "twice")).await, [t]);
    assert_eq!(state(&p, &tasks[0]).await, pair("act", "complete"));
    let d = decision(&record(&p, &tasks[0]).await);
    assert_eq!(d["lapsed_stop"]["held_until"], t + HOLD, "{d}");
    assert_eq!(
        holds(&p, "twice").await,
        HashMap::from([(tasks[0].clone(), later + HOLD)])
    );
}

/// A lapsed stop resumed on one instance while another decides a finding on the service's other
/// task, at the same moment, on a two-task service (`min_healthy_tasks` 1): whichever wins, one
/// task is stopped and the other keeps running; the loser is refused by `min_healthy`; both
/// records complete; the lapsed stop is not counted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_resume_racing_a_fresh_decision_on_the_other_task_stops_one() {
    let p = Pipeline::start().await;
    let tasks = p.service("race", 2).await;
    let events = alerts(&p, &tasks, SHELL, "race").await;
    let t = now();
    crash_on(&p, PLAYBOOKS, t, &events[0]).await;
    let later = t + HOLD + 1;
    let a = at(&p, PLAYBOOKS, later, |_| {}).await;
    let b = at(&p, PLAYBOOKS, later, |_| {}).await;
    let mut settled = false;
    for _ in 0..6 {
        let (fa, fb) = tokio::join!(
            a.process(&events[..1], Some(ACCOUNT)),
            b.process(&events[1..], Some(ACCOUNT))
        );
        if fa.is_empty() && fb.is_empty() {
            settled = true;
            break;
        }
    }
    assert!(settled, "messages still returned after 6 receives");
    assert_eq!(p.stopped(&tasks).await, 1, "min_healthy_tasks 1 broken");
    assert_eq!(stop_calls(&p), 1);
    let outcomes = (state(&p, &tasks[0]).await.0, state(&p, &tasks[1]).await.0);
    let counted = stops_at(&p, &service_scope(&p, "race")).await;
    match (outcomes.0.as_str(), outcomes.1.as_str()) {
        // The resumed stop won: decided again and made, not counted again.
        ("act", "refused") => assert_eq!(counted, [t]),
        // The other task's stop won: counted; the resumed stop refused.
        ("refused", "act") => assert_eq!(counted, [t, later]),
        other => panic!("unexpected outcomes {other:?}"),
    }
    for task in &tasks {
        assert_eq!(state(&p, task).await.1, "complete");
    }
}

/// A lapsed stop whose task was tagged protected after the stop was decided: decided again, it is
/// refused as protected; nothing is stopped, nothing counted again. The message redelivered is a
/// duplicate; the finding arriving again is decided afresh, refused again, and counts nothing.
#[tokio::test]
async fn a_lapsed_stop_of_a_task_protected_since_is_refused_and_stays_refused() {
    let p = Pipeline::start().await;
    let tasks = p.service("guarded", 3).await;
    let events = alerts(&p, &tasks[..1], SHELL, "guarded").await;
    let t = now();
    crash_on(&p, PLAYBOOKS, t, &events[0]).await;
    p.protect(&tasks[0]).await;
    let r = at(&p, PLAYBOOKS, t + HOLD + 1, |_| {}).await;
    taken(&r, &events[0]).await;
    let rec = record(&p, &tasks[0]).await;
    assert_eq!(
        (s(&rec, "outcome"), s(&rec, "phase")),
        ("refused", "complete")
    );
    assert!(reason(&rec).starts_with("protected"), "{}", reason(&rec));
    assert!(decision(&rec)["lapsed_stop"].is_object());
    let decided = s(&rec, "decided_at").to_owned();
    // Redelivered: a duplicate.
    taken(&at(&p, PLAYBOOKS, t + HOLD + 2, |_| {}).await, &events[0]).await;
    assert_eq!(s(&record(&p, &tasks[0]).await, "decided_at"), decided);
    // Arriving again: decided afresh (no longer a lapsed stop), refused again.
    taken(
        &at(&p, PLAYBOOKS, t + HOLD + 3, |_| {}).await,
        &with_id(&events[0], "guarded-again"),
    )
    .await;
    let again = record(&p, &tasks[0]).await;
    assert_eq!(
        (s(&again, "outcome"), s(&again, "decided_event")),
        ("refused", "guarded-again")
    );
    assert!(decision(&again).get("lapsed_stop").is_none());
    assert_eq!(p.stopped(&tasks).await, 0);
    assert_eq!(stop_calls(&p), 0);
    assert_eq!(stops_at(&p, &service_scope(&p, "guarded")).await, [t]);
}

/// A lapsed stop whose service lost its other task meanwhile (stopped outside Vigil, by a
/// deployment or an operator): decided again, it would take the service's last healthy task and
/// is refused by `min_healthy`.
#[tokio::test]
async fn a_lapsed_stop_on_a_service_shrunk_meanwhile_is_refused() {
    let p = Pipeline::start().await;
    let tasks = p.service("shrunk", 2).await;
    let events = alerts(&p, &tasks[..1], SHELL, "shrunk").await;
    let t = now();
    crash_on(&p, PLAYBOOKS, t, &events[0]).await;
    p.emulator
        .ecs()
        .await
        .stop_task()
        .cluster(&p.cluster)
        .task(&tasks[1])
        .reason("deployment")
        .send()
        .await
        .unwrap();
    taken(&at(&p, PLAYBOOKS, t + HOLD + 1, |_| {}).await, &events[0]).await;
    let rec = record(&p, &tasks[0]).await;
    assert_eq!(
        (s(&rec, "outcome"), s(&rec, "phase")),
        ("refused", "complete")
    );
    assert!(reason(&rec).starts_with("min_healthy"), "{}", reason(&rec));
    assert_eq!(p.task_status(&tasks[0]).await.1, "RUNNING");
    assert_eq!(stop_calls(&p), 1, "the operator's StopTask only");
}

/// STOPPED changes forged for a pending stop's task while it still runs (one from a foreign
/// account, one from the deploying account; both carry Vigil's marker) release nothing: the
/// hold still keeps the service's other task from being stopped, and the resumed stop, its hold
/// standing, is carried on as decided (not decided again), leaving the other task running.
#[tokio::test]
async fn forged_stopped_changes_before_the_resume_release_no_hold() {
    let p = Pipeline::start().await;
    let tasks = p.service("forged", 2).await;
    let events = alerts(&p, &tasks, SHELL, "forged").await;
    let t = now();
    crash_on(&p, PLAYBOOKS, t, &events[0]).await;
    let marker = decision(&record(&p, &tasks[0]).await)["stop_reason"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = at(&p, PLAYBOOKS, t + 1, |_| {}).await;
    for (id, account) in [("forged-foreign", "999999999999"), ("forged-own", ACCOUNT)] {
        let change = stopped_change(&p, id, account, &tasks[0], "service:forged", &marker);
        taken(&r, &change).await;
        assert_eq!(
            holds(&p, "forged").await,
            HashMap::from([(tasks[0].clone(), t + HOLD)]),
            "released by {id}"
        );
    }
    taken(&at(&p, PLAYBOOKS, t + 2, |_| {}).await, &events[1]).await;
    let other = record(&p, &tasks[1]).await;
    assert_eq!(s(&other, "outcome"), "refused", "{}", reason(&other));
    taken(&at(&p, PLAYBOOKS, t + 3, |_| {}).await, &events[0]).await;
    let rec = record(&p, &tasks[0]).await;
    assert_eq!((s(&rec, "outcome"), s(&rec, "phase")), ("act", "complete"));
    assert!(decision(&rec).get("lapsed_stop").is_none());
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    assert_eq!(p.task_status(&tasks[1]).await.1, "RUNNING");
    assert_eq!(stops_at(&p, &service_scope(&p, "forged")).await, [t]);
}

/// A pending stop whose stored decision was edited in the table to name no cluster (or no
/// service), resumed after its hold lapsed when its task is the service's last healthy one: with
/// no hold to be found, it must not be carried on blind; decided again, it is refused. (A stop
/// naming no cluster was carried on as if held, StopTask sent to no cluster on every redelivery,
/// the record never completed.)
#[tokio::test]
async fn a_stored_stop_edited_to_name_no_cluster_or_service_is_not_carried_on_blind() {
    for field in ["cluster_arn", "service"] {
        let p = Pipeline::start().await;
        let t = now();
        let (tasks, events) = pending_then_the_other_stopped(&p, "edited", t).await;
        edit_decision(&p, &tasks[0], |d| {
            d.as_object_mut().unwrap().remove(field);
        })
        .await;
        let r = at(&p, PLAYBOOKS, t + HOLD + 2, |_| {}).await;
        let _ = r.process(&events[..1], Some(ACCOUNT)).await;
        assert_eq!(
            p.task_status(&tasks[0]).await.1,
            "RUNNING",
            "without {field}: the last task stopped ({:?})",
            records_of(&p, &tasks[0]).await
        );
        assert_eq!(stop_calls(&p), 1, "without {field}");
        assert_eq!(
            state(&p, &tasks[0]).await,
            pair("refused", "complete"),
            "without {field}"
        );
    }
}

/// A pending stop's hold item edited in the table: its task's entry made a string (not a time),
/// then the item's version made a string. The first reads as no hold (decided again, refused by
/// `min_healthy`, never carried on as held); the second is an error: the message comes back, the
/// record stays `acting` and nothing is stopped; once the item is repaired, the redelivery decides.
#[tokio::test]
async fn a_malformed_hold_item_neither_panics_nor_carries_a_lapsed_stop_on() {
    let p = Pipeline::start().await;
    let t = now();
    let (tasks, events) = pending_then_the_other_stopped(&p, "mangled", t).await;
    let pk = format!("HOLD#{}/mangled", p.cluster);
    let item = p
        .items(&pk)
        .await
        .into_iter()
        .find(|i| s(i, "pk") == pk)
        .unwrap();
    let mut broken = item.clone();
    broken.insert("version".into(), AttributeValue::S("x".into()));
    put(&p, broken).await;
    returned(&at(&p, PLAYBOOKS, t + HOLD + 2, |_| {}).await, &events[0]).await;
    assert_eq!(state(&p, &tasks[0]).await, pair("act", "acting"));
    assert_eq!(p.task_status(&tasks[0]).await.1, "RUNNING");
    let mut odd = item.clone();
    let mut entries = odd["tasks"].as_m().unwrap().clone();
    entries.insert(tasks[0].clone(), AttributeValue::S("99999999999".into()));
    odd.insert("tasks".into(), AttributeValue::M(entries));
    put(&p, odd).await;
    taken(&at(&p, PLAYBOOKS, t + HOLD + 3, |_| {}).await, &events[0]).await;
    let rec = record(&p, &tasks[0]).await;
    assert_eq!(
        (s(&rec, "outcome"), s(&rec, "phase")),
        ("refused", "complete")
    );
    assert!(decision(&rec)["lapsed_stop"]["held_until"].is_null());
    assert_eq!(p.task_status(&tasks[0]).await.1, "RUNNING");
    assert_eq!(stop_calls(&p), 1);
}

/// `proposed` (a shell finding under [`APPROVE_FIRST`]) proposed for approval, then the analyst's
/// approval (`approval-1`) decided, counted and held just after, by an instance whose StopTask
/// fails: its message comes back and the record is left `acting`. Returns when the approval was
/// decided, and the approval.
async fn approved_then_crashed(
    p: &Pipeline,
    proposed: &str,
    adjust: fn(&mut RemediateSettings),
) -> (i64, String) {
    let approving = p
        .remediate_with(APPROVE_FIRST, RemediationMode::Enforce, adjust)
        .await;
    assert!(
        deliver(&approving, "proposal", 1, REMEDIATE_QUEUE, proposed)
            .await
            .is_empty()
    );
    let t = now();
    let approval = approval_of("approval-1", proposed);
    let crashed = crashing(p, APPROVE_FIRST, t, adjust).await;
    assert_eq!(
        deliver(&crashed, "approval-1", 1, APPROVALS_QUEUE, &approval).await,
        ["approval-1"]
    );
    (t, approval)
}

/// An analyst-approved stop on a two-task service, decided, counted and held, whose StopTask kept
/// failing until its hold lapsed (the approval's message dead-lettered and redriven later; an
/// approved decision's freshness is judged at the proposal, so it is still fresh); meanwhile the
/// service's other task was stopped. The approval, resumed, is decided again and refused by
/// `min_healthy`: the service keeps a task, and nothing is counted again.
#[tokio::test]
async fn an_approved_stop_whose_hold_lapsed_is_decided_again_and_keeps_min_healthy() {
    let p = Pipeline::start().await;
    let tasks = p.service("approved", 2).await;
    let proposed = alerts(&p, &tasks[..1], SHELL, "propose").await.remove(0);
    let other = alerts(&p, &tasks[1..], SECOND, "other").await.remove(0);
    let (t, approval) = approved_then_crashed(&p, &proposed, approver).await;
    assert_eq!(state(&p, &tasks[0]).await, pair("act", "acting"));
    taken(&at(&p, APPROVE_FIRST, t + HOLD + 1, approver).await, &other).await;
    assert_eq!(p.task_status(&tasks[1]).await.1, "STOPPED");
    let late = at(&p, APPROVE_FIRST, t + HOLD + 2, approver).await;
    assert!(
        deliver(&late, "approval-1", 2, APPROVALS_QUEUE, &approval)
            .await
            .is_empty()
    );
    let rec = record(&p, &tasks[0]).await;
    assert_eq!(
        (s(&rec, "outcome"), s(&rec, "phase")),
        ("refused", "complete"),
        "{}",
        reason(&rec)
    );
    assert!(reason(&rec).starts_with("min_healthy"), "{}", reason(&rec));
    assert!(decision(&rec)["lapsed_stop"].is_object());
    assert_eq!(p.task_status(&tasks[0]).await.1, "RUNNING");
    assert_eq!(stop_calls(&p), 1);
    assert_eq!(
        stops_at(&p, &service_scope(&p, "approved")).await,
        [t, t + HOLD + 1]
    );
}

/// A lapsed stop under a playbook that may stop a service's last task, resumed when the service's
/// other task has been stopped: decided again, it is still a stop (the playbook allows it), made
/// once, held again, and counted once (when first decided).
#[tokio::test]
async fn a_lapsed_stop_that_may_take_the_last_task_is_made_once_and_counted_once() {
    let p = Pipeline::start().await;
    let tasks = p.service("last", 2).await;
    let last = alerts(&p, &tasks[..1], SECOND, "last").await.remove(0);
    let other = alerts(&p, &tasks[1..], SHELL, "other").await.remove(0);
    let t = now();
    crash_on(&p, LAST_TASK_SECOND, t, &last).await;
    taken(
        &at(&p, LAST_TASK_SECOND, t + HOLD + 1, |_| {}).await,
        &other,
    )
    .await;
    assert_eq!(p.task_status(&tasks[1]).await.1, "STOPPED");
    let later = t + HOLD + 2;
    taken(&at(&p, LAST_TASK_SECOND, later, |_| {}).await, &last).await;
    let rec = record(&p, &tasks[0]).await;
    assert_eq!(
        (s(&rec, "outcome"), s(&rec, "phase")),
        ("act", "complete"),
        "{}",
        reason(&rec)
    );
    assert!(decision(&rec)["lapsed_stop"].is_object());
    assert_eq!(p.stopped(&tasks).await, 2);
    assert_eq!(stop_calls(&p), 2);
    assert_eq!(
        stops_at(&p, &service_scope(&p, "last")).await,
        [t, t + HOLD + 1]
    );
    assert_eq!(holds(&p, "last").await[&tasks[0]], later + HOLD);
}

/// A lapsed stop of a task of no service (held under its cluster, `HOLD#<cluster>/`): decided
/// again, made once, held again under the cluster, counted once against the cluster.
#[tokio::test]
async fn a_lapsed_stop_of_a_task_of_no_service_is_decided_again_under_its_cluster() {
    let p = Pipeline::start().await;
    let tasks = p
        .emulator
        .run_tasks(&p.cluster, &p.task_definition, 2, &[])
        .await;
    let events = alerts(&p, &tasks[..1], SHELL, "alone").await;
    let t = now();
    crash_on(&p, PLAYBOOKS, t, &events[0]).await;
    assert_eq!(holds(&p, "").await[&tasks[0]], t + HOLD);
    let later = t + HOLD + 1;
    taken(&at(&p, PLAYBOOKS, later, |_| {}).await, &events[0]).await;
    let rec = record(&p, &tasks[0]).await;
    assert_eq!((s(&rec, "outcome"), s(&rec, "phase")), ("act", "complete"));
    assert_eq!(decision(&rec)["lapsed_stop"]["held_until"], t + HOLD);
    assert_eq!(p.stopped(&tasks).await, 1);
    assert_eq!(stop_calls(&p), 1);
    assert_eq!(stops_at(&p, &format!("cluster#{}", p.cluster)).await, [t]);
    assert_eq!(holds(&p, "").await[&tasks[0]], later + HOLD);
}

/// A stored stop already made and recorded `acted` (the attempt crashed before its announcement),
/// resumed long after its hold lapsed: unaffected by the lapse (no hold read, not decided again),
/// announced and completed with no second StopTask.
#[tokio::test]
async fn a_lapsed_acted_stop_is_completed_not_decided_again() {
    let p = Pipeline::start().await;
    let tasks = p.service("acted", 2).await;
    let event = blind::stopped_then_crashed(&p, &tasks, "acted", "acted").await;
    let before = record(&p, &tasks[0]).await;
    let calls = stop_calls(&p);
    let late = at(&p, PLAYBOOKS, now() + 2 * HOLD, |_| {}).await;
    taken(&late, &event).await;
    let rec = record(&p, &tasks[0]).await;
    assert_eq!((s(&rec, "outcome"), s(&rec, "phase")), ("act", "complete"));
    assert_eq!(s(&rec, "decision"), s(&before, "decision"));
    assert_eq!(stop_calls(&p), calls);
    assert_eq!(p.executed.drain().await.len(), 1);
}

/// A lapsed stop decided again and made when its first count has left the stop limits' window
/// (`STOP_LIMIT_WINDOW_SECONDS` 300, shorter than the hold): it must count where it is made, or a
/// service with a limit of one stop in any 300 s gets a second stop a second later.
#[tokio::test]
async fn a_lapsed_stop_made_after_its_count_left_the_window_counts_again() {
    let p = Pipeline::start().await;
    let tasks = p.service("window", 3).await;
    let events = alerts(&p, &tasks[..2], SHELL, "window").await;
    let limited: fn(&mut RemediateSettings) = |s| {
        s.guardrails.stop_limit_per_service = 1;
        s.guardrails.stop_limit_window_seconds = 300;
    };
    let t = now();
    returned(&crashing(&p, PLAYBOOKS, t, limited).await, &events[0]).await;
    let later = t + HOLD + 1;
    taken(&at(&p, PLAYBOOKS, later, limited).await, &events[0]).await;
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    assert_eq!(stops_at(&p, &service_scope(&p, "window")).await, [later]);
    taken(&at(&p, PLAYBOOKS, later + 1, limited).await, &events[1]).await;
    let rec = record(&p, &tasks[1]).await;
    assert_eq!(
        s(&rec, "outcome"),
        "rate_limited",
        "a second stop within 300 s: {}",
        reason(&rec)
    );
    assert_eq!(p.stopped(&tasks).await, 1);
    assert_eq!(stop_calls(&p), 1);
}

/// A lapsed stop refused when decided again (the service's other task stopped meanwhile), then the
/// service's other task confirmed STOPPED (its hold released) and the finding arriving again: it
/// is decided afresh and still refused by `min_healthy` (the released task is gone, not healthy);
/// no refusal is counted.
#[tokio::test]
async fn a_refused_lapsed_stop_arriving_again_after_a_release_is_refused_again() {
    let p = Pipeline::start().await;
    let t = now();
    let (tasks, events) = pending_then_the_other_stopped(&p, "again", t).await;
    let r = at(&p, PLAYBOOKS, t + HOLD + 2, |_| {}).await;
    taken(&r, &events[0]).await;
    assert_eq!(state(&p, &tasks[0]).await, pair("refused", "complete"));
    let change = stopped_change(
        &p,
        "again-stopped",
        ACCOUNT,
        &tasks[1],
        "service:again",
        &p.stopped_reason(&tasks[1]).await,
    );
    taken(&r, &change).await;
    assert!(!holds(&p, "again").await.contains_key(&tasks[1]));
    taken(
        &at(&p, PLAYBOOKS, t + HOLD + 3, |_| {}).await,
        &with_id(&events[0], "again-later"),
    )
    .await;
    let rec = record(&p, &tasks[0]).await;
    assert_eq!(
        (s(&rec, "outcome"), s(&rec, "decided_event")),
        ("refused", "again-later")
    );
    assert!(reason(&rec).starts_with("min_healthy"), "{}", reason(&rec));
    assert_eq!(p.task_status(&tasks[0]).await.1, "RUNNING");
    assert_eq!(stop_calls(&p), 1);
    assert_eq!(
        stops_at(&p, &service_scope(&p, "again")).await,
        [t, t + HOLD + 1]
    );
}

/// The same as an approval, under the default hold and window (an hour each) with a limit of one
/// stop per service: an approved stop whose StopTask kept failing, its approval redriven just over
/// an hour later (an approved decision's freshness is judged at the proposal), is decided again
/// and made; its first count has left the window, so it counts where it is made, and the next
/// stop of the service a second later is `rate_limited`. (Findings are fresh for two hours here,
/// for that next finding to be decided at all.)
#[tokio::test]
async fn an_approval_redriven_after_the_default_hold_counts_its_stop_again() {
    let p = Pipeline::start().await;
    let tasks = p.service("hourly", 3).await;
    let proposed = alerts(&p, &tasks[..1], SHELL, "propose").await.remove(0);
    let other = alerts(&p, &tasks[1..2], SECOND, "other").await.remove(0);
    let defaults: fn(&mut RemediateSettings) = |s| {
        approver(s);
        s.hold_seconds = vigil_remediate::DEFAULT_HOLD_SECONDS;
        s.guardrails.stop_limit_per_service = 1;
        s.guardrails.stop_limit_window_seconds = 3600;
        s.guardrails.max_finding_age_seconds = 7200;
    };
    let (t, approval) = approved_then_crashed(&p, &proposed, defaults).await;
    let later = t + vigil_remediate::DEFAULT_HOLD_SECONDS + 1;
    let redriven = at(&p, APPROVE_FIRST, later, defaults).await;
    assert!(
        deliver(&redriven, "approval-1", 6, APPROVALS_QUEUE, &approval)
            .await
            .is_empty()
    );
    let rec = record(&p, &tasks[0]).await;
    assert_eq!(
        (s(&rec, "outcome"), s(&rec, "phase")),
        ("act", "complete"),
        "{}",
        reason(&rec)
    );
    assert!(decision(&rec)["lapsed_stop"].is_object());
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    assert_eq!(stops_at(&p, &service_scope(&p, "hourly")).await, [later]);
    taken(&at(&p, APPROVE_FIRST, later + 1, defaults).await, &other).await;
    let next = record(&p, &tasks[1]).await;
    assert_eq!(s(&next, "outcome"), "rate_limited", "{}", reason(&next));
    assert_eq!(p.stopped(&tasks).await, 1);
    assert_eq!(stop_calls(&p), 1);
}
