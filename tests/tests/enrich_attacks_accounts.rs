//! Attacks on multi-account enrich: forged `Finding Accepted` messages naming member accounts'
//! tasks, findings Security Hub refused reaching remediation, the publish-once marker, and odd
//! accounts and regions. Each asserts the safe outcome read back from ECS, the table, the bus and
//! each account's Security Hub.

use serde_json::Value;
use vigil_e2e::Pipeline;
use vigil_e2e::accounts::{self, HOME, MEMBERS, STRANGER, central_enrich};
use vigil_model::{Finding, FindingFingerprint};
use vigil_remediate::RemediationMode;
use vigil_testkit::events::FalcoAlert;

const SHELL: &str = "Terminal shell in container";

/// The Ids of the findings in `account`'s hub in `region` (Security Hub enabled there first).
async fn hub_ids(p: &Pipeline, account: &str, region: &str) -> Vec<String> {
    accounts::hub_findings(&p.emulator, account, region)
        .await
        .iter()
        .map(|f| f.id().unwrap_or_default().to_owned())
        .collect()
}

async fn enable_hubs(p: &Pipeline, accounts: &[&str], region: &str) {
    accounts::enable_hubs(&p.emulator, accounts, &[region]).await;
}

/// A task's desired status in its own account.
async fn status_in(p: &Pipeline, account: &str, region: &str, task: &str) -> String {
    accounts::desired_status(&p.emulator, account, region, task).await
}

fn alert_in(event_id: &str, account: &str, region: &str, task_arn: &str) -> Value {
    accounts::alert_in(event_id, account, region, task_arn, SHELL)
}

/// A copy of a `Finding Accepted` body with its finding edited; `refingerprint`: the forger also
/// recomputes the fingerprint (the algorithm is public), so the fields hash to it.
fn forge(body: &str, refingerprint: bool, edit: impl FnOnce(&mut Finding)) -> String {
    let mut v: Value = serde_json::from_str(body).unwrap();
    let mut f: Finding = serde_json::from_value(v["detail"]["finding"].clone()).unwrap();
    edit(&mut f);
    if refingerprint {
        f.fingerprint = FindingFingerprint::of(&f);
    }
    v["detail"]["finding"] = serde_json::to_value(&f).unwrap();
    v.to_string()
}

fn task_of(event: &Value) -> Option<&str> {
    event["detail"]["finding"]["resource"]["task_arn"].as_str()
}

/// Attack 1: a forged `Finding Accepted` (no dedup record: ingest never accepted it) naming a
/// member account's running task. Enrich must not assume the member role, describe the task or
/// import into the member's hub; remediation (member accounts untrusted) stops nothing.
#[tokio::test]
async fn a_forged_finding_naming_a_member_task_uses_no_member_role() {
    let p = Pipeline::start().await;
    enable_hubs(&p, &[HOME, MEMBERS[0]], "us-east-1").await;
    let task = p
        .emulator
        .run_task_in(MEMBERS[0], "us-east-1", "payments")
        .await;
    // A genuine home finding is the forger's template.
    let home_task = p
        .emulator
        .run_tasks(&p.cluster, &p.task_definition, 1, &[])
        .await
        .remove(0);
    let genuine = p
        .ingest(&[vigil_e2e::falco("g", &p.cluster, &home_task, SHELL)])
        .await;
    let forged = forge(&genuine[0], true, |f| {
        f.account = Some(MEMBERS[0].into());
        f.provenance.sender_account = Some(MEMBERS[0].into());
        f.resource.task_arn = Some(task.clone());
        f.resource.cluster_arn = Some(format!("arn:aws:ecs:us-east-1:{}:cluster/prod", MEMBERS[0]));
    });
    p.emulator.reset_api_calls();
    let enrich = central_enrich(&p).await;
    assert!(enrich.process(&[forged]).await.is_empty());

    assert_eq!(
        p.emulator.calls("sts", "AssumeRole"),
        0,
        "no member role assumed"
    );
    assert!(hub_ids(&p, MEMBERS[0], "us-east-1").await.is_empty());
    let enriched = p.enriched.drain().await;
    assert_eq!(enriched.len(), 1, "recorded, for remediation to refuse");
    let d = &enriched[0]["detail"];
    assert_eq!(d["enrichment"]["enriched"], false);
    assert!(
        d["enrichment"]["task"].is_null(),
        "nothing of the task leaked: {d}"
    );
    assert_eq!(d["securityhub"]["imported"], false);
    assert_eq!(d["securityhub"]["import_error"]["kind"], "not_vouched");

    let remediate = p
        .remediate(RemediationMode::Enforce, |s| {
            s.guardrails.trusted_accounts.insert(MEMBERS[0].into());
        })
        .await;
    let bodies: Vec<String> = enriched.iter().map(Value::to_string).collect();
    remediate.process(&bodies, Some(HOME)).await;
    assert_eq!(
        status_in(&p, MEMBERS[0], "us-east-1", &task).await,
        "RUNNING"
    );
}

/// Attack 1b: an agent of one member account names another member's task (its label). The finding
/// stays the sender's; enrich must not describe the other account's task into it (no leak of its
/// tags, image, family into the sender's hub), nor assume the other account's role.
#[tokio::test]
async fn a_finding_naming_another_accounts_task_does_not_describe_it() {
    let p = Pipeline::start().await;
    enable_hubs(&p, &[MEMBERS[0], MEMBERS[1]], "us-east-1").await;
    let victim = p
        .emulator
        .run_task_in(MEMBERS[1], "us-east-1", "secretfamily")
        .await;
    let accepted = p
        .ingest(&[alert_in("x", MEMBERS[0], "us-east-1", &victim)])
        .await;
    assert_eq!(accepted.len(), 1);
    p.emulator.reset_api_calls();
    let enrich = central_enrich(&p).await;
    assert!(enrich.process(&accepted).await.is_empty());

    let enriched = p.enriched.drain().await;
    assert_eq!(enriched.len(), 1);
    let d = &enriched[0]["detail"];
    assert_ne!(d["finding"]["account"], MEMBERS[1], "{d}");
    assert_eq!(d["enrichment"]["enriched"], false, "{d}");
    assert!(
        !enriched[0].to_string().contains("secretfamily"),
        "the other account's task leaked: {d}"
    );
    assert!(hub_ids(&p, MEMBERS[1], "us-east-1").await.is_empty());
    // The other account's role was never assumed (the sender's may be, for its own hub).
    assert!(p.emulator.calls("sts", "AssumeRole") <= 1);
    assert_eq!(
        status_in(&p, MEMBERS[1], "us-east-1", &victim).await,
        "RUNNING"
    );
}

/// Attack 2: a finding Security Hub cannot take (an account without a member role: not_routed)
/// now reaches remediation; an untrusted sender naming a home task still stops nothing.
#[tokio::test]
async fn a_not_routed_finding_reaches_remediation_and_stops_nothing_untrusted() {
    let p = Pipeline::start().await;
    let task = p
        .emulator
        .run_tasks(&p.cluster, &p.task_definition, 1, &[])
        .await
        .remove(0);
    let event = FalcoAlert::sample()
        .id("s")
        .from_account(STRANGER, "us-east-1")
        .rule(SHELL)
        .on_task(&p.cluster, &task)
        .event();
    let accepted = p.ingest(&[event]).await;
    assert_eq!(accepted.len(), 1);
    let enrich = central_enrich(&p).await;
    assert!(enrich.process(&accepted).await.is_empty());
    let enriched = p.enriched.drain().await;
    assert_eq!(enriched.len(), 1);
    let d = &enriched[0]["detail"];
    assert_eq!(d["securityhub"]["imported"], false);
    assert_eq!(d["securityhub"]["import_error"]["kind"], "not_routed");

    let remediate = p
        .remediate(RemediationMode::Enforce, vigil_e2e::generous)
        .await;
    let bodies: Vec<String> = enriched.iter().map(Value::to_string).collect();
    remediate.process(&bodies, Some(HOME)).await;
    assert_eq!(
        p.stopped(std::slice::from_ref(&task)).await,
        0,
        "untrusted: not stopped"
    );
    let refusals = p.untrusted_reasons().await;
    assert_eq!(refusals.len(), 1, "the refusal is recorded: {refusals:?}");
}

/// Attack 3: a forged copy carrying the genuine fingerprint and `dedup.event_id` (another task
/// swapped in) is processed before the genuine message's redelivery. It must not write the
/// occurrence's publish-once marker: the genuine `Finding Enriched` still goes out, and only the
/// genuine task is stopped.
#[tokio::test]
async fn a_forged_copy_with_the_genuine_event_id_cannot_suppress_the_genuine_event() {
    let p = Pipeline::start().await;
    let tasks = p
        .emulator
        .run_tasks(&p.cluster, &p.task_definition, 2, &[])
        .await;
    let genuine = p
        .ingest(&[vigil_e2e::falco("g", &p.cluster, &tasks[0], SHELL)])
        .await;
    assert_eq!(genuine.len(), 1);
    let forged = forge(&genuine[0], false, |f| {
        f.resource.task_arn = Some(tasks[1].clone());
    });
    // The forgery first; then the genuine message as a redelivery (it reads the marker).
    assert!(p.enrich.process(&[forged]).await.is_empty());
    assert!(p.enrich.process(&genuine).await.is_empty());
    let enriched = p.enriched.drain().await;
    let genuine_out: Vec<&Value> = enriched
        .iter()
        .filter(|e| task_of(e) == Some(tasks[0].as_str()))
        .collect();
    assert_eq!(
        genuine_out.len(),
        1,
        "the genuine finding is not lost: {enriched:?}"
    );
    assert_eq!(genuine_out[0]["detail"]["securityhub"]["imported"], true);

    let remediate = p
        .remediate(RemediationMode::Enforce, vigil_e2e::generous)
        .await;
    let bodies: Vec<String> = enriched.iter().map(Value::to_string).collect();
    remediate.process(&bodies, Some(HOME)).await;
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    assert_eq!(
        p.task_status(&tasks[1]).await.1,
        "RUNNING",
        "the forged task"
    );
}

/// Attack 3b: two enrich instances on one message at once (a visibility timeout ran out). Both
/// may publish; remediation still stops the task once.
#[tokio::test]
async fn two_instances_on_one_message_stop_the_task_once() {
    let p = Pipeline::start().await;
    let task = p
        .emulator
        .run_tasks(&p.cluster, &p.task_definition, 1, &[])
        .await
        .remove(0);
    let accepted = p
        .ingest(&[vigil_e2e::falco("g", &p.cluster, &task, SHELL)])
        .await;
    let other = central_enrich(&p).await;
    let (a, b) = tokio::join!(p.enrich.process(&accepted), other.process(&accepted));
    assert!(a.is_empty() && b.is_empty());
    let enriched = p.enriched.drain().await;
    assert!((1..=2).contains(&enriched.len()), "{}", enriched.len());
    p.emulator.reset_api_calls();
    let remediate = p
        .remediate(RemediationMode::Enforce, vigil_e2e::generous)
        .await;
    let bodies: Vec<String> = enriched.iter().map(Value::to_string).collect();
    let (x, y) = tokio::join!(
        remediate.process(&bodies[..1], Some(HOME)),
        remediate.process(&bodies[bodies.len() - 1..], Some(HOME))
    );
    // A copy finding the job claimed leaves it to the other; a redelivery completes it.
    if !x.is_empty() || !y.is_empty() {
        remediate.process(&bodies, Some(HOME)).await;
    }
    assert_eq!(p.task_status(&task).await.1, "STOPPED");
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1, "one stop");
}

/// Attack 4: odd accounts and regions (whitespace, case, 13 digits, letters, another partition,
/// none). No panic, no member role assumed with the wrong name, nothing in any member hub, and
/// each finding recorded with why it was not imported.
#[tokio::test]
async fn odd_accounts_and_regions_are_refused_with_a_reason() {
    let p = Pipeline::start().await;
    enable_hubs(&p, &MEMBERS, "us-east-1").await;
    let home_task = p
        .emulator
        .run_tasks(&p.cluster, &p.task_definition, 1, &[])
        .await
        .remove(0);
    let genuine = p
        .ingest(&[vigil_e2e::falco("g", &p.cluster, &home_task, SHELL)])
        .await;
    let m = MEMBERS[0];
    let cases: Vec<(Option<&str>, Option<&str>, String)> = vec![
        (
            Some(" 111111111111"),
            Some("us-east-1"),
            format!("arn:aws:ecs:us-east-1:{m}:task/prod/a"),
        ),
        (
            Some("111111111111 "),
            Some("us-east-1"),
            format!("arn:aws:ecs:us-east-1:{m}:task/prod/b"),
        ),
        (
            Some("1111111111111"),
            Some("us-east-1"),
            "arn:aws:ecs:us-east-1:1111111111111:task/prod/c".into(),
        ),
        (
            Some("ABCDEFGHIJKL"),
            Some("us-east-1"),
            "arn:aws:ecs:us-east-1:ABCDEFGHIJKL:task/prod/d".into(),
        ),
        (
            Some(m),
            Some("EU-WEST-1"),
            format!("arn:aws:ecs:EU-WEST-1:{m}:task/prod/e"),
        ),
        (
            Some(m),
            Some("cn-north-1"),
            format!("arn:aws-cn:ecs:cn-north-1:{m}:task/prod/f"),
        ),
        (
            Some(m),
            Some(" us-east-1"),
            format!("arn:aws:ecs: us-east-1:{m}:task/prod/g"),
        ),
        (Some(m), None, format!("arn:aws:ecs::{m}:task/prod/h")),
        (
            None,
            None,
            format!("arn:aws:ecs:us-east-1: {m}:task/prod/i"),
        ),
    ];
    let forged: Vec<String> = cases
        .iter()
        .map(|(account, region, task)| {
            forge(&genuine[0], true, |f| {
                f.account = account.map(str::to_owned);
                f.region = region.map(str::to_owned);
                f.provenance.sender_account = account.map(str::to_owned);
                f.resource.task_arn = Some(task.clone());
                f.resource.cluster_arn = None;
            })
        })
        .collect();
    p.emulator.reset_api_calls();
    let enrich = central_enrich(&p).await;
    assert!(enrich.process(&forged).await.is_empty());
    assert_eq!(p.emulator.calls("sts", "AssumeRole"), 0);
    for member in MEMBERS {
        assert!(hub_ids(&p, member, "us-east-1").await.is_empty());
    }
    let enriched = p.enriched.drain().await;
    assert_eq!(enriched.len(), cases.len(), "each one recorded");
    for e in &enriched {
        let sh = &e["detail"]["securityhub"];
        assert_eq!(sh["imported"], false, "{e}");
        assert!(
            !sh["import_error"]["kind"]
                .as_str()
                .unwrap_or_default()
                .is_empty(),
            "{e}"
        );
        assert!(
            !sh["import_error"]["message"]
                .as_str()
                .unwrap_or_default()
                .is_empty(),
            "{e}"
        );
    }
}

/// Attack 4b: a genuine member finding (its record vouches for account, sender and task) copied
/// with its region changed (the region is not in the fingerprint; ingest records it on the dedup
/// record), each copy under its own occurrence id. No panic, no call with the member's credentials
/// into a malformed region or another partition, nothing retried for ever: each is refused as not
/// vouched for, naming the region ingest recorded, even where the ASFF mapping would clean the
/// text back to the task's own region.
#[tokio::test]
async fn a_genuine_member_finding_with_a_forged_region_is_not_routed() {
    let p = Pipeline::start().await;
    enable_hubs(&p, &[MEMBERS[0]], "us-east-1").await;
    let task = p
        .emulator
        .run_task_in(MEMBERS[0], "us-east-1", "payments")
        .await;
    let genuine = p
        .ingest(&[alert_in("m", MEMBERS[0], "us-east-1", &task)])
        .await;
    assert_eq!(genuine.len(), 1);
    let enrich = central_enrich(&p).await;
    let regions = [
        "EU-WEST-1",
        "us-east-1x",
        "cn-north-1",
        "us-gov-west-1",
        "eu-west-1",
        " us-east-1",
        "us-east-1\u{200b}",
    ];
    for (n, region) in regions.iter().enumerate() {
        let forged = forge(&genuine[0], false, |f| f.region = Some((*region).into()));
        let mut v: Value = serde_json::from_str(&forged).unwrap();
        v["detail"]["dedup"]["event_id"] = format!("copy-{n}").into();
        let back = enrich.process(&[v.to_string()]).await;
        assert!(back.is_empty(), "{region:?}: not retried for ever");
        let out = p.enriched.drain().await;
        assert_eq!(out.len(), 1, "{region:?}");
        let sh = &out[0]["detail"]["securityhub"];
        assert_eq!(sh["imported"], false, "{region:?}: {sh}");
        assert_eq!(
            sh["import_error"]["kind"], "not_vouched",
            "{region:?}: {sh}"
        );
        assert_eq!(sh["import_error"]["retrying"], false);
        assert!(
            sh["import_error"]["message"]
                .as_str()
                .unwrap()
                .contains("where ingest recorded us-east-1"),
            "{region:?}: {sh}"
        );
    }
    // Nothing imported anywhere, and the member's role never assumed for a copy.
    assert!(hub_ids(&p, MEMBERS[0], "us-east-1").await.is_empty());
    for region in ["eu-west-1", "cn-north-1"] {
        assert!(hub_ids(&p, MEMBERS[0], region).await.is_empty());
    }
    assert_eq!(p.emulator.calls("sts", "AssumeRole"), 0);
    // The genuine message itself still goes through, into its own hub.
    assert!(enrich.process(&genuine).await.is_empty());
    assert_eq!(hub_ids(&p, MEMBERS[0], "us-east-1").await.len(), 1);
    assert_eq!(p.enriched.drain().await.len(), 1);
}
