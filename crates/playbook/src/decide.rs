//! The decision core: for one finding and what is known of its task now, the first matching
//! playbook, its mode under the deployment's cap, every guardrail's verdict, the rendered stop
//! reason and tag, and the counters and service reservation a stop must take. Pure, so the
//! remediate function and `vigil playbook test` cannot drift apart: the function gathers the
//! facts and writes what this returns; the CLI shows it.

use crate::MAX_STOP_REASON;
use crate::file::{Action, Mode, Playbook, PlaybookFile};
use crate::guardrails::{Approval, Evaluation, Guardrails, LiveTask, Origin, Outcome};
use crate::subject::Subject;

/// Everything the decision depends on.
#[derive(Clone, Copy)]
pub struct DecisionInput<'a> {
    /// The playbook file; the first playbook the subject matches decides.
    pub playbooks: &'a PlaybookFile,
    /// The deployment's guardrail settings.
    pub guardrails: &'a Guardrails,
    /// The deployment's switch: `Enforce` lets each playbook's own mode stand, `DryRun` caps all.
    pub mode_cap: Mode,
    /// The finding and its enriched task.
    pub subject: &'a Subject<'a>,
    /// The message that carried the finding.
    pub origin: Origin<'a>,
    /// The task as ECS reports it now.
    pub live: &'a LiveTask,
    /// An analyst's approval of the proposal an `approve` playbook made (`None`: none yet).
    pub approval: Option<Approval>,
}

/// A stop counter to take, in the scope ECS reports the task in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopCounter {
    /// What the counter counts stops of.
    pub scope: CounterScope,
    /// Stops at most in a window, this one included.
    pub limit: u32,
    /// The window, in seconds.
    pub window_seconds: u64,
}

/// What a [`StopCounter`] counts stops of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CounterScope {
    /// One service (services are named per cluster).
    Service {
        /// The cluster ECS reports the task in.
        cluster_arn: String,
        /// The service's name.
        service: String,
    },
    /// One cluster, every service and standalone task in it.
    Cluster {
        /// The cluster ECS reports the task in.
        cluster_arn: String,
    },
}

/// The stop to reserve on the task's service before StopTask, so that concurrent decisions count
/// it (see the `min_healthy` guardrail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceHold {
    /// The cluster ECS reports the task in.
    pub cluster_arn: String,
    /// The service's name; `""` for a task of no service.
    pub service: String,
    /// The task to be stopped.
    pub task_arn: String,
}

/// What the core decided.
#[derive(Debug, Clone)]
pub struct PlaybookDecision<'a> {
    /// The first playbook the subject matched.
    pub playbook: &'a Playbook,
    /// Its mode under the deployment's cap.
    pub mode: Mode,
    /// Every guardrail's verdict and the outcome.
    pub evaluation: Evaluation,
    /// The playbook's reason, rendered for this finding (shown whatever the outcome).
    pub rendered_reason: String,
    /// ECS `stoppedReason` with Vigil's marker: only when the decision is to stop.
    pub stop_reason: Option<String>,
    /// The tag to set: only when the decision is to act and the playbook tags.
    pub tag: Option<(String, String)>,
    /// Counters the stop must fit under, taken in the same write as the decision.
    pub counters: Vec<StopCounter>,
    /// The stop to reserve: for every stop (it keeps the service's `min_healthy_tasks`, and tells
    /// another finding about the task that its stop is pending); a task of no service is held under
    /// service `""` of its cluster.
    pub hold: Option<ServiceHold>,
}

/// Decides for the first playbook the subject matches; `None` when none does.
pub fn decide<'a>(input: DecisionInput<'a>) -> Option<PlaybookDecision<'a>> {
    let playbook = input.playbooks.first_match(input.subject)?;
    let mode = match input.mode_cap {
        Mode::Enforce | Mode::Approve => playbook.mode(input.playbooks.default_mode),
        Mode::DryRun => Mode::DryRun,
    };
    let mut evaluation = input.guardrails.evaluate_approved(
        playbook,
        mode,
        input.subject,
        input.origin,
        input.live,
        input.approval.as_ref(),
    );
    let subject = input.subject;
    let variable = |v: &str| subject.variable(v, playbook.name.as_str());
    let rendered_reason = playbook.reason.render(variable, MAX_STOP_REASON);
    let acts = evaluation.outcome == Outcome::Act;
    let stop_reason = (acts && playbook.stops())
        .then(|| stop_reason(&rendered_reason, subject.finding.fingerprint.as_str()));
    let tag = (acts && playbook.actions.contains(&Action::TagTask)).then(|| {
        (
            playbook.tag.key.clone(),
            tag_value(&playbook.tag.value.render(variable, 256)),
        )
    });
    let (counters, hold) = match (&stop_reason, input.live) {
        (Some(_), live) => (counters(input.guardrails, live), hold(subject, live)),
        (None, _) => (Vec::new(), None),
    };
    if !counters.is_empty() {
        // The caller writes them with the decision, atomically: if one refuses, it records the
        // decision as rate-limited instead (`Evaluation::rate_limited`).
        evaluation.within_rate(format!(
            "within {} stop limit(s), counted with the decision",
            counters.len()
        ));
    }
    Some(PlaybookDecision {
        playbook,
        mode,
        evaluation,
        rendered_reason,
        stop_reason,
        tag,
        counters,
        hold,
    })
}

/// The service and cluster ECS reports the task in; a task of no service counts against its
/// cluster alone. The service's counter comes first: a burst on one service fills it, and the
/// caller, reading them in order, then refuses each decision over it after one read, not two.
fn counters(g: &Guardrails, live: &LiveTask) -> Vec<StopCounter> {
    let LiveTask::Running {
        cluster_arn,
        service,
        ..
    } = live
    else {
        return Vec::new();
    };
    let service = service.iter().map(|s| StopCounter {
        scope: CounterScope::Service {
            cluster_arn: cluster_arn.clone(),
            service: s.name.clone(),
        },
        limit: g.stop_limit_per_service,
        window_seconds: g.stop_limit_window_seconds,
    });
    let cluster = StopCounter {
        scope: CounterScope::Cluster {
            cluster_arn: cluster_arn.clone(),
        },
        limit: g.stop_limit_per_cluster,
        window_seconds: g.stop_limit_window_seconds,
    };
    service.chain([cluster]).collect()
}

/// Every stop is held, whatever the playbook's `min_healthy_tasks`: the hold is also how another
/// finding about the same task (matching another playbook, perhaps one that may stop the last task)
/// learns that its stop is already pending, instead of stopping and counting the task a second
/// time. A task of no service is held under its cluster, as service `""` (no service has that
/// name).
fn hold(subject: &Subject<'_>, live: &LiveTask) -> Option<ServiceHold> {
    let LiveTask::Running {
        cluster_arn,
        service,
        ..
    } = live
    else {
        return None;
    };
    Some(ServiceHold {
        cluster_arn: cluster_arn.clone(),
        service: service.as_ref().map(|s| s.name.clone()).unwrap_or_default(),
        task_arn: subject.task_arn().unwrap_or_default().to_owned(),
    })
}

const MARKER_OPEN: &str = " [vigil:";

/// The reason ECS records on the task: the playbook's text, then a marker naming the finding, so
/// the STOPPED event can be tied back to the action record. Always ≤ 255 characters.
pub fn stop_reason(rendered: &str, fingerprint: &str) -> String {
    let marker = format!("{MARKER_OPEN}{fingerprint}]");
    let room = MAX_STOP_REASON.saturating_sub(marker.chars().count());
    format!(
        "{}{marker}",
        vigil_model::text::truncate_chars(rendered, room)
    )
}

/// The fingerprint in a `stoppedReason` Vigil wrote, if it is one.
pub fn marker(reason: &str) -> Option<&str> {
    let start = reason.rfind(MARKER_OPEN)? + MARKER_OPEN.len();
    let fp = reason[start..].strip_suffix(']')?;
    (fp.starts_with("v1-") && fp.len() <= 80).then_some(fp)
}

/// ECS tag values allow letters, digits, spaces and `+ - = . _ : / @`, up to 256 characters.
pub fn tag_value(rendered: &str) -> String {
    rendered
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || " +-=._:/@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(256)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guardrails::{Guardrail, LiveService, Verdict, Vouch};
    use std::collections::{BTreeMap, BTreeSet};
    use vigil_model::fixtures::terminal_shell;

    const ACCOUNT: &str = "123456789012";

    fn file(extra: &str) -> PlaybookFile {
        PlaybookFile::parse(&format!(
            "version: 1\ndefault_mode: enforce\nplaybooks:\n  - name: p\n    match: {{sources: [falco]}}\n    actions: [stop_task, tag_task]\n{extra}"
        ))
        .unwrap()
    }

    fn service(running: &[&str], held: &[&str]) -> LiveTask {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        LiveTask::Running {
            cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/live".into(),
            tags: BTreeMap::new(),
            cluster_tags: BTreeMap::new(),
            service: Some(LiveService {
                name: "live-svc".into(),
                tags: BTreeMap::new(),
                running_tasks: set(running),
                held: set(held),
            }),
            runtime_ids: Vec::new(),
        }
    }

    fn run(file: &PlaybookFile, cap: Mode, live: &LiveTask) -> (Outcome, PlaybookDecisionParts) {
        run_approved(file, cap, live, None)
    }

    fn run_approved(
        file: &PlaybookFile,
        cap: Mode,
        live: &LiveTask,
        approval: Option<&Approval>,
    ) -> (Outcome, PlaybookDecisionParts) {
        let approval = approval.copied();
        let f = terminal_shell(ACCOUNT, "us-east-1");
        let s = Subject::new(&f, None, vec![]);
        let g = Guardrails {
            trusted_accounts: [ACCOUNT.to_owned()].into(),
            ..Guardrails::default()
        };
        let d = decide(DecisionInput {
            playbooks: file,
            guardrails: &g,
            mode_cap: cap,
            subject: &s,
            origin: Origin {
                event_source: "vigil",
                event_account: Some(ACCOUNT),
                now: Some(f.last_observed_at),
                vouch: Vouch::Vouched,
            },
            live,
            approval,
        })
        .expect("the playbook matches");
        (
            d.evaluation.outcome,
            PlaybookDecisionParts {
                task: f.resource.task_arn.clone().unwrap(),
                approval: d.evaluation.check(Guardrail::Approval).unwrap().clone(),
                rate: d.evaluation.check(Guardrail::RateLimit).unwrap().verdict,
                reason: d.evaluation.reason.clone(),
                rendered: d.rendered_reason.clone(),
                min_healthy: d.evaluation.check(Guardrail::MinHealthy).unwrap().verdict,
                stop_reason: d.stop_reason,
                tag: d.tag,
                counters: d.counters,
                hold: d.hold,
            },
        )
    }

    struct PlaybookDecisionParts {
        task: String,
        approval: crate::guardrails::Check,
        rate: Verdict,
        reason: Option<String>,
        rendered: String,
        min_healthy: Verdict,
        stop_reason: Option<String>,
        tag: Option<(String, String)>,
        counters: Vec<StopCounter>,
        hold: Option<ServiceHold>,
    }

    #[test]
    fn a_stop_renders_its_reason_and_takes_counters_and_a_hold_on_the_live_service() {
        let task = terminal_shell(ACCOUNT, "us-east-1")
            .resource
            .task_arn
            .unwrap();
        let (outcome, d) = run(&file(""), Mode::Enforce, &service(&[&task, "other"], &[]));
        assert_eq!(outcome, Outcome::Act);
        let reason = d.stop_reason.expect("a stop reason");
        assert!(marker(&reason).is_some_and(|fp| fp.starts_with("v1-")));
        assert!(d.tag.is_some());
        // Counted where ECS runs the task, never where the finding claims.
        assert!(d.counters.iter().any(|c| c.scope
            == CounterScope::Service {
                cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/live".into(),
                service: "live-svc".into()
            }));
        assert_eq!(d.hold.unwrap().task_arn, d.task);
    }

    #[test]
    fn stops_held_by_vigil_do_not_count_as_healthy() {
        let task = terminal_shell(ACCOUNT, "us-east-1")
            .resource
            .task_arn
            .unwrap();
        // Two running, the other already held: stopping this one would leave none.
        let (outcome, d) = run(&file(""), Mode::Enforce, &service(&[&task, "b"], &["b"]));
        assert_eq!((outcome, d.min_healthy), (Outcome::Refused, Verdict::Fail));
        assert!(d.stop_reason.is_none() && d.counters.is_empty() && d.hold.is_none());
        let three = service(&[&task, "b", "c"], &["b"]);
        assert_eq!(run(&file(""), Mode::Enforce, &three).0, Outcome::Act);
        let two_kept = file("    min_healthy_tasks: 2\n");
        assert_eq!(run(&two_kept, Mode::Enforce, &three).0, Outcome::Refused);
        let last = file("    allow_last_task: true\n");
        let (outcome, d) = run(&last, Mode::Enforce, &service(&[&task], &[]));
        assert_eq!(outcome, Outcome::Act);
        // Nothing to keep, but the stop is still held: another finding about the task must see
        // it pending.
        assert_eq!(d.hold.unwrap().task_arn, d.task);
    }

    #[test]
    fn the_cap_makes_a_dry_run_that_takes_nothing() {
        let task = terminal_shell(ACCOUNT, "us-east-1")
            .resource
            .task_arn
            .unwrap();
        let (outcome, d) = run(&file(""), Mode::DryRun, &service(&[&task, "b"], &[]));
        assert_eq!(outcome, Outcome::DryRun);
        assert!(d.stop_reason.is_none() && d.counters.is_empty() && d.hold.is_none());
    }

    fn approve(extra: &str) -> PlaybookFile {
        file(&format!(
            "    mode: approve\n    reason: \"proposed {{rule}}\"\n{extra}"
        ))
    }

    fn approval(proposed_secs_ago: i64, approved_after: i64) -> Approval {
        let observed = terminal_shell(ACCOUNT, "us-east-1").last_observed_at;
        let proposed_at = observed + chrono::Duration::seconds(proposed_secs_ago.min(0).abs());
        Approval {
            proposed_at,
            approved_at: proposed_at + chrono::Duration::seconds(approved_after),
            ttl_seconds: 86_400,
        }
    }

    #[test]
    fn approve_under_enforce_proposes_and_takes_nothing() {
        let task = terminal_shell(ACCOUNT, "us-east-1")
            .resource
            .task_arn
            .unwrap();
        let (outcome, d) = run(&approve(""), Mode::Enforce, &service(&[&task, "b"], &[]));
        assert_eq!(outcome, Outcome::AwaitingApproval);
        assert!(
            !outcome.is_final(),
            "the finding's next arrival proposes afresh"
        );
        assert_eq!(d.approval.verdict, Verdict::Unknown);
        assert_eq!(d.rate, Verdict::NotApplicable);
        assert!(d.stop_reason.is_none() && d.tag.is_none());
        assert!(
            d.counters.is_empty() && d.hold.is_none(),
            "a proposal is not a stop"
        );
        assert!(d.rendered.starts_with("proposed "), "{}", d.rendered);
    }

    #[test]
    fn approve_with_an_approval_acts_as_enforce_would() {
        let task = terminal_shell(ACCOUNT, "us-east-1")
            .resource
            .task_arn
            .unwrap();
        let live = service(&[&task, "b"], &[]);
        let a = approval(0, 600);
        let (outcome, d) = run_approved(&approve(""), Mode::Enforce, &live, Some(&a));
        assert_eq!(outcome, Outcome::Act);
        assert_eq!(d.approval.verdict, Verdict::Pass);
        assert_eq!(d.rate, Verdict::Pass);
        assert!(d.stop_reason.is_some() && !d.counters.is_empty() && d.hold.is_some());
        // The finding is judged fresh at the proposal, however late within the TTL it is approved.
        let late = approval(0, 80_000);
        assert_eq!(
            run_approved(&approve(""), Mode::Enforce, &live, Some(&late)).0,
            Outcome::Act
        );
    }

    #[test]
    fn an_approval_after_the_ttl_is_refused_as_expired() {
        let task = terminal_shell(ACCOUNT, "us-east-1")
            .resource
            .task_arn
            .unwrap();
        let a = approval(0, 86_401);
        let (outcome, d) = run_approved(
            &approve(""),
            Mode::Enforce,
            &service(&[&task, "b"], &[]),
            Some(&a),
        );
        assert_eq!(outcome, Outcome::Refused);
        assert_eq!(d.approval.verdict, Verdict::Fail);
        assert!(d.reason.unwrap().starts_with("approval: expired"));
        assert!(d.stop_reason.is_none() && d.counters.is_empty() && d.hold.is_none());
    }

    #[test]
    fn an_approval_never_overrides_the_other_guardrails() {
        let task = terminal_shell(ACCOUNT, "us-east-1")
            .resource
            .task_arn
            .unwrap();
        let a = approval(0, 60);
        // The last healthy task stays.
        let (outcome, d) = run_approved(
            &approve(""),
            Mode::Enforce,
            &service(&[&task], &[]),
            Some(&a),
        );
        assert_eq!((outcome, d.min_healthy), (Outcome::Refused, Verdict::Fail));
        let (outcome, _) = run_approved(
            &approve(""),
            Mode::Enforce,
            &LiveTask::NotRunning("STOPPED".into()),
            Some(&a),
        );
        assert_eq!(outcome, Outcome::NotRunning);
    }

    #[test]
    fn approve_under_the_dry_run_cap_is_a_dry_run_approved_or_not() {
        let task = terminal_shell(ACCOUNT, "us-east-1")
            .resource
            .task_arn
            .unwrap();
        let live = service(&[&task, "b"], &[]);
        let (outcome, d) = run(&approve(""), Mode::DryRun, &live);
        assert_eq!(outcome, Outcome::DryRun);
        assert_eq!(d.approval.verdict, Verdict::NotApplicable);
        assert!(d.stop_reason.is_none() && d.counters.is_empty() && d.hold.is_none());
        let a = approval(0, 60);
        let (outcome, d) = run_approved(&approve(""), Mode::DryRun, &live, Some(&a));
        assert_eq!(outcome, Outcome::DryRun);
        assert!(d.stop_reason.is_none() && d.counters.is_empty() && d.hold.is_none());
    }

    #[test]
    fn approve_is_read_from_the_file_and_as_a_default() {
        let f = PlaybookFile::parse(
            "version: 1\ndefault_mode: approve\nplaybooks:\n  - name: p\n    match: {sources: [falco]}\n    actions: [stop_task]\n",
        )
        .unwrap();
        assert_eq!(f.playbooks[0].mode(f.default_mode), Mode::Approve);
        assert_eq!(Mode::Approve.as_str(), "approve");
    }

    #[test]
    fn a_task_of_no_service_counts_against_its_cluster() {
        let live = LiveTask::Running {
            cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/live".into(),
            tags: BTreeMap::new(),
            cluster_tags: BTreeMap::new(),
            service: None,
            runtime_ids: Vec::new(),
        };
        let (outcome, d) = run(&file(""), Mode::Enforce, &live);
        assert_eq!(outcome, Outcome::Act);
        assert_eq!(d.counters.len(), 1);
        assert!(matches!(d.counters[0].scope, CounterScope::Cluster { .. }));
        // Held under its cluster, for another finding about the task to see its stop pending.
        assert_eq!(d.hold.unwrap().service, "");
    }

    #[test]
    fn both_opt_outs_at_once_are_refused() {
        let e = PlaybookFile::parse("version: 1\nplaybooks:\n  - name: p\n    match: {sources: [falco]}\n    actions: [stop_task]\n    allow_last_task: true\n    min_healthy_tasks: 2\n").unwrap_err();
        assert!(e.message.contains("min_healthy_tasks"), "{e}");
    }

    #[test]
    fn stop_reason_fits_and_carries_the_marker() {
        let fp = format!("v1-{}", "a".repeat(64));
        let r = stop_reason(&"x".repeat(300), &fp);
        assert_eq!(r.chars().count(), MAX_STOP_REASON);
        assert_eq!(marker(&r), Some(fp.as_str()));
        assert_eq!(marker("Scaling activity initiated by deployment"), None);
        assert_eq!(marker("x [vigil:not-ours]"), None);
    }

    #[test]
    fn tag_values_keep_only_allowed_characters() {
        assert_eq!(tag_value("v1-ab (shell) é!"), "v1-ab _shell_ é_");
    }
}
