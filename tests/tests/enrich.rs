//! ingest → enrich against the emulator: real tasks, real Security Hub, real dedup records.

use aws_sdk_securityhub::operation::batch_import_findings::BatchImportFindingsError;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use serde_json::{Value, json};
use vigil_e2e::Pipeline;
use vigil_enrich::{Enrich, EnrichSettings};
use vigil_testkit::events::FalcoAlert;
use vigil_testkit::{BUS_NAME, TABLE_NAME};

/// A Falco alert from a container of `task` in `cluster`, as an EventBridge event in the emulator's account.
fn falco(event_id: &str, cluster: &str, task: &str, rule: &str) -> Value {
    FalcoAlert::sample()
        .id(event_id)
        .from_account("123456789012", "us-east-1")
        .rule(rule)
        .on_task(cluster, task)
        .event()
}

/// Two alerts about one running task, of two rules (two findings), through ingest: their
/// `Finding Accepted` messages.
async fn two_findings_ingested(p: &Pipeline) -> Vec<String> {
    let task = p
        .emulator
        .run_tasks(&p.cluster, &p.task_definition, 1, &[])
        .await
        .remove(0);
    p.ingest(&[
        falco("e1", &p.cluster, &task, "r1"),
        falco("e2", &p.cluster, &task, "r2"),
    ])
    .await
}

#[tokio::test]
async fn a_falco_finding_is_enriched_imported_once_and_forwarded() {
    let p = Pipeline::start().await;
    let td = p
        .emulator
        .register_task_definition("shop", &[("app", "shop:3")])
        .await;
    let cluster = p.emulator.create_cluster("prod").await;
    let tasks = p
        .emulator
        .create_service(&cluster, "shop", &td, 2, &[("team", "payments")])
        .await;

    let bodies = p
        .ingest(&[falco(
            "e1",
            &cluster,
            &tasks[0],
            "Terminal shell in container",
        )])
        .await;
    assert_eq!(bodies.len(), 1);
    assert!(p.enrich.process(&bodies).await.is_empty());

    let findings = p.findings().await;
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    let types: Vec<&str> = f.resources().iter().filter_map(|r| r.r#type()).collect();
    assert_eq!(
        types,
        [
            "AwsEcsTask",
            "AwsEcsCluster",
            "AwsEcsService",
            "AwsEcsTaskDefinition",
            "Container"
        ]
    );
    let container = f
        .resources()
        .iter()
        .find(|r| r.r#type() == Some("Container"))
        .unwrap();
    let digest = container
        .details()
        .and_then(|d| d.container())
        .and_then(|c| c.image_id())
        .unwrap();
    assert!(
        digest.starts_with("sha256:"),
        "image digest from DescribeTasks: {digest}"
    );

    let enriched = p.enriched.drain().await;
    assert_eq!(enriched.len(), 1);
    let task = &enriched[0]["detail"]["enrichment"]["task"];
    assert_eq!(task["service_name"], "shop");
    assert_eq!(task["task_definition_family"], "shop");
    assert_eq!(
        task["tags"]["team"],
        json!(null),
        "tags were on the service, not the task"
    );
    assert_eq!(task["service_tags"]["team"], "payments");

    let items = p.emulator.table_items().await;
    assert_eq!(items[0]["dedup_state"].as_s().unwrap(), "forwarded");
}

#[tokio::test]
async fn a_batch_of_100_across_three_clusters_and_its_repeats() {
    let p = Pipeline::start().await;
    let td = p
        .emulator
        .register_task_definition("svc", &[("app", "svc:1")])
        .await;
    let mut targets = Vec::new();
    for name in ["a", "b", "c"] {
        let cluster = p.emulator.create_cluster(name).await;
        let tasks = p.emulator.create_service(&cluster, name, &td, 2, &[]).await;
        targets.extend(tasks.into_iter().map(|t| (cluster.clone(), t)));
    }
    // 100 distinct findings: 6 tasks × 17 rules, capped at 100.
    let events: Vec<Value> = (0..100)
        .map(|i| {
            let (cluster, task) = &targets[i % targets.len()];
            falco(
                &format!("e{i}"),
                cluster,
                task,
                &format!("rule {}", i / targets.len()),
            )
        })
        .collect();
    let bodies = p.ingest(&events).await;
    assert_eq!(bodies.len(), 100);
    p.emulator.reset_api_calls();
    assert!(p.enrich.process(&bodies).await.is_empty());
    assert!(
        p.emulator.calls("ecs", "DescribeTasks") <= 3,
        "{:?}",
        p.emulator.api_calls().get("ecs")
    );
    assert_eq!(p.emulator.calls("securityhub", "BatchImportFindings"), 1);
    assert_eq!(p.findings().await.len(), 100);

    // The same findings again (count updates after the interval): same Ids, no ECS calls when warm.
    p.emulator.reset_api_calls();
    assert!(p.enrich.process(&bodies).await.is_empty());
    let ecs: u64 = p
        .emulator
        .api_calls()
        .get("ecs")
        .map(|o| o.values().sum())
        .unwrap_or(0);
    assert_eq!(
        ecs, 0,
        "a second batch for the same tasks makes no ECS calls"
    );
    let findings = p.findings().await;
    assert_eq!(
        findings.len(),
        100,
        "exactly one Security Hub finding per fingerprint"
    );
    let mut ids: Vec<&str> = findings.iter().filter_map(|f| f.id()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 100);
}

#[tokio::test]
async fn when_security_hub_stays_down_remediation_gets_each_finding_once_and_the_import_is_retried()
{
    let p = Pipeline::start().await;
    let bodies = two_findings_ingested(&p).await;

    let down = mock!(aws_sdk_securityhub::Client::batch_import_findings)
        .then_error(|| BatchImportFindingsError::unhandled("service unavailable"));
    let failing = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, [&down]);
    let config = p.emulator.sdk_config().await;
    let enrich = Enrich::from_env(EnrichSettings::new(TABLE_NAME, BUS_NAME), &config)
        .with_importer(vigil_securityhub::SecurityHubImporter::new(
            failing,
            vigil_securityhub::RetryPolicy::immediate(3),
            1000,
        ));
    assert_eq!(
        enrich.process(&bodies).await,
        vec![0, 1],
        "both messages back to SQS, for the import"
    );
    assert!(down.num_calls() >= 3);
    for item in p.emulator.table_items().await {
        assert_eq!(item["dedup_state"].as_s().unwrap(), "accepted");
    }
    // Remediation does not wait for Security Hub: both findings are published, saying so.
    let enriched = p.enriched.drain().await;
    assert_eq!(enriched.len(), 2);
    for e in &enriched {
        let sh = &e["detail"]["securityhub"];
        assert_eq!(sh["imported"], false);
        assert_eq!(sh["import_error"]["kind"], "retrying");
        assert_eq!(sh["import_error"]["retrying"], true);
    }

    // Redelivered while Security Hub is still down: back to SQS again, nothing published again.
    assert_eq!(enrich.process(&bodies).await, vec![0, 1]);
    assert!(
        p.enriched.drain().await.is_empty(),
        "published once per occurrence"
    );

    // Security Hub is back: the redelivery finishes the import, and publishes nothing again.
    assert!(p.enrich.process(&bodies).await.is_empty());
    assert_eq!(p.findings().await.len(), 2);
    for item in p.emulator.table_items().await {
        assert_eq!(item["dedup_state"].as_s().unwrap(), "forwarded");
    }
    assert!(
        p.enriched.drain().await.is_empty(),
        "published once per occurrence"
    );
}

#[tokio::test]
async fn guardduty_findings_are_enriched_but_not_imported_unless_configured() {
    let p = Pipeline::start().await;
    let mut gd: Value =
        serde_json::from_str(include_str!("../../samples/guardduty-ecs-runtime.json")).unwrap();
    gd["account"] = json!("123456789012");
    gd["region"] = json!("us-east-1");
    let bodies = p.ingest(&[gd]).await;
    assert!(p.enrich.process(&bodies).await.is_empty());
    assert!(
        p.findings().await.is_empty(),
        "GuardDuty sends its own findings to Security Hub"
    );
    let enriched = p.enriched.drain().await;
    assert_eq!(enriched[0]["detail"]["securityhub"]["imported"], false);
    assert_eq!(
        enriched[0]["detail"]["enrichment"]["enriched"], false,
        "the sample's task does not exist here"
    );
    assert_eq!(
        p.emulator.table_items().await[0]["dedup_state"]
            .as_s()
            .unwrap(),
        "forwarded"
    );
}

#[tokio::test]
async fn throttling_and_failed_findings_end_with_each_finding_imported_once_and_forwarded() {
    use aws_sdk_securityhub::operation::batch_import_findings::BatchImportFindingsOutput;
    use aws_sdk_securityhub::types::ImportFindingsError;
    use std::sync::{Arc, Mutex};

    let p = Pipeline::start().await;
    let bodies = two_findings_ingested(&p).await;
    let ids: Vec<String> = bodies
        .iter()
        .map(|b| {
            serde_json::from_str::<Value>(b).unwrap()["detail"]["dedup"]["securityhub_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();

    // Throttled once; then the first finding fails with a retryable code while the second is
    // imported; then the first is imported.
    let sent: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let record = sent.clone();
    let failing_id = ids[0].clone();
    let rule = mock!(aws_sdk_securityhub::Client::batch_import_findings)
        .match_requests(move |req| {
            record.lock().unwrap().push(
                req.findings()
                    .iter()
                    .filter_map(|f| f.id().map(str::to_owned))
                    .collect(),
            );
            true
        })
        .sequence()
        .error(|| BatchImportFindingsError::unhandled("TooManyRequestsException"))
        .output(move || {
            let failed = ImportFindingsError::builder()
                .id(&failing_id)
                .error_code("InternalException")
                .error_message("try again");
            BatchImportFindingsOutput::builder()
                .failed_count(1)
                .success_count(1)
                .failed_findings(failed.build())
                .build()
        })
        .output(|| {
            BatchImportFindingsOutput::builder()
                .failed_count(0)
                .success_count(1)
                .build()
        })
        .build();
    let client = mock_client!(aws_sdk_securityhub, RuleMode::Sequential, [&rule]);
    let config = p.emulator.sdk_config().await;
    let enrich = Enrich::from_env(EnrichSettings::new(TABLE_NAME, BUS_NAME), &config)
        .with_importer(vigil_securityhub::SecurityHubImporter::new(
            client,
            vigil_securityhub::RetryPolicy::immediate(4),
            1000,
        ));

    assert!(
        enrich.process(&bodies).await.is_empty(),
        "nothing handed back to SQS"
    );
    let sent = sent.lock().unwrap().clone();
    assert_eq!(
        sent,
        vec![ids.clone(), ids.clone(), vec![ids[0].clone()]],
        "only the failed finding was sent again"
    );
    for item in p.emulator.table_items().await {
        assert_eq!(item["dedup_state"].as_s().unwrap(), "forwarded");
    }
    assert_eq!(
        p.enriched.drain().await.len(),
        2,
        "one Finding Enriched per finding"
    );
}

/// An ingest clock the test moves, starting at the wall clock's now.
fn test_clock() -> (
    vigil_ingest::Clock,
    std::sync::Arc<std::sync::Mutex<chrono::DateTime<chrono::Utc>>>,
) {
    let now = std::sync::Arc::new(std::sync::Mutex::new(chrono::Utc::now()));
    let read = now.clone();
    (std::sync::Arc::new(move || *read.lock().unwrap()), now)
}

fn with_priority(mut event: Value, priority: &str) -> Value {
    event["detail"]["priority"] = json!(priority);
    event
}

fn severity_of(f: &aws_sdk_securityhub::types::AwsSecurityFinding) -> (String, i32) {
    let s = f.severity().expect("a severity");
    (
        s.label().map(|l| l.as_str().to_owned()).unwrap_or_default(),
        s.normalized().unwrap_or_default(),
    )
}

#[tokio::test]
async fn an_escalating_severity_reaches_security_hub_at_once_and_is_never_lowered() {
    let (clock, now) = test_clock();
    let p = Pipeline::start_with_clock(Some(clock)).await;
    let cluster = p.cluster.clone();
    let tasks = p.service("shop", 1).await;
    let alert = |id: &str, priority: &str| {
        with_priority(
            falco(id, &cluster, &tasks[0], "Terminal shell in container"),
            priority,
        )
    };

    let bodies = p.ingest(&[alert("low-1", "Notice")]).await;
    assert!(p.enrich.process(&bodies).await.is_empty());
    assert_eq!(severity_of(&p.findings().await[0]), ("LOW".to_owned(), 20));

    // The severe occurrence, seconds later, well within the update interval.
    *now.lock().unwrap() += chrono::Duration::seconds(5);
    let bodies = p.ingest(&[alert("high-1", "Error")]).await;
    assert_eq!(bodies.len(), 1, "published at once");
    let accepted: Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(accepted["detail"]["dedup"]["reason"], "escalated");
    assert!(p.enrich.process(&bodies).await.is_empty());
    let findings = p.findings().await;
    assert_eq!(findings.len(), 1, "one finding, updated");
    assert_eq!(severity_of(&findings[0]), ("HIGH".to_owned(), 70));

    // A low occurrence at the next interval: a count update that keeps the highest severity.
    *now.lock().unwrap() += chrono::Duration::seconds(900);
    let bodies = p.ingest(&[alert("low-2", "Notice")]).await;
    assert_eq!(bodies.len(), 1);
    let accepted: Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(accepted["detail"]["dedup"]["reason"], "interval");
    assert!(p.enrich.process(&bodies).await.is_empty());
    let findings = p.findings().await;
    assert_eq!(findings.len(), 1);
    assert_eq!(
        severity_of(&findings[0]),
        ("HIGH".to_owned(), 70),
        "not lowered"
    );
    let fields = findings[0].product_fields().unwrap();
    assert_eq!(fields["vigil/Count"], "3");
}

#[tokio::test]
async fn a_far_future_occurrence_is_clamped_and_later_updates_are_not_older() {
    let (clock, now) = test_clock();
    let p = Pipeline::start_with_clock(Some(clock)).await;
    let cluster = p.cluster.clone();
    let tasks = p.service("shop", 1).await;
    let mut future = falco(
        "future-1",
        &cluster,
        &tasks[0],
        "Terminal shell in container",
    );
    future["detail"]["time"] = json!("9999-12-31T23:59:59Z");

    let bodies = p.ingest(&[future]).await;
    assert!(p.enrich.process(&bodies).await.is_empty());
    let first = p.findings().await.remove(0);
    let first_updated = first.updated_at().unwrap().to_owned();
    assert!(
        !first.last_observed_at().unwrap().starts_with("9999"),
        "{:?}",
        first.last_observed_at()
    );
    assert!(first_updated.as_str() < "2100", "{first_updated}");
    assert!(
        first.product_fields().unwrap()["vigil/TimeClamped"].contains("9999-12-31T23:59:59"),
        "{:?}",
        first.product_fields()
    );

    // A normal occurrence at the next interval (observed at its own time): its import is newer.
    *now.lock().unwrap() += chrono::Duration::seconds(901);
    let mut normal = falco(
        "normal-1",
        &cluster,
        &tasks[0],
        "Terminal shell in container",
    );
    normal["detail"]["time"] = json!(now.lock().unwrap().to_rfc3339());
    let bodies = p.ingest(&[normal]).await;
    assert_eq!(bodies.len(), 1);
    assert!(p.enrich.process(&bodies).await.is_empty());
    let second = p.findings().await.remove(0);
    let second_updated = second.updated_at().unwrap();
    assert!(
        second_updated >= first_updated.as_str(),
        "{second_updated} < {first_updated}"
    );
    assert!(second.last_observed_at().unwrap() <= second_updated);
    assert!(second.created_at().unwrap() <= second_updated);
    assert!(
        !second
            .product_fields()
            .unwrap()
            .contains_key("vigil/TimeClamped")
    );
}

// ---------------------------------------------------------------- several accounts and regions

use vigil_e2e::accounts::{HOME, MEMBERS, REGIONS, STRANGER, alert_in, central_enrich, hub};

/// The findings in `account`'s hub in `region`: (Id, AwsAccountId, Region), sorted.
async fn hub_findings(p: &Pipeline, account: &str, region: &str) -> Vec<(String, String, String)> {
    let mut found: Vec<(String, String, String)> =
        vigil_e2e::accounts::hub_findings(&p.emulator, account, region)
            .await
            .iter()
            .map(|f| {
                (
                    f.id().unwrap_or_default().to_owned(),
                    f.aws_account_id().unwrap_or_default().to_owned(),
                    f.region().unwrap_or_default().to_owned(),
                )
            })
            .collect();
    found.sort();
    found
}

/// `Finding Accepted` bodies through `enrich` in SQS-sized batches of 10; asserts none returns.
async fn enrich_all(enrich: &Enrich, accepted: &[String]) {
    for batch in accepted.chunks(10) {
        assert_eq!(
            enrich.process(batch).await,
            Vec::<usize>::new(),
            "nothing back to SQS"
        );
    }
}

#[tokio::test]
async fn a_burst_across_three_accounts_and_two_regions_is_imported_once_into_each_own_hub() {
    let p = Pipeline::start().await;
    let accounts = [HOME, MEMBERS[0], MEMBERS[1]];
    for account in accounts {
        for region in REGIONS {
            hub(&p.emulator, account, region)
                .await
                .enable_security_hub()
                .send()
                .await
                .ok();
        }
    }
    // Two rules on one task per (account, region), each alert sent twice (a repeat occurrence)
    // and redelivered once by EventBridge (the same event id).
    let mut events = Vec::new();
    for (a, account) in accounts.iter().enumerate() {
        for (r, region) in REGIONS.iter().enumerate() {
            // A running task in that account and region: enrich describes it there.
            let task = p
                .emulator
                .run_task_in(account, region, &format!("shop{a}{r}"))
                .await;
            for rule in ["Terminal shell in container", "Outbound connection"] {
                for copy in ["x", "y"] {
                    let event = alert_in(
                        &format!("e-{a}-{r}-{rule}-{copy}"),
                        account,
                        region,
                        &task,
                        rule,
                    );
                    events.push(event.clone());
                    if copy == "x" {
                        events.push(event);
                    }
                }
            }
        }
    }
    let accepted = p.ingest(&events).await;
    // Each distinct finding accepted at least once (a repeat may be published as well: its count).
    assert!(accepted.len() >= 12, "{}", accepted.len());
    p.emulator.reset_api_calls();
    let enrich = central_enrich(&p).await;
    enrich_all(&enrich, &accepted).await;
    // A redelivery of the whole burst imports nothing twice and publishes nothing twice.
    let enriched = p.enriched.drain().await;
    enrich_all(&enrich, &accepted).await;

    let mut total = 0;
    for account in accounts {
        for region in REGIONS {
            let found = hub_findings(&p, account, region).await;
            assert_eq!(found.len(), 2, "{account} {region}: {found:?}");
            for (_, a, r) in &found {
                assert_eq!(
                    (a.as_str(), r.as_str()),
                    (account, region),
                    "in its own hub"
                );
            }
            total += found.len();
        }
    }
    assert_eq!(total, 12, "each distinct finding imported once");
    assert_eq!(
        enriched.len(),
        accepted.len(),
        "one Finding Enriched per occurrence"
    );
    let mut distinct: Vec<&str> = enriched
        .iter()
        .filter_map(|e| e["detail"]["securityhub"]["id"].as_str())
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 12);
    assert!(
        enriched
            .iter()
            .all(|e| e["detail"]["securityhub"]["imported"] == true)
    );
    // ECS described each task in its own account and region (members through their role).
    for e in &enriched {
        let enrichment = &e["detail"]["enrichment"];
        assert_eq!(enrichment["enriched"], true, "{enrichment}");
        let task = &enrichment["task"];
        let arn = task["task_arn"].as_str().unwrap();
        let account = e["detail"]["finding"]["account"].as_str().unwrap();
        assert!(arn.contains(&format!(":{account}:task/")), "{arn}");
        assert!(
            task["task_definition_family"]
                .as_str()
                .unwrap()
                .starts_with("shop")
        );
    }
    assert!(
        p.enriched.drain().await.is_empty(),
        "the redelivery published nothing again"
    );
    for item in p.emulator.table_items().await {
        assert_eq!(item["dedup_state"].as_s().unwrap(), "forwarded");
    }
    // The member accounts were called through their role: one AssumeRole per account, its
    // credentials shared by both regions and kept across invocations.
    assert_eq!(p.emulator.calls("sts", "AssumeRole"), 2);
}

#[tokio::test]
async fn a_finding_of_an_account_without_a_role_is_recorded_not_imported_and_blocks_nothing() {
    let p = Pipeline::start().await;
    let task = "f".repeat(32);
    let accepted = p
        .ingest(&[
            alert_in("h", HOME, "us-east-1", &task, "Terminal shell in container"),
            alert_in(
                "s",
                STRANGER,
                "us-east-1",
                &task,
                "Terminal shell in container",
            ),
            alert_in(
                "m",
                MEMBERS[0],
                "eu-west-1",
                &task,
                "Terminal shell in container",
            ),
        ])
        .await;
    assert_eq!(accepted.len(), 3);
    let enrich = central_enrich(&p).await;
    enrich_all(&enrich, &accepted).await;

    assert_eq!(hub_findings(&p, HOME, "us-east-1").await.len(), 1);
    assert_eq!(hub_findings(&p, MEMBERS[0], "eu-west-1").await.len(), 1);
    assert!(hub_findings(&p, STRANGER, "us-east-1").await.is_empty());
    let enriched = p.enriched.drain().await;
    assert_eq!(enriched.len(), 3, "every finding reaches remediation");
    let stranger: Vec<&Value> = enriched
        .iter()
        .filter(|e| e["detail"]["finding"]["account"] == STRANGER)
        .collect();
    assert_eq!(stranger.len(), 1);
    let sh = &stranger[0]["detail"]["securityhub"];
    assert_eq!(sh["imported"], false);
    assert_eq!(sh["import_error"]["kind"], "not_routed");
    assert_eq!(sh["import_error"]["retrying"], false);
    assert!(
        sh["import_error"]["message"]
            .as_str()
            .unwrap()
            .contains(STRANGER),
        "{sh}"
    );
    let states: Vec<String> = p
        .emulator
        .table_items()
        .await
        .iter()
        .map(|i| i["dedup_state"].as_s().unwrap().clone())
        .collect();
    assert_eq!(
        states.iter().filter(|s| *s == "forwarded").count(),
        2,
        "only what Security Hub confirmed is forwarded: {states:?}"
    );
    assert_eq!(states.iter().filter(|s| *s == "accepted").count(), 1);
}

#[tokio::test]
async fn a_burst_security_hub_refuses_entirely_is_still_remediated() {
    use vigil_remediate::RemediationMode;
    let p = Pipeline::start().await;
    let tasks = p
        .emulator
        .run_tasks(&p.cluster, &p.task_definition, 3, &[])
        .await;
    let events: Vec<Value> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| {
            vigil_e2e::falco(
                &format!("r{i}"),
                &p.cluster,
                t,
                "Terminal shell in container",
            )
        })
        .collect();
    let accepted = p.ingest(&events).await;
    assert_eq!(accepted.len(), 3);

    let refused = mock!(aws_sdk_securityhub::Client::batch_import_findings).then_error(|| {
        BatchImportFindingsError::generic(
            aws_sdk_securityhub::error::ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("not authorized to import findings")
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, [&refused]);
    let enrich =
        central_enrich(&p)
            .await
            .with_importer(vigil_securityhub::SecurityHubImporter::new(
                client,
                vigil_securityhub::RetryPolicy::immediate(3),
                1000,
            ));
    enrich_all(&enrich, &accepted).await;
    assert_eq!(refused.num_calls(), 1, "a refusal is not retried");

    let enriched: Vec<String> = p
        .enriched
        .drain()
        .await
        .iter()
        .map(Value::to_string)
        .collect();
    assert_eq!(enriched.len(), 3, "published without Security Hub");
    for e in &enriched {
        let e: Value = serde_json::from_str(e).unwrap();
        let sh = &e["detail"]["securityhub"];
        assert_eq!(sh["imported"], false);
        assert_eq!(sh["import_error"]["kind"], "rejected");
        assert_eq!(sh["import_error"]["code"], "AccessDeniedException");
    }
    let remediate = p.remediate(RemediationMode::Enforce, |_| {}).await;
    assert!(
        remediate
            .process(&enriched, Some(vigil_e2e::ACCOUNT))
            .await
            .is_empty()
    );
    assert_eq!(p.stopped(&tasks).await, 3, "every task stopped");
}
