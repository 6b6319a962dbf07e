//! `vigil replay --aws --stack NAME`: the user's events through a pipeline deployed with SAM, to test
//! the deployment. Nothing is provisioned and nothing runs here but the sending and the reading
//! back: the deployed functions do the work.
//!
//! - The stack's outputs name the bus, the queues and the table (`DescribeStacks`).
//! - Agent events go on the agent bus with `PutEvents`, as agents send them. AWS's own events
//!   (`aws.guardduty`, `aws.ecs`) cannot be put on a bus by anyone but AWS, so they go where the
//!   rule would deliver them: onto the ingest queue, as the EventBridge envelope.
//! - It waits until the functions' queues have been empty for a while, then reads back only what
//!   concerns these events, without consuming anything: their dedup records (`BatchGetItem`), their
//!   Security Hub findings (`GetFindings` by Id), their remediation decisions, and the depth of the
//!   dead-letter queues. The rejections are the adapters' own verdicts, the code ingest runs (the
//!   rejected queue is the users' to read, so it is not drained). AWS does not say how many calls
//!   the functions made, so `api_calls` is empty.

use crate::Summary;
use crate::inspect::{ActionRecord, DedupRecord};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use vigil_adapters::{ParseContext, SourceEvent, parse_delivery};
use vigil_dedup::record::dedup_key;

/// What the deployed stack's outputs say.
#[derive(Debug, Clone)]
pub struct DeployedStack {
    /// The agent bus's name (output `EventBusName`).
    pub bus_name: String,
    /// `arn:aws:events:REGION:ACCOUNT:event-bus/NAME`: the account and region events are sent as.
    pub bus_arn: String,
    /// Output `TableName`.
    pub table_name: String,
    /// URL of the ingest queue (output `IngestQueueUrl`).
    pub ingest_queue: String,
    /// The functions' queues, to wait on.
    pub function_queues: Vec<String>,
    /// Dead-letter queues by output name.
    pub dead_letter_queues: BTreeMap<String, String>,
}

impl DeployedStack {
    /// Reads the outputs of the stack SAM deployed (`infra/template.yaml`'s `Outputs`).
    pub async fn describe(
        sdk: &aws_config::SdkConfig,
        stack_name: &str,
    ) -> Result<DeployedStack, String> {
        let out = aws_sdk_cloudformation::Client::new(sdk)
            .describe_stacks()
            .stack_name(stack_name)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "DescribeStacks {stack_name}: {}",
                    aws_sdk_cloudformation::error::DisplayErrorContext(&e)
                )
            })?;
        let stack = out
            .stacks()
            .first()
            .ok_or_else(|| format!("no stack named {stack_name}"))?;
        let outputs: BTreeMap<&str, &str> = stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?, o.output_value()?)))
            .collect();
        let get = |k: &str| {
            outputs.get(k).map(|v| (*v).to_owned()).ok_or_else(|| {
                format!("stack {stack_name} has no output {k}: is it Vigil's template?")
            })
        };
        let ingest_queue = get("IngestQueueUrl")?;
        Ok(DeployedStack {
            bus_name: get("EventBusName")?,
            bus_arn: get("EventBusArn")?,
            table_name: get("TableName")?,
            ingest_queue: ingest_queue.clone(),
            function_queues: vec![
                ingest_queue,
                get("EnrichQueueUrl")?,
                get("RemediateQueueUrl")?,
            ],
            dead_letter_queues: outputs
                .iter()
                .filter(|(k, _)| k.ends_with("DeadLetterQueueUrl"))
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        })
    }

    /// The account and region of the bus (`arn:aws:events:REGION:ACCOUNT:event-bus/NAME`).
    fn account_and_region(&self) -> (String, String) {
        let parts: Vec<&str> = self.bus_arn.split(':').collect();
        (
            parts.get(4).copied().unwrap_or_default().to_owned(),
            parts.get(3).copied().unwrap_or_default().to_owned(),
        )
    }
}

/// How long the queues must stay empty before the run is read back: longer than the event source
/// mappings' batching windows (at most 5 s in the template).
pub const QUIET: Duration = Duration::from_secs(10);

/// [`replay`] into the stack named `stack_name`, with the AWS configuration of the environment
/// (credentials, region, `AWS_ENDPOINT_URL`), as the AWS CLI takes it.
pub async fn replay_stack(
    stack_name: &str,
    events: &[Value],
    deadline: Duration,
) -> Result<Summary, String> {
    let sdk = aws_config::load_from_env().await;
    let stack = DeployedStack::describe(&sdk, stack_name).await?;
    replay(&sdk, &stack, events, QUIET, deadline).await
}

/// Sends `events` into the deployed pipeline, waits until its queues have been empty for `quiet`
/// (or `deadline` passes: an error), and reads back what became of them.
pub async fn replay(
    sdk: &aws_config::SdkConfig,
    stack: &DeployedStack,
    events: &[Value],
    quiet: Duration,
    deadline: Duration,
) -> Result<Summary, String> {
    let started = Instant::now();
    let (account, region) = stack.account_and_region();
    // Each event as ingest will see it: an EventBridge envelope stamped with the sender's account
    // (the one these credentials belong to) and the region.
    let mut delivered = Vec::new();
    let mut envelopes = Vec::new();
    let mut agent_events = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let (source, detail_type, detail) = crate::source_and_detail(e);
        let envelope = json!({
            "version": "0",
            "id": e.get("id").and_then(Value::as_str).map_or_else(|| replay_id(i), str::to_owned),
            "detail-type": detail_type,
            "source": source,
            "account": account,
            "time": e.get("time").cloned().unwrap_or_else(|| json!(chrono_now())),
            "region": region,
            "resources": e.get("resources").cloned().unwrap_or_else(|| json!([])),
            "detail": detail,
        });
        if source.starts_with("aws.") {
            envelopes.push(envelope.clone());
        } else {
            agent_events.push(e.clone());
        }
        delivered.push(envelope);
    }
    let events_client = aws_sdk_eventbridge::Client::new(sdk);
    crate::put_on_bus(&events_client, &stack.bus_name, &agent_events).await?;
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let bodies: Vec<String> = envelopes.iter().map(Value::to_string).collect();
    crate::relay::send_bodies(&sqs, &stack.ingest_queue, &bodies).await?;

    wait_until_quiet(&sqs, &stack.function_queues, quiet, deadline).await?;

    // What ingest made of each event, by the same code: fingerprints, or rejections.
    let ctx = ParseContext {
        default_account: Some(account),
        default_region: Some(region),
        channel: vigil_adapters::Channel::EventBridge,
        ..Default::default()
    };
    let mut summary = Summary {
        events: events.len() as u64,
        ..Summary::default()
    };
    let mut fingerprints = BTreeSet::new();
    for e in &delivered {
        match parse_delivery(e.to_string().as_bytes(), &ctx) {
            Ok(d) => {
                if let SourceEvent::Finding(f) = d.event {
                    fingerprints.insert(f.fingerprint.as_str().to_owned());
                }
            }
            Err(err) => {
                summary.rejected += 1;
                summary.rejected_reasons.push(err.to_string());
            }
        }
    }
    summary.rejected_reasons.sort();

    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let records = dedup_records(&dynamodb, &stack.table_name, &fingerprints).await?;
    crate::summary::add_dedup_records(&mut summary, &records);
    let actions = action_records(&dynamodb, &stack.table_name, &fingerprints).await?;
    crate::summary::add_decisions(&mut summary, actions);
    summary.securityhub.findings = securityhub_findings(sdk, &fingerprints).await?;
    for (name, url) in &stack.dead_letter_queues {
        let depth = crate::relay::depth(&sqs, url).await?;
        if depth > 0 {
            summary.dead_letter.insert(name.clone(), depth);
        }
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn chrono_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// An EventBridge-like id for an AWS event the file gave none.
fn replay_id(i: usize) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("vigil-replay-{nanos:x}-{i}")
}

async fn wait_until_quiet(
    sqs: &aws_sdk_sqs::Client,
    queues: &[String],
    quiet: Duration,
    deadline: Duration,
) -> Result<(), String> {
    let started = Instant::now();
    let mut idle_since: Option<Instant> = None;
    loop {
        let mut pending = 0;
        for q in queues {
            pending += crate::relay::depth(sqs, q).await?;
        }
        if pending > 0 {
            idle_since = None;
        } else if idle_since.get_or_insert_with(Instant::now).elapsed() >= quiet {
            return Ok(());
        }
        if started.elapsed() >= deadline {
            return Err(format!(
                "the deployed functions' queues still hold {pending} messages after {} s",
                deadline.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The dedup records of these fingerprints, 100 keys a `BatchGetItem`.
async fn dedup_records(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    fingerprints: &BTreeSet<String>,
) -> Result<Vec<DedupRecord>, String> {
    let mut records = Vec::new();
    let all: Vec<&String> = fingerprints.iter().collect();
    for chunk in all.chunks(100) {
        let mut request = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(chunk.iter().map(|fp| dedup_key(fp)).collect()))
                .consistent_read(true)
                .build()
                .map_err(|e| e.to_string())?,
        );
        while let Some(keys) = request.take() {
            let out = dynamodb
                .batch_get_item()
                .request_items(table, keys)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "BatchGetItem: {}",
                        aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                    )
                })?;
            for item in out
                .responses()
                .and_then(|r| r.get(table))
                .into_iter()
                .flatten()
            {
                records.push(crate::inspect::dedup_record(item));
            }
            // Unprocessed keys (throttling) are asked for again.
            request = out
                .unprocessed_keys()
                .and_then(|u| u.get(table))
                .filter(|k| !k.keys().is_empty())
                .cloned();
        }
    }
    Ok(records)
}

/// The remediation decisions about these fingerprints (`ACT#<fingerprint>#…`).
async fn action_records(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    fingerprints: &BTreeSet<String>,
) -> Result<Vec<ActionRecord>, String> {
    let mut pages = dynamodb
        .scan()
        .table_name(table)
        .filter_expression("begins_with(pk, :act)")
        .expression_attribute_values(":act", AttributeValue::S("ACT#".into()))
        .into_paginator()
        .send();
    let mut records = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(|e| format!("Scan: {}", aws_sdk_dynamodb::error::DisplayErrorContext(&e)))?;
        records.extend(
            page.items()
                .iter()
                .map(crate::inspect::action_record)
                .filter(|r| {
                    r.pk.strip_prefix("ACT#")
                        .and_then(|rest| rest.split('#').next())
                        .is_some_and(|fp| fingerprints.contains(fp))
                }),
        );
    }
    Ok(records)
}

/// How many of these fingerprints are findings in Security Hub (`GetFindings` by Id, 20 a filter).
async fn securityhub_findings(
    sdk: &aws_config::SdkConfig,
    fingerprints: &BTreeSet<String>,
) -> Result<u64, String> {
    use aws_sdk_securityhub::types::{
        AwsSecurityFindingFilters, StringFilter, StringFilterComparison,
    };
    let hub = aws_sdk_securityhub::Client::new(sdk);
    let ids: Vec<String> = fingerprints
        .iter()
        .map(|fp| format!("vigil-{fp}"))
        .collect();
    let mut found = BTreeSet::new();
    for chunk in ids.chunks(20) {
        let mut filters = AwsSecurityFindingFilters::builder();
        for id in chunk {
            filters = filters.id(StringFilter::builder()
                .value(id)
                .comparison(StringFilterComparison::Equals)
                .build());
        }
        let mut pages = hub
            .get_findings()
            .filters(filters.build())
            .max_results(100)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                format!(
                    "GetFindings: {}",
                    aws_sdk_securityhub::error::DisplayErrorContext(&e)
                )
            })?;
            found.extend(
                page.findings()
                    .iter()
                    .filter_map(|f| f.id())
                    .filter(|id| chunk.iter().any(|c| c == id))
                    .map(str::to_owned),
            );
        }
    }
    Ok(found.len() as u64)
}
