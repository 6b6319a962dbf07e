//! Settings from the function's environment (set by `infra/template.yaml`).

use std::time::Duration;
pub use vigil_lambda::settings::SettingsError;
use vigil_lambda::settings::{Settings, environment};

/// The coverage function's settings; see [`CoverageSettings::from_lookup`] for the variables and
/// defaults.
#[derive(Debug, Clone)]
pub struct CoverageSettings {
    /// The table heartbeats and coverage state live in (`TABLE_NAME`).
    pub table_name: String,
    /// The agent bus refused heartbeats go to as `Event Rejected` (`EVENT_BUS_NAME`).
    pub event_bus_name: String,
    /// The queues the event source mapping reads (`COVERAGE_QUEUE_ARNS`); records naming any other
    /// are not processed.
    pub queue_arns: Vec<String>,
    /// The deploying account (`ACCOUNT_ID`; else the invoked function ARN's).
    pub account_id: Option<String>,
    /// Other accounts whose heartbeats count (`TRUSTED_ACCOUNTS`).
    pub trusted_accounts: Vec<String>,
    /// Clusters checked (`COVERAGE_CLUSTERS`, names or ARNs; empty or `*`: every cluster ListClusters names).
    pub clusters: Vec<String>,
    /// A task is covered by an agent that reported within this (`COVERAGE_GRACE_SECONDS`, 600).
    pub grace: Duration,
    /// A task started this recently is not reported before its agent's first heartbeat
    /// (`STARTUP_GRACE_SECONDS`, 120; 0: reported at once).
    pub startup_grace: Duration,
    /// At most one write per agent in this long (`HEARTBEAT_INTERVAL_SECONDS`, 60).
    pub heartbeat_interval: Duration,
    /// A heartbeat dropping at least this share of events is a heavy drop (`HEAVY_DROP_RATIO`, 0.1,
    /// Falco's own `syscall_event_drops.threshold`).
    pub heavy_drop_ratio: f64,
    /// Recorded heartbeats in a row with heavy drops that make an agent degraded
    /// (`DEGRADED_AFTER_HEARTBEATS`, 3).
    pub degraded_after: u32,
    /// Whether GuardDuty's coverage counts (`GUARDDUTY_COVERAGE`, true).
    pub guardduty: bool,
    /// BatchImportFindings calls per second (`SECURITYHUB_CALLS_PER_SECOND`, 2: the check shares
    /// Security Hub's quota with enrich).
    pub securityhub_calls_per_second: u32,
}

impl CoverageSettings {
    /// Settings with these two required values and every optional one at its default.
    pub fn new(table_name: impl Into<String>, event_bus_name: impl Into<String>) -> Self {
        CoverageSettings {
            table_name: table_name.into(),
            event_bus_name: event_bus_name.into(),
            queue_arns: Vec::new(),
            account_id: None,
            trusted_accounts: Vec::new(),
            clusters: Vec::new(),
            grace: Duration::from_secs(600),
            startup_grace: Duration::from_secs(120),
            heartbeat_interval: Duration::from_secs(60),
            heavy_drop_ratio: 0.1,
            degraded_after: 3,
            guardduty: true,
            securityhub_calls_per_second: 2,
        }
    }

    /// The settings from the process environment.
    ///
    /// Fails when a required variable is unset or a value does not parse.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(environment)
    }

    /// `TABLE_NAME`, `EVENT_BUS_NAME` required; `COVERAGE_QUEUE_ARNS`, `ACCOUNT_ID`,
    /// `TRUSTED_ACCOUNTS`, `COVERAGE_CLUSTERS`, `COVERAGE_GRACE_SECONDS` (600), `STARTUP_GRACE_SECONDS` (120),
    /// `HEARTBEAT_INTERVAL_SECONDS` (60), `HEAVY_DROP_RATIO` (0.1), `DEGRADED_AFTER_HEARTBEATS`
    /// (3), `GUARDDUTY_COVERAGE` (true), `SECURITYHUB_CALLS_PER_SECOND` (2) optional.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let env = Settings::new(get);
        let mut s =
            CoverageSettings::new(env.required("TABLE_NAME")?, env.required("EVENT_BUS_NAME")?);
        s.queue_arns = env.list("COVERAGE_QUEUE_ARNS");
        s.account_id = env.get("ACCOUNT_ID").filter(|a| !a.trim().is_empty());
        s.trusted_accounts = env.list("TRUSTED_ACCOUNTS");
        s.clusters = env
            .list("COVERAGE_CLUSTERS")
            .into_iter()
            .filter(|c| c != "*")
            .collect();
        s.grace = env.seconds("COVERAGE_GRACE_SECONDS", 600)?;
        s.startup_grace = Duration::from_secs(env.number("STARTUP_GRACE_SECONDS", 120)?);
        s.heartbeat_interval = env.seconds("HEARTBEAT_INTERVAL_SECONDS", 60)?;
        s.heavy_drop_ratio = env
            .parsed("HEAVY_DROP_RATIO", |v| match v.parse::<f64>() {
                Ok(r) if r > 0.0 && r <= 1.0 => Ok(r),
                _ => Err(format!("{v:?} is not a share above 0 and at most 1")),
            })?
            .unwrap_or(0.1);
        s.degraded_after = u32::try_from(env.positive("DEGRADED_AFTER_HEARTBEATS", 3)?)
            .map_err(|_| SettingsError::new("DEGRADED_AFTER_HEARTBEATS", "is too large"))?;
        s.guardduty = env.flag("GUARDDUTY_COVERAGE", true)?;
        s.securityhub_calls_per_second =
            u32::try_from(env.positive("SECURITYHUB_CALLS_PER_SECOND", 2)?)
                .map_err(|_| SettingsError::new("SECURITYHUB_CALLS_PER_SECOND", "is too large"))?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<CoverageSettings, SettingsError> {
        CoverageSettings::from_lookup(|k| {
            [("TABLE_NAME", "t"), ("EVENT_BUS_NAME", "b")]
                .iter()
                .chain(pairs)
                .rev()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn defaults_values_and_refusals() {
        let s = with(&[]).unwrap();
        assert_eq!(s.grace, Duration::from_secs(600));
        assert_eq!(s.startup_grace, Duration::from_secs(120));
        assert_eq!(
            with(&[("STARTUP_GRACE_SECONDS", "0")])
                .unwrap()
                .startup_grace,
            Duration::ZERO
        );
        assert_eq!(s.heartbeat_interval, Duration::from_secs(60));
        assert!(s.guardduty && s.clusters.is_empty() && s.trusted_accounts.is_empty());
        assert_eq!((s.heavy_drop_ratio, s.degraded_after), (0.1, 3));
        let s = with(&[
            ("COVERAGE_CLUSTERS", "*"),
            ("TRUSTED_ACCOUNTS", "111111111111, 222222222222"),
            ("COVERAGE_GRACE_SECONDS", "120"),
            ("HEAVY_DROP_RATIO", "0.5"),
            ("GUARDDUTY_COVERAGE", "false"),
        ])
        .unwrap();
        assert!(s.clusters.is_empty());
        assert_eq!(s.trusted_accounts.len(), 2);
        assert_eq!(s.grace, Duration::from_secs(120));
        assert_eq!(s.heavy_drop_ratio, 0.5);
        assert!(!s.guardduty);
        assert_eq!(
            with(&[("HEAVY_DROP_RATIO", "2")]).unwrap_err().name,
            "HEAVY_DROP_RATIO"
        );
        assert_eq!(
            with(&[("COVERAGE_GRACE_SECONDS", "0")]).unwrap_err().name,
            "COVERAGE_GRACE_SECONDS"
        );
        assert!(CoverageSettings::from_lookup(|_| None).is_err());
    }
}
