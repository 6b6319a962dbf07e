//! The whole pipeline on one machine, as it runs on AWS: the emulator provisioned from
//! `infra/template.yaml` (table, buses, rules with their real patterns, queues with their redrive
//! policies, Security Hub), the three functions' own handlers, and a relay in the place of Lambda's
//! SQS event source mappings. `vigil demo` and `vigil replay` are thin over this.
//!
//! - [`relay`]: the event source mapping (batch size and window from the template,
//!   `batchItemFailures` honoured, only successes deleted).
//! - [`scenario`]: the demo's cluster, services and events.
//! - [`accounts`]: the accounts the events name besides the deploying one, deployed as members.
//! - [`deployed`]: the same replay against a stack deployed with SAM (`--aws --stack`).
//! - [`inspect`]: the dedup records, action records and Security Hub findings, read back.
//! - [`summary`]: what happened, for people and `--json`.
//! - [`coverage`]: the coverage check run as its schedule runs it, and `vigil coverage`'s table.

#![warn(missing_docs)]

pub mod accounts;
pub mod coverage;
pub mod deployed;
pub mod inspect;
pub mod relay;
pub mod scenario;
pub mod summary;

use relay::QueueFeed;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use vigil_enrich::{Enrich, EnrichSettings};
use vigil_fault_injection::FaultInjector;
use vigil_ingest::{Ingest, IngestConfig};
use vigil_lambda::invoke_json;
use vigil_playbook::PlaybookFile;
use vigil_remediate::{Remediate, RemediateSettings, RemediationMode};
use vigil_stack::{Options, ProvisionedStack, Stack};
use vigil_testkit::Emulator;

pub use summary::Summary;

/// The ingest function's logical id in the template.
pub const INGEST: &str = "IngestFunction";
/// The enrich function's logical id in the template.
pub const ENRICH: &str = "EnrichFunction";
/// The remediate function's logical id in the template.
pub const REMEDIATE: &str = "RemediateFunction";
pub use coverage::COVERAGE;
const FUNCTIONS: [&str; 4] = [INGEST, ENRICH, REMEDIATE, COVERAGE];

/// The emulator's account: what Lambda's invoked-function ARN would name.
pub const ACCOUNT: &str = "123456789012";

/// What a run deploys besides the template: the remediation mode and the playbooks.
#[derive(Clone)]
pub struct RunOptions {
    /// The remediate function's mode (`REMEDIATION_MODE`), over the template's.
    pub mode: RemediationMode,
    /// The playbooks the remediate function reads (in place of its S3 or bundled file).
    pub playbooks: PlaybookFile,
    /// Settings of the remediate function over the template's (`ALLOWED_CLUSTERS`, ...).
    pub remediate_env: BTreeMap<String, String>,
}

impl RunOptions {
    /// `mode` and `playbooks`, with the template's remediate settings otherwise.
    pub fn new(mode: RemediationMode, playbooks: PlaybookFile) -> Self {
        RunOptions {
            mode,
            playbooks,
            remediate_env: BTreeMap::new(),
        }
    }
}

/// Counts the relay keeps as it hands batches to the functions.
#[derive(Debug, Default, Clone)]
pub struct Progress {
    /// Batches handed to each function, by logical id.
    pub batches: BTreeMap<&'static str, u64>,
    /// Messages in those batches (copies and redeliveries included).
    pub messages: BTreeMap<&'static str, u64>,
    /// Messages each function reported in `batchItemFailures`.
    pub failed_items: BTreeMap<&'static str, u64>,
    /// Invocations that returned an error (Lambda retries the whole batch).
    pub failed_invocations: BTreeMap<&'static str, u64>,
    /// `Finding Accepted` bodies enrich received, for severities and counts.
    pub accepted_bodies: Vec<String>,
}

/// The three functions' handlers, built once as on a warm Lambda instance, shared by the batches
/// in flight.
struct Functions {
    ingest: Ingest,
    enrich: Enrich,
    remediate: Remediate,
    coverage: vigil_coverage::Coverage,
}

/// The functions' SDK clients, one per service, shared by the three as on one warm host.
struct Clients {
    dynamodb: aws_sdk_dynamodb::Client,
    ecs: aws_sdk_ecs::Client,
    eventbridge: aws_sdk_eventbridge::Client,
    securityhub: aws_sdk_securityhub::Client,
}

impl Clients {
    /// As the functions build them from the SDK config (each service's client constructor sets its
    /// SDK retry), or each through `faults`' HTTP client.
    fn new(sdk: &aws_config::SdkConfig, faults: Option<&FaultInjector>) -> Clients {
        match faults {
            None => Clients {
                dynamodb: vigil_dedup::client(sdk.into()),
                ecs: vigil_ecs::client(sdk.into()),
                eventbridge: vigil_bus::client(sdk.into()),
                securityhub: vigil_securityhub::client(sdk.into()),
            },
            Some(faults) => Clients {
                dynamodb: vigil_dedup::client(faults.dynamodb_config(sdk)),
                ecs: vigil_ecs::client(faults.ecs_config(sdk)),
                eventbridge: vigil_bus::client(faults.eventbridge_config(sdk)),
                securityhub: vigil_securityhub::client(faults.securityhub_config(sdk)),
            },
        }
    }
}

impl Functions {
    fn build(
        sdk: &aws_config::SdkConfig,
        faults: Option<&FaultInjector>,
        stack: &ProvisionedStack,
        options: &RunOptions,
        members: &vigil_accounts::MemberAccounts,
    ) -> Result<Functions, String> {
        // As the template deploys them: the deploying account called with the functions' own
        // role, the members through theirs, any other account not at all.
        let accounts =
            vigil_accounts::Accounts::new(sdk, Some(ACCOUNT.to_owned()), members.clone());
        let c = Clients::new(sdk, faults);
        let (table, bus) = (stack.table_name.clone(), stack.bus_name.clone());
        // Each function takes batches from its own queue only, as deployed.
        let queue_arn = |f: &str| stack.function_queue(f).map(|q| q.arn.clone());
        let mut ingest_config = IngestConfig::new(&table, &bus);
        ingest_config.queue_arns = queue_arn(INGEST).into_iter().collect();
        let region = sdk.region().map(|r| r.to_string());
        let ingest = Ingest::new(
            c.dynamodb.clone(),
            c.eventbridge.clone(),
            ingest_config,
            region,
        )
        .without_metrics();
        let mut enrich_settings = EnrichSettings::new(&table, &bus);
        enrich_settings.queue_arns = queue_arn(ENRICH).into_iter().collect();
        let enrich = Enrich::new(
            c.ecs.clone(),
            c.securityhub.clone(),
            c.dynamodb.clone(),
            c.eventbridge.clone(),
            enrich_settings,
        )
        .with_accounts(accounts.clone())
        .without_metrics();
        // The remediate function's settings come from the template's environment, with the mode
        // and the table and bus names of this run.
        let mut env = stack.function_env(REMEDIATE);
        env.insert("TABLE_NAME".into(), table);
        env.insert("EVENT_BUS_NAME".into(), bus);
        env.extend(options.remediate_env.clone());
        let mut settings =
            RemediateSettings::from_lookup(|k| env.get(k).cloned()).map_err(|e| e.to_string())?;
        settings.mode = options.mode;
        settings.queue_arns = queue_arn(REMEDIATE).into_iter().collect();
        // Approvals: the queue the template maps to remediate besides its own, as provisioned.
        settings.approval_queue_arn = stack
            .stack
            .extra_mappings
            .iter()
            .find(|m| m.function == REMEDIATE)
            .and_then(|m| stack.queue(&m.queue))
            .map(|q| q.arn.clone());
        // Heartbeats from its queue; the check runs apart (`LocalPipeline::check_coverage`).
        let mut coverage_env = stack.function_env(COVERAGE);
        coverage_env.insert("TABLE_NAME".into(), stack.table_name.clone());
        coverage_env.insert("EVENT_BUS_NAME".into(), stack.bus_name.clone());
        coverage_env.insert("ACCOUNT_ID".into(), ACCOUNT.into());
        let mut coverage_settings =
            vigil_coverage::CoverageSettings::from_lookup(|k| coverage_env.get(k).cloned())
                .map_err(|e| e.to_string())?;
        coverage_settings.queue_arns = queue_arn(COVERAGE).into_iter().collect();
        let coverage = vigil_coverage::Coverage::new(
            vigil_coverage::Clients {
                dynamodb: c.dynamodb.clone(),
                ecs: c.ecs.clone(),
                guardduty: aws_sdk_guardduty::Client::new(sdk),
                securityhub: c.securityhub.clone(),
                eventbridge: c.eventbridge.clone(),
            },
            coverage_settings,
            sdk.region().map(|r| r.to_string()).unwrap_or_default(),
        )
        .without_metrics();
        let remediate = Remediate::new(
            c.ecs,
            c.securityhub,
            c.dynamodb,
            c.eventbridge,
            options.playbooks.clone(),
            settings,
        )
        .with_accounts(accounts)
        .without_metrics();
        Ok(Functions {
            ingest,
            enrich,
            remediate,
            coverage,
        })
    }

    /// One invocation, answered as Lambda's poller sees it: a handler error fails the whole batch.
    async fn invoke(&self, function: &str, event: Value) -> (Value, bool) {
        match self.try_invoke(function, event.clone()).await {
            Ok(v) => (v, false),
            Err(e) => {
                let ids: Vec<Value> = event["Records"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| json!({"itemIdentifier": r["messageId"]}))
                    .collect();
                (
                    json!({"batchItemFailures": ids, "error": e.to_string()}),
                    true,
                )
            }
        }
    }

    async fn try_invoke(&self, function: &str, event: Value) -> Result<Value, vigil_lambda::Error> {
        let arn = function_arn(match function {
            INGEST => "ingest",
            ENRICH => "enrich",
            COVERAGE => "coverage",
            _ => "remediate",
        });
        match function {
            INGEST => invoke_json(|e| self.ingest.handle(e), event, &arn).await,
            ENRICH => invoke_json(|e| self.enrich.handle(e), event, &arn).await,
            COVERAGE => invoke_json(|e| self.coverage.handle(e), event, &arn).await,
            _ => invoke_json(|e| self.remediate.handle(e), event, &arn).await,
        }
    }
}

/// The pipeline on the emulator: the provisioned stack, the three handlers and a relay per queue.
pub struct LocalPipeline {
    emulator: Emulator,
    stack: ProvisionedStack,
    sdk: aws_config::SdkConfig,
    options: RunOptions,
    functions: Arc<Functions>,
    feeds: Vec<(&'static str, QueueFeed)>,
    storm: Option<relay::StormState>,
    /// The fault injector the functions call through, if any.
    faults: Option<FaultInjector>,
    /// The member accounts (see [`accounts`]).
    members: vigil_accounts::MemberAccounts,
    /// Every (account, region) whose Security Hub the run reads back.
    hubs: BTreeSet<(String, String)>,
    /// What the relay has handed over so far.
    pub progress: Progress,
}

fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:vigil-{name}")
}

impl LocalPipeline {
    /// Starts the emulator and provisions it from the repository's template.
    pub async fn start(options: RunOptions) -> Result<LocalPipeline, String> {
        Self::provision(Emulator::start(), Options::default(), options).await
    }

    /// Uses an emulator that is already running at `endpoint` (`moto_server`, or this project's
    /// launcher): provisions a stack of its own there, named for this run so that it meets nothing
    /// an earlier run left behind.
    pub async fn connect(endpoint: &str, options: RunOptions) -> Result<LocalPipeline, String> {
        let emulator = Emulator::connect(endpoint)?;
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let name = format!("vigil-{run:x}");
        let mut names = Options {
            table_name: name.clone(),
            stack_name: name.clone(),
            ..Options::default()
        };
        names.parameters.insert("EventBusName".into(), name);
        Self::provision(emulator, names, options).await
    }

    async fn provision(
        emulator: Emulator,
        names: Options,
        options: RunOptions,
    ) -> Result<LocalPipeline, String> {
        let sdk = emulator.sdk_config().await;
        let stack = Stack::load(Stack::repo_template(), &names).map_err(|e| e.to_string())?;
        let stack = vigil_stack::provision(&sdk, &stack)
            .await
            .map_err(|e| e.to_string())?;
        let members = vigil_accounts::MemberAccounts::none();
        let functions = Arc::new(Functions::build(&sdk, None, &stack, &options, &members)?);
        let home_region = sdk.region().map(|r| r.to_string()).unwrap_or_default();

        let mut feeds = Vec::new();
        let extra = stack.stack.extra_mappings.iter().filter_map(|m| {
            let f = FUNCTIONS.into_iter().find(|f| *f == m.function)?;
            Some((f, stack.queue(&m.queue)?, m))
        });
        let own = FUNCTIONS.into_iter().map(|f| {
            let queue = stack
                .function_queue(f)
                .ok_or_else(|| format!("the template gives {f} no queue"))?;
            let mapping = stack
                .mapping(f)
                .ok_or_else(|| format!("the template gives {f} no event source mapping"))?;
            Ok::<_, String>((f, queue, mapping))
        });
        let all: Vec<_> = own.collect::<Result<Vec<_>, _>>()?;
        for (f, queue, mapping) in all.into_iter().chain(extra) {
            feeds.push((
                f,
                QueueFeed {
                    url: queue.url.clone(),
                    arn: queue.arn.clone(),
                    batch_size: mapping.batch_size.unwrap_or(10).max(1) as usize,
                    window: Duration::from_secs(
                        mapping.maximum_batching_window_seconds.unwrap_or(0).into(),
                    ),
                    // Lambda's default for a queue is up to 1,000 concurrent batches; locally a
                    // mapping without a maximum gets a few, enough to overlap invocations.
                    concurrency: mapping.maximum_concurrency.unwrap_or(4).max(1) as usize,
                },
            ));
        }
        Ok(LocalPipeline {
            emulator,
            stack,
            sdk,
            options,
            functions,
            feeds,
            storm: None,
            faults: None,
            members,
            hubs: BTreeSet::from([(ACCOUNT.to_owned(), home_region)]),
            progress: Progress::default(),
        })
    }

    /// Sends the functions' AWS calls (not the relay's, which plays Lambda's own poller) through
    /// `faults`' HTTP clients, one per service; keep a clone to change its plan or read its stats.
    /// The handlers are built anew, as on a fresh Lambda instance.
    pub fn inject_faults(&mut self, faults: &FaultInjector) -> Result<(), String> {
        self.faults = Some(faults.clone());
        self.rebuild()
    }

    /// The handlers built anew (fresh Lambda instances) with the run's faults and members.
    fn rebuild(&mut self) -> Result<(), String> {
        let functions = Functions::build(
            &self.sdk,
            self.faults.as_ref(),
            &self.stack,
            &self.options,
            &self.members,
        )?;
        self.functions = Arc::new(functions);
        Ok(())
    }

    /// Delivers every message the relay reads 1 to `storm.max_copies` times, in shuffled batches.
    pub fn with_storm(&mut self, storm: relay::Storm) {
        self.storm = Some(relay::StormState::new(storm));
    }

    /// Extra deliveries the [`relay::Storm`] sent so far.
    pub fn storm_copies(&self) -> u64 {
        self.storm.as_ref().map_or(0, |s| s.copies)
    }

    /// Puts on the default bus the event Security Hub sends when an analyst chooses the
    /// template's custom action ("Vigil: approve stop") on `findings` (`Id`, `ProductArn`,
    /// `AwsAccountId`): the documented `Security Hub Findings - Custom Action` event.
    pub async fn approve(&self, findings: &[(String, String, String)]) -> Result<(), String> {
        let target = self
            .stack
            .function_env(REMEDIATE)
            .get("APPROVAL_ACTION_TARGET_ARN")
            .cloned()
            .ok_or("the template gives remediate no approval action target")?;
        let event = approval_event(&target, findings);
        let client = aws_sdk_eventbridge::Client::new(&self.sdk);
        put_on_bus(&client, "default", &[event]).await
    }

    /// The queue a function reads.
    pub fn feed(&self, function: &str) -> Option<&QueueFeed> {
        self.feeds
            .iter()
            .find(|(f, _)| *f == function)
            .map(|(_, q)| q)
    }

    /// Moves every message of a function's dead-letter queue back to its queue, as the console's
    /// "Start DLQ redrive" does once the cause is fixed. Returns the bodies moved.
    pub async fn redrive(&self, function: &str) -> Result<Vec<String>, String> {
        let feed = self
            .feed(function)
            .ok_or_else(|| format!("no queue for {function}"))?;
        let dlq = self
            .dead_letter_queue(function)
            .ok_or_else(|| format!("the template gives {function}'s queue no dead-letter queue"))?;
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let bodies = relay::drain(&sqs, &dlq).await?;
        relay::send_bodies(&sqs, &feed.url, &bodies).await?;
        Ok(bodies)
    }

    /// The URL of a function queue's dead-letter queue, from its redrive policy in the template.
    pub fn dead_letter_queue(&self, function: &str) -> Option<String> {
        let queue = self.stack.function_queue(function)?;
        let redrive = self
            .stack
            .stack
            .queues
            .get(&queue.logical_id)?
            .redrive
            .as_ref()?;
        Some(self.stack.queue(&redrive.dead_letter_queue)?.url.clone())
    }

    /// The emulator the stack runs on.
    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    /// SDK configuration pointing at the emulator.
    pub fn sdk(&self) -> &aws_config::SdkConfig {
        &self.sdk
    }

    /// The provisioned stack: queue URLs, table and bus names.
    pub fn stack(&self) -> &ProvisionedStack {
        &self.stack
    }

    /// Puts events on the bus they would arrive on: `aws.*` sources on the default bus, everything
    /// else on the agent bus. A bare payload (no `detail`) is sent as falcosidekick would, as a
    /// Falco alert. Returns how many were sent.
    ///
    /// An event whose envelope names a member account (see [`Self::deploy_members`]) is sent from
    /// that account to the central bus's ARN, so EventBridge stamps the member as its sender.
    pub async fn put_events(&self, events: &[Value]) -> Result<usize, String> {
        let region = self.sdk.region().map(|r| r.to_string()).unwrap_or_default();
        let mut by_sender: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        for e in events {
            let sender = accounts::sender_of(e);
            let sender = if self.members.is_member(sender) {
                sender
            } else {
                ACCOUNT
            };
            by_sender.entry(sender).or_default().push(e.clone());
        }
        for (sender, events) in by_sender {
            let (aws, agents): (Vec<Value>, Vec<Value>) = events
                .into_iter()
                .partition(|e| source_and_detail(e).0.starts_with("aws."));
            let (client, default, agent_bus) = if sender == ACCOUNT {
                (
                    aws_sdk_eventbridge::Client::new(&self.sdk),
                    "default".to_owned(),
                    self.stack.bus_name.clone(),
                )
            } else {
                let bus =
                    |name: &str| format!("arn:aws:events:{region}:{ACCOUNT}:event-bus/{name}");
                (
                    aws_sdk_eventbridge::Client::new(&self.sdk_as(sender, &region)),
                    bus("default"),
                    bus(&self.stack.bus_name),
                )
            };
            put_on_bus(&client, &default, &aws).await?;
            put_on_bus(&client, &agent_bus, &agents).await?;
        }
        Ok(events.len())
    }

    /// Relays batches to the functions until every queue has been empty for `quiet`, calling
    /// `report` after each batch. Each function has up to its mapping's maximum concurrency of
    /// batches in flight, as on Lambda.
    pub async fn run_until_quiet(
        &mut self,
        quiet: Duration,
        report: impl FnMut(&Progress),
    ) -> Result<(), String> {
        self.run_with_interruptions(quiet, report, |_, _| {}).await
    }

    /// [`Self::run_until_quiet`], calling `interrupt` after each batch with the emulator, while
    /// other batches are in flight: a test restarts the emulator there.
    pub async fn run_with_interruptions(
        &mut self,
        quiet: Duration,
        mut report: impl FnMut(&Progress),
        mut interrupt: impl FnMut(&Progress, &mut Emulator),
    ) -> Result<(), String> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let mut idle_since: Option<Instant> = None;
        let mut in_flight = JoinSet::new();
        let mut running = vec![0usize; self.feeds.len()];
        loop {
            let mut received = false;
            for (index, (name, feed)) in self.feeds.clone().into_iter().enumerate() {
                if running[index] >= feed.concurrency {
                    continue;
                }
                let Some(batch) = relay::receive(&sqs, &feed, self.storm.as_mut()).await? else {
                    continue;
                };
                received = true;
                running[index] += 1;
                let (functions, sqs) = (self.functions.clone(), sqs.clone());
                in_flight.spawn(async move {
                    let mut batch = batch;
                    // Only the receipts and bodies are needed after the invocation.
                    let event = std::mem::take(&mut batch.event);
                    let (response, errored) = functions.invoke(name, event).await;
                    let settled = relay::settle(&sqs, &feed, &batch, &response).await;
                    (index, name, batch, errored, settled)
                });
            }
            // Collect what finished; wait a little for a batch only when nothing new came in.
            let mut finished = Vec::new();
            while let Some(joined) = in_flight.try_join_next() {
                finished.push(joined);
            }
            if !received && finished.is_empty() && !in_flight.is_empty() {
                let waited =
                    tokio::time::timeout(Duration::from_millis(50), in_flight.join_next()).await;
                finished.extend(waited.ok().flatten());
            }
            for joined in finished {
                let (index, name, batch, errored, settled) =
                    joined.map_err(|e| format!("a relayed invocation panicked: {e}"))?;
                running[index] -= 1;
                let failed = settled?;
                let p = &mut self.progress;
                *p.batches.entry(name).or_default() += 1;
                *p.messages.entry(name).or_default() += batch.receipts.len() as u64;
                *p.failed_items.entry(name).or_default() += failed as u64;
                *p.failed_invocations.entry(name).or_default() += u64::from(errored);
                if name == ENRICH {
                    p.accepted_bodies.extend(
                        batch
                            .bodies
                            .into_iter()
                            .filter(|b| b.contains("\"Finding Accepted\"")),
                    );
                }
                report(&self.progress);
                interrupt(&self.progress, &mut self.emulator);
            }
            if received || !in_flight.is_empty() {
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
}

/// `vigil approve`: puts the approval custom action's event on `findings` (`Id`, `ProductArn`,
/// `AwsAccountId`) on the default bus of the emulator at `endpoint`, where the approval rule of
/// every stack provisioned there routes it to that stack's approval queue. The action target is
/// the template's (as provisioned locally). Returns the event put.
pub async fn approve_at(
    endpoint: &str,
    findings: &[(String, String, String)],
) -> Result<Value, String> {
    let stack =
        Stack::load(Stack::repo_template(), &Options::default()).map_err(|e| e.to_string())?;
    let target = stack
        .functions
        .get(REMEDIATE)
        .and_then(|f| f.environment.get("APPROVAL_ACTION_TARGET_ARN"))
        .cloned()
        .ok_or("the template gives remediate no approval action target")?;
    let emulator = Emulator::connect(endpoint)?;
    let client = aws_sdk_eventbridge::Client::new(&emulator.sdk_config().await);
    let event = approval_event(&target, findings);
    put_on_bus(&client, "default", std::slice::from_ref(&event)).await?;
    Ok(event)
}

/// The `Security Hub Findings - Custom Action` event of the custom action `target` on `findings`
/// (`Id`, `ProductArn`, `AwsAccountId`), as Security Hub sends it (the ASFF findings cut to the
/// identifying fields).
pub fn approval_event(target: &str, findings: &[(String, String, String)]) -> Value {
    let findings: Vec<Value> = findings
        .iter()
        .map(|(id, product, account)| {
            json!({"SchemaVersion": "2018-10-08", "Id": id, "ProductArn": product,
                   "AwsAccountId": account})
        })
        .collect();
    json!({"source": "aws.securityhub", "detail-type": "Security Hub Findings - Custom Action",
           "resources": [target],
           "detail": {"actionName": "Vigil: approve stop",
                      "actionDescription": "Approve the stop Vigil proposed for the selected findings' tasks",
                      "findings": findings}})
}

/// An event's source, detail type and detail; a bare payload (no `detail`) is a Falco alert, as
/// falcosidekick sends it.
pub(crate) fn source_and_detail(e: &Value) -> (String, String, Value) {
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
    }
}

/// `PutEvents` of `events` on `bus`, ten entries a call; any entry refused is an error.
pub(crate) async fn put_on_bus(
    client: &aws_sdk_eventbridge::Client,
    bus: &str,
    events: &[Value],
) -> Result<(), String> {
    let entries: Vec<_> = events
        .iter()
        .map(|e| {
            let (source, detail_type, detail) = source_and_detail(e);
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
                .build()
        })
        .collect();
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
    }
    Ok(())
}
