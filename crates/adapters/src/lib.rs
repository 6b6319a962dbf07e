//! Source adapters: one module per source, each turning that source's documented event format (and
//! its real-world variations) into the canonical [`vigil_model::Finding`].
//!
//! [`parse_event`] chooses the adapter from the EventBridge `source` / `detail-type` when the event is
//! wrapped, and from the event's shape otherwise (falcosidekick invokes Lambda with the bare alert).

mod agent_status;
pub mod arn;
mod ecs_task;
mod envelope;
mod error;
mod falco;
pub mod fields;
mod guardduty;
pub mod json;
pub mod subject;
mod sysdig;

pub use agent_status::{Agent, AgentStatus, DropCounters, StatusKind};
pub use ecs_task::{TaskContainerState, TaskStateChange};
pub use envelope::Envelope;
pub use error::{AdapterError, ErrorKind, MAX_MESSAGE_CHARS, quote};
pub use json::MAX_EVENT_BYTES;

use json::{NodeRef, Obj};
use serde_json::Value;
use vigil_model::{Finding, RawEvent};

/// Defaults for what an event may not say itself: a bare Falco alert carries no account or region,
/// so the ingest function supplies its own.
#[derive(Debug, Clone, Default)]
pub struct ParseContext {
    pub default_account: Option<String>,
    pub default_region: Option<String>,
}

/// What an incoming event turned out to be.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // Findings are the common case; boxing them would cost every event.
pub enum SourceEvent {
    Finding(Finding),
    TaskStateChange(TaskStateChange),
    /// An agent's event about itself (Falco's `Falco internal: …`): telemetry, not a finding.
    AgentStatus(AgentStatus),
}

/// Parses one event (an EventBridge event or a bare source payload) from its JSON bytes.
pub fn parse_event(bytes: &[u8], ctx: &ParseContext) -> Result<SourceEvent, AdapterError> {
    parse_delivery(bytes, ctx).map(|d| d.event)
}

/// An event together with the identity of its delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event: SourceEvent,
    /// The EventBridge event id when the event came wrapped: it identifies this delivery (a
    /// redelivery repeats it), unlike a source's own id, which GuardDuty repeats on every update.
    pub envelope_id: Option<String>,
}

/// Like [`parse_event`], also returning the envelope id.
pub fn parse_delivery(bytes: &[u8], ctx: &ParseContext) -> Result<Delivery, AdapterError> {
    let node = json::parse_node(bytes)?;
    // parse_node only succeeds on valid UTF-8, so this never fails; kept fallible for safety.
    let text = std::str::from_utf8(bytes)
        .map_err(|e| AdapterError::new("$", ErrorKind::NotJson(e.to_string())))?;
    let root = NodeRef::Node(&node);
    let event = parse_root(root, text, ctx)?;
    let envelope_id = Obj::root(root, "$")
        .ok()
        .filter(|o| Envelope::detect(o).is_some())
        // An id that cleans to nothing is no id: the caller falls back to another one.
        .and_then(|o| vigil_model::text::clean_opt(o.str("id").ok().flatten(), 128));
    Ok(Delivery { event, envelope_id })
}

/// Parses an already-decoded event; `original` is its JSON text, kept (size-capped) for forensics.
pub fn parse_value(
    value: &Value,
    original: &str,
    ctx: &ParseContext,
) -> Result<SourceEvent, AdapterError> {
    parse_root(NodeRef::Value(value), original, ctx)
}

fn parse_root(
    value: NodeRef<'_>,
    original: &str,
    ctx: &ParseContext,
) -> Result<SourceEvent, AdapterError> {
    let root = Obj::root(value, "$")?;
    let raw = || RawEvent::capture(original);

    if let Some(dt_key) = Envelope::detect(&root) {
        let envelope = Envelope::parse(&root, dt_key)?;
        let detail = root.obj("detail")?.ok_or_else(|| root.missing("detail"))?;
        return parse_detail(&envelope, &detail, ctx, raw());
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
            return falco::parse(&alert, None, &wrapper, ctx, raw());
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
            falco::parse(&root, None, &wrapper, ctx, raw())
        }
        Some(Kind::GuardDuty) => {
            guardduty::parse(&root, None, ctx, raw()).map(SourceEvent::Finding)
        }
        Some(Kind::Sysdig) => sysdig::parse(&root, None, ctx, raw()).map(SourceEvent::Finding),
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

fn shape_of(o: &Obj<'_>) -> Option<Kind> {
    if falco::looks_like_falco(o) {
        Some(Kind::Falco)
    } else if guardduty::looks_like_guardduty(o) {
        Some(Kind::GuardDuty)
    } else if sysdig::looks_like_sysdig(o) {
        Some(Kind::Sysdig)
    } else if ecs_task::looks_like_task(o) {
        Some(Kind::Task)
    } else {
        None
    }
}

fn parse_detail(
    envelope: &Envelope,
    detail: &Obj<'_>,
    ctx: &ParseContext,
    raw: RawEvent,
) -> Result<SourceEvent, AdapterError> {
    let source = envelope.source.to_ascii_lowercase();
    let detail_type = envelope.detail_type.to_ascii_lowercase();
    let kind = match source.as_str() {
        // AWS reserves the `aws.` prefix: only AWS services can put these sources on a bus.
        "aws.guardduty" if detail_type == "guardduty finding" => Kind::GuardDuty,
        "aws.guardduty" => {
            return Err(unsupported(
                "detail-type",
                &envelope.detail_type,
                "a GuardDuty finding",
            ));
        }
        "aws.ecs" if detail_type == "ecs task state change" => Kind::Task,
        "aws.ecs" => {
            return Err(unsupported(
                "detail-type",
                &envelope.detail_type,
                "an ECS task state change",
            ));
        }
        "vigil" => {
            return Err(unsupported(
                "source",
                &envelope.source,
                "a source event (Vigil's own events are not re-ingested)",
            ));
        }
        // falcosidekick has no EventBridge output, so the forwarder chooses these names; accept any
        // that say Falco or Sysdig, and otherwise fall back to the detail's shape.
        s if s.contains("falco") || detail_type.contains("falco") => Kind::Falco,
        s if s.contains("sysdig") || detail_type.contains("sysdig") => Kind::Sysdig,
        _ => shape_of(detail).ok_or_else(|| {
            AdapterError::new(
                "source",
                ErrorKind::UnknownSource(format!(
                    "{} / {} with a detail no adapter recognizes",
                    quote(&envelope.source),
                    quote(&envelope.detail_type)
                )),
            )
        })?,
    };
    match kind {
        Kind::Falco => falco::parse(detail, Some(envelope), &Default::default(), ctx, raw),
        Kind::GuardDuty => {
            guardduty::parse(detail, Some(envelope), ctx, raw).map(SourceEvent::Finding)
        }
        Kind::Sysdig => sysdig::parse(detail, Some(envelope), ctx, raw).map(SourceEvent::Finding),
        Kind::Task => ecs_task::parse(detail, Some(envelope)).map(SourceEvent::TaskStateChange),
    }
}

fn unsupported(path: &str, value: &str, expected: &str) -> AdapterError {
    AdapterError::new(
        path,
        ErrorKind::Unsupported(format!("{} is not {expected}", quote(value))),
    )
}
