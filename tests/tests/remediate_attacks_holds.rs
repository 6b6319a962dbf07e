//! Attacks on the held-stop no-op (`decision::service_facts`: a finding about a task whose stop
//! Vigil already holds is a recorded, non-final `not_running`) and its interplay with the stop
//! counters and the action records: a finding suppressed by a hold that lapses, or that arrives
//! again while it is held; a hold that lapses before its own stop is made; a playbook that may stop
//! the last task deciding on a task whose stop is pending; an attack sequence and a Falco alert
//! naming one task at once; an approval of a task whose stop is held; dry runs and proposals (which
//! hold nothing); and the state left after ECS's STOPPED change releases a hold. Every stop is read
//! back from ECS.

use serde_json::Value;
use vigil_e2e::queue::{APPROVALS_QUEUE, REMEDIATE_QUEUE, approval_of, approver, deliver};
use vigil_e2e::{ACCOUNT, AttackSequence, PLAYBOOKS, Pipeline, alerts, s, stopped_change, with_id};
use vigil_remediate::{RemediateSettings, RemediationMode};

mod blind;
mod hold_kit;

use hold_kit::*;

/// The tasks the hold item of `service` holds (lapsed or not).
async fn held(p: &Pipeline, service: &str) -> Vec<String> {
    let pk = format!("HOLD#{}/{service}", p.cluster);
    let mut tasks: Vec<String> = p
        .items(&pk)
        .await
        .into_iter()
        .filter(|i| s(i, "pk") == pk)
        .flat_map(|i| {
            i["tasks"]
                .as_m()
                .unwrap()
                .keys()
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    tasks.sort();
    tasks
}

/// The action records (any mode) of `task` whose finding's rule is `rule`.
async fn record_of(p: &Pipeline, task: &str, sk: &str, rule: &str) -> Item {
    p.action_records()
        .await
        .into_iter()
        .find(|r| {
            s(r, "pk").ends_with(task)
                && s(r, "sk") == sk
                && serde_json::from_str::<Value>(s(r, "decision")).unwrap_or_default()["rule"]
                    == rule
        })
        .unwrap_or_else(|| panic!("no {sk} record of {task} for {rule}"))
}

/// When the hold of `task` in `service` lapses.
async fn hold_until(p: &Pipeline, service: &str, task: &str) -> i64 {
    let pk = format!("HOLD#{}/{service}", p.cluster);
    let items = p.items(&pk).await;
    let item = items
        .iter()
        .find(|i| s(i, "pk") == pk)
        .expect("the hold item");
    item["tasks"].as_m().unwrap()[task]
        .as_n()
        .unwrap()
        .parse()
        .unwrap()
}

/// A stop decided, counted and held on a two-task service (`min_healthy_tasks` 1), whose StopTask
/// keeps failing for longer than the hold lasts (`STOP_HOLD_SECONDS` 600 here; the queue redelivers
/// for 5 receives × 360 s, and a dead-lettered message can be redriven at any time): a finding on
/// the service's other task, decided once the hold lapsed, counts the pending task as healthy and
/// stops the other one. The pending stop, resumed, finds its hold lapsed and the task still
/// running: it is decided again on fresh facts and refused, so one task keeps running.
#[tokio::test]
async fn a_hold_that_lapses_before_its_stop_is_made_still_keeps_min_healthy() {
    let p = Pipeline::start().await;
    let pair = p.service("pair", 2).await;
    let events = alerts(&p, &pair, SHELL, "lapse").await;
    let t = now();
    let first = crashing(&p, PLAYBOOKS, t, |_| {}).await;
    assert_eq!(first.process(&events[..1], Some(ACCOUNT)).await, [0]);
    assert_eq!(held(&p, "pair").await, [pair[0].clone()]);
    assert_eq!(
        records_of(&p, &pair[0]).await,
        ["ACTION#enforce act acting"]
    );
    let later = at(&p, PLAYBOOKS, t + HOLD + 1, |_| {}).await;
    taken(&later, &events[1]).await;
    taken(&later, &events[0]).await;
    let running = pair.len() - p.stopped(&pair).await;
    assert!(
        running >= 1,
        "min_healthy_tasks 1 broken: {running} task(s) of 2 left running ({} StopTask calls; \
         records {:?} {:?})",
        stop_calls(&p),
        records_of(&p, &pair[0]).await,
        records_of(&p, &pair[1]).await,
    );
    assert_eq!(p.task_status(&pair[0]).await.1, "RUNNING");
    let r = record_of(&p, &pair[0], "ACTION#enforce", SHELL).await;
    assert_eq!(
        (s(&r, "outcome"), s(&r, "phase")),
        ("refused", "complete"),
        "{}",
        reason(&r)
    );
    assert!(reason(&r).contains("min_healthy"), "{}", reason(&r));
    // Its lapsed hold was dropped when the other task's stop was held.
    let lapsed = &decision(&r)["lapsed_stop"];
    assert!(lapsed["held_until"].is_null(), "{lapsed}");
    assert!(lapsed["decided_at"].is_string(), "{lapsed}");
    // The refused stop was counted when first decided, and is not counted again.
    assert_eq!(
        stops_at(&p, &service_scope(&p, "pair")).await,
        [t, t + HOLD + 1]
    );
    assert_eq!(stop_calls(&p), 1, "StopTask of pair[1] only");
}

/// A stored stop resumed after its hold lapsed, its task still running and the service with room
/// to spare: decided again on fresh facts and made, held again for the stop, and counted once (when
/// first decided), not twice.
#[tokio::test]
async fn a_lapsed_stop_with_room_left_is_decided_again_made_and_counted_once() {
    let p = Pipeline::start().await;
    let tasks = p.service("roomy", 3).await;
    let events = alerts(&p, &tasks[..1], SHELL, "roomy").await;
    let t = now();
    let first = crashing(&p, PLAYBOOKS, t, |_| {}).await;
    assert_eq!(first.process(&events, Some(ACCOUNT)).await, [0]);
    let later = t + HOLD + 5;
    taken(&at(&p, PLAYBOOKS, later, |_| {}).await, &events[0]).await;
    let r = record_of(&p, &tasks[0], "ACTION#enforce", SHELL).await;
    assert_eq!(
        (s(&r, "outcome"), s(&r, "phase")),
        ("act", "complete"),
        "{}",
        reason(&r)
    );
    assert_eq!(decision(&r)["lapsed_stop"]["held_until"], t + HOLD);
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    assert_eq!(p.stopped(&tasks).await, 1);
    assert_eq!(stops_at(&p, &service_scope(&p, "roomy")).await, [t]);
    // Held again, from the new decision, until ECS says STOPPED.
    assert_eq!(held(&p, "roomy").await, [tasks[0].clone()]);
    assert_eq!(hold_until(&p, "roomy", &tasks[0]).await, later + HOLD);
}

/// A stored stop resumed after its hold lapsed whose StopTask had been made (the attempt crashed
/// after it, before recording ECS's answer): the task no longer runs, so nothing healthy is taken
/// away and the stop is carried on as decided, not decided again. (Findings are fresh for two hours
/// here: with the default hour, a message that late is refused as stale before any claim.)
#[tokio::test]
async fn a_lapsed_stop_already_made_is_carried_on_not_decided_again() {
    let p = Pipeline::start().await;
    let tasks = p.service("made", 2).await;
    let event = blind::stopped_then_crashed(&p, &tasks, "acting", "made").await;
    let before = p.enforced_record(&tasks[0]).await.unwrap();
    let t = now() + vigil_remediate::DEFAULT_HOLD_SECONDS + 60;
    let late = at(&p, PLAYBOOKS, t, |s| {
        s.guardrails.max_finding_age_seconds = 7200
    })
    .await;
    taken(&late, &event).await;
    let r = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!((s(&r, "outcome"), s(&r, "phase")), ("act", "complete"));
    assert_eq!(s(&r, "decided_at"), s(&before, "decided_at"));
    assert!(
        decision(&r).get("lapsed_stop").is_none(),
        "{}",
        s(&r, "decision")
    );
    assert_eq!(p.stopped(&tasks).await, 1);
}

/// A stored stop resumed after its hold lapsed, when ECS cannot be asked whether the task still
/// runs (DescribeTasks throttled): neither carried on nor decided, the message comes back; the
/// next attempt, able to look, decides it again.
#[tokio::test]
async fn a_lapsed_stop_whose_task_cannot_be_looked_at_comes_back() {
    let p = Pipeline::start().await;
    let pair = p.service("blind", 2).await;
    let events = alerts(&p, &pair, SHELL, "blind").await;
    let t = now();
    let first = crashing(&p, PLAYBOOKS, t, |_| {}).await;
    assert_eq!(first.process(&events[..1], Some(ACCOUNT)).await, [0]);
    let dynamodb = aws_sdk_dynamodb::Client::new(&p.emulator.sdk_config().await);
    let (throttled, describe, stop) =
        blind::blind_remediate(&p, blind::Ecs::Throttled, dynamodb, PLAYBOOKS, |s| {
            s.hold_seconds = HOLD
        })
        .await;
    let throttled = throttled.with_clock(clock(t + HOLD + 1));
    assert_eq!(throttled.process(&events[..1], Some(ACCOUNT)).await, [0]);
    assert_eq!(describe.num_calls(), 1);
    assert_eq!(stop.num_calls(), 0, "carried on without a look");
    assert_eq!(
        records_of(&p, &pair[0]).await,
        ["ACTION#enforce act acting"]
    );
    // Meanwhile the other task is stopped; the resumed stop, looked at, keeps one running.
    let later = at(&p, PLAYBOOKS, t + HOLD + 2, |_| {}).await;
    taken(&later, &events[1]).await;
    taken(&later, &events[0]).await;
    assert_eq!(p.stopped(&pair).await, 1);
    assert_eq!(p.task_status(&pair[0]).await.1, "RUNNING");
}

/// A second finding about a task whose stop is held (the deciding attempt crashed before
/// StopTask) is a non-final no-op. Its redelivery is a duplicate; its next arrival (a new event)
/// reopens the record and, the stop still held, is a no-op again, counting nothing. The held stop
/// is never made (its message dead-lettered): once the hold lapses, the finding's next arrival is
/// decided afresh and stops the task, once, counted once more.
#[tokio::test]
async fn a_finding_suppressed_by_a_held_stop_is_decided_again_on_each_arrival_and_stops_after_the_lapse()
 {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let first = alerts(&p, &tasks[..1], SHELL, "held").await.remove(0);
    let second = alerts(&p, &tasks[..1], SECOND, "suppressed")
        .await
        .remove(0);
    let book = vigil_e2e::playbooks("");
    let t = now();
    let crashed = crashing(&p, &book, t, |_| {}).await;
    assert_eq!(crashed.process(&[first], Some(ACCOUNT)).await, [0]);
    let service = service_scope(&p, "shop");
    assert_eq!(stops_at(&p, &service).await, [t]);

    taken(&at(&p, &book, t + 1, |_| {}).await, &second).await;
    let r = record_of(&p, &tasks[0], "ACTION#enforce", SECOND).await;
    assert_eq!(
        (s(&r, "outcome"), s(&r, "phase")),
        ("not_running", "complete")
    );
    assert!(
        reason(&r).contains("being stopped by Vigil"),
        "{}",
        reason(&r)
    );
    let id = |e: &str| {
        serde_json::from_str::<Value>(e).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(s(&r, "decided_event"), id(&second));
    // The same event again (SQS redelivers it): a duplicate, nothing decided.
    taken(&at(&p, &book, t + 2, |_| {}).await, &second).await;
    assert_eq!(
        s(
            &record_of(&p, &tasks[0], "ACTION#enforce", SECOND).await,
            "decided_at"
        ),
        s(&r, "decided_at")
    );
    // The finding arriving again while the stop is still held: reopened, decided, a no-op again.
    taken(
        &at(&p, &book, t + 3, |_| {}).await,
        &with_id(&second, "suppressed-again"),
    )
    .await;
    let r = record_of(&p, &tasks[0], "ACTION#enforce", SECOND).await;
    assert_eq!(
        (s(&r, "outcome"), s(&r, "phase"), s(&r, "decided_event")),
        ("not_running", "complete", "suppressed-again")
    );
    assert_eq!(stop_calls(&p), 0);
    assert_eq!(stops_at(&p, &service).await, [t], "no-ops count nothing");

    // The hold lapses; the held stop was never made; the finding arrives again: stopped.
    taken(
        &at(&p, &book, t + HOLD + 1, |_| {}).await,
        &with_id(&second, "suppressed-late"),
    )
    .await;
    let r = record_of(&p, &tasks[0], "ACTION#enforce", SECOND).await;
    assert_eq!(
        (s(&r, "outcome"), s(&r, "phase"), s(&r, "decided_event")),
        ("act", "complete", "suppressed-late"),
        "{}",
        reason(&r)
    );
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    assert_eq!(p.stopped(&tasks).await, 1);
    assert_eq!(stop_calls(&p), 1);
    assert_eq!(stops_at(&p, &service).await, [t, t + HOLD + 1]);
    // An act is final: the finding arriving yet again decides nothing.
    taken(
        &at(&p, &book, t + HOLD + 2, |_| {}).await,
        &with_id(&second, "suppressed-final"),
    )
    .await;
    assert_eq!(
        s(
            &record_of(&p, &tasks[0], "ACTION#enforce", SECOND).await,
            "decided_event"
        ),
        "suppressed-late"
    );
    assert_eq!(stop_calls(&p), 1);
}

/// A stop decided and counted on a service (limit 2), pending (crashed before StopTask), then a
/// finding about the same task whose playbook may stop a service's last task
/// (`allow_last_task`): it must see the pending stop as the other playbooks do, not stop and count
/// the task a second time, so that a finding on another task of the service still gets the
/// second of the two stops.
#[tokio::test]
async fn a_playbook_that_may_stop_the_last_task_does_not_stop_or_count_a_held_task_again() {
    pending_then_the_same_task_then_another(SHELL, SECOND).await;
}

/// The mirror image: the pending stop is the `allow_last_task` playbook's (which holds nothing),
/// and the finding that follows on the same task is a playbook's that keeps a task running.
#[tokio::test]
async fn a_pending_stop_of_a_playbook_that_may_stop_the_last_task_is_not_made_or_counted_twice() {
    pending_then_the_same_task_then_another(SECOND, SHELL).await;
}

/// On a service of four (limit 2): a stop of its first task for a `pending` alert (rule
/// `pending`), decided and counted by an attempt that crashed before StopTask; then an alert on
/// the same task (rule `same`); then one on another task; then the pending alert again. Each task
/// is stopped once and counted once, and the other task gets the second stop.
async fn pending_then_the_same_task_then_another(pending: &str, same: &str) {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 4).await;
    let first = alerts(&p, &tasks[..1], pending, "pending").await.remove(0);
    let second = alerts(&p, &tasks[..1], same, "same").await.remove(0);
    let other = alerts(&p, &tasks[1..2], SHELL, "other").await.remove(0);
    let limit2: fn(&mut RemediateSettings) = |s| s.guardrails.stop_limit_per_service = 2;
    let t = now();
    let crashed = crashing(&p, LAST_TASK_SECOND, t, limit2).await;
    assert_eq!(
        crashed
            .process(std::slice::from_ref(&first), Some(ACCOUNT))
            .await,
        [0]
    );
    taken(&at(&p, LAST_TASK_SECOND, t + 1, limit2).await, &second).await;
    taken(&at(&p, LAST_TASK_SECOND, t + 2, limit2).await, &other).await;
    taken(&at(&p, LAST_TASK_SECOND, t + 3, limit2).await, &first).await;
    assert_eq!(
        p.task_status(&tasks[1]).await.1,
        "STOPPED",
        "the other task's stop was refused: {:?}",
        records_of(&p, &tasks[1]).await
    );
    assert_eq!(p.stopped(&tasks).await, 2);
    assert_eq!(stop_calls(&p), 2, "one StopTask per task");
    assert_eq!(
        stops_at(&p, &service_scope(&p, "shop")).await,
        [t, t + 2],
        "each task counted once"
    );
}

/// Stops every task an attack sequence names, and tasks with a shell in them.
const STOP_SEQUENCES: &str = "version: 1\nplaybooks:\n  - name: sequence\n    match: {finding_types: [\"AttackSequence:*\"]}\n    actions: [stop_task]\n    mode: enforce\n  - name: shell\n    match: {rules: [\"Terminal shell*\"]}\n    actions: [stop_task]\n    mode: enforce\n";

/// A GuardDuty attack sequence naming two tasks of a four-task service and a Falco alert about
/// the first of them, delivered to two instances at the same moment (and again, until none is
/// returned): each task is stopped once and counted once, and of the first task's two records one
/// stopped it and the other is the held-stop no-op, both complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequence_and_a_falco_alert_naming_one_task_at_once_stop_and_count_it_once() {
    let p = Pipeline::start().await;
    let tasks = p.service("quad", 4).await;
    let seq = AttackSequence::new("seq-quad")
        .uid("2f9a6c1e8d7b4a3f9c0e1d2b3a4f5e6d")
        .naming(&tasks[..2])
        .build(&p)
        .await;
    let sequence = p.through_ingest_and_enrich(&[seq]).await;
    assert_eq!(sequence.len(), 1);
    let falco = alerts(&p, &tasks[..1], SHELL, "falco").await;
    let generous: fn(&mut RemediateSettings) = vigil_e2e::generous;
    let t = now();
    let a = at(&p, STOP_SEQUENCES, t, generous).await;
    let b = at(&p, STOP_SEQUENCES, t, generous).await;
    let mut settled = false;
    for _ in 0..4 {
        let (fa, fb) = tokio::join!(
            a.process(&sequence, Some(ACCOUNT)),
            b.process(&falco, Some(ACCOUNT))
        );
        if fa.is_empty() && fb.is_empty() {
            settled = true;
            break;
        }
    }
    assert!(settled, "messages still returned after 4 receives");
    assert_eq!(p.stopped(&tasks).await, 2);
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    assert_eq!(p.task_status(&tasks[1]).await.1, "STOPPED");
    assert_eq!(stop_calls(&p), 2, "one StopTask per task");
    assert_eq!(
        stops_at(&p, &service_scope(&p, "quad")).await,
        [t, t],
        "one count per task"
    );
    let mut first: Vec<String> = records_of(&p, &tasks[0])
        .await
        .iter()
        .map(|r| r.trim_start_matches("ACTION#enforce ").to_owned())
        .collect();
    first.sort();
    assert_eq!(first, ["act complete", "not_running complete"]);
    assert_eq!(
        records_of(&p, &tasks[1]).await,
        ["ACTION#enforce act complete"]
    );
}

/// A proposal (which holds and counts nothing), then another finding's stop of the same task
/// decided and held but not yet made (crashed before StopTask), then the analyst's approval: the
/// approved stop is the held-stop no-op (no second StopTask, no second count). The held stop's
/// redelivery stops the task once. The approval delivered again is a duplicate, and a second
/// approval (the analyst approving again) is decided again on the stopped task: nothing more.
#[tokio::test]
async fn an_approval_of_a_task_whose_stop_is_held_is_a_no_op_and_the_task_is_stopped_once() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let proposed = alerts(&p, &tasks[..1], SHELL, "propose").await.remove(0);
    let other = alerts(&p, &tasks[..1], SECOND, "other").await.remove(0);
    let approving = p
        .remediate_with(APPROVE_FIRST, RemediationMode::Enforce, approver)
        .await;
    assert!(
        deliver(&approving, "proposal", 1, REMEDIATE_QUEUE, &proposed)
            .await
            .is_empty()
    );
    assert_eq!(
        records_of(&p, &tasks[0]).await,
        ["ACTION#approve awaiting_approval complete"]
    );
    assert!(
        held(&p, "shop").await.is_empty(),
        "a proposal holds nothing"
    );
    assert!(
        p.items("RATE#").await.is_empty(),
        "a proposal counts nothing"
    );

    let t = now();
    let crashed = crashing(&p, APPROVE_FIRST, t, |_| {}).await;
    assert_eq!(
        crashed
            .process(std::slice::from_ref(&other), Some(ACCOUNT))
            .await,
        [0]
    );
    assert_eq!(held(&p, "shop").await, [tasks[0].clone()]);

    let approval = approval_of("approval-1", &proposed);
    assert!(
        deliver(&approving, "approval-1", 1, APPROVALS_QUEUE, &approval)
            .await
            .is_empty()
    );
    let approved = record_of(&p, &tasks[0], "ACTION#enforce", SHELL).await;
    assert_eq!(
        (s(&approved, "outcome"), s(&approved, "phase")),
        ("not_running", "complete")
    );
    assert!(reason(&approved).contains("being stopped by Vigil"));
    assert_eq!(stop_calls(&p), 0);
    assert_eq!(stops_at(&p, &service_scope(&p, "shop")).await, [t]);

    // The held stop's message comes back: the task is stopped once.
    taken(
        &p.remediate_with(APPROVE_FIRST, RemediationMode::Enforce, |_| {})
            .await,
        &other,
    )
    .await;
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    // The same approval again, then the analyst approving again.
    assert!(
        deliver(&approving, "approval-1", 2, APPROVALS_QUEUE, &approval)
            .await
            .is_empty()
    );
    let again = approval_of("approval-2", &proposed);
    assert!(
        deliver(&approving, "approval-2", 1, APPROVALS_QUEUE, &again)
            .await
            .is_empty()
    );
    assert_eq!(p.stopped(&tasks).await, 1);
    assert_eq!(stop_calls(&p), 1);
    assert_eq!(stops_at(&p, &service_scope(&p, "shop")).await, [t]);
    let records = records_of(&p, &tasks[0]).await;
    assert!(
        records.iter().all(|r| r.ends_with(" complete")),
        "{records:?}"
    );
    assert_eq!(
        s(
            &record_of(&p, &tasks[0], "ACTION#enforce", SECOND).await,
            "outcome"
        ),
        "act"
    );
}

/// A dry-run playbook's decision to stop (in an enforcing deployment) holds and counts nothing: a
/// shell finding about the same task that follows is stopped, and only it counts.
#[tokio::test]
async fn a_dry_run_holds_nothing_and_the_next_enforced_finding_stops_the_task() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let miner = alerts(&p, &tasks[..1], "Crypto miner detected", "miner")
        .await
        .remove(0);
    let shell = alerts(&p, &tasks[..1], SHELL, "shell").await.remove(0);
    let t = now();
    let r = at(&p, PLAYBOOKS, t, |_| {}).await;
    taken(&r, &miner).await;
    assert_eq!(
        records_of(&p, &tasks[0]).await,
        ["ACTION#dry_run dry_run complete"]
    );
    assert!(held(&p, "shop").await.is_empty(), "a dry run holds nothing");
    assert!(
        p.items("RATE#").await.is_empty(),
        "a dry run counts nothing"
    );
    taken(&r, &shell).await;
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    assert_eq!(stop_calls(&p), 1);
    assert_eq!(stops_at(&p, &service_scope(&p, "shop")).await, [t]);
}

/// After ECS's STOPPED change releases a stop's hold: the change redelivered changes nothing; a
/// second finding about the stopped task is a no-op for ECS's reason (not the hold's) and counts
/// nothing; the service's next stop counts the released task as gone, not held, and the one after
/// is refused by `min_healthy_tasks`. Every record is complete, each stop counted once.
#[tokio::test]
async fn after_the_stopped_change_releases_a_hold_records_and_counters_stay_exact() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let first = alerts(&p, &tasks, SHELL, "first").await;
    let second = alerts(&p, &tasks[..1], SECOND, "second").await.remove(0);
    let book = vigil_e2e::playbooks("");
    let t = now();
    let r = at(&p, &book, t, |_| {}).await;
    taken(&r, &first[0]).await;
    assert_eq!(held(&p, "shop").await, [tasks[0].clone()]);
    let change = stopped_change(
        &p,
        "stopped-0",
        ACCOUNT,
        &tasks[0],
        "service:shop",
        &p.stopped_reason(&tasks[0]).await,
    );
    taken(&r, &change).await;
    assert!(held(&p, "shop").await.is_empty(), "released");
    let confirmed = record_of(&p, &tasks[0], "ACTION#enforce", SHELL).await;
    let stamp = s(&confirmed, "confirmed_at").to_owned();
    assert!(!stamp.is_empty(), "the stop is confirmed on its record");
    taken(&r, &change).await;
    assert!(held(&p, "shop").await.is_empty());
    assert_eq!(
        s(
            &record_of(&p, &tasks[0], "ACTION#enforce", SHELL).await,
            "confirmed_at"
        ),
        stamp
    );

    taken(&r, &second).await;
    let noop = record_of(&p, &tasks[0], "ACTION#enforce", SECOND).await;
    assert_eq!(
        (s(&noop, "outcome"), s(&noop, "phase")),
        ("not_running", "complete")
    );
    assert!(
        !reason(&noop).contains("being stopped by Vigil"),
        "{}",
        reason(&noop)
    );
    taken(&r, &first[1]).await;
    taken(&r, &first[2]).await;
    let last = record_of(&p, &tasks[2], "ACTION#enforce", SHELL).await;
    assert_eq!(
        (s(&last, "outcome"), s(&last, "phase")),
        ("refused", "complete")
    );
    assert!(reason(&last).contains("min_healthy"), "{}", reason(&last));
    assert_eq!(p.stopped(&tasks).await, 2);
    assert_eq!(stop_calls(&p), 2);
    assert_eq!(stops_at(&p, &service_scope(&p, "shop")).await, [t, t]);
    assert_eq!(held(&p, "shop").await, [tasks[1].clone()]);
}

/// The same as for a service's task, for two standalone tasks (no service: counted against their
/// cluster alone, limit 2): a second finding about a task whose stop is pending must neither stop
/// nor count it again, so that the other task's stop still fits under the cluster's limit. (Holds
/// were kept per service only: the task was counted and stopped twice, and the other task's stop
/// refused as `rate_limited`.) The STOPPED change then releases the standalone task's hold.
#[tokio::test]
async fn a_second_finding_on_a_standalone_task_whose_stop_is_pending_does_not_count_it_again() {
    let p = Pipeline::start().await;
    let tasks = p
        .emulator
        .run_tasks(&p.cluster, &p.task_definition, 2, &[])
        .await;
    let first = alerts(&p, &tasks[..1], SHELL, "pending").await.remove(0);
    let second = alerts(&p, &tasks[..1], SECOND, "again").await.remove(0);
    let other = alerts(&p, &tasks[1..2], SHELL, "other").await.remove(0);
    let book = vigil_e2e::playbooks("");
    let limit2: fn(&mut RemediateSettings) = |s| s.guardrails.stop_limit_per_cluster = 2;
    let t = now();
    let crashed = crashing(&p, &book, t, limit2).await;
    assert_eq!(
        crashed
            .process(std::slice::from_ref(&first), Some(ACCOUNT))
            .await,
        [0]
    );
    taken(&at(&p, &book, t + 1, limit2).await, &second).await;
    taken(&at(&p, &book, t + 2, limit2).await, &other).await;
    taken(&at(&p, &book, t + 3, limit2).await, &first).await;
    assert_eq!(
        p.task_status(&tasks[1]).await.1,
        "STOPPED",
        "the other task's stop was refused: {:?}",
        records_of(&p, &tasks[1]).await
    );
    assert_eq!(stop_calls(&p), 2, "one StopTask per task");
    assert_eq!(
        stops_at(&p, &format!("cluster#{}", p.cluster)).await,
        [t, t + 2],
        "each task counted once"
    );
    // Tasks of no service are held under their cluster, as service "".
    let mut both = tasks.clone();
    both.sort();
    assert_eq!(held(&p, "").await, both);
    let change = stopped_change(
        &p,
        "stopped-standalone",
        ACCOUNT,
        &tasks[0],
        "family:shop",
        &p.stopped_reason(&tasks[0]).await,
    );
    taken(&at(&p, &book, t + 4, limit2).await, &change).await;
    assert_eq!(held(&p, "").await, [tasks[1].clone()]);
}

/// A stop decided, held and not made (its StopTask failing), whose message comes back only once the
/// finding is stale (a dead letter redriven after `max_finding_age_seconds`, here the default
/// hour) and its hold has lapsed: the task still runs, so the stop is decided again and refused as
/// stale. The record is settled as that refusal (`complete`, with `lapsed_stop`), not left
/// `acting` for good with the message recorded aside.
#[tokio::test]
async fn a_stale_redelivery_of_a_lapsed_stop_settles_it_as_refused() {
    let p = Pipeline::start().await;
    let tasks = p.service("late", 2).await;
    let events = alerts(&p, &tasks[..1], SHELL, "late").await;
    let t = now();
    let first = crashing(&p, PLAYBOOKS, t, |_| {}).await;
    assert_eq!(first.process(&events, Some(ACCOUNT)).await, [0]);
    let late = t + 2 * 3600;
    taken(&at(&p, PLAYBOOKS, late, |_| {}).await, &events[0]).await;
    let r = record_of(&p, &tasks[0], "ACTION#enforce", SHELL).await;
    assert_eq!(
        (s(&r, "outcome"), s(&r, "phase")),
        ("refused", "complete"),
        "{}",
        reason(&r)
    );
    assert!(reason(&r).contains("last observed"), "{}", reason(&r));
    assert_eq!(decision(&r)["lapsed_stop"]["held_until"], t + HOLD);
    assert_eq!(p.task_status(&tasks[0]).await.1, "RUNNING");
    assert_eq!(stop_calls(&p), 0);
    // Settled: the same message again is a duplicate, and a stale new arrival decides nothing.
    let again = at(&p, PLAYBOOKS, late + 1, |_| {}).await;
    taken(&again, &events[0]).await;
    taken(&again, &with_id(&events[0], "late-again")).await;
    let after = record_of(&p, &tasks[0], "ACTION#enforce", SHELL).await;
    assert_eq!(s(&after, "decided_at"), s(&r, "decided_at"));
    assert_eq!(stop_calls(&p), 0);
}

/// The same stale redelivery while the stop's hold still stands (a hold longer than the findings'
/// age limit): the stop, decided when the finding was fresh and still keeping `min_healthy_tasks`,
/// is carried on as decided and made, once.
#[tokio::test]
async fn a_stale_redelivery_of_a_stop_still_held_carries_it_on() {
    let p = Pipeline::start().await;
    let tasks = p.service("held-late", 2).await;
    let events = alerts(&p, &tasks[..1], SHELL, "held-late").await;
    let t = now();
    let long_hold = |s: &mut RemediateSettings| s.hold_seconds = 3 * 3600;
    let first = crashing(&p, PLAYBOOKS, t, long_hold).await;
    assert_eq!(first.process(&events, Some(ACCOUNT)).await, [0]);
    taken(
        &at(&p, PLAYBOOKS, t + 2 * 3600, long_hold).await,
        &events[0],
    )
    .await;
    let r = record_of(&p, &tasks[0], "ACTION#enforce", SHELL).await;
    assert_eq!(
        (s(&r, "outcome"), s(&r, "phase")),
        ("act", "complete"),
        "{}",
        reason(&r)
    );
    assert!(decision(&r).get("lapsed_stop").is_none());
    assert_eq!(p.stopped(&tasks).await, 1);
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
}
