//! Source adapters: one module per source, each turning that source's documented event format (and
//! its real-world variations) into the canonical [`vigil_model::Finding`].
//!
//! [`parse_event`] chooses the adapter from the EventBridge `source` / `detail-type` when the event is
//! wrapped, and from the event's shape otherwise (falcosidekick invokes Lambda with the bare alert).

#![warn(missing_docs)]

mod agent_status;
pub mod arn;
mod ecs_task;
mod envelope;
mod error;
mod falco;
pub mod fields;
mod guardduty;
mod guardduty_sequence;
pub mod json;
pub mod subject;
mod sysdig;

pub use agent_status::{Agent, AgentStatus, DropCounters, StatusKind};
pub use ecs_task::{TaskContainerState, TaskStateChange};
pub use envelope::Envelope;
pub use error::{AdapterError, ErrorKind, MAX_MESSAGE_CHARS, quote};
pub use json::MAX_EVENT_BYTES;

use json::{NodeRef, Obj};
use std::collections::{BTreeMap, BTreeSet};
use vigil_contract::SOURCE as VIGIL_SOURCE;
use vigil_model::{Arrival, Finding, Provenance, RawEvent};

/// How the event arrived, and defaults for what an event may not say itself (a bare Falco alert
/// carries no account or region, so the ingest function supplies its own).
#[derive(Debug, Clone, Default)]
pub struct ParseContext {
    /// The deploying account (or the one configured for direct invocations): the sender of a bare
    /// payload.
    pub default_account: Option<String>,
    /// The deploying region: the region of a bare payload.
    pub default_region: Option<String>,
    /// The entry point: an EventBridge delivery through the ingest queue (agent bus or AWS service,
    /// told apart by the exact `aws.*` source), a direct invocation, or a local read.
    pub channel: Channel,
    /// Sender account → accounts it may speak for (its findings may name a task there). An agent
    /// event naming any other account stays the sender's, with an identity conflict recorded.
    pub delegations: BTreeMap<String, BTreeSet<String>>,
}

/// The entry point an event is read from; it decides which shapes are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Channel {
    /// The ingest queue, fed only by EventBridge rules: every message is an EventBridge event.
    EventBridge,
    /// A direct invocation (falcosidekick's Lambda output): bare agent payloads only.
    DirectInvoke,
    /// `vigil normalize` and tests: any documented shape, bare or wrapped. Nothing read this way
    /// is trusted to act.
    #[default]
    Local,
}

/// What an incoming event turned out to be.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // Findings are the common case; boxing them would cost every event.
pub enum SourceEvent {
    /// A security finding (Falco, GuardDuty, Sysdig), normalized.
    Finding(Finding),
    /// An `ECS Task State Change`: lifecycle, not a finding.
    TaskStateChange(TaskStateChange),
    /// An agent's event about itself (Falco's `Falco internal: …`): telemetry, not a finding.
    AgentStatus(AgentStatus),
}

/// Parses one event (an EventBridge event or a bare source payload) from its JSON bytes.
pub fn parse_event(bytes: &[u8], ctx: &ParseContext) -> Result<SourceEvent, AdapterError> {
    // [`parse_delivery`] without its envelope id: an event is large, and wrapping it in a
    // `Delivery` to unwrap it again costs two copies.
    let (node, text) = json::parse_text(bytes)?;
    parse_root(NodeRef(&node), text, ctx, &mut None)
}

/// An event together with the identity of its delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// What the event is.
    pub event: SourceEvent,
    /// The EventBridge event id when the event came wrapped: it identifies this delivery (a
    /// redelivery repeats it), unlike a source's own id, which GuardDuty repeats on every update.
    pub envelope_id: Option<String>,
}

/// Like [`parse_event`], also returning the envelope id.
pub fn parse_delivery(bytes: &[u8], ctx: &ParseContext) -> Result<Delivery, AdapterError> {
    let (node, text) = json::parse_text(bytes)?;
    let mut envelope_id = None;
    let event = parse_root(NodeRef(&node), text, ctx, &mut envelope_id)?;
    Ok(Delivery { event, envelope_id })
}

/// Reads the event; `envelope_id` is set to the envelope's id when it is an EventBridge event (an
/// id that cleans to nothing is no id: the caller falls back to another one).
fn parse_root(
    value: NodeRef<'_>,
    original: &str,
    ctx: &ParseContext,
    envelope_id: &mut Option<String>,
) -> Result<SourceEvent, AdapterError> {
    let root = Obj::root(value, "$")?;
    // `original` is the document just parsed: kept without parsing it again.
    let raw = || RawEvent::capture_parsed(original);

    if let Some(dt_key) = Envelope::detect(&root) {
        if ctx.channel == Channel::DirectInvoke {
            return Err(AdapterError::new(
                "$",
                ErrorKind::Unsupported(
                    "an EventBridge envelope in a direct invocation: invoke with the bare agent payload; EventBridge events arrive through the ingest queue".into(),
                ),
            ));
        }
        let envelope = Envelope::parse(&root, dt_key)?;
        let detail = root.obj("detail")?.ok_or_else(|| root.missing("detail"))?;
        let event = parse_detail(&envelope, &detail, ctx, raw())?;
        *envelope_id = envelope.id_owned();
        return Ok(event);
    }
    if ctx.channel == Channel::EventBridge {
        // Only EventBridge rules may send to the ingest queue, and they deliver whole events.
        return Err(AdapterError::new(
            "$",
            ErrorKind::Unsupported(
                "not an EventBridge event: the ingest queue takes only what its rules deliver"
                    .into(),
            ),
        ));
    }

    // FireLens / Fluent Bit wrap each log line: {"log": "<falco json>", "ecs_task_arn": ..., ...}.
    if let (Some(log), false) = (root.str("log")?, falco::looks_like_falco(&root))
        && log.trim_start().starts_with('{')
    {
        let inner = json::parse_node(log.as_bytes())
            .map_err(|e| AdapterError::new(root.path_of("log"), e.kind))?;
        let alert = Obj::root(&inner, "log")?;
        if falco::looks_like_falco(&alert) {
            let wrapper = falco::WrapperContext {
                task_arn: root.str("ecs_task_arn")?.map(str::to_owned),
                cluster: root.str("ecs_cluster")?.map(str::to_owned),
                container_id: root.str("container_id").ok().flatten().map(str::to_owned),
            };
            return finished(falco::parse(&alert, None, &wrapper, ctx, raw()), None, ctx);
        }
    }

    match shape_of(&root) {
        // Fluent Bit may also merge the alert's keys into the record, beside FireLens's fields.
        Some(Kind::Falco) => {
            // Informational beside a bare alert: a malformed one is ignored, not fatal.
            let text = |k: &str| root.str(k).ok().flatten().map(str::to_owned);
            let wrapper = falco::WrapperContext {
                task_arn: text("ecs_task_arn"),
                cluster: text("ecs_cluster"),
                container_id: text("container_id"),
            };
            finished(falco::parse(&root, None, &wrapper, ctx, raw()), None, ctx)
        }
        Some(Kind::Sysdig) => finished(
            sysdig::parse(&root, None, ctx, raw()).map(SourceEvent::Finding),
            None,
            ctx,
        ),
        // AWS services' events never arrive bare in a deployment: only a local read takes them.
        Some(kind @ (Kind::GuardDuty | Kind::Task)) if ctx.channel != Channel::Local => {
            Err(AdapterError::new(
                "$",
                ErrorKind::Unsupported(format!(
                    "a bare {} is accepted only from AWS through the default bus, never from a direct invocation",
                    kind.describe()
                )),
            ))
        }
        Some(Kind::GuardDuty) => finished(
            guardduty::parse(&root, None, ctx, raw()).map(SourceEvent::Finding),
            None,
            ctx,
        ),
        Some(Kind::Task) => ecs_task::parse(&root, None).map(SourceEvent::TaskStateChange),
        None => Err(AdapterError::new(
            "$",
            ErrorKind::UnknownSource(
                "not an EventBridge event, Falco alert, GuardDuty finding or Sysdig event".into(),
            ),
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Falco,
    GuardDuty,
    Sysdig,
    Task,
}

impl Kind {
    /// Whether `o` has this kind's shape.
    fn looks(self, o: &Obj<'_>) -> bool {
        match self {
            Kind::Falco => falco::looks_like_falco(o),
            Kind::GuardDuty => guardduty::looks_like_guardduty(o),
            Kind::Sysdig => sysdig::looks_like_sysdig(o),
            Kind::Task => ecs_task::looks_like_task(o),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::Falco => "Falco alert",
            Kind::GuardDuty => "GuardDuty finding",
            Kind::Sysdig => "Sysdig event",
            Kind::Task => "ECS task state change",
        }
    }
}

/// The EventBridge sources of the AWS services Vigil reads, compared exactly (case-sensitive, before
/// any cleaning): AWS reserves `aws.` and only AWS puts these on the default bus.
pub const GUARDDUTY_SOURCE: &str = "aws.guardduty";
/// The `detail-type` of GuardDuty's findings.
pub const GUARDDUTY_DETAIL_TYPE: &str = "GuardDuty Finding";
/// The EventBridge source of ECS events.
pub const ECS_SOURCE: &str = "aws.ecs";
/// The `detail-type` of ECS task state changes.
pub const ECS_TASK_DETAIL_TYPE: &str = "ECS Task State Change";

fn shape_of(o: &Obj<'_>) -> Option<Kind> {
    shape_among(o, &[Kind::Falco, Kind::GuardDuty, Kind::Sysdig, Kind::Task])
}

/// The first of `kinds` whose shape `o` has.
fn shape_among(o: &Obj<'_>, kinds: &[Kind]) -> Option<Kind> {
    kinds.iter().copied().find(|k| k.looks(o))
}

fn parse_detail(
    envelope: &Envelope<'_>,
    detail: &Obj<'_>,
    ctx: &ParseContext,
    raw: RawEvent,
) -> Result<SourceEvent, AdapterError> {
    let kind = match envelope.source_exact {
        GUARDDUTY_SOURCE if envelope.detail_type_exact == GUARDDUTY_DETAIL_TYPE => Kind::GuardDuty,
        GUARDDUTY_SOURCE => {
            return Err(unsupported(
                "detail-type",
                &envelope.detail_type,
                "a GuardDuty finding",
            ));
        }
        ECS_SOURCE if envelope.detail_type_exact == ECS_TASK_DETAIL_TYPE => Kind::Task,
        ECS_SOURCE => {
            return Err(unsupported(
                "detail-type",
                &envelope.detail_type,
                "an ECS task state change",
            ));
        }
        VIGIL_SOURCE => {
            return Err(unsupported(
                "source",
                &envelope.source,
                "a source event (Vigil's own events are not re-ingested)",
            ));
        }
        _ => agent_kind(envelope, detail)?,
    };
    let parsed = match kind {
        Kind::Falco => falco::parse(detail, Some(envelope), &Default::default(), ctx, raw),
        Kind::GuardDuty => {
            guardduty::parse(detail, Some(envelope), ctx, raw).map(SourceEvent::Finding)
        }
        Kind::Sysdig => sysdig::parse(detail, Some(envelope), ctx, raw).map(SourceEvent::Finding),
        Kind::Task => {
            return ecs_task::parse(detail, Some(envelope)).map(SourceEvent::TaskStateChange);
        }
    };
    finished(parsed, Some(envelope), ctx)
}

/// [`finish`] for a finding; agent telemetry passes as it is (it never acts).
/// Errors pass as they are. (Finished in place, inside the parse's result: a `Finding` is large,
/// and every move of it is a copy; inlined, so the result is not copied into the call and out.)
#[inline]
fn finished(
    mut parsed: Result<SourceEvent, AdapterError>,
    envelope: Option<&Envelope<'_>>,
    ctx: &ParseContext,
) -> Result<SourceEvent, AdapterError> {
    if let Ok(SourceEvent::Finding(f)) = &mut parsed {
        finish(f, envelope, ctx);
    }
    parsed
}

/// Every other source is an agent's: it may be Falco or Sysdig (by name, else by the detail's
/// shape), never an AWS service or Vigil, whatever its detail looks like.
fn agent_kind(envelope: &Envelope<'_>, detail: &Obj<'_>) -> Result<Kind, AdapterError> {
    // Case-insensitive, without lower-casing copies: both names are lower-case ASCII.
    let imitates = |s: &str| {
        s.as_bytes()
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"aws."))
            || s.eq_ignore_ascii_case(VIGIL_SOURCE)
    };
    let exact = envelope.source_exact.trim();
    // Unicode case folding can turn other characters into ASCII ones: only ASCII is compared as is.
    let folded_imitates = if exact.is_ascii() {
        imitates(exact)
    } else {
        imitates(&exact.to_lowercase())
    };
    let cleaned = &*envelope.source;
    // A look-alike of an AWS or Vigil source (`AWS.GuardDuty`, ` aws.ecs`, `Vigil`, an invisible
    // character inside) is a forgery: no agent has a reason to name itself so.
    if folded_imitates || imitates(cleaned) {
        return Err(AdapterError::new(
            "source",
            ErrorKind::ForgedSource(format!(
                "{} imitates an AWS service's or Vigil's own source; those are accepted only exactly as AWS and Vigil send them",
                quote(envelope.source_exact)
            )),
        ));
    }
    let detail_type = &*envelope.detail_type;
    let says = |s: &str, name: &str| {
        s.as_bytes()
            .windows(name.len())
            .any(|w| w.eq_ignore_ascii_case(name.as_bytes()))
    };
    // falcosidekick has no EventBridge output, so the forwarder chooses these names; accept any
    // that say Falco or Sysdig (in any ASCII case), and otherwise go by the detail's shape among
    // the agents' formats.
    let named = if says(cleaned, "falco") || says(detail_type, "falco") {
        Some(Kind::Falco)
    } else if says(cleaned, "sysdig") || says(detail_type, "sysdig") {
        Some(Kind::Sysdig)
    } else {
        None
    };
    let shaped = shape_among(detail, &[Kind::Falco, Kind::Sysdig]);
    let aws_shaped = shape_among(detail, &[Kind::GuardDuty, Kind::Task]);
    match (named, shaped, aws_shaped) {
        // An AWS service's event from an agent: refused, never parsed as that service's.
        (_, None, Some(aws)) => Err(AdapterError::new(
            "detail",
            ErrorKind::ForgedSource(format!(
                "a {}-shaped detail from the agent source {}: AWS service events are accepted only from AWS on the default bus",
                aws.describe(),
                quote(envelope.source_exact)
            )),
        )),
        (Some(kind), _, _) | (None, Some(kind), _) => Ok(kind),
        (None, None, None) => Err(AdapterError::new(
            "source",
            ErrorKind::UnknownSource(format!(
                "{} / {} with a detail no adapter recognizes",
                quote(&envelope.source),
                quote(&envelope.detail_type)
            )),
        )),
    }
}

/// Stamps the provenance, settles the finding's account by the sender rule, records identity
/// conflicts and computes the fingerprint.
fn finish(finding: &mut Finding, envelope: Option<&Envelope<'_>>, ctx: &ParseContext) {
    let arrival = match (ctx.channel, envelope) {
        (Channel::Local, _) => Arrival::Local,
        (Channel::DirectInvoke, _) => Arrival::DirectInvoke,
        (Channel::EventBridge, Some(e)) if e.is_aws_service() => Arrival::AwsService,
        (Channel::EventBridge, _) => Arrival::AgentBus,
    };
    let sender = match arrival {
        Arrival::DirectInvoke => ctx.default_account.clone(),
        _ => envelope.and_then(|e| e.account_owned()),
    };
    // An agent speaks for its own account: a payload naming another one (a task label, a Sysdig
    // account label) is believed only where the deployment says this sender may speak for it.
    if matches!(arrival, Arrival::AgentBus | Arrival::DirectInvoke) {
        // The account the payload names: its task's, else whatever account field the adapter read.
        // Read borrowed: it is copied only when it, not the sender's, becomes the finding's.
        let named = finding
            .resource
            .task_arn
            .as_deref()
            .and_then(arn::TaskArn::parse)
            .map(|t| t.account)
            .or(finding.account.as_deref());
        let delegated = |n: &str| {
            sender
                .as_deref()
                .and_then(|s| ctx.delegations.get(s))
                .is_some_and(|accounts| accounts.contains(n))
        };
        let believed = named
            .filter(|&n| sender.as_deref() != Some(n) && delegated(n))
            .map(str::to_owned);
        finding.account = believed.or_else(|| sender.clone());
    }
    let producer_id = finding.provenance.producer_id.take();
    finding.provenance = Provenance {
        arrival,
        source: envelope.map(|e| e.source.clone().into_owned()),
        detail_type: envelope.map(|e| e.detail_type.clone().into_owned()),
        // Its last use: moved, not copied.
        sender_account: sender,
        event_id: envelope.and_then(|e| e.id_owned()),
        producer_id,
    };
    finding.identity_conflicts = identity_conflicts(finding);
    finding.fingerprint = vigil_model::FindingFingerprint::of(finding);
}

/// The cluster comes from the task ARN; a cluster label that disagrees is a conflict, as is a task
/// in another account than the finding's.
fn identity_conflicts(finding: &mut Finding) -> Vec<String> {
    let mut conflicts = Vec::new();
    let Some(task) = finding
        .resource
        .task_arn
        .as_deref()
        .and_then(arn::TaskArn::parse)
    else {
        // Without a task, a cluster ARN still names an account: another than the finding's is
        // a task there found by container id, which this sender may not speak for.
        let cluster_account = finding
            .resource
            .cluster_arn
            .as_deref()
            .filter(|c| arn::is_cluster_arn(c))
            .and_then(|c| c.split(':').nth(4));
        if let Some(account) = cluster_account
            && finding.account.as_deref() != Some(account)
        {
            conflicts.push(format!(
                "the cluster is in account {}, not the finding's account {}",
                quote(account),
                quote(finding.account.as_deref().unwrap_or("unknown"))
            ));
        }
        return conflicts;
    };
    // The task ARN's own cluster, unless the finding already names exactly that one.
    let claimed = finding.resource.cluster_arn.as_deref();
    if !claimed.is_some_and(|c| task.is_own_cluster_arn(c))
        && let Some(from_task) = task.cluster_arn()
    {
        if let Some(claimed) = claimed {
            conflicts.push(format!(
                "the cluster {} disagrees with the task ARN's cluster {}",
                quote(claimed),
                quote(&from_task)
            ));
        }
        finding.resource.cluster_arn = Some(from_task);
    }
    if finding.account.as_deref() != Some(task.account) {
        conflicts.push(format!(
            "the task is in account {}, not the finding's account {}",
            quote(task.account),
            quote(finding.account.as_deref().unwrap_or("unknown"))
        ));
    }
    conflicts
}

fn unsupported(path: &str, value: &str, expected: &str) -> AdapterError {
    AdapterError::new(
        path,
        ErrorKind::Unsupported(format!("{} is not {expected}", quote(value))),
    )
}
