//! Guardrails: the checks that stand between a matching playbook and a stopped task. Pure: the
//! function gathers the facts (a fresh DescribeTasks, the service) and this decides, so the CLI can
//! show the same verdicts without AWS. Every check is recorded, passed or not.

use crate::file::{Action, Glob, Mode, Playbook};
use crate::subject::Subject;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use vigil_model::{Arrival, Source};

/// The only EventBridge `source` a `Finding Enriched` may come from.
pub use vigil_contract::SOURCE as VIGIL_SOURCE;

#[derive(Debug, Clone)]
pub struct Guardrails {
    pub trusted_sources: Vec<Source>,
    /// Accounts whose findings may act; the deploying account is always added.
    pub trusted_accounts: BTreeSet<String>,
    /// Clusters (names or ARNs, globs) tasks may be acted on in; `*` for every cluster.
    pub allowed_clusters: Vec<Glob>,
    pub protect_tag: (String, String),
    pub protected_services: Vec<Glob>,
    pub protected_clusters: Vec<Glob>,
    pub stop_limit_per_service: u32,
    pub stop_limit_per_cluster: u32,
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

/// The message that carried the finding to remediation.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The EventBridge `source` of the message (`vigil` for `Finding Enriched`).
    pub event_source: &'a str,
    /// The account that sent the finding's event to Vigil, as ingest recorded it (the finding's
    /// provenance, checked against the dedup record before any guardrail runs).
    pub event_account: Option<&'a str>,
    /// When remediation decides; `None` where no clock applies (the CLI).
    pub now: Option<DateTime<Utc>>,
}

/// The task as a fresh DescribeTasks (and DescribeServices) saw it just now.
#[derive(Debug, Clone)]
pub enum LiveTask {
    Running {
        tags: BTreeMap<String, String>,
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

#[derive(Debug, Clone)]
pub struct LiveService {
    pub name: String,
    pub tags: BTreeMap<String, String>,
    pub running_count: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// The check does not apply to these actions.
    NotApplicable,
    /// Needs AWS (the CLI shows it without deciding).
    Unknown,
}

impl Verdict {
    pub fn pass_if(ok: bool) -> Verdict {
        if ok { Verdict::Pass } else { Verdict::Fail }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub guardrail: &'static str,
    pub verdict: Verdict,
    pub detail: String,
}

/// What happens, before the rate limit (which the function checks atomically as it acts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
}

impl Outcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Act => "act",
            Outcome::DryRun => "dry_run",
            Outcome::Recorded => "recorded",
            Outcome::Refused => "refused",
            Outcome::NotRunning => "not_running",
            Outcome::RateLimited => "rate_limited",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub outcome: Outcome,
    pub checks: Vec<Check>,
    /// The first failed check, for the record and the note.
    pub reason: Option<String>,
}

impl Evaluation {
    /// True when one of the checks that apply to everyone (trust, account, cluster) failed: the
    /// event may be forged and must not touch the finding's records or Security Hub.
    pub fn untrusted(&self) -> bool {
        self.checks.iter().any(|c| {
            c.verdict == Verdict::Fail
                && matches!(
                    c.guardrail,
                    "trusted_source"
                        | "recorded_origin"
                        | "trusted_account"
                        | "allowed_cluster"
                        | "provenance"
                        | "identity"
                        | "fresh"
                )
        })
    }

    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.guardrail == name)
    }
}

fn check(guardrail: &'static str, verdict: Verdict, detail: impl Into<String>) -> Check {
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
        let f = subject.finding;
        let mut checks = Vec::new();

        let source_ok =
            origin.event_source == VIGIL_SOURCE && self.trusted_sources.contains(&f.source);
        checks.push(check(
            "trusted_source",
            Verdict::pass_if(source_ok),
            format!(
                "event source {:?}, finding source {}; trusted: {}",
                origin.event_source,
                f.source,
                self.trusted_sources
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));

        // Every account on the way must be trusted: the sender's, the finding's, and the task's.
        let task_arn = subject.task_arn();
        let accounts: Vec<(&str, Option<&str>)> = vec![
            ("sender", origin.event_account),
            ("finding", f.account.as_deref()),
            ("task", task_arn.and_then(account_of)),
        ];
        let untrusted: Vec<String> = accounts
            .iter()
            .filter(|(_, a)| !a.is_some_and(|a| self.trusted_accounts.contains(a)))
            .map(|(what, a)| format!("{what} account {}", a.unwrap_or("unknown")))
            .collect();
        checks.push(check(
            "trusted_account",
            Verdict::pass_if(untrusted.is_empty()),
            if untrusted.is_empty() {
                "sender, finding and task accounts are trusted".to_owned()
            } else {
                format!("not trusted: {}", untrusted.join(", "))
            },
        ));

        let cluster: Vec<&str> = subject
            .cluster_arn()
            .into_iter()
            .chain(subject.cluster_name())
            .collect();
        let cluster_ok = !cluster.is_empty()
            && self
                .allowed_clusters
                .iter()
                .any(|g| cluster.iter().any(|c| g.matches(c)));
        checks.push(check(
            "allowed_cluster",
            Verdict::pass_if(cluster_ok),
            format!("cluster {}", subject.cluster_arn().unwrap_or("unknown")),
        ));

        // The entry point the finding came through must be one that may carry its source: AWS's
        // own findings only from the default bus, agents' only from the agent bus or the direct
        // entry point; a locally read finding never acts.
        let arrival = f.provenance.arrival;
        let arrival_ok = match f.source {
            Source::Guardduty => arrival == Arrival::AwsService,
            _ => matches!(arrival, Arrival::AgentBus | Arrival::DirectInvoke),
        };
        checks.push(check(
            "provenance",
            Verdict::pass_if(arrival_ok),
            format!("{} finding arrived by {}", f.source, arrival.as_str()),
        ));

        // What the event said about its workload must hold together, and the container it names
        // must be one of the task's own (a non-ECS container, or any agent, can put a victim's
        // task ARN in its labels).
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
        checks.push(if conflicts.is_empty() {
            check(
                "identity",
                Verdict::Pass,
                "the workload's identity holds together",
            )
        } else {
            check(
                "identity",
                Verdict::Fail,
                format!("identity_mismatch: {}", conflicts.join("; ")),
            )
        });

        checks.push(match origin.now {
            None => check("fresh", Verdict::Unknown, "needs the time of the decision"),
            Some(now) => {
                let age = (now - f.last_observed_at).num_seconds();
                if age > self.max_finding_age_seconds as i64 {
                    check(
                        "fresh",
                        Verdict::Fail,
                        format!(
                            "last observed {age} s ago, over the {} s limit (a replay or a backlog)",
                            self.max_finding_age_seconds
                        ),
                    )
                } else {
                    check("fresh", Verdict::Pass, format!("last observed {age} s ago"))
                }
            }
        });

        // A source's sample finding (GuardDuty's "Generate sample findings") tests the wiring; its
        // task is made up, or worse, a real one named by chance.
        checks.push(if f.is_sample() {
            check(
                "not_a_sample",
                Verdict::Fail,
                "the source generated this finding as a sample",
            )
        } else {
            check("not_a_sample", Verdict::Pass, "a real finding")
        });

        let stops = playbook.stops();
        let mutates = stops || playbook.actions.contains(&Action::TagTask);

        // Protection, from the task's live tags and its service's, and the configured lists.
        let (tag_key, tag_value) = &self.protect_tag;
        let protected = match live {
            LiveTask::Running { tags, service, .. } => {
                let tagged = |t: &BTreeMap<String, String>| {
                    t.get(tag_key)
                        .is_some_and(|v| v.eq_ignore_ascii_case(tag_value))
                };
                let mut why = Vec::new();
                if tagged(tags) {
                    why.push(format!("task tag {tag_key}={tag_value}"));
                }
                if let Some(s) = service {
                    if tagged(&s.tags) {
                        why.push(format!("service tag {tag_key}={tag_value}"));
                    }
                    if self.protected_services.iter().any(|g| g.matches(&s.name)) {
                        why.push(format!("service {} is protected", s.name));
                    }
                }
                if self
                    .protected_clusters
                    .iter()
                    .any(|g| cluster.iter().any(|c| g.matches(c)))
                {
                    why.push("cluster is protected".into());
                }
                Some(why)
            }
            _ => None,
        };
        checks.push(match (&protected, stops) {
            (_, false) => check(
                "protected",
                Verdict::NotApplicable,
                "the playbook does not stop tasks",
            ),
            (None, true) => check("protected", Verdict::Unknown, "needs the task's live tags"),
            (Some(why), true) if why.is_empty() => {
                check("protected", Verdict::Pass, "not protected")
            }
            (Some(why), true) => check("protected", Verdict::Fail, why.join("; ")),
        });

        checks.push(match live {
            _ if !mutates => check(
                "task_running",
                Verdict::NotApplicable,
                "the playbook only records",
            ),
            LiveTask::Running { .. } => check("task_running", Verdict::Pass, "RUNNING"),
            LiveTask::NotRunning(s) => check("task_running", Verdict::Fail, format!("task is {s}")),
            LiveTask::Missing(why) => check("task_running", Verdict::Fail, why.clone()),
            LiveTask::Unknown => check(
                "task_running",
                Verdict::Unknown,
                "needs a fresh DescribeTasks",
            ),
        });

        checks.push(match live {
            _ if !stops => check(
                "last_task",
                Verdict::NotApplicable,
                "the playbook does not stop tasks",
            ),
            _ if playbook.allow_last_task => {
                check("last_task", Verdict::Pass, "allow_last_task: true")
            }
            LiveTask::Running { service: None, .. } => {
                check("last_task", Verdict::Pass, "the task belongs to no service")
            }
            LiveTask::Running {
                service: Some(s), ..
            } if s.running_count > 1 => check(
                "last_task",
                Verdict::Pass,
                format!("service {} has {} running tasks", s.name, s.running_count),
            ),
            LiveTask::Running {
                service: Some(s), ..
            } => check(
                "last_task",
                Verdict::Fail,
                format!(
                    "the last running task of service {} ({} running)",
                    s.name, s.running_count
                ),
            ),
            _ => check(
                "last_task",
                Verdict::Unknown,
                "needs the service's running count",
            ),
        });

        checks.push(if stops && mode == Mode::Enforce {
            check(
                "rate_limit",
                Verdict::Unknown,
                format!(
                    "at most {} stops per service and {} per cluster in {} s",
                    self.stop_limit_per_service,
                    self.stop_limit_per_cluster,
                    self.stop_limit_window_seconds
                ),
            )
        } else {
            check("rate_limit", Verdict::NotApplicable, "no stop is made")
        });

        let failed = checks.iter().find(|c| c.verdict == Verdict::Fail);
        let outcome = match failed {
            Some(c) if c.guardrail == "task_running" => Outcome::NotRunning,
            Some(_) => Outcome::Refused,
            None if !mutates => Outcome::Recorded,
            None if mode == Mode::DryRun => Outcome::DryRun,
            None => Outcome::Act,
        };
        Evaluation {
            outcome,
            reason: failed.map(|c| format!("{}: {}", c.guardrail, c.detail)),
            checks,
        }
    }
}

impl Evaluation {
    /// A trust check made outside this library (the message against Vigil's own records) failed:
    /// refuse, as untrusted.
    pub fn refuse_untrusted(&mut self, guardrail: &'static str, detail: String) {
        self.reason = Some(format!("{guardrail}: {detail}"));
        self.checks
            .insert(0, check(guardrail, Verdict::Fail, detail));
        self.outcome = Outcome::Refused;
    }

    /// The counters refused the stop: record it, do not act.
    pub fn rate_limited(&mut self, detail: String) {
        self.set_rate("rate_limit", Verdict::Fail, detail.clone());
        self.outcome = Outcome::RateLimited;
        self.reason = Some(format!("rate_limit: {detail}"));
    }

    pub fn within_rate(&mut self, detail: String) {
        self.set_rate("rate_limit", Verdict::Pass, detail);
    }

    fn set_rate(&mut self, name: &str, verdict: Verdict, detail: String) {
        if let Some(c) = self.checks.iter_mut().find(|c| c.guardrail == name) {
            c.verdict = verdict;
            c.detail = detail;
        }
    }
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

    fn running(count: i32, task_tags: &[(&str, &str)]) -> LiveTask {
        LiveTask::Running {
            tags: task_tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            service: Some(LiveService {
                name: "shop".into(),
                tags: BTreeMap::new(),
                running_count: count,
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

    const VIGIL: Origin<'static> = Origin {
        event_source: "vigil",
        event_account: Some(ACCOUNT),
        now: None,
    };

    #[test]
    fn all_clear_enforces_and_dry_run_only_reports() {
        let g = guardrails();
        let file = stop_playbook("");
        let e = eval(&g, &file, Mode::Enforce, VIGIL, &running(2, &[]));
        assert_eq!(e.outcome, Outcome::Act, "{e:?}");
        assert_eq!(e.check("rate_limit").unwrap().verdict, Verdict::Unknown);
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
        assert_eq!(real.check("not_a_sample").unwrap().verdict, Verdict::Pass);
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
        assert_eq!(e.check("last_task").unwrap().verdict, Verdict::Fail);
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
        assert_eq!(e.check("rate_limit").unwrap().verdict, Verdict::Fail);
    }
}
