//! Analyst-approved response (`mode: approve`): a proposal stops nothing and takes nothing; the
//! approval, a Security Hub custom action event on the approval queue, decides again on fresh state
//! and stops the task once however often it is delivered; late, protected, stopped or unmatched
//! approvals stop nothing and say why; approval-shaped events from anywhere else stop nothing.
//! Every stop is counted at the emulator (StopTask calls) and read back from ECS.

use serde_json::{Value, json};
use vigil_e2e::{ACCOUNT, AttackSequence, Pipeline, s};
use vigil_remediate::{Remediate, RemediationMode};

const SHELL: &str = "Terminal shell in container";
use vigil_e2e::queue::{
    APPROVALS_QUEUE as APPROVALS, APPROVE_TARGET as TARGET, REMEDIATE_QUEUE as QUEUE, approver,
    deliver_batch, sqs_record,
};

/// Shell alerts are proposed and wait for approval; miner alerts are dry runs.
const APPROVE: &str = r#"
version: 1
playbooks:
  - name: shell-approve
    match: {rules: ["Terminal shell*"]}
    actions: [stop_task]
    mode: approve
    reason: "Vigil {playbook}: {rule} in {container}"
  - name: miner-dry-run
    match: {rules: ["*miner*"]}
    actions: [stop_task]
    mode: dry_run
"#;

async fn remediate(p: &Pipeline, mode: RemediationMode) -> Remediate {
    p.remediate_with(APPROVE, mode, approver).await
}

fn records(records: &[(&str, u32, &str, String)]) -> Vec<Value> {
    records
        .iter()
        .map(|(id, count, queue, body)| sqs_record(id, *count, queue, body))
        .collect()
}

/// An SQS batch: (message id, receive count, queue ARN, body).
fn batch(records_of: &[(&str, u32, &str, String)]) -> Value {
    json!({ "Records": records(records_of) })
}

/// Delivers a batch; returns the message ids SQS would deliver again.
async fn deliver(r: &Remediate, batch: &[(&str, u32, &str, String)]) -> Vec<String> {
    deliver_batch(r, records(batch)).await
}

/// The `Finding Enriched` events, each as its own message on the remediate queue.
async fn propose(r: &Remediate, events: &[String]) {
    let records: Vec<(String, u32, &str, String)> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (format!("enriched-{i}"), 1, QUEUE, e.clone()))
        .collect();
    let records: Vec<(&str, u32, &str, String)> = records
        .iter()
        .map(|(id, c, q, b)| (id.as_str(), *c, *q, b.clone()))
        .collect();
    assert!(deliver(r, &records).await.is_empty());
}

/// The Security Hub finding (Id, ProductArn) of a `Finding Enriched` event.
fn finding_of(event: &str) -> (String, String) {
    let v: Value = serde_json::from_str(event).unwrap();
    let sh = &v["detail"]["securityhub"];
    (
        sh["id"].as_str().unwrap().to_owned(),
        sh["product_arn"].as_str().unwrap().to_owned(),
    )
}

/// The custom action event Security Hub sends when an analyst approves `findings`.
fn approval(id: &str, findings: &[(String, String)]) -> String {
    let findings: Vec<Value> = findings
        .iter()
        .map(|(id, product)| {
            json!({"SchemaVersion": "2018-10-08", "Id": id, "ProductArn": product,
                                     "AwsAccountId": ACCOUNT, "Title": "selected"})
        })
        .collect();
    json!({"version": "0", "id": id, "source": "aws.securityhub",
           "detail-type": "Security Hub Findings - Custom Action", "account": ACCOUNT,
           "time": chrono::Utc::now().to_rfc3339(), "region": "us-east-1", "resources": [TARGET],
           "detail": {"actionName": "Vigil: approve stop",
                      "actionDescription": "Approve the stop Vigil proposed", "findings": findings}})
    .to_string()
}

/// Delivers one approval on the approval queue; asserts SQS need not deliver it again.
async fn approve(r: &Remediate, message: &str, receive: u32, body: String) {
    let failed = deliver(r, &[(message, receive, APPROVALS, body)]).await;
    assert!(failed.is_empty(), "{failed:?}");
}

/// The action records of `task`, as `sk outcome`.
async fn records_of(p: &Pipeline, task: &str) -> Vec<(String, String, String)> {
    p.items("ACT#")
        .await
        .iter()
        .filter(|r| s(r, "pk").ends_with(task))
        .map(|r| {
            (
                s(r, "sk").to_owned(),
                s(r, "outcome").to_owned(),
                s(r, "decision").to_owned(),
            )
        })
        .collect()
}

/// The enforced record of `task` (the one an approval decides on): (outcome, decision JSON).
async fn approved_record(p: &Pipeline, task: &str) -> Option<(String, Value)> {
    records_of(p, task)
        .await
        .into_iter()
        .find(|(sk, _, _)| sk == "ACTION#enforce")
        .map(|(_, o, d)| (o, serde_json::from_str(&d).unwrap()))
}

/// The note and workflow status of the Security Hub finding `id`.
async fn note(p: &Pipeline, id: &str) -> (String, String) {
    let f = p
        .findings()
        .await
        .into_iter()
        .find(|f| f.id() == Some(id))
        .expect("the finding is in Security Hub");
    (
        f.note()
            .and_then(|n| n.text())
            .unwrap_or_default()
            .to_owned(),
        f.workflow()
            .and_then(|w| w.status())
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
    )
}

#[tokio::test]
async fn a_proposal_stops_and_takes_nothing_and_its_approval_stops_the_task_once() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let events = vigil_e2e::alerts(&p, &tasks[..1], SHELL, "proposal").await;
    let r = remediate(&p, RemediationMode::Enforce).await;
    propose(&r, &events).await;

    // A proposal: every guardrail evaluated, nothing done, nothing counted or held.
    assert_eq!(p.task_status(&tasks[0]).await.1, "RUNNING");
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    assert!(p.items("RATE#").await.is_empty(), "no stop counted");
    let holds = p.items("HOLD#").await;
    assert!(
        holds.iter().all(|h| h
            .get("tasks")
            .and_then(|t| t.as_m().ok())
            .is_none_or(|t| t.is_empty())),
        "no stop held"
    );
    let records = records_of(&p, &tasks[0]).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(
        (records[0].0.as_str(), records[0].1.as_str()),
        ("ACTION#approve", "awaiting_approval")
    );
    let decision: Value = serde_json::from_str(&records[0].2).unwrap();
    assert_eq!(decision["proposal"]["approve_with"], "Vigil: approve stop");
    assert!(
        decision["proposal"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("Vigil shell-approve: Terminal shell in container")
    );
    let (id, product) = finding_of(&events[0]);
    let proposals = p.items("PROPOSAL#").await;
    assert_eq!(proposals.len(), 1);
    assert_eq!(s(&proposals[0], "pk"), format!("PROPOSAL#{id}"));
    assert_eq!(s(&proposals[0], "task_arn"), tasks[0]);
    let (text, status) = note(&p, &id).await;
    assert_eq!(status, "NOTIFIED");
    assert!(text.contains("awaiting approval"), "{text}");
    assert!(text.contains("\"Vigil: approve stop\""), "{text}");

    // The finding arriving again does not propose twice or act.
    propose(&r, &[vigil_e2e::with_id(&events[0], "proposal-again")]).await;
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);

    // The analyst approves: decided again on fresh state, then stopped once.
    approve(
        &r,
        "approval-msg",
        1,
        approval("approval-1", &[(id.clone(), product)]),
    )
    .await;
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert!(p.stopped_reason(&tasks[0]).await.contains("[vigil:v1-"));
    let (outcome, decision) = approved_record(&p, &tasks[0]).await.unwrap();
    assert_eq!(outcome, "act");
    assert_eq!(decision["approval"]["event_id"], "approval-1");
    assert_eq!(decision["approval"]["account"], ACCOUNT);
    assert!(decision["approval"]["approved_at"].is_string());
    assert!(
        decision["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["guardrail"] == "approval" && c["verdict"] == "pass")
    );
    // The approved stop is counted and held like any other.
    assert!(!p.items("RATE#").await.is_empty());
    let (text, status) = note(&p, &id).await;
    assert_eq!(status, "RESOLVED");
    assert!(
        text.contains("stopped the task") && text.contains("approval-1"),
        "{text}"
    );
    // The other tasks of the service were never touched.
    assert_eq!(p.stopped(&tasks).await, 1);
}

#[tokio::test]
async fn an_approval_redelivered_or_sent_twice_at_once_stops_its_task_once() {
    let p = Pipeline::start().await;
    let tasks = p
        .emulator
        .run_tasks(&p.cluster, &p.task_definition, 6, &[])
        .await;
    let events = vigil_e2e::alerts(&p, &tasks, SHELL, "again").await;
    let r = remediate(&p, RemediationMode::Enforce).await;
    propose(&r, &events).await;
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);

    // Delivered 1 to 5 times, as SQS redelivers a message, and once more in one batch.
    for n in 1..=5u32 {
        let task = &tasks[n as usize - 1];
        let event = events
            .iter()
            .find(|e| e.contains(task.as_str()))
            .expect("the task's alert");
        let body = approval(&format!("approval-{n}"), &[finding_of(event)]);
        let message = format!("approval-msg-{n}");
        for receive in 1..=n {
            approve(&r, &message, receive, body.clone()).await;
        }
        let copies = deliver(
            &r,
            &[
                (message.as_str(), n + 1, APPROVALS, body.clone()),
                (message.as_str(), n + 2, APPROVALS, body.clone()),
            ],
        )
        .await;
        assert!(copies.is_empty(), "{copies:?}");
        assert_eq!(
            p.emulator.calls("ecs", "StopTask"),
            u64::from(n),
            "{n} deliveries"
        );
        assert_eq!(p.task_status(task).await.1, "STOPPED");
    }

    // Two analysts approve the same finding at once, on two instances.
    let other = remediate(&p, RemediationMode::Enforce).await;
    let event = events
        .iter()
        .find(|e| e.contains(tasks[5].as_str()))
        .unwrap();
    let f = finding_of(event);
    let first = [(
        "first",
        1,
        APPROVALS,
        approval("first", std::slice::from_ref(&f)),
    )];
    let second = [(
        "second",
        1,
        APPROVALS,
        approval("second", std::slice::from_ref(&f)),
    )];
    let (a, b) = tokio::join!(deliver(&r, &first), deliver(&other, &second));
    // A copy that found the record busy may come back; delivering it again settles it.
    for (instance, failed, id) in [(&r, a, "first"), (&other, b, "second")] {
        for m in failed {
            approve(instance, &m, 2, approval(id, std::slice::from_ref(&f))).await;
        }
    }
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 6);
    assert_eq!(p.stopped(&tasks).await, 6);
    let (outcome, _) = approved_record(&p, &tasks[5]).await.unwrap();
    assert_eq!(outcome, "act");
}

#[tokio::test]
async fn late_protected_or_stopped_approvals_stop_nothing_and_say_why() {
    let p = Pipeline::start().await;
    let tasks = p
        .emulator
        .run_tasks(&p.cluster, &p.task_definition, 3, &[])
        .await;
    let events = vigil_e2e::alerts(&p, &tasks, SHELL, "late").await;
    let r = remediate(&p, RemediationMode::Enforce).await;
    propose(&r, &events).await;
    let event_of = |task: &str| {
        events
            .iter()
            .find(|e| e.contains(task))
            .cloned()
            .expect("the task's alert")
    };
    let ecs = p.emulator.ecs().await;

    // 1. The task stopped (a deployment) before the approval came.
    ecs.stop_task()
        .cluster(&p.cluster)
        .task(&tasks[0])
        .reason("deployment")
        .send()
        .await
        .unwrap();
    // 2. The task was protected since the proposal.
    p.protect(&tasks[1]).await;
    let stops_before = p.emulator.calls("ecs", "StopTask");
    for (i, task) in tasks[..2].iter().enumerate() {
        let f = finding_of(&event_of(task));
        approve(&r, &format!("m{i}"), 1, approval(&format!("a{i}"), &[f])).await;
    }
    let (outcome, decision) = approved_record(&p, &tasks[0]).await.unwrap();
    assert_eq!(outcome, "not_running", "{decision}");
    assert_eq!(decision["approval"]["event_id"], "a0");
    assert_eq!(p.stopped_reason(&tasks[0]).await, "deployment");
    let (text, _) = note(&p, &finding_of(&event_of(&tasks[0])).0).await;
    assert!(text.contains("not running"), "{text}");

    let (outcome, decision) = approved_record(&p, &tasks[1]).await.unwrap();
    assert_eq!(outcome, "refused");
    assert!(
        decision["reason"]
            .as_str()
            .unwrap()
            .starts_with("protected: task tag vigil:protected=true"),
        "{decision}"
    );
    assert_eq!(p.task_status(&tasks[1]).await.1, "RUNNING");
    let (text, _) = note(&p, &finding_of(&event_of(&tasks[1])).0).await;
    assert!(
        text.contains("refused") && text.contains("protected"),
        "{text}"
    );

    // 3. Approved after the proposal's time to live (1 s here).
    let short = p
        .remediate_with(APPROVE, RemediationMode::Enforce, |s| {
            approver(s);
            s.approval_ttl_seconds = 1;
        })
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let f = finding_of(&event_of(&tasks[2]));
    approve(&short, "m2", 1, approval("a2", std::slice::from_ref(&f))).await;
    let (outcome, decision) = approved_record(&p, &tasks[2]).await.unwrap();
    assert_eq!(outcome, "refused");
    assert!(
        decision["reason"]
            .as_str()
            .unwrap()
            .starts_with("approval: expired"),
        "{decision}"
    );
    assert_eq!(p.task_status(&tasks[2]).await.1, "RUNNING");
    let (text, _) = note(&p, &f.0).await;
    assert!(text.contains("expired"), "{text}");

    assert_eq!(
        p.emulator.calls("ecs", "StopTask"),
        stops_before,
        "no approval stopped anything"
    );

    // The finding arriving again proposes afresh; an approval of that proposal stops the task.
    propose(
        &r,
        &[vigil_e2e::with_id(&event_of(&tasks[2]), "late-again")],
    )
    .await;
    assert_eq!(p.emulator.calls("ecs", "StopTask"), stops_before);
    approve(&r, "m3", 1, approval("a3", std::slice::from_ref(&f))).await;
    assert_eq!(p.emulator.calls("ecs", "StopTask"), stops_before + 1);
    let (outcome, decision) = approved_record(&p, &tasks[2]).await.unwrap();
    assert_eq!(
        (outcome.as_str(), &decision["approval"]["event_id"]),
        ("act", &json!("a3"))
    );
}

#[tokio::test]
async fn a_selected_finding_with_nothing_awaiting_is_noted_and_stops_nothing() {
    let p = Pipeline::start().await;
    let tasks = p
        .emulator
        .run_tasks(&p.cluster, &p.task_definition, 1, &[])
        .await;
    // A dry run: decided and noted, but nothing proposed.
    let events = vigil_e2e::alerts(&p, &tasks, "Crypto miner launched", "dry").await;
    let r = remediate(&p, RemediationMode::Enforce).await;
    propose(&r, &events).await;
    assert!(p.items("PROPOSAL#").await.is_empty());
    let f = finding_of(&events[0]);
    approve(
        &r,
        "m1",
        1,
        approval(
            "nothing",
            &[
                f.clone(),
                // And a finding Security Hub does not have: only logged.
                ("vigil-unknown".into(), f.1.clone()),
            ],
        ),
    )
    .await;
    let (text, _) = note(&p, &f.0).await;
    assert!(text.contains("nothing awaits approval"), "{text}");
    assert!(text.contains("nothing"), "{text}");
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    assert_eq!(p.task_status(&tasks[0]).await.1, "RUNNING");
    assert!(approved_record(&p, &tasks[0]).await.is_none());
}

#[tokio::test]
async fn approval_shaped_events_from_anywhere_else_stop_nothing() {
    let p = Pipeline::start().await;
    let tasks = p
        .emulator
        .run_tasks(&p.cluster, &p.task_definition, 1, &[])
        .await;
    let events = vigil_e2e::alerts(&p, &tasks, SHELL, "forged").await;
    let r = remediate(&p, RemediationMode::Enforce).await;
    propose(&r, &events).await;
    let f = finding_of(&events[0]);
    let genuine = approval("genuine", std::slice::from_ref(&f));
    let variant = |key: &str, value: Value| {
        let mut v: Value = serde_json::from_str(&genuine).unwrap();
        v[key] = value;
        v.to_string()
    };

    // On the remediate queue (the Vigil bus's rules feed it): not an input there, dead-lettered.
    assert_eq!(
        deliver(&r, &[("on-remediate", 1, QUEUE, genuine.clone())]).await,
        ["on-remediate"]
    );
    // Without a queue at all (a direct invocation): not an input either.
    assert_eq!(
        r.process(std::slice::from_ref(&genuine), Some(ACCOUNT))
            .await,
        [0]
    );
    // From a queue that is neither: ignored.
    assert!(
        deliver(
            &r,
            &[(
                "elsewhere",
                1,
                "arn:aws:sqs:us-east-1:999999999999:x",
                genuine.clone()
            )]
        )
        .await
        .is_empty()
    );
    // On the approval queue, but not what Security Hub sends for this deployment's action.
    let forged = [
        ("other-source", variant("source", json!("vigil"))),
        ("lookalike", variant("source", json!("aws.securityhub "))),
        ("other-account", variant("account", json!("999999999999"))),
        (
            "other-action",
            variant(
                "resources",
                json!(["arn:aws:securityhub:us-east-1:123456789012:action/custom/Other"]),
            ),
        ),
        (
            "other-type",
            variant("detail-type", json!("Security Hub Findings - Imported")),
        ),
        ("not-json", "{".to_owned()),
    ];
    for (id, body) in &forged {
        assert_eq!(
            deliver(&r, &[(id, 1, APPROVALS, body.clone())]).await,
            [*id],
            "{id}: refused, and dead-lettered after its receives"
        );
    }
    // An instance on another account's function (the deploying account differs) trusts none.
    let foreign = vigil_lambda::invoke_json(
        |e| r.handle(e),
        batch(&[("foreign-fn", 1, APPROVALS, genuine.clone())]),
        "arn:aws:lambda:us-east-1:999999999999:function:remediate",
    )
    .await
    .unwrap();
    assert_eq!(
        foreign["batchItemFailures"][0]["itemIdentifier"],
        "foreign-fn"
    );
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    assert_eq!(p.task_status(&tasks[0]).await.1, "RUNNING");
    assert!(approved_record(&p, &tasks[0]).await.is_none());

    // The genuine approval, where approvals arrive, does stop it: the refusals above were not
    // for want of a proposal.
    approve(&r, "genuine-msg", 1, genuine).await;
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
}

#[tokio::test]
async fn remediation_mode_caps_approve_playbooks() {
    let p = Pipeline::start().await;
    let tasks = p
        .emulator
        .run_tasks(&p.cluster, &p.task_definition, 2, &[])
        .await;
    let events = vigil_e2e::alerts(&p, &tasks, SHELL, "capped").await;
    let event_of = |task: &str| events.iter().find(|e| e.contains(task)).cloned().unwrap();

    // off: nothing is decided or recorded.
    let off = remediate(&p, RemediationMode::Off).await;
    propose(&off, &events).await;
    assert!(p.action_records().await.is_empty());

    // dry_run: what would be proposed is recorded; nothing is proposed.
    let dry = remediate(&p, RemediationMode::DryRun).await;
    propose(&dry, &[event_of(&tasks[0])]).await;
    let records = records_of(&p, &tasks[0]).await;
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].0.as_str(), records[0].1.as_str()),
        ("ACTION#dry_run", "dry_run")
    );
    assert!(records[0].2.contains("\"would_propose\":true"));
    assert!(p.items("PROPOSAL#").await.is_empty());
    let (text, _) = note(&p, &finding_of(&event_of(&tasks[0])).0).await;
    assert!(text.contains("would propose"), "{text}");

    // A proposal made under enforce is not acted on once the switch is back at dry_run or off.
    let enforce = remediate(&p, RemediationMode::Enforce).await;
    propose(&enforce, &[event_of(&tasks[1])]).await;
    let f = finding_of(&event_of(&tasks[1]));
    approve(
        &dry,
        "m-dry",
        1,
        approval("a-dry", std::slice::from_ref(&f)),
    )
    .await;
    approve(
        &off,
        "m-off",
        1,
        approval("a-off", std::slice::from_ref(&f)),
    )
    .await;
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    assert!(approved_record(&p, &tasks[1]).await.is_none());
    approve(&enforce, "m-on", 1, approval("a-on", &[f])).await;
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
}

/// The documented attack sequence about this pipeline's cluster, naming `tasks`, seen just now.
async fn sequence(p: &Pipeline, id: &str, tasks: &[String]) -> Value {
    AttackSequence::new(id).naming(tasks).build(p).await
}

/// The shipped playbooks propose a stop for each task an attack sequence names; approving
/// GuardDuty's own Security Hub finding (the one an analyst sees) stops each task once, and an
/// approval of Vigil's finding for the same sequence, or a redelivery, stops nothing more.
#[tokio::test]
async fn an_attack_sequence_is_proposed_per_task_and_approved_from_guardduty_s_finding() {
    let p = Pipeline::start().await;
    let shop = p.service("shop", 3).await;
    let seq = sequence(&p, "seq-approve", &shop[..2]).await;
    let guardduty_id = seq["detail"]["arn"].as_str().unwrap().to_owned();
    let events = p.through_ingest_and_enrich(&[seq]).await;
    assert_eq!(events.len(), 1);
    let shipped = include_str!("../../playbooks/vigil/playbooks.yaml");
    let r = p
        .remediate_with(shipped, RemediationMode::Enforce, approver)
        .await;
    propose(&r, &events).await;
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    for task in &shop[..2] {
        let records = records_of(&p, task).await;
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0].1, "awaiting_approval");
        assert!(
            records[0]
                .2
                .contains("\"playbook\":\"attack-sequence-approve\"")
        );
    }
    // Filed under both findings an analyst may select: GuardDuty's and Vigil's.
    let proposals = p.items("PROPOSAL#").await;
    assert_eq!(proposals.len(), 4, "two tasks, two findings each");
    assert_eq!(
        proposals
            .iter()
            .filter(|i| s(i, "pk") == format!("PROPOSAL#{guardduty_id}"))
            .count(),
        2
    );

    let guardduty = (
        guardduty_id.clone(),
        "arn:aws:securityhub:us-east-1::product/aws/guardduty".to_owned(),
    );
    // The wrong product for that id is not GuardDuty's finding: nothing awaits it.
    let wrong = (
        guardduty_id.clone(),
        "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default".to_owned(),
    );
    approve(&r, "m-wrong", 1, approval("a-wrong", &[wrong])).await;
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);

    let body = approval("a-seq", &[guardduty]);
    approve(&r, "m-seq", 1, body.clone()).await;
    assert_eq!(p.stopped(&shop).await, 2);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 2);
    approve(&r, "m-seq", 2, body).await;
    approve(
        &r,
        "m-vigil",
        1,
        approval("a-vigil", &[finding_of(&events[0])]),
    )
    .await;
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 2, "each task once");
    for task in &shop[..2] {
        let (outcome, decision) = approved_record(&p, task).await.unwrap();
        assert_eq!(outcome, "act");
        assert_eq!(decision["approval"]["event_id"], "a-seq");
        assert_eq!(decision["approval"]["finding_id"], guardduty_id.as_str());
    }
    assert_eq!(p.task_status(&shop[2]).await.1, "RUNNING");
}
