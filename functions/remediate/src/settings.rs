//! The remediate function's configuration, from its Lambda environment.

use std::path::PathBuf;
use vigil_accounts::MemberAccounts;
use vigil_model::Source;
use vigil_playbook::{Glob, Guardrails, Mode};

/// The deployment-wide switch. It caps every playbook: `dry_run` turns `enforce` playbooks into
/// dry-runs, `off` evaluates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemediationMode {
    /// Nothing is evaluated.
    Off,
    /// Every playbook runs as a dry run (the default).
    DryRun,
    /// Playbooks run in their own mode.
    Enforce,
}

impl RemediationMode {
    /// Reads `off`, `dry_run` (or `dry-run`, `dryrun`) or `enforce`, case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" => Some(RemediationMode::Off),
            "dry_run" | "dry-run" | "dryrun" => Some(RemediationMode::DryRun),
            "enforce" => Some(RemediationMode::Enforce),
            _ => None,
        }
    }

    /// The mode a playbook runs in under this switch.
    pub fn cap(self, playbook: Mode) -> Mode {
        match self {
            RemediationMode::Enforce => playbook,
            _ => Mode::DryRun,
        }
    }
}

pub use vigil_lambda::settings::SettingsError;
use vigil_lambda::settings::{Settings, environment};

/// How long a stop stays held by default (`STOP_HOLD_SECONDS`): longer than the remediate queue
/// retries a message (`maxReceiveCount` 5 × `VisibilityTimeout` 360 s = 1,800 s), so a stop whose
/// StopTask keeps failing keeps its hold for as long as SQS brings it back. A hold that lapses
/// before its stop is made no longer keeps `min_healthy_tasks` (a known limitation: a redriven
/// dead letter can still meet it).
pub const DEFAULT_HOLD_SECONDS: i64 = 3600;

/// The remediate function's settings. Durations are seconds.
#[derive(Debug, Clone)]
pub struct RemediateSettings {
    /// The shared DynamoDB table (`TABLE_NAME`).
    pub table_name: String,
    /// The EventBridge bus `Remediation Executed` goes to (`EVENT_BUS_NAME`).
    pub event_bus_name: String,
    /// The playbook file (`PLAYBOOKS_FILE`, `/opt/vigil/playbooks.yaml`).
    pub playbooks_file: PathBuf,
    /// The deployment-wide switch (`REMEDIATION_MODE`, `dry_run`).
    pub mode: RemediationMode,
    /// The guardrails (`TRUSTED_SOURCES`, `TRUSTED_ACCOUNTS`, `ALLOWED_CLUSTERS`, `PROTECT_TAG`,
    /// `PROTECTED_SERVICES`, `PROTECTED_CLUSTERS`, `STOP_LIMIT_PER_SERVICE`,
    /// `STOP_LIMIT_PER_CLUSTER`, `STOP_LIMIT_WINDOW_SECONDS`, `MAX_FINDING_AGE_SECONDS`).
    pub guardrails: Guardrails,
    /// How long a claim on an action record is exclusive; a crashed attempt's claim expires after it.
    pub lease_seconds: i64,
    /// How long action records are kept (TTL).
    pub retention_seconds: i64,
    /// The queue the event source mapping reads (`REMEDIATE_QUEUE_ARNS`). When set, records naming
    /// any other source are not processed: only that queue's rules can put messages on it.
    pub queue_arns: Vec<String>,
    /// How long a stop stays held against its service's `min_healthy_tasks` when ECS never confirms
    /// it STOPPED (`STOP_HOLD_SECONDS`); a confirmed stop releases its hold at once.
    pub hold_seconds: i64,
    /// The queue approvals arrive on (`APPROVAL_QUEUE_ARN`): a record is an approval only when it
    /// comes from this queue. Unset: nothing is approved.
    pub approval_queue_arn: Option<String>,
    /// The Security Hub custom action an approval must name (`APPROVAL_ACTION_TARGET_ARN`).
    pub approval_action_target_arn: Option<String>,
    /// How long after a proposal an approval is accepted (`APPROVAL_TTL_SECONDS`, 86400).
    pub approval_ttl_seconds: u64,
    /// The regions tasks are stopped and tagged in (`ALLOWED_REGIONS`, globs, default `*`), as the
    /// role's `ecs:StopTask` allows: a task elsewhere is recorded aside, never called.
    pub allowed_regions: Vec<Glob>,
    /// The deploying account (`ACCOUNT_ID`): called with the function's own role. Unset: every
    /// account that is not a member is called with it, as a single-account Vigil does.
    pub account_id: Option<String>,
    /// The member accounts whose tasks and Security Hub findings are reached through their member
    /// role (`MEMBER_ACCOUNTS`, `MEMBER_ROLE_NAME`, `MEMBER_EXTERNAL_ID`). Trust is still
    /// `TRUSTED_ACCOUNTS`': a member account that is not trusted is never acted in.
    pub members: MemberAccounts,
}

impl RemediateSettings {
    /// The defaults for a table and a bus: `dry_run`, default guardrails, a 60-second lease, 90
    /// days' retention, a one-hour hold ([`DEFAULT_HOLD_SECONDS`]), no approvals.
    pub fn new(table_name: impl Into<String>, event_bus_name: impl Into<String>) -> Self {
        RemediateSettings {
            table_name: table_name.into(),
            event_bus_name: event_bus_name.into(),
            playbooks_file: PathBuf::from("/opt/vigil/playbooks.yaml"),
            mode: RemediationMode::DryRun,
            guardrails: Guardrails::default(),
            lease_seconds: 60,
            retention_seconds: 90 * 86_400,
            queue_arns: Vec::new(),
            hold_seconds: DEFAULT_HOLD_SECONDS,
            approval_queue_arn: None,
            approval_action_target_arn: None,
            approval_ttl_seconds: 86_400,
            allowed_regions: vec![Glob::new("*").expect("a valid glob")],
            account_id: None,
            members: MemberAccounts::none(),
        }
    }

    /// Reads the settings from the Lambda environment; errors name the variable that is missing or
    /// unreadable.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(environment)
    }

    /// Reads the settings through `get` (the environment in Lambda; a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let env = Settings::new(get);
        let globs = |k: &str| env.list_of(k, |s| Glob::new(s).map_err(|e| e.to_string()));

        let mut s =
            RemediateSettings::new(env.required("TABLE_NAME")?, env.required("EVENT_BUS_NAME")?);
        if let Some(path) = env.get("PLAYBOOKS_FILE") {
            s.playbooks_file = PathBuf::from(path);
        }
        if let Some(mode) = env.parsed("REMEDIATION_MODE", |v| {
            RemediationMode::parse(v)
                .ok_or_else(|| format!("{v:?}: expected off, dry_run or enforce"))
        })? {
            s.mode = mode;
        }
        let g = &mut s.guardrails;
        let sources = env.list_of("TRUSTED_SOURCES", |v| {
            Source::parse(v).ok_or_else(|| format!("unknown source {v:?}"))
        })?;
        if !sources.is_empty() {
            g.trusted_sources = sources;
        }
        g.trusted_accounts.extend(env.list("TRUSTED_ACCOUNTS"));
        let clusters = globs("ALLOWED_CLUSTERS")?;
        if !clusters.is_empty() {
            g.allowed_clusters = clusters;
        }
        if let Some(tag) = env.get("PROTECT_TAG").filter(|t| !t.trim().is_empty()) {
            let (k, v) = tag.split_once('=').unwrap_or((tag.as_str(), "true"));
            g.protect_tag = (k.trim().to_owned(), v.trim().to_owned());
        }
        g.protected_services = globs("PROTECTED_SERVICES")?;
        g.protected_clusters = globs("PROTECTED_CLUSTERS")?;
        g.stop_limit_per_service = env.number("STOP_LIMIT_PER_SERVICE", 3)?;
        g.stop_limit_per_cluster = env.number("STOP_LIMIT_PER_CLUSTER", 10)?;
        g.stop_limit_window_seconds = env.number("STOP_LIMIT_WINDOW_SECONDS", 3600u64)?.max(1);
        g.max_finding_age_seconds = env.number("MAX_FINDING_AGE_SECONDS", 3600u64)?.max(1);
        s.queue_arns = env.list("REMEDIATE_QUEUE_ARNS");
        s.hold_seconds = env
            .number("STOP_HOLD_SECONDS", DEFAULT_HOLD_SECONDS)?
            .max(60);
        let text = |k: &str| {
            env.get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        s.approval_queue_arn = text("APPROVAL_QUEUE_ARN");
        s.approval_action_target_arn = text("APPROVAL_ACTION_TARGET_ARN");
        s.approval_ttl_seconds = env.number("APPROVAL_TTL_SECONDS", 86_400u64)?.max(1);
        let regions = globs("ALLOWED_REGIONS")?;
        if !regions.is_empty() {
            s.allowed_regions = regions;
        }
        s.account_id = text("ACCOUNT_ID");
        s.members = MemberAccounts::from_lookup(|k| env.get(k));
        // Approvals are recognised by the queue they arrive on: it cannot be a queue that takes
        // other input too.
        if let Some(q) = &s.approval_queue_arn
            && s.queue_arns.contains(q)
        {
            return Err(SettingsError::new(
                "APPROVAL_QUEUE_ARN",
                format!("{q} is also in REMEDIATE_QUEUE_ARNS: approvals need a queue of their own"),
            ));
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<RemediateSettings, SettingsError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        RemediateSettings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_the_safe_ones() {
        let s = settings(&[("TABLE_NAME", "t"), ("EVENT_BUS_NAME", "b")]).unwrap();
        assert_eq!(s.mode, RemediationMode::DryRun);
        assert_eq!(s.mode.cap(Mode::Enforce), Mode::DryRun);
        assert_eq!(s.guardrails.stop_limit_per_service, 3);
        assert_eq!(s.approval_ttl_seconds, 86_400);
        assert!(s.approval_queue_arn.is_none() && s.approval_action_target_arn.is_none());
        // The switch caps approve playbooks too: only enforce lets them propose.
        assert_eq!(RemediationMode::Off.cap(Mode::Approve), Mode::DryRun);
        assert_eq!(RemediationMode::DryRun.cap(Mode::Approve), Mode::DryRun);
        assert_eq!(RemediationMode::Enforce.cap(Mode::Approve), Mode::Approve);
        assert_eq!(
            s.guardrails.protect_tag,
            ("vigil:protected".into(), "true".into())
        );
    }

    #[test]
    fn reads_lists_and_refuses_nonsense() {
        let s = settings(&[
            ("TABLE_NAME", "t"),
            ("EVENT_BUS_NAME", "b"),
            ("REMEDIATION_MODE", "enforce"),
            ("TRUSTED_SOURCES", "falco, guardduty"),
            ("TRUSTED_ACCOUNTS", "111111111111,222222222222"),
            ("ALLOWED_CLUSTERS", "prod,arn:aws:ecs:*:cluster/edge-*"),
            ("ALLOWED_REGIONS", "us-east-1, eu-*"),
            ("PROTECT_TAG", "keep=yes"),
        ])
        .unwrap();
        let allowed = |r: &str| s.allowed_regions.iter().any(|g| g.matches(r));
        assert!(allowed("us-east-1") && allowed("eu-west-3") && !allowed("ap-south-1"));
        assert_eq!(s.mode.cap(Mode::Enforce), Mode::Enforce);
        assert_eq!(
            s.guardrails.trusted_sources,
            [Source::Falco, Source::Guardduty]
        );
        assert_eq!(s.guardrails.trusted_accounts.len(), 2);
        assert_eq!(s.guardrails.allowed_clusters.len(), 2);
        assert_eq!(s.guardrails.protect_tag, ("keep".into(), "yes".into()));
        assert!(settings(&[("TABLE_NAME", "t")]).is_err());
        assert!(
            settings(&[
                ("TABLE_NAME", "t"),
                ("EVENT_BUS_NAME", "b"),
                ("REMEDIATION_MODE", "yolo")
            ])
            .is_err()
        );
        assert!(
            settings(&[
                ("TABLE_NAME", "t"),
                ("EVENT_BUS_NAME", "b"),
                ("TRUSTED_SOURCES", "nessus")
            ])
            .is_err()
        );
        assert!(
            settings(&[
                ("TABLE_NAME", "t"),
                ("EVENT_BUS_NAME", "b"),
                ("STOP_LIMIT_PER_SERVICE", "-1")
            ])
            .is_err()
        );
        let s = settings(&[
            ("TABLE_NAME", "t"),
            ("EVENT_BUS_NAME", "b"),
            ("REMEDIATE_QUEUE_ARNS", "arn:aws:sqs:us-east-1:1:r"),
            ("APPROVAL_QUEUE_ARN", "arn:aws:sqs:us-east-1:1:a"),
            (
                "APPROVAL_ACTION_TARGET_ARN",
                "arn:aws:securityhub:us-east-1:1:action/custom/A",
            ),
            ("APPROVAL_TTL_SECONDS", "3600"),
        ])
        .unwrap();
        assert_eq!(
            s.approval_queue_arn.as_deref(),
            Some("arn:aws:sqs:us-east-1:1:a")
        );
        assert_eq!(s.approval_ttl_seconds, 3600);
        assert!(
            settings(&[
                ("TABLE_NAME", "t"),
                ("EVENT_BUS_NAME", "b"),
                ("REMEDIATE_QUEUE_ARNS", "arn:aws:sqs:us-east-1:1:r"),
                ("APPROVAL_QUEUE_ARN", "arn:aws:sqs:us-east-1:1:r"),
            ])
            .is_err(),
            "approvals need a queue of their own"
        );
        assert!(
            settings(&[
                ("TABLE_NAME", "t"),
                ("EVENT_BUS_NAME", "b"),
                ("APPROVAL_TTL_SECONDS", "a day")
            ])
            .is_err()
        );
    }
}
