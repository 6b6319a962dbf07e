//! The guarantees of `shared/design.md` under faults, redelivery and forgery, on the whole local
//! pipeline: the emulator provisioned from the template, the three handlers, and the relay playing
//! Lambda's SQS event source mappings (batch sizes, concurrency, `batchItemFailures`, visibility
//! timeouts, `maxReceiveCount`, dead-letter queues).
//!
//! - nothing lost, nothing invented: every distinct fingerprint is one Security Hub finding, every
//!   dedup record counts exactly the events sent and ends `forwarded`;
//! - a downstream failure beyond the retry budget lands in a dead-letter queue, accounted for, and
//!   a redrive finishes the job;
//! - nothing stopped that should not be: exactly one StopTask per (finding, task), forged and
//!   foreign events stop nothing, a mass of findings stops at most the rate limit.

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use vigil_adapters::{ParseContext, SourceEvent, parse_event};
use vigil_fault_injection::{FaultInjector, FaultKind, FaultPlan, FaultRates, Service};
use vigil_local::{ENRICH, LocalPipeline, RunOptions, relay::Storm, scenario};
use vigil_playbook::PlaybookFile;
use vigil_remediate::RemediationMode;

const QUIET: Duration = Duration::from_millis(500);
const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/burst";

fn playbooks() -> PlaybookFile {
    PlaybookFile::parse(scenario::SHIPPED_PLAYBOOKS).unwrap()
}

async fn pipeline(mode: RemediationMode) -> LocalPipeline {
    LocalPipeline::start(RunOptions::new(mode, playbooks()))
        .await
        .unwrap()
}

/// The fingerprint ingest will compute for an event, from the adapters themselves, on the envelope
/// EventBridge delivers.
fn fingerprint(event: &Value) -> Option<String> {
    let ctx = ParseContext {
        default_account: Some(vigil_local::ACCOUNT.into()),
        default_region: Some("us-east-1".into()),
        channel: vigil_adapters::Channel::EventBridge,
        ..Default::default()
    };
    let mut delivered = event.clone();
    delivered["account"] = json!(vigil_local::ACCOUNT);
    delivered["region"] = json!("us-east-1");
    match parse_event(delivered.to_string().as_bytes(), &ctx) {
        Ok(SourceEvent::Finding(f)) => Some(f.fingerprint.as_str().to_owned()),
        _ => None,
    }
}

/// `events` Falco alerts about `distinct` threats (two rules on `distinct / 2` tasks that do not
/// exist), each alert its own EventBridge event.
fn burst(events: usize, distinct: usize) -> Vec<Value> {
    (0..events)
        .map(|i| {
            let threat = i % distinct;
            let task = format!(
                "arn:aws:ecs:us-east-1:123456789012:task/burst/{:032x}",
                threat / 2
            );
            let rule = if threat.is_multiple_of(2) {
                "Terminal shell in container"
            } else {
                "Read sensitive file untrusted"
            };
            scenario::falco(CLUSTER, &task, rule, "Warning", i)
        })
        .collect()
}

/// How many events each fingerprint must have counted (input that is not a finding counts nowhere).
fn expected_counts(events: &[Value]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for fp in events.iter().filter_map(fingerprint) {
        *counts.entry(fp).or_default() += 1;
    }
    counts
}

/// Nothing lost, nothing invented: one Security Hub finding per fingerprint and no other, every
/// record counts exactly its events and is `forwarded`, no dead letters.
async fn assert_exact(p: &LocalPipeline, expected: &BTreeMap<String, u64>) {
    let records = p.dedup_records().await.unwrap();
    let counted: BTreeMap<String, u64> = records
        .iter()
        .map(|r| (r.fingerprint.clone(), r.occurrences))
        .collect();
    assert_eq!(
        &counted, expected,
        "each fingerprint counts its events exactly"
    );
    let accepted: Vec<_> = records.iter().filter(|r| r.state != "forwarded").collect();
    assert!(accepted.is_empty(), "records not forwarded: {accepted:?}");

    let findings = p.securityhub_findings().await.unwrap();
    let ids: Vec<String> = findings
        .iter()
        .filter_map(|f| f.id().map(str::to_owned))
        .collect();
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "one Security Hub finding per Id");
    let want: BTreeSet<String> = expected.keys().map(|fp| format!("vigil-{fp}")).collect();
    assert_eq!(
        ids.iter().cloned().collect::<BTreeSet<_>>(),
        want,
        "Security Hub holds exactly the fingerprints sent"
    );
    assert_no_dead_letters(p).await;
}

async fn dead_letters(p: &LocalPipeline) -> BTreeMap<&'static str, u64> {
    let sqs = aws_sdk_sqs::Client::new(p.sdk());
    let mut out = BTreeMap::new();
    for f in [vigil_local::INGEST, ENRICH, vigil_local::REMEDIATE] {
        let dlq = p.dead_letter_queue(f).unwrap();
        let n = vigil_local::relay::depth(&sqs, &dlq).await.unwrap();
        if n > 0 {
            out.insert(f, n);
        }
    }
    out
}

async fn assert_no_dead_letters(p: &LocalPipeline) {
    let dl = dead_letters(p).await;
    assert!(dl.is_empty(), "dead letters: {dl:?}");
}

/// 5,000 events, 50 threats, and a fifth of the functions' calls to DynamoDB, ECS, Security Hub
/// and EventBridge failing: 500/503 before and after the write was applied, throttling, latency,
/// connections dropped before and after. SQS redelivers what failed; the end state is exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_with_a_fifth_of_calls_failing_loses_and_invents_nothing() {
    let mut p = pipeline(RemediationMode::Enforce).await;
    // Security Hub takes the 50 findings in a handful of batched imports: at a fifth, a run can
    // see no fault there at all (0.8^8 ≈ 17 %), so it fails half of its calls instead.
    let plan = FaultPlan::uniform(0.20, 20).service(Service::SecurityHub, FaultRates::uniform(0.5));
    let faults = FaultInjector::new(plan);
    p.inject_faults(&faults).unwrap();

    let events = burst(5000, 50);
    let expected = expected_counts(&events);
    assert_eq!(expected.len(), 50);
    p.put_events(&events).await.unwrap();
    p.run_until_quiet(QUIET, |_| {}).await.unwrap();

    let stats = faults.stats();
    eprintln!(
        "faults: {}",
        serde_json::to_string(&stats).unwrap_or_default()
    );
    eprintln!("relay: {:?}", p.progress);
    for service in [
        Service::DynamoDb,
        Service::EventBridge,
        Service::SecurityHub,
        Service::Ecs,
    ] {
        let injected = stats.service(service).map_or(0, |s| s.total_injected());
        assert!(injected > 0, "{service} saw no injected fault: {stats:?}");
    }
    assert!(
        p.progress.failed_items.values().sum::<u64>() > 0,
        "some messages failed and were redelivered"
    );
    assert_exact(&p, &expected).await;
    // The tasks do not exist: remediation decided once per shell finding and refused.
    let actions = p.action_records().await.unwrap();
    assert!(actions.iter().all(|a| !a.stops()));
    assert_eq!(p.emulator().calls("ecs", "StopTask"), 0);
}

/// The emulator (every AWS API at once) restarts in the middle of a burst, with batches in flight:
/// their calls are cut, new connections are refused for two seconds, then it is back with its state
/// (as AWS keeps its own across a server restart). The end state is exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emulator_restart_mid_run_loses_and_invents_nothing() {
    let mut p = pipeline(RemediationMode::Enforce).await;
    let events = burst(1000, 40);
    let expected = expected_counts(&events);
    p.put_events(&events).await.unwrap();
    let mut restarts = 0;
    p.run_with_interruptions(
        QUIET,
        |_| {},
        |progress, emulator| {
            let ingested = progress
                .messages
                .get(vigil_local::INGEST)
                .copied()
                .unwrap_or(0);
            if restarts == 0 && ingested >= 300 {
                tokio::task::block_in_place(|| emulator.restart(Duration::from_secs(2)));
                restarts += 1;
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(restarts, 1);
    eprintln!("relay: {:?}", p.progress);
    assert_exact(&p, &expected).await;
    assert_eq!(p.emulator().calls("ecs", "StopTask"), 0);
}

/// Security Hub down for good: enrich's messages exhaust `maxReceiveCount` and land in its
/// dead-letter queue, one per finding still `accepted`; once Security Hub is back, a redrive of the
/// dead-letter queue finishes the job exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_down_past_the_retry_budget_dead_letters_and_a_redrive_finishes() {
    let mut p = pipeline(RemediationMode::DryRun).await;
    let down = FaultPlan::none().service(
        Service::SecurityHub,
        FaultRates::always(FaultKind::ServerError),
    );
    let faults = FaultInjector::new(down);
    p.inject_faults(&faults).unwrap();

    let events = burst(200, 20);
    let expected = expected_counts(&events);
    p.put_events(&events).await.unwrap();
    p.run_until_quiet(QUIET, |_| {}).await.unwrap();

    // Every finding is accounted for: the dead-letter queue holds the Finding Accepted events of
    // exactly the fingerprints whose records are still `accepted`, and Security Hub has none.
    let sqs = aws_sdk_sqs::Client::new(p.sdk());
    let dlq = p.dead_letter_queue(ENRICH).unwrap();
    let dead = vigil_local::relay::depth(&sqs, &dlq).await.unwrap();
    assert!(dead >= 20, "one message per finding at least: {dead}");
    let records = p.dedup_records().await.unwrap();
    assert_eq!(records.len(), 20);
    assert!(records.iter().all(|r| r.state == "accepted"), "{records:?}");
    assert!(p.securityhub_findings().await.unwrap().is_empty());
    let other: BTreeMap<_, _> = dead_letters(&p)
        .await
        .into_iter()
        .filter(|(f, _)| *f != ENRICH)
        .collect();
    assert!(other.is_empty(), "only enrich's calls failed: {other:?}");
    faults.set_plan(FaultPlan::none());
    let bodies = p.redrive(ENRICH).await.unwrap();
    assert_eq!(bodies.len() as u64, dead);
    let fingerprints: BTreeSet<String> = bodies
        .iter()
        .map(|b| {
            let v: Value = serde_json::from_str(b).unwrap();
            assert_eq!(v["detail-type"], "Finding Accepted");
            v["detail"]["finding"]["fingerprint"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        fingerprints,
        expected.keys().cloned().collect::<BTreeSet<_>>(),
        "the dead letters are exactly the findings Security Hub is missing"
    );
    p.run_until_quiet(QUIET, |_| {}).await.unwrap();
    assert_exact(&p, &expected).await;
}

/// The demo's scenario with every message of every queue delivered 1 to 5 times, in shuffled
/// batches: the same numbers as without the storm, and one StopTask per stopped task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivery_storm_changes_nothing_and_stops_each_task_once() {
    let mut p = pipeline(RemediationMode::Enforce).await;
    p.with_storm(Storm {
        max_copies: 5,
        seed: 5,
    });
    let world = scenario::build_world(&p).await;
    let mut events = scenario::events(&world);
    fastrand::Rng::with_seed(9).shuffle(&mut events);
    p.put_events(&events).await.unwrap();
    p.emulator().reset_api_calls();
    p.run_until_quiet(QUIET, |_| {}).await.unwrap();
    assert!(p.storm_copies() > 20, "{:?}", p.progress);

    let s = p
        .summary(events.len() as u64, BTreeMap::new(), 0.0)
        .await
        .unwrap();
    assert_eq!((s.accepted, s.duplicates, s.rejected), (6, 14, 2));
    assert_eq!(s.securityhub.findings, 4);
    let r = &s.remediation;
    assert_eq!(
        (r.stopped, r.tagged, r.refused, r.proposed),
        (2, 1, 2, 1),
        "{r:?}"
    );
    assert_eq!(
        p.emulator().calls("ecs", "StopTask"),
        2,
        "one StopTask per (finding, task); the proposal is not one"
    );

    // The analyst approves the attack sequence's proposed stop in Security Hub: its event too is
    // delivered 1 to 5 times, and the task is stopped once.
    let selected: Vec<(String, String, String)> = p
        .awaiting_approval()
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, product, _)| product.ends_with("::product/aws/guardduty"))
        .collect();
    assert_eq!(selected.len(), 1, "{selected:?}");
    p.approve(&selected).await.unwrap();
    p.run_until_quiet(QUIET, |_| {}).await.unwrap();
    assert_eq!(p.emulator().calls("ecs", "StopTask"), 3);
    let s = p
        .summary(events.len() as u64, BTreeMap::new(), 0.0)
        .await
        .unwrap();
    assert_eq!((s.remediation.stopped, s.remediation.approved), (3, 1));
    assert_eq!(p.emulator().calls("ecs", "TagResource"), 1);
    let per_fp: BTreeMap<String, u64> = p
        .dedup_records()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.fingerprint, r.occurrences))
        .collect();
    assert_eq!(per_fp, expected_counts(&events));
    assert_no_dead_letters(&p).await;
}

const GUARDDUTY: &str = include_str!("../../samples/guardduty-ecs-runtime.json");

/// A GuardDuty crypto-mining finding about `task`, as GuardDuty puts it on the default bus.
fn guardduty(account: &str, cluster: &str, task: &str) -> Value {
    let mut gd: Value = serde_json::from_str(GUARDDUTY).unwrap();
    let d = &mut gd["detail"];
    d["type"] = json!("CryptoCurrency:Runtime/BitcoinDomainRequest.Reputation");
    d["id"] = json!(format!("forged-{account}"));
    d["accountId"] = json!(account);
    d["region"] = json!("us-east-1");
    d["resource"]["ecsClusterDetails"]["arn"] = json!(cluster);
    d["resource"]["ecsClusterDetails"]["taskDetails"]["arn"] = json!(task);
    json!({"source": "aws.guardduty", "detail-type": "GuardDuty Finding", "detail": gd["detail"]})
}

/// Puts one event on a named bus, whatever its source claims.
async fn put_on(p: &LocalPipeline, bus: &str, event: &Value) {
    let out = aws_sdk_eventbridge::Client::new(p.sdk())
        .put_events()
        .entries(
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .event_bus_name(bus)
                .source(event["source"].as_str().unwrap())
                .detail_type(event["detail-type"].as_str().unwrap())
                .detail(event["detail"].to_string())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_entry_count(), 0);
}

async fn running(p: &LocalPipeline, cluster: &str, tasks: &[String]) -> Vec<String> {
    let ecs = p.emulator().ecs().await;
    let out = ecs
        .describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(tasks.to_vec()))
        .send()
        .await
        .unwrap();
    out.tasks()
        .iter()
        .filter(|t| t.last_status() == Some("RUNNING"))
        .filter_map(|t| t.task_arn().map(str::to_owned))
        .collect()
}

/// Forgeries and foreign findings, in enforce mode with shell and crypto-mining playbooks that
/// stop: GuardDuty claimed on the agent bus, Vigil's own `Finding Enriched` claimed on the default
/// bus, a GuardDuty finding of a foreign account, a Falco alert naming another account's task, and
/// a real running task in a cluster remediation is not allowed to touch. None reaches StopTask; the
/// one genuine alert in the same run does, so the test can tell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_foreign_findings_never_reach_stop_task() {
    let mut options = RunOptions::new(RemediationMode::Enforce, playbooks());
    options
        .remediate_env
        .insert("ALLOWED_CLUSTERS".into(), "vigil-demo".into());
    let mut p = LocalPipeline::start(options).await.unwrap();
    let world = scenario::build_world(&p).await;
    let e = p.emulator();
    let other = e.create_cluster("other").await;
    let td = e
        .register_task_definition("batch", &[("app", "public.ecr.aws/demo/batch:1")])
        .await;
    let other_tasks = e.create_service(&other, "batch", &td, 2, &[]).await;
    let shell = "Terminal shell in container";
    let foreign_task =
        "arn:aws:ecs:us-east-1:999999999999:task/vigil-demo/0123456789abcdef0123456789abcdef";
    let foreign_cluster = "arn:aws:ecs:us-east-1:999999999999:cluster/vigil-demo";

    // Forged: AWS's source on the agent bus; Vigil's own event on the default bus.
    let agent_bus = p.stack().bus_name.clone();
    put_on(
        &p,
        &agent_bus,
        &guardduty("123456789012", &world.cluster, &world.shop[1]),
    )
    .await;
    let mut enriched = scenario::falco(&world.cluster, &world.shop[2], shell, "Critical", 0);
    enriched["source"] = json!("vigil");
    enriched["detail-type"] = json!("Finding Enriched");
    put_on(&p, "default", &enriched).await;
    // Foreign: another account's GuardDuty finding about our task; a Falco alert naming another
    // account's task; our own running task in a cluster that is not allowed.
    let events = vec![
        guardduty("999999999999", &world.cluster, &world.shop[1]),
        scenario::falco(foreign_cluster, foreign_task, shell, "Critical", 1),
        scenario::falco(&other, &other_tasks[0], shell, "Critical", 2),
        // The genuine one.
        scenario::falco(&world.cluster, &world.shop[0], shell, "Critical", 3),
    ];
    p.put_events(&events).await.unwrap();
    p.emulator().reset_api_calls();
    p.run_until_quiet(QUIET, |_| {}).await.unwrap();

    let actions = p.action_records().await.unwrap();
    assert_eq!(
        p.emulator().calls("ecs", "StopTask"),
        1,
        "only the genuine alert stops: {actions:#?}"
    );
    let all_shop: Vec<String> = world.shop.clone();
    assert_eq!(
        running(&p, &world.cluster, &all_shop).await,
        world.shop[1..].to_vec(),
        "shop[0] stopped; the task the forgeries named still runs"
    );
    assert_eq!(running(&p, &other, &other_tasks).await, other_tasks);

    let stops: Vec<_> = actions.iter().filter(|a| a.stops()).collect();
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0].decision["task_arn"], json!(world.shop[0]));
    // Every foreign finding was decided and refused, with a reason that names why.
    let refusals: Vec<String> = actions
        .iter()
        .filter(|a| !a.stops())
        .map(|a| a.decision["reason"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(refusals.len(), 3, "{refusals:?}");
    assert_eq!(
        refusals
            .iter()
            .filter(|r| r.contains("trusted_account") && r.contains("999999999999"))
            .count(),
        2,
        "{refusals:?}"
    );
    assert_eq!(
        refusals
            .iter()
            .filter(|r| r.contains("cluster/other"))
            .count(),
        1,
        "{refusals:?}"
    );
    // The forgeries on the wrong buses reached no function at all: no record of them.
    assert_eq!(p.dedup_records().await.unwrap().len(), 4);
    assert_no_dead_letters(&p).await;
}

/// 1,000 distinct shell findings across the 12 tasks of one service, in enforce mode: at most the
/// per-service limit of tasks is stopped (3 in the template), each with one StopTask; every other
/// finding is decided and recorded with its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mass_of_findings_on_one_service_stops_at_most_the_rate_limit() {
    let mut p = pipeline(RemediationMode::Enforce).await;
    let e = p.emulator();
    let cluster = e.create_cluster("mass").await;
    let td = e
        .register_task_definition("api", &[("app", "public.ecr.aws/demo/api:2")])
        .await;
    let tasks = e.create_service(&cluster, "api", &td, 12, &[]).await;
    assert_eq!(tasks.len(), 12);
    let events: Vec<Value> = (0..1000)
        .map(|i| {
            let mut e = scenario::falco(
                &cluster,
                &tasks[i % tasks.len()],
                "Terminal shell in container",
                "Critical",
                i,
            );
            // A different executable per alert: 1,000 distinct findings.
            e["detail"]["output_fields"]["proc.exepath"] = json!(format!("/tmp/sh-{i}"));
            e
        })
        .collect();
    assert_eq!(expected_counts(&events).len(), 1000);
    p.put_events(&events).await.unwrap();
    p.emulator().reset_api_calls();
    p.run_until_quiet(QUIET, |_| {}).await.unwrap();

    let actions = p.action_records().await.unwrap();
    let stopped: BTreeSet<String> = actions
        .iter()
        .filter(|a| a.stops())
        .map(|a| a.decision["task_arn"].as_str().unwrap().to_owned())
        .collect();
    let stops = actions.iter().filter(|a| a.stops()).count();
    assert!(
        (1..=3).contains(&stops),
        "{stops} stops; the service limit is 3"
    );
    assert_eq!(stopped.len(), stops, "never two stops of one task");
    assert_eq!(p.emulator().calls("ecs", "StopTask"), stops as u64);
    assert_eq!(running(&p, &cluster, &tasks).await.len(), 12 - stops);
    assert_eq!(actions.len(), 1000, "every finding decided once");
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for a in actions.iter().filter(|a| !a.stops()) {
        let reason = a.decision["reason"].as_str().unwrap_or_default();
        assert!(!reason.is_empty(), "{a:?}");
        *reasons.entry(a.outcome.clone()).or_default() += 1;
    }
    eprintln!("outcomes besides the stops: {reasons:?}");
    assert!(
        reasons.get("rate_limited").copied().unwrap_or(0) > 0,
        "{reasons:?}"
    );
    assert_no_dead_letters(&p).await;
}
