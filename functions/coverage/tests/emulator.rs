//! The coverage function against the AWS API emulator: heartbeats through its queue's handler,
//! the scheduled check against ECS, GuardDuty, DynamoDB and Security Hub.

use aws_sdk_securityhub::types::AwsSecurityFinding;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use vigil_coverage::{Clients, Coverage, CoverageSettings, Report, heartbeat};
use vigil_testkit::{BUS_NAME, BusTap, Emulator, TABLE_NAME};

const ACCOUNT: &str = "123456789012";
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:vigil-coverage";

/// The emulator with a cluster, the function, and taps on what it may publish.
struct Bed {
    emulator: Emulator,
    coverage: Coverage,
    /// Seconds the function's clock runs ahead of the wall clock.
    ahead: Arc<AtomicI64>,
    rejected: BusTap,
    /// Findings for remediation: the coverage function must never publish one.
    for_remediation: BusTap,
    cluster: String,
    task_definition: String,
}

impl Bed {
    async fn start(adjust: impl FnOnce(&mut CoverageSettings)) -> Bed {
        let emulator = Emulator::start();
        emulator.create_table().await;
        emulator.create_bus().await;
        let rejected = emulator.tap_vigil("rejected", "Event Rejected").await;
        let for_remediation = emulator
            .tap_bus(
                "for-remediation",
                json!({"source": ["vigil"], "detail-type": ["Finding Accepted", "Finding Enriched"]}),
            )
            .await;
        let sdk = emulator.sdk_config().await;
        aws_sdk_securityhub::Client::new(&sdk)
            .enable_security_hub()
            .send()
            .await
            .unwrap();
        let cluster = emulator.create_cluster("prod").await;
        let task_definition = emulator
            .register_task_definition("shop", &[("app", "shop:3")])
            .await;
        let mut settings = CoverageSettings::new(TABLE_NAME, BUS_NAME);
        settings.trusted_accounts = vec!["222222222222".into()];
        // The tests' tasks start during the test: reported at once unless a test says otherwise.
        settings.startup_grace = std::time::Duration::ZERO;
        adjust(&mut settings);
        let ahead = Arc::new(AtomicI64::new(0));
        let clock_ahead = ahead.clone();
        let coverage = Coverage::new(Clients::from_sdk(&sdk), settings, "us-east-1")
            .without_metrics()
            .with_clock(Arc::new(move || {
                chrono::Utc::now() + chrono::Duration::seconds(clock_ahead.load(Ordering::SeqCst))
            }));
        Bed {
            emulator,
            coverage,
            ahead,
            rejected,
            for_remediation,
            cluster,
            task_definition,
        }
    }

    fn advance(&self, seconds: i64) {
        self.ahead.fetch_add(seconds, Ordering::SeqCst);
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + chrono::Duration::seconds(self.ahead.load(Ordering::SeqCst))
    }

    async fn service(&self, name: &str, count: i32) -> Vec<String> {
        self.emulator
            .create_service(&self.cluster, name, &self.task_definition, count, &[])
            .await
    }

    /// Heartbeat events through the function's queue handler; asserts none is redelivered.
    async fn heartbeats(&self, events: &[Value]) {
        let records: Vec<Value> = events
            .iter()
            .enumerate()
            .map(|(i, e)| json!({"messageId": format!("m{i}"), "eventSource": "aws:sqs", "body": e.to_string()}))
            .collect();
        let out = vigil_lambda::invoke_json(
            |e| self.coverage.handle(e),
            json!({"Records": records}),
            FUNCTION_ARN,
        )
        .await
        .unwrap();
        assert_eq!(out["batchItemFailures"], json!([]));
    }

    /// The scheduled check, as the schedule invokes it.
    async fn check(&self) -> Report {
        let scheduled = json!({"version": "0", "id": "s1", "source": "aws.events",
            "detail-type": "Scheduled Event", "account": ACCOUNT, "region": "us-east-1",
            "time": self.now().to_rfc3339(), "resources": [], "detail": {}});
        let out = vigil_lambda::invoke_json(|e| self.coverage.handle(e), scheduled, FUNCTION_ARN)
            .await
            .unwrap();
        serde_json::from_value(out).unwrap()
    }

    async fn findings(&self) -> Vec<AwsSecurityFinding> {
        aws_sdk_securityhub::Client::new(&self.emulator.sdk_config().await)
            .get_findings()
            .max_results(100)
            .send()
            .await
            .unwrap()
            .findings()
            .to_vec()
    }

    async fn finding(&self, service: &str, problem: &str) -> Option<AwsSecurityFinding> {
        self.findings().await.into_iter().find(|f| {
            let fields = f.product_fields().cloned().unwrap_or_default();
            fields.get("vigil/Service").map(String::as_str) == Some(service)
                && fields.get("vigil/Coverage").map(String::as_str) == Some(problem)
        })
    }
}

/// A sidecar's `Agent Heartbeat` for `task`, sent from `account`, with `dropped` of 1,000 events.
fn sidecar(account: &str, task: &str, dropped: u64, at: chrono::DateTime<chrono::Utc>) -> Value {
    json!({"version": "0", "id": format!("hb-{task}-{}", at.timestamp_millis()),
           "source": "acme.sidecar", "detail-type": heartbeat::DETAIL_TYPE,
           "account": account, "region": "us-east-1", "time": at.to_rfc3339(),
           "detail": {"schema_version": 1, "agent_id": format!("sidecar/{task}"), "kind": "custom",
                      "version": "2.1.0", "watches": {"task_arn": task, "cluster": "prod"},
                      "drops": {"events": 1000, "dropped": dropped}, "time": at.to_rfc3339()}})
}

#[tokio::test]
async fn exactly_the_uncovered_tasks_are_reported_per_service_and_resolved_when_heartbeats_return()
{
    let bed = Bed::start(|_| {}).await;
    let shop = bed.service("shop", 3).await;
    let cart = bed.service("cart", 2).await;
    let now = bed.now();
    let mut beats: Vec<Value> = shop.iter().map(|t| sidecar(ACCOUNT, t, 0, now)).collect();
    beats.push(sidecar(ACCOUNT, &cart[0], 0, now));
    bed.heartbeats(&beats).await;

    let report = bed.check().await;
    assert_eq!(
        (
            report.totals.running_tasks,
            report.totals.covered_tasks,
            report.totals.uncovered_tasks
        ),
        (5, 4, 1)
    );
    let cart_row = report
        .services
        .iter()
        .find(|r| r.service == "cart")
        .unwrap();
    assert_eq!(cart_row.uncovered_tasks, [cart[1].clone()]);
    assert_eq!(cart_row.agent_versions, ["custom 2.1.0"]);
    assert_eq!(report.findings.active, 1);
    let finding = bed
        .finding("cart", "not-reporting")
        .await
        .expect("cart's finding");
    assert!(bed.finding("shop", "not-reporting").await.is_none());
    assert_eq!(finding.record_state().map(|s| s.as_str()), Some("ACTIVE"));
    assert!(finding.description().unwrap().contains(&cart[1]));
    assert!(!finding.description().unwrap().contains(&cart[0]));
    // The service and cluster, never a task: no playbook can match a task to stop.
    let kinds: Vec<&str> = finding
        .resources()
        .iter()
        .filter_map(|r| r.r#type())
        .collect();
    assert_eq!(kinds, ["AwsEcsCluster", "AwsEcsService"]);
    assert_eq!(finding.product_fields().unwrap()["vigil/Kind"], "coverage");

    // Checked again without change: the same one finding, updated.
    bed.advance(60);
    let again = bed.check().await;
    assert_eq!((again.findings.active, again.findings.resolved), (1, 0));
    assert_eq!(bed.findings().await.len(), 1);

    // The missing sidecar reports: coverage is back, the finding resolved.
    bed.heartbeats(&[sidecar(ACCOUNT, &cart[1], 0, bed.now())])
        .await;
    let back = bed.check().await;
    assert_eq!(
        (back.totals.uncovered_tasks, back.findings.resolved),
        (0, 1)
    );
    let resolved = bed.finding("cart", "not-reporting").await.unwrap();
    assert_eq!(
        resolved.record_state().map(|s| s.as_str()),
        Some("ARCHIVED")
    );
    assert_eq!(
        resolved
            .workflow()
            .and_then(|w| w.status())
            .map(|s| s.as_str()),
        Some("RESOLVED")
    );
    // Nothing of this is a finding for remediation.
    assert!(bed.for_remediation.drain().await.is_empty());
    assert!(bed.rejected.drain().await.is_empty());
}

#[tokio::test]
async fn heartbeats_that_stop_coming_make_tasks_uncovered_after_the_grace_period() {
    let bed = Bed::start(|s| s.grace = std::time::Duration::from_secs(600)).await;
    let shop = bed.service("shop", 2).await;
    bed.heartbeats(
        &shop
            .iter()
            .map(|t| sidecar(ACCOUNT, t, 0, bed.now()))
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(bed.check().await.totals.covered_tasks, 2);
    bed.advance(601);
    let report = bed.check().await;
    assert_eq!(report.totals.uncovered_tasks, 2);
    let row = &report.services[0];
    assert!(
        row.last_heartbeat.is_some(),
        "the last heartbeat is reported"
    );
    let f = bed.finding("shop", "not-reporting").await.unwrap();
    assert!(f.product_fields().unwrap()["vigil/LastHeartbeat"].starts_with("20"));
}

#[tokio::test]
async fn sustained_heavy_drops_are_degraded() {
    let bed = Bed::start(|s| {
        s.degraded_after = 3;
        s.heavy_drop_ratio = 0.1;
    })
    .await;
    let shop = bed.service("shop", 2).await;
    // Three heartbeats in a row, one interval apart, dropping 30 % of events on the first task.
    for _ in 0..3 {
        bed.heartbeats(&[
            sidecar(ACCOUNT, &shop[0], 300, bed.now()),
            sidecar(ACCOUNT, &shop[1], 0, bed.now()),
        ])
        .await;
        bed.advance(61);
    }
    let report = bed.check().await;
    assert_eq!(
        (
            report.totals.degraded_tasks,
            report.totals.covered_tasks,
            report.totals.uncovered_tasks
        ),
        (1, 1, 0)
    );
    assert_eq!(report.services[0].degraded_tasks, [shop[0].clone()]);
    let f = bed
        .finding("shop", "degraded")
        .await
        .expect("a degraded finding");
    assert!(
        f.title()
            .unwrap()
            .starts_with("Runtime monitoring degraded")
    );
    assert!(bed.finding("shop", "not-reporting").await.is_none());
    // Drops stop: the next heartbeat restarts the streak and the finding resolves.
    bed.heartbeats(&[sidecar(ACCOUNT, &shop[0], 0, bed.now())])
        .await;
    let report = bed.check().await;
    assert_eq!(
        (report.totals.degraded_tasks, report.findings.resolved),
        (0, 1)
    );
}

#[tokio::test]
async fn a_task_that_stops_is_no_longer_reported() {
    let bed = Bed::start(|_| {}).await;
    let cart = bed.service("cart", 2).await;
    bed.heartbeats(&[sidecar(ACCOUNT, &cart[0], 0, bed.now())])
        .await;
    let report = bed.check().await;
    assert_eq!(report.services[0].uncovered_tasks, [cart[1].clone()]);
    bed.emulator
        .ecs()
        .await
        .stop_task()
        .cluster(&bed.cluster)
        .task(&cart[1])
        .reason("scaled in")
        .send()
        .await
        .unwrap();
    let report = bed.check().await;
    assert_eq!(
        (report.totals.running_tasks, report.totals.uncovered_tasks),
        (1, 0)
    );
    assert_eq!(report.findings.resolved, 1);
    let f = bed.finding("cart", "not-reporting").await.unwrap();
    assert_eq!(f.record_state().map(|s| s.as_str()), Some("ARCHIVED"));
}

#[tokio::test]
async fn heartbeats_from_an_untrusted_sender_or_for_another_account_mark_nothing_covered() {
    let bed = Bed::start(|_| {}).await;
    let shop = bed.service("shop", 2).await;
    // An account nobody trusts, and a trusted account vouching for this account's task.
    bed.heartbeats(&[
        sidecar("999999999999", &shop[0], 0, bed.now()),
        sidecar("222222222222", &shop[1], 0, bed.now()),
    ])
    .await;
    let report = bed.check().await;
    assert_eq!(
        (report.totals.covered_tasks, report.totals.uncovered_tasks),
        (0, 2)
    );
    let mut codes: Vec<String> = bed
        .rejected
        .drain()
        .await
        .iter()
        .map(|e| e["detail"]["code"].as_str().unwrap().to_owned())
        .collect();
    codes.sort();
    assert_eq!(codes, ["foreign_workload", "untrusted_sender"]);
    // Nothing was written for them.
    let agents = bed.coverage.store().agents().await.unwrap();
    assert!(agents.is_empty(), "{agents:?}");
}

#[tokio::test]
async fn heartbeats_cost_at_most_one_write_per_agent_per_interval() {
    let bed = Bed::start(|s| s.heartbeat_interval = std::time::Duration::from_secs(60)).await;
    let shop = bed.service("shop", 1).await;
    bed.emulator.reset_api_calls();
    // Ten heartbeats of one agent within one interval, in three batches.
    bed.heartbeats(
        &(0..4)
            .map(|i| {
                sidecar(
                    ACCOUNT,
                    &shop[0],
                    0,
                    bed.now() + chrono::Duration::milliseconds(i),
                )
            })
            .collect::<Vec<_>>(),
    )
    .await;
    bed.advance(10);
    bed.heartbeats(&[sidecar(ACCOUNT, &shop[0], 0, bed.now())])
        .await;
    bed.advance(10);
    bed.heartbeats(
        &(0..5)
            .map(|i| {
                sidecar(
                    ACCOUNT,
                    &shop[0],
                    0,
                    bed.now() + chrono::Duration::milliseconds(i),
                )
            })
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(bed.emulator.calls("dynamodb", "UpdateItem"), 1);
    // The next interval: one more.
    bed.advance(60);
    bed.heartbeats(&[sidecar(ACCOUNT, &shop[0], 0, bed.now())])
        .await;
    assert_eq!(bed.emulator.calls("dynamodb", "UpdateItem"), 2);
    // Another warm instance (no memory of the writes) is held to the interval by the condition.
    let sdk = bed.emulator.sdk_config().await;
    let other = Coverage::new(
        Clients::from_sdk(&sdk),
        CoverageSettings::new(TABLE_NAME, BUS_NAME),
        "us-east-1",
    )
    .without_metrics();
    let (failed, counts) = other
        .heartbeats(
            &[sidecar(ACCOUNT, &shop[0], 0, chrono::Utc::now()).to_string()],
            Some(ACCOUNT.into()),
        )
        .await;
    assert!(failed.is_empty());
    assert_eq!((counts.recorded, counts.coalesced), (0, 1));
}

#[tokio::test]
async fn falcos_own_events_are_heartbeats() {
    let bed = Bed::start(|_| {}).await;
    let shop = bed.service("shop", 1).await;
    let snapshot = json!({"version": "0", "id": "f1", "source": "falco", "detail-type": "Falco Alert",
        "account": ACCOUNT, "region": "us-east-1",
        "detail": {"rule": "Falco internal: metrics snapshot", "priority": "Informational",
                   "output": "Falco metrics snapshot", "time": bed.now().to_rfc3339(),
                   "source": "internal",
                   "output_fields": {"falco.version": "0.39.2", "scap.n_drops_perc": 0.0,
                                     "container.label.com.amazonaws.ecs.task-arn": &shop[0],
                                     "container.label.com.amazonaws.ecs.cluster": "prod"}}});
    bed.heartbeats(&[snapshot]).await;
    let report = bed.check().await;
    assert_eq!(report.totals.covered_tasks, 1);
    assert_eq!(report.services[0].agent_versions, ["falco 0.39.2"]);
}

#[tokio::test]
async fn guardduty_covers_tasks_started_after_its_runtime_coverage_was_healthy() {
    let bed = Bed::start(|_| {}).await;
    let sdk = bed.emulator.sdk_config().await;
    let gd = aws_sdk_guardduty::Client::new(&sdk);
    let before = bed.service("legacy", 2).await;
    let detector = gd.create_detector().enable(true).send().await.unwrap();
    gd.update_detector()
        .detector_id(detector.detector_id().unwrap())
        .features(
            aws_sdk_guardduty::types::DetectorFeatureConfiguration::builder()
                .name(aws_sdk_guardduty::types::DetectorFeature::RuntimeMonitoring)
                .status(aws_sdk_guardduty::types::FeatureStatus::Enabled)
                .additional_configuration(
                    aws_sdk_guardduty::types::DetectorAdditionalConfiguration::builder()
                        .name(aws_sdk_guardduty::types::FeatureAdditionalConfiguration::EcsFargateAgentManagement)
                        .status(aws_sdk_guardduty::types::FeatureStatus::Enabled)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let after = bed.service("fresh", 2).await;
    let report = bed.check().await;
    assert_eq!(report.guardduty, "used");
    let row = |s: &str| {
        report
            .services
            .iter()
            .find(|r| r.service == s)
            .unwrap()
            .clone()
    };
    assert_eq!(
        (row("fresh").covered, row("fresh").covered_by_guardduty),
        (2, 2)
    );
    // Started before Runtime Monitoring was on: no agent until they restart.
    assert_eq!(row("legacy").uncovered_tasks.len(), 2);
    assert!(
        before
            .iter()
            .all(|t| row("legacy").uncovered_tasks.contains(t))
    );
    assert!(
        after
            .iter()
            .all(|t| !row("fresh").uncovered_tasks.contains(t))
    );
    assert_eq!(
        report.calls.guardduty, 2,
        "ListDetectors and one page of ListCoverage"
    );
}

#[tokio::test]
async fn a_new_task_is_not_reported_before_its_agent_could_report() {
    let bed = Bed::start(|s| s.startup_grace = std::time::Duration::from_secs(120)).await;
    bed.service("shop", 2).await;
    let report = bed.check().await;
    assert_eq!(
        (
            report.totals.starting_tasks,
            report.totals.uncovered_tasks,
            report.findings.active
        ),
        (2, 0, 0)
    );
    bed.advance(121);
    let report = bed.check().await;
    assert_eq!(
        (report.totals.starting_tasks, report.totals.uncovered_tasks),
        (0, 2)
    );
    assert!(bed.finding("shop", "not-reporting").await.is_some());
}

#[tokio::test]
async fn anything_but_the_queue_or_the_schedule_is_refused() {
    let bed = Bed::start(|_| {}).await;
    let forged = json!({"source": "acme", "detail-type": "Scheduled Event", "detail": {}});
    assert!(
        vigil_lambda::invoke_json(|e| bed.coverage.handle(e), forged, FUNCTION_ARN)
            .await
            .is_err()
    );
}
