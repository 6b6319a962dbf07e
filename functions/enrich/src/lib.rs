//! The enrich function: `Finding Accepted` → ECS enrichment → ASFF → Security Hub (in the finding's
//! own account and region) → `Finding Enriched` → dedup record. `ECS Task State Change` events to
//! STOPPED evict cached tasks.
//!
//! ECS is called in each task's own account and region ([`Enrichers`]), as Security Hub is.
//!
//! Remediation does not wait for Security Hub: `Finding Enriched` is published whether the import
//! worked or not, and says which (`securityhub.imported`, `securityhub.import_error`). Findings are
//! imported per (account, region) ([`SecurityHubs`]): the deploying account with the function's own
//! role, a member account through its member role, any other account not at all (recorded with
//! the reason); one group's refusal fails no other.
//!
//! Order matters for "nothing lost": a message is acknowledged only after its `Finding Enriched` is
//! on the bus and, when Security Hub confirmed the import, after the record is `forwarded` (never
//! before that confirmation). An import that failed retryably returns the message in
//! `batchItemFailures`; its redelivery imports the same `Id` again (an update, never a second
//! finding) but does not publish `Finding Enriched` again: the record keeps the digest of the
//! occurrence whose event is out ([`DedupStore::mark_enriched`]), read on every delivery after the
//! first. A finding Security Hub refuses for good is published and counted, not retried.

#![warn(missing_docs)]

pub mod enrichers;
pub mod settings;

pub use enrichers::Enrichers;
pub use settings::EnrichSettings;

use serde_json::Value;
use std::borrow::Cow;
use tracing::{info, warn};
use vigil_adapters::SourceEvent;
use vigil_asff::{AsffFinding, MappingContext};
use vigil_bus::{EventPublisher, VigilEvent};
use vigil_dedup::{DedupConfig, DedupStore};
use vigil_ecs::EcsEnricher;
use vigil_lambda::{Error, LambdaEvent, SqsBatchResponse, SqsEvent, emf, sqs};
use vigil_model::{Enrichment, Finding, Source};
use vigil_securityhub::{ImportError, SecurityHubImporter, SecurityHubs};

pub use vigil_contract::{
    FINDING_ENRICHED, FindingAccepted, FindingEnriched, ImportFailure, SecurityHubRef,
};

pub use vigil_runtime::Clock;

type Accepted = FindingAccepted<'static>;

/// What became of one finding's Security Hub import.
enum Import {
    /// Security Hub confirmed it.
    Imported,
    /// Not Vigil's to import (GuardDuty's own finding).
    NotOurs,
    /// Not imported; why, and whether the import is retried.
    Failed(ImportFailure),
}

fn failure(kind: &str, code: Option<String>, message: String, retrying: bool) -> ImportFailure {
    ImportFailure {
        kind: kind.to_owned(),
        code,
        message,
        retrying,
    }
}

enum Message {
    Accepted(Box<Accepted>),
    TaskStopped(String),
    Ignored,
    Invalid(String),
}

/// The enrich handler and its clients, built once per Lambda instance and shared by invocations.
pub struct Enrich {
    enricher: Enrichers,
    hubs: SecurityHubs,
    /// How other accounts and regions are called; `None`: everything with the given client.
    accounts: Option<vigil_accounts::Accounts>,
    dedup: DedupStore,
    publisher: EventPublisher,
    settings: EnrichSettings,
    clock: Clock,
    /// CloudWatch embedded-metric lines on stdout (Lambda); off where stdout is someone's output.
    emit_metrics: bool,
}

/// What became of one batch's messages; each field is a CloudWatch metric of its PascalCase name.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct Counts {
    /// `Finding Accepted` messages read.
    accepted: u64,
    /// Findings ECS described.
    enriched: u64,
    /// Findings Security Hub confirmed importing.
    imported: u64,
    /// Findings Security Hub refused for good (or that cannot be imported); published without it.
    import_refused: u64,
    /// Findings of an account without a member role (or no region): not imported, published.
    import_not_routed: u64,
    /// Findings whose import failed retryably: published once, message returned for the import.
    import_retrying: u64,
    /// `Finding Enriched` events published.
    published: u64,
    /// Cached tasks dropped on their STOPPED change.
    evicted: u64,
    /// Messages that were not a remediation input.
    invalid: u64,
    /// Messages returned to the queue.
    failed: u64,
}

impl Enrich {
    /// A handler on these clients; clock and metrics as in Lambda (system clock, EMF lines on stdout).
    pub fn new(
        ecs: aws_sdk_ecs::Client,
        securityhub: aws_sdk_securityhub::Client,
        dynamodb: aws_sdk_dynamodb::Client,
        eventbridge: aws_sdk_eventbridge::Client,
        settings: EnrichSettings,
    ) -> Self {
        Enrich {
            enricher: Enrichers::single(
                EcsEnricher::new(ecs, settings.ecs.clone()),
                settings.ecs.clone(),
            ),
            hubs: SecurityHubs::single(SecurityHubImporter::new(
                securityhub,
                vigil_securityhub::RetryPolicy::default(),
                settings.securityhub_calls_per_second,
            )),
            accounts: None,
            dedup: DedupStore::new(dynamodb, DedupConfig::new(settings.table_name.clone())),
            publisher: EventPublisher::new(
                eventbridge,
                settings.event_bus_name.clone(),
                vigil_bus::RetryPolicy::default(),
            ),
            settings,
            clock: vigil_runtime::system_clock(),
            emit_metrics: true,
        }
    }

    /// Builds the clients once, from the Lambda environment, each with its SDK retry as the crate
    /// owning its calls sets it (`vigil_ecs::client`, `vigil_securityhub::client`, …). Findings of
    /// other accounts and regions are imported as the settings' `account_id` and `members` say.
    pub fn from_env(settings: EnrichSettings, sdk: &aws_config::SdkConfig) -> Self {
        let accounts = vigil_accounts::Accounts::new(
            sdk,
            settings.account_id.clone(),
            settings.members.clone(),
        );
        Self::new(
            vigil_ecs::client(sdk.into()),
            vigil_securityhub::client(sdk.into()),
            vigil_dedup::client(sdk.into()),
            vigil_bus::client(sdk.into()),
            settings,
        )
        .with_accounts(accounts)
    }

    /// The same handler describing tasks and importing findings of other accounts and regions as
    /// `accounts` routes them.
    pub fn with_accounts(mut self, accounts: vigil_accounts::Accounts) -> Self {
        self.enricher = self.enricher.with_accounts(accounts.clone());
        self.hubs = self.hubs.with_accounts(accounts.clone());
        self.accounts = Some(accounts);
        self
    }

    /// The same handler importing through `importer` in its own account and region (e.g. another
    /// retry policy or rate, for tests); other groups keep their routing, with its retry and rate.
    pub fn with_importer(mut self, importer: SecurityHubImporter) -> Self {
        self.hubs = match &self.accounts {
            Some(accounts) => SecurityHubs::new(importer, accounts.clone()),
            None => SecurityHubs::single(importer),
        };
        self
    }

    /// The same handler reading time from `clock` (the ASFF `UpdatedAt` it maps, the metric line's timestamp).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// No embedded-metric lines on stdout (`vigil demo --json` owns stdout).
    pub fn without_metrics(mut self) -> Self {
        self.emit_metrics = false;
        self
    }

    /// The Lambda handler for the enrich queue's SQS batches: the messages that failed go back to
    /// the queue (`batchItemFailures`).
    pub async fn handle(&self, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
        let records = sqs::own_records(event.payload, &self.settings.queue_arns, "enrich");
        let bodies: Vec<String> = records.iter().map(|r| sqs::body(r).to_owned()).collect();
        // Only a first delivery is known never to have published its event.
        let first: Vec<bool> = records
            .iter()
            .map(|r| sqs::receive_count(r) == Some(1))
            .collect();
        let failed = Box::pin(self.process_batch(&bodies, &first)).await;
        Ok(sqs::failures(&records, failed))
    }

    /// Processes a batch of message bodies, each possibly delivered before; returns the indexes of
    /// those SQS must deliver again.
    pub async fn process(&self, bodies: &[String]) -> Vec<usize> {
        // Boxed: the future holds every SDK call's state and is too large for a small thread stack.
        Box::pin(self.process_batch(bodies, &[])).await
    }

    /// `first_delivery[i]`: message `i` is on its first delivery (SQS `ApproximateReceiveCount`
    /// 1), so it cannot have published its `Finding Enriched` before; missing entries: unknown.
    async fn process_batch(&self, bodies: &[String], first_delivery: &[bool]) -> Vec<usize> {
        let now = (self.clock)();
        let mut counts = Counts::default();
        let failed = self
            .enrich_batch(bodies, first_delivery, now, &mut counts)
            .await;
        counts.failed = failed.len() as u64;
        if self.emit_metrics {
            emf::emit("enrich", &counts, now.timestamp_millis());
        }
        failed
    }

    async fn enrich_batch(
        &self,
        bodies: &[String],
        first_delivery: &[bool],
        now: chrono::DateTime<chrono::Utc>,
        counts: &mut Counts,
    ) -> Vec<usize> {
        let mut failed = Vec::new();
        let messages: Vec<Message> = bodies.iter().map(|b| classify(b)).collect();

        let mut accepted: Vec<(usize, Accepted)> = Vec::new();
        for (i, m) in messages.into_iter().enumerate() {
            match m {
                Message::Accepted(a) => accepted.push((i, *a)),
                Message::TaskStopped(arn) => {
                    self.enricher.evict_task(&arn);
                    counts.evicted += 1;
                }
                Message::Ignored => {}
                Message::Invalid(reason) => {
                    // Only Vigil and AWS publish to this queue: a malformed message goes back to SQS
                    // and, after the redrive limit, to the dead-letter queue where a user finds it.
                    warn!(message = i, reason, "not a Finding Accepted event");
                    counts.invalid += 1;
                    failed.push(i);
                }
            }
        }
        counts.accepted = accepted.len() as u64;
        if accepted.is_empty() {
            return failed;
        }

        // Before any call through a member role, and before a message may write its occurrence's
        // publish-once marker: Vigil's own record must vouch for the finding (`None`: it does).
        let mut unvouched: Vec<Option<String>> = Vec::with_capacity(accepted.len());
        for (i, a) in &accepted {
            match self.vouch(&a.finding).await {
                Ok(why) => {
                    if let Some(why) = &why {
                        warn!(
                            message = i,
                            fingerprint = a.finding.fingerprint.as_str(),
                            reason = why.as_str(),
                            "finding not vouched for: no member role used, nothing imported"
                        );
                    }
                    unvouched.push(why);
                }
                Err(err) => {
                    warn!(message = i, fingerprint = a.finding.fingerprint.as_str(), error = %err, "cannot read the dedup record; message will be redelivered");
                    failed.push(*i);
                    unvouched.push(Some(err));
                }
            }
        }

        let vouched: Vec<usize> = (0..accepted.len())
            .filter(|&k| unvouched[k].is_none())
            .collect();
        let findings: Vec<Finding> = vouched
            .iter()
            .map(|&k| Finding::clone(&accepted[k].1.finding))
            .collect();
        let mut described = self.enricher.enrich(&findings).await.into_iter();
        let mut enrichments: Vec<Enrichment> = unvouched
            .iter()
            .map(|why| match why {
                None => described
                    .next()
                    .unwrap_or_else(|| Enrichment::unenriched("not described")),
                Some(why) => Enrichment::unenriched(format!("not vouched for: {why}")),
            })
            .collect();
        counts.enriched = enrichments.iter().filter(|e| e.enriched).count() as u64;
        // Marked, kept and imported; remediation refuses it (and checks again on a fresh look).
        for ((_, a), e) in accepted.iter().zip(enrichments.iter_mut()) {
            e.identity_mismatch = container_conflict(&a.finding, e);
        }

        // ASFF for the findings Security Hub should receive from us.
        let ctx = MappingContext { now };
        let mut records: Vec<Option<AsffFinding>> = Vec::with_capacity(accepted.len());
        let mut status: Vec<Import> = Vec::with_capacity(accepted.len());
        for (((i, a), e), why) in accepted.iter().zip(&enrichments).zip(&unvouched) {
            if let Some(why) = why {
                records.push(None);
                status.push(Import::Failed(failure(
                    "not_vouched",
                    None,
                    why.clone(),
                    false,
                )));
                continue;
            }
            if a.finding.source == Source::Guardduty && !self.settings.import_guardduty {
                records.push(None);
                status.push(Import::NotOurs);
                continue;
            }
            // The dedup record's highest severity and last confirmed UpdatedAt: the import never
            // lowers the one nor goes back before the other.
            let history = vigil_asff::History::of(&a.dedup);
            match vigil_asff::to_asff_with_history(&a.finding, Some(e), &ctx, &history) {
                Ok(mut record) => {
                    // Repeats update one finding: the count is the dedup record's, not the event's.
                    record
                        .product_fields
                        .insert("vigil/Count".into(), a.dedup.count.to_string().into());
                    if let Some(mismatch) = &e.identity_mismatch {
                        record.product_fields.insert(
                            "vigil/IdentityMismatch".into(),
                            vigil_model::text::truncate_chars(mismatch, 2048).into(),
                        );
                    }
                    records.push(Some(record));
                    status.push(Import::Imported);
                }
                Err(err) => {
                    // Never importable: remediation still gets the finding, with the reason.
                    warn!(message = i, fingerprint = a.finding.fingerprint.as_str(), error = %err, "cannot map to ASFF");
                    records.push(None);
                    status.push(Import::Failed(failure(
                        "mapping",
                        None,
                        err.to_string(),
                        false,
                    )));
                }
            }
        }

        // A redelivery (the import to retry) must not publish the occurrence's event again.
        let mut published_before = vec![false; accepted.len()];
        for (k, (i, a)) in accepted.iter().enumerate() {
            if first_delivery.get(*i).copied().unwrap_or(false) || unvouched[k].is_some() {
                continue;
            }
            match self
                .dedup
                .enriched_published(a.finding.fingerprint.as_str(), &a.dedup.event_id)
                .await
            {
                Ok(done) => published_before[k] = done,
                Err(err) => {
                    warn!(fingerprint = a.finding.fingerprint.as_str(), error = %err, "cannot tell whether Finding Enriched was published; message will be redelivered");
                    failed.push(*i);
                }
            }
        }

        // Grouped by (account, region) inside: a group Security Hub refuses fails no other.
        let to_import: Vec<(usize, AsffFinding)> = records
            .iter()
            .enumerate()
            .filter(|(k, _)| !failed.contains(&accepted[*k].0))
            .filter_map(|(k, r)| r.clone().map(|r| (k, r)))
            .collect();
        let batch: Vec<AsffFinding> = to_import.iter().map(|(_, r)| r.clone()).collect();
        for ((k, _), result) in to_import.iter().zip(self.hubs.import(&batch).await) {
            if let Err(e) = result {
                let fingerprint = accepted[*k].1.finding.fingerprint.as_str();
                let kind = match &e {
                    ImportError::NotRouted { .. } => "not_routed",
                    ImportError::Rejected { .. } => "rejected",
                    ImportError::TooLarge(_) => "too_large",
                    ImportError::Mapping(_) => "mapping",
                    ImportError::Failed { .. } => "retrying",
                };
                let retrying = e.is_retryable();
                if retrying {
                    warn!(fingerprint, error = %e, "Security Hub import failed; the message will be redelivered for the import");
                } else {
                    warn!(fingerprint, kind, error = %e, "Security Hub import refused; the finding goes to remediation without it");
                }
                status[*k] = Import::Failed(failure(
                    kind,
                    e.code().map(str::to_owned),
                    e.to_string(),
                    retrying,
                ));
            }
        }
        for s in &status {
            match s {
                Import::Imported => counts.imported += 1,
                Import::Failed(f) if f.retrying => counts.import_retrying += 1,
                Import::Failed(f) if f.kind == "not_routed" => counts.import_not_routed += 1,
                Import::Failed(_) => counts.import_refused += 1,
                Import::NotOurs => {}
            }
        }

        // `Finding Enriched` whether or not the import worked: remediation does not wait for it.
        let mut events: Vec<(usize, VigilEvent)> = Vec::new();
        for (k, ((i, a), e)) in accepted.iter().zip(&enrichments).enumerate() {
            if failed.contains(i) || published_before[k] {
                continue;
            }
            let mut securityhub =
                vigil_asff::securityhub_ref(&a.finding, matches!(status[k], Import::Imported));
            if let Import::Failed(f) = &status[k] {
                securityhub.import_error = Some(f.clone());
            }
            let detail = FindingEnriched {
                finding: Cow::Borrowed(&a.finding),
                enrichment: Cow::Borrowed(e),
                dedup: Cow::Borrowed(&a.dedup),
                securityhub,
            };
            match VigilEvent::new(FINDING_ENRICHED, &detail) {
                Ok(mut event) => {
                    event.resources = e
                        .task
                        .as_ref()
                        .map(|t| vec![t.task_arn.clone()])
                        .unwrap_or_default();
                    events.push((k, event));
                }
                Err(err) => {
                    warn!(fingerprint = a.finding.fingerprint.as_str(), error = %err, "cannot build Finding Enriched");
                    failed.push(*i);
                }
            }
            info!(
                fingerprint = a.finding.fingerprint.as_str(),
                enriched = e.enriched,
                imported = matches!(status[k], Import::Imported),
                "finding enriched"
            );
        }
        let payload: Vec<VigilEvent> = events.iter().map(|(_, e)| e.clone()).collect();
        let mut published = published_before.clone();
        for ((k, _), result) in events.iter().zip(self.publisher.publish(&payload).await) {
            match result {
                Ok(_) => {
                    counts.published += 1;
                    published[*k] = true;
                }
                Err(_) => failed.push(accepted[*k].0),
            }
        }

        // The dedup record: the occurrence's event is out (and, when Security Hub confirmed it,
        // the record is `forwarded`), in one write. A retryable import returns its message.
        for (k, (i, a)) in accepted.iter().enumerate() {
            // A message the record does not vouch for never writes the occurrence's marker: it
            // could otherwise suppress the genuine message's redelivery.
            if failed.contains(i) || !published[k] || unvouched[k].is_some() {
                continue;
            }
            let fingerprint = a.finding.fingerprint.as_str();
            // The UpdatedAt Security Hub confirmed, for the next import to stay at or after it (the
            // clock's time for a finding not imported, such as GuardDuty's own).
            let forwarded = match &status[k] {
                Import::Imported | Import::NotOurs => Some(
                    records[k]
                        .as_ref()
                        .and_then(|r| chrono::DateTime::parse_from_rfc3339(&r.updated_at).ok())
                        .map_or(now, |t| t.with_timezone(&chrono::Utc)),
                ),
                Import::Failed(_) => None,
            };
            let retrying = matches!(&status[k], Import::Failed(f) if f.retrying);
            if published_before[k] && forwarded.is_none() {
                // Nothing new to record; the import is retried again or was refused for good.
            } else if let Err(err) = self
                .dedup
                .mark_enriched(fingerprint, &a.dedup.event_id, forwarded)
                .await
            {
                if forwarded.is_some() {
                    warn!(fingerprint, error = %err, "could not mark the record forwarded");
                    failed.push(*i);
                    continue;
                }
                // Only the publish marker is lost: a redelivery (if any) may publish again.
                warn!(fingerprint, error = %err, "could not record Finding Enriched as published");
            }
            if retrying {
                failed.push(*i);
            }
        }
        failed.sort_unstable();
        failed.dedup();
        failed
    }
}

impl Enrich {
    /// Why the message's finding is not vouched for (`None`: it is): its fields must hash to its
    /// fingerprint and, when anything of it would be called through a member role (its task's
    /// account or its own), the dedup record (which only Vigil writes) must agree with it. A forged
    /// `Finding Accepted` must not make enrich assume a member role, describe a member's task or
    /// import into a member's hub. `Err`: the record could not be read.
    async fn vouch(&self, f: &Finding) -> Result<Option<String>, String> {
        if vigil_model::FindingFingerprint::of(f) != f.fingerprint {
            return Ok(Some(format!(
                "the finding's fields do not hash to its fingerprint {}",
                f.fingerprint
            )));
        }
        let Some(accounts) = &self.accounts else {
            return Ok(None);
        };
        let (task_account, _) = enrichers::task_place(f);
        let member = accounts.is_member_call(&task_account)
            || f.account
                .as_deref()
                .is_some_and(|a| accounts.is_member_call(a));
        if !member {
            return Ok(None);
        }
        let recorded = self
            .dedup
            .origin(f.fingerprint.as_str())
            .await
            .map_err(|e| e.to_string())?;
        Ok(disagreement(f, recorded.as_ref()))
    }
}

/// Why `finding` is not the one ingest recorded under its fingerprint, if it is not.
fn disagreement(
    finding: &Finding,
    recorded: Option<&vigil_dedup::RecordedOrigin>,
) -> Option<String> {
    let Some(r) = recorded else {
        return Some(format!(
            "no dedup record vouches for {}: the finding did not come through ingest",
            finding.fingerprint
        ));
    };
    let differ = r.disagreements(finding);
    (!differ.is_empty()).then(|| differ.join("; "))
}

fn classify(body: &str) -> Message {
    let Ok(event) = serde_json::from_str::<Value>(body) else {
        return Message::Invalid("body is not JSON".into());
    };
    let source = event
        .get("source")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let detail_type = event
        .get("detail-type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match (source, detail_type) {
        (vigil_contract::SOURCE, vigil_contract::FINDING_ACCEPTED) => {
            match serde_json::from_value::<Accepted>(event["detail"].clone()) {
                Ok(a) => Message::Accepted(Box::new(a)),
                Err(e) => Message::Invalid(format!("detail: {e}")),
            }
        }
        (vigil_adapters::ECS_SOURCE, vigil_adapters::ECS_TASK_DETAIL_TYPE) => {
            match vigil_adapters::parse_event(body.as_bytes(), &Default::default()) {
                Ok(SourceEvent::TaskStateChange(t)) if t.is_stopped() => {
                    Message::TaskStopped(t.task_arn)
                }
                Ok(_) => Message::Ignored,
                Err(e) => Message::Invalid(e.to_string()),
            }
        }
        _ => Message::Invalid(format!("unexpected event {source:?} / {detail_type:?}")),
    }
}

/// The alert's container must be one of the described task's (by the 12-character prefix of its
/// runtime id): labels naming a task are not proof that the container runs in it.
fn container_conflict(finding: &Finding, enrichment: &Enrichment) -> Option<String> {
    let task = enrichment.task.as_ref()?;
    let container = &finding.resource.container;
    let runtime_ids = task
        .containers
        .iter()
        .filter_map(|c| c.runtime_id.as_deref());
    (container.is_among(runtime_ids) == Some(false)).then(|| {
        format!(
            "container {} is not a container of the task {}",
            container.short_id().unwrap_or_default(),
            task.task_arn
        )
    })
}

pub use vigil_lambda::init_logging;
