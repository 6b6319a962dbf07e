//! Enrichment against the emulator's ECS, with real RunTask'd / service tasks.

use chrono::{TimeZone, Utc};
use vigil_ecs::{EcsEnricher, EnrichConfig};
use vigil_model::{Finding, RawEvent, Severity, Source};
use vigil_testkit::Emulator;

fn finding(
    task_arn: Option<&str>,
    cluster_arn: Option<&str>,
    container_id: Option<&str>,
) -> Finding {
    let mut f = Finding::new(
        Source::Falco,
        "Terminal shell in container".into(),
        "Terminal shell in container".into(),
        Severity::from_falco_priority("Notice").unwrap(),
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        RawEvent::capture("{}"),
    );
    f.resource.task_arn = task_arn.map(str::to_owned);
    f.resource.cluster_arn = cluster_arn.map(str::to_owned);
    f.resource.container.id = container_id.map(str::to_owned);
    f.seal()
}

fn ecs_calls(emulator: &Emulator) -> u64 {
    emulator
        .api_calls()
        .get("ecs")
        .map(|ops| ops.values().sum())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_batch_across_three_clusters_takes_one_describe_per_cluster_and_nothing_when_warm() {
    let emulator = Emulator::start();
    let td = emulator
        .register_task_definition("web", &[("app", "nginx:1.27")])
        .await;
    let mut clusters = Vec::new();
    for name in ["alpha", "beta", "gamma"] {
        let arn = emulator.create_cluster(name).await;
        let tasks = emulator
            .create_service(&arn, &format!("{name}-svc"), &td, 4, &[("team", name)])
            .await;
        assert_eq!(tasks.len(), 4);
        clusters.push((arn, tasks));
    }
    emulator
        .ecs()
        .await
        .tag_resource()
        .resource_arn(&clusters[0].0)
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key("vigil:protected")
                .value("true")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let findings: Vec<Finding> = (0..100)
        .map(|i| {
            let (cluster, tasks) = &clusters[i % 3];
            finding(Some(&tasks[i % 4]), Some(cluster), None)
        })
        .collect();
    let enricher = EcsEnricher::new(emulator.ecs().await, EnrichConfig::default());
    emulator.reset_api_calls();

    let enriched = enricher.enrich(&findings).await;
    assert!(
        enriched.iter().all(|e| e.enriched),
        "{:?}",
        enriched.iter().find(|e| !e.enriched)
    );
    assert_eq!(
        emulator.calls("ecs", "DescribeTasks"),
        3,
        "one DescribeTasks per cluster"
    );
    assert_eq!(
        emulator.calls("ecs", "DescribeTaskDefinition"),
        1,
        "one per task definition revision"
    );
    assert_eq!(
        emulator.calls("ecs", "DescribeServices"),
        3,
        "one per cluster, for service tags"
    );
    assert_eq!(
        emulator.calls("ecs", "DescribeClusters"),
        1,
        "one for the three clusters' tags"
    );

    let task = enriched[0].task.as_ref().unwrap();
    assert_eq!(task.service_name.as_deref(), Some("alpha-svc"));
    assert_eq!(task.task_definition_family.as_deref(), Some("web"));
    assert_eq!(task.task_definition_revision, Some(1));
    assert_eq!(task.launch_type.as_deref(), Some("FARGATE"));
    assert!(task.private_ip.is_some());
    assert_eq!(
        task.task_role_arn.as_deref(),
        Some("arn:aws:iam::123456789012:role/web-task")
    );
    assert_eq!(
        task.service_tags.get("team").map(String::as_str),
        Some("alpha")
    );
    assert_eq!(
        task.cluster_tags.get("vigil:protected").map(String::as_str),
        Some("true")
    );
    let beta = enriched[1].task.as_ref().unwrap();
    assert!(beta.cluster_tags.is_empty(), "{beta:?}");
    let app = task
        .offending()
        .expect("the only container is the offending one");
    assert!(
        app.image_digest
            .as_deref()
            .is_some_and(|d| d.starts_with("sha256:"))
    );
    assert_eq!(app.readonly_root_filesystem, Some(false));

    emulator.reset_api_calls();
    let again = enricher.enrich(&findings).await;
    assert!(again.iter().all(|e| e.enriched));
    assert_eq!(
        ecs_calls(&emulator),
        0,
        "a warm instance makes no ECS calls for known tasks"
    );
}

#[tokio::test]
async fn a_container_without_a_task_arn_is_resolved_by_runtime_id() {
    let emulator = Emulator::start();
    let cluster = emulator.create_cluster("ec2-hosts").await;
    let td = emulator
        .register_task_definition("api", &[("api", "api:2"), ("sidecar", "envoy:1")])
        .await;
    let tasks = emulator
        .run_tasks(&cluster, &td, 3, &[("env", "prod")])
        .await;
    let runtime_id = emulator.runtime_id(&cluster, &tasks[1], "sidecar").await;
    let enricher = EcsEnricher::new(emulator.ecs().await, EnrichConfig::default());

    // Falco on a host without ECS labels: a 12-character container id and the cluster.
    let f = finding(None, Some(&cluster), Some(&runtime_id[..12]));
    let e = enricher.enrich(std::slice::from_ref(&f)).await.remove(0);
    let task = e.task.expect("resolved");
    assert_eq!(task.task_arn, tasks[1]);
    assert_eq!(task.offending_container.as_deref(), Some("sidecar"));
    assert_eq!(task.tags.get("env").map(String::as_str), Some("prod"));

    // A second lookup uses the cached index; an unknown container is reported, not invented.
    emulator.reset_api_calls();
    let unknown = finding(None, Some(&cluster), Some("ffffffffffff"));
    let results = enricher.enrich(&[f, unknown]).await;
    assert!(results[0].enriched);
    assert!(!results[1].enriched);
    assert!(
        results[1]
            .reason
            .as_deref()
            .unwrap()
            .contains("not running"),
        "{:?}",
        results[1].reason
    );
    assert_eq!(
        emulator.calls("ecs", "ListTasks"),
        0,
        "the cluster index is cached"
    );
}

#[tokio::test]
async fn a_stopped_or_missing_task_still_yields_an_unenriched_finding() {
    let emulator = Emulator::start();
    let cluster = emulator.create_cluster("c").await;
    let td = emulator
        .register_task_definition("job", &[("job", "job:1")])
        .await;
    let tasks = emulator.run_tasks(&cluster, &td, 1, &[]).await;
    let enricher = EcsEnricher::new(emulator.ecs().await, EnrichConfig::default());

    let gone = format!(
        "{}/00000000000000000000000000000000",
        cluster.replace(":cluster/", ":task/")
    );
    let results = enricher
        .enrich(&[
            finding(Some(&gone), Some(&cluster), None),
            finding(Some(&tasks[0]), Some(&cluster), None),
        ])
        .await;
    assert!(!results[0].enriched);
    assert!(results[0].reason.as_deref().unwrap().contains("MISSING"));
    assert_eq!(
        results[1].task.as_ref().unwrap().last_status.as_deref(),
        Some("RUNNING")
    );

    // The task stops; its STOPPED event evicts it, and the next finding sees the new status.
    emulator
        .ecs()
        .await
        .stop_task()
        .cluster(&cluster)
        .task(&tasks[0])
        .reason("test")
        .send()
        .await
        .unwrap();
    enricher.evict_task(&tasks[0]);
    let after = enricher
        .enrich(&[finding(Some(&tasks[0]), Some(&cluster), None)])
        .await;
    assert_eq!(
        after[0].task.as_ref().unwrap().last_status.as_deref(),
        Some("STOPPED")
    );
}
