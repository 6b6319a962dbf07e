//! The whole pipeline on one machine, as it runs on AWS: the emulator provisioned from
//! `infra/template.yaml` (table, buses, rules with their real patterns, queues with their redrive
//! policies, Security Hub), the three functions' own handlers, and a relay in the place of Lambda's
//! SQS event source mappings. `vigil demo` and `vigil replay` are thin over this.
//!
//! - [`relay`]: the event source mapping (batch size and window from the template,
//!   `batchItemFailures` honoured, only successes deleted).
//! - [`scenario`]: the demo's cluster, services and events.
//! - [`summary`]: what happened, read back from the emulator.

pub mod relay;
pub mod scenario;
pub mod summary;

use relay::QueueFeed;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use vigil_enrich::{Enrich, EnrichSettings};
use vigil_ingest::{Ingest, IngestConfig};
use vigil_playbook::PlaybookFile;
use vigil_remediate::{Remediate, RemediateSettings, RemediationMode};
use vigil_stack::{Options, ProvisionedStack, Stack};
use vigil_testkit::Emulator;

pub use summary::Summary;

pub const INGEST: &str = "IngestFunction";
pub const ENRICH: &str = "EnrichFunction";
pub const REMEDIATE: &str = "RemediateFunction";
const FUNCTIONS: [&str; 3] = [INGEST, ENRICH, REMEDIATE];

/// The emulator's account: what Lambda's invoked-function ARN would name.
pub const ACCOUNT: &str = "123456789012";

pub struct RunOptions {
    pub mode: RemediationMode,
    pub playbooks: PlaybookFile,
}

/// Counts the relay keeps as it hands batches to the functions.
#[derive(Debug, Default, Clone)]
pub struct Progress {
    pub batches: BTreeMap<&'static str, u64>,
    pub messages: BTreeMap<&'static str, u64>,
    pub failed_items: BTreeMap<&'static str, u64>,
    /// `Finding Accepted` bodies enrich received, for severities and counts.
    pub accepted_bodies: Vec<String>,
}

pub struct LocalPipeline {
    emulator: Emulator,
    stack: ProvisionedStack,
    sdk: aws_config::SdkConfig,
    ingest: Ingest,
    enrich: Enrich,
    remediate: Remediate,
    feeds: Vec<(&'static str, QueueFeed)>,
    pub progress: Progress,
}

fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:vigil-{name}")
}

impl LocalPipeline {
    /// Starts the emulator and provisions it from the repository's template.
    pub async fn start(options: RunOptions) -> Result<LocalPipeline, String> {
        let emulator = Emulator::start();
        let sdk = emulator.sdk_config().await;
        let stack =
            Stack::load(Stack::repo_template(), &Options::default()).map_err(|e| e.to_string())?;
        let stack = vigil_stack::provision(&sdk, &stack)
            .await
            .map_err(|e| e.to_string())?;
        let (table, bus) = (stack.table_name.clone(), stack.bus_name.clone());

        let ingest = Ingest::from_env(IngestConfig::new(&table, &bus), &sdk).without_metrics();
        let enrich = Enrich::from_env(EnrichSettings::new(&table, &bus), &sdk);
        // The remediate function's settings come from the template's environment, with the mode
        // and the table and bus names of this run.
        let mut env = stack.function_env(REMEDIATE);
        env.insert("TABLE_NAME".into(), table.clone());
        env.insert("EVENT_BUS_NAME".into(), bus.clone());
        let mut settings =
            RemediateSettings::from_lookup(|k| env.get(k).cloned()).map_err(|e| e.to_string())?;
        settings.mode = options.mode;
        let remediate = Remediate::from_env(options.playbooks, settings, &sdk);

        let mut feeds = Vec::new();
        for f in FUNCTIONS {
            let queue = stack
                .function_queue(f)
                .ok_or_else(|| format!("the template gives {f} no queue"))?;
            let mapping = stack
                .mapping(f)
                .ok_or_else(|| format!("the template gives {f} no event source mapping"))?;
            feeds.push((
                f,
                QueueFeed {
                    url: queue.url.clone(),
                    arn: queue.arn.clone(),
                    batch_size: mapping.batch_size.unwrap_or(10).max(1) as usize,
                    window: Duration::from_secs(
                        mapping.maximum_batching_window_seconds.unwrap_or(0).into(),
                    ),
                },
            ));
        }
        Ok(LocalPipeline {
            emulator,
            stack,
            sdk,
            ingest,
            enrich,
            remediate,
            feeds,
            progress: Progress::default(),
        })
    }

    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    pub fn sdk(&self) -> &aws_config::SdkConfig {
        &self.sdk
    }

    pub fn stack(&self) -> &ProvisionedStack {
        &self.stack
    }

    /// Puts events on the bus they would arrive on: `aws.*` sources on the default bus, everything
    /// else on the agent bus. A bare payload (no `detail`) is sent as falcosidekick would, as a
    /// Falco alert. Returns how many were sent.
    pub async fn put_events(&self, events: &[Value]) -> Result<usize, String> {
        let client = aws_sdk_eventbridge::Client::new(&self.sdk);
        let mut entries = Vec::new();
        for e in events {
            let (source, detail_type, detail) =
                match (e.get("source").and_then(Value::as_str), e.get("detail")) {
                    (Some(s), Some(d)) => (
                        s.to_owned(),
                        e.get("detail-type")
                            .and_then(Value::as_str)
                            .unwrap_or("Event")
                            .to_owned(),
                        d.clone(),
                    ),
                    _ => ("falco".to_owned(), "Falco Alert".to_owned(), e.clone()),
                };
            let bus = if source.starts_with("aws.") {
                "default".to_owned()
            } else {
                self.stack.bus_name.clone()
            };
            entries.push(
                aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .event_bus_name(bus)
                    .source(source)
                    .detail_type(detail_type)
                    .detail(detail.to_string())
                    .set_resources(e.get("resources").and_then(Value::as_array).map(|r| {
                        r.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    }))
                    .build(),
            );
        }
        let mut sent = 0;
        for chunk in entries.chunks(10) {
            let out = client
                .put_events()
                .set_entries(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "PutEvents: {}",
                        aws_sdk_eventbridge::error::DisplayErrorContext(&e)
                    )
                })?;
            if out.failed_entry_count() > 0 {
                return Err(format!(
                    "PutEvents refused {} entries",
                    out.failed_entry_count()
                ));
            }
            sent += chunk.len();
        }
        Ok(sent)
    }

    /// Relays batches to the functions until every queue has been empty for `quiet`, calling
    /// `report` after each batch.
    pub async fn run_until_quiet(
        &mut self,
        quiet: Duration,
        mut report: impl FnMut(&Progress),
    ) -> Result<(), String> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let mut idle_since: Option<Instant> = None;
        loop {
            let mut worked = false;
            for (name, feed) in self.feeds.clone() {
                let Some(batch) = relay::receive(&sqs, &feed).await? else {
                    continue;
                };
                worked = true;
                let response = self.invoke(name, batch.event.clone()).await?;
                let failed = relay::settle(&sqs, &feed, &batch, &response).await?;
                *self.progress.batches.entry(name).or_default() += 1;
                *self.progress.messages.entry(name).or_default() += batch.receipts.len() as u64;
                *self.progress.failed_items.entry(name).or_default() += failed as u64;
                if name == ENRICH {
                    self.progress.accepted_bodies.extend(
                        batch
                            .bodies
                            .iter()
                            .filter(|b| b.contains("\"Finding Accepted\""))
                            .cloned(),
                    );
                }
                report(&self.progress);
            }
            if worked {
                idle_since = None;
                continue;
            }
            let mut pending = 0;
            for (_, feed) in &self.feeds {
                pending += relay::depth(&sqs, &feed.url).await?;
            }
            if pending > 0 {
                // Failed messages are in flight until their short visibility timeout ends.
                idle_since = None;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let since = *idle_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= quiet {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn invoke(&self, function: &str, event: Value) -> Result<Value, String> {
        let ids: Vec<Value> = event["Records"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| json!({"itemIdentifier": r["messageId"]}))
            .collect();
        let result = match function {
            INGEST => {
                self.ingest
                    .handle(event, Some(function_arn("ingest")))
                    .await
            }
            ENRICH => self.enrich.handle(event).await,
            _ => {
                self.remediate
                    .handle(event, Some(function_arn("remediate")))
                    .await
            }
        };
        // A handler error fails the whole batch, as Lambda would: every message comes back.
        Ok(result.unwrap_or_else(|e| json!({"batchItemFailures": ids, "error": e.to_string()})))
    }
}
