//! The coverage function: which running ECS tasks is nobody watching?
//!
//! One function, two entry points:
//! - **Heartbeats** (its SQS queue, fed by the agent-bus rules for `Agent Heartbeat` events and
//!   Falco's own `Falco internal: …` events): each read as a heartbeat of its sender
//!   ([`heartbeat`]), coalesced to at most one DynamoDB write per agent per heartbeat interval
//!   ([`store`]). Refused input (malformed, untrusted sender, another account's workload) is
//!   published as `Event Rejected`, never dropped silently. Telemetry is never a finding by itself.
//! - **The check** (an EventBridge schedule, `Scheduled Event`): the running tasks of every
//!   cluster in scope ([`inventory`]), GuardDuty's runtime coverage ([`guardduty`]), the recorded
//!   heartbeats → covered, degraded or uncovered per task ([`check`]) → one Security Hub finding
//!   per service and problem, updated while it lasts and archived and resolved when coverage
//!   returns ([`findings`]) → the report `vigil coverage` reads.
//!
//! Coverage findings never reach remediation: nothing here publishes a `Finding Accepted` or
//! `Finding Enriched`, and the findings name services, never tasks.

#![warn(missing_docs)]

pub mod check;
pub mod error;
pub mod findings;
pub mod guardduty;
pub mod heartbeat;
pub mod inventory;
pub mod settings;
pub mod store;

pub use check::{ServiceCoverage, Totals};
pub use heartbeat::{AgentHeartbeat, Heartbeat, Refusal, Senders};
pub use settings::CoverageSettings;
pub use vigil_runtime::Clock;

use aws_sdk_securityhub::types::{
    AwsSecurityFindingIdentifier, NoteUpdate, WorkflowStatus, WorkflowUpdate,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use store::{CoverageStore, Written};
use tracing::{info, warn};
use vigil_asff::AsffFinding;
use vigil_bus::{EventPublisher, VigilEvent};
use vigil_contract::{EVENT_REJECTED, EventRejected};
use vigil_lambda::{Error, LambdaEvent, SqsBatchResponse, SqsEvent, emf, sqs};
use vigil_securityhub::SecurityHubImporter;

/// The `detail-type` of EventBridge's scheduled events.
pub const SCHEDULED_EVENT: &str = "Scheduled Event";
/// Who the resolving note names.
pub const UPDATED_BY: &str = "vigil-coverage";
/// A rejected payload kept in `Event Rejected`, at most.
const MAX_REJECTED_PAYLOAD_BYTES: usize = 64 * 1024;
/// Agents remembered per warm instance for coalescing, at most (then it starts afresh).
const MAX_REMEMBERED_AGENTS: usize = 100_000;

/// What the function is invoked with.
#[derive(Debug, Clone)]
pub enum CoveragePayload {
    /// Its queue's batch (every record `eventSource: aws:sqs`).
    Sqs(SqsEvent),
    /// Anything else: the schedule's event (checked when handled).
    Other(Value),
}

impl<'de> Deserialize<'de> for CoveragePayload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let sqs_shaped = value
            .get("Records")
            .and_then(Value::as_array)
            .is_some_and(|r| {
                !r.is_empty()
                    && r.iter().all(|r| {
                        r.get("eventSource").and_then(Value::as_str) == Some(sqs::EVENT_SOURCE)
                    })
            });
        match sqs_shaped.then(|| SqsEvent::deserialize(&value)) {
            Some(Ok(event)) => Ok(CoveragePayload::Sqs(event)),
            _ => Ok(CoveragePayload::Other(value)),
        }
    }
}

/// What the function answers.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum CoverageResponse {
    /// `{"batchItemFailures": [...]}` for a heartbeat batch.
    Batch(SqsBatchResponse),
    /// The check's report.
    Check(Box<Report>),
}

/// What became of a heartbeat batch; each field a CloudWatch metric of its PascalCase name.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HeartbeatCounts {
    /// Heartbeats read (documented shape or Falco's own events).
    pub heartbeats: u64,
    /// Agent items written.
    pub recorded: u64,
    /// Heartbeats folded into a write of the same interval (no write, or a refused one).
    pub coalesced: u64,
    /// Messages refused and published as `Event Rejected`.
    pub refused: u64,
    /// Of them, from an untrusted sender.
    pub untrusted: u64,
    /// Messages returned to the queue.
    pub failed: u64,
}

/// Security Hub's part of a check.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingCounts {
    /// Coverage findings imported active (new or updated).
    pub active: u64,
    /// Findings archived and resolved because coverage returned.
    pub resolved: u64,
    /// Findings whose import failed (tried again next check).
    pub import_failed: u64,
}

/// The AWS calls of one check.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckCalls {
    /// ECS: ListClusters, ListTasks, DescribeTasks, DescribeContainerInstances.
    pub ecs: u64,
    /// GuardDuty: ListDetectors, ListCoverage.
    pub guardduty: u64,
    /// Security Hub: BatchImportFindings, BatchUpdateFindings.
    pub securityhub: u64,
}

/// One check's report, kept in the table for `vigil coverage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// When the check ran.
    pub checked_at: DateTime<Utc>,
    /// The grace period, in seconds.
    pub grace_seconds: u64,
    /// Totals over every service.
    #[serde(flatten)]
    pub totals: Totals,
    /// One row per (account, region, cluster, service).
    pub services: Vec<ServiceCoverage>,
    /// Security Hub's part.
    pub findings: FindingCounts,
    /// GuardDuty's coverage: `used`, `off`, `no_detector`, or `unavailable: <why>` (then the last
    /// known healthy clusters are used).
    pub guardduty: String,
    /// The calls the check made.
    pub calls: CheckCalls,
    /// Clusters that could not be listed (their findings are left as they were).
    pub errors: Vec<String>,
}

/// The coverage function: its clients, settings and clock, built once per execution environment.
pub struct Coverage {
    store: CoverageStore,
    ecs: aws_sdk_ecs::Client,
    guardduty: aws_sdk_guardduty::Client,
    securityhub: aws_sdk_securityhub::Client,
    importer: SecurityHubImporter,
    publisher: EventPublisher,
    settings: CoverageSettings,
    region: String,
    clock: Clock,
    emit_metrics: bool,
    /// Agent → when this instance last wrote (or saw refused) its heartbeat.
    written: Mutex<HashMap<String, DateTime<Utc>>>,
}

/// The clients the function calls.
pub struct Clients {
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// ECS.
    pub ecs: aws_sdk_ecs::Client,
    /// GuardDuty.
    pub guardduty: aws_sdk_guardduty::Client,
    /// Security Hub.
    pub securityhub: aws_sdk_securityhub::Client,
    /// EventBridge.
    pub eventbridge: aws_sdk_eventbridge::Client,
}

impl Clients {
    /// Each service's client as the crate owning its calls sets its SDK retry.
    pub fn from_sdk(sdk: &aws_config::SdkConfig) -> Self {
        let with_retry = |c: aws_sdk_guardduty::config::Builder| {
            aws_sdk_guardduty::Client::from_conf(
                c.retry_config(vigil_runtime::sdk_standard_retry()).build(),
            )
        };
        Clients {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(sdk)
                    .retry_config(vigil_runtime::sdk_standard_retry())
                    .build(),
            ),
            ecs: aws_sdk_ecs::Client::from_conf(
                aws_sdk_ecs::config::Builder::from(sdk)
                    .retry_config(vigil_runtime::sdk_standard_retry())
                    .build(),
            ),
            guardduty: with_retry(sdk.into()),
            securityhub: vigil_securityhub::client(sdk.into()),
            eventbridge: vigil_bus::client(sdk.into()),
        }
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Coverage {
    /// The function on these clients, in `region`.
    pub fn new(clients: Clients, settings: CoverageSettings, region: impl Into<String>) -> Self {
        Coverage {
            store: CoverageStore::new(clients.dynamodb, settings.table_name.clone()),
            importer: SecurityHubImporter::new(
                clients.securityhub.clone(),
                vigil_securityhub::RetryPolicy::default(),
                settings.securityhub_calls_per_second,
            ),
            publisher: EventPublisher::new(
                clients.eventbridge,
                settings.event_bus_name.clone(),
                vigil_bus::RetryPolicy::default(),
            ),
            ecs: clients.ecs,
            guardduty: clients.guardduty,
            securityhub: clients.securityhub,
            settings,
            region: region.into(),
            clock: vigil_runtime::system_clock(),
            emit_metrics: true,
            written: Mutex::new(HashMap::new()),
        }
    }

    /// Builds the clients once, from the Lambda environment.
    pub fn from_env(settings: CoverageSettings, sdk: &aws_config::SdkConfig) -> Self {
        let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
        Self::new(Clients::from_sdk(sdk), settings, region)
    }

    /// Reads the time from `clock`.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// No embedded-metric lines on stdout.
    pub fn without_metrics(mut self) -> Self {
        self.emit_metrics = false;
        self
    }

    /// The store of heartbeats and coverage state.
    pub fn store(&self) -> &CoverageStore {
        &self.store
    }

    fn senders(&self, deploying: Option<String>) -> Senders {
        Senders {
            deploying: self.settings.account_id.clone().or(deploying),
            trusted: self.settings.trusted_accounts.clone(),
        }
    }

    /// The Lambda handler: a heartbeat batch answers with `batchItemFailures`; the schedule's
    /// event runs the check and answers with its report. Any other payload is refused (an
    /// invocation error): only the queue and the schedule invoke this function.
    pub async fn handle(
        &self,
        event: LambdaEvent<CoveragePayload>,
    ) -> Result<CoverageResponse, Error> {
        let deploying = vigil_lambda::account_of_function_arn(&event.context.invoked_function_arn);
        match event.payload {
            CoveragePayload::Sqs(batch) => {
                let records = sqs::own_records(batch, &self.settings.queue_arns, "coverage");
                let bodies: Vec<String> = records.iter().map(|r| sqs::body(r).to_owned()).collect();
                let (failed, _) = self.heartbeats(&bodies, deploying).await;
                Ok(CoverageResponse::Batch(sqs::failures(&records, failed)))
            }
            CoveragePayload::Other(v) => {
                let scheduled = v.get("source").and_then(Value::as_str) == Some("aws.events")
                    && v.get("detail-type").and_then(Value::as_str) == Some(SCHEDULED_EVENT);
                if !scheduled {
                    return Err(
                        "not a heartbeat batch from the coverage queue nor the schedule's event"
                            .into(),
                    );
                }
                let account = self
                    .settings
                    .account_id
                    .clone()
                    .or(deploying)
                    .ok_or("the deploying account is unknown: set ACCOUNT_ID")?;
                Ok(CoverageResponse::Check(Box::new(
                    self.check(&account).await?,
                )))
            }
        }
    }

    /// Records a batch of heartbeat messages (EventBridge events) sent to a deployment of
    /// `deploying`; returns the indexes to deliver again, and the counts.
    pub async fn heartbeats(
        &self,
        bodies: &[String],
        deploying: Option<String>,
    ) -> (Vec<usize>, HeartbeatCounts) {
        let now = (self.clock)();
        let senders = self.senders(deploying);
        let mut counts = HeartbeatCounts::default();
        let mut failed = Vec::new();
        let mut rejected: Vec<(usize, VigilEvent)> = Vec::new();
        // Latest heartbeat per agent in the batch, with the messages it stands for.
        let mut latest: HashMap<String, (Heartbeat, Vec<usize>)> = HashMap::new();
        for (i, body) in bodies.iter().enumerate() {
            match heartbeat::read(body, &senders, now) {
                Ok(hb) => {
                    counts.heartbeats += 1;
                    let key = format!("{}#{}", hb.sender_account, hb.agent_id);
                    let entry = latest
                        .entry(key)
                        .or_insert_with(|| (hb.clone(), Vec::new()));
                    if hb.seen_at > entry.0.seen_at {
                        entry.0 = hb;
                    }
                    entry.1.push(i);
                }
                Err(refusal) => {
                    warn!(code = refusal.code(), reason = %refusal, "heartbeat refused");
                    counts.refused += 1;
                    counts.untrusted += u64::from(matches!(refusal, Refusal::UntrustedSender(_)));
                    match VigilEvent::new(EVENT_REJECTED, &rejected_event(&refusal, body, now)) {
                        Ok(e) => rejected.push((i, e)),
                        Err(_) => failed.push(i),
                    }
                }
            }
        }
        let interval = self.settings.heartbeat_interval.as_secs() as i64;
        for (key, (hb, messages)) in latest {
            counts.coalesced += messages.len() as u64 - 1;
            if self.written_within(&key, now, interval) {
                counts.coalesced += 1;
                continue;
            }
            let heavy = hb
                .drop_ratio
                .is_some_and(|r| r >= self.settings.heavy_drop_ratio);
            match self.store.record_heartbeat(&hb, heavy, interval, now).await {
                Ok(written) => {
                    match written {
                        Written::Recorded => counts.recorded += 1,
                        Written::Coalesced => counts.coalesced += 1,
                    }
                    self.remember(key, now);
                }
                Err(e) => {
                    warn!(error = %e, "heartbeat not recorded; messages will be redelivered");
                    failed.extend(messages);
                }
            }
        }
        let events: Vec<VigilEvent> = rejected.iter().map(|(_, e)| e.clone()).collect();
        for ((i, _), published) in rejected.iter().zip(self.publisher.publish(&events).await) {
            if let Err(e) = published {
                warn!(message = i, error = %e, "Event Rejected not published; message will be redelivered");
                failed.push(*i);
            }
        }
        failed.sort_unstable();
        failed.dedup();
        counts.failed = failed.len() as u64;
        if self.emit_metrics {
            emf::emit("coverage", &counts, now.timestamp_millis());
        }
        (failed, counts)
    }

    fn written_within(&self, key: &str, now: DateTime<Utc>, interval: i64) -> bool {
        let written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        written
            .get(key)
            .is_some_and(|at| (now - *at).num_seconds() < interval)
    }

    fn remember(&self, key: String, now: DateTime<Utc>) {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        if written.len() >= MAX_REMEMBERED_AGENTS {
            written.clear();
        }
        written.insert(key, now);
    }

    /// The check, for the deploying `account` in the function's region: reads what runs and who
    /// reports, imports and resolves the coverage findings, keeps the report.
    pub async fn check(&self, account: &str) -> Result<Report, Error> {
        let now = (self.clock)();
        let mut calls = CheckCalls::default();
        let mut ecs_calls = inventory::EcsCalls::default();
        let clusters =
            inventory::clusters(&self.ecs, &self.settings.clusters, &mut ecs_calls).await?;
        let mut tasks = Vec::new();
        let mut errors = Vec::new();
        // By name (a cluster in scope may be given by name or ARN).
        let mut failed_clusters: HashSet<&str> = HashSet::new();
        for cluster in &clusters {
            match inventory::running_tasks(&self.ecs, cluster, &mut ecs_calls).await {
                Ok(t) => tasks.extend(t),
                Err(e) => {
                    warn!(error = %e, "cluster not listed; its findings are left as they were");
                    errors.push(e.to_string());
                    failed_clusters.insert(cluster.rsplit('/').next().unwrap_or(cluster));
                }
            }
        }
        let agents = self.store.agents().await?;
        if agents.iter().any(|a| a.watches.ec2_instance_id.is_some())
            && let Err(e) =
                inventory::place_on_instances(&self.ecs, &mut tasks, &mut ecs_calls).await
        {
            warn!(error = %e, "container instances not described; daemons by EC2 instance id cover nothing this check");
            errors.push(e.to_string());
        }
        calls.ecs = ecs_calls.total();
        let (healthy, gd_status) = self.guardduty_healthy(account, now, &mut calls).await?;
        let senders = self.senders(Some(account.to_owned()));
        let rules = check::Rules {
            senders: &senders,
            now,
            grace: self.settings.grace,
            degraded_after: self.settings.degraded_after,
            startup_grace: self.settings.startup_grace,
        };
        let (services, totals) = check::evaluate(&tasks, &agents, &healthy, &rules);
        let findings = self
            .report_findings(&services, &failed_clusters, now, &mut calls)
            .await?;
        let report = Report {
            checked_at: now,
            grace_seconds: self.settings.grace.as_secs(),
            totals,
            services,
            findings,
            guardduty: gd_status,
            calls,
            errors,
        };
        info!(
            running = totals.running_tasks,
            covered = totals.covered_tasks,
            uncovered = totals.uncovered_tasks,
            degraded = totals.degraded_tasks,
            starting = totals.starting_tasks,
            findings_active = findings.active,
            findings_resolved = findings.resolved,
            "coverage checked"
        );
        self.store
            .save_report(&serde_json::to_string(&report)?)
            .await?;
        if self.emit_metrics {
            emf::emit("coverage", &check_metrics(&report), now.timestamp_millis());
        }
        Ok(report)
    }

    /// Cluster ARN → since when GuardDuty has reported it healthy; the stored times are updated
    /// only when a cluster's status changes.
    async fn guardduty_healthy(
        &self,
        account: &str,
        now: DateTime<Utc>,
        calls: &mut CheckCalls,
    ) -> Result<(HashMap<String, DateTime<Utc>>, String), Error> {
        if !self.settings.guardduty {
            return Ok((HashMap::new(), "off".into()));
        }
        let mut known = self.store.guardduty_healthy().await?;
        let coverage = match guardduty::ecs_coverage(&self.guardduty, account, &self.region).await {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "GuardDuty coverage unavailable; the last known healthy clusters are used");
                calls.guardduty += 1;
                return Ok((known, format!("unavailable: {e}")));
            }
        };
        calls.guardduty += coverage.calls;
        if coverage.calls == 1 {
            return Ok((HashMap::new(), "no_detector".into()));
        }
        let mut healthy = HashMap::new();
        for c in coverage.clusters {
            match (c.healthy, known.remove(&c.cluster_arn)) {
                (true, Some(since)) => {
                    healthy.insert(c.cluster_arn, since);
                }
                (true, None) => {
                    let since = c.updated_at.unwrap_or(now).min(now);
                    self.store
                        .set_guardduty_healthy(&c.cluster_arn, Some(since))
                        .await?;
                    healthy.insert(c.cluster_arn, since);
                }
                (false, Some(_)) => {
                    self.store
                        .set_guardduty_healthy(&c.cluster_arn, None)
                        .await?
                }
                (false, None) => {}
            }
        }
        // Clusters GuardDuty no longer lists are no longer healthy.
        for gone in known.keys() {
            self.store.set_guardduty_healthy(gone, None).await?;
        }
        Ok((healthy, "used".into()))
    }

    /// Imports the findings of `services` (active), archives and resolves the open ones that
    /// ended (except those of `failed_clusters`, unknown this time).
    async fn report_findings(
        &self,
        services: &[ServiceCoverage],
        failed_clusters: &HashSet<&str>,
        now: DateTime<Utc>,
        calls: &mut CheckCalls,
    ) -> Result<FindingCounts, Error> {
        let open = self.store.open_findings().await?;
        let current: Vec<AsffFinding<'static>> = services
            .iter()
            .flat_map(|row| findings::of_row(row, |id| open.get(id).map(|(first, _)| *first), now))
            .collect();
        let mut counts = FindingCounts::default();
        calls.securityhub += current
            .len()
            .div_ceil(vigil_securityhub::MAX_FINDINGS_PER_CALL) as u64;
        let results = self.importer.import(&current).await;
        for (f, result) in current.iter().zip(results) {
            if let Err(e) = result {
                warn!(id = %f.id, error = %e, "coverage finding not imported");
                counts.import_failed += 1;
                continue;
            }
            counts.active += 1;
            let json = serde_json::to_string(f)?;
            let unchanged = open.get(f.id.as_str()).is_some_and(|(_, stored)| {
                serde_json::from_str::<AsffFinding>(stored)
                    .is_ok_and(|s| s.title == f.title && s.description == f.description)
            });
            if !unchanged {
                let first = open.get(f.id.as_str()).map_or(now, |(first, _)| *first);
                self.store.open_finding(&f.id, first, &json).await?;
            }
        }
        let current_ids: HashSet<&str> = current.iter().map(|f| f.id.as_str()).collect();
        let mut ended = Vec::new();
        for (id, (_, stored)) in &open {
            if current_ids.contains(id.as_str()) {
                continue;
            }
            let Ok(record) = serde_json::from_str::<AsffFinding>(stored) else {
                warn!(id, "an open finding's record does not read; forgotten");
                self.store.close_finding(id).await?;
                continue;
            };
            let cluster = record
                .product_fields
                .get("vigil/Cluster")
                .map(|c| c.rsplit('/').next().unwrap_or_default().to_owned())
                .unwrap_or_default();
            if failed_clusters.contains(cluster.as_str()) {
                continue;
            }
            ended.push(findings::archived(record.into_owned(), now));
        }
        calls.securityhub += ended
            .len()
            .div_ceil(vigil_securityhub::MAX_FINDINGS_PER_CALL) as u64;
        let results = self.importer.import(&ended).await;
        let archived: Vec<&AsffFinding> = ended
            .iter()
            .zip(results)
            .filter_map(|(f, r)| match r {
                Ok(()) => Some(f),
                Err(e) => {
                    warn!(id = %f.id, error = %e, "coverage finding not archived; tried again next check");
                    counts.import_failed += 1;
                    None
                }
            })
            .collect();
        for chunk in archived.chunks(vigil_securityhub::MAX_FINDINGS_PER_CALL) {
            calls.securityhub += 1;
            match self.resolve(chunk).await {
                Ok(()) => {
                    for f in chunk {
                        self.store.close_finding(&f.id).await?;
                        counts.resolved += 1;
                    }
                }
                Err(e) => warn!(error = %e, "workflow not set to RESOLVED; tried again next check"),
            }
        }
        Ok(counts)
    }

    /// Sets the workflow of archived findings to RESOLVED, with a note saying why.
    async fn resolve(&self, findings: &[&AsffFinding<'_>]) -> Result<(), String> {
        let ids: Vec<AwsSecurityFindingIdentifier> = findings
            .iter()
            .map(|f| {
                AwsSecurityFindingIdentifier::builder()
                    .id(f.id.as_str())
                    .product_arn(f.product_arn.as_str())
                    .build()
            })
            .collect();
        let out = self
            .securityhub
            .batch_update_findings()
            .set_finding_identifiers(Some(ids))
            .note(
                NoteUpdate::builder()
                    .text("Vigil coverage: every task of this service is watched again (or no longer runs).")
                    .updated_by(UPDATED_BY)
                    .build(),
            )
            .workflow(WorkflowUpdate::builder().status(WorkflowStatus::Resolved).build())
            .send()
            .await
            .map_err(|e| aws_sdk_securityhub::error::DisplayErrorContext(&e).to_string())?;
        match out.unprocessed_findings().first() {
            None => Ok(()),
            Some(u) => Err(format!(
                "BatchUpdateFindings left {} unprocessed: {}",
                out.unprocessed_findings().len(),
                u.error_message().unwrap_or_default()
            )),
        }
    }
}

/// The check's counts as metrics.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CheckMetrics {
    running_tasks: u64,
    covered_tasks: u64,
    uncovered_tasks: u64,
    degraded_tasks: u64,
    starting_tasks: u64,
    findings_active: u64,
    findings_resolved: u64,
    import_failed: u64,
    cluster_errors: u64,
}

fn check_metrics(r: &Report) -> CheckMetrics {
    CheckMetrics {
        running_tasks: r.totals.running_tasks,
        covered_tasks: r.totals.covered_tasks,
        uncovered_tasks: r.totals.uncovered_tasks,
        degraded_tasks: r.totals.degraded_tasks,
        starting_tasks: r.totals.starting_tasks,
        findings_active: r.findings.active,
        findings_resolved: r.findings.resolved,
        import_failed: r.findings.import_failed,
        cluster_errors: r.errors.len() as u64,
    }
}

/// The `Event Rejected` detail of a refused heartbeat message.
fn rejected_event(refusal: &Refusal, body: &str, now: DateTime<Utc>) -> EventRejected {
    let kept = vigil_model::text::truncate_utf8(body, MAX_REJECTED_PAYLOAD_BYTES);
    let path = match refusal {
        Refusal::Malformed { path, .. } => path.clone(),
        Refusal::NotAHeartbeat(_) => "$".into(),
        Refusal::UntrustedSender(_) => "account".into(),
        Refusal::ForeignWorkload { .. } => "detail.watches".into(),
    };
    EventRejected {
        code: refusal.code().to_owned(),
        reason: vigil_model::text::clean(
            &refusal.to_string(),
            vigil_adapters::MAX_MESSAGE_CHARS,
            false,
        ),
        path: vigil_model::text::clean(&path, vigil_adapters::MAX_MESSAGE_CHARS, false),
        event_id: vigil_contract::content_id(body.as_bytes()),
        sqs_message_id: None,
        received_at: stamp(now),
        payload_bytes: body.len(),
        payload_truncated: kept.len() < body.len(),
        payload: kept.to_owned(),
    }
}

pub use vigil_lambda::init_logging;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payloads_are_told_apart() {
        let batch =
            json!({"Records": [{"messageId": "m", "eventSource": "aws:sqs", "body": "{}"}]});
        assert!(matches!(
            serde_json::from_value::<CoveragePayload>(batch).unwrap(),
            CoveragePayload::Sqs(_)
        ));
        let scheduled =
            json!({"source": "aws.events", "detail-type": SCHEDULED_EVENT, "detail": {}});
        assert!(matches!(
            serde_json::from_value::<CoveragePayload>(scheduled).unwrap(),
            CoveragePayload::Other(_)
        ));
        let empty = json!({"Records": []});
        assert!(matches!(
            serde_json::from_value::<CoveragePayload>(empty).unwrap(),
            CoveragePayload::Other(_)
        ));
    }

    #[test]
    fn a_refusal_becomes_an_event_rejected_with_its_code_and_path() {
        let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let r = rejected_event(
            &Refusal::UntrustedSender("999999999999".into()),
            "{\"a\":1}",
            now,
        );
        assert_eq!(
            (r.code.as_str(), r.path.as_str()),
            ("untrusted_sender", "account")
        );
        assert!(r.reason.contains("999999999999"));
        assert_eq!(r.payload, "{\"a\":1}");
        assert!(!r.payload_truncated);
        let big = "x".repeat(MAX_REJECTED_PAYLOAD_BYTES + 10);
        let r = rejected_event(&Refusal::NotAHeartbeat("n".into()), &big, now);
        assert!(r.payload_truncated && r.payload.len() == MAX_REJECTED_PAYLOAD_BYTES);
    }
}
