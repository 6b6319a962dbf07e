//! The rule patterns of infra/template.yaml, loaded into the emulator's EventBridge: each sample and each
//! Vigil event reaches exactly the function it should, and forged or unrelated events reach nothing.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use vigil_stack::{Options, ProvisionedStack, Stack, provision};
use vigil_testkit::Emulator;

const INGEST: &str = "IngestFunction";
const ENRICH: &str = "EnrichFunction";
const REMEDIATE: &str = "RemediateFunction";
const COVERAGE: &str = "CoverageFunction";
/// Not a function: the queue users read rejected input from.
const REJECTED: &str = "RejectedQueue";
/// The approval custom action's ARN in the provisioned stack.
const ACTION_TARGET: &str = "arn:aws:securityhub:us-east-1:123456789012:action/custom/VigilApprove";

#[derive(Clone, Copy, Debug, PartialEq)]
enum On {
    /// The template's custom bus (agents put events there; so does Vigil).
    Agents,
    /// The account's default bus (AWS services' events).
    Default,
}

struct Case {
    name: &'static str,
    on: On,
    source: String,
    detail_type: String,
    detail: Value,
    expect: &'static [&'static str],
    /// `resources` besides the test's marker.
    resources: Vec<String>,
}

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../samples")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture JSON")
}

/// A sample that already is an EventBridge event.
fn sample(name: &'static str, file: &str, on: On, expect: &'static [&'static str]) -> Case {
    let e = fixture(file);
    event(
        name,
        on,
        e["source"].as_str().unwrap(),
        e["detail-type"].as_str().unwrap(),
        e["detail"].clone(),
        expect,
    )
}

fn event(
    name: &'static str,
    on: On,
    source: &str,
    detail_type: &str,
    detail: Value,
    expect: &'static [&'static str],
) -> Case {
    Case {
        name,
        on,
        source: source.to_owned(),
        detail_type: detail_type.to_owned(),
        detail,
        expect,
        resources: Vec::new(),
    }
}

/// A Security Hub custom action event naming `resources`.
fn custom_action(
    name: &'static str,
    on: On,
    source: &str,
    resources: &[&str],
    expect: &'static [&'static str],
) -> Case {
    Case {
        resources: resources.iter().map(|r| r.to_string()).collect(),
        ..event(
            name,
            on,
            source,
            "Security Hub Findings - Custom Action",
            json!({"actionName": "Vigil: approve stop", "findings": [{"Id": "vigil-x"}]}),
            expect,
        )
    }
}

/// The ECS sample with another lastStatus.
fn task_state(status: &str) -> Value {
    let mut d = fixture("aws-ecs-task-state-change.json")["detail"].clone();
    d["lastStatus"] = json!(status);
    d["desiredStatus"] = json!(status);
    d
}

fn cases() -> Vec<Case> {
    let guardduty = fixture("guardduty-ecs-runtime.json")["detail"].clone();
    let mut eks = guardduty.clone();
    eks["resource"]["resourceType"] = json!("EKSCluster");
    let mut ec2_runtime = guardduty.clone();
    ec2_runtime["resource"]["resourceType"] = json!("Instance");
    let mut not_runtime = guardduty.clone();
    not_runtime["service"]
        .as_object_mut()
        .unwrap()
        .remove("featureName");
    let finding = json!({"finding": {"source": "falco", "rule": "Terminal shell in container"}});
    let heartbeat =
        serde_json::from_str::<Value>(include_str!("../../schemas/examples/agent-heartbeat.json"))
            .unwrap()["detail"]
            .clone();
    let falco_drop = json!({"rule": "Falco internal: syscall event drop", "priority": "Debug",
                            "output": "Falco internal: syscall event drop", "source": "internal",
                            "output_fields": {"n_drops": 3, "n_evts": 10}});
    let mut all = vec![
        // Agents on the agent bus -> ingest. Bare Falco alerts arrive wrapped by the forwarder that puts
        // them on the bus (falcosidekick has no EventBridge output): source "falco", "Falco Alert".
        sample(
            "falco on ECS",
            "falco-ecs-eventbridge.json",
            On::Agents,
            &[INGEST],
        ),
        sample(
            "sysdig",
            "sysdig-runtime-policy.json",
            On::Agents,
            &[INGEST],
        ),
        event(
            "falco public 1",
            On::Agents,
            "falco",
            "Falco Alert",
            fixture("falco-public-1.json"),
            &[INGEST],
        ),
        event(
            "falco public 2",
            On::Agents,
            "falco",
            "Falco Alert",
            fixture("falco-public-2.json"),
            &[INGEST],
        ),
        event(
            "falco public 3",
            On::Agents,
            "falco",
            "Falco Alert",
            fixture("falco-public-3.json"),
            &[INGEST],
        ),
        event(
            "falcosidekick-named forwarder",
            On::Agents,
            "falcosidekick",
            "falco",
            fixture("falco-public-1.json"),
            &[INGEST],
        ),
        event(
            "own agent telemetry",
            On::Agents,
            "acme.runtime-agent",
            "Runtime Alert",
            json!({"rule": "x"}),
            &[INGEST],
        ),
        // Agent telemetry: heartbeats to coverage only; Falco's own events to coverage and ingest
        // (which logs them as telemetry).
        event(
            "agent heartbeat",
            On::Agents,
            "acme.runtime-sidecar",
            "Agent Heartbeat",
            heartbeat.clone(),
            &[COVERAGE],
        ),
        event(
            "falco internal drop",
            On::Agents,
            "falco",
            "Falco Alert",
            falco_drop.clone(),
            &[INGEST, COVERAGE],
        ),
        event(
            "heartbeat on default bus",
            On::Default,
            "acme.runtime-sidecar",
            "Agent Heartbeat",
            heartbeat.clone(),
            &[],
        ),
        event(
            "heartbeat from vigil",
            On::Agents,
            "vigil",
            "Agent Heartbeat",
            heartbeat.clone(),
            &[],
        ),
        event(
            "falco internal from vigil",
            On::Agents,
            "vigil",
            "Falco Alert",
            falco_drop.clone(),
            &[],
        ),
        // AWS services on the default bus.
        sample(
            "guardduty ECS runtime",
            "guardduty-ecs-runtime.json",
            On::Default,
            &[INGEST],
        ),
        sample(
            "guardduty ECS attack sequence",
            "guardduty-attack-sequence-ecs.json",
            On::Default,
            &[INGEST],
        ),
        event(
            "ECS task STOPPED",
            On::Default,
            "aws.ecs",
            "ECS Task State Change",
            task_state("STOPPED"),
            &[ENRICH, REMEDIATE],
        ),
        sample(
            "ECS task RUNNING",
            "aws-ecs-task-state-change.json",
            On::Default,
            &[],
        ),
        event(
            "ECS task PENDING",
            On::Default,
            "aws.ecs",
            "ECS Task State Change",
            task_state("PENDING"),
            &[],
        ),
        event(
            "guardduty EKS runtime",
            On::Default,
            "aws.guardduty",
            "GuardDuty Finding",
            eks,
            &[],
        ),
        event(
            "guardduty EC2 runtime",
            On::Default,
            "aws.guardduty",
            "GuardDuty Finding",
            ec2_runtime,
            &[],
        ),
        event(
            "guardduty without featureName",
            On::Default,
            "aws.guardduty",
            "GuardDuty Finding",
            not_runtime,
            &[],
        ),
        event(
            "ECS container instance",
            On::Default,
            "aws.ecs",
            "ECS Container Instance State Change",
            json!({"status": "ACTIVE"}),
            &[],
        ),
        event(
            "unrelated aws.ec2",
            On::Default,
            "aws.ec2",
            "EC2 Instance State-change Notification",
            json!({"state": "stopped"}),
            &[],
        ),
        // Vigil's own events on the agent bus.
        event(
            "Finding Accepted",
            On::Agents,
            "vigil",
            "Finding Accepted",
            finding.clone(),
            &[ENRICH],
        ),
        event(
            "Finding Enriched",
            On::Agents,
            "vigil",
            "Finding Enriched",
            finding.clone(),
            &[REMEDIATE],
        ),
        event(
            "Event Rejected",
            On::Agents,
            "vigil",
            "Event Rejected",
            json!({"code": "invalid", "reason": "r"}),
            &[REJECTED],
        ),
        event(
            "Remediation Executed",
            On::Agents,
            "vigil",
            "Remediation Executed",
            json!({"action": "stop_task"}),
            &[],
        ),
        event(
            "vigil, other detail-type",
            On::Agents,
            "vigil",
            "Something Else",
            finding.clone(),
            &[],
        ),
        // Forged: AWS sources on the agent bus, Vigil events and agents on the default bus.
        sample(
            "forged guardduty on agent bus",
            "guardduty-ecs-runtime.json",
            On::Agents,
            &[],
        ),
        event(
            "forged ECS STOPPED on agent bus",
            On::Agents,
            "aws.ecs",
            "ECS Task State Change",
            task_state("STOPPED"),
            &[],
        ),
        event(
            "forged aws.securityhub on agent bus",
            On::Agents,
            "aws.securityhub",
            "Security Hub Findings - Imported",
            json!({}),
            &[],
        ),
        event(
            "Finding Accepted on default bus",
            On::Default,
            "vigil",
            "Finding Accepted",
            finding.clone(),
            &[],
        ),
        event(
            "Finding Enriched on default bus",
            On::Default,
            "vigil",
            "Finding Enriched",
            finding.clone(),
            &[],
        ),
        event(
            "Event Rejected on default bus",
            On::Default,
            "vigil",
            "Event Rejected",
            json!({}),
            &[],
        ),
        sample(
            "falco on default bus",
            "falco-ecs-eventbridge.json",
            On::Default,
            &[],
        ),
        // Approvals: only Security Hub's own custom action events for Vigil's action.
        custom_action(
            "approval",
            On::Default,
            "aws.securityhub",
            &[ACTION_TARGET],
            // Through the approval queue (`ApprovalEventSourceMapping`).
            &[REMEDIATE],
        ),
        custom_action(
            "another custom action",
            On::Default,
            "aws.securityhub",
            &["arn:aws:securityhub:us-east-1:123456789012:action/custom/Other"],
            &[],
        ),
        custom_action(
            "approval from another source",
            On::Default,
            "vigil",
            &[ACTION_TARGET],
            &[],
        ),
        custom_action(
            "approval on the agent bus",
            On::Agents,
            "aws.securityhub",
            &[ACTION_TARGET],
            &[],
        ),
    ];
    all.sort_by_key(|c| c.on == On::Default);
    all
}

/// Where a queue's messages go: the function reading it, else the queue itself.
fn destination(stack: &ProvisionedStack, queue: &str) -> String {
    stack
        .stack
        .function_reading(queue)
        .map(|f| f.logical_id.clone())
        .unwrap_or_else(|| queue.to_owned())
}

/// Puts one event and returns where it arrived, reading (and emptying) every queue of the stack.
async fn route(
    events: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
    stack: &ProvisionedStack,
    case: &Case,
) -> BTreeSet<String> {
    let marker = format!("urn:vigil:routing-test:{}", case.name.replace(' ', "-"));
    let bus = match case.on {
        On::Agents => stack.bus_name.clone(),
        On::Default => "default".to_owned(),
    };
    let out = events
        .put_events()
        .entries(
            PutEventsRequestEntry::builder()
                .event_bus_name(bus)
                .source(&case.source)
                .detail_type(&case.detail_type)
                .detail(case.detail.to_string())
                .set_resources(Some(
                    std::iter::once(marker.clone())
                        .chain(case.resources.iter().cloned())
                        .collect(),
                ))
                .build(),
        )
        .send()
        .await
        .expect("PutEvents");
    assert_eq!(
        out.failed_entry_count, 0,
        "{}: {:?}",
        case.name, out.entries
    );

    let mut reached = BTreeSet::new();
    for (id, queue) in &stack.queues {
        loop {
            let messages = sqs
                .receive_message()
                .queue_url(&queue.url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("ReceiveMessage")
                .messages
                .unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                let body: Value =
                    serde_json::from_str(m.body().unwrap_or("null")).expect("event JSON");
                assert_eq!(
                    body["source"],
                    json!(case.source),
                    "{}: {id} got {body}",
                    case.name
                );
                assert_eq!(
                    body["detail-type"],
                    json!(case.detail_type),
                    "{}: {id}",
                    case.name
                );
                assert_eq!(
                    body["detail"], case.detail,
                    "{}: {id}: detail changed",
                    case.name
                );
                assert!(
                    body["resources"]
                        .as_array()
                        .is_some_and(|r| r.contains(&json!(marker))),
                    "{}: {id} got another event: {body}",
                    case.name
                );
                reached.insert(destination(stack, id));
                sqs.delete_message()
                    .queue_url(&queue.url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("DeleteMessage");
            }
        }
    }
    reached
}

async fn provisioned(emulator: &Emulator, stack: &Stack) -> ProvisionedStack {
    provision(&emulator.sdk_config().await, stack)
        .await
        .expect("provision the template")
}

#[tokio::test]
async fn every_event_reaches_exactly_its_functions() {
    let emulator = Emulator::start();
    let stack = Stack::load(Stack::repo_template(), &Options::default()).expect("template");
    let local = provisioned(&emulator, &stack).await;
    let config = emulator.sdk_config().await;
    let events = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);

    let mut failures = Vec::new();
    let mut reached_somewhere = BTreeSet::new();
    for case in cases() {
        let reached = route(&events, &sqs, &local, &case).await;
        let expected: BTreeSet<String> = case.expect.iter().map(|s| s.to_string()).collect();
        if reached != expected {
            failures.push(format!(
                "{} ({} / {} on {:?}): expected {expected:?}, reached {reached:?}",
                case.name, case.source, case.detail_type, case.on
            ));
        }
        reached_somewhere.extend(reached);
    }
    assert!(failures.is_empty(), "misrouted:\n{}", failures.join("\n"));
    // Every function and the rejected queue is reached by some case, so no rule was left untested.
    for d in [INGEST, ENRICH, REMEDIATE, COVERAGE, REJECTED] {
        assert!(reached_somewhere.contains(d), "{d} never reached");
    }
}

/// The routing assertions see the patterns: an agent rule without its exclusions lets a forged
/// aws.guardduty event on the agent bus through to ingest.
#[tokio::test]
async fn a_weaker_agent_pattern_lets_forged_events_through() {
    let emulator = Emulator::start();
    let mut stack = Stack::load(Stack::repo_template(), &Options::default()).expect("template");
    let agent_rule = stack
        .rules
        .iter_mut()
        .find(|r| r.logical_id == "AgentEventsRule")
        .expect("AgentEventsRule");
    agent_rule.pattern = json!({"source": [{"exists": true}]});
    let local = provisioned(&emulator, &stack).await;
    let config = emulator.sdk_config().await;
    let events = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let forged = cases()
        .into_iter()
        .find(|c| c.name == "forged guardduty on agent bus")
        .unwrap();
    let reached = route(&events, &sqs, &local, &forged).await;
    assert_eq!(reached, BTreeSet::from([INGEST.to_owned()]));
}
