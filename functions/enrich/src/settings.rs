//! Settings from the function's environment (set by `infra/template.yaml`).

use vigil_accounts::MemberAccounts;
use vigil_ecs::EnrichConfig;
pub use vigil_lambda::settings::SettingsError;
use vigil_lambda::settings::{Settings, environment};

/// The enrich function's settings; see [`EnrichSettings::from_lookup`] for the variables and defaults.
#[derive(Debug, Clone)]
pub struct EnrichSettings {
    /// The dedup table's name (`TABLE_NAME`).
    pub table_name: String,
    /// The agent bus `Finding Enriched` goes to, name or ARN (`EVENT_BUS_NAME`).
    pub event_bus_name: String,
    /// GuardDuty already sends its findings to Security Hub; import them again only when asked.
    pub import_guardduty: bool,
    /// ECS lookups: services described or not (`DESCRIBE_SERVICES`), task cache lifetime (`TASK_CACHE_SECONDS`).
    pub ecs: EnrichConfig,
    /// BatchImportFindings calls per second from one instance (Security Hub allows 10 per account;
    /// the template's maximum concurrency on the queue keeps the sum under it).
    pub securityhub_calls_per_second: u32,
    /// The queues the event source mapping reads (`ENRICH_QUEUE_ARNS`). When set, records naming
    /// any other source are not processed.
    pub queue_arns: Vec<String>,
    /// The deploying account (`ACCOUNT_ID`): its findings are imported with the function's own
    /// credentials. Unknown (`None`): every account not in `members` is.
    pub account_id: Option<String>,
    /// The member accounts whose findings are imported through their member role
    /// (`MEMBER_ACCOUNTS`, `MEMBER_ROLE_NAME`, `MEMBER_EXTERNAL_ID`).
    pub members: MemberAccounts,
}

impl EnrichSettings {
    /// Settings with these two required values and every optional one at its default.
    pub fn new(table_name: impl Into<String>, event_bus_name: impl Into<String>) -> Self {
        EnrichSettings {
            table_name: table_name.into(),
            event_bus_name: event_bus_name.into(),
            import_guardduty: false,
            ecs: EnrichConfig::default(),
            securityhub_calls_per_second: 10,
            queue_arns: Vec::new(),
            account_id: None,
            members: MemberAccounts::none(),
        }
    }

    /// The settings from the process environment, as [`EnrichSettings::from_lookup`] reads them.
    ///
    /// Fails when a required variable is unset or a value does not parse.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(environment)
    }

    /// `TABLE_NAME`, `EVENT_BUS_NAME` required; `IMPORT_GUARDDUTY` (false), `DESCRIBE_SERVICES`
    /// (true), `TASK_CACHE_SECONDS` (300), `SECURITYHUB_CALLS_PER_SECOND` (10) and
    /// `ENRICH_QUEUE_ARNS`, `ACCOUNT_ID`, `MEMBER_ACCOUNTS`, `MEMBER_ROLE_NAME` (`VigilMember`) and
    /// `MEMBER_EXTERNAL_ID` optional. `get` is the environment in Lambda, a map in tests.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let env = Settings::new(get);
        let mut s =
            EnrichSettings::new(env.required("TABLE_NAME")?, env.required("EVENT_BUS_NAME")?);
        s.import_guardduty = env.flag("IMPORT_GUARDDUTY", false)?;
        s.ecs.describe_services = env.flag("DESCRIBE_SERVICES", true)?;
        s.ecs.task_ttl = env.seconds("TASK_CACHE_SECONDS", 300)?;
        s.securityhub_calls_per_second =
            u32::try_from(env.positive("SECURITYHUB_CALLS_PER_SECOND", 10)?)
                .map_err(|_| SettingsError::new("SECURITYHUB_CALLS_PER_SECOND", "is too large"))?;
        s.queue_arns = env.list("ENRICH_QUEUE_ARNS");
        s.account_id = env.get("ACCOUNT_ID").filter(|a| !a.is_empty());
        s.members = MemberAccounts::from_lookup(|k| env.get(k));
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_refusals() {
        let s = EnrichSettings::from_lookup(|k| match k {
            "TABLE_NAME" => Some("t".into()),
            "EVENT_BUS_NAME" => Some("b".into()),
            "ENRICH_QUEUE_ARNS" => Some("arn:q".into()),
            _ => None,
        })
        .unwrap();
        assert!(!s.import_guardduty && s.ecs.describe_services);
        assert_eq!(s.securityhub_calls_per_second, 10);
        assert_eq!(s.queue_arns, ["arn:q"]);
        assert_eq!(s.account_id, None);
        assert!(s.members.accounts.is_empty());
        let members = EnrichSettings::from_lookup(|k| match k {
            "TABLE_NAME" | "EVENT_BUS_NAME" => Some("x".into()),
            "ACCOUNT_ID" => Some("123456789012".into()),
            "MEMBER_ACCOUNTS" => Some("111111111111,222222222222".into()),
            "MEMBER_EXTERNAL_ID" => Some("ext".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(members.account_id.as_deref(), Some("123456789012"));
        assert!(members.members.is_member("222222222222"));
        assert_eq!(members.members.external_id.as_deref(), Some("ext"));
        let refused = EnrichSettings::from_lookup(|k| match k {
            "TABLE_NAME" | "EVENT_BUS_NAME" => Some("x".into()),
            "SECURITYHUB_CALLS_PER_SECOND" => Some("0".into()),
            _ => None,
        });
        assert_eq!(refused.unwrap_err().name, "SECURITYHUB_CALLS_PER_SECOND");
        assert!(EnrichSettings::from_lookup(|_| None).is_err());
    }
}
