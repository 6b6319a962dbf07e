//! Attacks on the approval path (`mode: approve`): forged proposals, approvals for the wrong finding,
//! task, account or product, padded and repeated selections, approvals dated before their proposal,
//! approvals racing each other on a service's last healthy task, approvals for a task that has
//! been replaced, and SQS records whose queue and body disagree. Every outcome is counted at the
//! emulator (StopTask calls) and read back from ECS and Vigil's table.

use serde_json::{Value, json};
use vigil_e2e::{ACCOUNT, AttackSequence, FUNCTION_ARN, Pipeline, s};
use vigil_remediate::{Remediate, RemediationMode};

const SHELL: &str = "Terminal shell in container";
use vigil_e2e::queue::{
    APPROVALS_QUEUE as APPROVALS, APPROVE_TARGET as TARGET, REMEDIATE_QUEUE as QUEUE, approver,
};

/// Shell alerts wait for approval.
const APPROVE: &str = r#"
version: 1
playbooks:
  - name: shell-approve
    match: {rules: ["Terminal shell*"]}
    actions: [stop_task]
    mode: approve
"#;

/// Shell alerts wait for approval, and a stop must leave one task of the service running.
const APPROVE_KEEP_ONE: &str = r#"
version: 1
playbooks:
  - name: shell-approve
    match: {rules: ["Terminal shell*"]}
    actions: [stop_task]
    mode: approve
    min_healthy_tasks: 1
"#;

async fn remediate(p: &Pipeline, playbooks: &str) -> Remediate {
    p.remediate_with(playbooks, RemediationMode::Enforce, approver)
        .await
}

use vigil_e2e::queue::{deliver_batch as deliver_records, sqs_record as record};

/// The `Finding Enriched` events, each as its own message on the remediate queue.
async fn propose(r: &Remediate, events: &[String]) {
    let records = events
        .iter()
        .enumerate()
        .map(|(i, e)| record(&format!("enriched-{i}"), 1, QUEUE, e))
        .collect();
    assert!(deliver_records(r, records).await.is_empty());
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

/// A selected finding as Security Hub puts it in a custom action event.
fn selected(id: &str, product: &str, account: &str) -> Value {
    json!({"SchemaVersion": "2018-10-08", "Id": id, "ProductArn": product,
           "AwsAccountId": account, "Title": "selected"})
}

/// The custom action event Security Hub sends, at `time`, for `findings` (ASFF objects).
fn approval_of(id: &str, time: chrono::DateTime<chrono::Utc>, findings: Vec<Value>) -> String {
    json!({"version": "0", "id": id, "source": "aws.securityhub",
           "detail-type": "Security Hub Findings - Custom Action", "account": ACCOUNT,
           "time": time.to_rfc3339(), "region": "us-east-1", "resources": [TARGET],
           "detail": {"actionName": "Vigil: approve stop",
                      "actionDescription": "Approve the stop Vigil proposed", "findings": findings}})
    .to_string()
}

/// An approval, sent now, of the deploying account's `findings` (Id, ProductArn).
fn approval(id: &str, findings: &[(String, String)]) -> String {
    let findings = findings
        .iter()
        .map(|(id, product)| selected(id, product, ACCOUNT))
        .collect();
    approval_of(id, chrono::Utc::now(), findings)
}

/// Delivers one approval on the approval queue; asserts SQS need not deliver it again.
async fn approve(r: &Remediate, message: &str, body: &str) {
    let failed = deliver_records(r, vec![record(message, 1, APPROVALS, body)]).await;
    assert!(failed.is_empty(), "{failed:?}");
}

/// `(sk, outcome)` of the action records of `task`.
async fn records_of(p: &Pipeline, task: &str) -> Vec<(String, String)> {
    p.items("ACT#")
        .await
        .iter()
        .filter(|r| s(r, "pk").ends_with(task))
        .map(|r| (s(r, "sk").to_owned(), s(r, "outcome").to_owned()))
        .collect()
}

/// The outcome and reason of the enforced (approved) record of `task`, if any.
async fn approved(p: &Pipeline, task: &str) -> Option<(String, String)> {
    p.items("ACT#")
        .await
        .iter()
        .filter(|r| s(r, "pk").ends_with(task) && s(r, "sk") == "ACTION#enforce")
        .map(|r| {
            let d: Value = serde_json::from_str(s(r, "decision")).unwrap_or_default();
            (
                s(r, "outcome").to_owned(),
                d["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .next()
}

/// A copy of a genuine event under another id, changed by `f`.
fn tampered(event: &str, id: &str, f: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(event).unwrap();
    v["id"] = json!(id);
    f(&mut v);
    v.to_string()
}

/// Forged `Finding Enriched` messages on the remediate queue (a finding ingest never counted, a
/// genuine one moved to another task, one with a rule swapped in) file no proposal: approving the
/// Security Hub finding each would be filed under stops nothing. The genuine proposal, approved,
/// stops its own task only.
#[tokio::test]
async fn forged_findings_file_no_proposal_an_analyst_could_approve() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let events = vigil_e2e::alerts(&p, &tasks[..1], SHELL, "genuine").await;
    let r = remediate(&p, APPROVE).await;

    // Forgeries: the finding moved to task 1 (fingerprint kept), the same with the fingerprint
    // recomputed to match (no dedup record vouches for it), and the rule swapped.
    let moved = tampered(&events[0], "forged-moved", |v| {
        v["detail"]["finding"]["resource"]["task_arn"] = json!(tasks[1]);
    });
    let mut refingerprinted: Value = serde_json::from_str(&moved).unwrap();
    refingerprinted["id"] = json!("forged-refingerprinted");
    let mut finding: vigil_model::Finding =
        serde_json::from_value(refingerprinted["detail"]["finding"].clone()).unwrap();
    finding.fingerprint = vigil_model::FindingFingerprint::of(&finding);
    let forged_id = vigil_asff::finding_id(&finding);
    refingerprinted["detail"]["finding"] = serde_json::to_value(&finding).unwrap();
    refingerprinted["detail"]["securityhub"]["id"] = json!(forged_id);
    let refingerprinted = refingerprinted.to_string();
    let swapped = tampered(&events[0], "forged-rule", |v| {
        v["detail"]["finding"]["rule"] = json!("Terminal shell in container (forged)");
    });
    propose(&r, &[moved, refingerprinted.clone(), swapped]).await;
    assert!(
        p.items("PROPOSAL#").await.is_empty(),
        "a forged finding filed a proposal"
    );
    assert!(
        records_of(&p, &tasks[1])
            .await
            .iter()
            .all(|(sk, _)| !sk.starts_with("ACTION#"))
    );

    // An analyst approving the forged finding's Security Hub id stops nothing.
    let forged = finding_of(&refingerprinted);
    approve(&r, "m-forged", &approval("a-forged", &[forged])).await;
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    assert_eq!(p.task_status(&tasks[1]).await.1, "RUNNING");

    // The genuine proposal, approved, stops its task and no other.
    propose(&r, &events).await;
    assert_eq!(p.items("PROPOSAL#").await.len(), 1);
    approve(
        &r,
        "m-genuine",
        &approval("a-genuine", &[finding_of(&events[0])]),
    )
    .await;
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    assert_eq!(p.stopped(&tasks).await, 1);
}

/// Approvals naming the genuine finding id with another product or account, the id with
/// separators or key prefixes around it, or another finding's id altogether, find nothing
/// awaiting; only the exact (Id, ProductArn, AwsAccountId) of the proposal approves it.
#[tokio::test]
async fn only_the_exact_finding_a_proposal_is_filed_under_approves_it() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let events = vigil_e2e::alerts(&p, &tasks[..2], SHELL, "exact").await;
    let r = remediate(&p, APPROVE).await;
    // Only task 0's finding is proposed; task 1's never is.
    propose(&r, &events[..1]).await;
    let (id, product) = finding_of(&events[0]);
    let (other_id, other_product) = finding_of(&events[1]);
    let guardduty = "arn:aws:securityhub:us-east-1::product/aws/guardduty";
    let sk_like = format!("{product}|{}", tasks[0]);
    let variants = vec![
        selected(&id, &product, "999999999999"),
        selected(&id, guardduty, ACCOUNT),
        selected(&id, &sk_like, ACCOUNT),
        selected(&format!("{id}|{}", tasks[0]), &product, ACCOUNT),
        selected(&format!("{id}#"), &product, ACCOUNT),
        selected(&format!("PROPOSAL#{id}"), &product, ACCOUNT),
        selected(&id[..id.len() - 1], &product, ACCOUNT),
        selected(&id.to_uppercase(), &product, ACCOUNT),
        selected(&format!(" {id}"), &product, ACCOUNT),
        selected(&other_id, &other_product, ACCOUNT),
        selected(&tasks[0], &product, ACCOUNT),
    ];
    for (i, v) in variants.into_iter().enumerate() {
        let body = approval_of(&format!("a-variant-{i}"), chrono::Utc::now(), vec![v]);
        approve(&r, &format!("m-variant-{i}"), &body).await;
    }
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    assert!(approved(&p, &tasks[0]).await.is_none());
    assert!(approved(&p, &tasks[1]).await.is_none());

    approve(&r, "m-exact", &approval("a-exact", &[(id, product)])).await;
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    assert_eq!(p.task_status(&tasks[1]).await.1, "RUNNING");
}

/// One approval selecting the same finding 150 times (more than an event may carry), with junk
/// selections mixed in, and the same approval in two records of one batch (one message id), stops
/// the task once.
#[tokio::test]
async fn a_finding_selected_many_times_or_delivered_twice_in_a_batch_stops_once() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let events = vigil_e2e::alerts(&p, &tasks[..1], SHELL, "many").await;
    let r = remediate(&p, APPROVE).await;
    propose(&r, &events).await;
    let (id, product) = finding_of(&events[0]);
    let mut findings = Vec::new();
    for i in 0..150 {
        findings.push(selected(&id, &product, ACCOUNT));
        if i % 10 == 0 {
            findings.push(json!({"Id": id, "ProductArn": product}));
            findings.push(json!("junk"));
        }
    }
    let body = approval_of("a-many", chrono::Utc::now(), findings);
    let failed = deliver_records(
        &r,
        vec![
            record("m-same", 1, APPROVALS, &body),
            record("m-same", 1, APPROVALS, &body),
        ],
    )
    .await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.stopped(&tasks).await, 1);
    let (outcome, _) = approved(&p, &tasks[0]).await.unwrap();
    assert_eq!(outcome, "act");
}

/// An approval Security Hub dated before the proposal was made (an analyst cannot have seen a
/// plan that did not exist yet) is refused; one dated after it approves.
#[tokio::test]
async fn an_approval_dated_before_its_proposal_is_refused() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let events = vigil_e2e::alerts(&p, &tasks[..1], SHELL, "early").await;
    let r = remediate(&p, APPROVE).await;
    let earlier = chrono::Utc::now() - chrono::Duration::seconds(60);
    propose(&r, &events).await;
    let (id, product) = finding_of(&events[0]);
    let early = approval_of("a-early", earlier, vec![selected(&id, &product, ACCOUNT)]);
    approve(&r, "m-early", &early).await;
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    assert_eq!(p.task_status(&tasks[0]).await.1, "RUNNING");
    let (outcome, reason) = approved(&p, &tasks[0]).await.unwrap();
    assert_eq!(outcome, "refused");
    assert!(reason.contains("dated before the proposal"), "{reason}");
    // Redelivered, it stays refused; a genuine approval after the proposal still acts.
    approve(&r, "m-early", &early).await;
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    approve(&r, "m-late", &approval("a-late", &[(id, product)])).await;
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
}

/// Two tasks of a service that must keep one running are both proposed; the analyst approves both
/// in one event, and (on another service) in two events handled at once by two instances. Each
/// service keeps a task running, and the refused approval says why.
#[tokio::test]
async fn approvals_of_two_tasks_of_a_service_never_stop_its_last_healthy_task() {
    let p = Pipeline::start().await;
    let pair = p.service("pair", 2).await;
    let duo = p.service("duo", 2).await;
    let pair_events = vigil_e2e::alerts(&p, &pair, SHELL, "pair").await;
    let duo_events = vigil_e2e::alerts(&p, &duo, SHELL, "duo").await;
    let a = remediate(&p, APPROVE_KEEP_ONE).await;
    let b = remediate(&p, APPROVE_KEEP_ONE).await;
    propose(&a, &pair_events).await;
    propose(&a, &duo_events).await;
    assert_eq!(p.items("PROPOSAL#").await.len(), 4);

    // One event selecting both tasks' findings.
    let both: Vec<(String, String)> = pair_events.iter().map(|e| finding_of(e)).collect();
    approve(&a, "m-both", &approval("a-both", &both)).await;
    assert_eq!(p.stopped(&pair).await, 1, "pair kept a running task");

    // Two events at once, each approving one task, on two instances; then redelivered.
    let one = approval("a-duo-0", &[finding_of(&duo_events[0])]);
    let two = approval("a-duo-1", &[finding_of(&duo_events[1])]);
    let (fa, fb) = tokio::join!(
        deliver_records(&a, vec![record("m-duo-0", 1, APPROVALS, &one)]),
        deliver_records(&b, vec![record("m-duo-1", 1, APPROVALS, &two)]),
    );
    assert_eq!(p.stopped(&duo).await, 1, "duo kept a running task");
    for (failed, body, id) in [(fa, &one, "m-duo-0"), (fb, &two, "m-duo-1")] {
        if !failed.is_empty() {
            approve(&a, id, body).await;
        }
    }
    assert_eq!(p.stopped(&duo).await, 1, "duo kept a running task");
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 2);
    let mut refused = 0;
    for task in pair.iter().chain(&duo) {
        let (outcome, reason) = approved(&p, task).await.unwrap();
        if outcome == "refused" {
            refused += 1;
            assert!(reason.contains("min_healthy"), "{reason}");
        }
    }
    assert_eq!(refused, 2);
}

/// The proposed task stops and its service replaces it: an approval then stops nothing (not the
/// replacement, not another task of the service), and says the task is not running.
#[tokio::test]
async fn an_approval_for_a_replaced_task_stops_nothing_else() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 2).await;
    let events = vigil_e2e::alerts(&p, &tasks[..1], SHELL, "replaced").await;
    let r = remediate(&p, APPROVE).await;
    propose(&r, &events).await;
    let ecs = p.emulator.ecs().await;
    ecs.stop_task()
        .cluster(&p.cluster)
        .task(&tasks[0])
        .reason("deployment")
        .send()
        .await
        .unwrap();
    let replacement = p.service("shop-next", 1).await;
    let before = p.emulator.calls("ecs", "StopTask");
    approve(&r, "m-late", &approval("a-late", &[finding_of(&events[0])])).await;
    assert_eq!(p.emulator.calls("ecs", "StopTask"), before);
    assert_eq!(p.task_status(&tasks[1]).await.1, "RUNNING");
    assert_eq!(p.task_status(&replacement[0]).await.1, "RUNNING");
    let (outcome, _) = approved(&p, &tasks[0]).await.unwrap();
    assert_eq!(outcome, "not_running");
}

/// The queue decides what a record is, whatever its body says: a `Finding Enriched` on the approval
/// queue is not proposed or acted on (and goes back towards the approval dead-letter queue), an
/// approval on the remediate queue approves nothing, and a record naming no queue, or a queue
/// that is not the function's, is ignored. An approval without a message id or receive count
/// still stops its task only once.
#[tokio::test]
async fn records_whose_queue_and_body_disagree_neither_propose_nor_approve() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let events = vigil_e2e::alerts(&p, &tasks[..2], SHELL, "edge").await;
    let r = remediate(&p, APPROVE).await;

    // A Finding Enriched on the approval queue: refused there, not proposed.
    let failed = deliver_records(&r, vec![record("m-enriched", 1, APPROVALS, &events[1])]).await;
    assert_eq!(failed, vec!["m-enriched".to_owned()]);
    assert!(p.items("PROPOSAL#").await.is_empty());
    assert!(records_of(&p, &tasks[1]).await.is_empty());

    propose(&r, &events[..1]).await;
    let body = approval("a-edge", &[finding_of(&events[0])]);
    let mut unnamed = record("m-unnamed", 1, APPROVALS, &body);
    unnamed.as_object_mut().unwrap().remove("eventSourceARN");
    let failed = deliver_records(
        &r,
        vec![
            // On the remediate queue: not an input there.
            record("m-wrong-queue", 1, QUEUE, &body),
            // Another queue, or none: not the function's records.
            record(
                "m-other",
                1,
                "arn:aws:sqs:us-east-1:999999999999:vigil-approvals",
                &body,
            ),
            unnamed,
        ],
    )
    .await;
    assert_eq!(failed, vec!["m-wrong-queue".to_owned()]);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    assert!(approved(&p, &tasks[0]).await.is_none());

    // No message id, no attributes: approved once, however often it comes.
    for _ in 0..3 {
        let bare = json!({"eventSource": "aws:sqs", "eventSourceARN": APPROVALS, "body": body});
        let out =
            vigil_lambda::invoke_json(|e| r.handle(e), json!({ "Records": [bare] }), FUNCTION_ARN)
                .await
                .unwrap();
        assert_eq!(out["batchItemFailures"], json!([]));
    }
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.stopped(&tasks).await, 1);
}

/// The documented attack sequence about this pipeline's cluster, naming `tasks`, seen just now, as
/// GuardDuty finding `finding` (32 hex digits) with sequence uid `uid`.
async fn sequence(p: &Pipeline, id: &str, finding: &str, uid: &str, tasks: &[String]) -> Value {
    AttackSequence::new(id)
        .finding(finding)
        .uid(uid)
        .naming(tasks)
        .build(p)
        .await
}

/// Proposal poisoning through GuardDuty's finding id. Two genuine attack sequences: S1 names task
/// 0, S2 task 1. A copy of S1's `Finding Enriched` (vouched for: every field the fingerprint and
/// the dedup record cover is genuine) whose kept GuardDuty event names S2's GuardDuty finding ARN
/// must not file task 0's proposal under S2's finding: an analyst approving S2 approves task 1,
/// never task 0, even from a proposal filed so before (the approval checks the GuardDuty finding
/// against ingest's record again). Approving S1's own GuardDuty finding still stops task 0.
#[tokio::test]
async fn a_replayed_sequence_cannot_file_its_task_under_another_guardduty_finding() {
    let p = Pipeline::start().await;
    let shop = p.service("shop", 3).await;
    let s1_id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1";
    let s2_id = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2";
    let s1 = sequence(
        &p,
        "seq-1",
        s1_id,
        "11111111111111111111111111111111",
        &shop[..1],
    )
    .await;
    let s2 = sequence(
        &p,
        "seq-2",
        s2_id,
        "22222222222222222222222222222222",
        &shop[1..2],
    )
    .await;
    let s1_arn = s1["detail"]["arn"].as_str().unwrap().to_owned();
    let s2_arn = s2["detail"]["arn"].as_str().unwrap().to_owned();
    let e1 = p.through_ingest_and_enrich(&[s1]).await;
    let e2 = p.through_ingest_and_enrich(&[s2]).await;
    assert_eq!((e1.len(), e2.len()), (1, 1));
    let shipped = include_str!("../../playbooks/vigil/playbooks.yaml");
    let r = p
        .remediate_with(shipped, RemediationMode::Enforce, approver)
        .await;
    propose(&r, &e2).await;
    // The forgery: S1's message again, its kept GuardDuty event naming S2's finding.
    let forged = with_new_id(&e1[0], "forged-seq-1").replace(&s1_arn, &s2_arn);
    assert!(forged.contains(&s2_arn));
    propose(&r, &[forged]).await;
    let under_s2: Vec<String> = p
        .items(&format!("PROPOSAL#{s2_arn}"))
        .await
        .iter()
        .map(|i| s(i, "task_arn").to_owned())
        .collect();
    assert_eq!(
        under_s2,
        vec![shop[1].clone()],
        "task 0 filed under S2's finding"
    );
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);

    let guardduty = "arn:aws:securityhub:us-east-1::product/aws/guardduty".to_owned();
    approve(
        &r,
        "m-s2",
        &approval("a-s2", &[(s2_arn.clone(), guardduty.clone())]),
    )
    .await;
    assert_eq!(p.task_status(&shop[1]).await.1, "STOPPED");
    assert_eq!(
        p.task_status(&shop[0]).await.1,
        "RUNNING",
        "S2's approval stopped S1's task"
    );
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);

    // A proposal filed that way before ingest recorded GuardDuty's findings (written here as an
    // earlier version would have): approving S2 again still leaves task 0 alone.
    propose(&r, &e1).await;
    let vigil_id = finding_of(&e1[0]).0;
    let genuine = p.items(&format!("PROPOSAL#{vigil_id}")).await;
    assert_eq!(genuine.len(), 1);
    let mut poisoned = genuine[0].clone();
    let text = |v: &str| aws_sdk_dynamodb::types::AttributeValue::S(v.to_owned());
    poisoned.insert("pk".into(), text(&format!("PROPOSAL#{s2_arn}")));
    poisoned.insert("sk".into(), text(&format!("{guardduty}|{}", shop[0])));
    poisoned.insert("finding_id".into(), text(&s2_arn));
    poisoned.insert("product_arn".into(), text(&guardduty));
    aws_sdk_dynamodb::Client::new(&p.emulator.sdk_config().await)
        .put_item()
        .table_name(vigil_testkit::TABLE_NAME)
        .set_item(Some(poisoned))
        .send()
        .await
        .unwrap();
    approve(
        &r,
        "m-s2-again",
        &approval("a-s2-again", &[(s2_arn.clone(), guardduty.clone())]),
    )
    .await;
    assert_eq!(
        p.task_status(&shop[0]).await.1,
        "RUNNING",
        "a poisoned proposal was acted on"
    );
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);

    // S1, proposed genuinely and approved from its own GuardDuty finding, still stops task 0.
    approve(&r, "m-s1", &approval("a-s1", &[(s1_arn, guardduty)])).await;
    assert_eq!(p.task_status(&shop[0]).await.1, "STOPPED");
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 2);
    assert_eq!(p.task_status(&shop[2]).await.1, "RUNNING");
}

fn with_new_id(event: &str, id: &str) -> String {
    vigil_e2e::with_id(event, id)
}

/// Shell alerts: propose tagging the task for forensics, nothing more.
const APPROVE_TAG: &str = r#"
version: 1
playbooks:
  - name: shell-approve
    match: {rules: ["Terminal shell*"]}
    actions: [tag_task]
    mode: approve
"#;

/// The analyst approves the plan the proposal named. When the playbooks change between the
/// proposal and the approval (a proposal to tag the task, then a deployment whose playbook of the
/// same name stops it), the approval does not carry out a plan nobody approved: nothing is stopped
/// or tagged. Once the finding arrives again and the new plan is proposed, its approval acts.
#[tokio::test]
async fn an_approval_never_carries_out_a_plan_other_than_the_one_proposed() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let events = vigil_e2e::alerts(&p, &tasks[..1], SHELL, "plan").await;
    let tagger = remediate(&p, APPROVE_TAG).await;
    propose(&tagger, &events).await;
    let proposals = p.items("PROPOSAL#").await;
    assert_eq!(proposals.len(), 1);
    assert!(format!("{:?}", proposals[0].get("actions")).contains("tag_task"));

    // Redeployed: the same playbook name now stops the task.
    let stopper = remediate(&p, APPROVE).await;
    let finding = finding_of(&events[0]);
    approve(
        &stopper,
        "m-old-plan",
        &approval("a-old-plan", std::slice::from_ref(&finding)),
    )
    .await;
    assert_eq!(
        p.emulator.calls("ecs", "StopTask"),
        0,
        "a tag was approved, not a stop"
    );
    assert_eq!(p.emulator.calls("ecs", "TagResource"), 0);
    assert_eq!(p.task_status(&tasks[0]).await.1, "RUNNING");
    assert!(approved(&p, &tasks[0]).await.is_none());

    // The finding arrives again: the stop is proposed, and its approval stops the task.
    propose(&stopper, &[vigil_e2e::with_id(&events[0], "plan-again")]).await;
    approve(&stopper, "m-new-plan", &approval("a-new-plan", &[finding])).await;
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
}

/// One attack sequence proposed for two tasks; two analysts approve it at the same moment, one from
/// GuardDuty's finding and one from Vigil's, on two instances, and both approvals are redelivered:
/// each task is stopped exactly once, and the service's third task keeps running.
#[tokio::test]
async fn approvals_of_one_proposal_from_its_two_findings_at_once_stop_each_task_once() {
    let p = Pipeline::start().await;
    let shop = p.service("shop", 3).await;
    let seq = sequence(
        &p,
        "seq-both",
        "ccccccccccccccccccccccccccccccc3",
        "33333333333333333333333333333333",
        &shop[..2],
    )
    .await;
    let arn = seq["detail"]["arn"].as_str().unwrap().to_owned();
    let events = p.through_ingest_and_enrich(&[seq]).await;
    let shipped = include_str!("../../playbooks/vigil/playbooks.yaml");
    let a = p
        .remediate_with(shipped, RemediationMode::Enforce, approver)
        .await;
    let b = p
        .remediate_with(shipped, RemediationMode::Enforce, approver)
        .await;
    propose(&a, &events).await;
    assert_eq!(p.items(&format!("PROPOSAL#{arn}")).await.len(), 2);
    let guardduty = approval(
        "a-guardduty",
        &[(
            arn,
            "arn:aws:securityhub:us-east-1::product/aws/guardduty".to_owned(),
        )],
    );
    let vigil = approval("a-vigil", &[finding_of(&events[0])]);
    let (fa, fb) = tokio::join!(
        deliver_records(&a, vec![record("m-guardduty", 1, APPROVALS, &guardduty)]),
        deliver_records(&b, vec![record("m-vigil", 1, APPROVALS, &vigil)]),
    );
    // Whatever came back, and then both again.
    for (failed, id, body) in [(fa, "m-guardduty", &guardduty), (fb, "m-vigil", &vigil)] {
        if !failed.is_empty() {
            approve(&a, id, body).await;
        }
    }
    approve(&b, "m-guardduty", &guardduty).await;
    approve(&a, "m-vigil", &vigil).await;
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 2, "each task once");
    assert_eq!(p.stopped(&shop[..2]).await, 2);
    assert_eq!(p.task_status(&shop[2]).await.1, "RUNNING");
}
