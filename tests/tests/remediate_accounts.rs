//! A central Vigil remediating in its member accounts: tasks described and stopped in their own
//! account and region through the member role, notes on each account's own Security Hub finding
//! (GuardDuty's own for a GuardDuty finding), a trusted account without a role recorded and never
//! called, and ECS's STOPPED confirmations from members.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use vigil_e2e::Pipeline;
use vigil_e2e::accounts::{
    self, HOME, MEMBERS, REGIONS, STRANGER, alert_in, centrally_enriched, desired_status,
    enable_hubs, hub, hub_findings, members, stopped_reason,
};
use vigil_remediate::{Remediate, RemediationMode};

const SHELL: &str = "Terminal shell in container";

/// Remediate as deployed in `HOME`, enforcing, with `MEMBERS` in `MEMBER_ACCOUNTS` and `trusted`
/// in `TRUSTED_ACCOUNTS`.
async fn central_remediate(p: &Pipeline, playbooks: &str, trusted: &[&str]) -> Remediate {
    accounts::central_remediate(p, playbooks, members(), trusted).await
}

fn text(item: &std::collections::HashMap<String, AttributeValue>, k: &str) -> String {
    item.get(k)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn a_burst_across_three_accounts_and_two_regions_stops_each_task_through_its_own_account() {
    let p = Pipeline::start().await;
    let accounts = [HOME, MEMBERS[0], MEMBERS[1]];
    enable_hubs(&p.emulator, &accounts, &REGIONS).await;
    let mut tasks = Vec::new();
    let mut events = Vec::new();
    for (a, account) in accounts.iter().enumerate() {
        for (r, region) in REGIONS.iter().enumerate() {
            let task = p
                .emulator
                .run_task_in(account, region, &format!("shop{a}{r}"))
                .await;
            // Each alert twice (EventBridge's redelivery) and repeated under a new id.
            let first = alert_in(&format!("e-{a}-{r}"), account, region, &task, SHELL);
            events.extend([first.clone(), first]);
            events.push(alert_in(
                &format!("e-{a}-{r}-again"),
                account,
                region,
                &task,
                SHELL,
            ));
            tasks.push((*account, *region, task));
        }
    }
    let enriched = centrally_enriched(&p, &events).await;
    assert!(enriched.len() >= 6, "{}", enriched.len());
    p.emulator.reset_api_calls();
    let remediate = central_remediate(&p, vigil_e2e::PLAYBOOKS, &accounts).await;
    assert!(
        remediate.process(&enriched, Some(HOME)).await.is_empty(),
        "nothing back to the queue, nothing dead-lettered"
    );
    // A redelivery of the whole batch stops nothing again.
    assert!(remediate.process(&enriched, Some(HOME)).await.is_empty());

    for (account, region, task) in &tasks {
        assert!(
            task.contains(&format!(":{region}:{account}:task/")),
            "{task}"
        );
        assert_eq!(
            desired_status(&p.emulator, account, region, task).await,
            "STOPPED",
            "{account} {region}"
        );
        // The note and the status on the finding in the account's own hub, in its region.
        let found = hub_findings(&p.emulator, account, region).await;
        assert_eq!(found.len(), 1, "{account} {region}");
        let f = &found[0];
        assert_eq!(f.aws_account_id(), Some(*account));
        assert_eq!(
            f.workflow().and_then(|w| w.status()).map(|s| s.as_str()),
            Some("RESOLVED"),
            "{account} {region}"
        );
        let note = f.note().and_then(|n| n.text()).unwrap_or_default();
        assert!(
            note.contains("stopped the task") && note.contains(task.as_str()),
            "{note}"
        );
    }
    assert_eq!(
        p.emulator.calls("ecs", "StopTask"),
        6,
        "each task stopped once"
    );
    // One AssumeRole per member account, its credentials shared by both regions and by ECS and
    // Security Hub.
    assert_eq!(p.emulator.calls("sts", "AssumeRole"), 2);
    let executed = p.executed.drain().await;
    assert_eq!(executed.len(), 6, "one Remediation Executed per task");
    assert!(executed.iter().all(|e| e["detail"]["outcome"] == "act"));

    // ECS's STOPPED change from a member account (forwarded to the central bus) confirms its
    // stop: asked of ECS in that account, through its role.
    let (account, region, task) = &tasks[2];
    let remediate = central_remediate(&p, vigil_e2e::PLAYBOOKS, &accounts).await;
    let reason = stopped_reason(&p.emulator, account, region, task).await;
    let change = task_stopped(account, region, task, &reason);
    assert!(remediate.process(&[change], Some(HOME)).await.is_empty());
    let record = p
        .action_records()
        .await
        .into_iter()
        .find(|r| text(r, "task_arn") == *task)
        .expect("the member task's action record");
    assert_eq!(text(&record, "stop_code"), "UserInitiated");
    assert!(!text(&record, "confirmed_at").is_empty());
}

/// ECS's `Task State Change` to STOPPED for `task`, as `account`'s default bus sends it.
fn task_stopped(account: &str, region: &str, task: &str, reason: &str) -> String {
    let cluster = format!("arn:aws:ecs:{region}:{account}:cluster/prod");
    json!({
        "version": "0", "id": format!("sc-{}", fastrand::u64(..)), "detail-type": "ECS Task State Change",
        "source": "aws.ecs", "account": account, "time": "2026-11-23T10:00:00Z", "region": region,
        "resources": [task],
        "detail": {"clusterArn": cluster, "taskArn": task, "lastStatus": "STOPPED", "desiredStatus": "STOPPED",
                   "stopCode": "UserInitiated", "stoppedReason": reason, "stoppedAt": "2026-11-23T10:00:00Z",
                   "containers": [], "version": 5}
    })
    .to_string()
}

#[tokio::test]
async fn a_trusted_account_without_a_role_is_recorded_never_called_and_blocks_nothing() {
    let p = Pipeline::start().await;
    enable_hubs(&p.emulator, &[HOME, MEMBERS[0]], &["us-east-1"]).await;
    let member_task = p
        .emulator
        .run_task_in(MEMBERS[0], "us-east-1", "member")
        .await;
    let stranger_task = format!(
        "arn:aws:ecs:us-east-1:{STRANGER}:task/prod/{}",
        "a".repeat(32)
    );
    let enriched = centrally_enriched(
        &p,
        &[
            alert_in("s", STRANGER, "us-east-1", &stranger_task, SHELL),
            alert_in("m", MEMBERS[0], "us-east-1", &member_task, SHELL),
        ],
    )
    .await;
    assert_eq!(enriched.len(), 2);
    p.emulator.reset_api_calls();
    // The stranger is trusted, but Vigil has no role in it.
    let remediate =
        central_remediate(&p, vigil_e2e::PLAYBOOKS, &[HOME, MEMBERS[0], STRANGER]).await;
    for _ in 0..2 {
        assert!(
            remediate.process(&enriched, Some(HOME)).await.is_empty(),
            "the unroutable finding is not retried, and blocks nothing"
        );
    }
    assert_eq!(
        desired_status(&p.emulator, MEMBERS[0], "us-east-1", &member_task).await,
        "STOPPED",
        "the member's task in the same batch is stopped"
    );
    // Only the member account was called: one DescribeTasks path and one StopTask, no call in the
    // stranger's name with the central role.
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.emulator.calls("sts", "AssumeRole"), 1);
    let records = p.action_records().await;
    let aside: Vec<_> = p
        .items("ACT#")
        .await
        .into_iter()
        .filter(|i| text(i, "sk").starts_with("UNROUTABLE#"))
        .collect();
    assert_eq!(aside.len(), 1, "recorded aside once: {records:?}");
    assert_eq!(text(&aside[0], "outcome"), "refused");
    let decision: Value = serde_json::from_str(&text(&aside[0], "decision")).unwrap();
    assert_eq!(decision["outcome"], "refused");
    assert_eq!(decision["task_arn"], stranger_task.as_str());
    let reason = decision["reason"].as_str().unwrap();
    assert!(
        reason.contains(STRANGER) && reason.contains("MEMBER_ACCOUNTS"),
        "{reason}"
    );
    let executed = p.executed.drain().await;
    assert_eq!(executed.len(), 1, "only the member's decision is announced");
}

#[tokio::test]
async fn a_member_account_that_is_not_trusted_is_never_called() {
    let p = Pipeline::start().await;
    enable_hubs(&p.emulator, &[HOME, MEMBERS[1]], &["eu-west-1"]).await;
    let task = p
        .emulator
        .run_task_in(MEMBERS[1], "eu-west-1", "shop")
        .await;
    let enriched =
        centrally_enriched(&p, &[alert_in("u", MEMBERS[1], "eu-west-1", &task, SHELL)]).await;
    assert_eq!(enriched.len(), 1);
    p.emulator.reset_api_calls();
    // A member role exists, but TRUSTED_ACCOUNTS names only the central account.
    let remediate = central_remediate(&p, vigil_e2e::PLAYBOOKS, &[HOME]).await;
    assert!(remediate.process(&enriched, Some(HOME)).await.is_empty());
    assert_eq!(
        p.emulator.calls("sts", "AssumeRole"),
        0,
        "no member role assumed"
    );
    assert_eq!(p.emulator.calls("ecs", "DescribeTasks"), 0);
    assert_eq!(p.emulator.calls("securityhub", "BatchUpdateFindings"), 0);
    assert_eq!(
        desired_status(&p.emulator, MEMBERS[1], "eu-west-1", &task).await,
        "RUNNING"
    );
}

/// GuardDuty's finding about `task` of `account` (us-east-1), as its default bus sends it.
fn guardduty_finding(event_id: &str, account: &str, task: &str, finding: &str) -> Value {
    let mut detail: Value =
        serde_json::from_str::<Value>(include_str!("../../samples/guardduty-ecs-runtime.json"))
            .unwrap()["detail"]
            .clone();
    let cluster = format!("arn:aws:ecs:us-east-1:{account}:cluster/prod");
    detail["type"] = json!("CryptoCurrency:Runtime/BitcoinTool.B");
    detail["accountId"] = json!(account);
    detail["region"] = json!("us-east-1");
    detail["arn"] = json!(guardduty_arn(account, finding));
    detail["id"] = json!(finding);
    detail["updatedAt"] = json!(chrono::Utc::now().to_rfc3339());
    detail["resource"]["ecsClusterDetails"]["arn"] = json!(cluster);
    detail["resource"]["ecsClusterDetails"]["name"] = json!("prod");
    detail["resource"]["ecsClusterDetails"]["taskDetails"]["arn"] = json!(task);
    // The sample's container is not one of the emulated task's: none named.
    detail["resource"]["ecsClusterDetails"]["taskDetails"]["containers"] = json!([]);
    if let Some(resource) = detail["resource"].as_object_mut() {
        resource.remove("containerDetails");
    }
    detail["service"]["eventLastSeen"] = json!(chrono::Utc::now().to_rfc3339());
    json!({"version": "0", "id": event_id, "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
           "account": account, "region": "us-east-1", "time": chrono::Utc::now().to_rfc3339(),
           "resources": [], "detail": detail})
}

fn guardduty_arn(account: &str, finding: &str) -> String {
    format!("arn:aws:guardduty:us-east-1:{account}:detector/d0/finding/{finding}")
}

const GUARDDUTY_PRODUCT: &str = "arn:aws:securityhub:us-east-1::product/aws/guardduty";

/// GuardDuty's own finding in `account`'s hub, as GuardDuty sends it to Security Hub.
async fn guardduty_in_hub(p: &Pipeline, account: &str, finding: &str) {
    use aws_sdk_securityhub::types::{AwsSecurityFinding, Resource, Severity};
    let now = chrono::Utc::now().to_rfc3339();
    let asff = AwsSecurityFinding::builder()
        .schema_version("2018-10-08")
        .id(guardduty_arn(account, finding))
        .product_arn(GUARDDUTY_PRODUCT)
        .generator_id("arn:aws:guardduty:us-east-1:detector/d0")
        .aws_account_id(account)
        .region("us-east-1")
        .types("TTPs/Impact/CryptoCurrency:Runtime-BitcoinTool.B")
        .created_at(&now)
        .updated_at(&now)
        .severity(Severity::builder().label("HIGH".into()).build())
        .title("Bitcoin tool")
        .description("GuardDuty's own finding")
        .resources(Resource::builder().r#type("AwsEcsTask").id("task").build())
        .build();
    let out = hub(&p.emulator, account, "us-east-1")
        .await
        .batch_import_findings()
        .findings(asff)
        .send()
        .await
        .unwrap();
    assert_eq!(out.success_count(), Some(1));
}

const MINER: &str = r#"
version: 1
playbooks:
  - name: miner
    match: {rules: ["CryptoCurrency:*"]}
    actions: [stop_task]
    mode: enforce
"#;

#[tokio::test]
async fn a_member_guardduty_finding_is_stopped_and_noted_on_guardduty_s_own_finding() {
    let p = Pipeline::start().await;
    let member = MEMBERS[0];
    enable_hubs(&p.emulator, &[HOME, member], &["us-east-1"]).await;
    guardduty_in_hub(&p, member, "f1").await;
    guardduty_in_hub(&p, member, "f2").await;
    let task = p.emulator.run_task_in(member, "us-east-1", "mine").await;
    let enriched = centrally_enriched(&p, &[guardduty_finding("gd1", member, &task, "f1")]).await;
    assert_eq!(enriched.len(), 1);
    let sh: Value =
        serde_json::from_str::<Value>(&enriched[0]).unwrap()["detail"]["securityhub"].clone();
    assert_eq!(
        sh["imported"], false,
        "GuardDuty's findings are not re-imported"
    );

    // A copy of the genuine message whose kept GuardDuty event names GuardDuty's other finding:
    // the fingerprint does not cover it, ingest never recorded it, so nothing notes `f2`.
    let mut forged: Value = serde_json::from_str(&enriched[0]).unwrap();
    forged["id"] = json!("forged-copy");
    let raw = forged["detail"]["finding"]["raw"]["event"].to_string();
    let renamed = raw.replace("/finding/f1", "/finding/f2");
    assert_ne!(raw, renamed, "the kept event names f1");
    forged["detail"]["finding"]["raw"]["event"] = serde_json::from_str(&renamed).unwrap();

    let remediate = central_remediate(&p, MINER, &[HOME, member]).await;
    assert!(
        remediate
            .process(&[forged.to_string(), enriched[0].clone()], Some(HOME))
            .await
            .is_empty()
    );
    let records = p.items("ACT#").await;
    assert_eq!(
        desired_status(&p.emulator, member, "us-east-1", &task).await,
        "STOPPED",
        "{records:?}"
    );
    let found = hub_findings(&p.emulator, member, "us-east-1").await;
    let by_id = |f: &str| {
        found
            .iter()
            .find(|x| x.id() == Some(guardduty_arn(member, f).as_str()))
            .cloned()
            .unwrap()
    };
    let noted = by_id("f1");
    assert_eq!(noted.product_arn(), Some(GUARDDUTY_PRODUCT));
    assert_eq!(
        noted
            .workflow()
            .and_then(|w| w.status())
            .map(|s| s.as_str()),
        Some("RESOLVED")
    );
    let note = noted.note().and_then(|n| n.text()).unwrap_or_default();
    assert!(note.contains("stopped the task"), "{note}");
    let other = by_id("f2");
    assert!(
        other.note().is_none(),
        "GuardDuty's other finding untouched"
    );
    assert_eq!(found.len(), 2, "nothing imported as Vigil's");
    assert!(
        hub_findings(&p.emulator, HOME, "us-east-1")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_task_outside_the_allowed_regions_is_recorded_and_never_called() {
    let p = Pipeline::start().await;
    enable_hubs(&p.emulator, &[HOME, MEMBERS[0]], &REGIONS).await;
    let task = p
        .emulator
        .run_task_in(MEMBERS[0], "eu-west-1", "shop")
        .await;
    let enriched =
        centrally_enriched(&p, &[alert_in("r", MEMBERS[0], "eu-west-1", &task, SHELL)]).await;
    assert_eq!(enriched.len(), 1);
    p.emulator.reset_api_calls();
    let remediate = p
        .remediate_with(vigil_e2e::PLAYBOOKS, RemediationMode::Enforce, |s| {
            s.account_id = Some(HOME.into());
            s.members = members();
            s.guardrails.trusted_accounts.insert(MEMBERS[0].into());
            s.allowed_regions = vec![vigil_playbook::Glob::new("us-*").unwrap()];
        })
        .await;
    assert!(remediate.process(&enriched, Some(HOME)).await.is_empty());
    assert_eq!(p.emulator.calls("sts", "AssumeRole"), 0);
    assert_eq!(p.emulator.calls("ecs", "DescribeTasks"), 0);
    let aside: Vec<_> = p
        .items("ACT#")
        .await
        .into_iter()
        .filter(|i| text(i, "sk").starts_with("UNROUTABLE#"))
        .collect();
    assert_eq!(aside.len(), 1);
    assert!(text(&aside[0], "decision").contains("ALLOWED_REGIONS"));
    assert_eq!(
        desired_status(&p.emulator, MEMBERS[0], "eu-west-1", &task).await,
        "RUNNING"
    );
}
