//! Attacks on the look before the claim: remediate describes the task once before it claims the
//! finding's action record, and a task ECS does not know is recorded aside with no claim. State
//! changes between the look and the claim, redeliveries of crashed attempts after the task left
//! ECS, a throttled look, decoys racing the genuine alert, sequences naming missing tasks and
//! playbooks that never look. Every outcome is read back from ECS and the table.

use aws_smithy_mocks::Rule;
use serde_json::{Value, json};
use vigil_e2e::queue::{
    APPROVALS_QUEUE, APPROVE_SHELLS, REMEDIATE_QUEUE, approval_of, approver, deliver,
};
use vigil_e2e::{ACCOUNT, AttackSequence, PLAYBOOKS, Pipeline, alerts, generous, s, with_id};
use vigil_remediate::{Remediate, RemediateSettings, RemediationMode};

const SHELL: &str = "Terminal shell in container";

mod blind;

use blind::{Ecs, blind_remediate, crash_in, stopped_then_crashed};

/// A remediate function whose ECS answers as `ecs` says (see [`blind_remediate`]).
async fn remediate_on(p: &Pipeline, ecs: Ecs) -> (Remediate, Rule, Rule) {
    remediate_on_with(p, ecs, PLAYBOOKS, generous).await
}

/// [`remediate_on`] with its own playbooks and settings.
async fn remediate_on_with(
    p: &Pipeline,
    ecs: Ecs,
    playbooks: &str,
    adjust: fn(&mut RemediateSettings),
) -> (Remediate, Rule, Rule) {
    let dynamodb = aws_sdk_dynamodb::Client::new(&p.emulator.sdk_config().await);
    blind_remediate(p, ecs, dynamodb, playbooks, adjust).await
}

/// An attempt stopped the task (record `acted`) and crashed before its note and its `Remediation
/// Executed` event. By the time the message comes back, ECS has forgotten the stopped task. Before
/// the look moved ahead of the claim, the redelivery claimed, resumed the stored decision (no ECS
/// call needed) and finished. Now the look comes first: it must not take the stored stop for a
/// finding about a task that is gone. What must hold: the record is completed, the stop is
/// announced exactly once, no second StopTask, and no aside stands in for the real decision.
#[tokio::test]
async fn an_acted_record_is_finished_after_its_task_left_ecs() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let alert = stopped_then_crashed(&p, &tasks, "acted", "acted-gone").await;

    let (r, _described, stops) = remediate_on(&p, Ecs::Forgotten).await;
    let failed = r.process(std::slice::from_ref(&alert), Some(ACCOUNT)).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(stops.num_calls(), 0, "the stop was done: never sent again");
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(
        s(&record, "phase"),
        "complete",
        "the stored stop was left unfinished (never noted, never announced) and the message deleted"
    );
    let executed = p.executed.drain().await;
    assert_eq!(executed.len(), 1, "the stop announced once: {executed:?}");
    assert_eq!(executed[0]["detail"]["outcome"], "act");
    let keys = p.record_keys(&tasks[0]).await;
    assert!(
        !keys.iter().any(|k| k.starts_with("UNSEEN#")),
        "a finding Vigil acted on was recorded aside as unseen: {keys:?}"
    );
}

/// An attempt decided to stop (record `acting`) and crashed before StopTask; the task then left
/// ECS. The redelivery must not delete the message while the decision is unfinished: either the
/// stored decision is resumed (and, StopTask failing for a task ECS no longer knows, the message
/// goes back to its queue and on to its dead-letter queue, where the decision is kept), or it is
/// finished. What must not happen: the message deleted with the record stuck in `acting`.
#[tokio::test]
async fn an_acting_record_is_never_dropped_when_its_task_left_ecs() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let alert = stopped_then_crashed(&p, &tasks, "acting", "acting-gone").await;

    let (r, _described, stops) = remediate_on(&p, Ecs::Forgotten).await;
    let failed = r.process(std::slice::from_ref(&alert), Some(ACCOUNT)).await;
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    let phase = s(&record, "phase").to_owned();
    assert!(
        failed == [0] || phase == "complete",
        "the message was deleted with its decision left `{phase}` (StopTask calls: {})",
        stops.num_calls()
    );
    if failed == [0] {
        assert_eq!(phase, "acting", "the stored decision is kept for the retry");
        assert!(
            record["lease_until"].as_n().unwrap() != "0" || stops.num_calls() <= 1,
            "at most one StopTask per attempt"
        );
    }
}

/// An attempt stopped the task and crashed before announcing it (record `acted`); the redelivery
/// meets a throttled DescribeTasks. Resuming a stored decision needs no look: the throttle must
/// not hold it up (before the change it did not), so the redelivery finishes the job.
#[tokio::test]
async fn a_throttled_look_does_not_hold_up_a_stored_decision() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let alert = stopped_then_crashed(&p, &tasks, "acted", "acted-throttled").await;

    let (r, _described, stops) = remediate_on(&p, Ecs::Throttled).await;
    let failed = r.process(std::slice::from_ref(&alert), Some(ACCOUNT)).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(stops.num_calls(), 0);
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(s(&record, "phase"), "complete");
    assert_eq!(p.executed.drain().await.len(), 1);
}

/// A throttled look at a finding with no stored decision: nothing is decided on it (no claim is
/// left behind, no aside is written as if the task were gone) and the message goes back to its
/// queue; the next delivery, with ECS answering, stops the task exactly once.
#[tokio::test]
async fn a_throttled_look_decides_nothing_and_the_retry_stops_once() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let events = alerts(&p, &tasks[..1], SHELL, "throttled").await;
    let (r, described, stops) = remediate_on(&p, Ecs::Throttled).await;
    assert_eq!(r.process(&events, Some(ACCOUNT)).await, [0]);
    assert!(described.num_calls() >= 1);
    assert_eq!(stops.num_calls(), 0);
    assert!(
        p.record_keys(&tasks[0]).await.is_empty(),
        "a throttled look wrote something: {:?}",
        p.record_keys(&tasks[0]).await
    );
    let real = p.remediate(RemediationMode::Enforce, generous).await;
    assert!(real.process(&events, Some(ACCOUNT)).await.is_empty());
    assert!(real.process(&events, Some(ACCOUNT)).await.is_empty());
    assert_eq!(p.stopped(&tasks).await, 1);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.executed.drain().await.len(), 1);
}

/// A vouched copy of the genuine alert, edited to name a cluster that does not exist, races the
/// genuine alert on two instances, several rounds (each round a new publication of the finding).
/// The decoy looks first and finds nothing: it must write nothing to the finding's real action
/// record (no claim, no release) and must neither take the stop from the genuine alert nor add a
/// second one. What must hold: the task stopped, one StopTask, one `Remediation Executed`, the
/// real record complete with `act`.
#[tokio::test]
async fn a_decoy_on_a_missing_cluster_racing_the_genuine_alert_neither_steals_nor_doubles_the_stop()
{
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let genuine = alerts(&p, &tasks[..1], SHELL, "race").await.remove(0);
    let nowhere = p.cluster.replace("cluster/prod", "cluster/nowhere");
    let decoy = |id: &str| {
        let mut d: Value = serde_json::from_str(&genuine).unwrap();
        d["id"] = json!(id);
        d["detail"]["enrichment"]["task"] = Value::Null;
        d["detail"]["finding"]["resource"]["cluster_arn"] = json!(nowhere);
        d.to_string()
    };
    let a = p.remediate(RemediationMode::Enforce, generous).await;
    let b = p.remediate(RemediationMode::Enforce, generous).await;

    // The decoy alone first: nothing written to the real record.
    p.emulator.reset_api_calls();
    assert!(
        a.process(&[decoy("decoy-0")], Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert_eq!(p.emulator.calls("dynamodb", "UpdateItem"), 0, "no claim");
    assert!(p.enforced_record(&tasks[0]).await.is_none());

    for round in 0..3 {
        let g = with_id(&genuine, &format!("genuine-{round}"));
        let d = decoy(&format!("decoy-{}", round + 1));
        let (fa, fb) = tokio::join!(
            a.process(std::slice::from_ref(&d), Some(ACCOUNT)),
            b.process(std::slice::from_ref(&g), Some(ACCOUNT))
        );
        assert!(fa.is_empty(), "the decoy is not retried: {fa:?}");
        // A genuine arrival meeting another's live claim goes back to its queue; a later
        // delivery finds the job done.
        if !fb.is_empty() {
            assert!(b.process(&[g], Some(ACCOUNT)).await.is_empty());
        }
    }
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    assert_eq!(p.stopped(&tasks).await, 1);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(s(&record, "phase"), "complete");
    assert_eq!(s(&record, "outcome"), "act");
    let executed = p.executed.drain().await;
    assert_eq!(executed.len(), 1, "{executed:?}");
    let keys = p.record_keys(&tasks[0]).await;
    let unseen: Vec<&String> = keys.iter().filter(|k| k.starts_with("UNSEEN#")).collect();
    assert_eq!(unseen.len(), 1, "the decoy's aside, once: {keys:?}");
}

/// Two arrivals of the same finding at once where one instance's ECS says the task is gone and the
/// other's shows it running (state changing between two looks): the one that sees it missing
/// writes only its aside; the one that sees it running stops it once. Redeliveries of both change
/// nothing.
#[tokio::test]
async fn concurrent_looks_one_missing_one_running_stop_once() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let events = alerts(&p, &tasks[..1], SHELL, "split").await;
    let (blind, _, blind_stops) = remediate_on(&p, Ecs::Forgotten).await;
    let real = p.remediate(RemediationMode::Enforce, generous).await;
    let again = with_id(&events[0], "split-again");
    for _ in 0..2 {
        let (fa, fb) = tokio::join!(
            blind.process(std::slice::from_ref(&again), Some(ACCOUNT)),
            real.process(&events, Some(ACCOUNT))
        );
        assert!(fa.is_empty() && fb.is_empty(), "{fa:?} {fb:?}");
    }
    assert_eq!(blind_stops.num_calls(), 0);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.stopped(&tasks).await, 1);
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(s(&record, "phase"), "complete");
    assert_eq!(s(&record, "outcome"), "act");
    assert_eq!(p.executed.drain().await.len(), 1);
}

/// The task is stopped (by someone else) between two publications of the finding: the first
/// stopped-looking arrival decides `not_running` on the real record (not an aside: ECS knows the
/// task), with no StopTask; a replacement task named by a later alert is its own job.
#[tokio::test]
async fn a_task_stopped_before_the_look_is_decided_not_running_on_its_record() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let events = alerts(&p, &tasks[..1], SHELL, "stopped-first").await;
    p.emulator
        .ecs()
        .await
        .stop_task()
        .cluster(&p.cluster)
        .task(&tasks[0])
        .reason("operator")
        .send()
        .await
        .unwrap();
    let r = p.remediate(RemediationMode::Enforce, generous).await;
    p.emulator.reset_api_calls();
    assert!(r.process(&events, Some(ACCOUNT)).await.is_empty());
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    assert_eq!(
        p.emulator.calls("ecs", "DescribeTasks"),
        1,
        "one look, not two"
    );
    let record = p.enforced_record(&tasks[0]).await.expect("a real record");
    assert_eq!(s(&record, "outcome"), "not_running");
    assert!(
        !p.record_keys(&tasks[0])
            .await
            .iter()
            .any(|k| k.starts_with("UNSEEN#"))
    );
    // Another running task of the service, alerted on: stopped once.
    let next = alerts(&p, &tasks[1..2], SHELL, "stopped-next").await;
    assert!(r.process(&next, Some(ACCOUNT)).await.is_empty());
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.task_status(&tasks[1]).await.1, "STOPPED");
}

/// A GuardDuty attack sequence naming one running task and two tasks ECS does not know: the
/// running one is stopped exactly once; the two unknown ones are recorded aside only (no real
/// action record, no StopTask), also when the sequence is delivered again.
#[tokio::test]
async fn a_sequence_naming_missing_tasks_stops_only_the_running_one_once() {
    const STOP_SEQUENCES: &str = "version: 1\nplaybooks:\n  - name: sequence\n    match: {finding_types: [\"AttackSequence:*\"]}\n    actions: [stop_task]\n    mode: enforce\n";
    let p = Pipeline::start().await;
    let shop = p.service("shop", 3).await;
    let seq = AttackSequence::new("seq-look")
        .naming(&shop[..1])
        .build(&p)
        .await;
    let events = p.through_ingest_and_enrich(&[seq]).await;
    assert_eq!(events.len(), 1);
    let named: Vec<String> = serde_json::from_str::<Value>(&events[0]).unwrap()["detail"]
        ["finding"]["sequence"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_arn"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(named.len(), 3, "{named:?}");
    let r = p
        .remediate_with(STOP_SEQUENCES, RemediationMode::Enforce, generous)
        .await;
    assert!(r.process(&events, Some(ACCOUNT)).await.is_empty());
    assert!(
        r.process(&[with_id(&events[0], "seq-look-again")], Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert!(r.process(&events, Some(ACCOUNT)).await.is_empty());
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.stopped(&shop).await, 1);
    assert_eq!(p.task_status(&shop[0]).await.1, "STOPPED");
    for gone in named.iter().filter(|t| **t != shop[0]) {
        let keys = p.record_keys(gone).await;
        assert!(
            !keys.is_empty() && keys.iter().all(|k| k.starts_with("UNSEEN#")),
            "{gone}: {keys:?}"
        );
    }
    assert_eq!(p.executed.drain().await.len(), 1);
}

/// A record-only playbook and a sample finding never look at the task, gone or not: their decision
/// goes to the real record (recorded / refused), with no DescribeTasks; a finding naming no task is
/// recorded aside with no claim.
#[tokio::test]
async fn findings_that_are_not_looked_at_are_decided_on_their_record_without_a_look() {
    const RECORD_ONLY: &str = "version: 1\nplaybooks:\n  - name: keep\n    match: {rules: [\"Terminal shell*\"]}\n    actions: [record]\n    mode: enforce\n";
    let p = Pipeline::start().await;
    let gone = format!(
        "{}/0123456789abcdef0123456789abcdef",
        p.cluster.replace(":cluster/", ":task/")
    );
    let events = alerts(&p, std::slice::from_ref(&gone), SHELL, "record-only").await;
    let r = p
        .remediate_with(RECORD_ONLY, RemediationMode::Enforce, generous)
        .await;
    p.emulator.reset_api_calls();
    assert!(r.process(&events, Some(ACCOUNT)).await.is_empty());
    assert_eq!(p.emulator.calls("ecs", "DescribeTasks"), 0);
    let record = p.enforced_record(&gone).await.expect("the real record");
    assert_eq!(s(&record, "outcome"), "recorded");
    assert_eq!(s(&record, "phase"), "complete");

    // The same finding without its task: nothing to claim, an aside only.
    let mut none: Value = serde_json::from_str(&events[0]).unwrap();
    none["id"] = json!("no-task");
    none["detail"]["enrichment"]["task"] = Value::Null;
    none["detail"]["finding"]["resource"]["task_arn"] = Value::Null;
    p.emulator.reset_api_calls();
    let stopping = p.remediate(RemediationMode::Enforce, generous).await;
    let _ = stopping.process(&[none.to_string()], Some(ACCOUNT)).await;
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    assert_eq!(p.emulator.calls("ecs", "DescribeTasks"), 0);
    assert_eq!(
        p.emulator.calls("dynamodb", "UpdateItem"),
        0,
        "no claim for a finding naming no task"
    );
}

/// An attempt stopped the task and crashed before announcing it (record `acted`). A vouched copy
/// edited to name a cluster that does not exist arrives before the genuine redelivery: its look
/// finds nothing, but the stored decision is there to finish. It may carry the stored decision on
/// (as any copy claiming first did before the look moved ahead), never decide anew: no second
/// StopTask, one `Remediation Executed`, and the genuine redelivery is then a duplicate.
#[tokio::test]
async fn a_decoy_on_a_missing_cluster_after_a_crash_neither_loses_nor_doubles_the_stop() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let alert = stopped_then_crashed(&p, &tasks, "acted", "acted-decoy").await;
    let nowhere = p.cluster.replace("cluster/prod", "cluster/nowhere");
    let mut decoy: Value = serde_json::from_str(&alert).unwrap();
    decoy["id"] = json!("acted-decoy-copy");
    decoy["detail"]["enrichment"]["task"] = Value::Null;
    decoy["detail"]["finding"]["resource"]["cluster_arn"] = json!(nowhere);
    let r = p.remediate(RemediationMode::Enforce, generous).await;
    p.emulator.reset_api_calls();
    let _ = r.process(&[decoy.to_string()], Some(ACCOUNT)).await;
    assert!(
        r.process(std::slice::from_ref(&alert), Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert!(r.process(&[alert], Some(ACCOUNT)).await.is_empty());
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0, "the stop was done");
    assert_eq!(p.stopped(&tasks).await, 1);
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(s(&record, "phase"), "complete");
    assert_eq!(s(&record, "outcome"), "act");
    let executed = p.executed.drain().await;
    assert_eq!(executed.len(), 1, "{executed:?}");
}

/// Approvals against a task that vanished. (1) The proposed task leaves ECS before the analyst
/// approves: the approval stops nothing, writes no enforced record (nothing claimed), is recorded
/// aside and is not retried. (2) Another proposed task is approved and stopped, and the attempt
/// crashes before announcing (enforced record `acted`); ECS then forgets the task and the approval
/// is delivered again: the stored stop must be finished (complete, announced once), not recorded
/// aside as a finding about a task that is gone.
#[tokio::test]
async fn approvals_against_a_vanished_task_stop_nothing_and_lose_no_stored_stop() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let events = alerts(&p, &tasks[..2], SHELL, "approve-gone").await;
    let real = p
        .remediate_with(APPROVE_SHELLS, RemediationMode::Enforce, approver)
        .await;
    for (i, e) in events.iter().enumerate() {
        assert!(
            deliver(&real, &format!("enriched-{i}"), 1, REMEDIATE_QUEUE, e)
                .await
                .is_empty()
        );
    }
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0, "proposals only");
    let (blind, _, blind_stops) =
        remediate_on_with(&p, Ecs::Forgotten, APPROVE_SHELLS, approver).await;

    // (1) Gone before the approval.
    let failed = deliver(
        &blind,
        "approval-0",
        1,
        APPROVALS_QUEUE,
        &approval_of("ap-0", &events[0]),
    )
    .await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(blind_stops.num_calls(), 0);
    assert!(
        p.enforced_record(&tasks[0]).await.is_none(),
        "nothing claimed"
    );
    let keys = p.record_keys(&tasks[0]).await;
    assert!(keys.iter().any(|k| k.starts_with("UNSEEN#")), "{keys:?}");

    // (2) Approved and stopped, crashed before the announcement, then gone.
    let approval = approval_of("ap-1", &events[1]);
    assert!(
        deliver(&real, "approval-1", 1, APPROVALS_QUEUE, &approval)
            .await
            .is_empty()
    );
    assert_eq!(p.task_status(&tasks[1]).await.1, "STOPPED");
    let record = p
        .enforced_record(&tasks[1])
        .await
        .expect("the approved stop");
    assert_eq!(s(&record, "outcome"), "act");
    crash_in(&p, &record, "acted").await;
    p.executed.drain().await;
    let failed = deliver(&blind, "approval-1", 2, APPROVALS_QUEUE, &approval).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(blind_stops.num_calls(), 0);
    let record = p.enforced_record(&tasks[1]).await.unwrap();
    assert_eq!(
        s(&record, "phase"),
        "complete",
        "the approved stop was left unfinished and its approval deleted"
    );
    assert_eq!(p.executed.drain().await.len(), 1);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
}
