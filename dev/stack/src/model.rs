//! The typed model of the template: what routing and provisioning need, resolved.

use crate::Error;
use crate::template::{self, Physical, Resolver};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How the template is read: parameter overrides and the physical names local resources get.
#[derive(Debug, Clone)]
pub struct Options {
    /// Parameter values that replace the template's defaults (a `CommaDelimitedList` as `a,b`).
    pub parameters: BTreeMap<String, String>,
    /// Name given to the DynamoDB table (the template lets CloudFormation name it).
    pub table_name: String,
    /// The stack's name (`AWS::StackName`; CloudFormation's prefix for resources it names).
    pub stack_name: String,
    /// `AWS::Region`.
    pub region: String,
    /// `AWS::AccountId`.
    pub account: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            parameters: BTreeMap::new(),
            table_name: "vigil".to_owned(),
            stack_name: "vigil".to_owned(),
            region: "us-east-1".to_owned(),
            account: "123456789012".to_owned(),
        }
    }
}

/// The event bus a rule is on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bus {
    /// The account's `default` bus (AWS services' events).
    Default,
    /// A bus the template creates: its logical id and name.
    Custom {
        /// The `AWS::Events::EventBus` resource's logical id.
        logical_id: String,
        /// Its `Name`, resolved.
        name: String,
    },
}

impl Bus {
    /// The name to pass as `EventBusName`.
    pub fn name(&self) -> &str {
        match self {
            Bus::Default => "default",
            Bus::Custom { name, .. } => name,
        }
    }
}

/// An `AWS::Events::Rule`.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    /// The rule's logical id.
    pub logical_id: String,
    /// The bus the rule is on (`EventBusName`; the default bus when absent).
    pub bus: Bus,
    /// The event pattern, intrinsics resolved.
    pub pattern: Value,
    /// The rule's targets (queues only).
    pub targets: Vec<TargetSpec>,
}

/// One target of a rule: an SQS queue of the template.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetSpec {
    /// The target's `Id`, unique within the rule.
    pub id: String,
    /// Logical id of the target queue.
    pub queue: String,
    /// `RetryPolicy.MaximumRetryAttempts` (EventBridge's default, 185, when absent).
    pub maximum_retry_attempts: Option<u32>,
    /// `RetryPolicy.MaximumEventAgeInSeconds` (EventBridge's default, 24 hours, when absent).
    pub maximum_event_age_seconds: Option<u32>,
    /// Logical id of the queue undeliverable events go to.
    pub dead_letter_queue: Option<String>,
}

/// An `AWS::SQS::Queue`.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSpec {
    /// The queue's logical id.
    pub logical_id: String,
    /// `VisibilityTimeout`, in seconds (SQS's default, 30, when absent).
    pub visibility_timeout_seconds: Option<u32>,
    /// `MessageRetentionPeriod`, in seconds (SQS's default, 4 days, when absent).
    pub message_retention_seconds: Option<u32>,
    /// `RedrivePolicy`, if any.
    pub redrive: Option<Redrive>,
}

/// A queue's redrive policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Redrive {
    /// Logical id of the dead-letter queue.
    pub dead_letter_queue: String,
    /// Receives after which SQS moves a message there (`maxReceiveCount`).
    pub max_receive_count: u32,
}

/// An `AWS::Serverless::Function`.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    /// The function's logical id.
    pub logical_id: String,
    /// The cargo binary (`Metadata.BuildProperties.Binary`).
    pub binary: Option<String>,
    /// `CodeUri` (relative to the template's directory), Globals applied.
    pub code_uri: Option<String>,
    /// `Timeout`, in seconds, Globals applied.
    pub timeout_seconds: Option<u32>,
    /// `MemorySize`, in MB, Globals applied.
    pub memory_mb: Option<u32>,
    /// `ReservedConcurrentExecutions`.
    pub reserved_concurrency: Option<u32>,
    /// Environment variables with intrinsics resolved: table and bus references become the local
    /// names ([`Options::table_name`], the bus name parameter).
    pub environment: BTreeMap<String, String>,
    /// The function's SQS event source mapping, if it has one.
    pub mapping: Option<MappingSpec>,
}

/// A function's SQS event source mapping (a SAM `Events` entry of type `SQS`).
#[derive(Debug, Clone, PartialEq)]
pub struct MappingSpec {
    /// Logical id of the function invoked.
    pub function: String,
    /// Logical id of the queue read.
    pub queue: String,
    /// `BatchSize`: records per invocation at most (Lambda's default, 10, when absent).
    pub batch_size: Option<u32>,
    /// `MaximumBatchingWindowInSeconds`: how long Lambda gathers records before invoking.
    pub maximum_batching_window_seconds: Option<u32>,
    /// `ScalingConfig.MaximumConcurrency`: concurrent invocations the mapping makes at most.
    pub maximum_concurrency: Option<u32>,
    /// `FunctionResponseTypes` (`ReportBatchItemFailures` or none).
    pub function_response_types: Vec<String>,
}

impl MappingSpec {
    /// Whether the function reports partial batch failures (`ReportBatchItemFailures`).
    pub fn reports_batch_item_failures(&self) -> bool {
        self.function_response_types
            .iter()
            .any(|t| t == "ReportBatchItemFailures")
    }
}

/// The `AWS::DynamoDB::Table`.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    /// The table's logical id.
    pub logical_id: String,
    /// Local name ([`Options::table_name`]).
    pub name: String,
    /// The `HASH` key's attribute name.
    pub partition_key: String,
    /// The `RANGE` key's attribute name, if any.
    pub sort_key: Option<String>,
    /// `TimeToLiveSpecification.AttributeName`, when TTL is enabled.
    pub ttl_attribute: Option<String>,
}

/// The template, as far as routing and provisioning go.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    /// The stack's name: CloudFormation prefixes the queues and rules it names with it.
    pub name: String,
    /// Resolved parameter values (defaults with overrides applied).
    pub parameters: BTreeMap<String, Value>,
    /// Custom buses the template creates.
    pub buses: Vec<Bus>,
    /// Every `AWS::Events::Rule`, in template order.
    pub rules: Vec<RuleSpec>,
    /// Every queue, by logical id.
    pub queues: BTreeMap<String, QueueSpec>,
    /// Every function, by logical id.
    pub functions: BTreeMap<String, FunctionSpec>,
    /// Event source mappings declared as `AWS::Lambda::EventSourceMapping` resources: a function's
    /// queues besides the one of its own SQS event (remediate's approval queue).
    pub extra_mappings: Vec<MappingSpec>,
    /// The one DynamoDB table.
    pub table: TableSpec,
}

impl Stack {
    /// The name CloudFormation would give a resource the template leaves unnamed: the stack's name
    /// and the logical id, within the resource's length limit (so two stacks in one account do not
    /// collide).
    pub fn physical_name(&self, logical_id: &str, max: usize) -> String {
        let mut name = format!("{}-{logical_id}", self.name);
        name.truncate(max);
        name
    }

    /// The repository's `infra/template.yaml`: the one of the checkout being run, found from the
    /// running package's directory (`CARGO_MANIFEST_DIR` under `cargo test`/`cargo run`) or the
    /// current directory, else where this crate was compiled (clones sharing a target directory
    /// may reuse each other's compiled crate).
    pub fn repo_template() -> PathBuf {
        const TEMPLATE: &str = "infra/template.yaml";
        let starts = [
            std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from),
            std::env::current_dir().ok(),
        ];
        starts
            .iter()
            .flatten()
            .flat_map(|start| start.ancestors())
            // Vigil's own checkout, not another project's template.
            .filter(|dir| dir.join("dev/stack/Cargo.toml").is_file())
            .map(|dir| dir.join(TEMPLATE))
            .find(|candidate| candidate.is_file())
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../..")
                    .join(TEMPLATE)
            })
    }

    /// Reads and resolves a template file.
    pub fn load(path: impl AsRef<Path>, options: &Options) -> Result<Stack, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        Stack::from_yaml(&text, options)
    }

    /// Resolves a template given as text.
    pub fn from_yaml(text: &str, options: &Options) -> Result<Stack, Error> {
        let doc = template::to_json(text)?;
        let empty = serde_json::Map::new();
        let section = |name: &str| doc.get(name).and_then(Value::as_object).unwrap_or(&empty);
        let resources = section("Resources");
        let globals = doc
            .pointer("/Globals/Function")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();

        let parameters = parameters(section("Parameters"), options)?;
        for name in options.parameters.keys() {
            if !parameters.contains_key(name) {
                return Err(Error::Invalid(format!(
                    "no parameter {name:?} in the template"
                )));
            }
        }

        let physical = physical_ids(resources, &parameters, options)?;
        let mut resolver = Resolver {
            parameters: &parameters,
            conditions: BTreeMap::new(),
            resources: &physical,
            region: &options.region,
            account: &options.account,
            stack_name: &options.stack_name,
        };
        // Conditions may refer to earlier ones: evaluate until none is left.
        let mut pending: Vec<(&String, &Value)> = section("Conditions").iter().collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut rest = Vec::new();
            for (name, expr) in pending {
                match resolver.truth(expr) {
                    Ok(b) => {
                        resolver.conditions.insert(name.clone(), b);
                    }
                    Err(_) => rest.push((name, expr)),
                }
            }
            if rest.len() == before {
                let (name, expr) = rest[0];
                resolver
                    .truth(expr)
                    .map_err(|e| Error::Invalid(format!("condition {name}: {e}")))?;
            }
            pending = rest;
        }

        let mut buses = Vec::new();
        let mut rules = Vec::new();
        let mut queues = BTreeMap::new();
        let mut functions = BTreeMap::new();
        let mut extra_mappings = Vec::new();
        let mut table = None;
        for (id, res) in resources {
            if let Some(cond) = res.get("Condition").and_then(Value::as_str)
                && !resolver.conditions.get(cond).copied().unwrap_or(true)
            {
                continue;
            }
            let kind = res.get("Type").and_then(Value::as_str).unwrap_or_default();
            let props = res.get("Properties").cloned().unwrap_or(Value::Null);
            match kind {
                "AWS::Events::EventBus" => buses.push(Bus::Custom {
                    logical_id: id.clone(),
                    name: physical[id].reference.clone(),
                }),
                "AWS::Events::Rule" => {
                    rules.push(rule(id, &props, resources, &physical, &resolver)?)
                }
                "AWS::SQS::Queue" => {
                    queues.insert(id.clone(), queue(id, &props, &resolver)?);
                }
                "AWS::Serverless::Function" => {
                    functions.insert(id.clone(), function(id, res, &globals, &resolver)?);
                }
                "AWS::Lambda::EventSourceMapping" => {
                    extra_mappings.push(event_source_mapping(id, &props, &resolver)?);
                }
                "AWS::DynamoDB::Table" => {
                    if table.is_some() {
                        return Err(Error::Unsupported("more than one DynamoDB table".into()));
                    }
                    table = Some(table_spec(id, &props, options)?);
                }
                _ => {}
            }
        }
        let table = table.ok_or_else(|| Error::Invalid("no AWS::DynamoDB::Table".into()))?;

        let stack = Stack {
            name: options.stack_name.clone(),
            parameters,
            buses,
            rules,
            queues,
            functions,
            extra_mappings,
            table,
        };
        stack.check()?;
        Ok(stack)
    }

    /// Every queue a rule, redrive policy or mapping names exists.
    fn check(&self) -> Result<(), Error> {
        let known = |q: &str, what: &str| {
            if self.queues.contains_key(q) {
                Ok(())
            } else {
                Err(Error::Invalid(format!(
                    "{what} names {q:?}, which is not a queue"
                )))
            }
        };
        for r in &self.rules {
            for t in &r.targets {
                known(&t.queue, &format!("rule {} target {}", r.logical_id, t.id))?;
                if let Some(d) = &t.dead_letter_queue {
                    known(d, &format!("rule {} dead-letter config", r.logical_id))?;
                }
            }
        }
        for q in self.queues.values() {
            if let Some(r) = &q.redrive {
                known(
                    &r.dead_letter_queue,
                    &format!("queue {} redrive", q.logical_id),
                )?;
            }
        }
        for m in self.mappings() {
            known(&m.queue, &format!("function {} event source", m.function))?;
        }
        for m in &self.extra_mappings {
            if !self.functions.contains_key(&m.function) {
                return Err(Error::Invalid(format!(
                    "an event source mapping names {:?}, which is not a function",
                    m.function
                )));
            }
        }
        Ok(())
    }

    /// The rule with this logical id.
    pub fn rule(&self, logical_id: &str) -> Option<&RuleSpec> {
        self.rules.iter().find(|r| r.logical_id == logical_id)
    }

    /// The custom bus agents put events on (the template's only custom bus).
    pub fn agent_bus(&self) -> Option<&Bus> {
        self.buses.first()
    }

    /// Every function's event source mapping.
    /// Every event source mapping: each function's own SQS event, then the mappings declared apart.
    pub fn mappings(&self) -> impl Iterator<Item = &MappingSpec> {
        self.functions
            .values()
            .filter_map(|f| f.mapping.as_ref())
            .chain(&self.extra_mappings)
    }

    /// The function that reads `queue`, if any.
    pub fn function_reading(&self, queue: &str) -> Option<&FunctionSpec> {
        let m = self.mappings().find(|m| m.queue == queue)?;
        self.functions.get(&m.function)
    }
}

fn parameters(
    decl: &serde_json::Map<String, Value>,
    options: &Options,
) -> Result<BTreeMap<String, Value>, Error> {
    let mut out = BTreeMap::new();
    for (name, p) in decl {
        let kind = p.get("Type").and_then(Value::as_str).unwrap_or("String");
        let raw = match options.parameters.get(name) {
            Some(v) => Value::String(v.clone()),
            None => p.get("Default").cloned().ok_or_else(|| {
                Error::Invalid(format!("parameter {name} has no default and no value"))
            })?,
        };
        let text = match &raw {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Array(items) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| i.to_string())
                })
                .collect::<Vec<_>>()
                .join(","),
            other => return Err(Error::Invalid(format!("parameter {name} = {other}"))),
        };
        if let Some(allowed) = p.get("AllowedValues").and_then(Value::as_array) {
            let ok = allowed.iter().any(|a| match a {
                Value::String(s) => *s == text,
                Value::Number(n) => n.to_string() == text,
                Value::Bool(b) => b.to_string() == text,
                _ => false,
            });
            if !ok {
                return Err(Error::Invalid(format!(
                    "parameter {name} = {text:?} is not one of {}",
                    Value::Array(allowed.clone())
                )));
            }
        }
        let value = if kind == "CommaDelimitedList" || kind.starts_with("List<") {
            Value::Array(
                text.split(',')
                    .map(|s| Value::String(s.trim().to_owned()))
                    .collect(),
            )
        } else {
            Value::String(text)
        };
        out.insert(name.clone(), value);
    }
    Ok(out)
}

/// `Ref` / `Fn::GetAtt` of each resource, given the local names.
fn physical_ids(
    resources: &serde_json::Map<String, Value>,
    parameters: &BTreeMap<String, Value>,
    options: &Options,
) -> Result<BTreeMap<String, Physical>, Error> {
    let (region, account) = (&options.region, &options.account);
    // Bus names may come from parameters: resolve them with a resolver that knows no resources.
    let none = BTreeMap::new();
    let bare = Resolver {
        parameters,
        conditions: BTreeMap::new(),
        resources: &none,
        region,
        account,
        stack_name: &options.stack_name,
    };
    let mut out = BTreeMap::new();
    for (id, res) in resources {
        let kind = res.get("Type").and_then(Value::as_str).unwrap_or_default();
        let mut p = Physical::default();
        match kind {
            "AWS::Events::EventBus" => {
                let name = match res.pointer("/Properties/Name") {
                    Some(n) => bare.resolve_string(n)?,
                    None => id.clone(),
                };
                p.attributes.insert(
                    "Arn".into(),
                    format!("arn:aws:events:{region}:{account}:event-bus/{name}"),
                );
                p.attributes.insert("Name".into(), name.clone());
                p.reference = name;
            }
            "AWS::SQS::Queue" => {
                // The queue's Ref is its URL, known only once created: the name stands in for it.
                p.attributes
                    .insert("Arn".into(), format!("arn:aws:sqs:{region}:{account}:{id}"));
                p.attributes.insert("QueueName".into(), id.clone());
                p.attributes.insert("QueueUrl".into(), id.clone());
                p.reference = id.clone();
            }
            "AWS::DynamoDB::Table" => {
                let name = options.table_name.clone();
                p.attributes.insert(
                    "Arn".into(),
                    format!("arn:aws:dynamodb:{region}:{account}:table/{name}"),
                );
                p.reference = name;
            }
            "AWS::Events::Rule" => {
                p.attributes.insert(
                    "Arn".into(),
                    format!("arn:aws:events:{region}:{account}:rule/{id}"),
                );
                p.reference = id.clone();
            }
            "AWS::SecurityHub::ActionTarget" => {
                // Its Ref is its ARN: action/custom/ID in this account and region.
                let target = match res.pointer("/Properties/Id") {
                    Some(v) => bare.resolve_string(v)?,
                    None => id.clone(),
                };
                let arn = format!("arn:aws:securityhub:{region}:{account}:action/custom/{target}");
                p.attributes.insert("ActionTargetArn".into(), arn.clone());
                p.reference = arn;
            }
            "AWS::Serverless::Function" | "AWS::Lambda::Function" => {
                p.attributes.insert(
                    "Arn".into(),
                    format!("arn:aws:lambda:{region}:{account}:function:{id}"),
                );
                p.reference = id.clone();
            }
            _ => {
                p.attributes.insert(
                    "Arn".into(),
                    format!("arn:aws:local:{region}:{account}:{id}"),
                );
                p.reference = id.clone();
            }
        }
        out.insert(id.clone(), p);
    }
    Ok(out)
}

fn u32_of(resolver: &Resolver, v: Option<&Value>, what: &str) -> Result<Option<u32>, Error> {
    let Some(v) = v else { return Ok(None) };
    let s = resolver.resolve_string(v)?;
    s.parse()
        .map(Some)
        .map_err(|_| Error::Invalid(format!("{what} = {s:?} is not a whole number")))
}

fn rule(
    id: &str,
    props: &Value,
    resources: &serde_json::Map<String, Value>,
    physical: &BTreeMap<String, Physical>,
    resolver: &Resolver,
) -> Result<RuleSpec, Error> {
    let bus = match props.get("EventBusName") {
        None => Bus::Default,
        Some(v) => match template::logical_id(v).filter(|l| resources.contains_key(*l)) {
            Some(logical) => Bus::Custom {
                logical_id: logical.to_owned(),
                name: physical[logical].reference.clone(),
            },
            None => {
                let name = resolver.resolve_string(v)?;
                if name == "default" {
                    Bus::Default
                } else {
                    return Err(Error::Unsupported(format!(
                        "rule {id}: bus {name:?} is not created by the template"
                    )));
                }
            }
        },
    };
    let pattern = resolver.resolve(
        props
            .get("EventPattern")
            .ok_or_else(|| Error::Invalid(format!("rule {id} has no EventPattern")))?,
    )?;
    let pattern = match pattern {
        // CloudFormation also accepts the pattern as a JSON string.
        Value::String(s) => serde_json::from_str(&s)
            .map_err(|e| Error::Invalid(format!("rule {id}: EventPattern: {e}")))?,
        other => other,
    };
    let mut targets = Vec::new();
    for t in props
        .get("Targets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let tid = t
            .get("Id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let queue = t
            .get("Arn")
            .and_then(template::logical_id)
            .filter(|l| {
                resources
                    .get(*l)
                    .and_then(|r| r.get("Type"))
                    .and_then(Value::as_str)
                    == Some("AWS::SQS::Queue")
            })
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "rule {id} target {tid}: only SQS queues of the template"
                ))
            })?
            .to_owned();
        targets.push(TargetSpec {
            id: tid,
            queue,
            maximum_retry_attempts: u32_of(
                resolver,
                t.pointer("/RetryPolicy/MaximumRetryAttempts"),
                "MaximumRetryAttempts",
            )?,
            maximum_event_age_seconds: u32_of(
                resolver,
                t.pointer("/RetryPolicy/MaximumEventAgeInSeconds"),
                "MaximumEventAgeInSeconds",
            )?,
            dead_letter_queue: t
                .pointer("/DeadLetterConfig/Arn")
                .and_then(template::logical_id)
                .map(str::to_owned),
        });
    }
    Ok(RuleSpec {
        logical_id: id.to_owned(),
        bus,
        pattern,
        targets,
    })
}

fn queue(id: &str, props: &Value, resolver: &Resolver) -> Result<QueueSpec, Error> {
    let redrive = match props.get("RedrivePolicy") {
        None => None,
        Some(r) => {
            let dlq = r
                .get("deadLetterTargetArn")
                .and_then(template::logical_id)
                .ok_or_else(|| {
                    Error::Unsupported(format!(
                        "queue {id}: deadLetterTargetArn must be !GetAtt Queue.Arn"
                    ))
                })?
                .to_owned();
            Some(Redrive {
                dead_letter_queue: dlq,
                max_receive_count: u32_of(resolver, r.get("maxReceiveCount"), "maxReceiveCount")?
                    .ok_or_else(|| {
                    Error::Invalid(format!("queue {id}: no maxReceiveCount"))
                })?,
            })
        }
    };
    Ok(QueueSpec {
        logical_id: id.to_owned(),
        visibility_timeout_seconds: u32_of(
            resolver,
            props.get("VisibilityTimeout"),
            "VisibilityTimeout",
        )?,
        message_retention_seconds: u32_of(
            resolver,
            props.get("MessageRetentionPeriod"),
            "MessageRetentionPeriod",
        )?,
        redrive,
    })
}

fn function(
    id: &str,
    res: &Value,
    globals: &serde_json::Map<String, Value>,
    resolver: &Resolver,
) -> Result<FunctionSpec, Error> {
    let props = res.get("Properties").cloned().unwrap_or(Value::Null);
    let prop = |name: &str| props.get(name).or_else(|| globals.get(name));
    let mut environment = BTreeMap::new();
    let mut vars = globals
        .get("Environment")
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(own) = props
        .pointer("/Environment/Variables")
        .and_then(Value::as_object)
    {
        vars.extend(own.clone());
    }
    for (k, v) in &vars {
        environment.insert(k.clone(), resolver.resolve_string(v)?);
    }
    let mut mapping = None;
    for (_, event) in props
        .get("Events")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if event.get("Type").and_then(Value::as_str) != Some("SQS") {
            continue;
        }
        if mapping.is_some() {
            return Err(Error::Unsupported(format!(
                "function {id}: more than one SQS event"
            )));
        }
        let p = event.get("Properties").cloned().unwrap_or(Value::Null);
        let queue = p
            .get("Queue")
            .and_then(template::logical_id)
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "function {id}: SQS Queue must be !GetAtt Queue.Arn"
                ))
            })?
            .to_owned();
        let types = match p.get("FunctionResponseTypes") {
            Some(v) => match resolver.resolve(v)? {
                Value::Array(items) => items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect(),
                other => {
                    return Err(Error::Invalid(format!(
                        "function {id}: FunctionResponseTypes {other}"
                    )));
                }
            },
            None => Vec::new(),
        };
        mapping = Some(MappingSpec {
            function: id.to_owned(),
            queue,
            batch_size: u32_of(resolver, p.get("BatchSize"), "BatchSize")?,
            maximum_batching_window_seconds: u32_of(
                resolver,
                p.get("MaximumBatchingWindowInSeconds"),
                "MaximumBatchingWindowInSeconds",
            )?,
            maximum_concurrency: u32_of(
                resolver,
                p.pointer("/ScalingConfig/MaximumConcurrency"),
                "MaximumConcurrency",
            )?,
            function_response_types: types,
        });
    }
    Ok(FunctionSpec {
        logical_id: id.to_owned(),
        binary: res
            .pointer("/Metadata/BuildProperties/Binary")
            .map(|v| resolver.resolve_string(v))
            .transpose()?,
        code_uri: prop("CodeUri")
            .map(|v| resolver.resolve_string(v))
            .transpose()?,
        timeout_seconds: u32_of(resolver, prop("Timeout"), "Timeout")?,
        memory_mb: u32_of(resolver, prop("MemorySize"), "MemorySize")?,
        reserved_concurrency: u32_of(
            resolver,
            prop("ReservedConcurrentExecutions"),
            "ReservedConcurrentExecutions",
        )?,
        environment,
        mapping,
    })
}

/// An `AWS::Lambda::EventSourceMapping` from an SQS queue (`!GetAtt Queue.Arn`) to a function of the
/// template (`!Ref Function`).
fn event_source_mapping(
    id: &str,
    props: &Value,
    resolver: &Resolver,
) -> Result<MappingSpec, Error> {
    let logical = |k: &str| {
        props
            .get(k)
            .and_then(template::logical_id)
            .map(str::to_owned)
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "event source mapping {id}: {k} must name a resource of the template"
                ))
            })
    };
    let types = match props.get("FunctionResponseTypes") {
        Some(v) => match resolver.resolve(v)? {
            Value::Array(items) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            other => {
                return Err(Error::Invalid(format!(
                    "event source mapping {id}: FunctionResponseTypes {other}"
                )));
            }
        },
        None => Vec::new(),
    };
    Ok(MappingSpec {
        function: logical("FunctionName")?,
        queue: logical("EventSourceArn")?,
        batch_size: u32_of(resolver, props.get("BatchSize"), "BatchSize")?,
        maximum_batching_window_seconds: u32_of(
            resolver,
            props.get("MaximumBatchingWindowInSeconds"),
            "MaximumBatchingWindowInSeconds",
        )?,
        maximum_concurrency: u32_of(
            resolver,
            props.pointer("/ScalingConfig/MaximumConcurrency"),
            "MaximumConcurrency",
        )?,
        function_response_types: types,
    })
}

fn table_spec(id: &str, props: &Value, options: &Options) -> Result<TableSpec, Error> {
    let keys = props
        .get("KeySchema")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Invalid(format!("table {id}: no KeySchema")))?;
    let key = |kind: &str| {
        keys.iter()
            .find(|k| k.get("KeyType").and_then(Value::as_str) == Some(kind))
            .and_then(|k| k.get("AttributeName").and_then(Value::as_str))
            .map(str::to_owned)
    };
    Ok(TableSpec {
        logical_id: id.to_owned(),
        name: options.table_name.clone(),
        partition_key: key("HASH")
            .ok_or_else(|| Error::Invalid(format!("table {id}: no HASH key")))?,
        sort_key: key("RANGE"),
        ttl_attribute: props
            .pointer("/TimeToLiveSpecification")
            .filter(|t| t.get("Enabled") != Some(&Value::Bool(false)))
            .and_then(|t| t.get("AttributeName"))
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}
