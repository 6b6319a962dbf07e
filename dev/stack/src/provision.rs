//! Creating the template's table, bus, queues and rules through the AWS SDK.

use crate::{Error, FunctionSpec, MappingSpec, Stack};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_sdk_eventbridge::types::{DeadLetterConfig, RetryPolicy, Target};
use aws_sdk_sqs::types::QueueAttributeName;
use std::collections::BTreeMap;

/// A queue that exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueHandle {
    /// The queue's logical id in the template.
    pub logical_id: String,
    /// The queue URL (`QueueUrl`, for SQS calls).
    pub url: String,
    /// The queue ARN (for rule targets and redrive policies).
    pub arn: String,
}

/// What [`provision`] created: names and handles for a harness, `vigil demo` or a test.
#[derive(Debug, Clone)]
pub struct ProvisionedStack {
    /// The model provisioned.
    pub stack: Stack,
    /// Name of the custom (agent) bus.
    pub bus_name: String,
    /// Name of the table.
    pub table_name: String,
    /// Every queue of the template by logical id.
    pub queues: BTreeMap<String, QueueHandle>,
    /// The rules' logical ids (each rule is named `<stack>-<LogicalId>`, as CloudFormation names
    /// them).
    pub rules: Vec<String>,
}

impl ProvisionedStack {
    /// The queue a function reads through its event source mapping.
    pub fn function_queue(&self, function: &str) -> Option<&QueueHandle> {
        let m = self.mapping(function)?;
        self.queues.get(&m.queue)
    }

    /// URL of the queue a function reads.
    pub fn queue_url(&self, function: &str) -> Option<&str> {
        self.function_queue(function).map(|q| q.url.as_str())
    }

    /// A function's event source mapping settings (batch size, window, concurrency, response types).
    pub fn mapping(&self, function: &str) -> Option<&MappingSpec> {
        self.stack.functions.get(function)?.mapping.as_ref()
    }

    /// The function with this logical id.
    pub fn function(&self, function: &str) -> Option<&FunctionSpec> {
        self.stack.functions.get(function)
    }

    /// Functions that read a queue, by logical id, with their queue.
    pub fn function_queues(&self) -> BTreeMap<&str, &QueueHandle> {
        self.stack
            .functions
            .values()
            .filter_map(|f| f.mapping.as_ref())
            .filter_map(|m| Some((m.function.as_str(), self.queues.get(&m.queue)?)))
            .collect()
    }

    /// The environment the template gives `function` (table and bus names are the provisioned ones).
    pub fn function_env(&self, function: &str) -> BTreeMap<String, String> {
        self.function(function)
            .map(|f| f.environment.clone())
            .unwrap_or_default()
    }

    /// The queue with this logical id.
    pub fn queue(&self, logical_id: &str) -> Option<&QueueHandle> {
        self.queues.get(logical_id)
    }
}

/// Creates, on the endpoint of `config` (the emulator): the table (key schema, on demand, TTL), each
/// custom bus, every queue (dead-letter queues first, then queues with their redrive policy and
/// visibility timeout), every rule on its bus with the template's pattern and its queue targets (retry
/// policy and dead-letter config included), and enables Security Hub. Call it once per fresh emulator:
/// it creates, it does not reconcile.
///
/// Not created: functions and event source mappings (the emulator cannot run Lambda; relay from
/// [`ProvisionedStack::queue_url`] with [`ProvisionedStack::mapping`]'s settings), IAM, queue policies,
/// the bus archive, alarms and log groups.
pub async fn provision(config: &SdkConfig, stack: &Stack) -> Result<ProvisionedStack, Error> {
    let ddb = aws_sdk_dynamodb::Client::new(config);
    let events = aws_sdk_eventbridge::Client::new(config);
    let sqs = aws_sdk_sqs::Client::new(config);
    let securityhub = aws_sdk_securityhub::Client::new(config);

    create_table(&ddb, stack).await?;

    for bus in &stack.buses {
        events
            .create_event_bus()
            .name(bus.name())
            .send()
            .await
            .map_err(|e| Error::aws("events:CreateEventBus", e.into_service_error()))?;
    }

    let queues = create_queues(&sqs, stack).await?;

    let mut rules = Vec::new();
    for rule in &stack.rules {
        let name = stack.physical_name(&rule.logical_id, 64);
        events
            .put_rule()
            .name(&name)
            .event_bus_name(rule.bus.name())
            .event_pattern(rule.pattern.to_string())
            .send()
            .await
            .map_err(|e| Error::aws("events:PutRule", e.into_service_error()))?;
        let mut put = events
            .put_targets()
            .rule(&name)
            .event_bus_name(rule.bus.name());
        for t in &rule.targets {
            let mut target = Target::builder().id(&t.id).arn(&queues[&t.queue].arn);
            if t.maximum_retry_attempts.is_some() || t.maximum_event_age_seconds.is_some() {
                target = target.retry_policy(
                    RetryPolicy::builder()
                        .set_maximum_retry_attempts(t.maximum_retry_attempts.map(|n| n as i32))
                        .set_maximum_event_age_in_seconds(
                            t.maximum_event_age_seconds.map(|n| n as i32),
                        )
                        .build(),
                );
            }
            if let Some(dlq) = &t.dead_letter_queue {
                target = target
                    .dead_letter_config(DeadLetterConfig::builder().arn(&queues[dlq].arn).build());
            }
            put = put.targets(
                target
                    .build()
                    .map_err(|e| Error::aws("events:PutTargets", e))?,
            );
        }
        let out = put
            .send()
            .await
            .map_err(|e| Error::aws("events:PutTargets", e.into_service_error()))?;
        if out.failed_entry_count > 0 {
            return Err(Error::aws(
                "events:PutTargets",
                format!("rule {}: {:?}", rule.logical_id, out.failed_entries),
            ));
        }
        rules.push(rule.logical_id.clone());
    }

    securityhub
        .enable_security_hub()
        .send()
        .await
        .map_err(|e| Error::aws("securityhub:EnableSecurityHub", e.into_service_error()))?;

    Ok(ProvisionedStack {
        bus_name: stack
            .agent_bus()
            .map(|b| b.name().to_owned())
            .unwrap_or_else(|| "default".to_owned()),
        table_name: stack.table.name.clone(),
        stack: stack.clone(),
        queues,
        rules,
    })
}

async fn create_table(ddb: &aws_sdk_dynamodb::Client, stack: &Stack) -> Result<(), Error> {
    let t = &stack.table;
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| Error::aws("dynamodb:CreateTable", e))
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| Error::aws("dynamodb:CreateTable", e))
    };
    let mut create = ddb
        .create_table()
        .table_name(&t.name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(&t.partition_key, KeyType::Hash)?)
        .attribute_definitions(attr(&t.partition_key)?);
    if let Some(sk) = &t.sort_key {
        create = create
            .key_schema(key(sk, KeyType::Range)?)
            .attribute_definitions(attr(sk)?);
    }
    create
        .send()
        .await
        .map_err(|e| Error::aws("dynamodb:CreateTable", e.into_service_error()))?;
    if let Some(ttl) = &t.ttl_attribute {
        ddb.update_time_to_live()
            .table_name(&t.name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(ttl)
                    .enabled(true)
                    .build()
                    .map_err(|e| Error::aws("dynamodb:UpdateTimeToLive", e))?,
            )
            .send()
            .await
            .map_err(|e| Error::aws("dynamodb:UpdateTimeToLive", e.into_service_error()))?;
    }
    Ok(())
}

async fn create_queues(
    sqs: &aws_sdk_sqs::Client,
    stack: &Stack,
) -> Result<BTreeMap<String, QueueHandle>, Error> {
    let mut created: BTreeMap<String, QueueHandle> = BTreeMap::new();
    // Dead-letter queues before the queues that redrive to them.
    let mut pending: Vec<_> = stack.queues.values().collect();
    while !pending.is_empty() {
        let (ready, waiting): (Vec<_>, Vec<_>) = pending.into_iter().partition(|q| {
            q.redrive
                .as_ref()
                .is_none_or(|r| created.contains_key(&r.dead_letter_queue))
        });
        if ready.is_empty() {
            return Err(Error::Invalid(format!(
                "queues redrive to each other: {:?}",
                waiting.iter().map(|q| &q.logical_id).collect::<Vec<_>>()
            )));
        }
        for q in ready {
            let mut create = sqs
                .create_queue()
                .queue_name(stack.physical_name(&q.logical_id, 80));
            if let Some(v) = q.visibility_timeout_seconds {
                create = create.attributes(QueueAttributeName::VisibilityTimeout, v.to_string());
            }
            if let Some(v) = q.message_retention_seconds {
                create =
                    create.attributes(QueueAttributeName::MessageRetentionPeriod, v.to_string());
            }
            if let Some(r) = &q.redrive {
                let policy = serde_json::json!({
                    "deadLetterTargetArn": created[&r.dead_letter_queue].arn,
                    "maxReceiveCount": r.max_receive_count,
                });
                create = create.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
            }
            let url = create
                .send()
                .await
                .map_err(|e| Error::aws("sqs:CreateQueue", e.into_service_error()))?
                .queue_url
                .ok_or_else(|| Error::aws("sqs:CreateQueue", "no QueueUrl"))?;
            let arn = sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .map_err(|e| Error::aws("sqs:GetQueueAttributes", e.into_service_error()))?
                .attributes
                .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
                .ok_or_else(|| Error::aws("sqs:GetQueueAttributes", "no QueueArn"))?;
            created.insert(
                q.logical_id.clone(),
                QueueHandle {
                    logical_id: q.logical_id.clone(),
                    url,
                    arn,
                },
            );
        }
        pending = waiting;
    }
    Ok(created)
}
