//! Findings not about a workload (CloudTrail, Kubernetes audit, SaaS plugins) map to ASFF types and
//! resources of what they are about, never a Container.

use chrono::Utc;
use vigil_asff::{MappingContext, finding_types, to_asff};
use vigil_model::{Finding, RawEvent, Severity, Source, Subject, SubjectKind};

fn finding(rule: &str, subject: Subject) -> Finding {
    let mut f = Finding::new(
        Source::Falco,
        rule.into(),
        rule.into(),
        Severity::from_falco_priority("Critical").unwrap(),
        Utc::now(),
        RawEvent::capture("{}"),
    );
    f.account = Some("111122223333".into());
    f.region = Some("us-east-1".into());
    f.subject = subject;
    f.seal()
}

fn ctx() -> MappingContext {
    MappingContext { now: Utc::now() }
}

#[test]
fn a_cloudtrail_finding_is_a_user_behavior_on_an_iam_user() {
    let f = finding(
        "Console login without MFA",
        Subject {
            kind: SubjectKind::Cloud,
            event_source: Some("aws_cloudtrail".into()),
            user: Some("example-user".into()),
            account: Some("111122223333".into()),
            source_ip: Some("203.0.113.10".into()),
            ..Subject::default()
        },
    );
    assert_eq!(
        finding_types(&f),
        vec!["Unusual Behaviors/User/Console login without MFA"]
    );
    let a = to_asff(&f, &ctx()).unwrap();
    assert_eq!(a.resources.len(), 1);
    assert_eq!(a.resources[0].resource_type, "Other");
    assert_eq!(a.resources[0].id, "111122223333/example-user");
    let details = a.resources[0].details.as_ref().unwrap().to_json();
    assert_eq!(details["Other"]["SourceIp"], "203.0.113.10");
    assert_eq!(details["Other"]["EventSource"], "aws_cloudtrail");
    assert_eq!(a.product_fields["vigil/Subject"], "cloud");
    assert!(a.process.is_none());

    // With the user's ARN, an AwsIamUser resource.
    let mut s = f.subject.clone();
    s.user_id = Some("arn:aws:iam::111122223333:user/example-user".into());
    let f = finding("Console login without MFA", s);
    let a = to_asff(&f, &ctx()).unwrap();
    assert_eq!(a.resources[0].resource_type, "AwsIamUser");
    assert_eq!(
        a.resources[0].id,
        "arn:aws:iam::111122223333:user/example-user"
    );
    assert_eq!(
        a.resources[0].details.as_ref().unwrap().to_json()["AwsIamUser"]["UserName"],
        "example-user"
    );
    assert!(a.resources.iter().all(|r| r.resource_type != "Container"));
}

#[test]
fn a_kubernetes_audit_finding_names_the_object() {
    let f = finding(
        "Create Privileged Pod",
        Subject {
            kind: SubjectKind::Kubernetes,
            event_source: Some("k8s_audit".into()),
            user: Some("deployer".into()),
            target: Some("pods/default/nginx".into()),
            ..Subject::default()
        },
    );
    assert_eq!(
        finding_types(&f),
        vec!["Unusual Behaviors/Application/Create Privileged Pod"]
    );
    let a = to_asff(&f, &ctx()).unwrap();
    assert_eq!(a.resources.len(), 1);
    assert_eq!(a.resources[0].resource_type, "Other");
    assert_eq!(a.resources[0].id, "k8s/pods/default/nginx");
}

#[test]
fn mitre_tags_still_give_ttps_and_workloads_keep_their_types() {
    let mut f = finding(
        "Create Access Key for Root",
        Subject {
            kind: SubjectKind::Cloud,
            ..Subject::default()
        },
    );
    f.mitre = vec!["persistence".into()];
    assert_eq!(
        finding_types(&f),
        vec!["TTPs/Persistence/Create Access Key for Root"]
    );
    let f = finding("Terminal shell in container", Subject::default());
    assert_eq!(
        finding_types(&f),
        vec!["Unusual Behaviors/Container/Terminal shell in container"]
    );
    let a = to_asff(&f, &ctx()).unwrap();
    assert!(!a.product_fields.contains_key("vigil/Subject"));
}

/// The subject is hashed only for non-workload findings: a workload's fingerprint is what it was.
#[test]
fn workload_fingerprints_are_unchanged_by_the_subject() {
    let a = finding("r", Subject::default());
    let b = finding(
        "r",
        Subject {
            event_source: Some("syscall".into()),
            user: Some("ignored".into()),
            ..Subject::default()
        },
    );
    assert_eq!(a.fingerprint, b.fingerprint);
    let c = finding(
        "r",
        Subject {
            kind: SubjectKind::Saas,
            ..Subject::default()
        },
    );
    assert_ne!(a.fingerprint, c.fingerprint);
}
