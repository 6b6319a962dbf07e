//! The one test pipeline: the emulator, ingest and enrich in front of remediate, taps on the bus,
//! and a Falco alert about an emulated task.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use vigil_enrich::{Enrich, EnrichSettings};
use vigil_ingest::{Ingest, IngestConfig};
use vigil_playbook::PlaybookFile;
use vigil_remediate::{Remediate, RemediateSettings, RemediationMode};
use vigil_testkit::events::FalcoAlert;
use vigil_testkit::{BUS_NAME, BusTap, Emulator, TABLE_NAME};

/// The emulator's account, the one events are sent from.
pub const ACCOUNT: &str = "123456789012";
/// The invoked-function ARN handlers are given: it names the deploying account.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:remediate";

/// The default playbooks: stop on a shell (enforce), stop on a miner (dry run), tag and record on
/// an outbound connection.
pub const PLAYBOOKS: &str = r#"
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

/// The emulator with the table, the bus and Security Hub, the ingest and enrich handlers, a tap
/// per Vigil event type, and a cluster with a task definition to run tasks from. Remediate is
/// built per test ([`Pipeline::remediate`]), with its own mode and settings.
pub struct Pipeline {
    /// The emulator everything runs on.
    pub emulator: Emulator,
    /// The ingest handler.
    pub ingest: Ingest,
    /// The enrich handler.
    pub enrich: Enrich,
    /// `Event Rejected` events put on the bus.
    pub rejected: BusTap,
    /// `Finding Accepted` events put on the bus.
    pub accepted: BusTap,
    /// `Finding Enriched` events put on the bus.
    pub enriched: BusTap,
    /// `Remediation Executed` events put on the bus.
    pub executed: BusTap,
    /// The ARN of cluster `prod`.
    pub cluster: String,
    /// The ARN of task definition `shop` (one container, `app`).
    pub task_definition: String,
}

impl Pipeline {
    /// The pipeline on the wall clock.
    pub async fn start() -> Pipeline {
        Self::start_with_clock(None).await
    }

    /// With ingest reading `clock` instead of the wall clock (enrich and remediate keep the wall
    /// clock).
    pub async fn start_with_clock(clock: Option<vigil_ingest::Clock>) -> Pipeline {
        let emulator = Emulator::start();
        emulator.create_table().await;
        emulator.create_bus().await;
        let accepted = emulator.tap_vigil("accepted", "Finding Accepted").await;
        let rejected = emulator.tap_vigil("rejected", "Event Rejected").await;
        let enriched = emulator.tap_vigil("enriched", "Finding Enriched").await;
        let executed = emulator.tap_vigil("executed", "Remediation Executed").await;
        let config = emulator.sdk_config().await;
        aws_sdk_securityhub::Client::new(&config)
            .enable_security_hub()
            .send()
            .await
            .unwrap();
        let mut ingest = Ingest::from_env(IngestConfig::new(TABLE_NAME, BUS_NAME), &config);
        if let Some(clock) = clock {
            ingest = ingest.with_clock(clock);
        }
        let enrich = Enrich::from_env(EnrichSettings::new(TABLE_NAME, BUS_NAME), &config);
        let task_definition = emulator
            .register_task_definition("shop", &[("app", "shop:3")])
            .await;
        let cluster = emulator.create_cluster("prod").await;
        Pipeline {
            emulator,
            ingest,
            enrich,
            rejected,
            accepted,
            enriched,
            executed,
            cluster,
            task_definition,
        }
    }

    /// A remediate function with [`PLAYBOOKS`] in `mode`; `adjust` changes its other settings.
    pub async fn remediate(
        &self,
        mode: RemediationMode,
        adjust: impl FnOnce(&mut RemediateSettings),
    ) -> Remediate {
        self.remediate_with(PLAYBOOKS, mode, adjust).await
    }

    /// A remediate function with its own playbooks.
    pub async fn remediate_with(
        &self,
        playbooks: &str,
        mode: RemediationMode,
        adjust: impl FnOnce(&mut RemediateSettings),
    ) -> Remediate {
        let mut settings = RemediateSettings::new(TABLE_NAME, BUS_NAME);
        settings.mode = mode;
        adjust(&mut settings);
        Remediate::from_env(
            PlaybookFile::parse(playbooks).unwrap(),
            settings,
            &self.emulator.sdk_config().await,
        )
    }

    /// The table's items whose key starts with `prefix`.
    pub async fn items(
        &self,
        prefix: &str,
    ) -> Vec<std::collections::HashMap<String, AttributeValue>> {
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
                    .is_some_and(|p| p.starts_with(prefix))
            })
            .cloned()
            .collect()
    }

    /// The `stoppedReason` ECS shows for `task`.
    pub async fn stopped_reason(&self, task: &str) -> String {
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
        out.tasks()[0].stopped_reason().unwrap().to_owned()
    }

    /// A service of `count` running tasks named `name` in the pipeline's cluster, without tags;
    /// returns the task ARNs.
    pub async fn service(&self, name: &str, count: i32) -> Vec<String> {
        self.emulator
            .create_service(&self.cluster, name, &self.task_definition, count, &[])
            .await
    }

    /// Tags `resource` (a task, service or cluster ARN) `vigil:protected=true` in ECS.
    pub async fn protect(&self, resource: &str) {
        self.emulator
            .ecs()
            .await
            .tag_resource()
            .resource_arn(resource)
            .tags(
                aws_sdk_ecs::types::Tag::builder()
                    .key("vigil:protected")
                    .value("true")
                    .build(),
            )
            .send()
            .await
            .expect("ECS TagResource on the emulator");
    }

    /// How many of `tasks` ECS shows as desired STOPPED.
    pub async fn stopped(&self, tasks: &[String]) -> usize {
        let mut n = 0;
        for t in tasks {
            if self.task_status(t).await.1 == "STOPPED" {
                n += 1;
            }
        }
        n
    }

    /// A Falco alert about `task`, through ingest and enrich; returns the `Finding Enriched` events.
    pub async fn enriched(&self, alerts: &[(&str, &str, &str)]) -> Vec<String> {
        let bodies: Vec<Value> = alerts
            .iter()
            .map(|(id, task, rule)| falco(id, &self.cluster, task, rule))
            .collect();
        self.through_ingest_and_enrich(&bodies).await
    }

    /// EventBridge events, through ingest (as its queue delivers them) and enrich; returns the
    /// `Finding Enriched` events.
    pub async fn through_ingest_and_enrich(&self, bodies: &[Value]) -> Vec<String> {
        let accepted = self.ingest(bodies).await;
        assert!(self.enrich.process(&accepted).await.is_empty());
        self.enriched
            .drain()
            .await
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    /// EventBridge events through ingest, as its queue delivers them; returns the `Finding
    /// Accepted` events it published.
    pub async fn ingest(&self, bodies: &[Value]) -> Vec<String> {
        let records: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| json!({"messageId": format!("m{i}"), "eventSource": "aws:sqs", "body": body.to_string()}))
            .collect();
        let out = vigil_lambda::invoke_json(
            |e| self.ingest.handle(e),
            json!({"Records": records}),
            "arn:aws:lambda:us-east-1:123456789012:function:ingest",
        )
        .await
        .unwrap();
        assert_eq!(out["batchItemFailures"], json!([]));
        self.accepted
            .drain()
            .await
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    /// The task's `(lastStatus, desiredStatus)`, as DescribeTasks reports them.
    pub async fn task_status(&self, task: &str) -> (String, String) {
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

    /// The remediation decisions (items keyed `ACT#…`).
    pub async fn action_records(&self) -> Vec<std::collections::HashMap<String, AttributeValue>> {
        self.items("ACT#").await
    }

    /// The enforced action record of `task` (`sk = ACTION#enforce`), if any; never more than one.
    pub async fn enforced_record(
        &self,
        task: &str,
    ) -> Option<std::collections::HashMap<String, AttributeValue>> {
        let mut records: Vec<_> = self
            .action_records()
            .await
            .into_iter()
            .filter(|r| s(r, "sk") == "ACTION#enforce" && s(r, "pk").ends_with(task))
            .collect();
        assert!(records.len() <= 1, "{records:?}");
        records.pop()
    }

    /// The sort keys of every remediation item recorded for `task` (its records and asides).
    pub async fn record_keys(&self, task: &str) -> Vec<String> {
        self.action_records()
            .await
            .iter()
            .filter(|r| s(r, "pk").ends_with(task))
            .map(|r| s(r, "sk").to_owned())
            .collect()
    }

    /// Security Hub's findings (the first 100).
    pub async fn findings(&self) -> Vec<aws_sdk_securityhub::types::AwsSecurityFinding> {
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

/// A Falco alert from the `app` container of `task` in `cluster`, seen now, sent from the
/// emulator's account: the sample with those fields changed ([`FalcoAlert`]).
pub fn falco(event_id: &str, cluster: &str, task: &str, rule: &str) -> Value {
    FalcoAlert::sample()
        .id(event_id)
        .from_account(ACCOUNT, "us-east-1")
        .rule(rule)
        .seen_now()
        .on_task(cluster, task)
        .event()
}

/// The string attribute `k` of a DynamoDB item; empty when absent or not a string.
pub fn s<'a>(item: &'a std::collections::HashMap<String, AttributeValue>, k: &str) -> &'a str {
    item.get(k)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .unwrap_or_default()
}

/// A stop playbook for shell alerts, with `extra` YAML lines for the playbook.
pub fn playbooks(extra: &str) -> String {
    format!(
        "version: 1\nplaybooks:\n  - name: shell\n    match: {{rules: [\"Terminal shell*\"]}}\n    actions: [stop_task]\n    mode: enforce\n{extra}"
    )
}

/// Stop limits high enough to stay out of the way.
pub fn generous(s: &mut RemediateSettings) {
    s.guardrails.stop_limit_per_service = 100;
    s.guardrails.stop_limit_per_cluster = 100;
}

/// One `rule` alert per task, through ingest and enrich; event ids `TAG-<i>`.
pub async fn alerts(p: &Pipeline, tasks: &[String], rule: &str, tag: &str) -> Vec<String> {
    let ids: Vec<String> = (0..tasks.len()).map(|i| format!("{tag}-{i}")).collect();
    let alerts: Vec<(&str, &str, &str)> = ids
        .iter()
        .zip(tasks)
        .map(|(id, t)| (id.as_str(), t.as_str(), rule))
        .collect();
    p.enriched(&alerts).await
}

/// The same event under another EventBridge id: the finding arriving again.
pub fn with_id(event: &str, id: &str) -> String {
    let mut v: Value = serde_json::from_str(event).unwrap();
    v["id"] = json!(id);
    v.to_string()
}

/// An `ECS Task State Change` to STOPPED in the pipeline's cluster.
pub fn stopped_change(
    p: &Pipeline,
    id: &str,
    account: &str,
    task: &str,
    group: &str,
    reason: &str,
) -> String {
    json!({"version": "0", "id": id, "source": "aws.ecs",
       "detail-type": "ECS Task State Change", "account": account, "region": "us-east-1",
       "time": chrono::Utc::now().to_rfc3339(), "resources": [task],
       "detail": {"clusterArn": &p.cluster, "taskArn": task, "lastStatus": "STOPPED",
                  "desiredStatus": "STOPPED", "stoppedReason": reason, "stopCode": "UserInitiated",
                  "group": group, "containers": [], "version": 3}})
    .to_string()
}

/// What became of one forged input: where it was stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Ingest published it as `Event Rejected` with this code.
    AtIngest(String),
    /// Remediation refused it (as untrusted, or after a fresh look at the task) with this guardrail.
    AtRemediation(String),
    /// Remediation did not take it at all (returned to the queue, on to the dead-letter queue).
    NotProcessed,
}

impl Pipeline {
    /// Bodies on the ingest queue (or, with `direct`, a direct invocation of each), then enrich and
    /// remediate; returns, per body, where it was stopped.
    pub async fn attack_through_ingest(
        &self,
        remediate: &Remediate,
        bodies: &[Value],
        direct: bool,
    ) -> Vec<Stopped> {
        let mut out = Vec::new();
        for (i, body) in bodies.iter().enumerate() {
            let payload = if direct {
                body.clone()
            } else {
                json!({"Records": [{"messageId": format!("atk{i}"), "eventSource": "aws:sqs", "body": body.to_string()}]})
            };
            let _ = vigil_lambda::invoke_json(
                |e| self.ingest.handle(e),
                payload,
                "arn:aws:lambda:us-east-1:123456789012:function:ingest",
            )
            .await;
            if let Some(r) = self.rejected.drain().await.first() {
                out.push(Stopped::AtIngest(
                    r["detail"]["code"].as_str().unwrap().to_owned(),
                ));
                continue;
            }
            let accepted: Vec<String> = self
                .accepted
                .drain()
                .await
                .iter()
                .map(Value::to_string)
                .collect();
            assert!(self.enrich.process(&accepted).await.is_empty());
            let enriched: Vec<String> = self
                .enriched
                .drain()
                .await
                .iter()
                .map(Value::to_string)
                .collect();
            out.push(self.attack_remediation(remediate, &enriched).await);
        }
        out
    }

    /// `Finding Enriched` bodies put straight on the remediate queue.
    pub async fn attack_remediation(&self, remediate: &Remediate, bodies: &[String]) -> Stopped {
        // Untrusted refusals are recorded once per (finding, task, sender): clear them so that
        // each case shows its own.
        let dynamodb = aws_sdk_dynamodb::Client::new(&self.emulator.sdk_config().await);
        for r in self.action_records().await {
            if s(&r, "sk").starts_with("UNTRUSTED#") {
                dynamodb
                    .delete_item()
                    .table_name(TABLE_NAME)
                    .key("pk", r["pk"].clone())
                    .key("sk", r["sk"].clone())
                    .send()
                    .await
                    .unwrap();
            }
        }
        let before: Vec<String> = self.untrusted_reasons().await;
        if !remediate.process(bodies, Some(ACCOUNT)).await.is_empty() {
            return Stopped::NotProcessed;
        }
        let after = self.untrusted_reasons().await;
        let new: Vec<&String> = after.iter().filter(|r| !before.contains(r)).collect();
        assert_eq!(new.len(), 1, "one refusal recorded: {after:?}");
        Stopped::AtRemediation(new[0].split(':').next().unwrap().to_owned())
    }

    /// The reasons of refusals and untrusted-event records, each as `reason:pk`.
    pub async fn untrusted_reasons(&self) -> Vec<String> {
        self.action_records()
            .await
            .iter()
            .filter(|r| s(r, "sk").starts_with("UNTRUSTED#") || s(r, "outcome") == "refused")
            .map(|r| {
                let d: Value = serde_json::from_str(s(r, "decision")).unwrap();
                format!("{}:{}", d["reason"].as_str().unwrap(), s(r, "pk"))
            })
            .collect()
    }
}
