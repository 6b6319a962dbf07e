//! Sysdig Secure runtime policy events, in the event-forwarding shape (`type: policy`, nanosecond
//! `timestamp`, `labels`) and the newer Events API shape (`content.type: workloadRuntimeDetection`).
//! ECS context comes from `labels` (the agent's defaults: `aws.fargate.task.arn`,
//! `aws.fargate.cluster.arn`, `aws.accountId`, `aws.region`, `container.image.repo`/`tag`/`digest`,
//! `container.label.<docker label>`; older `ecs.*` and `cloudProvider.*` forms) and the
//! Falco-style `content.fields`.

use crate::arn::{TaskArn, resolve_cluster};
use crate::envelope::Envelope;
use crate::fields::{self, FieldMap};
use crate::json::Obj;
use crate::{AdapterError, ParseContext};
use std::borrow::Cow;
use vigil_model::text::clean_opt;
use vigil_model::{Finding, RawEvent, Severity, Source, SubjectKind};

/// Whether `o` has the shape of a Sysdig Secure event: `content`, `severity` and one of
/// `originator`, `labels`, `category`.
pub fn looks_like_sysdig(o: &Obj<'_>) -> bool {
    o.has("content")
        && o.has("severity")
        && (o.has("originator") || o.has("labels") || o.has("category"))
}

/// Reads a Sysdig Secure runtime event (its `content.fields` read as Falco fields).
///
/// Fails when a required field is missing or a field has the wrong JSON type.
pub fn parse(
    e: &Obj<'_>,
    envelope: Option<&Envelope<'_>>,
    ctx: &ParseContext,
    raw: RawEvent,
) -> Result<Finding, AdapterError> {
    let content = e.obj("content")?;
    let rule_name = match &content {
        Some(c) => c.str("ruleName")?,
        None => None,
    };
    let policy_name = e.str("name")?;
    let rule = rule_name
        .or(policy_name)
        .and_then(|r| clean_opt(Some(r), 512))
        .ok_or_else(|| e.missing("content.ruleName"))?;
    let level = e.int("severity")?.ok_or_else(|| e.missing("severity"))?;
    let severity = u8::try_from(level)
        .ok()
        .and_then(Severity::from_sysdig)
        .ok_or_else(|| e.invalid("severity", format!("{level} is outside Sysdig's 0–7 scale")))?;

    // `timestamp` is integer nanoseconds (microseconds in some API versions; from_epoch tells by size).
    let observed_at = match e.time("timestampRFC3339Nano")? {
        Some(t) => t,
        None => match e.time("timestamp")? {
            Some(t) => t,
            None => envelope
                .and_then(|env| env.time)
                .ok_or_else(|| e.missing("timestamp"))?,
        },
    };

    let title = clean_opt(policy_name, 512).unwrap_or_else(|| rule.clone());
    let mut finding = Finding::new(Source::Sysdig, rule, title, severity, observed_at, raw);
    let output = match &content {
        Some(c) => c.str("output")?,
        None => None,
    };
    finding.description =
        fields::known(output, 4096).or(fields::known(e.str("description")?, 4096));
    finding.source_event_id = fields::known(e.text("id")?.as_deref(), 128);
    finding.provenance.producer_id = fields::producer_id(e.text("id")?.as_deref());
    finding.tags = match &content {
        Some(c) => fields::clean_tags(&c.strs("ruleTags")?),
        None => Vec::new(),
    };
    finding.mitre = fields::mitre_from_tags(&finding.tags);

    let labels = e.obj("labels")?;
    let label = |keys: &[&str]| -> Option<Cow<'_, str>> {
        let l = labels.as_ref()?;
        keys.iter().find_map(|k| FieldMap(Some(l.map)).get(k))
    };
    let field_map = match &content {
        Some(c) => c.obj("fields")?,
        None => None,
    };
    let f = FieldMap(field_map.as_ref().map(|o| o.map));
    // The stream the detection came from: `source` (forwarding: `syscall`, `awscloudtrail`,
    // `k8s_audit`, `gcp_auditlog`, …), else the Events API's `content.source` or `content.type`
    // (`workloadRuntimeDetection`, `cloudtrail…`), else the fields' own prefixes.
    let content_text = |k: &str| -> Result<Option<&str>, AdapterError> {
        match &content {
            Some(c) => c.str(k),
            None => Ok(None),
        }
    };
    let named_source = e
        .str("source")?
        .filter(|s| !fields::is_unknown(s))
        .or(content_text("source")?.filter(|s| !fields::is_unknown(s)))
        .or(content_text("type")?.filter(|t| {
            crate::subject::kind_of_source(t).is_some_and(|k| k != SubjectKind::Other)
        }));
    finding.subject = crate::subject::subject(named_source, &f);

    let task_arn_text = label(&[
        "aws.fargate.task.arn",
        "container.label.com.amazonaws.ecs.task-arn",
        "ecs.taskArn",
        "aws.ecs.taskArn",
        "ecs.task.arn",
    ])
    .or_else(|| f.label(fields::LABEL_TASK_ARN));
    let task = task_arn_text.as_deref().and_then(TaskArn::parse);
    finding.account = envelope
        .and_then(|env| env.account_owned())
        .or_else(|| {
            clean_opt(
                label(&["aws.accountId", "cloudProvider.account.id"]).as_deref(),
                32,
            )
        })
        .or_else(|| task.as_ref().map(|t| t.account.to_owned()))
        .or_else(|| ctx.default_account.clone());
    finding.region = envelope
        .and_then(|env| env.region_owned())
        .or_else(|| {
            clean_opt(
                label(&["aws.region", "cloudProvider.region"]).as_deref(),
                32,
            )
        })
        .or_else(|| task.as_ref().map(|t| t.region.to_owned()))
        .or_else(|| ctx.default_region.clone());

    let r = &mut finding.resource;
    r.task_arn = task
        .as_ref()
        .and(task_arn_text.as_deref().map(str::to_owned));
    let cluster = label(&[
        "aws.fargate.cluster.arn",
        "container.label.com.amazonaws.ecs.cluster",
        "ecs.clusterArn",
        "ecs.clusterName",
        "aws.ecs.cluster.name",
    ])
    .or_else(|| f.label(fields::LABEL_CLUSTER));
    r.cluster_arn = resolve_cluster(
        cluster.as_deref(),
        task.as_ref(),
        finding.account.as_deref(),
        finding.region.as_deref(),
    );
    r.service_name = clean_opt(
        label(&["ecs.serviceName", "aws.ecs.service.name"]).as_deref(),
        255,
    );
    r.task_definition_family = clean_opt(
        label(&[
            "container.label.com.amazonaws.ecs.task-definition-family",
            "ecs.taskFamilyName",
            "aws.ecs.task.family",
        ])
        .or_else(|| f.label(fields::LABEL_FAMILY))
        .as_deref(),
        255,
    );
    r.host = clean_opt(label(&["host.hostName", "host.hostname"]).as_deref(), 255);

    let c = &mut r.container;
    c.id = fields::known(e.text("containerId")?.as_deref(), 128)
        .or_else(|| clean_opt(f.get("container.id").as_deref(), 128));
    c.name = clean_opt(
        f.label(fields::LABEL_CONTAINER_NAME)
            .or_else(|| label(&["container.label.com.amazonaws.ecs.container-name"]))
            .or_else(|| label(&["container.name"]))
            .or_else(|| f.get("container.name"))
            .as_deref(),
        255,
    );
    // The repository and tag come apart in both places; `container.image` is the whole reference.
    let image = label(&["container.image.repo"])
        .map(|repo| fields::with_tag(repo, label(&["container.image.tag"])))
        .or_else(|| label(&["container.image"]))
        .or_else(|| f.image_from_parts());
    c.image = clean_opt(image.as_deref(), 512);
    c.image_digest = clean_opt(
        f.get("container.image.digest")
            .or_else(|| label(&["container.image.digest"]))
            .as_deref(),
        128,
    );

    // `host` as the container id is an event on the host itself, outside any container.
    if c.id
        .as_deref()
        .is_some_and(|id| id.eq_ignore_ascii_case("host"))
    {
        *c = Default::default();
    }

    finding.process = f.process();
    finding.network = f.network(f.get("evt.type").as_deref());
    if !finding.subject.is_workload() {
        // A cloud, Kubernetes audit or SaaS detection is about an account or identity: the labels
        // Sysdig attached describe where it was collected, not a workload to remediate.
        finding.resource = Default::default();
        finding.process = None;
        finding.network = None;
    }
    // Sealed by the caller, once the provenance is stamped.
    Ok(finding)
}
