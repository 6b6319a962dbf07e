//! The ingest function: adapters → canonical Finding → DynamoDB dedup → `Finding Accepted` on the bus.
//!
//! Bad input is published as `Event Rejected` and the invocation succeeds, so it never blocks good
//! input or burns retries. The occurrences of one fingerprint in a batch are counted by one DynamoDB
//! write (up to 20 a write). A message whose write or publication fails is reported in
//! `batchItemFailures` (a failed write: every message it carried, and only those), so SQS redelivers
//! only it; the dedup record recognizes the redelivery by its event id and does not count it twice,
//! alone or among new occurrences.

#![warn(missing_docs)]

pub mod config;
pub mod events;
pub mod input;
pub mod metrics;

pub use config::{IngestConfig, IngestEntry};

use chrono::{DateTime, SecondsFormat, Utc};
use events::{DedupSummary, EVENT_REJECTED, EventRejected, FINDING_ACCEPTED, FindingAccepted};
pub use input::{DirectSummary, IngestPayload, IngestResponse};
use input::{Invocation, Message};
use metrics::Counts;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use tracing::{debug, info, warn};
use vigil_adapters::{Channel, Delivery, ParseContext, SourceEvent};
use vigil_bus::{EventPublisher, RetryPolicy, VigilEvent};
use vigil_dedup::{DedupStore, Occurrence, Outcome, Recorded};
use vigil_lambda::{Error, LambdaEvent, SqsBatchResponse, account_of_function_arn};
use vigil_model::Finding;

pub use vigil_runtime::Clock;

/// The ingest function: its clients, settings and clock. Cheap to clone; one per execution
/// environment, shared by concurrent invocations.
#[derive(Clone)]
pub struct Ingest {
    dedup: DedupStore,
    publisher: EventPublisher,
    config: IngestConfig,
    default_region: Option<String>,
    clock: Clock,
    /// CloudWatch embedded-metric lines on stdout (Lambda); off where stdout is someone's output.
    emit_metrics: bool,
}

/// What became of each message of an invocation.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// Indexes of the messages SQS must deliver again.
    pub failed: Vec<usize>,
    /// The messages, by what became of them.
    pub counts: Counts,
}

enum Parsed {
    Finding {
        finding: Box<Finding>,
        event_id: String,
    },
    Rejected(Box<EventRejected>),
    /// An agent's event about itself: logged and counted, neither a finding nor rejected.
    Telemetry(Box<vigil_adapters::AgentStatus>),
}

impl Ingest {
    /// Ingest on these clients; `default_region` fills a finding's region when its event has
    /// none (the function's own region in Lambda).
    pub fn new(
        dynamodb: aws_sdk_dynamodb::Client,
        eventbridge: aws_sdk_eventbridge::Client,
        config: IngestConfig,
        default_region: Option<String>,
    ) -> Self {
        Ingest {
            dedup: DedupStore::new(dynamodb, config.dedup.clone()),
            publisher: EventPublisher::new(
                eventbridge,
                config.event_bus_name.clone(),
                RetryPolicy::default(),
            ),
            config,
            default_region,
            clock: vigil_runtime::system_clock(),
            emit_metrics: true,
        }
    }

    /// Builds the clients once, from the Lambda environment, each with its SDK retry as the crate
    /// owning its calls sets it (`vigil_dedup::client`, `vigil_bus::client`).
    pub fn from_env(config: IngestConfig, sdk: &aws_config::SdkConfig) -> Self {
        let region = sdk.region().map(|r| r.to_string());
        Self::new(
            vigil_dedup::client(sdk.into()),
            vigil_bus::client(sdk.into()),
            config,
            region,
        )
    }

    /// Reads the time from `clock` (a fixed time in tests and replays).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// No embedded-metric lines on stdout (`vigil demo --json` owns stdout).
    pub fn without_metrics(mut self) -> Self {
        self.emit_metrics = false;
        self
    }

    /// Retries failed `PutEvents` entries by `retry`.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.publisher = self.publisher.with_retry(retry);
        self
    }

    /// The Lambda handler: an SQS batch answers with `batchItemFailures`; a direct invocation fails
    /// (so Lambda retries it) only when its finding could not be stored or published.
    ///
    /// An SQS batch is the event source mapping's only when every record names the ingest queue
    /// (`INGEST_QUEUE_ARNS`); its messages must be EventBridge events. Anything else is a direct
    /// invocation, which takes one bare agent payload (falcosidekick's Lambda output) sent on behalf
    /// of the account configured for it, never an envelope claiming a source or an account.
    pub async fn handle(&self, event: LambdaEvent<IngestPayload>) -> Result<IngestResponse, Error> {
        let deploying = account_of_function_arn(&event.context.invoked_function_arn);
        let ctx = |channel: Channel, default_account: Option<String>| ParseContext {
            default_account,
            default_region: self.default_region.clone(),
            channel,
            delegations: self.config.delegations.clone(),
        };
        let invocation = match self.config.entry {
            IngestEntry::Queue => Invocation::from_payload(event.payload, &self.config.queue_arns),
            IngestEntry::Direct => Invocation::direct_from(event.payload),
        };
        match invocation {
            Invocation::SqsBatch(messages) => {
                let ids: Vec<Option<String>> =
                    messages.iter().map(|m| m.message_id.clone()).collect();
                let outcome = self
                    .process(messages, &ctx(Channel::EventBridge, deploying))
                    .await;
                let mut response = SqsBatchResponse::default();
                for id in outcome.failed.iter().filter_map(|&i| ids[i].clone()) {
                    response.add_failure(id);
                }
                Ok(IngestResponse::Batch(response))
            }
            Invocation::Direct(message) => {
                let sender = self.config.direct_invoke_account.clone().or(deploying);
                let outcome = self
                    .process(vec![message], &ctx(Channel::DirectInvoke, sender))
                    .await;
                if outcome.failed.is_empty() {
                    let c = outcome.counts;
                    Ok(IngestResponse::Direct(DirectSummary {
                        accepted: c.accepted,
                        duplicates: c.duplicates + c.redeliveries,
                        rejected: c.rejected,
                    }))
                } else {
                    Err("the finding could not be stored or published; retry".into())
                }
            }
        }
    }

    /// Processes a batch: every message ends accepted, counted as a duplicate, rejected (published
    /// as `Event Rejected`), or failed (to be redelivered).
    pub async fn process(&self, messages: Vec<Message>, ctx: &ParseContext) -> BatchOutcome {
        let now = (self.clock)();
        let received_at = now.to_rfc3339_opts(SecondsFormat::Millis, true);
        let parsed: Vec<Parsed> = messages
            .iter()
            .map(|m| parse(m, ctx, now, &received_at))
            .collect();

        let recorded = self.count_all(&parsed, now).await;

        let mut result = BatchOutcome::default();
        let mut to_publish: Vec<(usize, VigilEvent)> = Vec::new();
        for (i, p) in parsed.iter().enumerate() {
            match (p, &recorded[i]) {
                (Parsed::Rejected(r), _) => {
                    info!(code = %r.code, reason = %r.reason, sqs_message_id = ?r.sqs_message_id, "event rejected");
                    result.counts.rejected += 1;
                    match VigilEvent::new(EVENT_REJECTED, r.as_ref()) {
                        Ok(e) => to_publish.push((i, e)),
                        Err(_) => result.failed.push(i),
                    }
                }
                (Parsed::Telemetry(s), _) => {
                    let d = &s.drops;
                    info!(
                        kind = s.kind,
                        agent = ?s.agent,
                        status = ?s.status,
                        rule = %s.rule,
                        host = ?s.host,
                        task_arn = ?s.task_arn,
                        observed_at = ?s.observed_at,
                        n_drops = ?d.n_drops,
                        n_evts = ?d.n_evts,
                        n_drops_buffer = ?d.n_drops_buffer,
                        n_drops_perc = ?d.n_drops_perc,
                        outputs_queue_num_drops = ?d.outputs_queue_num_drops,
                        fields = %serde_json::to_string(&s.fields).unwrap_or_default(),
                        "agent telemetry"
                    );
                    result.counts.telemetry += 1;
                }
                (Parsed::Finding { finding, event_id }, Some(Ok(recorded))) => {
                    let fingerprint = finding.fingerprint.as_str();
                    match &recorded.outcome {
                        Outcome::Publish { reason, count } => {
                            info!(event_id = %event_id, fingerprint, ?reason, count, highest_severity = recorded.highest_severity, time_clamped = finding.time_clamped.is_some(), "finding accepted");
                            result.counts.accepted += 1;
                            let detail = FindingAccepted {
                                finding: Cow::Borrowed(finding.as_ref()),
                                dedup: Cow::Owned(DedupSummary {
                                    count: *count,
                                    reason: *reason,
                                    securityhub_id: vigil_asff::finding_id(finding),
                                    event_id: event_id.clone(),
                                    highest_severity: Some(recorded.highest_severity),
                                    last_update: recorded.last_update,
                                }),
                            };
                            match VigilEvent::new(FINDING_ACCEPTED, &detail) {
                                Ok(mut e) => {
                                    e.resources =
                                        finding.resource.task_arn.iter().cloned().collect();
                                    to_publish.push((i, e));
                                }
                                Err(_) => result.failed.push(i),
                            }
                        }
                        Outcome::Duplicate { count } => {
                            debug!(event_id = %event_id, fingerprint, count, "duplicate counted");
                            result.counts.duplicates += 1;
                        }
                        Outcome::Redelivered { count } => {
                            debug!(event_id = %event_id, fingerprint, count, "redelivery ignored");
                            result.counts.redeliveries += 1;
                        }
                    }
                }
                (Parsed::Finding { finding, event_id }, Some(Err(e))) => {
                    warn!(event_id = %event_id, fingerprint = finding.fingerprint.as_str(), error = %e, "dedup failed; message will be redelivered");
                    result.failed.push(i);
                }
                (Parsed::Finding { .. }, None) => result.failed.push(i),
            }
        }

        let events: Vec<VigilEvent> = to_publish.iter().map(|(_, e)| e.clone()).collect();
        let mut unpublished = Vec::new();
        let mut published_again = Vec::new();
        let mut publish_failed = Vec::new();
        for ((i, _), published) in to_publish.iter().zip(self.publisher.publish(&events).await) {
            let listed = matches!(&recorded[*i], Some(Ok(r)) if r.listed_unpublished);
            if let Err(e) = published {
                warn!(message = i, error = %e, "publishing failed; message will be redelivered");
                result.failed.push(*i);
                publish_failed.push(*i);
                // A listed redelivery that failed again stays listed.
                if !listed {
                    unpublished.push(*i);
                }
            } else if listed {
                published_again.push(*i);
            }
        }
        // A copy of the same event in this batch (same fingerprint and id) failed and SQS brings it
        // back: its id stays listed, or that copy would be counted a second time once the record
        // no longer remembers it.
        published_again.retain(|&i| {
            !publish_failed
                .iter()
                .any(|&j| same_occurrence(&parsed[i], &parsed[j]))
        });
        self.track_unpublished(&parsed, &unpublished, &published_again)
            .await;
        result.failed.sort_unstable();
        result.failed.dedup();
        result.counts.failed = result.failed.len() as u64;
        if self.emit_metrics {
            vigil_lambda::emf::emit("ingest", &result.counts, now.timestamp_millis());
        }
        result
    }

    /// Lists on their records the counted findings whose publication failed for good (`failed`,
    /// message indexes), so that their redeliveries are recognized (not counted twice) however hot
    /// the fingerprint, and published; and takes off the list those whose redelivery was just
    /// published (`published`). One write per fingerprint, only on these paths. A write that fails
    /// changes no message's fate: a failed one is redelivered anyway (then recognized while the
    /// record remembers its id), a published one stays listed until its record expires.
    async fn track_unpublished(&self, parsed: &[Parsed], failed: &[usize], published: &[usize]) {
        for (indexes, list) in [(failed, true), (published, false)] {
            let mut by_fingerprint: Vec<(&str, Vec<&str>)> = Vec::new();
            for &i in indexes {
                let Parsed::Finding { finding, event_id } = &parsed[i] else {
                    continue;
                };
                let fingerprint = finding.fingerprint.as_str();
                match by_fingerprint.iter_mut().find(|(f, _)| *f == fingerprint) {
                    Some((_, ids)) => ids.push(event_id),
                    None => by_fingerprint.push((fingerprint, vec![event_id])),
                }
            }
            for (fingerprint, ids) in by_fingerprint {
                if list {
                    match self.dedup.list_unpublished(fingerprint, &ids).await {
                        Ok(true) => {}
                        Ok(false) => {
                            warn!(fingerprint, events = ?ids, "not all listed unpublished (the list is full, or the record is gone); a redelivery of one left out is recognized only while its id is remembered")
                        }
                        Err(e) => {
                            warn!(fingerprint, events = ?ids, error = %e, "could not list unpublished findings; a redelivery is recognized only while its id is remembered")
                        }
                    }
                } else if let Err(e) = self.dedup.clear_unpublished(fingerprint, &ids).await {
                    warn!(fingerprint, events = ?ids, error = %e, "could not take published findings off the unpublished list");
                }
            }
        }
    }

    /// One conditional UpdateItem per fingerprint in the batch (its repeats are counted together,
    /// up to [`DedupStore::max_group`] a write), `concurrency` fingerprints at a time. A write that
    /// fails leaves an error for exactly the messages it carried.
    async fn count_all(
        &self,
        parsed: &[Parsed],
        now: DateTime<Utc>,
    ) -> Vec<Option<Result<Recorded, Arc<vigil_dedup::DedupError>>>> {
        let mut results: Vec<Option<Result<Recorded, Arc<vigil_dedup::DedupError>>>> =
            (0..parsed.len()).map(|_| None).collect();
        // The batch's findings by fingerprint, in the order each first appears, each in batch order.
        let mut groups: Vec<Vec<(usize, Occurrence)>> = Vec::new();
        let mut by_fingerprint: HashMap<&str, usize> = HashMap::new();
        for (i, p) in parsed.iter().enumerate() {
            let Parsed::Finding { finding, event_id } = p else {
                continue;
            };
            let at = *by_fingerprint
                .entry(finding.fingerprint.as_str())
                .or_insert_with(|| {
                    groups.push(Vec::new());
                    groups.len() - 1
                });
            groups[at].push((i, occurrence(finding, event_id)));
        }
        let max_group = self.dedup.max_group();
        let mut groups = groups.into_iter();
        loop {
            let mut set = tokio::task::JoinSet::new();
            for group in groups.by_ref().take(self.config.concurrency.max(1)) {
                let store = self.dedup.clone();
                set.spawn(async move {
                    let mut done = Vec::with_capacity(group.len());
                    // The writes of one fingerprint one after the other: each sees the last.
                    for chunk in group.chunks(max_group) {
                        let occs: Vec<Occurrence> = chunk.iter().map(|(_, o)| o.clone()).collect();
                        match store.record_group(&occs, now).await {
                            Ok(recorded) => done
                                .extend(chunk.iter().zip(recorded).map(|((i, _), r)| (*i, Ok(r)))),
                            Err(e) => {
                                let e = Arc::new(e);
                                done.extend(chunk.iter().map(|(i, _)| (*i, Err(e.clone()))));
                            }
                        }
                    }
                    done
                });
            }
            if set.is_empty() {
                break;
            }
            while let Some(joined) = set.join_next().await {
                // A panicking task leaves its slots empty, which fails (and redelivers) its messages.
                if let Ok(done) = joined {
                    for (i, r) in done {
                        results[i] = Some(r);
                    }
                }
            }
        }
        results
    }
}

/// Whether two messages are copies of one occurrence: findings of one fingerprint, one event id.
fn same_occurrence(a: &Parsed, b: &Parsed) -> bool {
    matches!(
        (a, b),
        (
            Parsed::Finding { finding: fa, event_id: ia },
            Parsed::Finding { finding: fb, event_id: ib },
        ) if ia == ib && fa.fingerprint == fb.fingerprint
    )
}

/// What the dedup record needs of one occurrence of a finding.
fn occurrence(finding: &Finding, event_id: &str) -> Occurrence {
    Occurrence {
        fingerprint: finding.fingerprint.as_str().to_owned(),
        event_id: event_id.to_owned(),
        source: finding.source.as_str(),
        rule: finding.rule.clone(),
        securityhub_id: vigil_asff::finding_id(finding),
        arrival: finding.provenance.arrival.as_str(),
        sender_account: finding.provenance.sender_account.clone(),
        account: finding.account.clone(),
        task_arn: finding.resource.task_arn.clone(),
        region: finding.region.clone(),
        sequence_tasks: finding
            .sequence
            .iter()
            .flat_map(|s| s.tasks.iter().map(|t| t.task_arn.clone()))
            .collect(),
        // GuardDuty's own finding (the `Id` of its Security Hub finding): what an analyst may
        // select to approve a proposal for this finding.
        source_refs: vigil_asff::guardduty_ref(finding)
            .map(|(arn, _)| arn)
            .into_iter()
            .collect(),
        severity: finding.severity.normalized,
    }
}

/// Reads one message. A finding's observed times are clamped here, where the receive time is known
/// (see [`Finding::clamp_future_times`]): before dedup and publication, so nothing downstream ever
/// sees a time far in the future.
fn parse(m: &Message, ctx: &ParseContext, now: DateTime<Utc>, received_at: &str) -> Parsed {
    match vigil_adapters::parse_delivery(&m.body, ctx) {
        Ok(Delivery { event: SourceEvent::Finding(mut finding), envelope_id }) => {
            finding.clamp_future_times(now);
            // The producer's own id first (falcosidekick `uuid`, Sysdig `id`): the producer sending
            // the same event again, with a new EventBridge id, is a redelivery, not a repeat. It is
            // counted per fingerprint, which holds the sender, so no other sender can spend it.
            let event_id = finding
                .provenance
                .producer_id
                .as_deref()
                .map(|id| format!("producer:{id}"))
                .or(envelope_id)
                .or_else(|| m.message_id.clone())
                .unwrap_or_else(|| vigil_contract::content_id(&m.body));
            Parsed::Finding { finding: Box::new(finding), event_id }
        }
        Ok(Delivery { event: SourceEvent::AgentStatus(s), .. }) => Parsed::Telemetry(Box::new(s)),
        Ok(Delivery { event: SourceEvent::TaskStateChange(_), .. }) => Parsed::Rejected(Box::new(events::rejected(
            "not_a_finding",
            "$: an ECS task state change is not a finding; route it to enrich and remediate, not ingest".into(),
            "$".into(),
            &m.body,
            m.message_id.clone(),
            received_at.to_owned(),
        ))),
        Err(e) => Parsed::Rejected(Box::new(events::rejected_by(&e, &m.body, m.message_id.clone(), received_at.to_owned()))),
    }
}

pub use vigil_lambda::init_logging;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_finding_is_clamped_to_its_receipt_when_read() {
        let body = json!({
            "version": "0", "id": "e1", "source": "falco", "detail-type": "Falco Alert",
            "account": "123456789012", "region": "us-east-1",
            "detail": {"rule": "r", "priority": "Notice", "output": "o", "time": "9999-12-31T23:59:59Z"}
        });
        let message = Message {
            message_id: Some("m1".into()),
            body: body.to_string().into_bytes(),
        };
        let ctx = ParseContext {
            channel: Channel::EventBridge,
            ..Default::default()
        };
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 1, 1, 0, 0, 0).unwrap();
        let Parsed::Finding { finding, .. } = parse(&message, &ctx, now, "") else {
            panic!("a finding");
        };
        assert_eq!(finding.last_observed_at, now);
        assert_eq!(finding.time_clamped.map(|c| c.received_at), Some(now));
    }
}
