//! The member accounts of a local run. Every account the events name besides the deploying one is
//! deployed as a member: `infra/member-role.yaml` as a stack in that account (the role the central
//! functions assume), Security Hub in every region the events name, and the account in the
//! functions' `MEMBER_ACCOUNTS`. Events an account sends go to the central buses from that account,
//! so EventBridge stamps it as their sender, as for an agent in a member account. Trust is not
//! widened: remediation still acts only for `TRUSTED_ACCOUNTS`.

use crate::{ACCOUNT, LocalPipeline};
use aws_sdk_cloudformation::types::{Capability, Parameter};
use serde_json::Value;
use std::collections::BTreeSet;
use vigil_accounts::config::is_account_id;
use vigil_accounts::route::is_region;

/// The external id local runs deploy the member role with (and the functions send).
pub const LOCAL_EXTERNAL_ID: &str = "vigil-local";

/// The accounts and regions a run's events name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Named {
    /// 12-digit account ids.
    pub accounts: BTreeSet<String>,
    /// Region names.
    pub regions: BTreeSet<String>,
}

impl Named {
    fn add(&mut self, account: Option<&str>, region: Option<&str>) {
        if let Some(a) = account.filter(|a| is_account_id(a)) {
            self.accounts.insert(a.to_owned());
        }
        if let Some(r) = region.filter(|r| is_region(r)) {
            self.regions.insert(r.to_owned());
        }
    }
}

/// What `events` name: each envelope's `account` and `region`, GuardDuty's `detail.accountId` and
/// `detail.region`, and the account and region of every ECS ARN anywhere in them (task and cluster
/// labels, Sysdig's `aws.fargate.*`).
pub fn named_by(events: &[Value]) -> Named {
    let mut named = Named::default();
    for e in events {
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        named.add(text(e, "account").as_deref(), text(e, "region").as_deref());
        if let Some(d) = e.get("detail") {
            named.add(
                text(d, "accountId").as_deref(),
                text(d, "region").as_deref(),
            );
        }
        ecs_arns(e, &mut named);
    }
    named
}

fn ecs_arns(v: &Value, named: &mut Named) {
    match v {
        Value::String(s) if s.starts_with("arn:") && s.contains(":ecs:") => {
            if let Some((account, region)) = vigil_accounts::place_of_arn(s) {
                named.add(Some(account), Some(region));
            }
        }
        Value::Array(items) => items.iter().for_each(|i| ecs_arns(i, named)),
        Value::Object(map) => map.values().for_each(|i| ecs_arns(i, named)),
        _ => {}
    }
}

/// The account an event is sent from: its envelope's `account` when that is a 12-digit account id,
/// else the deploying account.
pub(crate) fn sender_of(event: &Value) -> &str {
    event
        .get("account")
        .and_then(Value::as_str)
        .filter(|a| is_account_id(a))
        .unwrap_or(ACCOUNT)
}

impl LocalPipeline {
    /// Deploys every account `events` name, besides the deploying one, as a member (see the module
    /// docs) and enables Security Hub in each (account, region) they name; the functions are built
    /// anew with those members. Returns the member accounts.
    pub async fn deploy_members(&mut self, events: &[Value]) -> Result<Vec<String>, String> {
        let named = named_by(events);
        let home_region = self.sdk.region().map(|r| r.to_string()).unwrap_or_default();
        let members: Vec<String> = named
            .accounts
            .iter()
            .filter(|a| a.as_str() != ACCOUNT)
            .cloned()
            .collect();
        let mut regions = named.regions.clone();
        regions.insert(home_region);
        for account in &members {
            self.deploy_member_role(account).await?;
        }
        for account in members.iter().map(String::as_str).chain([ACCOUNT]) {
            for region in &regions {
                let hub = aws_sdk_securityhub::Client::new(&self.sdk_as(account, region));
                // Already enabled (the deploying account's home region) is fine.
                let _ = hub.enable_security_hub().send().await;
                self.hubs.insert((account.to_owned(), region.clone()));
            }
        }
        if !members.is_empty() {
            self.members = vigil_accounts::MemberAccounts::new(
                &members,
                vigil_accounts::config::DEFAULT_ROLE_NAME,
                Some(LOCAL_EXTERNAL_ID.to_owned()),
            );
            self.rebuild()?;
        }
        Ok(members)
    }

    /// `infra/member-role.yaml` as stack `vigil-member` in `account`, trusting the central
    /// functions' roles.
    async fn deploy_member_role(&self, account: &str) -> Result<(), String> {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/member-role.yaml");
        let template = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let home_region = self.sdk.region().map(|r| r.to_string()).unwrap_or_default();
        let cfn = aws_sdk_cloudformation::Client::new(&self.sdk_as(account, &home_region));
        let parameter = |k: &str, v: String| {
            Parameter::builder()
                .parameter_key(k)
                .parameter_value(v)
                .build()
        };
        let central = ["vigil-enrich", "vigil-remediate"]
            .map(|r| format!("arn:aws:iam::{ACCOUNT}:role/{r}"))
            .join(",");
        cfn.create_stack()
            .stack_name("vigil-member")
            .template_body(template)
            .capabilities(Capability::CapabilityNamedIam)
            .parameters(parameter("CentralRoleArns", central))
            .parameters(parameter("ExternalId", LOCAL_EXTERNAL_ID.to_owned()))
            .send()
            .await
            .map(|_| ())
            .or_else(|e| {
                let text = aws_sdk_cloudformation::error::DisplayErrorContext(&e).to_string();
                // A run against an emulator that already has it (`--endpoint`).
                if text.contains("AlreadyExists") {
                    Ok(())
                } else {
                    Err(format!("member role in {account}: {text}"))
                }
            })
    }

    /// The emulator's configuration as `account` in `region` (the emulator takes a 12-digit access
    /// key id for that account).
    pub fn sdk_as(&self, account: &str, region: &str) -> aws_config::SdkConfig {
        use aws_sdk_securityhub::config::{Credentials, Region, SharedCredentialsProvider};
        self.sdk
            .to_builder()
            .region(Region::new(region.to_owned()))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                account, "testing", None, None, "local",
            )))
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accounts_and_regions_named_anywhere_an_event_names_them() {
        let events = [
            json!({"source": "falco", "account": "111111111111", "region": "eu-west-1", "detail": {
                "output_fields": {"container.label.com.amazonaws.ecs.task-arn":
                    "arn:aws:ecs:ap-south-1:222222222222:task/prod/abc"}}}),
            json!({"source": "aws.guardduty", "detail": {"accountId": "333333333333", "region": "us-west-2"}}),
            json!({"rule": "bare", "output_fields": {"x": "arn:aws:iam::444444444444:role/not-ecs"}}),
            json!({"account": "not-an-account", "region": "Nowhere"}),
        ];
        let named = named_by(&events);
        assert_eq!(
            named.accounts.into_iter().collect::<Vec<_>>(),
            ["111111111111", "222222222222", "333333333333"]
        );
        assert_eq!(
            named.regions.into_iter().collect::<Vec<_>>(),
            ["ap-south-1", "eu-west-1", "us-west-2"]
        );
        assert_eq!(sender_of(&events[0]), "111111111111");
        assert_eq!(sender_of(&events[2]), ACCOUNT);
        assert_eq!(sender_of(&events[3]), ACCOUNT);
    }
}
