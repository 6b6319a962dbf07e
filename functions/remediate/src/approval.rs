//! Analyst-approved response. A playbook in `mode: approve` decides as usual and, where it would act,
//! records the plan as `awaiting_approval` (no StopTask, no stop counted, no hold on the service)
//! and files it under the Security Hub finding an analyst will select ([`crate::proposal`]). The
//! analyst approves with the Security Hub custom action the template creates; its `Security Hub
//! Findings - Custom Action` event reaches remediate through a queue of its own.
//!
//! Who sent an approval is decided by where it arrived, never by its payload: a record is an
//! approval only when it came from the approval queue (`APPROVAL_QUEUE_ARN`, fed only by the
//! default-bus rule for the custom action), and then only when its `source` is `aws.securityhub`,
//! its `detail-type` the custom action's, its `account` the deploying account and its `resources`
//! name the configured action target (`APPROVAL_ACTION_TARGET_ARN`). Anything else on that queue is
//! refused and dead-lettered; an approval-shaped event on the remediate queue is not an input
//! there and is dead-lettered too. What is approved is only ever read from Vigil's own table.
//!
//! For each selected finding, each task's proposal is decided again with the same core on fresh
//! state (vouching, live task, protection, min healthy tasks, rate limits) plus the `approval`
//! guardrail (the approval's age against `APPROVAL_TTL_SECONDS`), then acted on through the same
//! claimed job as an automatic stop, keyed as an enforced action: a redelivered approval, or two
//! approvals at once, stop the task once. The approval's event id, time and account are recorded
//! on the decision. A selected finding with nothing awaiting gets a note saying so.

use crate::action_record::Delivery;
use crate::decision::Decision;
use crate::job::Job;
use crate::proposal::Proposal;
use crate::{FindingEnriched, Remediate, RemediationMode, Retry};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{info, warn};
use vigil_lambda::{SqsMessage, sqs};
use vigil_playbook::Approval;

/// The only `source` an approval may come from.
pub const SECURITYHUB_SOURCE: &str = "aws.securityhub";
/// The detail-type of a Security Hub custom action's event.
pub const CUSTOM_ACTION_DETAIL_TYPE: &str = "Security Hub Findings - Custom Action";
/// The custom action's name, as the template creates it (Security Hub allows 20 characters).
pub const ACTION_NAME: &str = "Vigil: approve stop";
/// Selected findings read from one approval (the console sends at most 20, the API 100).
const MAX_SELECTED: usize = 100;

/// Who approved, recorded on the decision the approval led to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovedBy {
    /// The custom action event's id.
    pub event_id: String,
    /// The event's `time` (RFC 3339).
    pub approved_at: String,
    /// The account the event came from (the deploying account).
    pub account: String,
    /// The Security Hub finding selected.
    pub finding_id: String,
    /// When the proposal was decided (RFC 3339).
    pub proposed_at: String,
}

impl ApprovedBy {
    /// What the decision core needs of the approval.
    pub fn core(&self, ttl_seconds: u64) -> Option<Approval> {
        let time = |s: &str| DateTime::parse_from_rfc3339(s).ok().map(|t| t.to_utc());
        Some(Approval {
            proposed_at: time(&self.proposed_at)?,
            approved_at: time(&self.approved_at)?,
            ttl_seconds,
        })
    }
}

/// The plan a proposal recorded on its decision (`awaiting_approval`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposed {
    /// The playbook's reason, rendered for this finding.
    pub reason: String,
    /// The Security Hub custom action that approves it.
    pub approve_with: String,
    /// After this (RFC 3339) an approval is refused as expired.
    pub expires_at: String,
}

/// An approval for one task: who approved, and the task and plan of the proposal it approves.
#[derive(Clone, Copy)]
pub(crate) struct ApprovalFor<'a> {
    pub by: &'a ApprovedBy,
    pub task_arn: &'a str,
    /// The playbook the proposal was decided by, and its actions: the plan the analyst approved.
    pub playbook: &'a str,
    pub actions: &'a [String],
    pub core: Approval,
}

impl ApprovalFor<'_> {
    /// Whether `playbook` is the plan the analyst approved (same playbook, same actions): a
    /// playbook changed since the proposal (a redeployment) is not carried out on its approval.
    pub(crate) fn approves(&self, playbook: &vigil_playbook::Playbook) -> bool {
        playbook.name.as_str() == self.playbook
            && playbook
                .actions
                .iter()
                .map(|a| a.as_str())
                .eq(self.actions.iter().map(String::as_str))
    }
}

/// One finding the analyst selected (ASFF `Id`, `ProductArn`, `AwsAccountId`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// The finding's `Id`.
    pub id: String,
    /// The finding's `ProductArn`.
    pub product_arn: String,
    /// The finding's `AwsAccountId`.
    pub account: String,
}

/// A custom action event that passed every trust check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalEvent {
    /// The EventBridge event id (at most 128 characters).
    pub id: String,
    /// The event's `time`.
    pub time: DateTime<Utc>,
    /// The account it came from: always the deploying account.
    pub account: String,
    /// The findings selected (`detail.findings`), the first 100 read; never empty.
    pub findings: Vec<Selected>,
}

/// Reads an approval from the approval queue; `Err` says why it is not one this deployment trusts.
pub fn parse_approval(
    body: &str,
    action_target: Option<&str>,
    deploying_account: Option<&str>,
) -> Result<ApprovalEvent, String> {
    let event: Value =
        serde_json::from_str(body).map_err(|_| "the body is not a JSON event".to_owned())?;
    let text = |k: &str| event.get(k).and_then(Value::as_str).unwrap_or_default();
    if text("source") != SECURITYHUB_SOURCE {
        return Err(format!(
            "source {:?} is not {SECURITYHUB_SOURCE}",
            text("source")
        ));
    }
    if text("detail-type") != CUSTOM_ACTION_DETAIL_TYPE {
        return Err(format!(
            "detail-type {:?} is not {CUSTOM_ACTION_DETAIL_TYPE:?}",
            text("detail-type")
        ));
    }
    let Some(deploying) = deploying_account else {
        return Err("the deploying account is unknown".into());
    };
    if text("account") != deploying {
        return Err(format!(
            "account {:?} is not the deploying account {deploying}",
            text("account")
        ));
    }
    let Some(target) = action_target.filter(|t| !t.is_empty()) else {
        return Err("no approval action target is configured".into());
    };
    let named = event
        .get("resources")
        .and_then(Value::as_array)
        .is_some_and(|r| r.iter().any(|v| v.as_str() == Some(target)));
    if !named {
        return Err(format!("resources do not name the action target {target}"));
    }
    let id = text("id");
    if id.is_empty() || id.len() > 128 {
        return Err("the event has no usable id".into());
    }
    let time = DateTime::parse_from_rfc3339(text("time"))
        .map_err(|_| format!("time {:?} is not RFC 3339", text("time")))?
        .to_utc();
    let Some(list) = event
        .get("detail")
        .and_then(|d| d.get("findings"))
        .and_then(Value::as_array)
    else {
        return Err("detail.findings is missing".into());
    };
    let findings: Vec<Selected> = list
        .iter()
        .take(MAX_SELECTED)
        .filter_map(|f| {
            let field = |k: &str| {
                f.get(k)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty() && s.len() <= 512)
                    .map(str::to_owned)
            };
            Some(Selected {
                id: field("Id")?,
                product_arn: field("ProductArn")?,
                account: field("AwsAccountId")?,
            })
        })
        .collect();
    if findings.is_empty() {
        return Err("detail.findings names no finding (Id, ProductArn, AwsAccountId)".into());
    }
    Ok(ApprovalEvent {
        id: id.to_owned(),
        time,
        account: deploying.to_owned(),
        findings,
    })
}

/// GuardDuty's own Security Hub finding for a GuardDuty finding (`Id` = the GuardDuty finding ARN,
/// product `aws/guardduty`), read from the event ingest kept, when it shows it. Not covered by the
/// fingerprint: remediate files a proposal under it only when ingest recorded it for the finding
/// (see [`vigil_dedup::RecordedOrigin::source_refs`]).
pub use vigil_asff::guardduty_ref;

impl Remediate {
    /// Takes the records of the approval queue out of `records` and handles them; returns the
    /// message ids of those SQS must deliver again.
    pub(crate) async fn take_approvals(
        &self,
        records: &mut Vec<SqsMessage>,
        deploying_account: Option<&str>,
    ) -> Vec<String> {
        let Some(queue) = self
            .settings
            .approval_queue_arn
            .as_deref()
            .filter(|q| !q.is_empty())
        else {
            return Vec::new();
        };
        let from_queue = |r: &SqsMessage| r.event_source_arn.as_deref() == Some(queue);
        let (approvals, others): (Vec<SqsMessage>, Vec<SqsMessage>) =
            std::mem::take(records).into_iter().partition(from_queue);
        *records = others;
        let mut failed = Vec::new();
        for r in approvals {
            let body = sqs::body(&r);
            let delivery = crate::handler::delivery(&r);
            if let Err(e) = self
                .approve_message(body, delivery.as_ref(), deploying_account)
                .await
            {
                warn!(error = %e, "approval returned to its queue");
                failed.push(r.message_id.clone().unwrap_or_default());
            }
        }
        failed
    }

    /// One message from the approval queue. A message that is not a trusted approval is refused:
    /// it goes back to the queue and, after its receives, to the approval dead-letter queue.
    pub async fn approve_message(
        &self,
        body: &str,
        delivery: Option<&Delivery>,
        deploying_account: Option<&str>,
    ) -> Result<(), Retry> {
        let event = parse_approval(
            body,
            self.settings.approval_action_target_arn.as_deref(),
            deploying_account,
        )
        .map_err(|why| {
            warn!(reason = why, "not a trusted approval: nothing is approved");
            Retry::Other(format!("not a trusted approval: {why}"))
        })?;
        self.approve(&event, delivery).await
    }

    /// A trusted approval: each selected finding's proposals, decided again and acted on once.
    pub async fn approve(
        &self,
        event: &ApprovalEvent,
        delivery: Option<&Delivery>,
    ) -> Result<(), Retry> {
        if self.settings.mode != RemediationMode::Enforce {
            warn!(
                approval = event.id,
                mode = ?self.settings.mode,
                "approval not acted on: REMEDIATION_MODE is not enforce"
            );
            return Ok(());
        }
        let mut guardrails = self.settings.guardrails.clone();
        guardrails.trusted_accounts.insert(event.account.clone());
        // Never later than now: the approval's age is judged by the time Security Hub stamped.
        let approved_at = event.time.min((self.clock)());
        let mut result = Ok(());
        for selected in &event.findings {
            let proposals: Vec<Proposal> = self
                .proposals
                .under(&selected.id)
                .await?
                .into_iter()
                .filter(|p| {
                    p.product_arn == selected.product_arn && p.finding_account == selected.account
                })
                .collect();
            if proposals.is_empty() {
                info!(
                    approval = event.id,
                    finding = selected.id,
                    "nothing awaits approval for the selected finding"
                );
                self.note_selected(
                    selected,
                    &format!(
                        "Vigil: nothing awaits approval for this finding (approval {}).",
                        event.id
                    ),
                )
                .await?;
                continue;
            }
            for p in &proposals {
                let by = ApprovedBy {
                    event_id: event.id.clone(),
                    approved_at: approved_at.to_rfc3339(),
                    account: event.account.clone(),
                    finding_id: selected.id.clone(),
                    proposed_at: p.proposed_at.clone(),
                };
                if let Err(e) = self.approve_one(p, &by, delivery, &guardrails).await {
                    warn!(approval = event.id, task = p.task_arn, error = %e, "approving a task failed");
                    result = Err(e);
                }
            }
        }
        result
    }

    async fn approve_one(
        &self,
        p: &Proposal,
        by: &ApprovedBy,
        delivery: Option<&Delivery>,
        guardrails: &vigil_playbook::Guardrails,
    ) -> Result<(), Retry> {
        let detail: FindingEnriched<'static> = match serde_json::from_str(&p.detail) {
            Ok(d) => d,
            Err(e) => {
                // Vigil's own record: unreadable only if written by another version.
                warn!(task = p.task_arn, error = %e, "a proposal's finding is unreadable: not acted on");
                return Ok(());
            }
        };
        // Filed under another finding than Vigil's own (GuardDuty's): acted on only while ingest's
        // record of the finding names it, whatever version filed the proposal.
        let own = vigil_asff::securityhub_ref(&detail.finding, true);
        if (own.id.as_str(), own.product_arn.as_str())
            != (p.finding_id.as_str(), p.product_arn.as_str())
        {
            let recorded = self
                .dedup
                .origin(detail.finding.fingerprint.as_str())
                .await
                .map_err(|e| Retry::Other(e.to_string()))?;
            if !recorded.is_some_and(|r| r.source_refs.contains(&p.finding_id)) {
                warn!(
                    task = p.task_arn,
                    finding = p.finding_id,
                    "ingest recorded no such finding for the proposal's: not acted on"
                );
                return Ok(());
            }
        }
        let Some(core) = by.core(self.settings.approval_ttl_seconds) else {
            warn!(
                task = p.task_arn,
                proposed_at = p.proposed_at,
                "a proposal's time is unreadable: not acted on"
            );
            return Ok(());
        };
        let approval = ApprovalFor {
            by,
            task_arn: &p.task_arn,
            playbook: &p.playbook,
            actions: &p.actions,
            core,
        };
        self.remediate_approved(&detail, &by.event_id, delivery, guardrails, approval)
            .await
    }

    /// The note on a selected finding Vigil has nothing to act on for. A finding Security Hub does
    /// not have (in this account and region) is only logged.
    async fn note_selected(&self, selected: &Selected, note: &str) -> Result<(), Retry> {
        let hub = match self.securityhub_for(&selected.id, &selected.product_arn) {
            Ok(hub) => hub,
            Err(e) => {
                warn!(finding = selected.id, error = %e, "could not note the selected finding");
                return Ok(());
            }
        };
        match vigil_securityhub::workflow::annotate(
            &hub,
            &selected.id,
            &selected.product_arn,
            note,
            None,
        )
        .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.is_permanent() => {
                warn!(finding = selected.id, error = %e, "could not note the selected finding");
                Ok(())
            }
            Err(e) => Err(Retry::Other(e.to_string())),
        }
    }

    /// Files a decision awaiting approval under the Security Hub findings an analyst may select:
    /// Vigil's own and, for a GuardDuty finding, GuardDuty's.
    pub(crate) async fn propose(&self, job: &Job<'_>, decision: &Decision) -> Result<(), Retry> {
        let finding = job.subject.finding;
        let detail = serde_json::to_string(job.detail).map_err(|e| Retry::Other(e.to_string()))?;
        let account = finding.account.clone().unwrap_or_default();
        let mut refs: Vec<(String, String)> = decision
            .securityhub
            .iter()
            .map(|r| (r.id.clone(), r.product_arn.clone()))
            .collect();
        // GuardDuty's finding only as ingest recorded it (vouched for when the message was read).
        refs.extend(
            job.source_finding
                .map(|r| (r.id.clone(), r.product_arn.clone())),
        );
        let reason = decision
            .proposal
            .as_ref()
            .map(|p| p.reason.clone())
            .unwrap_or_default();
        for (finding_id, product_arn) in refs {
            let proposal = Proposal {
                finding_id,
                product_arn,
                finding_account: account.clone(),
                fingerprint: decision.fingerprint.clone(),
                task_arn: decision.task_arn.clone(),
                playbook: decision.playbook.clone(),
                actions: decision
                    .actions
                    .iter()
                    .map(|a| a.as_str().to_owned())
                    .collect(),
                reason: reason.clone(),
                proposed_at: decision.decided_at.clone(),
                proposal_event: job.event.clone(),
                detail: detail.clone(),
            };
            self.proposals.put(&proposal, job.now.timestamp()).await?;
        }
        info!(
            fingerprint = decision.fingerprint,
            task = decision.task_arn,
            playbook = decision.playbook,
            "stop proposed: awaiting approval"
        );
        Ok(())
    }

    /// The plan of a decision that awaits approval, and whether a dry run would have proposed.
    pub(crate) fn plan(
        &self,
        core: &vigil_playbook::PlaybookDecision<'_>,
        decision: &mut Decision,
    ) {
        use vigil_playbook::{Mode, Outcome};
        if core.evaluation.outcome == Outcome::AwaitingApproval {
            let ttl = i64::try_from(self.settings.approval_ttl_seconds).unwrap_or(i64::MAX);
            let expires = DateTime::parse_from_rfc3339(&decision.decided_at)
                .ok()
                .and_then(|t| t.checked_add_signed(chrono::Duration::seconds(ttl)))
                .map(|t| t.to_rfc3339())
                .unwrap_or_default();
            decision.proposal = Some(Proposed {
                reason: core.rendered_reason.clone(),
                approve_with: ACTION_NAME.to_owned(),
                expires_at: expires,
            });
        }
        decision.would_propose = core.mode == Mode::DryRun
            && core.playbook.mode(self.playbooks.default_mode) == Mode::Approve;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TARGET: &str = "arn:aws:securityhub:us-east-1:123456789012:action/custom/VigilApprove";

    fn event() -> Value {
        json!({"version": "0", "id": "e1", "source": "aws.securityhub",
            "detail-type": "Security Hub Findings - Custom Action", "account": "123456789012",
            "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [TARGET],
            "detail": {"actionName": "Vigil: approve stop", "findings": [
                {"Id": "vigil-v1-abc", "ProductArn": "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default", "AwsAccountId": "123456789012"}]}})
    }

    fn parse(v: &Value) -> Result<ApprovalEvent, String> {
        parse_approval(&v.to_string(), Some(TARGET), Some("123456789012"))
    }

    #[test]
    fn a_custom_action_event_is_an_approval() {
        let a = parse(&event()).unwrap();
        assert_eq!(a.id, "e1");
        assert_eq!(a.findings[0].id, "vigil-v1-abc");
    }

    #[test]
    fn only_the_exact_source_account_and_action_target_are_trusted() {
        let mut cases = Vec::new();
        for (k, v) in [
            ("source", json!("aws.securityhub ")),
            ("source", json!("vigil")),
            ("detail-type", json!("Security Hub Findings - Imported")),
            ("account", json!("999999999999")),
            (
                "resources",
                json!(["arn:aws:securityhub:us-east-1:123456789012:action/custom/Other"]),
            ),
            ("resources", json!(TARGET)),
            ("time", json!("yesterday")),
            ("id", json!("")),
            ("detail", json!({"findings": []})),
            ("detail", json!({"findings": [{"Id": "x"}]})),
            ("detail", json!("nope")),
        ] {
            let mut e = event();
            e[k] = v;
            cases.push(e);
        }
        for e in cases {
            assert!(parse(&e).is_err(), "{e}");
        }
        assert!(parse_approval(&event().to_string(), None, Some("123456789012")).is_err());
        assert!(parse_approval(&event().to_string(), Some(TARGET), None).is_err());
        for junk in ["", "[]", "null", "{", "\"x\""] {
            assert!(parse_approval(junk, Some(TARGET), Some("123456789012")).is_err());
        }
    }

    #[test]
    fn the_ttl_is_judged_from_the_recorded_times() {
        let by = ApprovedBy {
            event_id: "e".into(),
            approved_at: "2026-01-02T00:00:00Z".into(),
            account: "123456789012".into(),
            finding_id: "f".into(),
            proposed_at: "2026-01-01T00:00:00Z".into(),
        };
        let a = by.core(86_400).unwrap();
        assert_eq!((a.approved_at - a.proposed_at).num_seconds(), 86_400);
        let bad = ApprovedBy {
            proposed_at: "garbage".into(),
            ..by
        };
        assert!(bad.core(1).is_none());
    }
}
