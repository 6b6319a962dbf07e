//! What coverage costs, counted at the emulator (calls and DynamoDB write units, never time): the
//! writes per heartbeat, and the ECS, GuardDuty, DynamoDB and Security Hub calls of one check over
//! 1,000 running tasks. `cargo test -p vigil-coverage --test costs -- --nocapture` prints the
//! figures docs/performance.md quotes (`scripts/bench coverage`).

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use vigil_coverage::{Clients, Coverage, CoverageSettings, heartbeat};
use vigil_testkit::{BUS_NAME, Emulator, TABLE_NAME};

const ACCOUNT: &str = "123456789012";
const SERVICES: usize = 10;
const TASKS_PER_SERVICE: i32 = 100;

fn sidecar(task: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    json!({"version": "0", "id": format!("hb-{task}-{}", at.timestamp_millis()),
           "source": "acme.sidecar", "detail-type": heartbeat::DETAIL_TYPE,
           "account": ACCOUNT, "region": "us-east-1", "time": at.to_rfc3339(),
           "detail": {"schema_version": 1, "agent_id": format!("sidecar/{task}"), "kind": "falco",
                      "version": "0.39.2", "watches": {"task_arn": task},
                      "drops": {"events": 1000, "dropped": 0}, "time": at.to_rfc3339()}})
    .to_string()
}

/// Calls of `service` since the last reset, by operation.
fn calls(e: &Emulator, service: &str) -> Value {
    json!(e.api_calls().get(service).cloned().unwrap_or_default())
}

fn count(e: &Emulator, service: &str) -> u64 {
    e.api_calls()
        .get(service)
        .map(|ops| ops.values().sum())
        .unwrap_or(0)
}

/// One heartbeat from each agent, in batches of 100; returns the agents recorded.
async fn round(c: &Coverage, watched: &[&String], now: chrono::DateTime<chrono::Utc>) -> u64 {
    let bodies: Vec<String> = watched.iter().map(|t| sidecar(t, now)).collect();
    let mut recorded = 0;
    for batch in bodies.chunks(100) {
        let (failed, counts) = c.heartbeats(batch, Some(ACCOUNT.into())).await;
        assert!(failed.is_empty());
        recorded += counts.recorded;
    }
    recorded
}

#[tokio::test]
async fn heartbeat_writes_and_check_calls_for_a_thousand_running_tasks() {
    let e = Emulator::start();
    e.create_table().await;
    e.create_bus().await;
    let sdk = e.sdk_config().await;
    aws_sdk_securityhub::Client::new(&sdk)
        .enable_security_hub()
        .send()
        .await
        .unwrap();
    let gd = aws_sdk_guardduty::Client::new(&sdk);
    gd.create_detector().enable(true).send().await.unwrap();
    let cluster = e.create_cluster("scale").await;
    let td = e.register_task_definition("app", &[("app", "app:1")]).await;
    let mut services = Vec::new();
    for i in 0..SERVICES {
        services.push(
            e.create_service(&cluster, &format!("svc-{i}"), &td, TASKS_PER_SERVICE, &[])
                .await,
        );
    }
    // The last service runs without agents.
    let watched: Vec<&String> = services[..SERVICES - 1].iter().flatten().collect();

    let ahead = Arc::new(AtomicI64::new(0));
    let clock_ahead = ahead.clone();
    let clock: vigil_coverage::Clock = Arc::new(move || {
        chrono::Utc::now() + chrono::Duration::seconds(clock_ahead.load(Ordering::SeqCst))
    });
    let mut settings = CoverageSettings::new(TABLE_NAME, BUS_NAME);
    // The tasks started a moment ago: report the unwatched ones at once.
    settings.startup_grace = std::time::Duration::ZERO;
    let coverage = Coverage::new(Clients::from_sdk(&sdk), settings, "us-east-1")
        .without_metrics()
        .with_clock(clock.clone());
    let heartbeats = watched.len() as u64;
    println!(
        "| heartbeats of {heartbeats} agents (one each), batches of 100 | UpdateItem calls | write units | recorded |"
    );
    println!("|---|---|---|---|");
    let measure = |what: &str, recorded: u64, expect_calls: u64| {
        let units = e.write_units();
        let calls = units["writes"]["UpdateItem"].as_u64().unwrap_or(0);
        let billed = units["units"]["UpdateItem"].as_u64().unwrap_or(0);
        println!("| {what} | {calls} | {billed} | {recorded} |");
        assert_eq!(calls, expect_calls, "{what}");
        assert_eq!(
            billed, expect_calls,
            "{what}: every agent item is under 1 KB: {units}"
        );
        assert!(
            units["largest"]["COVERAGE"].as_u64().unwrap_or(0) < 1024,
            "{units}"
        );
        e.reset_api_calls();
    };

    e.reset_api_calls();
    let recorded = round(&coverage, &watched, clock()).await;
    measure("first heartbeat of each agent", recorded, heartbeats);
    ahead.fetch_add(20, Ordering::SeqCst);
    let recorded = round(&coverage, &watched, clock()).await;
    measure("again 20 s later, same instance", recorded, 0);
    // Another warm instance has no memory of the writes: the condition refuses them, each
    // refused write billed as one unit.
    let other = Coverage::new(
        Clients::from_sdk(&sdk),
        CoverageSettings::new(TABLE_NAME, BUS_NAME),
        "us-east-1",
    )
    .without_metrics()
    .with_clock(clock.clone());
    let recorded = round(&other, &watched, clock()).await;
    measure("again 20 s later, another instance", recorded, heartbeats);
    ahead.fetch_add(45, Ordering::SeqCst);
    let recorded = round(&coverage, &watched, clock()).await;
    measure("65 s after the first (next interval)", recorded, heartbeats);

    for (n, label) in [(1, "first check"), (2, "second check (nothing changed)")] {
        e.reset_api_calls();
        let report = coverage.check(ACCOUNT).await.unwrap();
        assert_eq!(
            report.totals.running_tasks,
            (SERVICES as u64) * TASKS_PER_SERVICE as u64
        );
        assert_eq!(report.totals.uncovered_tasks, TASKS_PER_SERVICE as u64);
        assert_eq!(report.findings.active, 1);
        let (ecs, guardduty, dynamodb, securityhub) = (
            calls(&e, "ecs"),
            calls(&e, "guardduty"),
            calls(&e, "dynamodb"),
            calls(&e, "securityhub"),
        );
        println!(
            "\n{label} over {} running tasks in {} services: ECS {} {ecs}, GuardDuty {} {guardduty}, DynamoDB {} {dynamodb}, Security Hub {} {securityhub}; write units {}",
            report.totals.running_tasks,
            SERVICES,
            count(&e, "ecs"),
            count(&e, "guardduty"),
            count(&e, "dynamodb"),
            count(&e, "securityhub"),
            e.write_units()["units"]
        );
        // ListClusters 1, ListTasks 10 pages of 100, DescribeTasks 10 calls of 100.
        assert_eq!(count(&e, "ecs"), 21);
        assert_eq!(ecs["ListTasks"], 10);
        assert_eq!(ecs["DescribeTasks"], 10);
        // ListDetectors, one page of ListCoverage.
        assert_eq!(count(&e, "guardduty"), 2);
        assert_eq!(report.calls.ecs, 21);
        assert_eq!(report.calls.guardduty, 2);
        // One import of the one finding; its item written only when it opens.
        assert_eq!(securityhub["BatchImportFindings"], 1);
        let put = dynamodb["PutItem"].as_u64().unwrap_or(0);
        assert_eq!(
            put,
            if n == 1 { 2 } else { 1 },
            "the finding once, the report each time: {dynamodb}"
        );
    }
}
