//! ingest → enrich → remediate against the emulator, on real RunTask'd tasks: what stops, what
//! survives, and what is recorded.

use serde_json::{Value, json};
use vigil_e2e::{ACCOUNT, FUNCTION_ARN, PLAYBOOKS, Pipeline, Stopped, falco, s};
use vigil_ingest::{Ingest, IngestConfig};
use vigil_playbook::PlaybookFile;
use vigil_remediate::{Remediate, RemediateSettings, RemediationMode};
use vigil_testkit::{BUS_NAME, Emulator, TABLE_NAME};

#[tokio::test]
async fn enforce_stops_the_task_once_even_when_delivered_three_times() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let events = p
        .enriched(&[("e1", &tasks[0], "Terminal shell in container")])
        .await;
    assert_eq!(events.len(), 1);
    let remediate = p.remediate(RemediationMode::Enforce, |_| {}).await;
    p.emulator.reset_api_calls();

    let thrice = vec![events[0].clone(), events[0].clone(), events[0].clone()];
    assert!(remediate.process(&thrice, Some(ACCOUNT)).await.is_empty());
    // A later redelivery (another batch, another invocation) changes nothing either.
    let out = vigil_lambda::invoke_json(
        |e| remediate.handle(e),
        json!({"Records": [{"messageId": "r1", "body": events[0]}]}),
        FUNCTION_ARN,
    )
    .await
    .unwrap();
    assert_eq!(out["batchItemFailures"], json!([]));

    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    assert_eq!(p.task_status(&tasks[1]).await.1, "RUNNING");

    let records = p.action_records().await;
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(s(r, "sk"), "ACTION#enforce");
    assert_eq!(s(r, "phase"), "complete");
    assert_eq!(s(r, "outcome"), "act");
    assert_eq!(s(r, "playbook"), "shell");
    let decision: Value = serde_json::from_str(s(r, "decision")).unwrap();
    assert_eq!(
        decision["evidence"]["task_arn"],
        json!(tasks[0]),
        "the task as it was before the stop"
    );
    assert_eq!(decision["evidence"]["last_status"], json!("RUNNING"));
    let reason = decision["stop_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("Vigil shell: Terminal shell in container in app [vigil:v1-"),
        "{reason}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(s(r, "stop_response")).unwrap()["desired_status"],
        json!("STOPPED")
    );
    let verdicts: Vec<(&str, &str)> = decision["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["guardrail"].as_str().unwrap(),
                c["verdict"].as_str().unwrap(),
            )
        })
        .collect();
    // Every guardrail passed; the approval one does not apply to an enforce playbook.
    assert!(
        verdicts
            .iter()
            .all(|(g, v)| *v == "pass" || (*g, *v) == ("approval", "not_applicable")),
        "{verdicts:?}"
    );

    let findings = p.findings().await;
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    assert_eq!(
        f.workflow().and_then(|w| w.status()).map(|s| s.as_str()),
        Some("RESOLVED")
    );
    assert!(
        f.note()
            .and_then(|n| n.text())
            .unwrap()
            .contains("stopped the task")
    );

    let executed = p.executed.drain().await;
    assert_eq!(executed.len(), 1, "one Remediation Executed per decision");
    assert_eq!(executed[0]["detail"]["outcome"], json!("act"));
    assert_eq!(executed[0]["resources"], json!([tasks[0]]));

    // ECS then reports the task STOPPED with our reason: the record is confirmed.
    let change = json!({
        "version": "0", "id": "sc1", "detail-type": "ECS Task State Change", "source": "aws.ecs",
        "account": ACCOUNT, "time": "2026-11-23T10:00:00Z", "region": "us-east-1", "resources": [tasks[0]],
        "detail": {"clusterArn": p.cluster, "taskArn": tasks[0], "lastStatus": "STOPPED", "desiredStatus": "STOPPED",
                   "stopCode": "UserInitiated", "stoppedReason": reason, "stoppedAt": "2026-11-23T10:00:00Z",
                   "containers": [], "version": 5}
    });
    assert!(
        remediate
            .process(&[change.to_string()], Some(ACCOUNT))
            .await
            .is_empty()
    );
    let r = &p.action_records().await[0];
    assert_eq!(s(r, "stop_code"), "UserInitiated");
    assert!(!s(r, "confirmed_at").is_empty());
}

#[tokio::test]
async fn dry_run_stops_nothing_but_records_and_notes() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 2).await;
    // One playbook in dry_run by itself; one enforce playbook capped by the deployment's dry_run.
    let events = p
        .enriched(&[
            ("e1", &tasks[0], "Crypto miner launched"),
            ("e2", &tasks[1], "Terminal shell in container"),
        ])
        .await;
    assert_eq!(events.len(), 2);
    for mode in [RemediationMode::Enforce, RemediationMode::DryRun] {
        let remediate = p.remediate(mode, |_| {}).await;
        let batch = if mode == RemediationMode::Enforce {
            vec![events[0].clone()]
        } else {
            vec![events[1].clone()]
        };
        assert!(remediate.process(&batch, Some(ACCOUNT)).await.is_empty());
    }
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    for t in &tasks {
        assert_eq!(p.task_status(t).await.1, "RUNNING");
    }
    let records = p.action_records().await;
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!(s(r, "sk"), "ACTION#dry_run");
        assert_eq!(s(r, "outcome"), "dry_run");
        assert_eq!(s(r, "phase"), "complete");
    }
    for f in p.findings().await {
        assert_eq!(
            f.workflow().and_then(|w| w.status()).map(|s| s.as_str()),
            Some("NOTIFIED")
        );
        assert!(f.note().and_then(|n| n.text()).unwrap().contains("dry run"));
    }
    let executed = p.executed.drain().await;
    assert_eq!(executed.len(), 2);
    assert!(
        executed
            .iter()
            .all(|e| e["detail"]["outcome"] == json!("dry_run"))
    );
}

#[tokio::test]
async fn forged_events_stop_nothing() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let events = p
        .enriched(&[("e1", &tasks[0], "Terminal shell in container")])
        .await;
    let remediate = p.remediate(RemediationMode::Enforce, |_| {}).await;

    // The same finding, claiming a foreign sender.
    let mut foreign: Value = serde_json::from_str(&events[0]).unwrap();
    foreign["detail"]["finding"]["provenance"]["sender_account"] = json!("999999999999");
    foreign["id"] = json!("forged-1");
    // A finding claiming a foreign account's task.
    let mut foreign_task: Value = serde_json::from_str(&events[0]).unwrap();
    foreign_task["id"] = json!("forged-2");
    foreign_task["detail"]["finding"]["account"] = json!("999999999999");
    // An untrusted detector (the deployment trusts only GuardDuty here).
    let strict = p
        .remediate(RemediationMode::Enforce, |s| {
            s.guardrails.trusted_sources = vec![vigil_model::Source::Guardduty]
        })
        .await;
    assert!(
        remediate
            .process(
                &[foreign.to_string(), foreign_task.to_string()],
                Some(ACCOUNT)
            )
            .await
            .is_empty()
    );
    assert!(
        strict
            .process(&[events[0].clone()], Some(ACCOUNT))
            .await
            .is_empty()
    );
    // An event from another source on the remediate queue is not processed at all: it goes back to
    // SQS and, after the redrive limit, to the dead-letter queue.
    let mut other_source: Value = serde_json::from_str(&events[0]).unwrap();
    other_source["source"] = json!("aws.guardduty");
    assert_eq!(
        remediate
            .process(&[other_source.to_string()], Some(ACCOUNT))
            .await,
        [0]
    );

    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    assert_eq!(
        p.emulator.calls("ecs", "DescribeTasks"),
        1,
        "only enrich looked at the task"
    );
    assert_eq!(p.task_status(&tasks[0]).await.1, "RUNNING");
    let records = p.action_records().await;
    assert!(!records.is_empty());
    assert!(
        records
            .iter()
            .all(|r| s(r, "sk").starts_with("UNTRUSTED#") && s(r, "outcome") == "refused"),
        "{records:?}"
    );
    assert!(p.executed.drain().await.is_empty());

    // The forgeries did not take the real record: the genuine event still acts.
    assert!(
        remediate
            .process(&[events[0].clone()], Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
}

#[tokio::test]
async fn protected_tasks_and_the_last_task_survive() {
    let p = Pipeline::start().await;
    let protected_service = p
        .emulator
        .create_service(
            &p.cluster,
            "payments",
            &p.task_definition,
            3,
            &[("vigil:protected", "true")],
        )
        .await;
    let protected_task = p
        .emulator
        .run_tasks(
            &p.cluster,
            &p.task_definition,
            1,
            &[("vigil:protected", "true")],
        )
        .await;
    let lonely = p.service("lonely", 1).await;
    let events = p
        .enriched(&[
            ("e1", &protected_service[0], "Terminal shell in container"),
            ("e2", &protected_task[0], "Terminal shell in container"),
            ("e3", &lonely[0], "Terminal shell in container"),
        ])
        .await;
    assert_eq!(events.len(), 3);
    let remediate = p.remediate(RemediationMode::Enforce, |_| {}).await;
    assert!(remediate.process(&events, Some(ACCOUNT)).await.is_empty());

    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    for t in [&protected_service[0], &protected_task[0], &lonely[0]] {
        assert_eq!(p.task_status(t).await.1, "RUNNING");
    }
    let mut reasons: Vec<String> = Vec::new();
    for r in p.action_records().await {
        assert_eq!(s(&r, "outcome"), "refused");
        let d: Value = serde_json::from_str(s(&r, "decision")).unwrap();
        reasons.push(d["reason"].as_str().unwrap().to_owned());
    }
    reasons.sort();
    assert_eq!(reasons.len(), 3);
    assert!(
        reasons[0].starts_with("min_healthy: service lonely keeps 0 running task(s)"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].starts_with("protected: service tag vigil:protected=true"),
        "{reasons:?}"
    );
    assert!(
        reasons[2].starts_with("protected: task tag vigil:protected=true"),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn the_fourth_stop_in_an_hour_on_one_service_is_recorded_not_made() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 6).await;
    let alerts: Vec<(String, String)> = (0..4)
        .map(|i| (format!("e{i}"), tasks[i].clone()))
        .collect();
    let alerts: Vec<(&str, &str, &str)> = alerts
        .iter()
        .map(|(id, t)| (id.as_str(), t.as_str(), "Terminal shell in container"))
        .collect();
    let events = p.enriched(&alerts).await;
    assert_eq!(events.len(), 4);
    let remediate = p.remediate(RemediationMode::Enforce, |_| {}).await;
    assert!(remediate.process(&events, Some(ACCOUNT)).await.is_empty());

    assert_eq!(p.emulator.calls("ecs", "StopTask"), 3);
    let mut outcomes: Vec<String> = p
        .action_records()
        .await
        .iter()
        .map(|r| s(r, "outcome").to_owned())
        .collect();
    outcomes.sort();
    assert_eq!(outcomes, ["act", "act", "act", "rate_limited"]);
    let limited = p
        .executed
        .drain()
        .await
        .into_iter()
        .find(|e| e["detail"]["outcome"] == json!("rate_limited"))
        .unwrap();
    assert!(
        limited["detail"]["reason"]
            .as_str()
            .unwrap()
            .contains("3 stops already in the last 3600 s")
    );
    let stopped = p.stopped(&tasks).await;
    assert_eq!(stopped, 3);
}

#[tokio::test]
async fn a_tag_playbook_tags_without_stopping() {
    let p = Pipeline::start().await;
    let tasks = p.service("db", 2).await;
    let events = p
        .enriched(&[(
            "e1",
            &tasks[0],
            "Unexpected outbound connection destination",
        )])
        .await;
    let remediate = p.remediate(RemediationMode::Enforce, |_| {}).await;
    assert!(remediate.process(&events, Some(ACCOUNT)).await.is_empty());
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    let tags = p
        .emulator
        .ecs()
        .await
        .list_tags_for_resource()
        .resource_arn(&tasks[0])
        .send()
        .await
        .unwrap();
    let fp = tags
        .tags()
        .iter()
        .find(|t| t.key() == Some("vigil:forensics"))
        .and_then(|t| t.value())
        .unwrap()
        .to_owned();
    assert!(fp.starts_with("v1-"), "{fp}");
    assert_eq!(s(&p.action_records().await[0], "outcome"), "act");
}

/// StopTask fails after the decision is written: the redelivery, once the crashed attempt's lease
/// ran out, re-sends the same StopTask from the stored decision, without deciding (or counting) again.
#[tokio::test]
async fn a_failed_stop_is_finished_by_the_redelivery_exactly_once() {
    use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
    use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
    use aws_sdk_ecs::operation::stop_task::{StopTaskError, StopTaskOutput};
    use aws_sdk_ecs::types::{Service, Task};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let events = p
        .enriched(&[("e1", &tasks[0], "Terminal shell in container")])
        .await;

    // Every task of the service, the one the finding names first: the look at the task and the
    // count of the service's running tasks both read this.
    let (described, cluster) = (tasks.clone(), p.cluster.clone());
    let describe = mock!(aws_sdk_ecs::Client::describe_tasks).then_output(move || {
        let tasks = described.iter().map(|task| {
            Task::builder()
                .task_arn(task)
                .cluster_arn(&cluster)
                .last_status("RUNNING")
                .desired_status("RUNNING")
                .group("service:shop")
                .build()
        });
        DescribeTasksOutput::builder()
            .set_tasks(Some(tasks.collect()))
            .build()
    });
    let services = mock!(aws_sdk_ecs::Client::describe_services).then_output(|| {
        DescribeServicesOutput::builder()
            .services(
                Service::builder()
                    .service_name("shop")
                    .running_count(3)
                    .build(),
            )
            .build()
    });
    let task = tasks[0].clone();
    let stop = mock!(aws_sdk_ecs::Client::stop_task)
        .sequence()
        .error(|| StopTaskError::unhandled("connection reset"))
        .output(move || {
            StopTaskOutput::builder()
                .task(
                    Task::builder()
                        .task_arn(&task)
                        .desired_status("STOPPED")
                        .last_status("RUNNING")
                        .build(),
                )
                .build()
        })
        .build();
    let clusters = mock!(aws_sdk_ecs::Client::describe_clusters).then_output(|| {
        aws_sdk_ecs::operation::describe_clusters::DescribeClustersOutput::builder().build()
    });
    let service_tasks = tasks.clone();
    let listed = mock!(aws_sdk_ecs::Client::list_tasks).then_output(move || {
        aws_sdk_ecs::operation::list_tasks::ListTasksOutput::builder()
            .set_task_arns(Some(service_tasks.clone()))
            .build()
    });
    let ecs = mock_client!(
        aws_sdk_ecs,
        RuleMode::MatchAny,
        [&describe, &services, &clusters, &listed, &stop]
    );

    let config = p.emulator.sdk_config().await;
    let mut settings = RemediateSettings::new(TABLE_NAME, BUS_NAME);
    settings.mode = RemediationMode::Enforce;
    let build = |clock: vigil_remediate::Clock| {
        Remediate::new(
            ecs.clone(),
            aws_sdk_securityhub::Client::new(&config),
            aws_sdk_dynamodb::Client::new(&config),
            aws_sdk_eventbridge::Client::new(&config),
            PlaybookFile::parse(PLAYBOOKS).unwrap(),
            settings.clone(),
        )
        .with_clock(clock)
    };
    let now = chrono::Utc::now();
    let first = build(std::sync::Arc::new(move || now));
    assert_eq!(
        first.process(&events, Some(ACCOUNT)).await,
        [0],
        "the failed stop returns the message"
    );
    let r = &p.action_records().await[0];
    assert_eq!(
        s(r, "phase"),
        "acting",
        "the decision was written before StopTask"
    );

    // The failed attempt gave its lease up: the redelivery takes over at once and finishes.
    let later = build(std::sync::Arc::new(move || {
        now + chrono::Duration::seconds(1)
    }));
    assert!(later.process(&events, Some(ACCOUNT)).await.is_empty());
    // And any further delivery is a duplicate.
    assert!(later.process(&events, Some(ACCOUNT)).await.is_empty());

    assert_eq!(stop.num_calls(), 2, "one failed StopTask, one that worked");
    assert_eq!(listed.num_calls(), 1, "decided once");
    let items = aws_sdk_dynamodb::Client::new(&config)
        .scan()
        .table_name(TABLE_NAME)
        .send()
        .await
        .unwrap();
    let counted: Vec<usize> = items
        .items()
        .iter()
        .filter(|i| s(i, "pk").starts_with("RATE#"))
        .map(|i| {
            i.get("stops_at")
                .and_then(|v| v.as_l().ok())
                .map_or(0, Vec::len)
        })
        .collect();
    assert_eq!(counted, [1, 1], "cluster and service counted once each");
    let r = &p.action_records().await[0];
    assert_eq!(s(r, "phase"), "complete");
    assert_eq!(p.executed.drain().await.len(), 1);
}

/// An action store with a 60 s lease on the emulator's table, and one record's key.
async fn claim_fixture(
    emulator: &Emulator,
) -> (
    vigil_remediate::action_record::ActionStore,
    vigil_remediate::action_record::ActionKey,
) {
    let store = vigil_remediate::action_record::ActionStore::new(
        aws_sdk_dynamodb::Client::new(&emulator.sdk_config().await),
        TABLE_NAME,
        60,
        86_400,
    );
    let key = vigil_remediate::action_record::ActionKey {
        fingerprint: "v1-abc".into(),
        task_arn: "arn:aws:ecs:us-east-1:123456789012:task/prod/t1".into(),
        mode: vigil_playbook::Mode::Enforce,
    };
    (store, key)
}

/// The claim on an action record is exclusive while its lease lives, passes to another attempt
/// once it runs out, and a slow former holder can no longer write.
#[tokio::test]
async fn a_live_claim_is_exclusive_and_an_expired_one_is_taken_over() {
    use vigil_remediate::action_record::{Claim, RecordError};
    let emulator = Emulator::start();
    emulator.create_table().await;
    let (store, key) = claim_fixture(&emulator).await;
    assert!(matches!(
        store.claim(&key, "a", None, 100).await.unwrap(),
        Claim::Owned(_)
    ));
    assert!(matches!(
        store.claim(&key, "b", None, 159).await.unwrap(),
        Claim::Busy { message: None }
    ));
    // The holder's own claim again (an SDK retry whose first response was lost) is not busy.
    assert!(matches!(
        store.claim(&key, "a", None, 101).await.unwrap(),
        Claim::Owned(_)
    ));
    assert!(matches!(
        store.claim(&key, "b", None, 159).await.unwrap(),
        Claim::Busy { message: None }
    ));
    assert!(matches!(
        store.claim(&key, "b", None, 162).await.unwrap(),
        Claim::Owned(_)
    ));
    assert!(matches!(
        store.complete(&key, "a", 163).await,
        Err(RecordError::LostLease(_))
    ));
    store.complete(&key, "b", 163).await.unwrap();
    assert!(matches!(
        store.claim(&key, "c", None, 10_000).await.unwrap(),
        Claim::Done(_)
    ));
}

/// A later receive of the same SQS message takes the lease of an earlier receive's attempt at once
/// (that attempt is over); another message, or the same receive again, is told which message holds
/// the claim.
#[tokio::test]
async fn a_later_receive_of_the_same_message_takes_its_earlier_attempts_lease() {
    use vigil_remediate::action_record::{Claim, Delivery, RecordError};
    let emulator = Emulator::start();
    emulator.create_table().await;
    let (store, key) = claim_fixture(&emulator).await;
    let receive = |id: &str, count| Delivery {
        message_id: id.into(),
        receive_count: count,
    };
    let owned = |c: Claim| matches!(c, Claim::Owned(_));
    assert!(owned(
        store
            .claim(&key, "a", Some(&receive("m1", 1)), 100)
            .await
            .unwrap()
    ));
    // A duplicate of the event (another message) and the same receive seen twice are both told
    // which message holds the claim.
    let busy_with = |c: Claim| match c {
        Claim::Busy { message } => message,
        _ => panic!("expected busy"),
    };
    let m1 = Some("m1".to_owned());
    assert_eq!(
        busy_with(
            store
                .claim(&key, "b", Some(&receive("m2", 3)), 101)
                .await
                .unwrap()
        ),
        m1
    );
    assert_eq!(
        busy_with(
            store
                .claim(&key, "c", Some(&receive("m1", 1)), 101)
                .await
                .unwrap()
        ),
        m1
    );
    assert_eq!(
        busy_with(store.claim(&key, "d", None, 101).await.unwrap()),
        m1
    );
    // The message again, received a second time: its first attempt has returned.
    assert!(owned(
        store
            .claim(&key, "e", Some(&receive("m1", 2)), 102)
            .await
            .unwrap()
    ));
    assert!(matches!(
        store.complete(&key, "a", 103).await,
        Err(RecordError::LostLease(_))
    ));
    // Receive counts compare as numbers (10 follows 9, though "10" < "9" as text).
    assert!(owned(
        store
            .claim(&key, "e9", Some(&receive("m1", 9)), 104)
            .await
            .unwrap()
    ));
    assert!(owned(
        store
            .claim(&key, "e10", Some(&receive("m1", 10)), 105)
            .await
            .unwrap()
    ));
    assert!(!owned(
        store
            .claim(&key, "e9b", Some(&receive("m1", 9)), 106)
            .await
            .unwrap()
    ));
    // An owner without a delivery clears the message, so an old receive count cannot match it.
    assert!(owned(store.claim(&key, "f", None, 200).await.unwrap()));
    assert_eq!(
        busy_with(
            store
                .claim(&key, "g", Some(&receive("m1", 9)), 201)
                .await
                .unwrap()
        ),
        None
    );
    store.complete(&key, "f", 202).await.unwrap();
    assert!(matches!(
        store
            .claim(&key, "h", Some(&receive("m1", 10)), 203)
            .await
            .unwrap(),
        Claim::Done(_)
    ));
}

/// The handler reads each record's message id and receive count: when an attempt died holding its
/// lease (and could not give it up), another copy of the event leaves the job to that attempt's
/// message, and the redelivery of that message takes the lease over at once and finishes.
#[tokio::test]
async fn the_redelivered_message_finishes_what_its_dead_attempt_claimed() {
    use vigil_remediate::action_record::{ActionKey, ActionStore, Delivery};
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let events = p
        .enriched(&[("e1", &tasks[0], "Terminal shell in container")])
        .await;
    let fingerprint =
        serde_json::from_str::<Value>(&events[0]).unwrap()["detail"]["finding"]["fingerprint"]
            .as_str()
            .unwrap()
            .to_owned();
    let store = ActionStore::new(
        aws_sdk_dynamodb::Client::new(&p.emulator.sdk_config().await),
        TABLE_NAME,
        60,
        86_400,
    );
    let key = ActionKey {
        fingerprint,
        task_arn: tasks[0].clone(),
        mode: vigil_playbook::Mode::Enforce,
    };
    let first_receive = Delivery {
        message_id: "r1".into(),
        receive_count: 1,
    };
    let now = chrono::Utc::now().timestamp();
    store
        .claim(&key, "dead-attempt", Some(&first_receive), now)
        .await
        .unwrap();

    let remediate = p.remediate(RemediationMode::Enforce, |_| {}).await;
    let deliver = |id: &str, count: &str| {
        json!({"Records": [{
            "messageId": id,
            "body": events[0],
            "attributes": {"ApproximateReceiveCount": count},
        }]})
    };
    let out = vigil_lambda::invoke_json(|e| remediate.handle(e), deliver("r2", "1"), FUNCTION_ARN)
        .await
        .unwrap();
    assert_eq!(
        out["batchItemFailures"],
        json!([]),
        "another copy leaves the job to the message that claimed it"
    );
    assert_eq!(p.task_status(&tasks[0]).await.1, "RUNNING");
    let out = vigil_lambda::invoke_json(|e| remediate.handle(e), deliver("r1", "1"), FUNCTION_ARN)
        .await
        .unwrap();
    assert_eq!(
        out["batchItemFailures"],
        json!([{"itemIdentifier": "r1"}]),
        "the claiming receive itself, seen twice, waits"
    );
    assert_eq!(p.task_status(&tasks[0]).await.1, "RUNNING");

    let out = vigil_lambda::invoke_json(|e| remediate.handle(e), deliver("r1", "2"), FUNCTION_ARN)
        .await
        .unwrap();
    assert_eq!(out["batchItemFailures"], json!([]));
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    let out = vigil_lambda::invoke_json(|e| remediate.handle(e), deliver("r2", "2"), FUNCTION_ARN)
        .await
        .unwrap();
    assert_eq!(out["batchItemFailures"], json!([]), "now a duplicate");
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
}

/// A source's sample finding reaches remediation like any other and is refused, without a look at
/// (let alone a stop of) the task it names.
#[tokio::test]
async fn a_sample_finding_is_refused_without_touching_the_task() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let events = p
        .enriched(&[("e1", &tasks[0], "Terminal shell in container")])
        .await;
    let mut event: Value = serde_json::from_str(&events[0]).unwrap();
    event["detail"]["finding"]["tags"]
        .as_array_mut()
        .unwrap()
        .push(json!(vigil_model::SAMPLE_TAG));
    let remediate = p.remediate(RemediationMode::Enforce, |_| {}).await;
    p.emulator.reset_api_calls();
    assert!(
        remediate
            .process(&[event.to_string()], Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert_eq!(p.emulator.calls("ecs", "DescribeTasks"), 0);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    assert_eq!(p.task_status(&tasks[0]).await.1, "RUNNING");
    let records = p.action_records().await;
    assert_eq!(records.len(), 1);
    assert_eq!(s(&records[0], "outcome"), "refused");
    let decision: Value = serde_json::from_str(s(&records[0], "decision")).unwrap();
    // Tagged after ingest, the message no longer hashes to its fingerprint either: refused on
    // both counts.
    assert!(
        decision["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["guardrail"] == "not_a_sample" && c["verdict"] == "fail"),
        "{decision}"
    );
}

/// Forged, foreign, injected and replayed events, each through the path it would really take: none
/// stops, tags or notes anything, and the genuine event in the same run still acts. The corpus and
/// its outcomes are listed in docs/reliability.md.
#[tokio::test]
async fn a_corpus_of_forgeries_stops_nothing_and_the_genuine_event_still_acts() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let victim = &tasks[0];
    let remediate = p.remediate(RemediationMode::Enforce, |_| {}).await;
    let genuine_alert = falco("genuine", &p.cluster, victim, "Terminal shell in container");
    let gd_detail: Value =
        serde_json::from_str::<Value>(include_str!("../../samples/guardduty-ecs-runtime.json"))
            .unwrap()["detail"]
            .clone();
    let mut gd_on_victim = gd_detail.clone();
    gd_on_victim["type"] = json!("CryptoCurrency:Runtime/BitcoinTool.B");
    gd_on_victim["accountId"] = json!(ACCOUNT);
    gd_on_victim["resource"]["ecsClusterDetails"]["taskDetails"]["arn"] = json!(victim);
    gd_on_victim["resource"]["ecsClusterDetails"]["arn"] = json!(p.cluster);
    let envelope = |source: &str, detail_type: &str, account: &str, detail: &Value| {
        json!({"version": "0", "id": format!("forged-{source}-{detail_type}"), "source": source,
               "detail-type": detail_type, "account": account, "region": "us-east-1",
               "time": chrono::Utc::now().to_rfc3339(), "resources": [], "detail": detail})
    };
    let alert = |f: &dyn Fn(&mut Value)| {
        let mut a = genuine_alert.clone();
        a["id"] = json!(format!("forged-{}", fastrand::u64(..)));
        a["detail"]["uuid"] = json!(format!("forged-{}", fastrand::u64(..)));
        // Each forgery its own finding (the container name is in the fingerprint), so that no
        // case is counted as a repeat of another.
        a["detail"]["output_fields"]["container.label.com.amazonaws.ecs.container-name"] =
            json!(format!("c{}", fastrand::u64(..)));
        f(&mut a);
        a
    };

    // Through the ingest queue: shapes under other sources, case twists, look-alikes, foreign
    // senders, identity mismatches, stale and replayed events.
    let mut bodies: Vec<(&str, Value)> = vec![
        (
            "GuardDuty shape under a custom source, foreign sender",
            envelope("acme.scanner", "Finding", "999999999999", &gd_on_victim),
        ),
        (
            "GuardDuty shape under a custom source, own account",
            envelope("acme.scanner", "Finding", ACCOUNT, &gd_on_victim),
        ),
        (
            "GuardDuty shape under AWS.GuardDuty",
            envelope("AWS.GuardDuty", "GuardDuty Finding", ACCOUNT, &gd_on_victim),
        ),
        (
            "GuardDuty shape under aws.GuardDuty",
            envelope("aws.GuardDuty", "GuardDuty Finding", ACCOUNT, &gd_on_victim),
        ),
        (
            "GuardDuty shape under a padded source",
            envelope(
                " aws.guardduty",
                "GuardDuty Finding",
                ACCOUNT,
                &gd_on_victim,
            ),
        ),
        (
            "GuardDuty shape under a zero-width source",
            envelope(
                "aws.guard\u{200b}duty",
                "GuardDuty Finding",
                ACCOUNT,
                &gd_on_victim,
            ),
        ),
        (
            "GuardDuty shape under source falco",
            envelope("falco", "Falco Alert", ACCOUNT, &gd_on_victim),
        ),
        (
            "GuardDuty shape under source sysdig",
            envelope("sysdig", "Sysdig Event", ACCOUNT, &gd_on_victim),
        ),
        (
            "exact GuardDuty source, twisted detail-type",
            envelope("aws.guardduty", "guardduty finding", ACCOUNT, &gd_on_victim),
        ),
        (
            "a Vigil look-alike source",
            envelope("Vigil", "Finding Enriched", ACCOUNT, &json!({})),
        ),
        (
            "a task state change under a custom source",
            envelope(
                "acme.ecs",
                "ECS Task State Change",
                ACCOUNT,
                &json!({"taskArn": victim, "clusterArn": p.cluster, "lastStatus": "RUNNING"}),
            ),
        ),
        (
            "a bare alert on the ingest queue",
            genuine_alert["detail"].clone(),
        ),
        (
            "Falco alert from a foreign sender naming the victim",
            alert(&|a| a["account"] = json!("999999999999")),
        ),
        (
            "cluster label that is not the task ARN's",
            alert(&|a| {
                a["detail"]["output_fields"]["container.label.com.amazonaws.ecs.cluster"] =
                    json!("other")
            }),
        ),
        (
            "container id not in the task",
            alert(&|a| a["detail"]["output_fields"]["container.id"] = json!("0123456789ab")),
        ),
        (
            "task in another account, own sender",
            alert(&|a| {
                a["detail"]["output_fields"]["container.label.com.amazonaws.ecs.task-arn"] =
                    json!(victim.replace(ACCOUNT, "444455556666"))
            }),
        ),
        (
            "stale alert (two hours old)",
            alert(&|a| {
                a["detail"]["time"] =
                    json!((chrono::Utc::now() - chrono::Duration::hours(2)).to_rfc3339())
            }),
        ),
        (
            "archive replay of a day-old alert",
            alert(&|a| {
                a["detail"]["time"] =
                    json!((chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339());
                a["replay-name"] = json!("archive-replay");
            }),
        ),
    ];
    let expected: Vec<Stopped> = vec![
        Stopped::AtIngest("forged_source".into()),
        Stopped::AtIngest("forged_source".into()),
        Stopped::AtIngest("forged_source".into()),
        Stopped::AtIngest("forged_source".into()),
        Stopped::AtIngest("forged_source".into()),
        Stopped::AtIngest("forged_source".into()),
        Stopped::AtIngest("forged_source".into()),
        Stopped::AtIngest("forged_source".into()),
        Stopped::AtIngest("unsupported".into()),
        Stopped::AtIngest("forged_source".into()),
        Stopped::AtIngest("forged_source".into()),
        Stopped::AtIngest("unsupported".into()),
        Stopped::AtRemediation("trusted_account".into()),
        Stopped::AtRemediation("identity".into()),
        Stopped::AtRemediation("identity".into()),
        Stopped::AtRemediation("trusted_account".into()),
        Stopped::AtRemediation("fresh".into()),
        Stopped::AtRemediation("fresh".into()),
    ];
    p.emulator.reset_api_calls();
    let got = p
        .attack_through_ingest(
            &remediate,
            &bodies.iter().map(|(_, b)| b.clone()).collect::<Vec<_>>(),
            false,
        )
        .await;
    for (((what, _), got), want) in bodies.iter().zip(&got).zip(&expected) {
        assert_eq!(got, want, "{what}");
    }
    // Container ids that are no ids, and a trusted foreign agent reaching into this account's
    // cluster by a container id alone.
    let victim_runtime = p.emulator.runtime_id(&p.cluster, victim, "app").await;
    let extra = [
        (
            "a container id that is no id (docker://)",
            alert(&|a| a["detail"]["output_fields"]["container.id"] = json!("docker://")),
        ),
        (
            "a one-character container id",
            alert(&|a| a["detail"]["output_fields"]["container.id"] = json!("a")),
        ),
        (
            "a trusted foreign agent naming this account's cluster and the victim's container",
            alert(&|a| {
                a["account"] = json!("999999999999");
                let fields = a["detail"]["output_fields"].as_object_mut().unwrap();
                fields.remove("container.label.com.amazonaws.ecs.task-arn");
                fields.insert("container.id".into(), json!(victim_runtime[..12]));
            }),
        ),
    ];
    let trusting = p
        .remediate(RemediationMode::Enforce, |s| {
            s.guardrails.trusted_accounts.insert("999999999999".into());
        })
        .await;
    let got = p
        .attack_through_ingest(
            &trusting,
            &extra.iter().map(|(_, b)| b.clone()).collect::<Vec<_>>(),
            false,
        )
        .await;
    for ((what, _), got) in extra.iter().zip(&got) {
        // Enrich does not resolve a task of another account than the finding's: the foreign
        // agent's finding reaches remediation with its task unknown, refused first for that.
        let want = if what.starts_with("a trusted foreign agent") {
            "trusted_account"
        } else {
            "identity"
        };
        assert_eq!(got, &Stopped::AtRemediation(want.into()), "{what}");
    }

    // Direct invocations: only a bare agent payload is taken, as the function's own account's.
    bodies.clear();
    let direct = [
        ("an EventBridge envelope, directly", genuine_alert.clone()),
        ("a bare GuardDuty finding, directly", gd_on_victim.clone()),
        (
            "a bare task state change, directly",
            json!({"taskArn": victim, "clusterArn": p.cluster, "lastStatus": "RUNNING"}),
        ),
    ];
    let got = p
        .attack_through_ingest(
            &remediate,
            &direct.iter().map(|(_, b)| b.clone()).collect::<Vec<_>>(),
            true,
        )
        .await;
    for ((what, _), got) in direct.iter().zip(&got) {
        assert_eq!(got, &Stopped::AtIngest("unsupported".into()), "{what}");
    }
    let queue = "arn:aws:sqs:us-east-1:123456789012:vigil-ingest".to_owned();
    let mut strict_config = IngestConfig::new(TABLE_NAME, BUS_NAME);
    strict_config.queue_arns = vec![queue];
    let strict_ingest = Ingest::from_env(strict_config, &p.emulator.sdk_config().await);
    let _ = vigil_lambda::invoke_json(|e| strict_ingest.handle(e), json!({"Records": [{"messageId": "x", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:elsewhere", "body": genuine_alert.to_string()}]}), "arn:aws:lambda:us-east-1:123456789012:function:ingest")
        .await;
    assert_eq!(
        p.rejected.drain().await.len(),
        1,
        "an SQS-shaped direct invocation is refused"
    );
    assert!(p.accepted.drain().await.is_empty());
    // The direct entry point (falcosidekick's) takes one bare event per invocation: a batch that
    // names the real ingest queue and carries a GuardDuty envelope is refused as a whole.
    let mut direct_config = IngestConfig::new(TABLE_NAME, BUS_NAME);
    direct_config.entry = vigil_ingest::IngestEntry::Direct;
    let direct_ingest = Ingest::from_env(direct_config, &p.emulator.sdk_config().await);
    let gd_envelope = envelope("aws.guardduty", "GuardDuty Finding", ACCOUNT, &gd_on_victim);
    let _ = vigil_lambda::invoke_json(|e| direct_ingest.handle(e), json!({"Records": [{"messageId": "x", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:vigil-ingest", "body": gd_envelope.to_string()}]}), "arn:aws:lambda:us-east-1:123456789012:function:ingest-direct")
        .await;
    let refused = p.rejected.drain().await;
    assert_eq!(
        refused.len(),
        1,
        "a batch sent to the direct entry is refused"
    );
    assert_eq!(refused[0]["detail"]["code"], "unknown_source");
    assert!(p.accepted.drain().await.is_empty());

    // Straight onto the remediate queue: the genuine Finding Enriched, altered.
    let genuine = p
        .enriched(&[("genuine", victim, "Terminal shell in container")])
        .await;
    assert_eq!(genuine.len(), 1);
    let tamper = |f: &dyn Fn(&mut Value)| {
        let mut v: Value = serde_json::from_str(&genuine[0]).unwrap();
        v["id"] = json!(format!("injected-{}", fastrand::u64(..)));
        f(&mut v);
        vec![v.to_string()]
    };
    let injected: Vec<(&str, Vec<String>, Stopped)> = vec![
        (
            "another running task",
            tamper(&|v| v["detail"]["finding"]["resource"]["task_arn"] = json!(tasks[1])),
            Stopped::AtRemediation("recorded_origin".into()),
        ),
        (
            "another account",
            tamper(&|v| v["detail"]["finding"]["account"] = json!("999999999999")),
            Stopped::AtRemediation("recorded_origin".into()),
        ),
        (
            "another sender",
            tamper(&|v| {
                v["detail"]["finding"]["provenance"]["sender_account"] = json!("999999999999")
            }),
            Stopped::AtRemediation("recorded_origin".into()),
        ),
        (
            "another arrival",
            tamper(&|v| v["detail"]["finding"]["provenance"]["arrival"] = json!("aws_service")),
            Stopped::AtRemediation("recorded_origin".into()),
        ),
        (
            "a made-up fingerprint",
            tamper(&|v| {
                v["detail"]["finding"]["fingerprint"] = json!(format!("v1-{}", "0".repeat(64)))
            }),
            Stopped::AtRemediation("recorded_origin".into()),
        ),
        (
            "a GuardDuty source on an agent's finding",
            tamper(&|v| v["detail"]["finding"]["source"] = json!("guardduty")),
            Stopped::AtRemediation("recorded_origin".into()),
        ),
        (
            "another rule on a real record",
            tamper(&|v| v["detail"]["finding"]["rule"] = json!("Crypto miner launched")),
            Stopped::AtRemediation("recorded_origin".into()),
        ),
        (
            "another container named in the finding",
            tamper(&|v| {
                v["detail"]["finding"]["resource"]["container"]["id"] = json!("0123456789ab")
            }),
            Stopped::AtRemediation("recorded_origin".into()),
        ),
        (
            "an enrichment naming another running task",
            tamper(&|v| v["detail"]["enrichment"]["task"]["task_arn"] = json!(tasks[1])),
            Stopped::AtRemediation("identity".into()),
        ),
        (
            "a stale observation",
            tamper(&|v| v["detail"]["finding"]["last_observed_at"] = json!("2020-01-01T00:00:00Z")),
            Stopped::AtRemediation("fresh".into()),
        ),
        (
            "a Vigil look-alike envelope source",
            tamper(&|v| v["source"] = json!("Vigil")),
            Stopped::NotProcessed,
        ),
        (
            "an ECS source on a finding",
            tamper(&|v| v["source"] = json!("aws.ecs")),
            Stopped::NotProcessed,
        ),
    ];
    for (what, body, want) in &injected {
        let got = p.attack_remediation(&remediate, body).await;
        assert_eq!(&got, want, "{what}");
    }
    // The genuine message, invoked directly with a record naming another queue: not processed.
    let remediate_queue = "arn:aws:sqs:us-east-1:123456789012:vigil-remediate".to_owned();
    let queue_bound = p
        .remediate(RemediationMode::Enforce, |s| {
            s.queue_arns = vec![remediate_queue]
        })
        .await;
    let records_before = p.action_records().await.len();
    let out = vigil_lambda::invoke_json(|e| queue_bound.handle(e), json!({"Records": [{"messageId": "d1", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:elsewhere", "body": genuine[0]}]}), FUNCTION_ARN)
        .await
        .unwrap();
    assert_eq!(out["batchItemFailures"], json!([]));
    assert_eq!(
        p.action_records().await.len(),
        records_before,
        "nothing decided"
    );

    // Nothing was stopped, tagged or noted; the victim still runs.
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    assert_eq!(p.emulator.calls("ecs", "TagResource"), 0);
    assert_eq!(p.emulator.calls("securityhub", "BatchUpdateFindings"), 0);
    for t in &tasks {
        assert_eq!(p.task_status(t).await.1, "RUNNING");
    }
    assert!(p.executed.drain().await.is_empty());

    // The genuine event acts, once, and notes Vigil's own finding whatever id a message names.
    let mut named_elsewhere: Value = serde_json::from_str(&genuine[0]).unwrap();
    named_elsewhere["detail"]["securityhub"]["id"] = json!("someone-elses-finding");
    assert!(
        remediate
            .process(&[named_elsewhere.to_string()], Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.task_status(victim).await.1, "STOPPED");
    let executed = p.executed.drain().await;
    assert_eq!(executed.len(), 1);
    assert!(
        executed[0]["detail"]["securityhub"]["id"]
            .as_str()
            .unwrap()
            .starts_with("vigil-v1-"),
        "{}",
        executed[0]["detail"]["securityhub"]
    );
    assert_eq!(
        expected.len() + extra.len() + direct.len() + 1 + 1 + injected.len() + 1 + 1,
        40,
        "the corpus size"
    );
}
