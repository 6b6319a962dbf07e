//! Attacks on the path to StopTask: concurrent, forged, foreign, replayed and decoy events, and
//! malformed hold items, each against the emulator. Every outcome is read back from ECS.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use vigil_e2e::{
    ACCOUNT, Pipeline, alerts, falco, generous, playbooks, s, stopped_change, with_id,
};
use vigil_remediate::{Remediate, RemediationMode};
use vigil_testkit::TABLE_NAME;

const SHELL: &str = "Terminal shell in container";
const SHELL_2: &str = "Terminal shell in container (second rule)";

/// A change made to a copy of a genuine event.
type Twist = Box<dyn Fn(&mut Value)>;
/// The `tasks` attribute of a malformed hold item, given the service's tasks.
type TasksAttr = Box<dyn Fn(&[String]) -> AttributeValue>;

fn tampered(event: &str, id: &str, f: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(event).unwrap();
    v["id"] = json!(id);
    f(&mut v);
    v.to_string()
}

/// The service's tasks ECS shows RUNNING and desired RUNNING.
async fn running(p: &Pipeline, tasks: &[String]) -> usize {
    let mut n = 0;
    for t in tasks {
        if p.task_status(t).await == ("RUNNING".to_owned(), "RUNNING".to_owned()) {
            n += 1;
        }
    }
    n
}

/// `sk outcome reason` of every action record and record set aside.
async fn reasons(p: &Pipeline) -> Vec<String> {
    p.action_records()
        .await
        .iter()
        .map(|r| {
            let d: Value = serde_json::from_str(s(r, "decision")).unwrap_or_default();
            format!(
                "{} {} {}",
                s(r, "sk"),
                s(r, "outcome"),
                d["reason"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

async fn put_item(p: &Pipeline, item: Vec<(&str, AttributeValue)>) {
    let mut req = aws_sdk_dynamodb::Client::new(&p.emulator.sdk_config().await)
        .put_item()
        .table_name(TABLE_NAME);
    for (k, v) in item {
        req = req.item(k, v);
    }
    req.send().await.unwrap();
}

/// Three instances, many findings on every task of three services at once: two fingerprints per
/// task, each event delivered twice (once to two instances at the same moment). Every service keeps
/// its `min_healthy_tasks`, read from ECS, and once the returned messages are retried exactly
/// `N - min` tasks of each are stopped.
#[tokio::test]
async fn three_instances_racing_on_every_task_of_three_services_keep_min_healthy() {
    let p = Pipeline::start().await;
    let mut services = Vec::new();
    for (name, n) in [("pair", 2), ("trio", 3), ("quad", 4)] {
        let tasks = p
            .emulator
            .create_service(&p.cluster, name, &p.task_definition, n, &[])
            .await;
        services.push((name, tasks));
    }
    let mut events = Vec::new();
    for (name, tasks) in &services {
        events.extend(alerts(&p, tasks, SHELL, &format!("{name}-a")).await);
        events.extend(alerts(&p, tasks, SHELL_2, &format!("{name}-b")).await);
    }
    // Interleave services, then deliver each event twice.
    fastrand::seed(15);
    fastrand::shuffle(&mut events);
    let book = playbooks("");
    let a = p
        .remediate_with(&book, RemediationMode::Enforce, generous)
        .await;
    let b = p
        .remediate_with(&book, RemediationMode::Enforce, generous)
        .await;
    let c = p
        .remediate_with(&book, RemediationMode::Enforce, generous)
        .await;
    let third = |k: usize| -> Vec<String> { events.iter().skip(k).step_by(3).cloned().collect() };
    // a and b both get the same third at the same time; c gets the others twice over.
    let (ea, eb, ec) = (third(0), third(0), [third(1), third(2)].concat());
    let (fa, fb, fc) = tokio::join!(
        a.process(&ea, Some(ACCOUNT)),
        b.process(&eb, Some(ACCOUNT)),
        c.process(&ec, Some(ACCOUNT))
    );
    for (name, tasks) in &services {
        assert!(
            running(&p, tasks).await >= 1,
            "service {name} below min_healthy after the race"
        );
    }
    // What was returned to the queue is delivered again until nothing is.
    let mut again: Vec<String> = fa
        .iter()
        .map(|&i| ea[i].clone())
        .chain(fb.iter().map(|&i| eb[i].clone()))
        .chain(fc.iter().map(|&i| ec[i].clone()))
        .collect();
    for _ in 0..5 {
        if again.is_empty() {
            break;
        }
        let failed = a.process(&again, Some(ACCOUNT)).await;
        again = failed.iter().map(|&i| again[i].clone()).collect();
    }
    assert!(again.is_empty());
    for (name, tasks) in &services {
        assert_eq!(running(&p, tasks).await, 1, "service {name}");
    }
}

/// A hold reserved by an instance that has decided but not yet called StopTask (the task is still
/// RUNNING) survives STOPPED state changes that ECS did not send for it: a foreign account, a
/// marker for another finding, a group naming another service, and a trusted-looking change for a
/// task ECS still runs. A decision on the service's other task then still counts the held one.
#[tokio::test]
async fn forged_stopped_changes_do_not_release_a_hold_whose_task_still_runs() {
    let p = Pipeline::start().await;
    let tasks = p.service("pair", 2).await;
    let key = format!("HOLD#{}/pair", p.cluster);
    let until = chrono::Utc::now().timestamp() + 600;
    put_item(
        &p,
        vec![
            ("pk", AttributeValue::S(key.clone())),
            ("sk", AttributeValue::S("STOPS".into())),
            (
                "tasks",
                AttributeValue::M(
                    [(tasks[0].clone(), AttributeValue::N(until.to_string()))].into(),
                ),
            ),
            ("version", AttributeValue::N("1".into())),
            ("expires_at", AttributeValue::N(until.to_string())),
        ],
    )
    .await;
    let remediate = p
        .remediate_with(&playbooks(""), RemediationMode::Enforce, generous)
        .await;
    let marker = format!("Vigil shell [vigil:v1-{}]", "f".repeat(64));
    let forged = [
        stopped_change(&p, "f1", "999999999999", &tasks[0], "service:pair", &marker),
        stopped_change(
            &p,
            "f2",
            ACCOUNT,
            &tasks[0],
            "service:pair",
            "Scaling activity",
        ),
        stopped_change(&p, "f3", ACCOUNT, &tasks[0], "service:other", &marker),
        // The trusted account, Vigil's marker, the right group: but ECS still runs the task.
        stopped_change(&p, "f4", ACCOUNT, &tasks[0], "service:pair", &marker),
    ];
    for change in &forged {
        assert!(
            remediate
                .process(std::slice::from_ref(change), Some(ACCOUNT))
                .await
                .is_empty()
        );
        let held = p.items(&key).await;
        assert!(
            held[0]["tasks"].as_m().unwrap().contains_key(&tasks[0]),
            "hold released by {change}"
        );
    }
    let event = alerts(&p, &tasks[1..], SHELL, "other").await.remove(0);
    assert!(remediate.process(&[event], Some(ACCOUNT)).await.is_empty());
    assert_eq!(
        p.task_status(&tasks[1]).await.1,
        "RUNNING",
        "the held task still counts as stopping"
    );
    let r = p
        .action_records()
        .await
        .into_iter()
        .find(|r| s(r, "task_arn") == tasks[1])
        .unwrap();
    assert_eq!(s(&r, "outcome"), "refused");
}

/// Replays of the genuine finding with new EventBridge ids: a refusal for the last task stays a
/// refusal however often (and however concurrently) it is replayed, an act is never reopened nor
/// stopped twice, and a replay carrying an old `last_observed_at` is refused as stale even once the
/// refusing state is gone.
#[tokio::test]
async fn replays_with_new_ids_never_stop_what_should_not_be_stopped() {
    let p = Pipeline::start().await;
    let tasks = p.service("pair", 2).await;
    let events = alerts(&p, &tasks, SHELL, "replay").await;
    let a = p
        .remediate_with(&playbooks(""), RemediationMode::Enforce, generous)
        .await;
    let b = p
        .remediate_with(&playbooks(""), RemediationMode::Enforce, generous)
        .await;
    assert!(a.process(&events, Some(ACCOUNT)).await.is_empty());
    assert_eq!(running(&p, &tasks).await, 1);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    let acted = p
        .action_records()
        .await
        .into_iter()
        .find(|r| s(r, "outcome") == "act")
        .unwrap();
    let acted_task = s(&acted, "task_arn").to_owned();
    let acted_event = s(&acted, "decided_event").to_owned();
    let acted_body = events.iter().find(|e| e.contains(&acted_task)).unwrap();
    let refused_body = events.iter().find(|e| !e.contains(&acted_task)).unwrap();
    let last = tasks.iter().find(|t| **t != acted_task).unwrap();

    for round in 0..3 {
        let left: Vec<String> = (0..3)
            .map(|i| with_id(refused_body, &format!("r{round}-a{i}")))
            .chain([with_id(acted_body, &format!("r{round}-act-a"))])
            .collect();
        let right: Vec<String> = (0..3)
            .map(|i| with_id(refused_body, &format!("r{round}-b{i}")))
            .chain([with_id(acted_body, &format!("r{round}-act-b"))])
            .collect();
        let (fa, fb) = tokio::join!(
            a.process(&left, Some(ACCOUNT)),
            b.process(&right, Some(ACCOUNT))
        );
        let _ = (fa, fb);
        assert_eq!(p.task_status(last).await.1, "RUNNING", "round {round}");
    }
    assert_eq!(
        p.emulator.calls("ecs", "StopTask"),
        1,
        "an act is never made twice"
    );
    let acted = p
        .action_records()
        .await
        .into_iter()
        .find(|r| s(r, "task_arn") == acted_task && s(r, "sk").starts_with("ACTION#"))
        .unwrap_or(acted);
    assert_eq!(
        s(&acted, "decided_event"),
        acted_event,
        "an act is not reopened"
    );

    // A refusal whose cause goes away (the task's protect tag is removed): an archived copy of
    // the finding with its old observation time is refused as stale and stops nothing; only a
    // fresh arrival of the finding is decided on the state of now.
    let trio = p.service("trio", 3).await;
    let ecs = p.emulator.ecs().await;
    p.protect(&trio[0]).await;
    let protected = alerts(&p, &trio[..1], SHELL, "protected").await.remove(0);
    assert!(
        a.process(std::slice::from_ref(&protected), Some(ACCOUNT))
            .await
            .is_empty()
    );
    ecs.untag_resource()
        .resource_arn(&trio[0])
        .tag_keys("vigil:protected")
        .send()
        .await
        .unwrap();
    let stale = tampered(&protected, "stale", |v| {
        v["detail"]["finding"]["last_observed_at"] = json!("2020-01-01T00:00:00Z");
    });
    let (left, right) = ([stale.clone()], [with_id(&stale, "stale-2")]);
    let (fa, fb) = tokio::join!(
        a.process(&left, Some(ACCOUNT)),
        b.process(&right, Some(ACCOUNT))
    );
    assert!(fa.is_empty() && fb.is_empty());
    assert_eq!(p.task_status(&trio[0]).await.1, "RUNNING");
    // Refused as stale before any look at the task, recorded aside: the real record keeps its
    // refusal for a fresh arrival to reopen.
    let records = p.action_records().await;
    let reasons: Vec<String> = records
        .iter()
        .map(|r| {
            let d: Value = serde_json::from_str(s(r, "decision")).unwrap_or_default();
            format!(
                "{} {}",
                s(r, "sk"),
                d["reason"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("UNTRUSTED#") && r.contains(" fresh")),
        "{reasons:?}"
    );
    let real = records
        .iter()
        .find(|r| s(r, "task_arn") == trio[0] && s(r, "sk").starts_with("ACTION#"))
        .unwrap();
    assert_eq!(s(real, "outcome"), "refused");
    assert!(
        a.process(&[with_id(&protected, "fresh")], Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert_eq!(p.task_status(&trio[0]).await.1, "STOPPED");
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 2);
}

/// Copies of a genuine finding (same fingerprint, vouched for by the dedup record) with tampered
/// enrichment: another service, another cluster given by name, the task's protect tag stripped, a
/// running count claimed, no enrichment at all, a task ARN in another account, a bare task id and
/// an upper-cased ARN. None stops the protected task or the last task of a service, none stops
/// anything below min_healthy, and none keeps the genuine alert on a stoppable task from acting.
#[tokio::test]
async fn decoys_with_tampered_enrichment_dodge_no_guardrail_and_pin_nothing() {
    let p = Pipeline::start().await;
    let solo = p.service("solo", 1).await;
    let guarded = p.service("guarded", 3).await;
    let duo = p.service("duo", 2).await;
    p.protect(&guarded[0]).await;
    let targets = [solo[0].clone(), guarded[0].clone(), duo[0].clone()];
    let genuine = alerts(&p, &targets, SHELL, "genuine").await;
    assert_eq!(genuine.len(), 3);
    let remediate = p
        .remediate_with(&playbooks(""), RemediationMode::Enforce, generous)
        .await;
    let cluster_name = "prod";
    let foreign = |arn: &str| arn.replace(ACCOUNT, "999999999999");
    let bare = |arn: &str| arn.rsplit('/').next().unwrap().to_owned();
    let mut decoys = Vec::new();
    for (n, event) in genuine.iter().enumerate() {
        let task = targets[n].clone();
        let twists: Vec<Twist> = vec![
            Box::new(|v| v["detail"]["enrichment"]["task"]["service_name"] = json!("elsewhere")),
            Box::new(|v| v["detail"]["enrichment"]["task"]["group"] = json!("service:elsewhere")),
            Box::new(move |v| {
                v["detail"]["enrichment"]["task"]["cluster_arn"] = json!(cluster_name)
            }),
            Box::new(|v| v["detail"]["enrichment"]["task"]["tags"] = json!({})),
            Box::new(|v| v["detail"]["enrichment"]["task"]["running_count"] = json!(50)),
            Box::new(|v| v["detail"]["enrichment"]["task"] = Value::Null),
            Box::new(|v| {
                v["detail"]["enrichment"]["task"] = Value::Null;
                v["detail"]["finding"]["resource"]["cluster_arn"] = json!("prod");
            }),
            Box::new(|v| {
                v["detail"]["enrichment"]["task"] = Value::Null;
                v["detail"]["finding"]["resource"]["cluster_arn"] = json!("PROD");
            }),
            {
                let t = foreign(&task);
                Box::new(move |v| v["detail"]["enrichment"]["task"]["task_arn"] = json!(t))
            },
            {
                let t = bare(&task);
                Box::new(move |v| v["detail"]["enrichment"]["task"]["task_arn"] = json!(t))
            },
            {
                let t = task.to_uppercase();
                Box::new(move |v| v["detail"]["enrichment"]["task"]["task_arn"] = json!(t))
            },
        ];
        for (i, twist) in twists.iter().enumerate() {
            decoys.push(tampered(event, &format!("decoy-{n}-{i}"), |v| twist(v)));
        }
    }
    let failed = remediate.process(&decoys, Some(ACCOUNT)).await;
    assert!(failed.is_empty(), "{failed:?}");
    let reasons = reasons(&p).await;
    // Only the three genuine (finding, task) records exist; every other copy was set aside.
    let real: Vec<&String> = reasons
        .iter()
        .filter(|r| r.starts_with("ACTION#"))
        .collect();
    assert_eq!(real.len(), 3, "{reasons:?}");
    for expected in [
        "task account 999999999999",
        "identity_mismatch",
        "ECS does not know the cluster PROD",
    ] {
        assert!(
            reasons
                .iter()
                .any(|r| !r.starts_with("ACTION#") && r.contains(expected)),
            "{expected}: {reasons:?}"
        );
    }
    assert_eq!(running(&p, &solo).await, 1, "the last task of solo");
    assert_eq!(
        p.task_status(&guarded[0]).await.1,
        "RUNNING",
        "the protected task"
    );
    assert!(running(&p, &guarded).await >= 2);
    assert!(running(&p, &duo).await >= 1);

    // The genuine alerts: the stoppable task still stops, the others still refuse.
    let again: Vec<String> = genuine
        .iter()
        .enumerate()
        .map(|(i, e)| with_id(e, &format!("genuine-again-{i}")))
        .collect();
    assert!(remediate.process(&genuine, Some(ACCOUNT)).await.is_empty());
    assert!(remediate.process(&again, Some(ACCOUNT)).await.is_empty());
    assert_eq!(
        p.task_status(&duo[0]).await.1,
        "STOPPED",
        "the genuine alert acts"
    );
    assert_eq!(running(&p, &solo).await, 1);
    assert_eq!(p.task_status(&guarded[0]).await.1, "RUNNING");
    assert_eq!(running(&p, &duo).await, 1);
}

/// A Falco alert that names its task by bare id (not an ARN), through ingest and enrich: the
/// last task of a service must not be stopped because the id does not compare equal to the ARN
/// ECS lists.
#[tokio::test]
async fn an_alert_naming_a_bare_task_id_does_not_stop_the_last_task() {
    let p = Pipeline::start().await;
    let solo = p.service("solo", 1).await;
    let id = solo[0].rsplit('/').next().unwrap().to_owned();
    let upper = solo[0].to_uppercase();
    let events = p
        .enriched(&[
            ("bare", id.as_str(), SHELL),
            ("upper", upper.as_str(), SHELL),
        ])
        .await;
    let remediate = p
        .remediate_with(&playbooks(""), RemediationMode::Enforce, generous)
        .await;
    // Also without enrichment, so the finding's own task field is the one acted on.
    let mut bodies = events.clone();
    for (i, e) in events.iter().enumerate() {
        bodies.push(tampered(e, &format!("unenriched-{i}"), |v| {
            v["detail"]["enrichment"]["task"] = Value::Null;
        }));
    }
    assert!(remediate.process(&bodies, Some(ACCOUNT)).await.is_empty());
    let reasons = reasons(&p).await;
    assert!(
        !reasons.iter().any(|r| r.starts_with("ACTION#")),
        "only set aside: {reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("trusted_account")),
        "{reasons:?}"
    );
    assert_eq!(
        p.task_status(&solo[0]).await.1,
        "RUNNING",
        "the last task of the service"
    );
    for h in p.items("HOLD#").await {
        for t in h["tasks"].as_m().unwrap().keys() {
            assert!(t.starts_with("arn:aws:ecs:"), "a hold on {t}");
        }
    }
}

/// In dry run, by the deployment's switch or the playbook's own mode, a burst on every task takes
/// no hold and no counter and stops nothing.
#[tokio::test]
async fn dry_run_takes_no_hold_no_counter_and_stops_nothing() {
    let p = Pipeline::start().await;
    let tasks = p.service("trio", 3).await;
    let events = alerts(&p, &tasks, SHELL, "dry").await;
    let capped = p
        .remediate_with(&playbooks(""), RemediationMode::DryRun, generous)
        .await;
    assert!(capped.process(&events, Some(ACCOUNT)).await.is_empty());
    let own = playbooks("").replace("mode: enforce", "mode: dry_run");
    let playbook_dry = p
        .remediate_with(&own, RemediationMode::Enforce, generous)
        .await;
    let again: Vec<String> = events
        .iter()
        .enumerate()
        .map(|(i, e)| with_id(e, &format!("dry-again-{i}")))
        .collect();
    assert!(playbook_dry.process(&again, Some(ACCOUNT)).await.is_empty());
    assert_eq!(running(&p, &tasks).await, 3);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    assert!(p.items("HOLD#").await.is_empty());
    assert!(p.items("RATE#").await.is_empty());
    // A dry-run record is final: the enforce function that follows decides on its own key.
    let enforce = p
        .remediate_with(&playbooks(""), RemediationMode::Enforce, generous)
        .await;
    assert!(
        enforce
            .process(&events[..1], Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert_eq!(running(&p, &tasks).await, 2);
}

/// Hold items that are not what Vigil writes (a `tasks` that is not a map, held times that are not
/// numbers, a version too big for a number, the largest version there is): no panic, and no stop
/// that leaves the service below min_healthy.
#[tokio::test]
async fn malformed_hold_items_neither_panic_nor_unlock_a_stop() {
    let p = Pipeline::start().await;
    let key = |svc: &str| format!("HOLD#{}/{svc}", p.cluster);
    let item = |svc: &str, tasks: AttributeValue, version: &str| {
        vec![
            ("pk", AttributeValue::S(key(svc))),
            ("sk", AttributeValue::S("STOPS".into())),
            ("tasks", tasks),
            ("version", AttributeValue::N(version.into())),
        ]
    };
    let cases: Vec<(&str, TasksAttr, &str)> = vec![
        (
            "s-string",
            Box::new(|_| AttributeValue::S("junk".into())),
            "3",
        ),
        (
            "s-list",
            Box::new(|_| AttributeValue::L(vec![AttributeValue::S("x".into())])),
            "3",
        ),
        (
            "s-huge",
            Box::new(|_| AttributeValue::M(Default::default())),
            "99999999999999999999999999",
        ),
        (
            "s-max",
            Box::new(|_| AttributeValue::M(Default::default())),
            "9223372036854775807",
        ),
        (
            "s-negative",
            Box::new(|_| AttributeValue::M(Default::default())),
            "-5",
        ),
        (
            "s-fraction",
            Box::new(|_| AttributeValue::M(Default::default())),
            "1.5",
        ),
    ];
    let remediate = p
        .remediate_with(&playbooks(""), RemediationMode::Enforce, generous)
        .await;
    for (svc, tasks_attr, version) in &cases {
        let tasks = p
            .emulator
            .create_service(&p.cluster, svc, &p.task_definition, 2, &[])
            .await;
        put_item(&p, item(svc, tasks_attr(&tasks), version)).await;
        let events = alerts(&p, &tasks, SHELL, svc).await;
        // Both tasks at once, then each again: at most one of the two may stop.
        let _ = remediate.process(&events, Some(ACCOUNT)).await;
        let again: Vec<String> = events
            .iter()
            .enumerate()
            .map(|(i, e)| with_id(e, &format!("{svc}-again-{i}")))
            .collect();
        let _ = remediate.process(&again, Some(ACCOUNT)).await;
        assert!(running(&p, &tasks).await >= 1, "service {svc}");
    }
}

/// A finding that names a task of another account in the trusted cluster (the ARN rewritten) and
/// a STOPPED change naming a task Vigil never held: no stop, no hold touched elsewhere.
#[tokio::test]
async fn a_foreign_task_arn_is_never_stopped_or_held() {
    let p = Pipeline::start().await;
    let tasks = p.service("pair", 2).await;
    let foreign = tasks[0].replace(ACCOUNT, "999999999999");
    let alert = falco("foreign", &p.cluster, &foreign, SHELL);
    let _ = vigil_lambda::invoke_json(|e| p.ingest.handle(e), json!({"Records": [{"messageId": "m-foreign", "eventSource": "aws:sqs", "body": alert.to_string()}]}), "arn:aws:lambda:us-east-1:123456789012:function:ingest")
        .await
        .unwrap();
    let accepted: Vec<String> = p
        .accepted
        .drain()
        .await
        .iter()
        .map(Value::to_string)
        .collect();
    let _ = p.rejected.drain().await;
    let _ = p.enrich.process(&accepted).await;
    let enriched: Vec<String> = p
        .enriched
        .drain()
        .await
        .iter()
        .map(Value::to_string)
        .collect();
    let remediate: Remediate = p
        .remediate_with(&playbooks(""), RemediationMode::Enforce, generous)
        .await;
    let _ = remediate.process(&enriched, Some(ACCOUNT)).await;
    assert_eq!(running(&p, &tasks).await, 2);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    assert!(p.items("HOLD#").await.is_empty());
}

/// The confirmation releases the hold ECS vouches for, whatever the change claims: after a real
/// stop, a change naming the cluster by name and another service in its group still releases the
/// hold on the service ECS reports, and never touches the named one.
#[tokio::test]
async fn a_true_stopped_change_releases_the_hold_of_the_service_ecs_reports() {
    let p = Pipeline::start().await;
    let tasks = p.service("trio", 3).await;
    let other = p.service("other", 2).await;
    let remediate = p
        .remediate_with(&playbooks(""), RemediationMode::Enforce, generous)
        .await;
    let events = alerts(&p, &[tasks[0].clone(), other[0].clone()], SHELL, "true").await;
    assert!(remediate.process(&events, Some(ACCOUNT)).await.is_empty());
    assert_eq!(p.stopped(&tasks).await, 1);
    let held = |svc: &'static str| {
        let p = &p;
        async move {
            p.items(&format!("HOLD#{}/{svc}", p.cluster)).await[0]["tasks"]
                .as_m()
                .unwrap()
                .len()
        }
    };
    assert_eq!((held("trio").await, held("other").await), (1, 1));
    let reason = p.stopped_reason(&tasks[0]).await;
    let mut change: Value = serde_json::from_str(&stopped_change(
        &p,
        "true-1",
        ACCOUNT,
        &tasks[0],
        "service:other",
        &reason,
    ))
    .unwrap();
    change["detail"]["clusterArn"] = json!("prod");
    assert!(
        remediate
            .process(&[change.to_string()], Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert_eq!((held("trio").await, held("other").await), (0, 1));
}
