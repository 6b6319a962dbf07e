//! Settings from the function's environment (set by `infra/template.yaml`).

use std::collections::{BTreeMap, BTreeSet};
use vigil_dedup::DedupConfig;

/// The two ways into ingest, deployed as two functions of the same binary so that a principal
/// allowed to invoke one cannot pose as the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestEntry {
    /// Invoked by its queue's event source mapping (the queue fed by the EventBridge rules).
    Queue,
    /// Invoked directly (falcosidekick's Lambda output): whatever the payload looks like, it is one
    /// bare agent event, never a batch of deliveries.
    Direct,
}

/// The ingest function's settings (see [`IngestConfig::from_env`] for the variables).
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// The dedup table and its windows (`TABLE_NAME`, `DEDUP_*`, `UPDATE_INTERVAL_SECONDS`).
    pub dedup: DedupConfig,
    /// The bus `Finding Accepted` and `Event Rejected` are published on (`EVENT_BUS_NAME`).
    pub event_bus_name: String,
    /// Records processed at once within a batch (each is one DynamoDB call).
    pub concurrency: usize,
    /// Which entry point this function is: the queue's, or the one for direct invocations.
    pub entry: IngestEntry,
    /// The queues the event source mapping reads (`INGEST_QUEUE_ARNS`, comma-separated). When set,
    /// an SQS-shaped invocation naming any other queue is treated as a direct invocation.
    pub queue_arns: Vec<String>,
    /// The sender account of direct invocations (`DIRECT_INVOKE_ACCOUNT`; default: the function's
    /// own account).
    pub direct_invoke_account: Option<String>,
    /// Which sender accounts may speak for which others (`ACCOUNT_DELEGATIONS`:
    /// `SENDER=ACCOUNT+ACCOUNT,SENDER=ACCOUNT`).
    pub delegations: BTreeMap<String, BTreeSet<String>>,
}

pub use vigil_lambda::settings::SettingsError;
use vigil_lambda::settings::{Settings, environment};

impl IngestConfig {
    /// The defaults, on `table_name` and `event_bus_name`: the queue's entry point, 16 records at
    /// once, no delegations.
    pub fn new(table_name: impl Into<String>, event_bus_name: impl Into<String>) -> Self {
        IngestConfig {
            dedup: DedupConfig::new(table_name),
            event_bus_name: event_bus_name.into(),
            concurrency: 16,
            entry: IngestEntry::Queue,
            queue_arns: Vec::new(),
            direct_invoke_account: None,
            delegations: BTreeMap::new(),
        }
    }

    /// Reads the settings from the process environment.
    ///
    /// `TABLE_NAME` and `EVENT_BUS_NAME` are required; `DEDUP_WINDOW_SECONDS` (86400),
    /// `DEDUP_LEASE_SECONDS` (120), `UPDATE_INTERVAL_SECONDS` (900), `INGEST_ENTRY` (queue),
    /// `INGEST_QUEUE_ARNS`, `DIRECT_INVOKE_ACCOUNT` and `ACCOUNT_DELEGATIONS` are optional.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(environment)
    }

    /// Reads the settings through `get` (the environment in Lambda; a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let env = Settings::new(get);
        let mut config =
            IngestConfig::new(env.required("TABLE_NAME")?, env.required("EVENT_BUS_NAME")?);
        config.dedup.window = env.seconds("DEDUP_WINDOW_SECONDS", 86_400)?;
        config.dedup.lease = env.seconds("DEDUP_LEASE_SECONDS", 120)?;
        config.dedup.update_interval = env.seconds("UPDATE_INTERVAL_SECONDS", 900)?;
        config.entry = env
            .parsed("INGEST_ENTRY", |v| match v {
                "" | "queue" => Ok(IngestEntry::Queue),
                "direct" => Ok(IngestEntry::Direct),
                other => Err(format!("{other:?} is neither queue nor direct")),
            })?
            .unwrap_or(IngestEntry::Queue);
        config.queue_arns = env.list("INGEST_QUEUE_ARNS");
        config.direct_invoke_account = env.list("DIRECT_INVOKE_ACCOUNT").into_iter().next();
        config.delegations = parse_delegations(&env.list("ACCOUNT_DELEGATIONS"))?;
        Ok(config)
    }
}

/// `SENDER=ACCOUNT+ACCOUNT` entries → sender → the accounts it may speak for.
pub fn parse_delegations(
    entries: &[String],
) -> Result<BTreeMap<String, BTreeSet<String>>, SettingsError> {
    let account = |a: &str| -> Result<String, SettingsError> {
        let a = a.trim();
        (a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
            .then(|| a.to_owned())
            .ok_or_else(|| {
                SettingsError::new(
                    "ACCOUNT_DELEGATIONS",
                    format!("{a:?} is not a 12-digit account id"),
                )
            })
    };
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in entries {
        let (sender, accounts) = entry.split_once('=').ok_or_else(|| {
            SettingsError::new(
                "ACCOUNT_DELEGATIONS",
                format!("{entry:?} is not SENDER=ACCOUNT+ACCOUNT"),
            )
        })?;
        let set = out.entry(account(sender)?).or_default();
        for a in accounts.split('+') {
            set.insert(account(a)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delegations_parse_and_refuse_junk() {
        let d = parse_delegations(&["111111111111=222222222222+333333333333".into()]).unwrap();
        assert_eq!(d["111111111111"].len(), 2);
        assert!(parse_delegations(&["111111111111".into()]).is_err());
        assert!(parse_delegations(&["111111111111=abc".into()]).is_err());
    }
}
