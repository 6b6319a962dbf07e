//! The ASFF record of each sample carries the fields Security Hub requires, our product ARN and an
//! `Id` derived from the fingerprint.

use chrono::{TimeZone, Utc};
use vigil_asff::{AsffError, History, MappingContext, to_asff, to_asff_with_history};
use vigil_model::{Finding, Severity, SeverityLabel};

fn sample() -> Finding {
    let mut f = vigil_model::fixtures::terminal_shell("111122223333", "us-west-2");
    f.resource.task_arn =
        Some("arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b".into());
    f.resource.cluster_arn =
        Some("arn:aws:ecs:us-west-2:111122223333:cluster/FargateCluster".into());
    f.resource.task_definition_family = Some("sample-fargate".into());
    f.resource.task_definition_revision = Some("1".into());
    f.resource.container.id = Some("ad64cbc71c7f".into());
    f.resource.container.name = Some("FargateApp".into());
    f.mitre = vec!["execution".into(), "T1059".into()];
    f.seal()
}

fn ctx() -> MappingContext {
    MappingContext {
        now: Utc.with_ymd_and_hms(2020, 1, 23, 18, 0, 0).unwrap(),
    }
}

#[test]
fn required_fields_and_identity() {
    let f = sample();
    let a = to_asff(&f, &ctx()).unwrap();
    assert_eq!(a.schema_version, "2018-10-08");
    assert_eq!(
        a.product_arn,
        "arn:aws:securityhub:us-west-2:111122223333:product/111122223333/default"
    );
    assert_eq!(a.id, format!("vigil-{}", f.fingerprint));
    assert_eq!(a.aws_account_id, "111122223333");
    assert_eq!(a.severity.label, "LOW");
    assert_eq!(a.severity.original, "Notice");
    assert_eq!(a.created_at, "2020-01-23T17:58:20.000Z");
    assert_eq!(a.updated_at, "2020-01-23T18:00:00.000Z");
    assert_eq!(a.types[0], "TTPs/Execution/Terminal shell in container");
    let types: Vec<_> = a
        .resources
        .iter()
        .map(|r| r.resource_type.as_str())
        .collect();
    assert_eq!(types, ["AwsEcsTask", "AwsEcsCluster", "Container"]);
    let task = &a.resources[0];
    assert_eq!(
        task.details.as_ref().unwrap().to_json()["AwsEcsTask"]["TaskDefinitionArn"],
        "arn:aws:ecs:us-west-2:111122223333:task-definition/sample-fargate:1"
    );
    assert_eq!(
        a.product_fields["vigil/Fingerprint"],
        f.fingerprint.as_str()
    );
    // The JSON uses Security Hub's names.
    let json = serde_json::to_value(&a).unwrap();
    for key in [
        "SchemaVersion",
        "Id",
        "ProductArn",
        "GeneratorId",
        "AwsAccountId",
        "Types",
        "CreatedAt",
        "UpdatedAt",
        "Severity",
        "Title",
        "Description",
        "Resources",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
    assert_eq!(json["Resources"][0]["Type"], "AwsEcsTask");
}

#[test]
fn same_fingerprint_same_id_later_update() {
    let (f, g) = (sample(), sample());
    let a = to_asff(&f, &ctx()).unwrap();
    let later = MappingContext {
        now: Utc.with_ymd_and_hms(2020, 1, 24, 0, 0, 0).unwrap(),
    };
    let b = to_asff(&g, &later).unwrap();
    assert_eq!(a.id, b.id);
    assert!(b.updated_at > a.updated_at);
}

#[test]
fn account_and_region_are_required() {
    let mut f = sample();
    f.account = None;
    assert_eq!(to_asff(&f, &ctx()).unwrap_err(), AsffError::MissingAccount);
    f.account = Some("12345".into());
    assert!(matches!(
        to_asff(&f, &ctx()).unwrap_err(),
        AsffError::InvalidAccount(_)
    ));
    let mut f = sample();
    f.region = None;
    assert_eq!(to_asff(&f, &ctx()).unwrap_err(), AsffError::MissingRegion);
}

#[test]
fn forged_fields_are_cleaned_and_clamped() {
    let mut f = sample();
    f.title = "\u{1b}[2J\u{1b}[31mowned\u{7}".into();
    f.severity = Severity {
        label: SeverityLabel::Critical,
        normalized: 3,
        original: String::new(),
    };
    f.process = Some(vigil_model::Process {
        name: Some("n".repeat(100)),
        pid: Some(i64::MAX),
        ..Default::default()
    });
    let a = to_asff(&f, &ctx()).unwrap();
    assert_eq!(a.title, "owned");
    assert_eq!(
        a.severity.normalized, 90,
        "normalized kept inside the CRITICAL band"
    );
    assert_eq!(a.severity.original, "CRITICAL");
    let p = a.process.unwrap();
    assert_eq!(p.name.unwrap().len(), 64);
    assert_eq!(
        p.pid, None,
        "a pid beyond ASFF's integer range is dropped, not wrapped"
    );
}

/// A finding from the bus may be forged with anything in any string: the record holds no control,
/// escape or invisible formatting character (bidi overrides, zero-width characters), in any field.
#[test]
fn forged_invisible_and_control_characters_never_reach_the_record() {
    let bad = "\u{1b}[31m\u{202e}\u{200b}\u{0}\u{7f}\u{9b}\u{feff}\u{2028}\u{e0041}\n";
    let dirty = |s: &str| format!("{bad}{s}{bad}");
    let mut f = sample();
    f.rule = dirty("Terminal shell");
    f.title = dirty("title");
    f.description = Some(dirty("line one\nline two"));
    f.severity.original = dirty("Notice");
    f.region = Some(dirty("us-west-2"));
    f.source_event_id = Some(dirty("id"));
    f.tags = vec![dirty("mitre_execution"), dirty("shell")];
    let r = &mut f.resource;
    r.task_arn = Some(dirty("arn:aws:ecs:us-west-2:111122223333:task/c/t"));
    r.cluster_arn = Some(dirty("arn:aws:ecs:us-west-2:111122223333:cluster/c"));
    r.host = Some(dirty("host"));
    r.service_name = Some(dirty("svc"));
    r.task_definition_family = Some(dirty("family"));
    r.container.name = Some(dirty("app"));
    r.container.image = Some(dirty("repo:tag"));
    r.container.image_digest = Some(dirty("sha256:abc"));
    f.process = Some(vigil_model::Process {
        name: Some(dirty("sh")),
        executable_path: Some(dirty("/bin/sh")),
        command_line: Some(dirty("sh -i")),
        user: Some(dirty("root")),
        ..Default::default()
    });
    f.network = Some(vigil_model::Network {
        protocol: Some(dirty("tcp")),
        remote_ip: Some("203.0.113.9".into()),
        connection: Some(dirty("a->b")),
        ..Default::default()
    });
    let f = f.seal();
    let a = to_asff(&f, &ctx()).unwrap();
    fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
            serde_json::Value::Object(m) => m.iter().for_each(|(k, v)| {
                out.push(k.clone());
                strings(v, out)
            }),
            _ => {}
        }
    }
    let mut all = Vec::new();
    strings(&serde_json::to_value(&a).unwrap(), &mut all);
    for s in &all {
        let forbidden = s.chars().find(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{feff}' | '\u{e0000}'..='\u{e007f}')
        });
        assert_eq!(forbidden, None, "{s:?}");
    }
    assert_eq!(a.title, "title");
    assert_eq!(a.region, "us-west-2");
    assert_eq!(
        a.description, "line one\nline two",
        "the description keeps its own lines"
    );
    assert_eq!(a.process.unwrap().name.as_deref(), Some("sh"));
    assert!(
        all.iter()
            .any(|s| s == "arn:aws:ecs:us-west-2:111122223333:task/c/t")
    );
}

#[test]
fn a_finding_with_nothing_known_still_names_a_resource() {
    let mut f = sample();
    f.resource = Default::default();
    let a = to_asff(&f, &ctx()).unwrap();
    assert_eq!(a.resources.len(), 1);
    assert_eq!(a.resources[0].resource_type, "Other");
}

#[test]
fn enrichment_adds_service_task_definition_tags_and_digest() {
    use vigil_model::{ContainerInfo, Enrichment, TaskInfo};
    let f = sample();
    let task = TaskInfo {
        task_arn: f.resource.task_arn.clone().unwrap(),
        cluster_arn: f.resource.cluster_arn.clone().unwrap(),
        service_name: Some("web".into()),
        service_arn: Some("arn:aws:ecs:us-west-2:111122223333:service/FargateCluster/web".into()),
        group: Some("service:web".into()),
        task_definition_arn: Some(
            "arn:aws:ecs:us-west-2:111122223333:task-definition/sample-fargate:1".into(),
        ),
        task_definition_family: Some("sample-fargate".into()),
        task_role_arn: Some("arn:aws:iam::111122223333:role/app".into()),
        tags: [
            ("team".to_owned(), "payments".to_owned()),
            ("aws:ecs:managed".to_owned(), "x".to_owned()),
        ]
        .into(),
        service_tags: [("vigil:protected".to_owned(), "true".to_owned())].into(),
        containers: vec![ContainerInfo {
            name: "FargateApp".into(),
            image: Some("repo/app:1".into()),
            image_digest: Some("sha256:abc".into()),
            runtime_id: Some("ad64cbc71c7fb31c".into()),
            privileged: Some(true),
            ..Default::default()
        }],
        offending_container: Some("FargateApp".into()),
        ..Default::default()
    };
    let enrichment = Enrichment::of(task);
    let a = vigil_asff::to_asff_enriched(&f, Some(&enrichment), &ctx()).unwrap();
    let types: Vec<_> = a
        .resources
        .iter()
        .map(|r| r.resource_type.as_str())
        .collect();
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
    assert_eq!(
        a.resources[0].tags.get("team").map(String::as_str),
        Some("payments")
    );
    assert!(
        !a.resources[0].tags.contains_key("aws:ecs:managed"),
        "reserved tag keys are not resource tags"
    );
    assert_eq!(
        a.resources[2]
            .tags
            .get("vigil:protected")
            .map(String::as_str),
        Some("true")
    );
    let container = a.resources[4].details.as_ref().unwrap().to_json();
    assert_eq!(container["Container"]["ImageId"], "sha256:abc");
    assert_eq!(container["Container"]["Privileged"], true);
    assert_eq!(
        a.resources[3].details.as_ref().unwrap().to_json()["AwsEcsTaskDefinition"]["TaskRoleArn"],
        "arn:aws:iam::111122223333:role/app"
    );
    assert_eq!(
        a.id,
        vigil_asff::to_asff(&f, &ctx()).unwrap().id,
        "enrichment never changes identity"
    );
}

#[test]
fn the_highest_severity_seen_is_carried_never_below_the_occurrences_own() {
    let f = sample(); // Notice: LOW 20
    let raised = History {
        highest_severity: Some(75),
        last_update: None,
    };
    let a = to_asff_with_history(&f, None, &ctx(), &raised).unwrap();
    assert_eq!(
        (a.severity.label.as_str(), a.severity.normalized),
        ("HIGH", 75)
    );
    assert_eq!(a.severity.original, "Notice", "the occurrence's own value");
    let lower = History {
        highest_severity: Some(5),
        last_update: None,
    };
    let a = to_asff_with_history(&f, None, &ctx(), &lower).unwrap();
    assert_eq!(
        (a.severity.label.as_str(), a.severity.normalized),
        ("LOW", 20)
    );
    let a = to_asff_with_history(&f, None, &ctx(), &History::default()).unwrap();
    assert_eq!(
        (a.severity.label.as_str(), a.severity.normalized),
        ("LOW", 20)
    );
    for n in [0u8, 39, 40, 90, 100, 255] {
        let h = History {
            highest_severity: Some(n),
            last_update: None,
        };
        let mut f = sample();
        f.severity = Severity::new(SeverityLabel::Informational, 0, "Debug");
        let a = to_asff_with_history(&f, None, &ctx(), &h).unwrap();
        let label = SeverityLabel::parse(&a.severity.label).unwrap();
        let (lo, hi) = label.band();
        assert!(
            lo <= a.severity.normalized && a.severity.normalized <= hi,
            "{n}"
        );
    }
}

#[test]
fn updated_at_never_goes_back_and_never_precedes_what_it_reports() {
    let f = sample();
    let now = ctx().now;
    // A previous import's UpdatedAt later than this clock: this one is not older.
    let ahead = now + chrono::Duration::minutes(3);
    let h = History {
        highest_severity: None,
        last_update: Some(ahead),
    };
    let a = to_asff_with_history(&f, None, &ctx(), &h).unwrap();
    assert_eq!(a.updated_at, "2020-01-23T18:03:00.000Z");
    // An older one changes nothing.
    let h = History {
        highest_severity: None,
        last_update: Some(now - chrono::Duration::days(1)),
    };
    let a = to_asff_with_history(&f, None, &ctx(), &h).unwrap();
    assert_eq!(a.updated_at, "2020-01-23T18:00:00.000Z");
    // Observed after the clock (within ingest's tolerance): UpdatedAt is at least LastObservedAt.
    let mut f = sample();
    f.last_observed_at = now + chrono::Duration::minutes(4);
    let a = to_asff(&f, &ctx()).unwrap();
    assert_eq!(a.updated_at, a.last_observed_at);
    assert!(a.created_at <= a.updated_at && a.first_observed_at <= a.last_observed_at);
}

#[test]
fn a_clamped_time_is_named_in_product_fields() {
    let mut f = sample();
    assert!(
        !to_asff(&f, &ctx())
            .unwrap()
            .product_fields
            .contains_key("vigil/TimeClamped")
    );
    let received = ctx().now;
    f.observed_at = Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap();
    f.last_observed_at = f.observed_at;
    assert!(f.clamp_future_times(received));
    let a = to_asff(&f, &ctx()).unwrap();
    assert_eq!(
        a.product_fields["vigil/TimeClamped"],
        "observed 9999-12-31T23:59:59.000Z claimed, after receipt at 2020-01-23T18:00:00.000Z; clamped to receipt"
    );
    assert_eq!(a.last_observed_at, "2020-01-23T18:00:00.000Z");
    assert_eq!(a.updated_at, "2020-01-23T18:00:00.000Z");
}
