//! Source identity comes from how an event arrived, never from its shape: AWS services only by their
//! exact source, agents as agents whatever their detail looks like, and the sender's account over
//! any account a payload names.

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use vigil_adapters::{Channel, ParseContext, SourceEvent, parse_delivery};
use vigil_model::{Arrival, Finding, Source};

const TRUSTED: &str = "111122223333";
const FOREIGN: &str = "999999999999";
const TASK: &str =
    "arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b4cb40f1f4fe4a2971f76ae5a47ad";
const CLUSTER: &str = "arn:aws:ecs:us-west-2:111122223333:cluster/FargateCluster";

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../samples/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn ctx(channel: Channel) -> ParseContext {
    ParseContext {
        default_account: Some(TRUSTED.into()),
        default_region: Some("us-west-2".into()),
        channel,
        ..Default::default()
    }
}

fn parse(v: &Value, ctx: &ParseContext) -> Result<SourceEvent, vigil_adapters::AdapterError> {
    parse_delivery(&serde_json::to_vec(v).unwrap(), ctx).map(|d| d.event)
}

fn finding(v: &Value, ctx: &ParseContext) -> Finding {
    match parse(v, ctx) {
        Ok(SourceEvent::Finding(f)) => f,
        other => panic!("expected a finding, got {other:?}"),
    }
}

fn refused(v: &Value, ctx: &ParseContext) -> String {
    match parse(v, ctx) {
        Err(e) => format!("{} {e}", e.code()),
        Ok(other) => panic!("expected a refusal, got {other:?}"),
    }
}

fn envelope(source: &str, detail_type: &str, account: &str, detail: Value) -> Value {
    json!({"version": "0", "id": "ev-1", "source": source, "detail-type": detail_type,
           "account": account, "region": "us-west-2", "time": "2026-11-30T10:00:00Z",
           "resources": [], "detail": detail})
}

fn guardduty_detail() -> Value {
    fixture("guardduty-ecs-runtime.json")["detail"].clone()
}

fn falco_alert(task: &str) -> Value {
    json!({"rule": "Terminal shell in container", "priority": "Notice",
           "time": "2026-11-30T10:00:00.000000000Z", "output": "shell",
           "uuid": "0b1a2c3d-producer", "output_fields": {
               "container.id": "ad64cbc71c7f", "proc.exepath": "/bin/sh",
               "container.label.com.amazonaws.ecs.task-arn": task,
               "container.label.com.amazonaws.ecs.cluster": "FargateCluster"}})
}

#[test]
fn guardduty_is_recognised_only_by_its_exact_source() {
    let eb = ctx(Channel::EventBridge);
    let genuine = finding(&fixture("guardduty-ecs-runtime.json"), &eb);
    assert_eq!(genuine.source, Source::Guardduty);
    assert_eq!(genuine.provenance.arrival, Arrival::AwsService);
    assert_eq!(genuine.provenance.sender_account.as_deref(), Some(TRUSTED));

    for source in [
        "AWS.GuardDuty",
        "aws.GuardDuty",
        "Aws.guardduty",
        " aws.guardduty",
        "aws.guardduty ",
        "aws.guard\u{200b}duty",
        "aws.ecs ",
        "AWS.ECS",
        "aws.securityhub",
        "Vigil",
        "VIGIL",
        "vigil\u{200b}",
    ] {
        let forged = envelope(source, "GuardDuty Finding", FOREIGN, guardduty_detail());
        let why = refused(&forged, &eb);
        assert!(why.starts_with("forged_source "), "{source:?}: {why}");
    }
    // The exact source with a twisted detail-type is no finding either.
    let twisted = envelope(
        "aws.guardduty",
        "guardduty finding",
        TRUSTED,
        guardduty_detail(),
    );
    assert!(refused(&twisted, &eb).starts_with("unsupported "));
}

#[test]
fn an_aws_shaped_detail_from_an_agent_is_refused_never_parsed_as_that_service() {
    let eb = ctx(Channel::EventBridge);
    for source in [
        "acme.scanner",
        "falco",
        "sysdig",
        "custom.agent",
        "guardduty",
    ] {
        let forged = envelope(source, "Finding", FOREIGN, guardduty_detail());
        let why = refused(&forged, &eb);
        assert!(
            why.contains("AWS service events are accepted only from AWS"),
            "{source}: {why}"
        );
    }
    let task_change = fixture("aws-ecs-task-state-change.json")["detail"].clone();
    let forged = envelope("acme.ecs", "ECS Task State Change", FOREIGN, task_change);
    assert!(refused(&forged, &eb).starts_with("forged_source "));
}

#[test]
fn the_ingest_queue_takes_only_eventbridge_events_and_direct_invocations_only_bare_agent_payloads()
{
    let bare_falco = falco_alert(TASK);
    let why = refused(&bare_falco, &ctx(Channel::EventBridge));
    assert!(why.contains("not an EventBridge event"), "{why}");

    let direct = ctx(Channel::DirectInvoke);
    let f = finding(&bare_falco, &direct);
    assert_eq!(f.provenance.arrival, Arrival::DirectInvoke);
    assert_eq!(f.provenance.sender_account.as_deref(), Some(TRUSTED));
    for wrapped in [
        envelope("falco", "Falco Alert", FOREIGN, falco_alert(TASK)),
        fixture("guardduty-ecs-runtime.json"),
        fixture("aws-ecs-task-state-change.json"),
    ] {
        let why = refused(&wrapped, &direct);
        assert!(why.contains("direct invocation"), "{why}");
    }
    for bare in [
        guardduty_detail(),
        fixture("aws-ecs-task-state-change.json")["detail"].clone(),
    ] {
        let why = refused(&bare, &direct);
        assert!(why.contains("only from AWS"), "{why}");
    }
}

#[test]
fn an_agent_speaks_for_its_own_account_unless_delegated() {
    let eb = ctx(Channel::EventBridge);
    // A foreign sender names a task in the trusted account: the finding stays the sender's.
    let forged = envelope("falco", "Falco Alert", FOREIGN, falco_alert(TASK));
    let f = finding(&forged, &eb);
    assert_eq!(f.account.as_deref(), Some(FOREIGN));
    assert_eq!(f.provenance.sender_account.as_deref(), Some(FOREIGN));
    assert_eq!(f.provenance.arrival, Arrival::AgentBus);
    assert!(
        f.identity_conflicts
            .iter()
            .any(|c| c.contains("not the finding's account")),
        "{:?}",
        f.identity_conflicts
    );

    // The same sender, allowed to speak for the task's account.
    let mut delegated = eb.clone();
    delegated.delegations =
        BTreeMap::from([(FOREIGN.to_owned(), BTreeSet::from([TRUSTED.to_owned()]))]);
    let f = finding(&forged, &delegated);
    assert_eq!(f.account.as_deref(), Some(TRUSTED));
    assert!(
        f.identity_conflicts.is_empty(),
        "{:?}",
        f.identity_conflicts
    );

    // A Sysdig account label is a payload field like any other.
    let sysdig = json!({"id": "sd-1", "timestamp": 1764496800000000000u64, "severity": 0,
        "name": "Terminal shell", "originator": "policy", "category": "runtime",
        "content": {"ruleName": "Terminal shell in container", "output": "shell"},
        "labels": {"aws.accountId": TRUSTED, "aws.fargate.task.arn": TASK}});
    let f = finding(
        &envelope("sysdig.secure", "Sysdig Event", FOREIGN, sysdig),
        &eb,
    );
    assert_eq!(f.account.as_deref(), Some(FOREIGN));
    assert_eq!(f.provenance.producer_id.as_deref(), Some("sd-1"));
}

#[test]
fn a_cluster_label_that_is_not_the_task_arns_cluster_is_a_conflict() {
    let eb = ctx(Channel::EventBridge);
    let mut alert = falco_alert(TASK);
    alert["output_fields"]["container.label.com.amazonaws.ecs.cluster"] = json!("OtherCluster");
    let f = finding(&envelope("falco", "Falco Alert", TRUSTED, alert), &eb);
    assert_eq!(
        f.resource.cluster_arn.as_deref(),
        Some(CLUSTER),
        "the task ARN's cluster wins"
    );
    assert!(
        f.identity_conflicts
            .iter()
            .any(|c| c.contains("OtherCluster")),
        "{:?}",
        f.identity_conflicts
    );
    let genuine = finding(
        &envelope("falco", "Falco Alert", TRUSTED, falco_alert(TASK)),
        &eb,
    );
    assert!(
        genuine.identity_conflicts.is_empty(),
        "{:?}",
        genuine.identity_conflicts
    );
}

#[test]
fn the_sender_is_part_of_the_fingerprint_and_producer_ids_are_kept() {
    let eb = ctx(Channel::EventBridge);
    let genuine = finding(
        &envelope("falco", "Falco Alert", TRUSTED, falco_alert(TASK)),
        &eb,
    );
    let decoy = finding(
        &envelope("falco", "Falco Alert", FOREIGN, falco_alert(TASK)),
        &eb,
    );
    assert_ne!(genuine.fingerprint, decoy.fingerprint);
    assert_eq!(
        genuine.provenance.producer_id.as_deref(),
        Some("0b1a2c3d-producer")
    );
    assert_eq!(genuine.provenance.event_id.as_deref(), Some("ev-1"));
    assert_eq!(genuine.provenance.source.as_deref(), Some("falco"));
    assert_eq!(
        genuine.provenance.detail_type.as_deref(),
        Some("Falco Alert")
    );
    // Through the direct entry point of the same account it is another finding: neither copy can
    // make the other a repeat.
    let direct = finding(&falco_alert(TASK), &ctx(Channel::DirectInvoke));
    assert_ne!(direct.fingerprint, genuine.fingerprint);
}

#[test]
fn a_producer_id_is_kept_only_as_sent() {
    let eb = ctx(Channel::EventBridge);
    for (uuid, kept) in [
        ("0b1a2c3d-producer", true),
        ("", false),
        ("<NA>", false),
        ("has space", false),
        ("a\u{200b}b", false),
    ] {
        let mut alert = falco_alert(TASK);
        alert["uuid"] = json!(uuid);
        let f = finding(&envelope("falco", "Falco Alert", TRUSTED, alert), &eb);
        assert_eq!(f.provenance.producer_id.is_some(), kept, "{uuid:?}");
    }
    // Too long to keep whole: cutting it could make two events one.
    let mut alert = falco_alert(TASK);
    alert["uuid"] = json!("u".repeat(129));
    let f = finding(&envelope("falco", "Falco Alert", TRUSTED, alert), &eb);
    assert_eq!(f.provenance.producer_id, None);
}
