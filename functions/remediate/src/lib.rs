//! The remediate function: `Finding Enriched` → playbooks → guardrails → ECS StopTask (exactly
//! once) → audit record → Security Hub note → `Remediation Executed`. `ECS Task State Change`
//! events to STOPPED that carry our reason confirm a stop on its record.
//!
//! Safety first, in this order: the global mode caps every playbook (`dry_run` unless deployed
//! otherwise); an event that is not from Vigil, or whose event, finding or task account is not
//! trusted, or whose cluster is not allowed, never touches a task or the finding's record; the
//! task is looked at afresh (never the enrichment cache) and must be RUNNING, unprotected and not
//! its service's last; and the stop counters are taken in the same transaction that records the
//! decision.
//!
//! - [`settings`]: the environment.
//! - [`action_record`]: the conditional writes that make each stop happen once.
//! - [`rate_limit`]: the per-service and per-cluster stop counters.
//! - [`ecs`]: the fresh DescribeTasks / DescribeServices, StopTask, TagResource.

pub mod action_record;
pub mod ecs;
pub mod rate_limit;
pub mod settings;

pub use settings::{RemediateSettings, RemediationMode};
pub use vigil_runtime::{Clock, init_logging};

use action_record::{
    ActionKey, ActionStore, Claim, Decided, DecisionWrite, Delivery, Phase, RecordError,
};
use aws_sdk_securityhub::types::WorkflowStatus;
use rate_limit::RateCounter;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::{info, warn};
use vigil_adapters::{SourceEvent, TaskStateChange};
use vigil_bus::{EventPublisher, VigilEvent};
use vigil_dedup::{DedupConfig, DedupStore, RecordedOrigin};
use vigil_model::{Finding, TaskInfo};
use vigil_playbook::{
    Action, Evaluation, LiveTask, MAX_STOP_REASON, Mode, Origin, Outcome, PlaybookFile, Subject,
};

pub use vigil_contract::{FindingEnriched, REMEDIATION_EXECUTED, SecurityHubRef};

/// Everything decided about one (finding, task): stored on the action record (as JSON) and
/// published as `Remediation Executed`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Decision {
    pub action_id: String,
    pub fingerprint: String,
    pub rule: String,
    pub task_arn: String,
    pub cluster_arn: Option<String>,
    pub service: Option<String>,
    pub playbook: String,
    pub mode: Mode,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub checks: Value,
    pub actions: Vec<Action>,
    pub stop_reason: Option<String>,
    pub tag: Option<(String, String)>,
    /// The task as a fresh DescribeTasks saw it before anything was done.
    pub evidence: Option<TaskInfo>,
    pub securityhub: Option<SecurityHubRef>,
    pub event_id: Option<String>,
    pub decided_at: String,
    #[serde(default)]
    pub stop_response: Option<Value>,
}

/// The SQS message id and receive count of a record, when it has both.
fn delivery(record: &Value) -> Option<Delivery> {
    let message_id = record.get("messageId")?.as_str()?;
    let receive_count = record
        .get("attributes")?
        .get("ApproximateReceiveCount")?
        .as_str()?
        .parse()
        .ok()?;
    (!message_id.is_empty()).then(|| Delivery {
        message_id: message_id.to_owned(),
        receive_count,
    })
}

enum Message {
    Enriched {
        detail: Box<FindingEnriched<'static>>,
        event_id: Option<String>,
    },
    TaskStopped(Box<TaskStateChange>),
    Ignored,
    Invalid(String),
}

/// What deciding came to.
enum Verdict {
    /// Written to the action record, to act on or announce.
    Made(Decision),
    /// A trust check failed on the fresh look: nothing written to the action record.
    Untrusted(Decision),
}

/// Why a message goes back to SQS.
#[derive(Debug, thiserror::Error)]
enum Retry {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Ecs(#[from] vigil_ecs::describe::EcsError),
    #[error("{0}")]
    Other(String),
}

pub struct Remediate {
    ecs: aws_sdk_ecs::Client,
    /// Reads what ingest recorded of each finding's origin (never writes it).
    dedup: DedupStore,
    securityhub: aws_sdk_securityhub::Client,
    records: ActionStore,
    publisher: EventPublisher,
    playbooks: PlaybookFile,
    settings: RemediateSettings,
    clock: Clock,
}

impl Remediate {
    pub fn new(
        ecs: aws_sdk_ecs::Client,
        securityhub: aws_sdk_securityhub::Client,
        dynamodb: aws_sdk_dynamodb::Client,
        eventbridge: aws_sdk_eventbridge::Client,
        playbooks: PlaybookFile,
        settings: RemediateSettings,
    ) -> Self {
        Remediate {
            ecs,
            dedup: DedupStore::new(
                dynamodb.clone(),
                DedupConfig::new(settings.table_name.clone()),
            ),
            securityhub,
            records: ActionStore::new(
                dynamodb,
                settings.table_name.clone(),
                settings.lease_seconds,
                settings.retention_seconds,
            ),
            publisher: EventPublisher::new(
                eventbridge,
                settings.event_bus_name.clone(),
                vigil_bus::RetryPolicy::default(),
            ),
            playbooks,
            settings,
            clock: vigil_runtime::system_clock(),
        }
    }

    /// Builds the clients once, from the Lambda environment.
    pub fn from_env(
        playbooks: PlaybookFile,
        settings: RemediateSettings,
        sdk: &aws_config::SdkConfig,
    ) -> Self {
        Self::new(
            aws_sdk_ecs::Client::new(sdk),
            aws_sdk_securityhub::Client::new(sdk),
            aws_sdk_dynamodb::Client::new(sdk),
            aws_sdk_eventbridge::Client::new(sdk),
            playbooks,
            settings,
        )
    }

    /// Reads and checks the playbook file named in the settings; the function refuses to start on
    /// a bad one.
    pub fn load_playbooks(settings: &RemediateSettings) -> Result<PlaybookFile, String> {
        let path = &settings.playbooks_file;
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read playbooks {}: {e}", path.display()))?;
        PlaybookFile::parse(&text).map_err(|e| format!("playbooks {}: {e}", path.display()))
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The Lambda handler for the remediate queue's SQS batches. `invoked_function_arn` names the
    /// deploying account, which is always trusted.
    pub async fn handle(
        &self,
        payload: Value,
        invoked_function_arn: Option<String>,
    ) -> Result<Value, lambda_runtime::Error> {
        let mut records = payload
            .get("Records")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        // Only the event source mapping of our own queue delivers to this function; a record
        // naming another source was sent by someone invoking it directly.
        let queues = &self.settings.queue_arns;
        records.retain(|r| {
            let source = r.get("eventSourceARN").and_then(Value::as_str);
            let ours = queues.is_empty() || source.is_some_and(|s| queues.iter().any(|q| q == s));
            if !ours {
                warn!(
                    event_source = source,
                    "a record from outside the remediate queue ignored"
                );
            }
            ours
        });
        let field = |r: &Value, k: &str| {
            r.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let messages: Vec<(String, Option<Delivery>)> = records
            .iter()
            .map(|r| (field(r, "body"), delivery(r)))
            .collect();
        let account = invoked_function_arn
            .as_deref()
            .and_then(vigil_runtime::account_of_function_arn);
        let failed = Box::pin(self.process_batch(&messages, account.as_deref())).await;
        let failures: Vec<Value> = failed
            .into_iter()
            .map(|i| json!({ "itemIdentifier": field(&records[i], "messageId") }))
            .collect();
        Ok(json!({ "batchItemFailures": failures }))
    }

    /// Processes message bodies one at a time, as if none had been received before; returns the
    /// indexes SQS must deliver again.
    pub async fn process(&self, bodies: &[String], deploying_account: Option<&str>) -> Vec<usize> {
        let messages: Vec<(String, Option<Delivery>)> =
            bodies.iter().map(|b| (b.clone(), None)).collect();
        Box::pin(self.process_batch(&messages, deploying_account)).await
    }

    async fn process_batch(
        &self,
        messages: &[(String, Option<Delivery>)],
        deploying_account: Option<&str>,
    ) -> Vec<usize> {
        let mut failed = Vec::new();
        let mut guardrails = self.settings.guardrails.clone();
        guardrails
            .trusted_accounts
            .extend(deploying_account.map(str::to_owned));
        for (i, (body, delivery)) in messages.iter().enumerate() {
            let result = match classify(body) {
                Message::Enriched { detail, event_id } => {
                    self.remediate(&detail, event_id.as_deref(), delivery.as_ref(), &guardrails)
                        .await
                }
                Message::TaskStopped(t) => self.confirm(&t, &guardrails).await,
                Message::Ignored => Ok(()),
                Message::Invalid(reason) => {
                    Err(Retry::Other(format!("not a remediation input: {reason}")))
                }
            };
            if let Err(e) = result {
                warn!(message = i, error = %e, "message returned to the queue");
                failed.push(i);
            }
        }
        failed
    }

    async fn remediate(
        &self,
        detail: &FindingEnriched<'_>,
        event_id: Option<&str>,
        delivery: Option<&Delivery>,
        guardrails: &vigil_playbook::Guardrails,
    ) -> Result<(), Retry> {
        let finding = &detail.finding;
        let fp = finding.fingerprint.as_str();
        if self.settings.mode == RemediationMode::Off {
            info!(fingerprint = fp, decision = "off", "remediation is off");
            return Ok(());
        }
        let subject = Subject::new(
            finding,
            Some(&detail.enrichment),
            vigil_asff::finding_types(finding),
        );
        let Some(playbook) = self.playbooks.first_match(&subject) else {
            info!(
                fingerprint = fp,
                decision = "no_playbook",
                "no playbook matches"
            );
            return Ok(());
        };
        let mode = self
            .settings
            .mode
            .cap(playbook.mode(self.playbooks.default_mode));
        // The sender is the one ingest stamped; the table check below holds the message to it.
        let event_account = finding.provenance.sender_account.as_deref();
        let now = (self.clock)();
        let origin = Origin {
            event_source: vigil_playbook::guardrails::VIGIL_SOURCE,
            event_account,
            now: Some(now),
        };
        let task_arn = subject.task_arn().unwrap_or("-").to_owned();
        let key = ActionKey {
            fingerprint: fp.to_owned(),
            task_arn: task_arn.clone(),
            mode,
        };
        let now_s = now.timestamp();

        let mut decision = Decision {
            action_id: format!("{}|{}", key.pk(), key.sk()),
            fingerprint: fp.to_owned(),
            rule: finding.rule.clone(),
            task_arn: task_arn.clone(),
            cluster_arn: subject.cluster_arn().map(str::to_owned),
            service: subject.service().map(str::to_owned),
            playbook: playbook.name.as_str().to_owned(),
            mode,
            outcome: Outcome::Refused,
            reason: None,
            checks: Value::Null,
            actions: playbook.actions.clone(),
            stop_reason: None,
            tag: None,
            evidence: None,
            securityhub: Some(vigil_asff::securityhub_ref(
                finding,
                detail.securityhub.imported,
            )),
            event_id: event_id.map(str::to_owned),
            decided_at: now.to_rfc3339(),
            stop_response: None,
        };

        // Trust first, from the event and Vigil's own table alone: a forged event gets no ECS or
        // Security Hub call and no say over the finding's real record.
        let recorded = self
            .dedup
            .origin(fp)
            .await
            .map_err(|e| Retry::Other(e.to_string()))?;
        let mut first = guardrails.evaluate(playbook, mode, &subject, origin, &LiveTask::Unknown);
        if let Some(disagreement) = disagreement(finding, recorded.as_ref()) {
            first.refuse_untrusted("recorded_origin", disagreement);
        }
        if first.untrusted() {
            fill(&mut decision, &first);
            return self.refuse_untrusted(&key, finding, &decision, now_s).await;
        }

        let owner = format!("{}-{:016x}", std::process::id(), fastrand::u64(..));
        let record = match self.records.claim(&key, &owner, delivery, now_s).await? {
            Claim::Done(_) => {
                info!(
                    fingerprint = fp,
                    task = task_arn,
                    "already decided: duplicate delivery"
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
                    task = task_arn,
                    holder,
                    "claimed by another message's attempt: that message carries the job"
                );
                return Ok(());
            }
            Claim::Busy { .. } => {
                return Err(Retry::Other(format!(
                    "{} is being handled by another attempt",
                    key.pk()
                )));
            }
            Claim::Owned(record) => record,
        };

        let result = self
            .finish(
                &key, &owner, record, playbook, mode, &subject, origin, guardrails, decision, now_s,
            )
            .await;
        if result.is_err() {
            // Best effort: if this fails too, the lease simply runs out.
            let _ = self.records.release(&key, &owner).await;
        }
        result
    }

    /// Records a refusal of an untrusted finding apart from its real action record, once per
    /// (finding, task, sender), with no ECS or Security Hub call.
    async fn refuse_untrusted(
        &self,
        key: &ActionKey,
        finding: &Finding,
        decision: &Decision,
        now_s: i64,
    ) -> Result<(), Retry> {
        warn!(
            fingerprint = decision.fingerprint,
            task = decision.task_arn,
            reason = decision.reason.as_deref(),
            "untrusted finding refused"
        );
        let sender = finding.provenance.sender_account.as_deref();
        self.records
            .record_untrusted(key, sender.unwrap_or("unknown"), &to_json(decision), now_s)
            .await?;
        Ok(())
    }

    /// Everything after the claim: decide (or resume a stored decision), act, announce, complete.
    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        key: &ActionKey,
        owner: &str,
        record: action_record::ActionRecord,
        playbook: &vigil_playbook::Playbook,
        mode: Mode,
        subject: &Subject<'_>,
        origin: Origin<'_>,
        guardrails: &vigil_playbook::Guardrails,
        decision: Decision,
        now_s: i64,
    ) -> Result<(), Retry> {
        let fp = decision.fingerprint.clone();
        let decision = match (record.phase, record.decision.as_deref()) {
            // A crashed attempt already decided: carry on with its decision, never decide twice.
            (Phase::Acting | Phase::Acted, Some(stored)) => {
                let mut d: Decision = serde_json::from_str(stored)
                    .map_err(|e| Retry::Other(format!("stored decision is unreadable: {e}")))?;
                if let Some(r) = record.stop_response.as_deref() {
                    d.stop_response = serde_json::from_str(r).ok();
                }
                d
            }
            _ => {
                match self
                    .decide(
                        key, owner, playbook, mode, subject, origin, guardrails, decision, now_s,
                    )
                    .await?
                {
                    Verdict::Untrusted(d) => {
                        // Found only on a fresh look (the alert's container is not the task's):
                        // refused as untrusted, with no note and no completed record for a decoy to
                        // take from the genuine alert.
                        self.refuse_untrusted(key, subject.finding, &d, now_s)
                            .await?;
                        self.records.release(key, owner).await?;
                        return Ok(());
                    }
                    Verdict::Made(d) => d,
                }
            }
        };

        let phase = match (record.phase, record.decision.is_some()) {
            (Phase::Acting | Phase::Acted, true) => record.phase,
            _ if decision.outcome == Outcome::Act => Phase::Acting,
            _ => Phase::Acted,
        };
        let decision = if phase == Phase::Acting {
            let d = self.act(decision).await?;
            let response = d
                .stop_response
                .as_ref()
                .map(Value::to_string)
                .unwrap_or_else(|| "null".into());
            self.records.acted(key, owner, &response, now_s).await?;
            d
        } else {
            decision
        };

        self.announce(&decision).await?;
        self.records.complete(key, owner, now_s).await?;
        info!(
            fingerprint = fp,
            task = decision.task_arn,
            playbook = decision.playbook,
            mode = decision.mode.as_str(),
            decision = decision.outcome.as_str(),
            reason = decision.reason.as_deref(),
            "remediation decided"
        );
        Ok(())
    }

    /// Looks at the task now, evaluates every guardrail and writes the decision (with the stop
    /// counters, when it stops).
    #[allow(clippy::too_many_arguments)]
    async fn decide(
        &self,
        key: &ActionKey,
        owner: &str,
        playbook: &vigil_playbook::Playbook,
        mode: Mode,
        subject: &Subject<'_>,
        origin: Origin<'_>,
        guardrails: &vigil_playbook::Guardrails,
        mut decision: Decision,
        now: i64,
    ) -> Result<Verdict, Retry> {
        let (live, evidence) = match (subject.cluster_arn(), subject.task_arn()) {
            // A sample is refused whatever its task looks like: no need to look.
            (Some(cluster), Some(task))
                if playbook.actions != [Action::Record] && !subject.finding.is_sample() =>
            {
                ecs::live_task(&self.ecs, cluster, task).await?
            }
            (_, None) => (LiveTask::Missing("the finding names no task".into()), None),
            _ => (LiveTask::Unknown, None),
        };
        // Rate limits count the service and cluster ECS reports, not the ones a message claims.
        if let Some(task) = &evidence {
            decision.cluster_arn = Some(task.cluster_arn.clone());
            decision.service = task.service_name.clone();
        }
        decision.evidence = evidence;
        let mut evaluation = guardrails.evaluate(playbook, mode, subject, origin, &live);
        if evaluation.outcome == Outcome::Act {
            let variable = |v: &str| subject.variable(v, playbook.name.as_str());
            if playbook.stops() {
                decision.stop_reason = Some(stop_reason(
                    &playbook.reason.render(variable, MAX_STOP_REASON),
                    &decision.fingerprint,
                ));
            }
            if playbook.actions.contains(&Action::TagTask) {
                decision.tag = Some((
                    playbook.tag.key.clone(),
                    tag_value(&playbook.tag.value.render(variable, 256)),
                ));
            }
        }
        let counters = match (&decision.cluster_arn, evaluation.outcome, playbook.stops()) {
            (Some(cluster), Outcome::Act, true) => {
                let g = guardrails;
                let mut c = vec![RateCounter::cluster(
                    cluster,
                    g.stop_limit_per_cluster,
                    g.stop_limit_window_seconds,
                    now,
                )];
                if let Some(service) = &decision.service {
                    c.push(RateCounter::service(
                        cluster,
                        service,
                        g.stop_limit_per_service,
                        g.stop_limit_window_seconds,
                        now,
                    ));
                }
                c
            }
            _ => Vec::new(),
        };
        if !counters.is_empty() {
            // Written with the counters in one transaction: if they refuse, nothing is written and
            // the decision is rewritten as rate-limited below.
            evaluation.within_rate(format!(
                "within {} stop limit(s), now counted",
                counters.len()
            ));
        }
        fill(&mut decision, &evaluation);
        if evaluation.untrusted() {
            return Ok(Verdict::Untrusted(decision));
        }
        let next = if decision.outcome == Outcome::Act {
            Phase::Acting
        } else {
            Phase::Acted
        };
        let written = self
            .records
            .decide(
                key,
                owner,
                &DecisionWrite {
                    decision: &to_json(&decision),
                    outcome: decision.outcome.as_str(),
                    playbook: &decision.playbook,
                    next,
                },
                &counters,
                now,
            )
            .await?;
        if let Decided::RateLimited(why) = written {
            evaluation.rate_limited(why);
            if !counters.is_empty() {
                decision.stop_reason = None;
                decision.tag = None;
            }
            fill(&mut decision, &evaluation);
            self.records
                .decide(
                    key,
                    owner,
                    &DecisionWrite {
                        decision: &to_json(&decision),
                        outcome: decision.outcome.as_str(),
                        playbook: &decision.playbook,
                        next: Phase::Acted,
                    },
                    &[],
                    now,
                )
                .await?;
        }
        Ok(Verdict::Made(decision))
    }

    /// StopTask and/or TagResource, for a decision to act. Safe to repeat after a crash: stopping a
    /// stopping task and setting a tag again change nothing.
    async fn act(&self, mut decision: Decision) -> Result<Decision, Retry> {
        let cluster = decision.cluster_arn.clone().unwrap_or_default();
        if let Some((key, value)) = &decision.tag {
            ecs::tag_task(&self.ecs, &decision.task_arn, key, value).await?;
        }
        if let Some(reason) = &decision.stop_reason {
            let response = ecs::stop_task(&self.ecs, &cluster, &decision.task_arn, reason).await?;
            decision.stop_response = Some(response);
        }
        Ok(decision)
    }

    /// The Security Hub note and the `Remediation Executed` event.
    async fn announce(&self, decision: &Decision) -> Result<(), Retry> {
        if let Some(sh) = decision.securityhub.as_ref().filter(|s| s.imported) {
            let stopped = decision.stop_response.is_some();
            let status = match decision.outcome {
                Outcome::NotRunning => None,
                Outcome::Act if stopped => Some(WorkflowStatus::Resolved),
                _ => Some(WorkflowStatus::Notified),
            };
            vigil_securityhub::workflow::annotate(
                &self.securityhub,
                &sh.id,
                &sh.product_arn,
                &note(decision),
                status,
            )
            .await
            .map_err(|e| Retry::Other(e.to_string()))?;
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

    /// ECS says a task we stopped is STOPPED: stamp the record and the finding's note.
    async fn confirm(
        &self,
        change: &TaskStateChange,
        guardrails: &vigil_playbook::Guardrails,
    ) -> Result<(), Retry> {
        let Some(fingerprint) = change.stopped_reason.as_deref().and_then(marker) else {
            return Ok(());
        };
        if !change
            .account
            .as_deref()
            .is_some_and(|a| guardrails.trusted_accounts.contains(a))
        {
            warn!(
                task = change.task_arn,
                "task state change from an untrusted account ignored"
            );
            return Ok(());
        }
        let key = ActionKey {
            fingerprint: fingerprint.to_owned(),
            task_arn: change.task_arn.clone(),
            mode: Mode::Enforce,
        };
        let stopped_at = change
            .stopped_at
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| (self.clock)().to_rfc3339());
        let Some(record) = self
            .records
            .confirm_stop(
                &key,
                &stopped_at,
                change.stop_code.as_deref().unwrap_or("UNKNOWN"),
            )
            .await?
        else {
            info!(
                task = change.task_arn,
                "stopped with our marker but no action record"
            );
            return Ok(());
        };
        let decision: Option<Decision> = record
            .decision
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok());
        if let Some(sh) = decision
            .as_ref()
            .and_then(|d| d.securityhub.as_ref())
            .filter(|s| s.imported)
        {
            let text = format!(
                "Vigil: task {} confirmed STOPPED by ECS at {stopped_at} (playbook {}).",
                change.task_arn,
                decision
                    .as_ref()
                    .map(|d| d.playbook.as_str())
                    .unwrap_or("-")
            );
            vigil_securityhub::workflow::annotate(
                &self.securityhub,
                &sh.id,
                &sh.product_arn,
                &text,
                Some(WorkflowStatus::Resolved),
            )
            .await
            .map_err(|e| Retry::Other(e.to_string()))?;
        }
        info!(task = change.task_arn, fingerprint, "stop confirmed");
        Ok(())
    }
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
    let p = &finding.provenance;
    let fields = [
        (
            "arrival",
            Some(p.arrival.as_str()),
            Some(r.arrival.as_str()),
        ),
        (
            "sender account",
            p.sender_account.as_deref(),
            r.sender_account.as_deref(),
        ),
        ("account", finding.account.as_deref(), r.account.as_deref()),
        (
            "task",
            finding.resource.task_arn.as_deref(),
            r.task_arn.as_deref(),
        ),
    ];
    let differ: Vec<String> = fields
        .iter()
        .filter(|(_, message, table)| message != table)
        .map(|(what, message, table)| {
            format!(
                "{what} {} where ingest recorded {}",
                message.unwrap_or("none"),
                table.unwrap_or("none")
            )
        })
        .collect();
    (!differ.is_empty()).then(|| {
        format!(
            "the message disagrees with the dedup record: {}",
            differ.join(", ")
        )
    })
}

fn fill(decision: &mut Decision, evaluation: &Evaluation) {
    decision.outcome = evaluation.outcome;
    decision.reason = evaluation.reason.clone();
    decision.checks = serde_json::to_value(&evaluation.checks).unwrap_or(Value::Null);
}

fn to_json(decision: &Decision) -> String {
    serde_json::to_string(decision).unwrap_or_else(|_| "{}".into())
}

const MARKER_OPEN: &str = " [vigil:";

/// The reason ECS records on the task: the playbook's text, then a marker naming the finding, so
/// the STOPPED event can be tied back to the action record. Always ≤ 255 characters.
fn stop_reason(rendered: &str, fingerprint: &str) -> String {
    let marker = format!("{MARKER_OPEN}{fingerprint}]");
    let room = MAX_STOP_REASON.saturating_sub(marker.chars().count());
    format!(
        "{}{marker}",
        vigil_model::text::truncate_chars(rendered, room)
    )
}

fn marker(reason: &str) -> Option<&str> {
    let start = reason.rfind(MARKER_OPEN)? + MARKER_OPEN.len();
    let fp = reason[start..].strip_suffix(']')?;
    (fp.starts_with("v1-") && fp.len() <= 80).then_some(fp)
}

/// ECS tag values allow letters, digits, spaces and `+ - = . _ : / @`, up to 256 characters.
fn tag_value(rendered: &str) -> String {
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

fn note(d: &Decision) -> String {
    let what = match d.outcome {
        Outcome::Act if d.stop_response.is_some() => "stopped the task".to_owned(),
        Outcome::Act => "tagged the task for forensics".to_owned(),
        Outcome::DryRun => "would stop or tag the task (dry run, nothing changed)".to_owned(),
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
    if let Some(r) = &d.stop_reason {
        text.push_str(&format!(" stoppedReason: {r}"));
    }
    text
}

fn classify(body: &str) -> Message {
    let Ok(event) = serde_json::from_str::<Value>(body) else {
        return Message::Invalid("body is not JSON".into());
    };
    let text = |k: &str| event.get(k).and_then(Value::as_str).unwrap_or_default();
    match (text("source"), text("detail-type")) {
        (vigil_contract::SOURCE, vigil_contract::FINDING_ENRICHED) => {
            match serde_json::from_value::<FindingEnriched<'static>>(event["detail"].clone()) {
                Ok(detail) => Message::Enriched {
                    detail: Box::new(detail),
                    event_id: event.get("id").and_then(Value::as_str).map(str::to_owned),
                },
                Err(e) => Message::Invalid(format!("detail: {e}")),
            }
        }
        (vigil_adapters::ECS_SOURCE, vigil_adapters::ECS_TASK_DETAIL_TYPE) => {
            match vigil_adapters::parse_event(body.as_bytes(), &Default::default()) {
                Ok(SourceEvent::TaskStateChange(t)) if t.is_stopped() => {
                    Message::TaskStopped(Box::new(t))
                }
                Ok(_) => Message::Ignored,
                Err(e) => Message::Invalid(e.to_string()),
            }
        }
        (source, detail_type) => {
            Message::Invalid(format!("unexpected event {source:?} / {detail_type:?}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn junk_is_invalid_not_a_panic() {
        for body in [
            "",
            "nope",
            "{}",
            r#"{"source":"vigil","detail-type":"Finding Enriched","detail":{}}"#,
        ] {
            assert!(matches!(classify(body), Message::Invalid(_)), "{body}");
        }
    }
}
