//! A central Vigil and its member accounts on one emulator: the accounts, Security Hub and ECS as
//! each account sees them (the emulator takes a 12-digit access key id as the account), and an
//! alert sent from an account about one of its tasks.

use crate::Pipeline;
use aws_sdk_securityhub::config::{Credentials, Region, SharedCredentialsProvider};
use aws_sdk_securityhub::types::AwsSecurityFinding;
use serde_json::Value;
use vigil_enrich::{Enrich, EnrichSettings};
use vigil_remediate::{Remediate, RemediationMode};
use vigil_testkit::events::FalcoAlert;
use vigil_testkit::{BUS_NAME, Emulator, TABLE_NAME};

/// The deploying (central) account: the emulator's default.
pub const HOME: &str = crate::ACCOUNT;
/// Accounts with the member role.
pub const MEMBERS: [&str; 2] = ["111111111111", "222222222222"];
/// An account Vigil has no role in.
pub const STRANGER: &str = "333333333333";
/// The regions a burst spans.
pub const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
/// The member role's external id in these tests.
pub const EXTERNAL_ID: &str = "vigil-ext";

/// [`MEMBERS`] with the default role name and [`EXTERNAL_ID`].
pub fn members() -> vigil_accounts::MemberAccounts {
    vigil_accounts::MemberAccounts::new(MEMBERS, "VigilMember", Some(EXTERNAL_ID.into()))
}

/// The emulator's configuration as `account` in `region`.
async fn config_as(emulator: &Emulator, account: &str, region: &str) -> aws_config::SdkConfig {
    emulator
        .sdk_config()
        .await
        .to_builder()
        .region(Region::new(region.to_owned()))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            account, "testing", None, None, "test",
        )))
        .build()
}

/// Security Hub as `account` sees it in `region`.
pub async fn hub(emulator: &Emulator, account: &str, region: &str) -> aws_sdk_securityhub::Client {
    aws_sdk_securityhub::Client::new(&config_as(emulator, account, region).await)
}

/// ECS as `account` sees it in `region`.
pub async fn ecs(emulator: &Emulator, account: &str, region: &str) -> aws_sdk_ecs::Client {
    aws_sdk_ecs::Client::new(&config_as(emulator, account, region).await)
}

/// Security Hub enabled in each of `accounts` in each of `regions`.
pub async fn enable_hubs(emulator: &Emulator, accounts: &[&str], regions: &[&str]) {
    for account in accounts {
        for region in regions {
            // Already enabled is fine.
            let _ = hub(emulator, account, region)
                .await
                .enable_security_hub()
                .send()
                .await;
        }
    }
}

/// The findings in `account`'s hub in `region` (at most 100).
pub async fn hub_findings(
    emulator: &Emulator,
    account: &str,
    region: &str,
) -> Vec<AwsSecurityFinding> {
    hub(emulator, account, region)
        .await
        .get_findings()
        .max_results(100)
        .send()
        .await
        .expect("GetFindings")
        .findings()
        .to_vec()
}

/// A task in cluster `prod` of its own account and region, as DescribeTasks shows it.
async fn described(
    emulator: &Emulator,
    account: &str,
    region: &str,
    task: &str,
) -> Option<aws_sdk_ecs::types::Task> {
    let out = ecs(emulator, account, region)
        .await
        .describe_tasks()
        .cluster("prod")
        .tasks(task)
        .send()
        .await
        .expect("DescribeTasks");
    out.tasks().first().cloned()
}

/// A task's desired status in cluster `prod` of its own account and region (`MISSING` when ECS
/// does not know it).
pub async fn desired_status(
    emulator: &Emulator,
    account: &str,
    region: &str,
    task: &str,
) -> String {
    described(emulator, account, region, task)
        .await
        .and_then(|t| t.desired_status().map(str::to_owned))
        .unwrap_or_else(|| "MISSING".to_owned())
}

/// The `stoppedReason` ECS shows for a task in cluster `prod` of its own account and region.
pub async fn stopped_reason(
    emulator: &Emulator,
    account: &str,
    region: &str,
    task: &str,
) -> String {
    described(emulator, account, region, task)
        .await
        .and_then(|t| t.stopped_reason().map(str::to_owned))
        .unwrap_or_default()
}

/// Enrich as deployed in [`HOME`] with [`MEMBERS`] in `MEMBER_ACCOUNTS`.
pub async fn central_enrich(p: &Pipeline) -> Enrich {
    let mut settings = EnrichSettings::new(TABLE_NAME, BUS_NAME);
    settings.account_id = Some(HOME.into());
    settings.members = members();
    Enrich::from_env(settings, &p.emulator.sdk_config().await)
}

/// `bodies` through ingest and [`central_enrich`] in batches of 10, none returned; the
/// `Finding Enriched` bodies.
pub async fn centrally_enriched(p: &Pipeline, bodies: &[Value]) -> Vec<String> {
    let accepted = p.ingest(bodies).await;
    let enrich = central_enrich(p).await;
    for batch in accepted.chunks(10) {
        assert_eq!(enrich.process(batch).await, Vec::<usize>::new());
    }
    p.enriched
        .drain()
        .await
        .iter()
        .map(Value::to_string)
        .collect()
}

/// Remediate as deployed in [`HOME`], enforcing `playbooks`, with `members` in `MEMBER_ACCOUNTS`
/// and `trusted` in `TRUSTED_ACCOUNTS`.
pub async fn central_remediate(
    p: &Pipeline,
    playbooks: &str,
    members: vigil_accounts::MemberAccounts,
    trusted: &[&str],
) -> Remediate {
    p.remediate_with(playbooks, RemediationMode::Enforce, |s| {
        s.account_id = Some(HOME.into());
        s.members = members;
        s.guardrails
            .trusted_accounts
            .extend(trusted.iter().map(|a| a.to_string()));
    })
    .await
}

/// A Falco alert sent from `account` in `region` about `task` (an ARN, or an id in cluster `prod`
/// of that account and region), seen now.
pub fn alert_in(event_id: &str, account: &str, region: &str, task: &str, rule: &str) -> Value {
    let cluster = format!("arn:aws:ecs:{region}:{account}:cluster/prod");
    let task = if task.starts_with("arn:") {
        task.to_owned()
    } else {
        format!("arn:aws:ecs:{region}:{account}:task/prod/{task}")
    };
    FalcoAlert::sample()
        .id(event_id)
        .from_account(account, region)
        .rule(rule)
        .seen_now()
        .on_task(&cluster, &task)
        .event()
}
