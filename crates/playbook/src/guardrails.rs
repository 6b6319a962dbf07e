//! Guardrails: the checks that stand between a matching playbook and a stopped task. Pure: the
//! function gathers the facts (a fresh DescribeTasks, the service's running tasks, Vigil's own
//! records) and this decides, so the CLI shows the same verdicts without AWS. Every check is
//! recorded, passed or not.

use crate::file::{Action, Glob, Mode, Playbook};
use crate::subject::Subject;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use vigil_model::{Arrival, Source};

/// The only EventBridge `source` a `Finding Enriched` may come from.
pub use vigil_contract::SOURCE as VIGIL_SOURCE;

/// The deployment's guardrail settings (the remediate function's environment; the CLI's flags).
/// The default trusts every source, no account but the deploying one, and every cluster.
#[derive(Debug, Clone)]
pub struct Guardrails {
    /// Sources whose findings may act (the `trusted_source` guardrail).
    pub trusted_sources: Vec<Source>,
    /// Accounts whose findings may act; the deploying account is always added.
    pub trusted_accounts: BTreeSet<String>,
    /// Clusters (names or ARNs, globs) tasks may be acted on in; `*` for every cluster.
    pub allowed_clusters: Vec<Glob>,
    /// A task, service or cluster tagged with this key and value is never stopped.
    /// The value is compared case-insensitively.
    pub protect_tag: (String, String),
    /// Services (names, globs) whose tasks are never stopped.
    pub protected_services: Vec<Glob>,
    /// Clusters (names or ARNs, globs) whose tasks are never stopped.
    pub protected_clusters: Vec<Glob>,
    /// Stops at most per service in a window.
    pub stop_limit_per_service: u32,
    /// Stops at most per cluster in a window.
    pub stop_limit_per_cluster: u32,
    /// The rate limits' window, in seconds.
    pub stop_limit_window_seconds: u64,
    /// A finding last observed longer ago than this is not acted on (an archive replay, or a
    /// backlog after a switch from `dry_run` to `enforce`).
    pub max_finding_age_seconds: u64,
}

impl Default for Guardrails {
    fn default() -> Self {
        Guardrails {
            trusted_sources: vec![Source::Falco, Source::Sysdig, Source::Guardduty],
            trusted_accounts: BTreeSet::new(),
            allowed_clusters: vec![Glob::new("*").expect("a valid glob")],
            protect_tag: ("vigil:protected".into(), "true".into()),
            protected_services: Vec::new(),
            protected_clusters: Vec::new(),
            stop_limit_per_service: 3,
            stop_limit_per_cluster: 10,
            stop_limit_window_seconds: 3600,
            max_finding_age_seconds: 3600,
        }
    }
}

/// What Vigil's own dedup record says of the message's finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vouch<'a> {
    /// Not looked up (the CLI, without AWS).
    NotChecked,
    /// The record agrees with the message.
    Vouched,
    /// The record disagrees, or there is none: why.
    Disputed(&'a str),
}

/// The message that carried the finding to remediation.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The EventBridge `source` of the message (`vigil` for `Finding Enriched`).
    pub event_source: &'a str,
    /// The account that sent the finding's event to Vigil, as ingest recorded it (the finding's
    /// provenance, checked against the dedup record: see `vouch`).
    pub event_account: Option<&'a str>,
    /// When remediation decides; `None` where no clock applies (the CLI).
    pub now: Option<DateTime<Utc>>,
    /// What Vigil's dedup record says of the finding (the `recorded_origin` guardrail).
    pub vouch: Vouch<'a>,
}

/// The task as a fresh DescribeTasks (and its service and cluster) saw it just now.
#[derive(Debug, Clone)]
pub enum LiveTask {
    /// ECS reports the task RUNNING.
    Running {
        /// The cluster ECS reports the task in: rate limits count it, never a claimed one.
        cluster_arn: String,
        /// The task's tags, key to value.
        tags: BTreeMap<String, String>,
        /// The cluster's tags, key to value.
        cluster_tags: BTreeMap<String, String>,
        /// The service that started the task (from its `group`, `service:NAME`), if any.
        service: Option<LiveService>,
        /// The runtime ids of the task's containers, as ECS reports them.
        runtime_ids: Vec<String>,
    },
    /// Described, but not RUNNING (its last status).
    NotRunning(String),
    /// ECS does not know the task (MISSING) or there is no task to act on.
    Missing(String),
    /// Not looked up (the CLI, without AWS).
    Unknown,
}

/// The task's service now: its tags, the tasks ECS runs for it and Vigil's stops in flight.
#[derive(Debug, Clone)]
pub struct LiveService {
    /// The service's name (not its ARN).
    pub name: String,
    /// The service's tags, key to value.
    pub tags: BTreeMap<String, String>,
    /// ARNs of the service's tasks that are RUNNING and meant to stay so (desired RUNNING).
    pub running_tasks: BTreeSet<String>,
    /// ARNs of tasks Vigil reserved a stop of that ECS has not yet confirmed STOPPED: no longer
    /// healthy, whatever ECS lists.
    pub held: BTreeSet<String>,
}

/// Each guardrail, by the name the decision record and the CLI show (snake case, the same for
/// serde and [`Guardrail::as_str`]).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::Display,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Guardrail {
    /// The message came from Vigil's own source and the finding's source is trusted.
    TrustedSource,
    /// Vigil's dedup record vouches for the message (see [`Vouch`]).
    RecordedOrigin,
    /// The sender's, the finding's and the task's accounts are all trusted.
    TrustedAccount,
    /// The task's cluster is one tasks may be acted on in.
    AllowedCluster,
    /// The finding came through an entry point that may carry its source.
    Provenance,
    /// The workload's identity holds together and the container is one of the task's.
    Identity,
    /// The finding was last observed recently enough (`max_finding_age_seconds`).
    Fresh,
    /// The finding is not a source's sample.
    NotASample,
    /// Neither the task, its service nor its cluster is protected (tag or list).
    Protected,
    /// The task is RUNNING now.
    TaskRunning,
    /// The service keeps `min_healthy_tasks` running tasks after the stop.
    MinHealthy,
    /// The stop fits under the per-service and per-cluster limits.
    RateLimit,
    /// For `mode: approve`: the analyst's approval came within the proposal's time to live.
    Approval,
}

impl Guardrail {
    /// The guardrail's name, as recorded.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Checks that apply to everyone: when one fails, the event may be forged and must not touch
    /// the finding's records or Security Hub.
    pub const fn is_trust(self) -> bool {
        matches!(
            self,
            Guardrail::TrustedSource
                | Guardrail::RecordedOrigin
                | Guardrail::TrustedAccount
                | Guardrail::AllowedCluster
                | Guardrail::Provenance
                | Guardrail::Identity
                | Guardrail::Fresh
        )
    }
}

/// One guardrail's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The check holds.
    Pass,
    /// The check does not hold: the decision does not act.
    Fail,
    /// The check does not apply to these actions.
    NotApplicable,
    /// Needs AWS (the CLI shows it without deciding).
    Unknown,
}

impl Verdict {
    /// `Pass` when `ok`, else `Fail`.
    pub fn pass_if(ok: bool) -> Verdict {
        if ok { Verdict::Pass } else { Verdict::Fail }
    }
}

/// One guardrail's verdict and why, as the decision record and the CLI show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The guardrail checked.
    pub guardrail: Guardrail,
    /// What it said.
    pub verdict: Verdict,
    /// Why, for people (the values compared).
    pub detail: String,
}

/// What happens, before the rate limit (which the function checks atomically as it acts). Named
/// in snake case, the same for serde and [`Outcome::as_str`].
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::Display,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    /// Enforce: act (stop and/or tag).
    Act,
    /// Dry-run: would act; nothing is changed.
    DryRun,
    /// The playbook only records.
    Recorded,
    /// A guardrail said no.
    Refused,
    /// The task is not running (or gone): nothing to do.
    NotRunning,
    /// Over the stop limit: recorded instead of acted on.
    RateLimited,
    /// `mode: approve`: every guardrail passed and the plan is recorded; nothing is done until an
    /// analyst approves it.
    AwaitingApproval,
}

impl Outcome {
    /// The outcome's name, as recorded.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// A final decision is never made again for the same finding and task. A refusal, a stop over
    /// the limit or a task found not running is recorded but decided again when the finding next
    /// arrives: the window, the tags or the task may have changed by then. So is a proposal
    /// awaiting approval: the finding arriving again proposes afresh, on the state of then, and
    /// its time to live starts again.
    pub const fn is_final(self) -> bool {
        matches!(self, Outcome::Act | Outcome::DryRun | Outcome::Recorded)
    }
}

/// An analyst's approval of a proposal (`mode: approve`), as far as the decision needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Approval {
    /// When the proposal was decided: the finding's freshness is judged at this time.
    pub proposed_at: DateTime<Utc>,
    /// When Security Hub sent the approval (the event's `time`).
    pub approved_at: DateTime<Utc>,
    /// How long a proposal can be approved (`APPROVAL_TTL_SECONDS`).
    pub ttl_seconds: u64,
}

/// Every guardrail's verdict for one playbook and what follows from them.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// What happens (before the rate limit, see [`Evaluation::rate_limited`]).
    pub outcome: Outcome,
    /// One check per guardrail, in the order they are evaluated.
    pub checks: Vec<Check>,
    /// The first failed check, for the record and the note.
    pub reason: Option<String>,
}

impl Evaluation {
    /// True when one of the checks that apply to everyone failed (see [`Guardrail::is_trust`]).
    pub fn untrusted(&self) -> bool {
        self.checks
            .iter()
            .any(|c| c.verdict == Verdict::Fail && c.guardrail.is_trust())
    }

    /// The check of `guardrail`.
    pub fn check(&self, guardrail: Guardrail) -> Option<&Check> {
        self.checks.iter().find(|c| c.guardrail == guardrail)
    }

    /// The guardrail that said no, if one did.
    pub fn failed(&self) -> Option<Guardrail> {
        self.checks
            .iter()
            .find(|c| c.verdict == Verdict::Fail)
            .map(|c| c.guardrail)
    }

    /// The counters refused the stop: record it, do not act.
    pub fn rate_limited(&mut self, detail: String) {
        self.set(Guardrail::RateLimit, Verdict::Fail, detail.clone());
        self.outcome = Outcome::RateLimited;
        self.reason = Some(format!("rate_limit: {detail}"));
    }

    /// The counters took the stop: the rate limit passes.
    pub fn within_rate(&mut self, detail: String) {
        self.set(Guardrail::RateLimit, Verdict::Pass, detail);
    }

    fn set(&mut self, guardrail: Guardrail, verdict: Verdict, detail: String) {
        if let Some(c) = self.checks.iter_mut().find(|c| c.guardrail == guardrail) {
            c.verdict = verdict;
            c.detail = detail;
        }
    }
}

fn check(guardrail: Guardrail, verdict: Verdict, detail: impl Into<String>) -> Check {
    Check {
        guardrail,
        verdict,
        detail: detail.into(),
    }
}

fn account_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

impl Guardrails {
    /// Evaluates every guardrail for `playbook` (already matched) in `mode`. The rate limit is left
    /// `Unknown` here; the caller consults its counters when the outcome is `Act` with a stop.
    pub fn evaluate(
        &self,
        playbook: &Playbook,
        mode: Mode,
        subject: &Subject<'_>,
        origin: Origin<'_>,
        live: &LiveTask,
    ) -> Evaluation {
        self.evaluate_approved(playbook, mode, subject, origin, live, None)
    }

    /// [`Guardrails::evaluate`], for a decision an analyst may have approved. In `approve` mode
    /// without an approval every guardrail is evaluated and, where the decision would act, the
    /// outcome is `awaiting_approval`; with one, the decision acts as `enforce` would if the
    /// approval came within the proposal's time to live. The finding's freshness is judged at
    /// the proposal: the approval's own age is the `approval` guardrail's.
    pub fn evaluate_approved(
        &self,
        playbook: &Playbook,
        mode: Mode,
        subject: &Subject<'_>,
        origin: Origin<'_>,
        live: &LiveTask,
        approval: Option<&Approval>,
    ) -> Evaluation {
        let judged_at = Origin {
            now: approval.map(|a| a.proposed_at).or(origin.now),
            ..origin
        };
        let mut checks = vec![
            self.source_check(subject, origin),
            vouch_check(origin.vouch),
            self.account_check(subject, origin),
            self.cluster_check(subject),
            provenance_check(subject),
            identity_check(subject, live),
            self.fresh_check(subject, judged_at),
            sample_check(subject),
            approval_check(mode, approval),
        ];
        let approved = mode == Mode::Approve && approval.is_some();
        checks.extend(self.task_checks(playbook, mode, approved, subject, live));
        let stops = playbook.stops();
        let mutates = stops || playbook.actions.contains(&Action::TagTask);
        let failed = checks.iter().find(|c| c.verdict == Verdict::Fail);
        let outcome = match failed {
            Some(c) if c.guardrail == Guardrail::TaskRunning => Outcome::NotRunning,
            Some(_) => Outcome::Refused,
            None if !mutates => Outcome::Recorded,
            None if mode == Mode::DryRun => Outcome::DryRun,
            None if mode == Mode::Approve && !approved => Outcome::AwaitingApproval,
            None => Outcome::Act,
        };
        Evaluation {
            outcome,
            reason: failed.map(|c| format!("{}: {}", c.guardrail, c.detail)),
            checks,
        }
    }

    /// The checks on the task as it is now: protection, running, what its service keeps, limits.
    fn task_checks(
        &self,
        playbook: &Playbook,
        mode: Mode,
        approved: bool,
        subject: &Subject<'_>,
        live: &LiveTask,
    ) -> [Check; 4] {
        let stops = playbook.stops();
        let mutates = stops || playbook.actions.contains(&Action::TagTask);
        let protected = match (stops, self.protection(subject, live)) {
            (false, _) => check(
                Guardrail::Protected,
                Verdict::NotApplicable,
                "the playbook does not stop tasks",
            ),
            (true, None) => check(
                Guardrail::Protected,
                Verdict::Unknown,
                "needs the task's live tags",
            ),
            (true, Some(why)) if why.is_empty() => {
                check(Guardrail::Protected, Verdict::Pass, "not protected")
            }
            (true, Some(why)) => check(Guardrail::Protected, Verdict::Fail, why.join("; ")),
        };
        let running = match live {
            _ if !mutates => check(
                Guardrail::TaskRunning,
                Verdict::NotApplicable,
                "the playbook only records",
            ),
            LiveTask::Running { .. } => check(Guardrail::TaskRunning, Verdict::Pass, "RUNNING"),
            LiveTask::NotRunning(s) => check(
                Guardrail::TaskRunning,
                Verdict::Fail,
                format!("task is {s}"),
            ),
            LiveTask::Missing(why) => check(Guardrail::TaskRunning, Verdict::Fail, why.clone()),
            LiveTask::Unknown => check(
                Guardrail::TaskRunning,
                Verdict::Unknown,
                "needs a fresh DescribeTasks",
            ),
        };
        let rate = if stops && mode == Mode::Approve && !approved {
            check(
                Guardrail::RateLimit,
                Verdict::NotApplicable,
                "counted when the stop is approved",
            )
        } else if stops && matches!(mode, Mode::Enforce | Mode::Approve) {
            check(
                Guardrail::RateLimit,
                Verdict::Unknown,
                format!(
                    "at most {} stops per service and {} per cluster in {} s",
                    self.stop_limit_per_service,
                    self.stop_limit_per_cluster,
                    self.stop_limit_window_seconds
                ),
            )
        } else {
            check(
                Guardrail::RateLimit,
                Verdict::NotApplicable,
                "no stop is made",
            )
        };
        [
            protected,
            running,
            min_healthy_check(playbook, subject.task_arn(), live),
            rate,
        ]
    }

    fn source_check(&self, subject: &Subject<'_>, origin: Origin<'_>) -> Check {
        let f = subject.finding;
        let ok = origin.event_source == VIGIL_SOURCE && self.trusted_sources.contains(&f.source);
        let trusted: Vec<&str> = self.trusted_sources.iter().map(|s| s.as_str()).collect();
        check(
            Guardrail::TrustedSource,
            Verdict::pass_if(ok),
            format!(
                "event source {:?}, finding source {}; trusted: {}",
                origin.event_source,
                f.source,
                trusted.join(", ")
            ),
        )
    }

    /// Every account on the way must be trusted: the sender's, the finding's, and the task's.
    fn account_check(&self, subject: &Subject<'_>, origin: Origin<'_>) -> Check {
        let accounts = [
            ("sender", origin.event_account),
            ("finding", subject.finding.account.as_deref()),
            ("task", subject.task_arn().and_then(account_of)),
        ];
        let untrusted: Vec<String> = accounts
            .iter()
            .filter(|(_, a)| !a.is_some_and(|a| self.trusted_accounts.contains(a)))
            .map(|(what, a)| format!("{what} account {}", a.unwrap_or("unknown")))
            .collect();
        if untrusted.is_empty() {
            check(
                Guardrail::TrustedAccount,
                Verdict::Pass,
                "sender, finding and task accounts are trusted",
            )
        } else {
            check(
                Guardrail::TrustedAccount,
                Verdict::Fail,
                format!("not trusted: {}", untrusted.join(", ")),
            )
        }
    }

    fn cluster_check(&self, subject: &Subject<'_>) -> Check {
        let names: Vec<&str> = subject
            .cluster_arn()
            .into_iter()
            .chain(subject.cluster_name())
            .collect();
        let ok = self
            .allowed_clusters
            .iter()
            .any(|g| names.iter().any(|c| g.matches(c)));
        check(
            Guardrail::AllowedCluster,
            Verdict::pass_if(ok),
            format!("cluster {}", subject.cluster_arn().unwrap_or("unknown")),
        )
    }

    fn fresh_check(&self, subject: &Subject<'_>, origin: Origin<'_>) -> Check {
        let Some(now) = origin.now else {
            return check(
                Guardrail::Fresh,
                Verdict::Unknown,
                "needs the time of the decision",
            );
        };
        let age = (now - subject.finding.last_observed_at).num_seconds();
        if age > i64::try_from(self.max_finding_age_seconds).unwrap_or(i64::MAX) {
            check(
                Guardrail::Fresh,
                Verdict::Fail,
                format!(
                    "last observed {age} s ago, over the {} s limit (a replay or a backlog)",
                    self.max_finding_age_seconds
                ),
            )
        } else {
            check(
                Guardrail::Fresh,
                Verdict::Pass,
                format!("last observed {age} s ago"),
            )
        }
    }

    /// Why the task is protected (empty: it is not), from the live tags of the task, its service
    /// and its cluster, and the configured lists; `None` without a live look.
    fn protection(&self, subject: &Subject<'_>, live: &LiveTask) -> Option<Vec<String>> {
        let LiveTask::Running {
            cluster_arn,
            tags,
            cluster_tags,
            service,
            ..
        } = live
        else {
            return None;
        };
        let (key, value) = &self.protect_tag;
        let tagged = |t: &BTreeMap<String, String>| {
            t.get(key).is_some_and(|v| v.eq_ignore_ascii_case(value))
        };
        let mut why = Vec::new();
        if tagged(tags) {
            why.push(format!("task tag {key}={value}"));
        }
        if let Some(s) = service {
            if tagged(&s.tags) {
                why.push(format!("service tag {key}={value}"));
            }
            if self.protected_services.iter().any(|g| g.matches(&s.name)) {
                why.push(format!("service {} is protected", s.name));
            }
        }
        if tagged(cluster_tags) {
            why.push(format!("cluster tag {key}={value}"));
        }
        let cluster_name = cluster_arn.rsplit('/').next().unwrap_or(cluster_arn);
        let names = [cluster_arn.as_str(), cluster_name]
            .into_iter()
            .chain(subject.cluster_arn())
            .chain(subject.cluster_name());
        let names: Vec<&str> = names.collect();
        if self
            .protected_clusters
            .iter()
            .any(|g| names.iter().any(|c| g.matches(c)))
        {
            why.push("cluster is protected".into());
        }
        Some(why)
    }
}

/// The approval of a proposal must come within its time to live; without one, an `approve`
/// decision waits for it.
fn approval_check(mode: Mode, approval: Option<&Approval>) -> Check {
    match (mode, approval) {
        (Mode::Approve, None) => check(
            Guardrail::Approval,
            Verdict::Unknown,
            "awaits an analyst's approval in Security Hub",
        ),
        (Mode::Approve, Some(a)) => {
            let age = (a.approved_at - a.proposed_at).num_seconds();
            let ttl = i64::try_from(a.ttl_seconds).unwrap_or(i64::MAX);
            if age > ttl {
                check(
                    Guardrail::Approval,
                    Verdict::Fail,
                    format!(
                        "expired: approved {age} s after the proposal ({}), over the {ttl} s limit",
                        a.proposed_at.to_rfc3339()
                    ),
                )
            } else if age < 0 {
                check(
                    Guardrail::Approval,
                    Verdict::Fail,
                    format!(
                        "the approval is dated before the proposal ({})",
                        a.proposed_at.to_rfc3339()
                    ),
                )
            } else {
                check(
                    Guardrail::Approval,
                    Verdict::Pass,
                    format!("approved {age} s after the proposal"),
                )
            }
        }
        _ => check(
            Guardrail::Approval,
            Verdict::NotApplicable,
            "the playbook does not ask for approval",
        ),
    }
}

fn vouch_check(vouch: Vouch<'_>) -> Check {
    match vouch {
        Vouch::NotChecked => check(
            Guardrail::RecordedOrigin,
            Verdict::Unknown,
            "needs Vigil's dedup record",
        ),
        Vouch::Vouched => check(
            Guardrail::RecordedOrigin,
            Verdict::Pass,
            "the dedup record agrees with the message",
        ),
        Vouch::Disputed(why) => check(Guardrail::RecordedOrigin, Verdict::Fail, why),
    }
}

/// The entry point the finding came through must be one that may carry its source: AWS's own
/// findings only from the default bus, agents' only from the agent bus or the direct entry point;
/// a locally read finding never acts.
fn provenance_check(subject: &Subject<'_>) -> Check {
    let f = subject.finding;
    let arrival = f.provenance.arrival;
    let ok = match f.source {
        Source::Guardduty => arrival == Arrival::AwsService,
        _ => matches!(arrival, Arrival::AgentBus | Arrival::DirectInvoke),
    };
    check(
        Guardrail::Provenance,
        Verdict::pass_if(ok),
        format!("{} finding arrived by {}", f.source, arrival.as_str()),
    )
}

/// What the event said about its workload must hold together, and the container it names must be
/// one of the task's own (a non-ECS container, or any agent, can put a victim's task ARN in its
/// labels).
fn identity_check(subject: &Subject<'_>, live: &LiveTask) -> Check {
    let f = subject.finding;
    let task_arn = subject.task_arn();
    let mut conflicts = f.identity_conflicts.clone();
    let named_task = f.resource.task_arn.as_deref();
    if let (Some(named), Some(acted_on)) = (named_task, task_arn)
        && named != acted_on
    {
        conflicts.push(format!(
            "the enrichment names task {acted_on}, the finding {named}"
        ));
    }
    if let Some(task_account) = task_arn.and_then(account_of)
        && f.account.as_deref() != Some(task_account)
    {
        conflicts.push(format!(
            "the task is in account {task_account}, not the finding's account {}",
            f.account.as_deref().unwrap_or("unknown")
        ));
    }
    if let LiveTask::Running { runtime_ids, .. } = live {
        let container = &f.resource.container;
        let among = container.is_among(runtime_ids.iter().map(String::as_str));
        // A task found only through the alert's container id must be shown to run it.
        let required = named_task.is_none();
        if among == Some(false) || (required && among != Some(true)) {
            conflicts.push(format!(
                "container {} is not a container of the task",
                container.short_id().unwrap_or_else(|| "(none)".into())
            ));
        }
    }
    if conflicts.is_empty() {
        check(
            Guardrail::Identity,
            Verdict::Pass,
            "the workload's identity holds together",
        )
    } else {
        check(
            Guardrail::Identity,
            Verdict::Fail,
            format!("identity_mismatch: {}", conflicts.join("; ")),
        )
    }
}

/// A source's sample finding (GuardDuty's "Generate sample findings") tests the wiring; its task is
/// made up, or worse, a real one named by chance.
fn sample_check(subject: &Subject<'_>) -> Check {
    if subject.finding.is_sample() {
        check(
            Guardrail::NotASample,
            Verdict::Fail,
            "the source generated this finding as a sample",
        )
    } else {
        check(Guardrail::NotASample, Verdict::Pass, "a real finding")
    }
}

/// The service must keep `min_healthy_tasks` running tasks after this stop, counting only tasks
/// ECS runs now that Vigil has not already reserved a stop of (ECS's `runningCount` lags a stop by
/// seconds, and concurrent decisions do not see each other's StopTask).
fn min_healthy_check(playbook: &Playbook, task_arn: Option<&str>, live: &LiveTask) -> Check {
    let min = playbook.min_healthy_tasks();
    let service = match live {
        _ if !playbook.stops() => {
            return check(
                Guardrail::MinHealthy,
                Verdict::NotApplicable,
                "the playbook does not stop tasks",
            );
        }
        _ if min == 0 => {
            return check(
                Guardrail::MinHealthy,
                Verdict::Pass,
                "min_healthy_tasks: 0 (allow_last_task)",
            );
        }
        LiveTask::Running { service: None, .. } => {
            return check(
                Guardrail::MinHealthy,
                Verdict::Pass,
                "the task belongs to no service",
            );
        }
        LiveTask::Running {
            service: Some(s), ..
        } => s,
        _ => {
            return check(
                Guardrail::MinHealthy,
                Verdict::Unknown,
                "needs the service's running tasks",
            );
        }
    };
    let left = service
        .running_tasks
        .iter()
        .filter(|t| !service.held.contains(*t) && Some(t.as_str()) != task_arn)
        .count();
    let pending = service.held.len();
    let detail = format!(
        "service {} keeps {left} running task(s) after this stop, min_healthy_tasks {min} ({pending} stop(s) by Vigil not yet confirmed)",
        service.name
    );
    check(
        Guardrail::MinHealthy,
        Verdict::pass_if(left >= min as usize),
        detail,
    )
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::PlaybookFile;
    use vigil_model::fixtures::terminal_shell;
    use vigil_model::{Enrichment, TaskInfo};

    const ACCOUNT: &str = "123456789012";

    fn guardrails() -> Guardrails {
        Guardrails {
            trusted_accounts: [ACCOUNT.to_owned()].into(),
            ..Guardrails::default()
        }
    }

    fn stop_playbook(extra: &str) -> PlaybookFile {
        PlaybookFile::parse(&format!(
            "version: 1\nplaybooks:\n  - name: p\n    match: {{sources: [falco]}}\n    actions: [stop_task]\n{extra}"
        ))
        .unwrap()
    }

    /// The task of the fixture finding, running in service `shop` beside `count - 1` others.
    fn running(count: usize, task_tags: &[(&str, &str)]) -> LiveTask {
        let task = terminal_shell(ACCOUNT, "us-east-1")
            .resource
            .task_arn
            .unwrap();
        let others = (1..count).map(|i| format!("{task}-{i}"));
        LiveTask::Running {
            cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/prod".into(),
            tags: task_tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cluster_tags: BTreeMap::new(),
            service: Some(LiveService {
                name: "shop".into(),
                tags: BTreeMap::new(),
                running_tasks: std::iter::once(task.clone()).chain(others).collect(),
                held: BTreeSet::new(),
            }),
            runtime_ids: Vec::new(),
        }
    }

    fn eval(
        g: &Guardrails,
        file: &PlaybookFile,
        mode: Mode,
        origin: Origin<'_>,
        live: &LiveTask,
    ) -> Evaluation {
        let f = terminal_shell(ACCOUNT, "us-east-1");
        let e = Enrichment::of(TaskInfo {
            task_arn: f.resource.task_arn.clone().unwrap(),
            cluster_arn: f.resource.cluster_arn.clone().unwrap(),
            ..Default::default()
        });
        let s = Subject::new(&f, Some(&e), vec![]);
        g.evaluate(&file.playbooks[0], mode, &s, origin, live)
    }

    /// The names are recorded in decision records and read back by the CLI and tests: a renamed
    /// variant must not change them, and serde and `as_str` must agree.
    #[test]
    fn guardrail_and_outcome_names_are_stable() {
        names_are::<Guardrail>(&[
            "trusted_source",
            "recorded_origin",
            "trusted_account",
            "allowed_cluster",
            "provenance",
            "identity",
            "fresh",
            "not_a_sample",
            "protected",
            "task_running",
            "min_healthy",
            "rate_limit",
            "approval",
        ]);
        names_are::<Outcome>(&[
            "act",
            "dry_run",
            "recorded",
            "refused",
            "not_running",
            "rate_limited",
            "awaiting_approval",
        ]);
    }

    /// Checks that `T`'s variants are named `expected`, in order, alike in `Display` and serde.
    fn names_are<T>(expected: &[&str])
    where
        T: strum::VariantArray + Copy + PartialEq + std::fmt::Debug + std::fmt::Display,
        T: serde::Serialize + serde::de::DeserializeOwned,
        &'static str: From<T>,
    {
        let names: Vec<&'static str> = T::VARIANTS.iter().map(|&v| v.into()).collect();
        assert_eq!(names, expected);
        for &v in T::VARIANTS {
            let name: &'static str = v.into();
            assert_eq!(v.to_string(), name);
            assert_eq!(serde_json::to_value(v).unwrap(), name);
            assert_eq!(serde_json::from_value::<T>(name.into()).unwrap(), v);
        }
    }

    const VIGIL: Origin<'static> = Origin {
        event_source: "vigil",
        event_account: Some(ACCOUNT),
        now: None,
        vouch: Vouch::Vouched,
    };

    #[test]
    fn all_clear_enforces_and_dry_run_only_reports() {
        let g = guardrails();
        let file = stop_playbook("");
        let e = eval(&g, &file, Mode::Enforce, VIGIL, &running(2, &[]));
        assert_eq!(e.outcome, Outcome::Act, "{e:?}");
        assert_eq!(
            e.check(Guardrail::RateLimit).unwrap().verdict,
            Verdict::Unknown
        );
        let e = eval(&g, &file, Mode::DryRun, VIGIL, &running(2, &[]));
        assert_eq!(e.outcome, Outcome::DryRun);
    }

    #[test]
    fn forged_origin_or_foreign_account_is_refused() {
        let g = guardrails();
        let file = stop_playbook("");
        let e = eval(
            &g,
            &file,
            Mode::Enforce,
            Origin {
                event_source: "aws.guardduty",
                event_account: Some(ACCOUNT),
                now: None,
                vouch: Vouch::Vouched,
            },
            &running(2, &[]),
        );
        assert_eq!(e.outcome, Outcome::Refused);
        assert!(e.untrusted());
        let e = eval(
            &g,
            &file,
            Mode::Enforce,
            Origin {
                event_source: "vigil",
                event_account: Some("999999999999"),
                now: None,
                vouch: Vouch::Vouched,
            },
            &running(2, &[]),
        );
        assert_eq!(e.outcome, Outcome::Refused);
        assert!(e.reason.unwrap().contains("sender account 999999999999"));
        let untrusting = Guardrails {
            trusted_sources: vec![Source::Guardduty],
            ..guardrails()
        };
        assert_eq!(
            eval(&untrusting, &file, Mode::Enforce, VIGIL, &running(2, &[])).outcome,
            Outcome::Refused
        );
        let other_cluster = Guardrails {
            allowed_clusters: vec![Glob::new("prod").unwrap()],
            ..guardrails()
        };
        let e = eval(
            &other_cluster,
            &file,
            Mode::Enforce,
            VIGIL,
            &running(2, &[]),
        );
        assert!(e.untrusted() && e.outcome == Outcome::Refused);
    }

    #[test]
    fn a_sample_finding_is_refused_even_when_all_else_passes() {
        let g = guardrails();
        let file = stop_playbook("");
        let mut f = terminal_shell(ACCOUNT, "us-east-1");
        f.tags.push(vigil_model::SAMPLE_TAG.to_owned());
        let e = Enrichment::of(TaskInfo {
            task_arn: f.resource.task_arn.clone().unwrap(),
            cluster_arn: f.resource.cluster_arn.clone().unwrap(),
            ..Default::default()
        });
        let s = Subject::new(&f, Some(&e), vec![]);
        let e = g.evaluate(
            &file.playbooks[0],
            Mode::Enforce,
            &s,
            VIGIL,
            &running(2, &[]),
        );
        assert_eq!(e.outcome, Outcome::Refused);
        assert!(
            e.reason.as_deref().unwrap().starts_with("not_a_sample"),
            "{e:?}"
        );
        let real = eval(&g, &file, Mode::Enforce, VIGIL, &running(2, &[]));
        assert_eq!(
            real.check(Guardrail::NotASample).unwrap().verdict,
            Verdict::Pass
        );
    }

    #[test]
    fn protected_and_last_tasks_survive() {
        let g = guardrails();
        let file = stop_playbook("");
        let e = eval(
            &g,
            &file,
            Mode::Enforce,
            VIGIL,
            &running(2, &[("vigil:protected", "TRUE")]),
        );
        assert_eq!(e.outcome, Outcome::Refused);
        assert!(!e.untrusted());
        assert!(e.reason.unwrap().starts_with("protected: task tag"));
        let listed = Guardrails {
            protected_services: vec![Glob::new("sh*").unwrap()],
            ..guardrails()
        };
        assert_eq!(
            eval(&listed, &file, Mode::Enforce, VIGIL, &running(2, &[])).outcome,
            Outcome::Refused
        );

        let e = eval(&g, &file, Mode::Enforce, VIGIL, &running(1, &[]));
        assert_eq!(e.outcome, Outcome::Refused);
        assert_eq!(
            e.check(Guardrail::MinHealthy).unwrap().verdict,
            Verdict::Fail
        );
        let allowed = stop_playbook("    allow_last_task: true\n");
        assert_eq!(
            eval(&g, &allowed, Mode::Enforce, VIGIL, &running(1, &[])).outcome,
            Outcome::Act
        );
    }

    #[test]
    fn a_task_that_is_not_running_is_a_no_op() {
        let g = guardrails();
        let file = stop_playbook("");
        assert_eq!(
            eval(
                &g,
                &file,
                Mode::Enforce,
                VIGIL,
                &LiveTask::NotRunning("STOPPED".into())
            )
            .outcome,
            Outcome::NotRunning
        );
        assert_eq!(
            eval(
                &g,
                &file,
                Mode::Enforce,
                VIGIL,
                &LiveTask::Missing("MISSING".into())
            )
            .outcome,
            Outcome::NotRunning
        );
    }

    #[test]
    fn record_only_playbooks_skip_task_checks_and_rate_limit_downgrades() {
        let g = guardrails();
        let file = PlaybookFile::parse("version: 1\nplaybooks:\n  - name: r\n    match: {sources: [falco]}\n    actions: [record]\n").unwrap();
        let e = eval(&g, &file, Mode::Enforce, VIGIL, &LiveTask::Unknown);
        assert_eq!(e.outcome, Outcome::Recorded);
        let mut e = eval(
            &g,
            &stop_playbook(""),
            Mode::Enforce,
            VIGIL,
            &running(5, &[]),
        );
        e.rate_limited("service shop: 3 stops in this window".into());
        assert_eq!(e.outcome, Outcome::RateLimited);
        assert_eq!(
            e.check(Guardrail::RateLimit).unwrap().verdict,
            Verdict::Fail
        );
    }
}
