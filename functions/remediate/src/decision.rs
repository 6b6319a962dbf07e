//! Gathering the facts of a decision and writing it: Vigil's dedup record (does it vouch for the
//! message?), the task as ECS describes it now, its service's running tasks and held stops; then
//! the shared decision core (`vigil_playbook::decide`), and the write that records the decision
//! with the stop counters and the service hold in one transaction.

use crate::action_record::{ActionKey, Aside, Decided, DecisionWrite, Phase};
use crate::approval::{ApprovalFor, ApprovedBy, Proposed};
use crate::job::Job;
use crate::rate_limit::RateCounter;
use crate::stop_hold::Holds;
use crate::{FindingEnriched, Remediate, RemediationMode, Retry, SecurityHubRef, ecs};
use chrono::DateTime;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};
use vigil_accounts::Unroutable;
use vigil_dedup::RecordedOrigin;
use vigil_model::{Finding, TaskInfo};
use vigil_playbook::{
    Action, Check, DecisionInput, Evaluation, Guardrails, LiveTask, Mode, Origin, Outcome,
    PlaybookDecision, Subject, Vouch,
};

/// Everything decided about one (finding, task): stored on the action record (as JSON) and
/// published as `Remediation Executed`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Decision {
    /// The action record's key, `<pk>|<sk>`.
    pub action_id: String,
    /// The finding's Vigil fingerprint.
    pub fingerprint: String,
    /// The rule or finding type that fired.
    pub rule: String,
    /// The ECS task ARN decided on.
    pub task_arn: String,
    /// The cluster and service ECS reports the task in (the finding's claim without a live look).
    pub cluster_arn: Option<String>,
    /// The task's service name (not its ARN), if it runs in one.
    pub service: Option<String>,
    /// The name of the playbook the finding matched.
    pub playbook: String,
    /// The mode it ran in (after the deployment's cap).
    pub mode: Mode,
    /// What was decided.
    pub outcome: Outcome,
    /// The first failed check, or why it was not acted on.
    pub reason: Option<String>,
    /// Every guardrail's verdict, typed (see `vigil_playbook::Guardrail`).
    pub checks: Vec<Check>,
    /// The playbook's actions.
    pub actions: Vec<Action>,
    /// ECS `stoppedReason` with Vigil's marker (at most 255 characters): only when the decision
    /// is to stop.
    pub stop_reason: Option<String>,
    /// The tag (key, value) to set on the task: only when acting and the playbook tags.
    pub tag: Option<(String, String)>,
    /// The task as a fresh DescribeTasks saw it before anything was done.
    pub evidence: Option<TaskInfo>,
    /// The finding's Security Hub identity, for the note.
    pub securityhub: Option<SecurityHubRef>,
    /// GuardDuty's own Security Hub finding (its ARN as `Id`, product `aws/guardduty`), as ingest
    /// recorded it for this finding: the note and workflow status go there when Vigil's own
    /// finding is not in Security Hub (GuardDuty's findings are not re-imported by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_finding: Option<FindingRef>,
    /// The EventBridge id of the event decided on (the approval's, for an approved decision).
    pub event_id: Option<String>,
    /// When it was decided, RFC 3339.
    pub decided_at: String,
    /// ECS's StopTask answer, as [`ecs::stop_task`] keeps it: once the task was stopped.
    #[serde(default)]
    pub stop_response: Option<serde_json::Value>,
    /// `awaiting_approval`: the plan an analyst is asked to approve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal: Option<Proposed>,
    /// A decision an analyst's approval led to: who approved, when, and when it was proposed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovedBy>,
    /// A dry run of an `approve` playbook: what would have been proposed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub would_propose: bool,
    /// This decision replaced a stop decided earlier whose hold lapsed before the stop was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lapsed_stop: Option<LapsedStop>,
}

/// A stop that was decided and held, but not made before its hold lapsed (its StopTask kept
/// failing, or its message was dead-lettered and redriven later): the task may since have become
/// one of the service's last healthy ones, so the stop is decided again on fresh facts. It was
/// counted against the stop limits when first decided and is not counted again while that count
/// is inside the limits' window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LapsedStop {
    /// When the stop was first decided (and counted), RFC 3339: a stop that lapsed again after
    /// being decided again keeps the first time.
    pub decided_at: String,
    /// When its hold lapsed (epoch seconds); `None` when no hold was found (released, or never
    /// reserved by an earlier version).
    pub held_until: Option<i64>,
}

/// A Security Hub finding, by the two identifiers `BatchUpdateFindings` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRef {
    /// Its `Id`.
    pub id: String,
    /// Its `ProductArn`.
    pub product_arn: String,
}

impl Decision {
    /// Where the note goes: Vigil's own finding once Security Hub holds it, else GuardDuty's own
    /// finding for a GuardDuty finding, else nowhere.
    pub fn note_target(&self) -> Option<FindingRef> {
        match self.securityhub.as_ref().filter(|s| s.imported) {
            Some(sh) => Some(FindingRef {
                id: sh.id.clone(),
                product_arn: sh.product_arn.clone(),
            }),
            None => self.source_finding.clone(),
        }
    }

    fn of(core: &PlaybookDecision<'_>, job: &Job<'_>, evidence: Option<TaskInfo>) -> Decision {
        let finding = job.subject.finding;
        let (cluster_arn, service) = match &evidence {
            Some(t) => (Some(t.cluster_arn.clone()), t.service_name.clone()),
            None => (
                job.subject.cluster_arn().map(str::to_owned),
                job.subject.service().map(str::to_owned),
            ),
        };
        let mut decision = Decision {
            action_id: format!("{}|{}", job.key.pk(), job.key.sk()),
            fingerprint: finding.fingerprint.as_str().to_owned(),
            rule: finding.rule.clone(),
            task_arn: job.key.task_arn.clone(),
            cluster_arn,
            service,
            playbook: core.playbook.name.as_str().to_owned(),
            mode: core.mode,
            outcome: core.evaluation.outcome,
            reason: None,
            checks: Vec::new(),
            actions: core.playbook.actions.clone(),
            stop_reason: core.stop_reason.clone(),
            tag: core.tag.clone(),
            evidence,
            securityhub: Some(vigil_asff::securityhub_ref(finding, job.imported)),
            source_finding: job.source_finding.cloned(),
            event_id: job.event_id.map(str::to_owned),
            decided_at: job.now.to_rfc3339(),
            stop_response: None,
            proposal: None,
            approval: job.approval.map(|a| a.by.clone()),
            would_propose: false,
            lapsed_stop: None,
        };
        decision.fill(&core.evaluation);
        decision
    }

    fn fill(&mut self, evaluation: &Evaluation) {
        self.outcome = evaluation.outcome;
        self.reason = evaluation.reason.clone();
        self.checks = evaluation.checks.clone();
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

/// The task as ECS showed it before the claim (a task ECS does not know never gets this far).
pub(crate) enum Sighted {
    /// Not looked at: a sample, a record-only playbook or a finding without a cluster, decided
    /// as `LiveTask::Unknown`.
    NotLooked,
    /// DescribeTasks' answer, with ECS in the task's own account and region for the rest of the
    /// look.
    Task {
        client: aws_sdk_ecs::Client,
        cluster: String,
        sighting: ecs::Sighting,
    },
}

/// Why the look found nothing to claim for: recorded aside, unless a crashed attempt left a
/// stored decision on the finding's action record (that is carried on from, whatever the task
/// looks like now).
pub(crate) enum Unsighted {
    /// ECS does not know the task (or the cluster), or the finding names none.
    Unseen(LiveTask),
    /// The task is in an account Vigil has no way to call.
    Unroutable(Unroutable),
}

/// Whether the task is looked at: only when the playbook changes tasks (a sample is refused
/// whatever its task looks like).
fn looks_at_task(job: &Job<'_>) -> bool {
    job.playbook.actions != [Action::Record] && !job.subject.finding.is_sample()
}

/// What deciding came to.
pub(crate) enum Verdict {
    /// Written to the action record, to act on or announce.
    Made(Decision),
    /// A trust check failed on the fresh look: nothing written to the action record.
    Untrusted(Decision),
}

/// How a message arrived, shared by every task a finding is decided for.
pub(crate) struct Received<'a> {
    event_id: Option<&'a str>,
    delivery: Option<&'a crate::action_record::Delivery>,
    guardrails: &'a Guardrails,
    origin: Origin<'a>,
    /// The analyst's approval this message carries, for one task's proposal.
    approval: Option<ApprovalFor<'a>>,
    /// GuardDuty's own Security Hub finding, when ingest recorded it for this finding.
    source_finding: Option<&'a FindingRef>,
    /// Whether Security Hub holds Vigil's finding (see `remediate_finding`).
    imported: bool,
    /// Whether ingest's record vouches for where that finding is (see `remediate_finding`).
    note_vouched: bool,
}

/// How often a decision is made again when concurrent stops keep changing the service's holds or
/// stop counters.
const DECIDE_ATTEMPTS: usize = 4;

impl Remediate {
    /// A `Finding Enriched`: trust, a fresh look at the task, then the claimed job. An attack
    /// sequence is decided per task it names, each task with its own action record.
    pub(crate) async fn remediate(
        &self,
        detail: &FindingEnriched<'_>,
        event_id: Option<&str>,
        delivery: Option<&crate::action_record::Delivery>,
        guardrails: &Guardrails,
    ) -> Result<(), Retry> {
        self.remediate_finding(detail, event_id, delivery, guardrails, None)
            .await
    }

    /// An analyst's approval of the proposal for one task of a finding (its `Finding Enriched`,
    /// as the proposal recorded it): decided again, from the start, with the approval.
    pub(crate) async fn remediate_approved(
        &self,
        detail: &FindingEnriched<'_>,
        approval_event: &str,
        delivery: Option<&crate::action_record::Delivery>,
        guardrails: &Guardrails,
        approval: ApprovalFor<'_>,
    ) -> Result<(), Retry> {
        self.remediate_finding(
            detail,
            Some(approval_event),
            delivery,
            guardrails,
            Some(approval),
        )
        .await
    }

    async fn remediate_finding(
        &self,
        detail: &FindingEnriched<'_>,
        event_id: Option<&str>,
        delivery: Option<&crate::action_record::Delivery>,
        guardrails: &Guardrails,
        approval: Option<ApprovalFor<'_>>,
    ) -> Result<(), Retry> {
        let finding: &Finding = &detail.finding;
        let fp = finding.fingerprint.as_str();
        if self.settings.mode == RemediationMode::Off {
            info!(fingerprint = fp, decision = "off", "remediation is off");
            return Ok(());
        }
        // Trust first, from the event and Vigil's own table alone: a forged event gets no ECS or
        // Security Hub call and no say over the finding's real record. A sequence is vouched for
        // as ingest recorded it, before it is split by task.
        let recorded = self
            .dedup
            .origin(fp)
            .await
            .map_err(|e| Retry::Other(e.to_string()))?;
        let dispute = disagreement(finding, recorded.as_ref());
        // The observed time is not in the fingerprint: a message is never fresher than the last
        // occurrence ingest counted, so a replay with its times moved forward stays stale.
        let clamped;
        let finding = match recorded.as_ref().and_then(|r| r.last_seen) {
            Some(seen) if seen < finding.last_observed_at => {
                let mut f = finding.clone();
                f.last_observed_at = seen;
                clamped = f;
                &clamped
            }
            _ => finding,
        };
        let source_finding = source_finding(finding, recorded.as_ref());
        // Whether Security Hub holds Vigil's finding is the message's word, except where ingest's
        // record says Security Hub confirmed an import: a copy saying "not imported" must not
        // leave the genuine finding unnoted by deciding first. (Enrich records the confirmation
        // after publishing, so the message's `true` still counts; a GuardDuty finding's record is
        // marked forwarded without Vigil importing anything, so it vouches for no import.)
        let imported = detail.securityhub.imported
            || (finding.source != vigil_model::Source::Guardduty
                && recorded
                    .as_ref()
                    .is_some_and(|r| r.state == vigil_dedup::DedupState::Forwarded));
        // A note on Vigil's finding that Security Hub does not have is retried (the decision
        // waits for it) only where the record vouches for both where the finding is (the region
        // ingest recorded) and that it is there (an import enrich confirmed): otherwise a vouched
        // copy claiming an import that never happened, or naming another region on a record from
        // before regions were kept, could hold the claim, stop the task and fail at its note for
        // ever, while the genuine message, finding the claim busy, is left to it.
        let note_vouched = finding.source != vigil_model::Source::Guardduty
            && recorded.as_ref().is_some_and(|r| {
                r.state == vigil_dedup::DedupState::Forwarded
                    && r.region
                        .as_deref()
                        .is_some_and(|g| g != vigil_dedup::record::NONE)
            });
        let received = Received {
            imported,
            note_vouched,
            event_id,
            delivery,
            guardrails,
            source_finding: source_finding.as_ref(),
            origin: Origin {
                event_source: vigil_playbook::guardrails::VIGIL_SOURCE,
                event_account: finding.provenance.sender_account.as_deref(),
                now: Some((self.clock)()),
                vouch: dispute.as_deref().map_or(Vouch::Vouched, Vouch::Disputed),
            },
            approval,
        };
        let (mut per_task, mut unrecorded) = sequence_tasks(finding, recorded.as_ref());
        if let Some(a) = approval {
            // An approval is for one task's proposal: only that task is decided again.
            let keep: Vec<bool> = per_task
                .iter()
                .map(|f| f.resource.task_arn.as_deref() == Some(a.task_arn))
                .collect();
            let mut k = keep.iter();
            per_task.retain(|_| *k.next().unwrap_or(&false));
            let mut k = keep.iter();
            unrecorded.retain(|_| *k.next().unwrap_or(&false));
            if per_task.is_empty() && finding.resource.task_arn.as_deref() != Some(a.task_arn) {
                warn!(
                    fingerprint = fp,
                    task = a.task_arn,
                    "the approved task is not the finding's: nothing approved"
                );
                return Ok(());
            }
        }
        if per_task.is_empty() {
            return self.remediate_one(detail, finding, &received).await;
        }
        // Every task is decided even when one fails; the message comes back for the failed ones
        // (the others are complete, so their redelivery is a no-op).
        let mut result = Ok(());
        for (task_finding, unrecorded) in per_task.iter().zip(&unrecorded) {
            let disputed;
            let received = match (dispute.as_deref(), unrecorded.as_deref()) {
                (None, Some(why)) => {
                    disputed = Received {
                        origin: Origin {
                            vouch: Vouch::Disputed(why),
                            ..received.origin
                        },
                        ..received
                    };
                    &disputed
                }
                _ => &received,
            };
            if let Err(e) = self.remediate_one(detail, task_finding, received).await {
                warn!(fingerprint = fp, task = task_finding.resource.task_arn.as_deref(), error = %e, "a task of the sequence failed");
                result = Err(e);
            }
        }
        result
    }

    /// One finding about one task (or none).
    async fn remediate_one(
        &self,
        detail: &FindingEnriched<'_>,
        finding: &Finding,
        received: &Received<'_>,
    ) -> Result<(), Retry> {
        let fp = finding.fingerprint.as_str();
        // The enrichment describes one task. For a task of a sequence it speaks only if it is
        // that task; for any other finding an enrichment naming another task than the finding's
        // is kept, so the `identity` guardrail refuses the message as tampered.
        let enrichment = Some(detail.enrichment.as_ref()).filter(|e| {
            !finding.is_sequence()
                || e.task.as_ref().is_none_or(|t| {
                    finding.resource.task_arn.as_deref() == Some(t.task_arn.as_str())
                })
        });
        let subject = Subject::new(finding, enrichment, vigil_asff::finding_types(finding));
        let (origin, guardrails) = (received.origin, received.guardrails);
        let approval = received.approval.map(|a| a.core);
        let Some(first) = self.core(&subject, origin, guardrails, &LiveTask::Unknown, approval)
        else {
            info!(
                fingerprint = fp,
                decision = "no_playbook",
                "no playbook matches"
            );
            return Ok(());
        };
        if received.approval.is_some() && first.mode != Mode::Approve {
            warn!(
                fingerprint = fp,
                playbook = first.playbook.name.as_str(),
                mode = first.mode.as_str(),
                "approval not acted on: the matching playbook no longer asks for approval"
            );
            return Ok(());
        }
        if let Some(a) = received.approval.filter(|a| !a.approves(first.playbook)) {
            warn!(
                fingerprint = fp,
                playbook = first.playbook.name.as_str(),
                proposed = a.playbook,
                "approval not acted on: the matching playbook is not the plan that was proposed"
            );
            return Ok(());
        }
        let job = Job {
            key: ActionKey {
                fingerprint: fp.to_owned(),
                task_arn: subject.task_arn().unwrap_or("-").to_owned(),
                // An approved stop is an enforced action: the record its STOPPED confirmation
                // finds, and the one every copy of the approval claims.
                mode: match received.approval {
                    Some(_) => Mode::Enforce,
                    None => first.mode,
                },
            },
            owner: format!("{}-{:016x}", std::process::id(), fastrand::u64(..)),
            event: received
                .event_id
                .or(received.delivery.map(|d| d.message_id.as_str()))
                .unwrap_or("-")
                .to_owned(),
            event_id: received.event_id,
            detail,
            subject: &subject,
            origin,
            guardrails,
            playbook: first.playbook,
            now: origin.now.unwrap_or_else(|| (self.clock)()),
            approval: received.approval,
            source_finding: received.source_finding,
            imported: received.imported,
            note_vouched: received.note_vouched,
            stale: only_stale(&first.evaluation),
        };
        // A stale message (the finding past `max_finding_age_seconds`: a backlog, or a dead letter
        // redriven late) that finds a stop it was decided for still unfinished carries it on while
        // its hold stands, or settles it (`job.rs`: decided again, refused as stale), so the
        // record does not stay `acting` for good, never noted. Anything else untrusted, or stale
        // with nothing unfinished, is recorded aside.
        if first.evaluation.untrusted() && !(job.stale && self.records.unfinished(&job.key).await?)
        {
            let decision = Decision::of(&first, &job, None);
            return self.record_aside(Aside::Untrusted, &job, &decision).await;
        }
        self.run(&job, received.delivery).await
    }

    /// Looks at the task before anything is claimed. A task ECS does not know (a claimed cluster
    /// or task that does not exist, or none named) or in an account Vigil cannot call comes back
    /// as `Err` inside, to be recorded aside ([`Self::record_unsighted`]) with no claim and
    /// nothing written to the finding's action record: a decoy cannot decide for the genuine
    /// alert that follows, and a finding about a task that is gone costs no claim and release each
    /// time it is published again. (ECS describes a task by the very ARN it was asked for, so the
    /// record's key is the task as ECS knows it.)
    pub(crate) async fn sight(&self, job: &Job<'_>) -> Result<Result<Sighted, Unsighted>, Retry> {
        let (cluster, task) = match (job.subject.cluster_arn(), job.subject.task_arn()) {
            (Some(cluster), Some(task)) if looks_at_task(job) => (cluster, task),
            (_, None) => {
                return Ok(Err(Unsighted::Unseen(LiveTask::Missing(
                    "the finding names no task".into(),
                ))));
            }
            _ => return Ok(Ok(Sighted::NotLooked)),
        };
        let client = match self.ecs_for(task) {
            Ok(client) => client,
            Err(unroutable) => return Ok(Err(Unsighted::Unroutable(unroutable))),
        };
        Ok(match ecs::sight_task(&client, cluster, task).await? {
            ecs::Sighting::Missing(why) => Err(Unsighted::Unseen(LiveTask::Missing(why))),
            sighting => Ok(Sighted::Task {
                client,
                cluster: cluster.to_owned(),
                sighting,
            }),
        })
    }

    /// Records aside what the look found nothing to claim for.
    pub(crate) async fn record_unsighted(
        &self,
        job: &Job<'_>,
        unsighted: Unsighted,
    ) -> Result<(), Retry> {
        match unsighted {
            Unsighted::Unseen(live) => self.record_unseen(job, live).await,
            Unsighted::Unroutable(why) => self.record_unroutable(job, &why).await,
        }
    }

    /// The rest of the fresh look (a running task's service and cluster tags), then the decision;
    /// with `lapsed`, the decision replaces a stop whose hold lapsed before it was made.
    pub(crate) async fn look_and_decide(
        &self,
        job: &Job<'_>,
        sighted: Sighted,
        lapsed: Option<&LapsedStop>,
    ) -> Result<Verdict, Retry> {
        let (live, evidence) = match sighted {
            Sighted::NotLooked => (LiveTask::Unknown, None),
            Sighted::Task {
                client,
                cluster,
                sighting,
            } => ecs::live_task(&client, &cluster, sighting).await?,
        };
        self.decide(job, live, evidence, lapsed).await
    }

    /// A finding about a task ECS does not know: recorded aside (once per finding, task, mode and
    /// sender), decided again when it comes again.
    async fn record_unseen(&self, job: &Job<'_>, live: LiveTask) -> Result<(), Retry> {
        if let Some(core) = self.core(
            job.subject,
            job.origin,
            job.guardrails,
            &live,
            job.approval.map(|a| a.core),
        ) {
            self.record_aside(Aside::Unseen, job, &Decision::of(&core, job, None))
                .await?;
        }
        Ok(())
    }

    /// The shared decision core, under this deployment's mode.
    pub(crate) fn core<'a>(
        &'a self,
        subject: &'a Subject<'a>,
        origin: Origin<'a>,
        guardrails: &'a Guardrails,
        live: &'a LiveTask,
        approval: Option<vigil_playbook::Approval>,
    ) -> Option<PlaybookDecision<'a>> {
        vigil_playbook::decide(DecisionInput {
            playbooks: &self.playbooks,
            guardrails,
            mode_cap: self.settings.mode.cap(Mode::Enforce),
            subject,
            origin,
            live,
            approval,
        })
    }

    /// A trusted finding about a task in an account Vigil cannot call: refused with the reason and
    /// recorded aside (no ECS call, no note; decided again when it comes again, once the account
    /// has its member role).
    async fn record_unroutable(&self, job: &Job<'_>, why: &Unroutable) -> Result<(), Retry> {
        let Some(core) = self.core(
            job.subject,
            job.origin,
            job.guardrails,
            &LiveTask::Unknown,
            job.approval.map(|a| a.core),
        ) else {
            return Ok(());
        };
        let mut decision = Decision::of(&core, job, None);
        decision.outcome = Outcome::Refused;
        decision.reason = Some(format!("account: ECS not called: {why}"));
        decision.stop_reason = None;
        decision.tag = None;
        self.record_aside(Aside::Unroutable, job, &decision).await
    }

    /// Decides with the facts of now and writes the decision; decides again when a concurrent
    /// stop changed the service's holds or stop counters in between.
    async fn decide(
        &self,
        job: &Job<'_>,
        live: LiveTask,
        evidence: Option<TaskInfo>,
        lapsed: Option<&LapsedStop>,
    ) -> Result<Verdict, Retry> {
        for _ in 0..DECIDE_ATTEMPTS {
            let (live, holds) = self.service_facts(job, live.clone()).await?;
            let core = self
                .core(
                    job.subject,
                    job.origin,
                    job.guardrails,
                    &live,
                    job.approval.map(|a| a.core),
                )
                .ok_or_else(|| Retry::Other("the playbook no longer matches".into()))?;
            let mut decision = Decision::of(&core, job, evidence.clone());
            self.plan(&core, &mut decision);
            decision.lapsed_stop = lapsed.cloned();
            // A lapsed stop found untrusted on the fresh look (stale by now, or its container no
            // longer the task's) is the genuine record's own stop, claimed: it is settled as the
            // refusal it now is, not recorded aside with the record left `acting`.
            if core.evaluation.untrusted() && lapsed.is_none() {
                return Ok(Verdict::Untrusted(decision));
            }
            if self
                .write_decision(job, &core, &mut decision, holds.as_ref())
                .await?
            {
                return Ok(Verdict::Made(decision));
            }
        }
        Err(Retry::Other(format!(
            "{}: the service's held stops or stop counters kept changing",
            job.key.pk()
        )))
    }

    /// The stops Vigil holds on the task's service (for a task of no service, on its cluster, as
    /// service `""`), for a playbook that stops tasks, and the service's running tasks, for one
    /// that must leave tasks running. The holds are read first: a hold released after the read
    /// belongs to a task whose stop ECS already shows, so the list that follows no longer counts
    /// it. The holds are read whatever the playbook's `min_healthy_tasks`: every stop is held, and
    /// a playbook that may stop the last task must see a pending stop of this very task too.
    async fn service_facts(
        &self,
        job: &Job<'_>,
        mut live: LiveTask,
    ) -> Result<(LiveTask, Option<Holds>), Retry> {
        let LiveTask::Running {
            cluster_arn,
            service,
            ..
        } = &mut live
        else {
            return Ok((live, None));
        };
        if !job.playbook.stops() {
            return Ok((live, None));
        }
        let name = service.as_ref().map(|s| s.name.clone()).unwrap_or_default();
        let holds = self.holds.read(cluster_arn, &name).await?;
        let held = holds.active(job.now.timestamp());
        if let Some(service) = service {
            if job.playbook.min_healthy_tasks() > 0 {
                // The cluster ECS described the task in: the task's own account and region.
                let client = self
                    .ecs_for(cluster_arn)
                    .map_err(|e| Retry::Other(e.to_string()))?;
                service.running_tasks =
                    ecs::service_running_tasks(&client, cluster_arn, &service.name).await?;
            }
            service.held = held.clone();
        }
        // A stop of this very task is already held: another finding about it (another rule on the
        // same container) decided to stop it first. Deciding again would send a second StopTask
        // and count the task twice against the stop limits, refusing a stop of another task.
        if job.subject.task_arn().is_some_and(|t| held.contains(t)) {
            live = LiveTask::NotRunning(
                "being stopped by Vigil for another finding (its stop is held)".into(),
            );
        }
        Ok((live, Some(holds)))
    }

    /// Writes the decision with its hold and counters; `false` when the hold or a counter changed
    /// under it. Over a stop limit, the decision is written as rate-limited instead.
    async fn write_decision(
        &self,
        job: &Job<'_>,
        core: &PlaybookDecision<'_>,
        decision: &mut Decision,
        holds: Option<&Holds>,
    ) -> Result<bool, Retry> {
        let now = job.now.timestamp();
        fn write<'w>(
            decision: &'w str,
            outcome: Outcome,
            next: Phase,
            playbook: &'w str,
            event: &'w str,
        ) -> DecisionWrite<'w> {
            DecisionWrite {
                decision,
                outcome: outcome.as_str(),
                playbook,
                next,
                is_final: outcome.is_final(),
                event,
            }
        }
        let playbook = core.playbook.name.as_str();
        // A stale message settles a lapsed stop (refused as stale) for no event of its own: the
        // observed times are covered by neither the fingerprint nor the dedup record, so a copy of
        // the genuine message with them moved back would otherwise make the genuine message, still
        // fresh, a redelivery of the event decided, and the stop it decides again would be lost.
        // Any message that is not stale reopens the record (`job.rs`); a stale one never does.
        let event = match job.stale {
            true => format!("stale:{}", job.event),
            false => job.event.clone(),
        };
        // In the decision core's order (the service's counter before the cluster's): the first at
        // its limit refuses the stop, and the rest are not read. A lapsed stop decided again was
        // counted when first decided, and is not counted again on a counter whose window still
        // holds that count. Once the count has left the window (a window shorter than the hold,
        // or an approval redriven an hour later), the stop made now would count in no window and
        // the service would get one stop over its limit: it is counted again, as a new stop.
        let first_counted = decision.lapsed_stop.as_ref().map(|l| {
            DateTime::parse_from_rfc3339(&l.decided_at).map_or(i64::MIN, |t| t.timestamp())
        });
        let mut counted = Vec::with_capacity(core.counters.len());
        for counter in core.counters.iter().map(RateCounter::of) {
            if first_counted.is_some_and(|at| counter.still_counts(at, now)) {
                continue;
            }
            let read = self.counters.read(&counter).await?;
            match counter.count(self.counters.table(), &read, now)? {
                Some(item) => counted.push(item),
                None => {
                    let mut evaluation = core.evaluation.clone();
                    evaluation.rate_limited(counter.describe());
                    decision.fill(&evaluation);
                    decision.stop_reason = None;
                    decision.tag = None;
                    let json = decision.to_json();
                    let rewrite = write(&json, decision.outcome, Phase::Acted, playbook, &event);
                    self.records
                        .decide(&job.key, &job.owner, &rewrite, None, Vec::new(), now)
                        .await?;
                    return Ok(true);
                }
            }
        }
        let hold = match &core.hold {
            Some(h) => Some(
                self.holds
                    .reserve(h, &holds.cloned().unwrap_or_default(), now)?,
            ),
            None => None,
        };
        let next = if decision.outcome == Outcome::Act {
            Phase::Acting
        } else {
            Phase::Acted
        };
        let json = decision.to_json();
        let written = self
            .records
            .decide(
                &job.key,
                &job.owner,
                &write(&json, decision.outcome, next, playbook, &event),
                hold,
                counted,
                now,
            )
            .await?;
        Ok(matches!(written, Decided::Ok))
    }
}

/// Whether the only trust check that failed is freshness (`max_finding_age_seconds`).
fn only_stale(evaluation: &Evaluation) -> bool {
    let mut failed = evaluation
        .checks
        .iter()
        .filter(|c| c.verdict == vigil_playbook::Verdict::Fail && c.guardrail.is_trust())
        .peekable();
    failed.peek().is_some() && failed.all(|c| c.guardrail == vigil_playbook::Guardrail::Fresh)
}

/// The tasks of an attack sequence to decide, each once and at most as many as ingest keeps of a
/// sequence (a message naming a task again, or thousands, costs no more than the sequence ingest
/// saw), each with why it is not vouched for, if it is not: a sequence's fingerprint covers no
/// task, so a task counts only if ingest counted an occurrence of the sequence that named it (a
/// task added on the way to remediation is refused, with no ECS call). Empty for other findings.
fn sequence_tasks(
    finding: &Finding,
    recorded: Option<&RecordedOrigin>,
) -> (Vec<Finding>, Vec<Option<String>>) {
    let mut per_task = finding.per_task();
    let mut seen = std::collections::BTreeSet::new();
    per_task.retain(|f| seen.insert(f.resource.task_arn.clone()));
    if per_task.len() > vigil_model::MAX_SEQUENCE_TASKS {
        warn!(
            fingerprint = finding.fingerprint.as_str(),
            tasks = per_task.len(),
            "the sequence names more tasks than ingest keeps: the rest are not decided"
        );
        per_task.truncate(vigil_model::MAX_SEQUENCE_TASKS);
    }
    let unrecorded = per_task
        .iter()
        .map(|f| {
            let task = f.resource.task_arn.as_deref().unwrap_or("");
            recorded
                .is_some_and(|r| !r.sequence_tasks.contains(task))
                .then(|| {
                    format!(
                        "ingest never counted an occurrence of sequence {} naming task {task}",
                        finding.fingerprint
                    )
                })
        })
        .collect();
    (per_task, unrecorded)
}

/// GuardDuty's own Security Hub finding for a GuardDuty finding, only as ingest recorded it: the
/// fingerprint does not cover the event ingest kept, so a copy of a genuine message naming another
/// GuardDuty finding must neither note it nor file this task under it (for an analyst approving
/// that finding to stop). The one the message names if ingest recorded it, else the first ingest
/// recorded (a copy with that part edited still notes the genuine finding).
fn source_finding(finding: &Finding, recorded: Option<&RecordedOrigin>) -> Option<FindingRef> {
    let recorded = &recorded?.source_refs;
    let account = finding.account.as_deref();
    let (id, product_arn) = vigil_asff::guardduty_ref(finding)
        .filter(|(arn, _)| recorded.contains(arn))
        .or_else(|| {
            if vigil_asff::guardduty_ref(finding).is_some() {
                warn!(
                    fingerprint = finding.fingerprint.as_str(),
                    "the message names a GuardDuty finding ingest never recorded for it"
                );
            }
            recorded
                .iter()
                .find_map(|arn| vigil_asff::guardduty_finding_ref(arn, account))
        })?;
    Some(FindingRef { id, product_arn })
}

/// Why the message's finding is not the one ingest recorded under its fingerprint, if it is not.
/// Only Vigil's function roles can write the dedup record, and the fingerprint covers the sender
/// and the task, so a genuine message always agrees with it.
fn disagreement(finding: &Finding, recorded: Option<&RecordedOrigin>) -> Option<String> {
    let Some(r) = recorded else {
        return Some(format!(
            "no dedup record vouches for {}: the finding did not come through ingest",
            finding.fingerprint
        ));
    };
    // The message's own fields must hash to the fingerprint it names (rule, task, container,
    // process, sender, arrival): a copy of a real record with a rule swapped in is not that record.
    if vigil_model::FindingFingerprint::of(finding) != finding.fingerprint {
        return Some(format!(
            "the finding's fields do not hash to its fingerprint {}",
            finding.fingerprint
        ));
    }
    let differ = r.disagreements(finding);
    (!differ.is_empty()).then(|| {
        format!(
            "the message disagrees with the dedup record: {}",
            differ.join(", ")
        )
    })
}
