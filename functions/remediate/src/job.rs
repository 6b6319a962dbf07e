//! The claimed job: look at the task, take the action record, decide (or resume a stored
//! decision), act, announce, complete. Each step after the look is a conditional write only the
//! lease holder can make, so a retry or a redelivery finishes the job exactly once.

use crate::action_record::{ActionKey, ActionRecord, Aside, Claim, Delivery, Phase};
use crate::decision::{Decision, LapsedStop, Sighted, Verdict};
use crate::{FindingEnriched, REMEDIATION_EXECUTED, Remediate, Retry, ecs};
use aws_sdk_securityhub::types::WorkflowStatus;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tracing::{info, warn};
use vigil_bus::VigilEvent;
use vigil_playbook::{Guardrails, Origin, Outcome, Playbook, Subject};

/// One finding's remediation on one task, as far as it is known before the claim.
pub(crate) struct Job<'a> {
    pub key: ActionKey,
    /// This attempt's lease owner.
    pub owner: String,
    /// The event this decision is for (its EventBridge id, else the SQS message id): a record
    /// decided for it is not decided again for it.
    pub event: String,
    pub event_id: Option<&'a str>,
    pub detail: &'a FindingEnriched<'a>,
    pub subject: &'a Subject<'a>,
    pub origin: Origin<'a>,
    pub guardrails: &'a Guardrails,
    /// The playbook the finding matched.
    pub playbook: &'a Playbook,
    pub now: DateTime<Utc>,
    /// The analyst's approval this job carries out, if it is one.
    pub approval: Option<crate::approval::ApprovalFor<'a>>,
    /// GuardDuty's own Security Hub finding, when ingest recorded it for this finding.
    pub source_finding: Option<&'a crate::decision::FindingRef>,
    /// Whether Security Hub holds Vigil's finding: the message says so, or ingest's record does.
    pub imported: bool,
    /// Whether ingest's record vouches for where Vigil's finding is and that Security Hub holds it:
    /// only then does a note Security Hub refuses as not found keep the decision waiting.
    pub note_vouched: bool,
    /// The finding is past `max_finding_age_seconds`: the message only carries on (or settles) a
    /// stored stop it finds unfinished, and decides nothing new.
    pub stale: bool,
}

/// What the look before the claim came to.
pub(crate) enum Look {
    /// ECS described the task (or it needed no look).
    Seen(Sighted),
    /// ECS does not know the task, or Vigil cannot call its account: only a crashed attempt's
    /// stored decision gets this far.
    Unseen,
    /// The look failed (ECS throttled or unreachable): only a crashed attempt's stored decision
    /// gets this far, and it is carried on only while its stop is still held.
    Failed(Retry),
}

impl Remediate {
    /// Looks at the task, claims the action record and finishes the job, releasing the claim if
    /// it fails. A task ECS does not know (or Vigil cannot call) is recorded aside by the look,
    /// with no claim.
    pub(crate) async fn run(
        &self,
        job: &Job<'_>,
        delivery: Option<&Delivery>,
    ) -> Result<(), Retry> {
        // A crashed attempt's stored decision (`acting`, `acted`) is carried on from whatever the
        // task looks like now: a task ECS has since forgotten, an account without its member role
        // or a throttled look must not leave it unfinished (never noted, never announced) or hold
        // it up. Only then is the record read before the claim.
        let look = match self.sight(job).await {
            Ok(Ok(sighted)) => Look::Seen(sighted),
            Ok(Err(unsighted)) => {
                if !self.records.unfinished(&job.key).await? {
                    return self.record_unsighted(job, unsighted).await;
                }
                Look::Unseen
            }
            Err(e) => match self.records.unfinished(&job.key).await {
                Ok(true) => Look::Failed(e),
                _ => return Err(e),
            },
        };
        let now = job.now.timestamp();
        let task = job.key.task_arn.as_str();
        let fp = job.key.fingerprint.as_str();
        let record = match self
            .records
            .claim(&job.key, &job.owner, delivery, now)
            .await?
        {
            // A refusal, a stop over the limit or a stopped task is decided again when the
            // finding arrives again; a redelivery of the event it was decided for is not.
            // Without a look (the record was read as holding a crashed attempt's decision, which
            // another attempt has since completed), there is nothing to decide again with: the
            // record is not reopened (that would erase the completed decision and leave it open
            // for a redelivery of the event it was decided for); the message comes back and looks
            // again.
            Claim::Done(r)
                if !r.is_final && r.decided_event.as_deref() != Some(&job.event) && !job.stale =>
            {
                if !matches!(look, Look::Seen(_)) {
                    return Err(Retry::Other(format!(
                        "{} changed since it was read: to be looked at again",
                        job.key.pk()
                    )));
                }
                match self
                    .records
                    .reopen(&job.key, &job.owner, delivery, &job.event, now)
                    .await?
                {
                    Some(record) => record,
                    None => return Ok(()),
                }
            }
            Claim::Done(_) => {
                info!(
                    fingerprint = fp,
                    task, "already decided: duplicate delivery"
                );
                return Ok(());
            }
            // A copy of the event (another message) leaves the job to the message whose attempt
            // holds the claim: that message is not deleted until the job is done, and retrying
            // the copy would only wait out the lease (or, with quick redeliveries, use up its
            // receives and dead-letter a duplicate).
            Claim::Busy {
                message: Some(holder),
            } if delivery.is_some_and(|d| d.message_id != holder) => {
                info!(
                    fingerprint = fp,
                    task,
                    holder,
                    "claimed by another message's attempt: that message carries the job"
                );
                return Ok(());
            }
            Claim::Busy { .. } => {
                return Err(Retry::Other(format!(
                    "{} is being handled by another attempt",
                    job.key.pk()
                )));
            }
            Claim::Owned(record) => record,
        };
        let result = self.finish(job, record, look).await;
        if result.is_err() {
            // Best effort: if this fails too, the lease simply runs out.
            let _ = self.records.release(&job.key, &job.owner).await;
        }
        result
    }

    /// Everything after the claim: decide (or resume a stored decision), act, announce, complete.
    async fn finish(&self, job: &Job<'_>, record: ActionRecord, look: Look) -> Result<(), Retry> {
        let now = job.now.timestamp();
        let resumed = matches!(record.phase, Phase::Acting | Phase::Acted);
        // Whether the note is only the stored decision's word (see `stored_decision`): best
        // effort then.
        let mut note_optional = false;
        // A crashed attempt already decided: carry on with its decision, never decide twice.
        let stored = match (resumed, record.decision.as_deref()) {
            (true, Some(stored)) => {
                Some(stored_decision(job, stored, &record, &mut note_optional)?)
            }
            _ => None,
        };
        // Except a stop not yet made whose hold has lapsed: the hold is what kept the service's
        // `min_healthy_tasks` while the stop was pending, and once it lapsed other stops may have
        // counted this task as healthy. If the task still runs, the stop is decided again on
        // fresh facts; if it no longer does (the stop was made, or the task is gone), carrying
        // the stop on takes nothing healthy away.
        let (stored, lapsed, look) = match stored {
            Some(d) if record.phase == Phase::Acting && d.stop_reason.is_some() => {
                match self.lapsed_stop(&d, now).await? {
                    None => (Some(d), None, look),
                    Some(lapsed) => match look {
                        Look::Seen(
                            sighted @ Sighted::Task {
                                sighting: ecs::Sighting::Running(_),
                                ..
                            },
                        ) => (None, Some(lapsed), Look::Seen(sighted)),
                        // Whether the task still runs is not known: the message comes back.
                        Look::Failed(e) => return Err(e),
                        // ECS not knowing the task where the message says it runs shows it gone
                        // only if that is the cluster the stop was decided in. The cluster is
                        // covered by neither the fingerprint nor the dedup record: a copy naming
                        // another would have the stop carried on blind, taking a task the service
                        // may need by now for `min_healthy_tasks`. Not known either: it comes back.
                        Look::Unseen
                            if !job.subject.cluster_arn().is_some_and(|c| {
                                d.cluster_arn
                                    .as_deref()
                                    .is_some_and(|arn| ecs::same_cluster(arn, c))
                            }) =>
                        {
                            return Err(Retry::Other(format!(
                                "{}: the task is not known in the cluster the message names, not \
                                 the one its stop was decided in: to be looked at again",
                                job.key.pk()
                            )));
                        }
                        look => (Some(d), None, look),
                    },
                }
            }
            stored => (stored, None, look),
        };
        let carried_on = stored.is_some();
        let decision = match stored {
            Some(d) => d,
            None => {
                note_optional = false;
                // Without a look (the record was read as holding a crashed attempt's decision,
                // and another attempt has since finished or reopened it), nothing is decided: the
                // message comes back and looks again.
                let Look::Seen(sighted) = look else {
                    return Err(Retry::Other(format!(
                        "{} changed since it was read: to be looked at again",
                        job.key.pk()
                    )));
                };
                match self.look_and_decide(job, sighted, lapsed.as_ref()).await? {
                    Verdict::Untrusted(d) => {
                        // Found only on a fresh look (the alert's container is not the task's):
                        // refused as untrusted, with no note and no completed record for a decoy
                        // to take from the genuine alert.
                        self.record_aside(Aside::Untrusted, job, &d).await?;
                        self.records.release(&job.key, &job.owner).await?;
                        return Ok(());
                    }
                    Verdict::Made(d) => d,
                }
            }
        };
        let phase = match carried_on {
            true => record.phase,
            false if decision.outcome == Outcome::Act => Phase::Acting,
            false => Phase::Acted,
        };
        let decision = if phase == Phase::Acting {
            let d = self.act(decision).await?;
            let response = d
                .stop_response
                .as_ref()
                .map(Value::to_string)
                .unwrap_or_else(|| "null".into());
            self.records
                .acted(&job.key, &job.owner, &response, now)
                .await?;
            d
        } else {
            decision
        };
        if decision.outcome == Outcome::AwaitingApproval {
            self.propose(job, &decision).await?;
        }
        self.announce(&decision, note_optional || !job.note_vouched)
            .await?;
        self.records.complete(&job.key, &job.owner, now).await?;
        info!(
            fingerprint = decision.fingerprint,
            task = decision.task_arn,
            playbook = decision.playbook,
            mode = decision.mode.as_str(),
            decision = decision.outcome.as_str(),
            reason = decision.reason.as_deref(),
            "remediation decided"
        );
        Ok(())
    }

    /// The stored stop `d` as no longer held at `now` (its hold lapsed, or is gone); `None` while
    /// its hold stands.
    async fn lapsed_stop(&self, d: &Decision, now: i64) -> Result<Option<LapsedStop>, Retry> {
        // A stop decided again that lapsed once more was counted when first decided (see
        // `write_decision`): that time is kept.
        let decided_at = d
            .lapsed_stop
            .as_ref()
            .map_or(&d.decided_at, |l| &l.decided_at)
            .clone();
        // Every stop Vigil decides names the cluster ECS described its task in. One that names
        // none (an edited record) has no hold to be found, so it is not carried on blind (with
        // StopTask sent to no cluster) but decided again like any stop whose hold is gone.
        let Some(cluster) = d.cluster_arn.as_deref() else {
            return Ok(Some(LapsedStop {
                decided_at,
                held_until: None,
            }));
        };
        let holds = self
            .holds
            .read(cluster, d.service.as_deref().unwrap_or_default())
            .await?;
        let held_until = holds.until(&d.task_arn);
        Ok(match held_until {
            Some(until) if until > now => None,
            _ => Some(LapsedStop {
                decided_at,
                held_until,
            }),
        })
    }

    /// Records a decision apart from the finding's real action record, once per (finding, task,
    /// sender), with no ECS or Security Hub call.
    pub(crate) async fn record_aside(
        &self,
        aside: Aside,
        job: &Job<'_>,
        decision: &Decision,
    ) -> Result<(), Retry> {
        warn!(
            fingerprint = decision.fingerprint,
            task = decision.task_arn,
            reason = decision.reason.as_deref(),
            ?aside,
            "decision recorded aside"
        );
        let sender = job.subject.finding.provenance.sender_account.as_deref();
        self.records
            .record_aside(
                &job.key,
                aside,
                sender.unwrap_or("unknown"),
                &decision.to_json(),
                job.now.timestamp(),
            )
            .await?;
        Ok(())
    }

    /// StopTask and/or TagResource, for a decision to act. Safe to repeat after a crash: stopping a
    /// stopping task and setting a tag again change nothing.
    async fn act(&self, mut decision: Decision) -> Result<Decision, Retry> {
        let cluster = decision.cluster_arn.clone().unwrap_or_default();
        // The task's own account and region, as when it was looked at (a member's through its
        // role); only a change of MEMBER_ACCOUNTS since then can make it unreachable.
        let client = self
            .ecs_for(&decision.task_arn)
            .map_err(|e| Retry::Other(format!("cannot act on {}: {e}", decision.task_arn)))?;
        if let Some((key, value)) = &decision.tag {
            ecs::tag_task(&client, &decision.task_arn, key, value).await?;
        }
        if let Some(reason) = &decision.stop_reason {
            let response = ecs::stop_task(&client, &cluster, &decision.task_arn, reason).await?;
            decision.stop_response = Some(response);
        }
        Ok(decision)
    }

    /// The Security Hub note (on Vigil's finding, else GuardDuty's own, in the finding's account
    /// and region) and the `Remediation Executed` event. With `note_optional` (only a stored
    /// decision, or only the message, says where Vigil's finding is), a note on Vigil's finding
    /// that Security Hub does not have is only logged, as GuardDuty's is.
    async fn announce(&self, decision: &Decision, note_optional: bool) -> Result<(), Retry> {
        if let Some(target) = decision.note_target() {
            let stopped = decision.stop_response.is_some();
            let status = match decision.outcome {
                Outcome::NotRunning => None,
                Outcome::Act if stopped => Some(WorkflowStatus::Resolved),
                _ => Some(WorkflowStatus::Notified),
            };
            // GuardDuty's own finding may not be in Security Hub (the integration is off, or the
            // finding is still on its way): noting it is best effort. Vigil's own is there, unless
            // only a stored decision says so (`note_optional`).
            let ours = decision.securityhub.as_ref().is_some_and(|s| s.imported) && !note_optional;
            match self.securityhub_for(&target.id, &target.product_arn) {
                Ok(hub) => match vigil_securityhub::workflow::annotate(
                    &hub,
                    &target.id,
                    &target.product_arn,
                    &note(decision),
                    status,
                )
                .await
                {
                    Ok(()) => {}
                    Err(e) if !ours && e.is_permanent() => {
                        warn!(finding = target.id, error = %e, "the finding is not noted");
                    }
                    Err(e) => return Err(Retry::Other(e.to_string())),
                },
                // Vigil's own finding is only ever imported where its account and region route:
                // a region that does not (another partition, none, not a region name) is a
                // message's edit, and completing would leave the genuine finding without its note.
                // The decision waits for a message that names the place (see `finish`).
                Err(e) if ours && e.code() != "no_member_role" => {
                    return Err(Retry::Other(format!("cannot note {}: {e}", target.id)));
                }
                // The decision stands (it is recorded and published); only its note cannot be made.
                Err(e) => warn!(finding = target.id, error = %e, "the decision is not noted"),
            }
        }
        let mut event = VigilEvent::new(REMEDIATION_EXECUTED, decision)
            .map_err(|e| Retry::Other(e.to_string()))?;
        // `-` stands for "no task": only a real ARN goes into `resources`.
        if decision.task_arn.starts_with("arn:") {
            event.resources = vec![decision.task_arn.clone()];
        }
        if let Some(Err(e)) = self.publisher.publish(&[event]).await.into_iter().next() {
            return Err(Retry::Other(e.to_string()));
        }
        Ok(())
    }
}

/// A crashed attempt's stored decision, to carry on with. The note goes where this message says
/// its finding is. The stored decision was made for whichever copy claimed first, and where
/// Security Hub holds Vigil's finding (its region, whether it was imported) is the message's word,
/// covered by neither the fingerprint nor the dedup record: a copy naming another region must not
/// leave a decision whose note fails for every later message, the genuine one included. A message
/// naming no note target keeps the stored one, as best effort (`note_optional`): a copy claiming
/// an import that never happened must not hold up the genuine message, which says Security Hub
/// has no finding of Vigil's to note.
fn stored_decision(
    job: &Job<'_>,
    stored: &str,
    record: &ActionRecord,
    note_optional: &mut bool,
) -> Result<Decision, Retry> {
    let mut d: Decision = serde_json::from_str(stored)
        .map_err(|e| Retry::Other(format!("stored decision is unreadable: {e}")))?;
    if let Some(r) = record.stop_response.as_deref() {
        d.stop_response = serde_json::from_str(r).ok();
    }
    let mut here = d.clone();
    here.securityhub = Some(vigil_asff::securityhub_ref(
        job.subject.finding,
        job.imported,
    ));
    here.source_finding = job.source_finding.cloned();
    if here.note_target().is_some() {
        d = here;
    } else {
        *note_optional = d.note_target().is_some();
    }
    Ok(d)
}

fn note(d: &Decision) -> String {
    let expired = d
        .reason
        .as_deref()
        .is_some_and(|r| r.starts_with("approval: expired"));
    let what = match d.outcome {
        Outcome::Act if d.stop_response.is_some() => "stopped the task".to_owned(),
        Outcome::Act => "tagged the task for forensics".to_owned(),
        Outcome::DryRun if d.would_propose => {
            "would propose stopping or tagging the task for approval (dry run, nothing changed)"
                .to_owned()
        }
        Outcome::DryRun => "would stop or tag the task (dry run, nothing changed)".to_owned(),
        Outcome::AwaitingApproval => "proposes to act on the task, awaiting approval".to_owned(),
        Outcome::Refused if expired => "refused the approval: it expired".to_owned(),
        Outcome::Recorded => "recorded the finding".to_owned(),
        Outcome::Refused => "refused to act".to_owned(),
        Outcome::NotRunning => "did nothing: the task is not running".to_owned(),
        Outcome::RateLimited => {
            "recorded instead of stopping: the stop limit is reached".to_owned()
        }
    };
    let mut text = format!(
        "Vigil playbook {} ({}) {what}: {}.",
        d.playbook,
        d.mode.as_str(),
        d.task_arn
    );
    if let Some(r) = &d.reason {
        text.push_str(&format!(" Reason: {r}."));
    }
    // The way to approve first: the note is cut at 512 characters.
    if let Some(p) = &d.proposal {
        text.push_str(&format!(
            " To approve, select this finding and choose the custom action \"{}\" before {}. Proposed: {} ({}).",
            p.approve_with,
            p.expires_at,
            d.actions
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            p.reason,
        ));
    }
    if let Some(a) = &d.approval {
        text.push_str(&format!(
            " Approval {} by account {} at {} (proposed {}).",
            a.event_id, a.account, a.approved_at, a.proposed_at
        ));
    }
    if let Some(r) = &d.stop_reason {
        text.push_str(&format!(" stoppedReason: {r}"));
    }
    text
}
