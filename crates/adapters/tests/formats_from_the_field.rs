//! Shapes the formats take in the field: Falco's own status events (telemetry, not findings),
//! plugin sources (CloudTrail, Kubernetes audit, Okta, GitHub) and Sysdig's cloud detections (about
//! accounts and users, never a container), and fields a rule's output left for Vigil to derive.

use serde_json::{Value, json};
use vigil_adapters::{ParseContext, SourceEvent, StatusKind, parse_event};
use vigil_model::{Finding, SubjectKind};

fn event(v: &Value) -> SourceEvent {
    parse_event(&serde_json::to_vec(v).unwrap(), &ParseContext::default()).unwrap()
}

fn finding(v: &Value) -> Finding {
    match event(v) {
        SourceEvent::Finding(f) => f,
        other => panic!("expected a finding, got {other:?}"),
    }
}

fn status(v: &Value) -> vigil_adapters::AgentStatus {
    match event(v) {
        SourceEvent::AgentStatus(s) => s,
        other => panic!("expected agent telemetry, got {other:?}"),
    }
}

#[test]
fn a_syscall_event_drop_is_agent_telemetry() {
    let s = status(
        &json!({"rule": "Falco internal: syscall event drop", "priority": "Debug",
        "time": "2026-11-30T10:00:01.000000000Z",
        "output": "Falco internal: syscall event drop. 1234 system calls dropped in last second.",
        "output_fields": {"n_drops": 1234, "n_evts": 56789}}),
    );
    assert_eq!(s.kind, "agent_telemetry");
    assert_eq!(s.status, StatusKind::SyscallEventDrop);
    assert_eq!(s.drops.n_drops, Some(1234));
    assert_eq!(s.drops.n_evts, Some(56789));
    assert_eq!(s.priority.as_deref(), Some("Debug"));
    assert_eq!(
        s.observed_at.unwrap().to_rfc3339(),
        "2026-11-30T10:00:01+00:00"
    );
    let j = serde_json::to_value(&s).unwrap();
    assert_eq!(j["kind"], "agent_telemetry");
    assert_eq!(j["agent"], "falco");
    assert_eq!(j["status"], "syscall_event_drop");
    assert_eq!(j["drops"]["n_drops"], 1234);
}

/// The full drop alert of current Falco (per-category buffer drops), bare or from falcosidekick.
#[test]
fn drop_counters_by_category_and_in_eventbridge() {
    let alert = json!({"hostname": "ip-10-0-1-5", "priority": "Debug",
        "rule": "Falco internal: syscall event drop", "source": "syscall",
        "time": "2026-11-30T10:00:01.5Z", "uuid": "5f2b3c1e-0000-4000-8000-000000000001",
        "output": "Falco internal: syscall event drop. 7 system calls dropped in last second.",
        "output_fields": {"ebpf_enabled": "1", "n_drops": 7, "n_drops_buffer_total": 5,
            "n_drops_buffer_clone_fork_enter": 0, "n_drops_buffer_execve_exit": 2,
            "n_drops_bug": 0, "n_drops_page_faults": 1, "n_drops_scratch_map": 1,
            "n_evts": 18446744073709551000u64,
            "container.label.com.amazonaws.ecs.task-arn":
                "arn:aws:ecs:us-east-1:111122223333:task/prod/0123456789abcdef0123456789abcdef"}});
    let s = status(&alert);
    assert_eq!(s.drops.n_drops_buffer, Some(5));
    assert_eq!(s.drops.n_drops_page_faults, Some(1));
    assert_eq!(s.drops.n_drops_scratch_map, Some(1));
    assert_eq!(s.drops.n_evts, Some(18446744073709551000));
    assert_eq!(s.host.as_deref(), Some("ip-10-0-1-5"));
    assert_eq!(s.account.as_deref(), Some("111122223333"));
    assert!(s.task_arn.as_deref().unwrap().ends_with("0123456789abcdef"));
    assert_eq!(
        s.source_event_id.as_deref(),
        Some("5f2b3c1e-0000-4000-8000-000000000001")
    );
    let eb = json!({"version": "0", "id": "e1", "source": "falco", "detail-type": "Falco Alert",
        "account": "444455556666", "region": "eu-west-1", "time": "2026-11-30T10:00:02Z",
        "detail": alert});
    let s = status(&eb);
    assert_eq!(s.account.as_deref(), Some("444455556666"));
    assert_eq!(s.status, StatusKind::SyscallEventDrop);
}

/// Falco's documented metrics snapshot (`metrics.output_rule`): `source` `internal`.
#[test]
fn a_metrics_snapshot_is_agent_telemetry() {
    let s = status(
        &json!({"hostname": "test", "output": "Falco metrics snapshot",
        "output_fields": {"evt.source": "syscall", "evt.time": 1706043847488647460u64,
            "falco.duration_sec": 19, "falco.evts_rate_sec": 8326.2,
            "falco.host_boot_ts": 1705377771000000000u64, "falco.num_evts": 137676,
            "falco.outputs_queue_num_drops": 3, "falco.version": "0.37.0",
            "scap.engine_name": "bpf", "scap.n_drops": 12, "scap.n_drops_buffer_total": 10,
            "scap.n_drops_perc": 0.5, "scap.n_evts": 1000000},
        "priority": "Informational", "rule": "Falco internal: metrics snapshot",
        "source": "internal", "time": "2024-01-23T21:04:07.488647460Z"}),
    );
    assert_eq!(s.status, StatusKind::MetricsSnapshot);
    assert_eq!(s.agent_version.as_deref(), Some("0.37.0"));
    assert_eq!(s.event_source.as_deref(), Some("syscall"));
    assert_eq!(s.drops.n_drops, Some(12));
    assert_eq!(s.drops.n_evts, Some(1000000));
    assert_eq!(s.drops.n_drops_buffer, Some(10));
    assert_eq!(s.drops.n_drops_perc, Some(0.5));
    assert_eq!(s.drops.outputs_queue_num_drops, Some(3));
    // Every digit of a nanosecond counter kept.
    assert_eq!(
        s.fields["falco.host_boot_ts"].to_string(),
        "1705377771000000000"
    );
    assert_eq!(s.observed_at.unwrap().timestamp_subsec_nanos(), 488_647_460);
}

/// Falco's timeouts notification, with no `source` and a `time` only.
#[test]
fn a_timeouts_notification_is_agent_telemetry() {
    let s = status(&json!({"hostname": "9f972d379b33",
        "output": "Falco internal: timeouts notification. 1000 consecutive timeouts without event.",
        "output_fields": {"last_event_time": "none"}, "priority": "Debug",
        "rule": "Falco internal: timeouts notification", "time": "2022-09-21T15:08:17.731995145Z"}));
    assert_eq!(s.status, StatusKind::Timeouts);
    assert_eq!(s.fields["last_event_time"], "none");
    // Even an odd priority or no time does not make it a finding or an error.
    let s = status(&json!({"rule": "Falco internal: hello", "priority": "Chatty"}));
    assert_eq!(s.status, StatusKind::Other);
    assert!(s.observed_at.is_none());
}

#[test]
fn a_cloudtrail_alert_is_about_the_user_not_a_container() {
    let f = finding(
        &json!({"rule": "Console login without MFA", "priority": "Critical",
        "source": "aws_cloudtrail", "time": "2026-11-30T10:00:00.000000000Z",
        "output": "Console login without MFA (user=example-user)",
        "output_fields": {"ct.user": "example-user", "ct.region": "us-east-1",
            "ct.srcip": "203.0.113.10", "ct.user.accountid": "111122223333",
            "evt.time": 1764496800123456789u64}}),
    );
    assert_eq!(f.subject.kind, SubjectKind::Cloud);
    assert_eq!(f.subject.event_source.as_deref(), Some("aws_cloudtrail"));
    assert_eq!(f.subject.user.as_deref(), Some("example-user"));
    assert_eq!(f.subject.account.as_deref(), Some("111122223333"));
    assert_eq!(f.subject.source_ip.as_deref(), Some("203.0.113.10"));
    assert_eq!(f.resource.task_arn, None);
    assert_eq!(f.resource.container.id, None);
    assert_eq!(f.resource.host, None);
    assert!(f.process.is_none());
    let j = serde_json::to_value(&f).unwrap();
    assert_eq!(j["subject"]["kind"], "cloud");
    assert!(j["subject"]["target"].is_null());
}

/// Even with the collector's container labels, a plugin alert has no task to act on.
#[test]
fn plugin_alerts_never_carry_a_task() {
    let f = finding(
        &json!({"rule": "Delete Bucket Public Access Block", "priority": "Critical",
        "source": "aws_cloudtrail", "time": "2026-11-30T10:00:00Z", "hostname": "falco-0",
        "output_fields": {"ct.name": "PutBucketPublicAccessBlock", "ct.user": "alice",
            "ct.user.arn": "arn:aws:iam::111122223333:user/alice",
            "ct.user.accountid": "111122223333", "container.id": "1a2b3c4d5e6f",
            "container.label.com.amazonaws.ecs.task-arn":
                "arn:aws:ecs:us-east-1:111122223333:task/prod/0123456789abcdef0123456789abcdef"}}),
    );
    assert_eq!(f.subject.kind, SubjectKind::Cloud);
    assert_eq!(
        f.subject.action.as_deref(),
        Some("PutBucketPublicAccessBlock")
    );
    assert_eq!(
        f.subject.user_id.as_deref(),
        Some("arn:aws:iam::111122223333:user/alice")
    );
    assert_eq!(f.resource, Default::default());
    // Never the fingerprint of the container finding of the same rule.
    let mut c = finding(&json!({"rule": "Delete Bucket Public Access Block",
        "priority": "Critical", "source": "syscall", "time": "2026-11-30T10:00:00Z",
        "output_fields": {"container.id": "1a2b3c4d5e6f"}}));
    assert_eq!(c.subject.kind, SubjectKind::Workload);
    assert_ne!(c.fingerprint, f.fingerprint);
    c.subject.kind = SubjectKind::Cloud;
    assert_ne!(vigil_model::FindingFingerprint::of(&c), f.fingerprint);
}

#[test]
fn kubernetes_audit_alerts_with_and_without_source() {
    let fields = json!({"ka.user.name": "system:serviceaccount:default:deployer",
        "ka.target.resource": "pods", "ka.target.namespace": "default",
        "ka.target.name": "nginx-priv", "ka.verb": "create",
        "ka.sourceips": "[10.0.0.7,10.0.0.8]", "jevt.time": "2026-11-30T10:00:00Z"});
    for source in [json!("k8s_audit"), Value::Null] {
        let mut alert = json!({"rule": "Create Privileged Pod", "priority": "Warning",
            "time": "2026-11-30T10:00:00Z", "output_fields": fields.clone()});
        if !source.is_null() {
            alert["source"] = source.clone();
        }
        let f = finding(&alert);
        assert_eq!(f.subject.kind, SubjectKind::Kubernetes, "{source}");
        assert_eq!(f.subject.target.as_deref(), Some("pods/default/nginx-priv"));
        assert_eq!(
            f.subject.user.as_deref(),
            Some("system:serviceaccount:default:deployer")
        );
        assert_eq!(f.subject.source_ip.as_deref(), Some("10.0.0.7"));
        assert_eq!(f.subject.action.as_deref(), Some("create"));
        assert_eq!(f.resource.task_arn, None);
    }
    // Older audit rules print `jevt.value[...]` fields only.
    let f = finding(
        &json!({"rule": "K8s Secret Created", "priority": "Informational",
        "time": "2026-11-30T10:00:00Z",
        "output_fields": {"jevt.value[/user/username]": "admin",
            "jevt.value[/objectRef/resource]": "secrets",
            "jevt.value[/objectRef/namespace]": "kube-system",
            "jevt.value[/objectRef/name]": "token"}}),
    );
    assert_eq!(f.subject.kind, SubjectKind::Kubernetes);
    assert_eq!(
        f.subject.target.as_deref(),
        Some("secrets/kube-system/token")
    );
    assert_eq!(f.subject.user.as_deref(), Some("admin"));
}

#[test]
fn saas_and_unknown_plugin_sources() {
    let f = finding(
        &json!({"rule": "User Added to Admin Group", "priority": "Warning",
        "source": "okta", "time": "2026-11-30T10:00:00Z",
        "output_fields": {"okta.actor.alternateid": "admin@example.com",
            "okta.client.ip": "198.51.100.4", "okta.evt.type": "group.user_membership.add",
            "okta.target.user.alternateid": "bob@example.com"}}),
    );
    assert_eq!(f.subject.kind, SubjectKind::Saas);
    assert_eq!(f.subject.user.as_deref(), Some("admin@example.com"));
    assert_eq!(f.subject.target.as_deref(), Some("bob@example.com"));
    let f = finding(&json!({"rule": "Secret pushed into a public repository",
        "priority": "Critical", "source": "github", "time": "2026-11-30T10:00:00Z",
        "output_fields": {"github.repo": "example-org/example", "github.user": "octocat",
            "github.type": "push"}}));
    assert_eq!(f.subject.kind, SubjectKind::Saas);
    assert_eq!(f.subject.target.as_deref(), Some("example-org/example"));
    let f = finding(
        &json!({"rule": "GCP bucket made public", "priority": "Critical",
        "source": "gcp_auditlog", "time": "2026-11-30T10:00:00Z",
        "output_fields": {"gcp.user": "dev@example.com", "gcp.callerIP": "192.0.2.1",
            "gcp.methodName": "storage.setIamPermissions"}}),
    );
    assert_eq!(f.subject.kind, SubjectKind::Cloud);
    assert_eq!(f.subject.source_ip.as_deref(), Some("192.0.2.1"));
    let f = finding(
        &json!({"rule": "Nomad job", "priority": "Notice", "source": "nomad",
        "time": "2026-11-30T10:00:00Z", "output_fields": {"container.id": "abcdefabcdef"}}),
    );
    assert_eq!(f.subject.kind, SubjectKind::Other);
    assert_eq!(f.resource.container.id, None);
    // `syscall`, or no source and no audit fields, is a workload as before.
    let f = finding(
        &json!({"rule": "r", "priority": "Notice", "time": "2026-11-30T10:00:00Z",
        "output_fields": {"container.id": "abcdefabcdef"}}),
    );
    assert_eq!(f.subject.kind, SubjectKind::Workload);
    assert_eq!(f.subject.event_source, None);
    assert_eq!(f.resource.container.id.as_deref(), Some("abcdefabcdef"));
}

#[test]
fn sysdig_cloud_detections_are_not_container_findings() {
    let forwarded = json!({"id": "17a1", "type": "policy", "source": "awscloudtrail",
        "timestamp": 1764496800123456789u64, "severity": 2, "name": "AWS CloudTrail policy",
        "description": "CloudTrail", "originator": "policy",
        "labels": {"aws.accountId": "111122223333", "aws.region": "us-east-1",
            "container.label.com.amazonaws.ecs.task-arn":
                "arn:aws:ecs:us-east-1:111122223333:task/prod/0123456789abcdef0123456789abcdef"},
        "content": {"ruleName": "Delete Bucket Encryption", "output": "bucket encryption removed",
            "fields": {"ct.name": "DeleteBucketEncryption", "ct.user": "alice",
                "ct.srcip": "203.0.113.5"}}});
    let f = finding(&forwarded);
    assert_eq!(f.subject.kind, SubjectKind::Cloud);
    assert_eq!(f.subject.event_source.as_deref(), Some("awscloudtrail"));
    assert_eq!(f.subject.action.as_deref(), Some("DeleteBucketEncryption"));
    assert_eq!(f.resource.task_arn, None);
    assert_eq!(f.account.as_deref(), Some("111122223333"));
    assert_eq!(f.observed_at.timestamp_subsec_nanos(), 123_456_789);
    // Events API shape naming no source: told by its fields.
    let api = json!({"id": "17a2", "timestamp": 1764496800000000000u64, "severity": 4,
        "originator": "policy", "category": "runtime",
        "content": {"type": "cloudTrailDetection", "ruleName": "Create Access Key for Root",
            "fields": {"ct.user": "root", "ct.user.accountid": "111122223333"}}});
    let f = finding(&api);
    assert_eq!(f.subject.kind, SubjectKind::Cloud);
    assert_eq!(f.subject.user.as_deref(), Some("root"));
    // A runtime detection stays a workload.
    let api = json!({"id": "17a3", "timestamp": 1764496800000000000u64, "severity": 4,
        "originator": "policy", "category": "runtime",
        "content": {"type": "workloadRuntimeDetection", "ruleName": "Terminal shell",
            "fields": {"container.id": "1a2b3c4d5e6f", "proc.cmdline": "/bin/bash -i"}}});
    let f = finding(&api);
    assert_eq!(f.subject.kind, SubjectKind::Workload);
    assert_eq!(f.resource.container.id.as_deref(), Some("1a2b3c4d5e6f"));
    assert_eq!(f.process.unwrap().name.as_deref(), Some("bash"));
}

#[test]
fn the_process_name_is_derived_when_the_output_left_it_out() {
    let alert = |fields: Value| {
        json!({"rule": "Run shell untrusted", "priority": "Notice", "source": "syscall",
            "time": "2026-11-30T10:00:00Z", "output": "shell started",
            "output_fields": fields})
    };
    let name = |fields: Value| finding(&alert(fields)).process.unwrap().name;
    assert_eq!(
        name(json!({"container.id": "1a2b3c4d5e6f", "proc.cmdline": "sh -c id"})).as_deref(),
        Some("sh")
    );
    assert_eq!(
        name(json!({"proc.exepath": "/usr/bin/python3.11", "proc.cmdline": "python x.py"}))
            .as_deref(),
        Some("python3.11")
    );
    assert_eq!(
        name(json!({"proc.cmdline": "/bin/busybox wget http://x"})).as_deref(),
        Some("busybox")
    );
    assert_eq!(
        name(json!({"proc.name": "<NA>", "proc.exe": "/bin/dash", "proc.cmdline": "<NA>"}))
            .as_deref(),
        Some("dash")
    );
    // The given name wins.
    assert_eq!(
        name(json!({"proc.name": "bash", "proc.cmdline": "sh -c id"})).as_deref(),
        Some("bash")
    );
}

#[test]
fn container_id_host_is_the_host_not_a_container() {
    let f = finding(
        &json!({"rule": "Write below etc", "priority": "Error", "source": "syscall",
        "time": "2026-11-30T10:00:00Z", "hostname": "ip-10-0-1-5",
        "output_fields": {"container.id": "host", "container.name": "host",
            "container.image.repository": "<NA>", "proc.name": "vi"}}),
    );
    assert_eq!(f.resource.container, Default::default());
    assert_eq!(f.resource.host.as_deref(), Some("ip-10-0-1-5"));
    let f = finding(
        &json!({"rule": "r", "priority": "Error", "time": "2026-11-30T10:00:00Z",
        "output_fields": {"container.full_id": "host", "container.id": "host"}}),
    );
    assert_eq!(f.resource.container.id, None);
    let f = finding(
        &json!({"id": "1", "timestamp": 1764496800000000000u64, "severity": 2,
        "originator": "policy", "containerId": "host",
        "content": {"ruleName": "r", "fields": {"container.name": "host"}}}),
    );
    assert_eq!(f.resource.container, Default::default());
}

#[test]
fn integer_times_above_2_pow_53_keep_every_digit() {
    for key in ["evt.time", "evt.rawtime", "evt.time.iso8601"] {
        let f = finding(
            &json!({"rule": "r", "priority": "Notice", "source": "syscall",
            "output_fields": {key: 1764496800123456789u64}}),
        );
        assert_eq!(
            f.observed_at
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            "2025-11-30T10:00:00.123456789Z",
            "{key}"
        );
    }
    // As digits in a string too, and Falco's text `evt.time` (a time of day) is skipped.
    let f = finding(&json!({"rule": "r", "priority": "Notice",
        "output_fields": {"evt.time": "10:00:00.123456789", "evt.rawtime": "1764496800123456789"}}));
    assert_eq!(f.observed_at.timestamp_subsec_nanos(), 123_456_789);
    let f = finding(&json!({"rule": "r", "priority": "Notice", "time": 1764496800123456789u64}));
    assert_eq!(f.observed_at.timestamp_subsec_nanos(), 123_456_789);
}

#[test]
fn na_and_empty_mean_unknown_everywhere() {
    let f = finding(
        &json!({"rule": "r", "priority": "Notice", "time": "2026-11-30T10:00:00Z",
        "hostname": "<NA>", "output": "", "uuid": "<NA>",
        "output_fields": {"container.id": "<NA>", "container.name": "", "proc.name": "<NA>",
            "proc.cmdline": "", "evt.hostname": "N/A", "fd.rip": "<NA>", "user.name": "<NA>"}}),
    );
    assert_eq!(f.resource.host, None);
    assert_eq!(f.description, None);
    assert_eq!(f.source_event_id, None);
    assert_eq!(f.resource.container, Default::default());
    assert!(f.process.is_none());
    assert!(f.network.is_none());
    let f = finding(
        &json!({"id": "<NA>", "timestamp": 1764496800000000000u64, "severity": 2,
        "originator": "policy", "containerId": "<NA>", "description": "",
        "content": {"ruleName": "r", "output": "<NA>"}}),
    );
    assert_eq!(f.source_event_id, None);
    assert_eq!(f.resource.container.id, None);
    assert_eq!(f.description, None);
}
