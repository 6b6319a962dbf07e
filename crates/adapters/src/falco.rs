//! Falco alerts (Falco's `json_output`, falcosidekick's payload with `uuid`), bare or as an EventBridge
//! `detail`. ECS context comes from the ECS agent's Docker labels, in whichever key form they arrive.

use crate::arn::{TaskArn, resolve_cluster};
use crate::envelope::Envelope;
use crate::fields::{self, FieldMap};
use crate::json::Obj;
use crate::{AdapterError, ParseContext, SourceEvent, agent_status, subject};
use std::borrow::Cow;
use vigil_model::text::{clean, clean_opt};
use vigil_model::{Container, Finding, RawEvent, Severity, Source};

/// Extra ECS context a wrapper carried next to the alert (FireLens/Fluent Bit: `ecs_task_arn`,
/// `ecs_cluster`, `container_id`). It describes the container that *wrote* the alert, which is
/// Falco's own: its task is the alert's only when the alert is about that container or names none
/// (Falco beside the workload, as on Fargate). A Falco daemon on an EC2 host alerting on another
/// container shares only the cluster; taking its task would point remediation at Falco itself. A
/// host-level alert (`container.id` `host`) is not the logger's either: on an EC2 host the daemon's
/// task is not the host.
#[derive(Default)]
pub struct WrapperContext {
    /// The logger's ECS task ARN (FireLens `ecs_task_arn`).
    pub task_arn: Option<String>,
    /// The logger's ECS cluster, name or ARN (FireLens `ecs_cluster`).
    pub cluster: Option<String>,
    /// The logger's container runtime id (FireLens `container_id`, 64 hex).
    pub container_id: Option<String>,
}

impl WrapperContext {
    /// Whether the wrapper's task is the task of the alert's container (`container.id`).
    fn task_applies_to(&self, alert_container: Option<&str>) -> bool {
        match alert_container.map(str::trim) {
            None | Some("") => true,
            Some(id) => self.container_id.as_deref().is_some_and(|logger| {
                // Falco prints the 12-character short id; FireLens the full 64.
                let (short, long) = if id.len() <= logger.len() {
                    (id, logger)
                } else {
                    (logger, id)
                };
                short.len() >= 12 && long.starts_with(short)
            }),
        }
    }
}

/// Whether `o` has the shape of a Falco alert: `rule` and one of `priority`, `output_fields`, `output`.
pub fn looks_like_falco(o: &Obj<'_>) -> bool {
    o.has("rule") && (o.has("priority") || o.has("output_fields") || o.has("output"))
}

/// A Falco alert: a finding, or Falco's own status event (`Falco internal: …`), which is telemetry.
pub fn parse(
    alert: &Obj<'_>,
    envelope: Option<&Envelope<'_>>,
    wrapper: &WrapperContext,
    ctx: &ParseContext,
    raw: RawEvent,
) -> Result<SourceEvent, AdapterError> {
    if agent_status::is_falco_internal(alert) {
        return agent_status::parse(alert, envelope, wrapper, ctx).map(SourceEvent::AgentStatus);
    }
    parse_finding(alert, envelope, wrapper, ctx, raw)
}

fn parse_finding(
    alert: &Obj<'_>,
    envelope: Option<&Envelope<'_>>,
    wrapper: &WrapperContext,
    ctx: &ParseContext,
    raw: RawEvent,
) -> Result<SourceEvent, AdapterError> {
    let rule = clean(alert.req_str("rule")?, 512, false);
    if rule.is_empty() {
        return Err(alert.missing("rule"));
    }
    let priority = alert.req_str("priority")?;
    let severity = Severity::from_falco_priority(priority).ok_or_else(|| {
        alert.invalid(
            "priority",
            format!(
                "unknown Falco priority {} (expected Emergency, Alert, Critical, Error, Warning, Notice, Informational/Info or Debug)",
                crate::quote(priority)
            ),
        )
    })?;

    let of = alert.obj("output_fields")?;
    let f = FieldMap(of.as_ref().map(|o| o.map));

    // Falco's `time` has nanoseconds; the event's own time fields are the same instant when `time`
    // is absent: `evt.time` is integer nanoseconds in JSON output (a time of day in text output,
    // which says no date and is skipped), `evt.rawtime` always nanoseconds, `evt.time.iso8601` and
    // `evt.datetime` text or, from some forwarders, integers. Integers are read exactly.
    let observed_at = match alert.time("time")? {
        Some(t) => t,
        None => match of.as_ref().and_then(|o| {
            [
                "evt.time",
                "evt.rawtime",
                "evt.time.iso8601",
                "evt.datetime",
            ]
            .into_iter()
            .find_map(|k| o.time(k).ok().flatten())
        }) {
            Some(t) => t,
            None => envelope
                .and_then(|e| e.time)
                .ok_or_else(|| alert.missing("time"))?,
        },
    };

    let mut finding = Finding::new(
        Source::Falco,
        rule.clone(),
        rule,
        severity,
        observed_at,
        raw,
    );
    finding.description = fields::known(alert.str("output")?, 4096);
    finding.source_event_id =
        fields::known(alert.str("uuid")?, 128).or_else(|| envelope.and_then(|e| e.id_owned()));
    finding.provenance.producer_id = fields::producer_id(alert.str("uuid")?);
    finding.subject = subject::subject(alert.str("source")?, &f);
    finding.tags = fields::clean_tags(&alert.strs("tags")?);
    finding.mitre = fields::mitre_from_tags(&finding.tags);

    let labels = f.ecs_labels();
    let task_arn_text = labels.task_arn.or_else(|| {
        wrapper
            .task_applies_to(f.get("container.id").as_deref())
            .then_some(wrapper.task_arn.as_deref()?)
            .map(Cow::Borrowed)
    });
    let task = task_arn_text.as_deref().and_then(TaskArn::parse);
    finding.account = envelope
        .and_then(|e| e.account_owned())
        .or_else(|| task.as_ref().map(|t| t.account.to_owned()))
        .or_else(|| ctx.default_account.clone());
    finding.region = envelope
        .and_then(|e| e.region_owned())
        .or_else(|| task.as_ref().map(|t| t.region.to_owned()))
        .or_else(|| ctx.default_region.clone());

    let r = &mut finding.resource;
    r.task_arn = task
        .as_ref()
        .map(|_| task_arn_text.as_deref().unwrap_or_default().to_owned());
    let cluster = labels
        .cluster
        .or_else(|| wrapper.cluster.as_deref().map(Cow::Borrowed));
    r.cluster_arn = resolve_cluster(
        cluster.as_deref(),
        task.as_ref(),
        finding.account.as_deref(),
        finding.region.as_deref(),
    );
    r.task_definition_family = clean_opt(labels.family.as_deref(), 255);
    r.task_definition_revision = clean_opt(labels.revision.as_deref(), 16);
    r.host = fields::known(alert.str("hostname")?, 255)
        .or_else(|| clean_opt(f.get("evt.hostname").as_deref(), 255));
    r.container = container(&f, labels.container_name);

    finding.process = f.process();
    finding.network = f.network(f.get("evt.type").as_deref());
    if !finding.subject.is_workload() {
        // A plugin's alert is about an account, a Kubernetes object or an identity: whatever
        // container labels or host it carries are the Falco collector's, never the subject's.
        finding.resource = Default::default();
        finding.process = None;
        finding.network = None;
    }
    // Sealed by the caller, once the provenance is stamped. Wrapped here, as it is returned: a
    // `Finding` is large, and each wrapping on the way out would be another copy.
    Ok(SourceEvent::Finding(finding))
}

/// The alert's container; `ecs_name` is its [`fields::LABEL_CONTAINER_NAME`] label.
fn container<'a>(f: &FieldMap<'a>, ecs_name: Option<Cow<'a, str>>) -> Container {
    // `container.id` `host` is Falco's word for an event outside any container: the host itself,
    // whose `container.name` is `host` too.
    let host_level = f
        .get_any(&["container.id", "container.full_id"])
        .is_some_and(|id| id.eq_ignore_ascii_case("host"));
    if host_level {
        return Container::default();
    }
    let id = f.get_any(&["container.full_id", "container.id"]);
    let image = f.get("container.image").or_else(|| f.image_from_parts());
    Container {
        // The ECS label is the task definition's container name; `container.name` is Docker's
        // generated one (`ecs-family-1-app-…`) on EC2.
        name: fields::clean_field(ecs_name.or_else(|| f.get("container.name")), 255),
        id: fields::clean_field(id, 128),
        image: fields::clean_field(image, 512),
        image_digest: fields::clean_field(f.get("container.image.digest"), 128),
        privileged: f.get("container.privileged").map(|p| p == "true"),
    }
}
