//! Decisions that hold under concurrency, decoys and changing state (issue: one decision core):
//! bursts on every task of a service, decoys naming clusters that do not exist, cluster tags, the
//! live service counted, refusals decided again. Every test reads the tasks back from ECS.

use serde_json::{Value, json};
use vigil_e2e::{ACCOUNT, Pipeline, alerts, generous, playbooks, s, stopped_change, with_id};
use vigil_remediate::{Remediate, RemediationMode};

const SHELL: &str = "Terminal shell in container";

/// Two remediate instances at once, each with half the events.
async fn two_instances(a: &Remediate, b: &Remediate, events: &[String]) {
    let left: Vec<String> = events.iter().step_by(2).cloned().collect();
    let right: Vec<String> = events.iter().skip(1).step_by(2).cloned().collect();
    let (fa, fb) = tokio::join!(
        a.process(&left, Some(ACCOUNT)),
        b.process(&right, Some(ACCOUNT))
    );
    assert!(fa.is_empty() && fb.is_empty(), "{fa:?} {fb:?}");
}

#[tokio::test]
async fn a_burst_on_every_task_of_a_service_leaves_min_healthy_running() {
    let p = Pipeline::start().await;
    for (service, n, extra, min) in [
        ("pair", 2, "", 1),
        ("quad", 4, "    min_healthy_tasks: 2\n", 2),
    ] {
        let tasks = p
            .emulator
            .create_service(&p.cluster, service, &p.task_definition, n, &[])
            .await;
        let events = alerts(&p, &tasks, SHELL, service).await;
        assert_eq!(events.len(), tasks.len());
        let book = playbooks(extra);
        let a = p
            .remediate_with(&book, RemediationMode::Enforce, generous)
            .await;
        let b = p
            .remediate_with(&book, RemediationMode::Enforce, generous)
            .await;
        two_instances(&a, &b, &events).await;

        // Read back from ECS: exactly N - min stopped, min still running.
        let stopped = p.stopped(&tasks).await;
        assert_eq!(stopped, tasks.len() - min, "service {service}");
        let held = p.items(&format!("HOLD#{}/{service}", p.cluster)).await;
        assert_eq!(held.len(), 1);
        let held_tasks = held[0]["tasks"].as_m().unwrap();
        assert_eq!(
            held_tasks.len(),
            stopped,
            "each stop held until ECS confirms it"
        );
    }
    let refused: Vec<String> = p
        .action_records()
        .await
        .iter()
        .filter(|r| s(r, "outcome") == "refused")
        .map(|r| s(r, "decision").to_owned())
        .collect();
    assert_eq!(refused.len(), 3);
    assert!(
        refused
            .iter()
            .all(|d| d.contains("\"guardrail\":\"min_healthy\",\"verdict\":\"fail\""))
    );
}

#[tokio::test]
async fn the_stopped_state_change_releases_the_hold() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let events = alerts(&p, &tasks[..1], SHELL, "release").await;
    let remediate = p.remediate(RemediationMode::Enforce, |_| {}).await;
    assert!(remediate.process(&events, Some(ACCOUNT)).await.is_empty());
    let key = format!("HOLD#{}/shop", p.cluster);
    assert_eq!(p.items(&key).await[0]["tasks"].as_m().unwrap().len(), 1);

    let reason = p.stopped_reason(&tasks[0]).await;
    let change = |account: &str| {
        let id = format!("stop-{account}");
        stopped_change(&p, &id, account, &tasks[0], "service:shop", &reason)
    };
    // From an account Vigil does not trust: the hold stays.
    assert!(
        remediate
            .process(&[change("999999999999")], Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert_eq!(p.items(&key).await[0]["tasks"].as_m().unwrap().len(), 1);
    assert!(
        remediate
            .process(&[change(ACCOUNT)], Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert!(p.items(&key).await[0]["tasks"].as_m().unwrap().is_empty());
}

#[tokio::test]
async fn a_decoy_naming_a_cluster_that_is_not_the_tasks_does_not_decide_for_the_genuine_alert() {
    let p = Pipeline::start().await;
    let other = p.emulator.create_cluster("staging").await;
    let tasks = p.service("shop", 3).await;
    let genuine = alerts(&p, &tasks[..1], SHELL, "genuine").await.remove(0);
    let remediate = p.remediate(RemediationMode::Enforce, |_| {}).await;
    // Same finding (same fingerprint, vouched for by the dedup record), but the task is claimed in
    // a cluster that does not exist, or in another cluster that does not run it.
    let nowhere = p.cluster.replace("cluster/prod", "cluster/nowhere");
    for (i, cluster) in [nowhere, other].iter().enumerate() {
        let mut decoy: Value = serde_json::from_str(&genuine).unwrap();
        decoy["id"] = json!(format!("decoy-{i}"));
        decoy["detail"]["enrichment"]["task"] = Value::Null;
        decoy["detail"]["finding"]["resource"]["cluster_arn"] = json!(cluster);
        assert!(
            remediate
                .process(&[decoy.to_string()], Some(ACCOUNT))
                .await
                .is_empty()
        );
    }
    assert_eq!(p.stopped(&tasks).await, 0);
    let unseen = p.items("ACT#").await;
    let asides: Vec<&str> = unseen
        .iter()
        .map(|r| s(r, "sk"))
        .filter(|k| k.starts_with("UNSEEN#"))
        .collect();
    assert_eq!(
        asides.len(),
        1,
        "recorded aside once per finding, task and sender: {asides:?}"
    );

    assert!(
        remediate
            .process(&[genuine], Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert_eq!(
        p.task_status(&tasks[0]).await.1,
        "STOPPED",
        "the genuine alert still acts"
    );
}

/// A finding about a task ECS does not know (gone, or never run) arrives again with every
/// publication of its finding: the look comes before the claim, so each arrival costs the dedup
/// record's read, one DescribeTasks, one read of the action record (a crashed attempt's stored
/// decision is carried on whatever the task looks like) and one conditional write of the aside,
/// and the finding's action record is never written.
#[tokio::test]
async fn a_finding_about_a_task_ecs_does_not_know_costs_no_claim() {
    let p = Pipeline::start().await;
    let gone = format!(
        "{}/0123456789abcdef0123456789abcdef",
        p.cluster.replace(":cluster/", ":task/")
    );
    let alert = alerts(&p, std::slice::from_ref(&gone), SHELL, "gone")
        .await
        .remove(0);
    let remediate = p.remediate(RemediationMode::Enforce, |_| {}).await;
    p.emulator.reset_api_calls();
    // The first publication, two later ones (new events) and a redelivery of the first.
    let arrivals = [
        alert.clone(),
        with_id(&alert, "gone-10th"),
        with_id(&alert, "gone-100th"),
        alert.clone(),
    ];
    for event in &arrivals {
        assert!(
            remediate
                .process(std::slice::from_ref(event), Some(ACCOUNT))
                .await
                .is_empty()
        );
    }
    assert_eq!(p.emulator.calls("ecs", "DescribeTasks"), 4);
    assert_eq!(
        p.emulator.calls("dynamodb", "GetItem"),
        8,
        "the dedup record, and the action record (no stored decision to carry on)"
    );
    assert_eq!(
        p.emulator.calls("dynamodb", "PutItem"),
        4,
        "the aside, written once"
    );
    assert_eq!(
        p.emulator.calls("dynamodb", "UpdateItem"),
        0,
        "no claim and no release"
    );
    let records = p.items("ACT#").await;
    let keys: Vec<&str> = records.iter().map(|r| s(r, "sk")).collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with("UNSEEN#enforce#"), "{keys:?}");
    assert_eq!(s(&records[0], "outcome"), "not_running");
}

#[tokio::test]
async fn a_protect_tag_on_the_cluster_protects_every_task_in_it() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    p.protect(&p.cluster).await;
    let events = alerts(&p, &tasks[..2], SHELL, "cluster-tag").await;
    let remediate = p.remediate(RemediationMode::Enforce, |_| {}).await;
    assert!(remediate.process(&events, Some(ACCOUNT)).await.is_empty());
    assert_eq!(p.stopped(&tasks).await, 0);
    for r in p.action_records().await {
        let d: Value = serde_json::from_str(s(&r, "decision")).unwrap();
        assert!(
            d["reason"]
                .as_str()
                .unwrap()
                .starts_with("protected: cluster tag vigil:protected=true"),
            "{d}"
        );
    }
}

#[tokio::test]
async fn stop_limits_count_the_service_ecs_reports_not_the_one_claimed() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 4).await;
    let events = alerts(&p, &tasks[..2], SHELL, "live-facts").await;
    // The first claims another service; the second comes without enrichment at all.
    let mut claimed: Value = serde_json::from_str(&events[0]).unwrap();
    claimed["detail"]["enrichment"]["task"]["service_name"] = json!("decoy-svc");
    let mut bare: Value = serde_json::from_str(&events[1]).unwrap();
    bare["detail"]["enrichment"]["task"] = Value::Null;
    let remediate = p.remediate(RemediationMode::Enforce, |_| {}).await;
    let bodies = [claimed.to_string(), bare.to_string()];
    assert!(remediate.process(&bodies, Some(ACCOUNT)).await.is_empty());
    assert_eq!(p.stopped(&tasks).await, 2);
    let counters = p.items("RATE#").await;
    let keys: Vec<&str> = counters.iter().map(|c| s(c, "pk")).collect();
    let service = format!("RATE#service#{}/shop", p.cluster);
    let on_service: Vec<_> = counters.iter().filter(|c| s(c, "pk") == service).collect();
    assert_eq!(on_service.len(), 1, "{keys:?}");
    assert_eq!(on_service[0]["stops_at"].as_l().unwrap().len(), 2);
    assert!(!keys.iter().any(|k| k.contains("decoy-svc")), "{keys:?}");
}

#[tokio::test]
async fn a_refusal_is_decided_again_when_the_finding_next_arrives_and_an_act_is_final() {
    let p = Pipeline::start().await;
    let tasks = p
        .emulator
        .run_tasks(
            &p.cluster,
            &p.task_definition,
            1,
            &[("vigil:protected", "true")],
        )
        .await;
    let event = alerts(&p, &tasks, SHELL, "retry").await.remove(0);
    let remediate = p.remediate(RemediationMode::Enforce, |_| {}).await;
    assert!(
        remediate
            .process(std::slice::from_ref(&event), Some(ACCOUNT))
            .await
            .is_empty()
    );
    // A redelivery of the same event is not a new arrival.
    assert!(
        remediate
            .process(std::slice::from_ref(&event), Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert_eq!(p.executed.drain().await.len(), 1);
    assert_eq!(s(&p.action_records().await[0], "outcome"), "refused");

    // The state that caused the refusal changes; the finding arrives again.
    p.emulator
        .ecs()
        .await
        .untag_resource()
        .resource_arn(&tasks[0])
        .tag_keys("vigil:protected")
        .send()
        .await
        .unwrap();
    assert!(
        remediate
            .process(&[with_id(&event, "again-1")], Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    assert_eq!(s(&p.action_records().await[0], "outcome"), "act");
    // An act is final: a later arrival decides nothing.
    assert!(
        remediate
            .process(&[with_id(&event, "again-2")], Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.executed.drain().await.len(), 1);
}

#[tokio::test]
async fn a_stop_over_the_limit_is_made_when_the_finding_arrives_after_the_window() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 4).await;
    let events = alerts(&p, &tasks[..2], SHELL, "window").await;
    // The window slides from the first stop: a second later is inside it, 61 seconds later is not.
    let now =
        chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp() / 60 * 60, 0).unwrap();
    let first = limited_to_one(&p, now, 0).await;
    assert!(first.process(&events, Some(ACCOUNT)).await.is_empty());
    assert_eq!(p.stopped(&tasks).await, 1);
    let limited: Vec<_> = p
        .action_records()
        .await
        .into_iter()
        .filter(|r| s(r, "outcome") == "rate_limited")
        .collect();
    assert_eq!(limited.len(), 1);
    let limited_task = s(&limited[0], "task_arn").to_owned();
    let again = events
        .iter()
        .find(|e| e.contains(&limited_task))
        .map(|e| with_id(e, "after-window"))
        .unwrap();
    // Still inside the window: recorded again as rate-limited, nothing stopped.
    assert!(
        limited_to_one(&p, now, 1)
            .await
            .process(&[with_id(&again, "inside-window")], Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert_eq!(p.stopped(&tasks).await, 1);
    // After the window: decided again and made.
    assert!(
        limited_to_one(&p, now, 61)
            .await
            .process(&[again], Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert_eq!(p.task_status(&limited_task).await.1, "STOPPED");
    assert_eq!(p.stopped(&tasks).await, 2);
}

/// The window slides: one stop a minute means one in any minute, not one per clock minute. A stop
/// in the last second of a minute leaves no stop for the first seconds of the next.
#[tokio::test]
async fn a_stop_limit_holds_across_the_turn_of_the_clock() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 4).await;
    let events = alerts(&p, &tasks[..2], SHELL, "turn").await;
    let minute = chrono::Utc::now().timestamp() / 60 * 60;
    let now = chrono::DateTime::from_timestamp(minute + 59, 0).unwrap();
    assert!(
        limited_to_one(&p, now, 0)
            .await
            .process(&events, Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert_eq!(p.stopped(&tasks).await, 1);
    let limited = p
        .action_records()
        .await
        .into_iter()
        .find(|r| s(r, "outcome") == "rate_limited")
        .map(|r| s(&r, "task_arn").to_owned())
        .unwrap();
    let again = events.iter().find(|e| e.contains(&limited)).unwrap();
    // Two seconds later, in the next clock minute: still rate-limited.
    assert!(
        limited_to_one(&p, now, 2)
            .await
            .process(&[with_id(again, "next-minute")], Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert_eq!(p.stopped(&tasks).await, 1);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    let record = p
        .action_records()
        .await
        .into_iter()
        .find(|r| s(r, "task_arn") == limited)
        .unwrap();
    assert_eq!(s(&record, "outcome"), "rate_limited");
    assert!(
        s(&record, "decision").contains("1 stops already in the last 60 s"),
        "{record:?}"
    );
    // A minute after the stop: made.
    assert!(
        limited_to_one(&p, now, 60)
            .await
            .process(&[with_id(again, "a-minute-on")], Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert_eq!(p.task_status(&limited).await.1, "STOPPED");
    assert_eq!(p.stopped(&tasks).await, 2);
}

/// One stop per service a minute, with the clock at `now + offset` seconds.
async fn limited_to_one(
    p: &Pipeline,
    now: chrono::DateTime<chrono::Utc>,
    offset: i64,
) -> Remediate {
    let clock: vigil_remediate::Clock =
        std::sync::Arc::new(move || now + chrono::Duration::seconds(offset));
    p.remediate(RemediationMode::Enforce, |s| {
        s.guardrails.stop_limit_per_service = 1;
        s.guardrails.stop_limit_window_seconds = 60;
    })
    .await
    .with_clock(clock)
}

/// The documented GuardDuty attack sequence fixture, about this pipeline's cluster and the given
/// tasks (the fixture's three, in order), with their containers' runtime ids, seen just now.
async fn attack_sequence(p: &Pipeline, tasks: &[String]) -> Value {
    let mut text = include_str!("../../samples/guardduty-attack-sequence-ecs.json")
        .replace("111122223333", ACCOUNT)
        .replace("us-west-2", "us-east-1")
        .replace("cluster/shop-prod", "cluster/prod")
        .replace("task/shop-prod/", "task/prod/");
    let fixture_tasks = [
        "0a1b2c3d4e5f40718293a4b5c6d7e8f9",
        "1b2c3d4e5f60718293a4b5c6d7e8f90a",
        "2c3d4e5f60718293a4b5c6d7e8f90a1b",
    ];
    let fixture_containers = [
        "3e1f6a2b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f",
        "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f3e1f6a2b9c8d7e6f5a4b3c2d1e0f",
    ];
    for (i, task) in tasks.iter().enumerate() {
        let id = task.rsplit('/').next().unwrap();
        text = text.replace(fixture_tasks[i], id);
        if let Some(container) = fixture_containers.get(i) {
            let runtime = p.emulator.runtime_id(&p.cluster, task, "app").await;
            text = text.replace(container, &runtime);
        }
    }
    // Every time in the fixture, now: remediation refuses findings older than its age limit.
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let times = fixture_times(&text);
    for t in times {
        text = text.replace(&t, &now);
    }
    serde_json::from_str(&text).unwrap()
}

/// The ISO-8601 UTC times in `text` (`2025-…Z`).
fn fixture_times(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("\"2025-") {
        let tail = &rest[i + 1..];
        let end = tail.find('"').unwrap();
        out.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

#[tokio::test]
async fn an_attack_sequence_is_decided_per_task_and_the_shipped_playbooks_only_propose() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 4).await;
    let sequence = attack_sequence(&p, &tasks[..3]).await;
    let events = p.through_ingest_and_enrich(&[sequence]).await;
    assert_eq!(events.len(), 1, "one finding per sequence");

    // The shipped playbooks propose a stop of each task, for an analyst to approve, and stop
    // nothing by themselves.
    let shipped = include_str!("../../playbooks/vigil/playbooks.yaml");
    let remediate = p
        .remediate_with(shipped, RemediationMode::Enforce, |_| {})
        .await;
    assert!(remediate.process(&events, Some(ACCOUNT)).await.is_empty());
    assert_eq!(p.stopped(&tasks).await, 0);
    let records = p.action_records().await;
    let recorded: Vec<&str> = records.iter().map(|r| s(r, "outcome")).collect();
    assert_eq!(
        recorded, ["awaiting_approval"; 3],
        "one decision per named task"
    );
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    assert!(
        p.items("RATE#").await.is_empty(),
        "a proposal counts no stop"
    );

    // A playbook that stops on sequences decides each task on its own: the service keeps
    // min_healthy_tasks, so 3 of its 4 tasks stop, each once.
    let stopping = "version: 1\nplaybooks:\n  - name: sequence\n    match: {finding_types: [\"AttackSequence:*\"]}\n    actions: [stop_task]\n    mode: enforce\n";
    let remediate = p
        .remediate_with(stopping, RemediationMode::Enforce, generous)
        .await;
    assert!(remediate.process(&events, Some(ACCOUNT)).await.is_empty());
    assert!(remediate.process(&events, Some(ACCOUNT)).await.is_empty());
    for task in &tasks[..3] {
        assert_eq!(p.task_status(task).await.1, "STOPPED", "{task}");
    }
    assert_eq!(p.task_status(&tasks[3]).await.1, "RUNNING");
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 3);
}
