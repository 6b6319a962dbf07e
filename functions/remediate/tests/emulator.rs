//! ingest → enrich → remediate against the emulator, on real RunTask'd tasks: what stops, what
//! survives, and what is recorded.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use vigil_enrich::{Enrich, EnrichSettings};
use vigil_ingest::{Ingest, IngestConfig};
use vigil_playbook::PlaybookFile;
use vigil_remediate::{Remediate, RemediateSettings, RemediationMode};
use vigil_testkit::{BUS_NAME, BusTap, Emulator, TABLE_NAME};

const ACCOUNT: &str = "123456789012";
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:remediate";

const PLAYBOOKS: &str = r#"
version: 1
playbooks:
  - name: shell
    match: {rules: ["Terminal shell in container"]}
    actions: [stop_task]
    mode: enforce
    reason: "Vigil {playbook}: {rule} in {container}"
  - name: miner-dry-run
    match: {rules: ["*miner*"]}
    actions: [stop_task]
    mode: dry_run
  - name: forensics
    match: {rules: ["*outbound*"]}
    actions: [tag_task, record]
    mode: enforce
"#;

struct Pipeline {
    emulator: Emulator,
    ingest: Ingest,
    enrich: Enrich,
    accepted: BusTap,
    enriched: BusTap,
    executed: BusTap,
    cluster: String,
    task_definition: String,
}

impl Pipeline {
    async fn start() -> Pipeline {
        let emulator = Emulator::start();
        emulator.create_table().await;
        emulator.create_bus().await;
        let accepted = emulator
            .tap_bus(
                "accepted",
                json!({"source": ["vigil"], "detail-type": ["Finding Accepted"]}),
            )
            .await;
        let enriched = emulator
            .tap_bus(
                "enriched",
                json!({"source": ["vigil"], "detail-type": ["Finding Enriched"]}),
            )
            .await;
        let executed = emulator
            .tap_bus(
                "executed",
                json!({"source": ["vigil"], "detail-type": ["Remediation Executed"]}),
            )
            .await;
        let config = emulator.sdk_config().await;
        aws_sdk_securityhub::Client::new(&config)
            .enable_security_hub()
            .send()
            .await
            .unwrap();
        let ingest = Ingest::from_env(IngestConfig::new(TABLE_NAME, BUS_NAME), &config);
        let enrich = Enrich::from_env(EnrichSettings::new(TABLE_NAME, BUS_NAME), &config);
        let task_definition = emulator
            .register_task_definition("shop", &[("app", "shop:3")])
            .await;
        let cluster = emulator.create_cluster("prod").await;
        Pipeline {
            emulator,
            ingest,
            enrich,
            accepted,
            enriched,
            executed,
            cluster,
            task_definition,
        }
    }

    async fn remediate(
        &self,
        mode: RemediationMode,
        adjust: impl FnOnce(&mut RemediateSettings),
    ) -> Remediate {
        let mut settings = RemediateSettings::new(TABLE_NAME, BUS_NAME);
        settings.mode = mode;
        adjust(&mut settings);
        Remediate::from_env(
            PlaybookFile::parse(PLAYBOOKS).unwrap(),
            settings,
            &self.emulator.sdk_config().await,
        )
    }

    /// A Falco alert about `task`, through ingest and enrich; returns the `Finding Enriched` events.
    async fn enriched(&self, alerts: &[(&str, &str, &str)]) -> Vec<String> {
        let records: Vec<Value> = alerts
            .iter()
            .enumerate()
            .map(|(i, (id, task, rule))| json!({"messageId": format!("m{i}"), "eventSource": "aws:sqs", "body": falco(id, &self.cluster, task, rule).to_string()}))
            .collect();
        let out = self
            .ingest
            .handle(
                json!({"Records": records}),
                Some("arn:aws:lambda:us-east-1:123456789012:function:ingest".into()),
            )
            .await
            .unwrap();
        assert_eq!(out["batchItemFailures"], json!([]));
        let accepted: Vec<String> = self
            .accepted
            .drain()
            .await
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert!(self.enrich.process(&accepted).await.is_empty());
        self.enriched
            .drain()
            .await
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    async fn task_status(&self, task: &str) -> (String, String) {
        let out = self
            .emulator
            .ecs()
            .await
            .describe_tasks()
            .cluster(&self.cluster)
            .tasks(task)
            .send()
            .await
            .unwrap();
        let t = &out.tasks()[0];
        (
            t.last_status().unwrap_or_default().to_owned(),
            t.desired_status().unwrap_or_default().to_owned(),
        )
    }

    async fn action_records(&self) -> Vec<std::collections::HashMap<String, AttributeValue>> {
        let out = aws_sdk_dynamodb::Client::new(&self.emulator.sdk_config().await)
            .scan()
            .table_name(TABLE_NAME)
            .send()
            .await
            .unwrap();
        out.items()
            .iter()
            .filter(|i| {
                i.get("pk")
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|p| p.starts_with("ACT#"))
            })
            .cloned()
            .collect()
    }

    async fn findings(&self) -> Vec<aws_sdk_securityhub::types::AwsSecurityFinding> {
        let sh = aws_sdk_securityhub::Client::new(&self.emulator.sdk_config().await);
        sh.get_findings()
            .max_results(100)
            .send()
            .await
            .unwrap()
            .findings()
            .to_vec()
    }
}

fn falco(event_id: &str, cluster: &str, task: &str, rule: &str) -> Value {
    let mut v: Value = serde_json::from_str(include_str!(
        "../../../crates/adapters/tests/fixtures/falco-ecs-eventbridge.json"
    ))
    .unwrap();
    v["id"] = json!(event_id);
    v["account"] = json!(ACCOUNT);
    v["region"] = json!("us-east-1");
    v["detail"]["rule"] = json!(rule);
    let fields = v["detail"]["output_fields"].as_object_mut().unwrap();
    fields.insert(
        "container.label.com.amazonaws.ecs.task-arn".into(),
        json!(task),
    );
    fields.insert(
        "container.label.com.amazonaws.ecs.cluster".into(),
        json!(cluster),
    );
    fields.insert(
        "container.label.com.amazonaws.ecs.container-name".into(),
        json!("app"),
    );
    v
}

fn s<'a>(item: &'a std::collections::HashMap<String, AttributeValue>, k: &str) -> &'a str {
    item.get(k)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .unwrap_or_default()
}

#[tokio::test]
async fn enforce_stops_the_task_once_even_when_delivered_three_times() {
    let p = Pipeline::start().await;
    let tasks = p
        .emulator
        .create_service(&p.cluster, "shop", &p.task_definition, 3, &[])
        .await;
    let events = p
        .enriched(&[("e1", &tasks[0], "Terminal shell in container")])
        .await;
    assert_eq!(events.len(), 1);
    let remediate = p.remediate(RemediationMode::Enforce, |_| {}).await;
    p.emulator.reset_api_calls();

    let thrice = vec![events[0].clone(), events[0].clone(), events[0].clone()];
    assert!(remediate.process(&thrice, Some(ACCOUNT)).await.is_empty());
    // A later redelivery (another batch, another invocation) changes nothing either.
    let out = remediate
        .handle(
            json!({"Records": [{"messageId": "r1", "body": events[0]}]}),
            Some(FUNCTION_ARN.into()),
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
    assert!(verdicts.iter().all(|(_, v)| *v == "pass"), "{verdicts:?}");

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
    let tasks = p
        .emulator
        .create_service(&p.cluster, "shop", &p.task_definition, 2, &[])
        .await;
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
    let tasks = p
        .emulator
        .create_service(&p.cluster, "shop", &p.task_definition, 3, &[])
        .await;
    let events = p
        .enriched(&[("e1", &tasks[0], "Terminal shell in container")])
        .await;
    let remediate = p.remediate(RemediationMode::Enforce, |_| {}).await;

    // The same finding, re-published from a foreign account onto our bus.
    let mut foreign: Value = serde_json::from_str(&events[0]).unwrap();
    foreign["account"] = json!("999999999999");
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
    let lonely = p
        .emulator
        .create_service(&p.cluster, "lonely", &p.task_definition, 1, &[])
        .await;
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
        reasons[0].starts_with("last_task: the last running task of service lonely"),
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
    let tasks = p
        .emulator
        .create_service(&p.cluster, "shop", &p.task_definition, 6, &[])
        .await;
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
            .contains("3 stops already in this window")
    );
    let stopped = futures_count(&p, &tasks).await;
    assert_eq!(stopped, 3);
}

async fn futures_count(p: &Pipeline, tasks: &[String]) -> usize {
    let mut n = 0;
    for t in tasks {
        if p.task_status(t).await.1 == "STOPPED" {
            n += 1;
        }
    }
    n
}

#[tokio::test]
async fn a_tag_playbook_tags_without_stopping() {
    let p = Pipeline::start().await;
    let tasks = p
        .emulator
        .create_service(&p.cluster, "db", &p.task_definition, 2, &[])
        .await;
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
    let tasks = p
        .emulator
        .create_service(&p.cluster, "shop", &p.task_definition, 3, &[])
        .await;
    let events = p
        .enriched(&[("e1", &tasks[0], "Terminal shell in container")])
        .await;

    let (task, cluster) = (tasks[0].clone(), p.cluster.clone());
    let describe = mock!(aws_sdk_ecs::Client::describe_tasks).then_output(move || {
        DescribeTasksOutput::builder()
            .tasks(
                Task::builder()
                    .task_arn(&task)
                    .cluster_arn(&cluster)
                    .last_status("RUNNING")
                    .desired_status("RUNNING")
                    .group("service:shop")
                    .build(),
            )
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
    let ecs = mock_client!(
        aws_sdk_ecs,
        RuleMode::MatchAny,
        [&describe, &services, &stop]
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
    assert_eq!(describe.num_calls(), 1, "decided once");
    let items = aws_sdk_dynamodb::Client::new(&config)
        .scan()
        .table_name(TABLE_NAME)
        .send()
        .await
        .unwrap();
    let counted: Vec<&str> = items
        .items()
        .iter()
        .filter(|i| s(i, "pk").starts_with("RATE#"))
        .map(|i| {
            i.get("stops")
                .and_then(|v| v.as_n().ok())
                .map(String::as_str)
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(counted, ["1", "1"], "cluster and service counted once each");
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
    let tasks = p
        .emulator
        .create_service(&p.cluster, "shop", &p.task_definition, 3, &[])
        .await;
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
    let out = remediate
        .handle(deliver("r2", "1"), Some(FUNCTION_ARN.into()))
        .await
        .unwrap();
    assert_eq!(
        out["batchItemFailures"],
        json!([]),
        "another copy leaves the job to the message that claimed it"
    );
    assert_eq!(p.task_status(&tasks[0]).await.1, "RUNNING");
    let out = remediate
        .handle(deliver("r1", "1"), Some(FUNCTION_ARN.into()))
        .await
        .unwrap();
    assert_eq!(
        out["batchItemFailures"],
        json!([{"itemIdentifier": "r1"}]),
        "the claiming receive itself, seen twice, waits"
    );
    assert_eq!(p.task_status(&tasks[0]).await.1, "RUNNING");

    let out = remediate
        .handle(deliver("r1", "2"), Some(FUNCTION_ARN.into()))
        .await
        .unwrap();
    assert_eq!(out["batchItemFailures"], json!([]));
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    let out = remediate
        .handle(deliver("r2", "2"), Some(FUNCTION_ARN.into()))
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
    let tasks = p
        .emulator
        .create_service(&p.cluster, "shop", &p.task_definition, 3, &[])
        .await;
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
    assert!(
        decision["reason"]
            .as_str()
            .unwrap()
            .starts_with("not_a_sample"),
        "{decision}"
    );
}
