//! GuardDuty Extended Threat Detection attack sequences (`service.detection.sequence`): one finding
//! per sequence, fingerprinted by the sequence uid, every named task and container kept (bounded),
//! the signals summarised, and one finding per task for remediation.

use serde_json::{Value, json};
use vigil_adapters::{ErrorKind, ParseContext, SourceEvent, parse_event};
use vigil_model::{Finding, FindingFingerprint, MAX_SEQUENCE_TASKS, SeverityLabel, Source};

const CLUSTER: &str = "arn:aws:ecs:us-west-2:111122223333:cluster/shop-prod";

fn fixture() -> Value {
    serde_json::from_slice(
        &std::fs::read(format!(
            "{}/../../samples/guardduty-attack-sequence-ecs.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap()
}

fn parse(v: &Value) -> Result<Finding, vigil_adapters::AdapterError> {
    match parse_event(&serde_json::to_vec(v).unwrap(), &ParseContext::default())? {
        SourceEvent::Finding(f) => Ok(f),
        other => panic!("expected a finding, got {other:?}"),
    }
}

fn sequence_mut(v: &mut Value) -> &mut Value {
    &mut v["detail"]["service"]["detection"]["sequence"]
}

fn task(i: usize) -> Value {
    json!({
        "uid": format!("arn:aws:ecs:us-west-2:111122223333:task/shop-prod/{i:032x}"),
        "resourceType": "ECS_TASK",
        "data": {"ecsTask": {"launchType": "FARGATE", "containerUids": [format!("{i:064x}")]}}
    })
}

fn container(i: usize) -> Value {
    json!({"uid": format!("{i:064x}"), "name": "app", "resourceType": "CONTAINER",
           "data": {"container": {"image": "nginx:1.27"}}})
}

#[test]
fn the_documented_sequence_is_one_critical_finding_with_every_task_and_container() {
    let f = parse(&fixture()).unwrap();
    assert_eq!(f.source, Source::Guardduty);
    assert_eq!(f.rule, "AttackSequence:ECS/CompromisedCluster");
    assert_eq!(f.severity.label, SeverityLabel::Critical);
    assert_eq!(f.severity.normalized, 95, "GuardDuty's own number, 9.5");
    assert_eq!(f.account.as_deref(), Some("111122223333"));
    // The primary resource is the cluster alone: nothing acts on the sequence as a whole.
    assert_eq!(f.resource.cluster_arn.as_deref(), Some(CLUSTER));
    assert_eq!(f.resource.task_arn, None);
    assert_eq!(f.resource.container.id, None);
    assert_eq!(
        f.mitre,
        [
            "execution",
            "command_and_control",
            "impact",
            "T1059",
            "T1496"
        ]
    );

    let seq = f.sequence.as_ref().unwrap();
    assert_eq!(seq.uid, "2f9a6c1e8d7b4a3f9c0e1d2b3a4f5e6d");
    assert_eq!(seq.clusters, [CLUSTER]);
    assert_eq!(seq.tasks.len(), 3, "the task named twice is kept once");
    assert_eq!(seq.tasks_dropped, 0);
    let t0 = &seq.tasks[0];
    assert!(t0.task_arn.ends_with("/0a1b2c3d4e5f40718293a4b5c6d7e8f9"));
    assert_eq!(t0.cluster_arn.as_deref(), Some(CLUSTER));
    assert_eq!(
        t0.task_definition_arn.as_deref(),
        Some("arn:aws:ecs:us-west-2:111122223333:task-definition/shop-web:42")
    );
    assert_eq!(t0.launch_type.as_deref(), Some("FARGATE"));
    let names: Vec<_> = t0.containers.iter().map(|c| c.name.as_deref()).collect();
    assert_eq!(names, [Some("web"), Some("log-router")]);
    assert_eq!(
        t0.containers[0].image_uid.as_deref(),
        Some("sha256:4f2a9c0d1e8b7a6f5c4d3e2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29")
    );
    assert_eq!(seq.tasks[1].containers.len(), 1);
    assert!(seq.tasks[2].containers.is_empty());
    assert!(seq.unattached_containers.is_empty());
    assert_eq!(seq.other_resources, 1, "the EC2 instance is counted");

    assert_eq!(seq.signals.count, 3);
    assert_eq!(seq.signals.occurrences, 21);
    assert_eq!(seq.signals.types.get("FINDING"), Some(&3));
    assert_eq!(
        seq.signals.first_seen.unwrap().to_rfc3339(),
        "2025-12-01T14:02:11+00:00"
    );
    assert_eq!(
        seq.signals.last_seen.unwrap().to_rfc3339(),
        "2025-12-02T09:12:47+00:00"
    );
    assert_eq!(
        seq.signals.kept[1].name,
        "CryptoCurrency:Runtime/BitcoinTool.B!DNS"
    );
    assert_eq!(seq.indicators.len(), 4);
    assert_eq!(seq.indicators[2].key, "CRYPTOMINING_DOMAIN");
    assert_eq!((seq.actor_count, seq.endpoint_count), (1, 2));
    assert_eq!(seq.endpoints, ["203.0.113.77:3333", "pool.example.net"]);
    assert_eq!(f.first_observed_at, seq.signals.first_seen.unwrap());
}

#[test]
fn per_task_findings_keep_the_sequence_fingerprint() {
    let f = parse(&fixture()).unwrap();
    let per_task = f.per_task();
    assert_eq!(per_task.len(), 3);
    for t in &per_task {
        assert_eq!(t.fingerprint, f.fingerprint);
        assert_eq!(FindingFingerprint::of(t), f.fingerprint);
        assert_eq!(t.resource.cluster_arn.as_deref(), Some(CLUSTER));
        assert!(t.identity_conflicts.is_empty());
    }
    assert_eq!(per_task[0].resource.container.name.as_deref(), Some("web"));
    assert_eq!(
        per_task[0].resource.task_definition_family.as_deref(),
        Some("shop-web")
    );
    assert_eq!(per_task[2].resource.launch_type.as_deref(), Some("EC2"));
}

#[test]
fn the_fingerprint_is_the_sequence_uid_not_its_tasks() {
    let base = parse(&fixture()).unwrap();
    let mut fewer = fixture();
    let resources = sequence_mut(&mut fewer)["resources"]
        .as_array_mut()
        .unwrap();
    resources.retain(|r| r["resourceType"] != "ECS_TASK");
    assert_eq!(parse(&fewer).unwrap().fingerprint, base.fingerprint);
    let mut other = fixture();
    sequence_mut(&mut other)["uid"] = json!("another-sequence");
    assert_ne!(parse(&other).unwrap().fingerprint, base.fingerprint);
}

#[test]
fn a_sequence_naming_no_task_is_a_cluster_finding_with_nothing_to_fan_out() {
    let mut v = fixture();
    let resources = sequence_mut(&mut v)["resources"].as_array_mut().unwrap();
    resources.retain(|r| r["resourceType"] == "ECS_CLUSTER");
    let f = parse(&v).unwrap();
    let seq = f.sequence.as_ref().unwrap();
    assert!(seq.tasks.is_empty());
    assert!(f.per_task().is_empty());
    assert_eq!(f.resource.cluster_arn.as_deref(), Some(CLUSTER));

    // No resources at all, or an empty list: an ECS sequence is still accepted (Critical).
    for resources in [json!([]), Value::Null] {
        let mut v = fixture();
        sequence_mut(&mut v)["resources"] = resources;
        let f = parse(&v).unwrap();
        assert_eq!(f.resource.cluster_arn, None);
        assert!(f.per_task().is_empty());
    }
}

#[test]
fn two_hundred_tasks_keep_a_hundred_and_say_how_many_were_dropped() {
    let mut v = fixture();
    let resources: Vec<Value> = (0..200).map(task).chain((0..200).map(container)).collect();
    sequence_mut(&mut v)["resources"] = Value::Array(resources);
    let f = parse(&v).unwrap();
    let seq = f.sequence.as_ref().unwrap();
    assert_eq!(seq.tasks.len(), MAX_SEQUENCE_TASKS);
    assert_eq!(seq.tasks_dropped, 100);
    assert!(seq.tasks.iter().all(|t| t.containers.len() == 1));
    assert_eq!(
        seq.clusters,
        [CLUSTER],
        "the tasks' cluster, from their ARNs"
    );
    assert_eq!(f.per_task().len(), MAX_SEQUENCE_TASKS);
    assert!(serde_json::to_vec(&f).unwrap().len() < 128 * 1024);
}

#[test]
fn unknown_types_odd_spellings_and_malformed_uids_are_tolerated() {
    let mut v = fixture();
    sequence_mut(&mut v)["resources"] = json!([
        {"uid": "arn:aws:ecs:us-west-2:111122223333:task/shop-prod/aaaa", "resourceType": "EcsTask"},
        {"uid": "not-a-task-arn", "resourceType": "ECS_TASK"},
        {"resourceType": "ECS_TASK"},
        {"uid": "x", "resourceType": "SOMETHING_NEW", "data": {"somethingNew": {}}},
        {"uid": "c1", "resourceType": "CONTAINER"},
        {"uid": "shop-prod", "resourceType": "ECS_CLUSTER"},
    ]);
    sequence_mut(&mut v)["signals"] = json!([{"name": "s", "firstSeenAt": "not a time"}]);
    sequence_mut(&mut v)["sequenceIndicators"] = json!([{"title": "no key"}, {"key": "TOR_IP"}]);
    let f = parse(&v).unwrap();
    let seq = f.sequence.as_ref().unwrap();
    assert_eq!(seq.tasks.len(), 1);
    assert_eq!(seq.tasks_dropped, 1, "the uid that is no task ARN");
    assert_eq!(seq.other_resources, 1);
    assert_eq!(seq.unattached_containers.len(), 1);
    assert_eq!(
        seq.clusters,
        [CLUSTER],
        "a cluster by name, in the finding's account"
    );
    assert_eq!(seq.signals.count, 1);
    assert_eq!(seq.signals.first_seen, None);
    assert_eq!(seq.indicators.len(), 1);
}

#[test]
fn sequences_without_ecs_resources_or_without_a_uid_are_refused() {
    let mut iam = fixture();
    iam["detail"]["type"] = json!("AttackSequence:IAM/CompromisedCredentials");
    sequence_mut(&mut iam)["resources"] =
        json!([{"uid": "AKIAEXAMPLE", "resourceType": "ACCESS_KEY"}]);
    let e = parse(&iam).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Unsupported(_)), "{e}");

    let mut no_uid = fixture();
    sequence_mut(&mut no_uid)
        .as_object_mut()
        .unwrap()
        .remove("uid");
    let e = parse(&no_uid).unwrap_err();
    assert!(e.to_string().contains("sequence.uid"), "{e}");

    let mut no_sequence = fixture();
    no_sequence["detail"]["service"]
        .as_object_mut()
        .unwrap()
        .remove("detection");
    let e = parse(&no_sequence).unwrap_err();
    assert!(e.to_string().contains("service.detection.sequence"), "{e}");
}

#[test]
fn a_sequence_from_an_agent_source_is_refused_as_forged() {
    let mut v = fixture();
    v["source"] = json!("falco.agent");
    v["detail-type"] = json!("Falco Alert");
    let e = parse(&v).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::ForgedSource(_)), "{e}");
}
