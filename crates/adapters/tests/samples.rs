//! Every published sample and the documented variations of each format normalize to the finding a
//! user would expect.

use serde_json::{Value, json};
use vigil_adapters::{ErrorKind, ParseContext, SourceEvent, parse_event};
use vigil_model::{SeverityLabel, Source};

const TASK: &str =
    "arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b4cb40f1f4fe4a2971f76ae5a47ad";
const CLUSTER: &str = "arn:aws:ecs:us-west-2:111122223333:cluster/FargateCluster";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../samples/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn finding(bytes: &[u8]) -> vigil_model::Finding {
    match parse_event(bytes, &ParseContext::default()).unwrap() {
        SourceEvent::Finding(f) => f,
        other => panic!("expected a finding, got {other:?}"),
    }
}

fn finding_json(v: &Value) -> vigil_model::Finding {
    finding(&serde_json::to_vec(v).unwrap())
}

#[test]
fn falco_on_ecs_via_eventbridge() {
    let f = finding(&fixture("falco-ecs-eventbridge.json"));
    assert_eq!(f.source, Source::Falco);
    assert_eq!(f.rule, "Terminal shell in container");
    assert_eq!(f.severity.label, SeverityLabel::Low);
    assert_eq!(f.resource.task_arn.as_deref(), Some(TASK));
    assert_eq!(f.resource.cluster_arn.as_deref(), Some(CLUSTER));
    assert_eq!(f.resource.container.name.as_deref(), Some("FargateApp"));
    assert_eq!(f.resource.container.id.as_deref(), Some("ad64cbc71c7f"));
    assert_eq!(
        f.resource.task_definition_family.as_deref(),
        Some("sample-fargate")
    );
    assert_eq!(f.account.as_deref(), Some("111122223333"));
    assert_eq!(f.region.as_deref(), Some("us-west-2"));
    assert_eq!(
        f.process.as_ref().unwrap().executable_path.as_deref(),
        Some("/bin/sh")
    );
    assert_eq!(f.mitre, vec!["T1059", "execution"]);
    assert_eq!(
        f.source_event_id.as_deref(),
        Some("6a7e8feb-b491-4cf7-a9f1-bf3703467718")
    );
}

#[test]
fn public_falco_alerts_without_ecs_labels_have_a_container_and_no_task() {
    for (name, id, label) in [
        ("falco-public-1.json", "5892b41bcf46", SeverityLabel::Low),
        ("falco-public-2.json", "28c0c7a20575", SeverityLabel::Low),
        ("falco-public-3.json", "027dae4c3693", SeverityLabel::High),
    ] {
        let f = finding(&fixture(name));
        assert_eq!(f.resource.container.id.as_deref(), Some(id), "{name}");
        assert_eq!(f.resource.task_arn, None, "{name}");
        assert_eq!(f.resource.cluster_arn, None, "{name}");
        assert_eq!(f.severity.label, label, "{name}");
        assert!(f.account.is_none());
    }
}

#[test]
fn guardduty_runtime_finding() {
    let f = finding(&fixture("guardduty-ecs-runtime.json"));
    assert_eq!(f.source, Source::Guardduty);
    assert_eq!(f.rule, "Execution:Runtime/ReverseShell");
    assert_eq!(f.severity.label, SeverityLabel::High);
    assert_eq!(f.severity.normalized, 80);
    assert_eq!(f.resource.task_arn.as_deref(), Some(TASK));
    assert_eq!(f.resource.cluster_arn.as_deref(), Some(CLUSTER));
    assert_eq!(f.resource.service_name.as_deref(), Some("sample-svc"));
    assert_eq!(f.resource.task_definition_revision.as_deref(), Some("1"));
    assert_eq!(
        f.resource.container.short_id().as_deref(),
        Some("ad64cbc71c7f")
    );
    assert_eq!(f.resource.container.privileged, Some(false));
    let p = f.process.unwrap();
    assert_eq!(p.executable_path.as_deref(), Some("/usr/bin/bash"));
    assert_eq!(p.parent_name.as_deref(), Some("node"));
    assert_eq!(f.count, 1);
    assert_eq!(f.source_event_id.as_deref(), Some("a4c5e2f1b0d94c8e"));
}

#[test]
fn sysdig_policy_event() {
    let f = finding(&fixture("sysdig-runtime-policy.json"));
    assert_eq!(f.source, Source::Sysdig);
    assert_eq!(f.rule, "Unexpected outbound connection destination");
    assert_eq!(f.title, "Suspicious outbound connection from database");
    assert_eq!(f.severity.label, SeverityLabel::High);
    assert_eq!(f.resource.cluster_arn.as_deref(), Some(CLUSTER));
    assert_eq!(f.resource.service_name.as_deref(), Some("sample-svc"));
    assert_eq!(f.resource.container.id.as_deref(), Some("ad64cbc71c7f"));
    let n = f.network.unwrap();
    assert_eq!(n.remote_ip.as_deref(), Some("203.0.113.9"));
    assert_eq!(n.remote_port, Some(443));
}

#[test]
fn ecs_task_state_change_is_a_lifecycle_event() {
    match parse_event(
        &fixture("aws-ecs-task-state-change.json"),
        &ParseContext::default(),
    )
    .unwrap()
    {
        SourceEvent::TaskStateChange(t) => {
            assert_eq!(t.task_arn, TASK);
            assert_eq!(t.cluster_arn, CLUSTER);
            assert_eq!(t.last_status, "RUNNING");
            assert!(!t.is_stopped());
            assert_eq!(
                t.containers[0].runtime_id.as_deref().map(|s| &s[..12]),
                Some("ad64cbc71c7f")
            );
            assert_eq!(t.version, Some(4));
        }
        other => panic!("{other:?}"),
    }
}

fn falco_sample() -> Value {
    serde_json::from_slice(&fixture("falco-ecs-eventbridge.json")).unwrap()
}

#[test]
fn falco_variations() {
    // Bracket label form, as Falco writes `container.label[...]` in rule outputs.
    let mut v = falco_sample();
    let fields = v["detail"]["output_fields"].as_object_mut().unwrap();
    let task = fields
        .remove("container.label.com.amazonaws.ecs.task-arn")
        .unwrap();
    fields.insert("container.label[com.amazonaws.ecs.task-arn]".into(), task);
    fields.insert(
        "container.label[com.amazonaws.ecs.cluster]".into(),
        json!("FargateCluster"),
    );
    fields.remove("container.label.com.amazonaws.ecs.cluster");
    let f = finding_json(&v);
    assert_eq!(f.resource.task_arn.as_deref(), Some(TASK));
    assert_eq!(
        f.resource.cluster_arn.as_deref(),
        Some(CLUSTER),
        "a cluster name becomes an ARN"
    );

    // Priorities in any case, and the Info alias; nulls everywhere optional.
    for (p, label) in [
        ("info", SeverityLabel::Informational),
        ("WARNING", SeverityLabel::Medium),
        ("Critical", SeverityLabel::Critical),
    ] {
        let mut v = falco_sample();
        v["detail"]["priority"] = json!(p);
        v["detail"]["tags"] = Value::Null;
        v["detail"]["hostname"] = Value::Null;
        v["detail"]["output_fields"]["proc.pname"] = Value::Null;
        assert_eq!(finding_json(&v).severity.label, label, "{p}");
    }

    // Bare falcosidekick payload: uuid is the event id; time with trimmed fraction.
    let mut bare = falco_sample()["detail"].clone();
    bare["uuid"] = json!("0d1c2b3a-0000-4000-8000-000000000001");
    bare["time"] = json!("2020-01-23T17:58:20.5Z");
    let f = finding_json(&bare);
    assert_eq!(
        f.source_event_id.as_deref(),
        Some("0d1c2b3a-0000-4000-8000-000000000001")
    );
    assert_eq!(
        f.account.as_deref(),
        Some("111122223333"),
        "account from the task ARN"
    );
    assert_eq!(f.region.as_deref(), Some("us-west-2"));

    // No `time`: evt.time (integer nanoseconds beyond 2^53) is used exactly.
    let mut v = falco_sample()["detail"].clone();
    v.as_object_mut().unwrap().remove("time");
    v["output_fields"]["evt.time"] = json!(1579802300123456789_u64);
    assert_eq!(
        finding_json(&v).observed_at.timestamp_subsec_nanos(),
        123456789
    );

    // FireLens wrapper: the alert is a JSON string in `log`, ECS context beside it, describing
    // the container that wrote the log (Falco's own).
    let falco_container = "ad64cbc71c7f0e9d8c7b6a5948372615ad64cbc71c7f0e9d8c7b6a5948372615";
    // The function's own account and region, as ingest passes them: a cluster name without a task
    // ARN is resolved in them.
    let in_account = |v: &Value| match parse_event(
        &serde_json::to_vec(v).unwrap(),
        &ParseContext {
            default_account: Some("111122223333".into()),
            default_region: Some("us-west-2".into()),
            ..Default::default()
        },
    )
    .unwrap()
    {
        SourceEvent::Finding(f) => f,
        other => panic!("expected a finding, got {other:?}"),
    };
    let wrapped = |alert_container: Value| {
        let mut alert = falco_sample()["detail"].clone();
        alert["output_fields"] = json!({"container.id": alert_container});
        in_account(&json!({
            "log": alert.to_string(),
            "ecs_task_arn": TASK,
            "ecs_cluster": "FargateCluster",
            "container_id": falco_container,
            "container_name": "falco",
            "source": "stdout",
        }))
    };
    // Falco beside the workload (Fargate): no container of its own in the alert, or the logger's.
    for same in [json!(null), json!(""), json!("ad64cbc71c7f")] {
        let f = wrapped(same.clone());
        assert_eq!(f.resource.task_arn.as_deref(), Some(TASK), "{same}");
        assert_eq!(f.resource.cluster_arn.as_deref(), Some(CLUSTER));
    }
    // A Falco daemon alerting on another container of the host, or on the host itself: the cluster
    // is shared, the task is Falco's and not the alert's.
    for other in [json!("0123456789ab"), json!("host")] {
        let f = wrapped(other.clone());
        assert_eq!(f.resource.task_arn, None, "{other}");
        assert_eq!(f.resource.cluster_arn.as_deref(), Some(CLUSTER));
    }
    // Fluent Bit's merged form: the alert's keys at the top of the record, FireLens's beside them.
    let mut merged = falco_sample()["detail"].clone();
    merged["output_fields"] = json!({"container.id": ""});
    merged["ecs_task_arn"] = json!(TASK);
    merged["ecs_cluster"] = json!("FargateCluster");
    merged["container_id"] = json!(falco_container);
    let f = in_account(&merged);
    assert_eq!(f.resource.task_arn.as_deref(), Some(TASK));
    merged["output_fields"] = json!({"container.id": "0123456789ab"});
    assert_eq!(in_account(&merged).resource.task_arn, None);
    // Without the logger's container id, a named container cannot be matched: no task either.
    let mut alert = falco_sample()["detail"].clone();
    alert["output_fields"] = json!({"container.id": "ad64cbc71c7f"});
    let f = in_account(
        &json!({"log": alert.to_string(), "ecs_task_arn": TASK, "ecs_cluster": "FargateCluster"}),
    );
    assert_eq!(f.resource.task_arn, None);
    assert_eq!(f.resource.cluster_arn.as_deref(), Some(CLUSTER));
}

/// GuardDuty's "Generate sample findings": `additionalInfo.value` is `{"sample":true}`. The finding
/// flows through (to test the wiring), titled and tagged as a sample.
#[test]
fn guardduty_sample_findings_are_marked() {
    let base: Value = serde_json::from_slice(&fixture("guardduty-ecs-runtime.json")).unwrap();
    let real = finding_json(&base);
    assert!(!real.is_sample());
    let mut sample = base.clone();
    sample["detail"]["service"]["additionalInfo"] =
        json!({"value": "{\"sample\":true}", "type": "default"});
    let f = finding_json(&sample);
    assert!(f.is_sample());
    assert!(f.title.starts_with("[SAMPLE] "), "{}", f.title);
    assert_eq!(f.resource.task_arn, real.resource.task_arn);
    assert_ne!(
        f.fingerprint, real.fingerprint,
        "a sample's decision never stands for a real finding"
    );
    // Only Vigil sets its own namespace: a source's `vigil:sample` tag is dropped.
    let mut falco = falco_sample();
    falco["detail"]["tags"] = json!(["container", "vigil:sample", "VIGIL:other"]);
    let f = finding_json(&falco);
    assert!(!f.is_sample());
    assert_eq!(f.tags, ["container"]);
    // Other additionalInfo, even malformed, is not a sample and not an error.
    for info in [
        json!({"value": "{\"sample\":false}", "type": "default"}),
        json!({"value": "{not json", "type": "default"}),
        json!("unexpected"),
    ] {
        sample["detail"]["service"]["additionalInfo"] = info.clone();
        assert!(!finding_json(&sample).is_sample(), "{info}");
    }
}

/// `…!DNS` runtime findings name the domain looked up (`dnsRequestAction`), which reaches ASFF as
/// `Network.DestinationDomain`.
#[test]
fn guardduty_dns_findings_keep_the_domain() {
    let mut v: Value = serde_json::from_slice(&fixture("guardduty-ecs-runtime.json")).unwrap();
    v["detail"]["type"] = json!("CryptoCurrency:Runtime/BitcoinTool.B!DNS");
    v["detail"]["service"]["action"] = json!({
        "actionType": "DNS_REQUEST",
        "dnsRequestAction": {"domain": "pool.example-mining.com", "protocol": "UDP", "blocked": false}
    });
    let f = finding_json(&v);
    let n = f.network.as_ref().unwrap();
    assert_eq!(n.domain.as_deref(), Some("pool.example-mining.com"));
    assert_eq!(n.protocol.as_deref(), Some("UDP"));
    let asff = vigil_asff::to_asff(
        &f,
        &vigil_asff::MappingContext {
            now: chrono::Utc::now(),
        },
    )
    .unwrap();
    let net = serde_json::to_value(&asff).unwrap()["Network"].clone();
    assert_eq!(
        net["DestinationDomain"],
        json!("pool.example-mining.com"),
        "{net}"
    );
    assert_eq!(net["Direction"], json!("OUT"));
}

/// The parent process is the lineage entry named by `parentUuid`, wherever it is in `lineage`.
#[test]
fn guardduty_parent_process_follows_parent_uuid() {
    let mut v: Value = serde_json::from_slice(&fixture("guardduty-ecs-runtime.json")).unwrap();
    let process = &mut v["detail"]["service"]["runtimeDetails"]["process"];
    process["parentUuid"] = json!("p-2");
    process["lineage"] = json!([
        {"uuid": "p-9", "name": "containerd-shim", "pid": 1},
        {"uuid": "p-2", "name": "node", "pid": 7},
    ]);
    let p = finding_json(&v).process.unwrap();
    assert_eq!(p.parent_name.as_deref(), Some("node"));
    assert_eq!(p.parent_pid, Some(7));
    // Without parentUuid (or a match), the first entry.
    v["detail"]["service"]["runtimeDetails"]["process"]
        .as_object_mut()
        .unwrap()
        .remove("parentUuid");
    assert_eq!(
        finding_json(&v).process.unwrap().parent_name.as_deref(),
        Some("containerd-shim")
    );
}

#[test]
fn guardduty_variations() {
    let base: Value = serde_json::from_slice(&fixture("guardduty-ecs-runtime.json")).unwrap();
    // Epoch-millisecond and epoch-second times, a severity given as a float string.
    let mut v = base.clone();
    v["detail"]["service"]["eventLastSeen"] = json!(1579802462000_u64);
    v["detail"]["service"]["eventFirstSeen"] = json!(1579802400.5);
    v["detail"]["severity"] = json!("9.1");
    let f = finding_json(&v);
    assert_eq!(f.observed_at.timestamp(), 1579802462);
    assert_eq!(f.first_observed_at.timestamp(), 1579802400);
    assert_eq!(f.severity.label, SeverityLabel::Critical);

    // Container-level findings carry resource.containerDetails.
    let mut v = base.clone();
    v["detail"]["resource"]["containerDetails"] =
        json!({"id": "abcdef1234567890", "name": "sidecar", "image": "nginx@sha256:abc"});
    let f = finding_json(&v);
    assert_eq!(f.resource.container.name.as_deref(), Some("sidecar"));
    assert_eq!(
        f.resource.container.image_digest.as_deref(),
        Some("sha256:abc")
    );

    // A delegated administrator receives its members' findings on its own bus: the finding belongs
    // to the member account that owns the resource, not to the account whose bus carried it.
    let mut v = base.clone();
    v["account"] = json!("999999999999");
    v["detail"]["accountId"] = json!("111122223333");
    assert_eq!(finding_json(&v).account.as_deref(), Some("111122223333"));
    v["detail"].as_object_mut().unwrap().remove("accountId");
    assert_eq!(finding_json(&v).account.as_deref(), Some("999999999999"));

    // A finding for another resource type is refused with a reason, not misread.
    let mut v = base.clone();
    v["detail"]["resource"] =
        json!({"resourceType": "EKSCluster", "eksClusterDetails": {"name": "k"}});
    let err = parse_event(&serde_json::to_vec(&v).unwrap(), &ParseContext::default()).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Unsupported(_)), "{err}");
    assert_eq!(err.path, "detail.resource.resourceType");

    // Coverage events share the source but are not findings.
    let mut v = base;
    v["detail-type"] = json!("GuardDuty Runtime Protection Unhealthy");
    let err = parse_event(&serde_json::to_vec(&v).unwrap(), &ParseContext::default()).unwrap_err();
    assert_eq!(err.path, "detail-type");
}

#[test]
fn sysdig_variations() {
    let base: Value = serde_json::from_slice(&fixture("sysdig-runtime-policy.json")).unwrap();
    let mut v = base["detail"].clone();
    // Bare event with cloudProvider labels, severity as a string, RFC 3339 timestamp.
    let labels = v["labels"].as_object_mut().unwrap();
    labels.remove("aws.accountId");
    labels.remove("aws.region");
    labels.insert("cloudProvider.account.id".into(), json!("111122223333"));
    labels.insert("cloudProvider.region".into(), json!("us-west-2"));
    v["severity"] = json!("6");
    v["timestampRFC3339Nano"] = json!("2020-01-23T18:00:00.5Z");
    let f = finding_json(&v);
    assert_eq!(f.resource.cluster_arn.as_deref(), Some(CLUSTER));
    assert_eq!(f.severity.label, SeverityLabel::Low);
    assert_eq!(f.observed_at.timestamp_subsec_millis(), 500);
}

/// The agent's default labels (Sysdig's "Enrich Secure Events with Labels"): on Fargate the task
/// and cluster come as `aws.fargate.*`, images as repo, tag and digest apart, Docker labels as
/// `container.label.<key>`; MITRE tags as `MITRE_TA0003_persistence`.
#[test]
fn sysdig_default_agent_labels() {
    let base: Value = serde_json::from_slice(&fixture("sysdig-runtime-policy.json")).unwrap();
    let task =
        "arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/0123456789abcdef0123456789abcdef";
    let mut fargate = base["detail"].clone();
    fargate["labels"] = json!({
        "aws.accountId": "111122223333",
        "aws.region": "us-west-2",
        "aws.fargate.task.arn": task,
        "aws.fargate.cluster.arn": CLUSTER,
        "container.name": "FargateApp",
        "container.image.repo": "111122223333.dkr.ecr.us-west-2.amazonaws.com/app",
        "container.image.tag": "1.4.2",
        "container.image.digest": "sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
    });
    fargate["content"]["fields"] = json!({"proc.cmdline": "nc -l 4444"});
    fargate["content"]["ruleTags"] = json!([
        "MITRE",
        "MITRE_TA0003_persistence",
        "MITRE_T1136.001_create_account_local_account"
    ]);
    let f = finding_json(&fargate);
    assert_eq!(f.resource.task_arn.as_deref(), Some(task));
    assert_eq!(f.resource.cluster_arn.as_deref(), Some(CLUSTER));
    assert_eq!(
        f.resource.container.image.as_deref(),
        Some("111122223333.dkr.ecr.us-west-2.amazonaws.com/app:1.4.2")
    );
    assert_eq!(
        f.resource.container.image_digest.as_deref(),
        Some("sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0")
    );
    assert_eq!(f.mitre, ["T1136.001", "persistence"]);

    // On ECS on EC2 the ECS agent's Docker labels come through as `container.label.*`.
    let mut ec2 = base["detail"].clone();
    ec2["labels"] = json!({
        "container.label.com.amazonaws.ecs.task-arn": task,
        "container.label.com.amazonaws.ecs.cluster": CLUSTER,
        "container.label.com.amazonaws.ecs.container-name": "app",
        "container.label.com.amazonaws.ecs.task-definition-family": "shop",
        "container.name": "ecs-shop-3-app-e4b5c6d7",
        "container.image.repo": "registry.example.com:5000/shop:2.0",
        "container.image.tag": "2.0",
    });
    ec2["content"]["fields"] = json!({});
    let f = finding_json(&ec2);
    assert_eq!(f.resource.task_arn.as_deref(), Some(task));
    assert_eq!(f.resource.cluster_arn.as_deref(), Some(CLUSTER));
    assert_eq!(f.resource.container.name.as_deref(), Some("app"));
    assert_eq!(f.resource.task_definition_family.as_deref(), Some("shop"));
    assert_eq!(
        f.resource.container.image.as_deref(),
        Some("registry.example.com:5000/shop:2.0"),
        "a tag already in the repository is not added twice"
    );
    assert_eq!(
        f.account.as_deref(),
        Some("111122223333"),
        "from the task ARN"
    );
}

#[test]
fn fingerprint_ignores_time_and_ids_but_not_task_or_rule() {
    let a = finding(&fixture("falco-ecs-eventbridge.json"));
    let mut v = falco_sample();
    v["id"] = json!("another-id");
    v["time"] = json!("2021-06-01T00:00:00Z");
    v["detail"]["time"] = json!("2021-06-01T00:00:00.1Z");
    v["detail"]["output_fields"]["proc.cmdline"] = json!("sh -c id");
    assert_eq!(
        finding_json(&v).fingerprint,
        a.fingerprint,
        "same threat, same task"
    );

    let mut other_task = falco_sample();
    other_task["detail"]["output_fields"]["container.label.com.amazonaws.ecs.task-arn"] = json!(
        "arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/ffffffffffffffffffffffffffffffff"
    );
    assert_ne!(finding_json(&other_task).fingerprint, a.fingerprint);

    let mut other_rule = falco_sample();
    other_rule["detail"]["rule"] = json!("Read sensitive file untrusted");
    assert_ne!(finding_json(&other_rule).fingerprint, a.fingerprint);

    // Without a task, the container scopes the finding; the short and full ids agree.
    let short = finding(&fixture("falco-public-1.json"));
    let mut full: Value = serde_json::from_slice(&fixture("falco-public-1.json")).unwrap();
    full["output_fields"]["container.id"] =
        json!("5892b41bcf46aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_eq!(finding_json(&full).fingerprint, short.fingerprint);
    full["output_fields"]["container.id"] = json!("0000b41bcf46");
    assert_ne!(finding_json(&full).fingerprint, short.fingerprint);
}

#[test]
fn invalid_events_name_the_field() {
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"rule": "r", "output": "o", "time": "2020-01-01T00:00:00Z"}),
            "priority",
            "missing",
        ),
        (
            json!({"priority": "Notice", "output_fields": {}, "time": "2020-01-01T00:00:00Z"}),
            "$",
            "unknown source",
        ),
        (
            json!({"rule": "r", "priority": "Urgent", "output": "o", "time": "2020-01-01T00:00:00Z"}),
            "priority",
            "unknown Falco priority",
        ),
        (
            json!({"rule": "r", "priority": 5, "output": "o"}),
            "priority",
            "expected a string",
        ),
        (
            json!({"rule": ["r"], "priority": "Notice", "output": "o"}),
            "rule",
            "expected a string",
        ),
        (
            json!({"detail-type": "x", "source": "acme", "detail": {"a": 1}}),
            "source",
            "unknown source",
        ),
        (
            json!({"detail-type": "Falco Alert", "source": "falco", "detail": {"rule": "r", "priority": "Notice", "output_fields": "x"}}),
            "detail.output_fields",
            "expected an object",
        ),
        (json!([1, 2]), "$", "expected an object"),
    ];
    for (event, path, reason) in cases {
        let err = parse_event(
            &serde_json::to_vec(&event).unwrap(),
            &ParseContext::default(),
        )
        .unwrap_err();
        assert_eq!(err.path, path, "{event}: {err}");
        assert!(err.to_string().contains(reason), "{event}: {err}");
    }
}
