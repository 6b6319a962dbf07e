//! The enrich function: `Finding Accepted` → ECS enrichment → ASFF → Security Hub → dedup record
//! `forwarded` → `Finding Enriched`. `ECS Task State Change` events to STOPPED evict cached tasks.
//!
//! Order matters for "nothing lost": the record is marked forwarded only after Security Hub confirmed
//! the import, and a message is acknowledged only after its `Finding Enriched` is on the bus. A
//! failure at any step returns the message in `batchItemFailures`; the redelivery imports the same
//! `Id` again (an update, never a second finding).

#![warn(missing_docs)]

pub mod settings;

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
use vigil_securityhub::SecurityHubImporter;

pub use vigil_contract::{FINDING_ENRICHED, FindingAccepted, FindingEnriched, SecurityHubRef};

pub use vigil_runtime::Clock;

type Accepted = FindingAccepted<'static>;

enum Message {
    Accepted(Box<Accepted>),
    TaskStopped(String),
    Ignored,
    Invalid(String),
}

/// The enrich handler and its clients, built once per Lambda instance and shared by invocations.
pub struct Enrich {
    enricher: EcsEnricher,
    importer: SecurityHubImporter,
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
            enricher: EcsEnricher::new(ecs, settings.ecs.clone()),
            importer: SecurityHubImporter::new(
                securityhub,
                vigil_securityhub::RetryPolicy::default(),
                settings.securityhub_calls_per_second,
            ),
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
    /// owning its calls sets it (`vigil_ecs::client`, `vigil_securityhub::client`, …).
    pub fn from_env(settings: EnrichSettings, sdk: &aws_config::SdkConfig) -> Self {
        Self::new(
            vigil_ecs::client(sdk.into()),
            vigil_securityhub::client(sdk.into()),
            vigil_dedup::client(sdk.into()),
            vigil_bus::client(sdk.into()),
            settings,
        )
    }

    /// The same handler importing through `importer` (e.g. another retry policy or rate, for tests).
    pub fn with_importer(mut self, importer: SecurityHubImporter) -> Self {
        self.importer = importer;
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
        let failed = self.process(&bodies).await;
        Ok(sqs::failures(&records, failed))
    }

    /// Processes a batch of message bodies; returns the indexes of those SQS must deliver again.
    pub async fn process(&self, bodies: &[String]) -> Vec<usize> {
        // Boxed: the future holds every SDK call's state and is too large for a small thread stack.
        Box::pin(self.process_batch(bodies)).await
    }

    async fn process_batch(&self, bodies: &[String]) -> Vec<usize> {
        let now = (self.clock)();
        let mut counts = Counts::default();
        let failed = self.enrich_batch(bodies, now, &mut counts).await;
        counts.failed = failed.len() as u64;
        if self.emit_metrics {
            emf::emit("enrich", &counts, now.timestamp_millis());
        }
        failed
    }

    async fn enrich_batch(
        &self,
        bodies: &[String],
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

        let findings: Vec<Finding> = accepted
            .iter()
            .map(|(_, a)| Finding::clone(&a.finding))
            .collect();
        let mut enrichments = self.enricher.enrich(&findings).await;
        counts.enriched = enrichments.iter().filter(|e| e.enriched).count() as u64;
        // Marked, kept and imported; remediation refuses it (and checks again on a fresh look).
        for ((_, a), e) in accepted.iter().zip(enrichments.iter_mut()) {
            e.identity_mismatch = container_conflict(&a.finding, e);
        }

        // ASFF for the findings Security Hub should receive from us.
        let ctx = MappingContext { now };
        let mut records: Vec<Option<AsffFinding>> = Vec::with_capacity(accepted.len());
        for ((i, a), e) in accepted.iter().zip(&enrichments) {
            if a.finding.source == Source::Guardduty && !self.settings.import_guardduty {
                records.push(None);
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
                }
                Err(err) => {
                    warn!(message = i, fingerprint = a.finding.fingerprint.as_str(), error = %err, "cannot map to ASFF");
                    failed.push(*i);
                    records.push(None);
                }
            }
        }
        let to_import: Vec<(usize, AsffFinding)> = records
            .iter()
            .enumerate()
            .filter_map(|(k, r)| r.clone().map(|r| (k, r)))
            .collect();
        let batch: Vec<AsffFinding> = to_import.iter().map(|(_, r)| r.clone()).collect();
        let mut import_ok = vec![true; accepted.len()];
        for ((k, _), result) in to_import.iter().zip(self.importer.import(&batch).await) {
            if let Err(e) = result {
                warn!(fingerprint = accepted[*k].1.finding.fingerprint.as_str(), error = %e, "Security Hub import failed; message will be redelivered");
                import_ok[*k] = false;
            }
        }
        counts.imported = to_import.iter().filter(|(k, _)| import_ok[*k]).count() as u64;

        let mut events: Vec<(usize, VigilEvent)> = Vec::new();
        for (k, ((i, a), e)) in accepted.iter().zip(&enrichments).enumerate() {
            if failed.contains(i) || !import_ok[k] {
                failed.push(*i);
                continue;
            }
            // The UpdatedAt Security Hub confirmed, for the next import to stay at or after it (the
            // clock's time for a finding not imported, such as GuardDuty's own).
            let updated_at = records[k]
                .as_ref()
                .and_then(|r| chrono::DateTime::parse_from_rfc3339(&r.updated_at).ok())
                .map_or(now, |t| t.with_timezone(&chrono::Utc));
            if let Err(err) = self
                .dedup
                .mark_forwarded(a.finding.fingerprint.as_str(), updated_at)
                .await
            {
                warn!(fingerprint = a.finding.fingerprint.as_str(), error = %err, "could not mark the record forwarded");
                failed.push(*i);
                continue;
            }
            let detail = FindingEnriched {
                finding: Cow::Borrowed(&a.finding),
                enrichment: Cow::Borrowed(e),
                dedup: Cow::Borrowed(&a.dedup),
                securityhub: vigil_asff::securityhub_ref(&a.finding, records[k].is_some()),
            };
            match VigilEvent::new(FINDING_ENRICHED, &detail) {
                Ok(mut event) => {
                    event.resources = e
                        .task
                        .as_ref()
                        .map(|t| vec![t.task_arn.clone()])
                        .unwrap_or_default();
                    events.push((*i, event));
                }
                Err(_) => failed.push(*i),
            }
            info!(
                fingerprint = a.finding.fingerprint.as_str(),
                enriched = e.enriched,
                imported = records[k].is_some(),
                "finding enriched"
            );
        }
        let payload: Vec<VigilEvent> = events.iter().map(|(_, e)| e.clone()).collect();
        for ((i, _), result) in events.iter().zip(self.publisher.publish(&payload).await) {
            match result {
                Ok(_) => counts.published += 1,
                Err(_) => failed.push(*i),
            }
        }
        failed.sort_unstable();
        failed.dedup();
        failed
    }
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
