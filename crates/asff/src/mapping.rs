//! Finding → ASFF. Strings are cleaned again here even though the adapters cleaned them: a Finding
//! can also arrive from the bus, where anything may be forged.

use crate::limits::*;
use crate::model::*;
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::BTreeMap;
use std::net::IpAddr;
use vigil_model::text::clean;
use vigil_model::{Enrichment, Finding, NetworkDirection, SeverityLabel, SubjectKind, TaskInfo};

/// Why a finding cannot be an ASFF record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsffError {
    /// The finding names no AWS account (`AwsAccountId` is required).
    MissingAccount,
    /// The account is not 12 digits: the value found.
    InvalidAccount(String),
    /// The finding names no region (`Region` is required).
    MissingRegion,
    /// The record is over [`MAX_FINDING_BYTES`] even after trimming: its size in bytes.
    TooLarge(usize),
}

impl std::error::Error for AsffError {}

impl std::fmt::Display for AsffError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AsffError::MissingAccount => {
                f.write_str("account: unknown; Security Hub needs the AWS account id")
            }
            AsffError::InvalidAccount(a) => {
                write!(f, "account: {a:?} is not a 12-digit AWS account id")
            }
            AsffError::MissingRegion => {
                f.write_str("region: unknown; Security Hub needs the region")
            }
            AsffError::TooLarge(n) => {
                write!(
                    f,
                    "$: ASFF finding is {n} bytes even after trimming, over the {MAX_FINDING_BYTES}-byte limit"
                )
            }
        }
    }
}

/// What the mapping needs besides the finding.
#[derive(Debug, Clone)]
pub struct MappingContext {
    /// `UpdatedAt`: Security Hub keeps the record with the latest value, so this must be the time of
    /// the import, not of the event.
    pub now: DateTime<Utc>,
}

/// What Vigil already told Security Hub about the finding, from the dedup record (carried in the
/// `Finding Accepted` event's `DedupSummary`). Empty for a finding mapped on its own (`vigil asff`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct History {
    /// The highest normalized severity counted for the fingerprint: the record's `Severity` is never
    /// lower, so a later, less severe occurrence cannot lower what an earlier one raised.
    pub highest_severity: Option<u8>,
    /// The `UpdatedAt` of the last import confirmed for the fingerprint.
    pub last_update: Option<DateTime<Utc>>,
}

impl History {
    /// The history a `Finding Accepted` event's dedup summary carries.
    pub fn of(dedup: &vigil_contract::DedupSummary) -> Self {
        History {
            highest_severity: dedup.highest_severity,
            last_update: dedup.last_update,
        }
    }
}

/// The product ARN Security Hub assigns to an account's own findings.
pub fn product_arn(partition: &str, region: &str, account: &str) -> String {
    format!("arn:{partition}:securityhub:{region}:{account}:product/{account}/default")
}

/// Where Vigil imports a finding in Security Hub: its `Id` and its account's and region's product.
/// Computed from the finding alone, never taken from a message.
pub fn securityhub_ref(finding: &Finding, imported: bool) -> vigil_contract::SecurityHubRef {
    let region = finding.region.as_deref().unwrap_or_default();
    vigil_contract::SecurityHubRef {
        id: finding_id(finding),
        product_arn: product_arn(
            vigil_model::partition_of(region),
            region,
            finding.account.as_deref().unwrap_or_default(),
        ),
        imported,
        import_error: None,
    }
}

/// GuardDuty's own Security Hub finding for a GuardDuty finding (`Id` = the GuardDuty finding ARN,
/// product `aws/guardduty`), read from the event ingest kept, when it shows it: `(Id, ProductArn)`.
/// The ARN must be a GuardDuty finding ARN of the finding's own account. Nothing binds it to the
/// finding's fingerprint: whoever trusts it must check it against what ingest recorded.
pub fn guardduty_ref(finding: &Finding) -> Option<(String, String)> {
    if finding.source != vigil_model::Source::Guardduty {
        return None;
    }
    let raw = finding.raw.event.get();
    let arn = match serde_json::from_str::<serde_json::Value>(raw).ok()? {
        serde_json::Value::Object(o) => o
            .get("detail")
            .and_then(|d| d.get("arn"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)?,
        // Truncated: the prefix kept still carries the finding's ARN near its start.
        serde_json::Value::String(prefix) => {
            let at = prefix.find(":guardduty:")?;
            let start = prefix[..at].rfind('"')? + 1;
            let end = at + prefix[at..].find('"')?;
            prefix[start..end].to_owned()
        }
        _ => return None,
    };
    let parts: Vec<&str> = arn.split(':').collect();
    let ok = arn.len() <= 512
        && parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "guardduty"
        && parts[5].contains("/finding/")
        && finding.account.as_deref() == Some(parts[4]);
    ok.then(|| {
        let (partition, region) = (parts[1], parts[3]);
        let product = format!("arn:{partition}:securityhub:{region}::product/aws/guardduty");
        (arn.clone(), product)
    })
}

/// The ASFF `Id` of a finding: derived from the fingerprint, so repeats update one record.
pub fn finding_id(finding: &Finding) -> String {
    let id = format!("vigil-{}", finding.fingerprint);
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'))
        .take(MAX_ID)
        .collect()
}

/// The ASFF record of `finding` alone (no enrichment, no history).
///
/// Fails when the finding has no valid account or region, or the record cannot be trimmed under
/// [`MAX_FINDING_BYTES`].
pub fn to_asff(finding: &Finding, ctx: &MappingContext) -> Result<AsffFinding, AsffError> {
    to_asff_enriched(finding, None, ctx)
}

/// Like [`to_asff`], with what ECS enrichment learned: service and task definition resources, task and
/// service tags, image digests and the offending container's hardening.
pub fn to_asff_enriched(
    finding: &Finding,
    enrichment: Option<&Enrichment>,
    ctx: &MappingContext,
) -> Result<AsffFinding, AsffError> {
    to_asff_with_history(finding, enrichment, ctx, &History::default())
}

/// Like [`to_asff_enriched`], for a finding Security Hub may already have from Vigil.
///
/// `UpdatedAt` is the latest of the import time (`ctx.now`), the finding's `LastObservedAt` and the
/// last confirmed import's `UpdatedAt`: Security Hub keeps the record with the latest `UpdatedAt`, so
/// an import must never carry an older one than the last, nor one older than what it reports
/// observed. The observed times are bounded where they are read (ingest clamps times more than five
/// minutes after receipt), so this maximum cannot be pushed far ahead and freeze the finding; and
/// `CreatedAt` = `FirstObservedAt` ≤ `LastObservedAt` ≤ `UpdatedAt` always holds. The last
/// confirmed `UpdatedAt` covers clock differences between instances and an `UpdatedAt` a skewed
/// `LastObservedAt` moved ahead of the clock; two imports in flight at once are ordered by their own
/// clocks, which Security Hub resolves by keeping the later one.
///
/// `Severity` is the occurrence's, raised to `history.highest_severity` when that is higher (the
/// label then the one whose band holds it; `Original` stays the occurrence's own).
pub fn to_asff_with_history(
    finding: &Finding,
    enrichment: Option<&Enrichment>,
    ctx: &MappingContext,
    history: &History,
) -> Result<AsffFinding, AsffError> {
    let account = finding
        .account
        .as_deref()
        .ok_or(AsffError::MissingAccount)?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AsffError::InvalidAccount(clean(account, 32, false)));
    }
    let region = clean(
        finding.region.as_deref().ok_or(AsffError::MissingRegion)?,
        32,
        false,
    );
    if region.is_empty() {
        return Err(AsffError::MissingRegion);
    }
    let partition = vigil_model::partition_of(&region);

    let first = finding.first_observed_at.min(finding.observed_at);
    let last = finding.last_observed_at.max(finding.observed_at);
    let updated = ctx
        .now
        .max(last)
        .max(history.last_update.unwrap_or(ctx.now));
    let (label, normalized) = {
        let own = finding.severity.label;
        let (lo, hi) = own.band();
        let own_normalized = finding.severity.normalized.clamp(lo, hi);
        match history.highest_severity.map(|h| h.min(100)) {
            Some(h) if h > own_normalized => (SeverityLabel::from_normalized(h), h),
            _ => (own, own_normalized),
        }
    };

    let title = clean(&finding.title, MAX_TITLE, false);
    let title = if title.is_empty() {
        clean(&finding.rule, MAX_TITLE, false)
    } else {
        title
    };
    let description = finding
        .description
        .as_deref()
        .map(|d| clean(d, MAX_DESCRIPTION, true))
        .unwrap_or_default();
    let description = if description.is_empty() {
        title.clone()
    } else {
        description
    };
    // An attack sequence: what GuardDuty correlated, in a sentence (within the 1024 limit).
    let description = match &finding.sequence {
        Some(seq) => clean(
            &format!("{description} Attack sequence: {}.", seq.summary()),
            MAX_DESCRIPTION,
            true,
        ),
        None => description,
    };

    let mut record = AsffFinding {
        schema_version: SCHEMA_VERSION.to_owned(),
        id: finding_id(finding),
        product_arn: product_arn(partition, &region, account),
        product_name: "Vigil".to_owned(),
        company_name: "Vigil".to_owned(),
        region: region.clone(),
        generator_id: clean(
            &format!("vigil/{}/{}", finding.source, finding.rule),
            MAX_GENERATOR_ID,
            false,
        ),
        aws_account_id: account.to_owned(),
        types: finding_types(finding),
        first_observed_at: ts(first),
        last_observed_at: ts(last),
        created_at: ts(first),
        updated_at: ts(updated),
        severity: AsffSeverity {
            label: label.as_str().to_owned(),
            normalized,
            original: {
                let o = clean(&finding.severity.original, MAX_SEVERITY_ORIGINAL, false);
                if o.is_empty() {
                    finding.severity.label.as_str().to_owned()
                } else {
                    o
                }
            },
        },
        title,
        description,
        product_fields: product_fields(finding),
        resources: match &finding.sequence {
            Some(seq) => sequence_resources(seq, partition, &region).0,
            None => resources(
                finding,
                enrichment.and_then(|e| e.task.as_ref()),
                partition,
                &region,
            ),
        },
        process: process(finding),
        network: network(finding),
        record_state: "ACTIVE".to_owned(),
    };
    enforce_size(&mut record)?;
    Ok(record)
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// ASFF `Types` (`namespace/category/classifier`) from the MITRE tactics the source tagged; playbooks
/// match on them too.
pub fn finding_types(finding: &Finding) -> Vec<String> {
    let classifier: String = clean(&finding.rule, 128, false).replace('/', "-");
    let mut out: Vec<String> = Vec::new();
    for tactic in &finding.mitre {
        let category = match tactic.as_str() {
            "initial_access" => "TTPs/Initial Access",
            "execution" => "TTPs/Execution",
            "persistence" => "TTPs/Persistence",
            "privilege_escalation" => "TTPs/Privilege Escalation",
            "defense_evasion" => "TTPs/Defense Evasion",
            "credential_access" => "TTPs/Credential Access",
            "discovery" => "TTPs/Discovery",
            "lateral_movement" => "TTPs/Lateral Movement",
            "collection" => "TTPs/Collection",
            "command_and_control" => "TTPs/Command and Control",
            "exfiltration" => "Effects/Data Exfiltration",
            "impact" => "Effects/Resource Consumption",
            _ => continue,
        };
        let t = if out.is_empty() && !classifier.is_empty() {
            format!("{category}/{classifier}")
        } else {
            category.to_owned()
        };
        if !out.contains(&t) {
            out.push(clean(&t, MAX_TYPE, false));
        }
    }
    if out.is_empty() {
        // ASFF's Unusual Behaviors categories: a container's process, a cloud or SaaS user's
        // calls, a Kubernetes (or other) application's API.
        let category = match finding.subject.kind {
            SubjectKind::Workload => "Unusual Behaviors/Container",
            SubjectKind::Cloud | SubjectKind::Saas => "Unusual Behaviors/User",
            SubjectKind::Kubernetes | SubjectKind::Other => "Unusual Behaviors/Application",
        };
        out.push(if classifier.is_empty() {
            category.to_owned()
        } else {
            clean(&format!("{category}/{classifier}"), MAX_TYPE, false)
        });
    }
    out.truncate(MAX_TYPES);
    out
}

fn product_fields(finding: &Finding) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v
            .map(|v| clean(v, MAX_PRODUCT_FIELD_VALUE, false))
            .filter(|v| !v.is_empty())
            && fields.len() < MAX_PRODUCT_FIELDS
        {
            fields.insert(format!("vigil/{k}"), v);
        }
    };
    let r = &finding.resource;
    put("Source", Some(finding.source.as_str()));
    put("Rule", Some(&finding.rule));
    put("Fingerprint", Some(finding.fingerprint.as_str()));
    put("Count", Some(&finding.count.to_string()));
    put("SourceEventId", finding.source_event_id.as_deref());
    // Who sent it, and whether its story holds: analysts see why remediation refused it.
    put("Arrival", Some(finding.provenance.arrival.as_str()));
    put(
        "SenderAccount",
        finding.provenance.sender_account.as_deref(),
    );
    if !finding.identity_conflicts.is_empty() {
        put(
            "IdentityMismatch",
            Some(&finding.identity_conflicts.join("; ")),
        );
    }
    // Observed times the event put too far in the future, clamped at ingest to the receive time.
    if let Some(clamp) = &finding.time_clamped {
        put(
            "TimeClamped",
            Some(&format!(
                "observed {} claimed, after receipt at {}; clamped to receipt",
                ts(clamp.claimed),
                ts(clamp.received_at)
            )),
        );
    }
    put("Host", r.host.as_deref());
    let subject = &finding.subject;
    if !subject.is_workload() {
        put("Subject", Some(subject.kind.as_str()));
        put("EventSource", subject.event_source.as_deref());
        put("SubjectUser", subject.user.as_deref());
        put("SubjectAccount", subject.account.as_deref());
        put("SubjectSourceIp", subject.source_ip.as_deref());
        put("SubjectAction", subject.action.as_deref());
        put("SubjectTarget", subject.target.as_deref());
    }
    put("Service", r.service_name.as_deref());
    put("TaskDefinitionFamily", r.task_definition_family.as_deref());
    put("ContainerImage", r.container.image.as_deref());
    put("ContainerImageDigest", r.container.image_digest.as_deref());
    put(
        "CommandLine",
        finding
            .process
            .as_ref()
            .and_then(|p| p.command_line.as_deref()),
    );
    put(
        "User",
        finding.process.as_ref().and_then(|p| p.user.as_deref()),
    );
    put(
        "ExecutableSha256",
        finding
            .process
            .as_ref()
            .and_then(|p| p.executable_sha256.as_deref()),
    );
    put(
        "Connection",
        finding
            .network
            .as_ref()
            .and_then(|n| n.connection.as_deref()),
    );
    if let Some(seq) = &finding.sequence {
        put("SequenceUid", Some(&seq.uid));
        put("SequenceSummary", Some(&seq.summary()));
        let signals = &seq.signals;
        put(
            "SequenceSignalTypes",
            Some(
                &signals
                    .types
                    .iter()
                    .map(|(t, n)| format!("{t}={n}"))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        );
        put(
            "SequenceSignals",
            Some(
                &signals
                    .kept
                    .iter()
                    .map(|b| format!("{} (x{})", b.name, b.count))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        );
        put("SequenceFirstSeen", signals.first_seen.map(ts).as_deref());
        put("SequenceLastSeen", signals.last_seen.map(ts).as_deref());
        put(
            "SequenceIndicators",
            Some(
                &seq.indicators
                    .iter()
                    .map(|i| format!("{}={}", i.key, i.values.join("|")))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        );
        put("SequenceActors", Some(&seq.actor_count.to_string()));
        put("SequenceEndpoints", Some(&seq.endpoints.join(",")));
        put(
            "SequenceTasks",
            Some(&(seq.tasks.len() as u64 + seq.tasks_dropped).to_string()),
        );
        // Which region does not matter for counting: only the numbers are used here.
        let (_, listed, named) = sequence_resources(seq, "aws", "");
        if listed < named {
            put(
                "ResourcesTruncated",
                Some(&format!(
                    "{listed} of {named} named resources listed (Security Hub takes at most {MAX_RESOURCES}): the cluster first, then tasks, then containers"
                )),
            );
        }
    }
    if !finding.mitre.is_empty() {
        put("Mitre", Some(&finding.mitre.join(",")));
    }
    if !finding.tags.is_empty() {
        put("Tags", Some(&finding.tags.join(",")));
    }
    fields
}

fn resources(
    finding: &Finding,
    task_info: Option<&TaskInfo>,
    partition: &str,
    region: &str,
) -> Vec<AsffResource> {
    if !finding.subject.is_workload() {
        return subject_resources(finding, partition, region);
    }
    let r = &finding.resource;
    let text = |v: &str| serde_json::Value::from(clean(v, MAX_GENERIC_STRING, false));
    let arn = |v: &str| serde_json::Value::from(clean(v, MAX_RESOURCE_ID, false));
    let resource = |resource_type: &str,
                    id: &str,
                    tags: &BTreeMap<String, String>,
                    details: Option<serde_json::Value>| {
        AsffResource {
            resource_type: resource_type.to_owned(),
            id: clean(id, MAX_RESOURCE_ID, false),
            partition: partition.to_owned(),
            region: region.to_owned(),
            tags: resource_tags(tags),
            details,
        }
    };
    let no_tags = BTreeMap::new();
    let mut out = Vec::new();

    // Enrichment may have found the task through the container's runtime id: prefer what it learned.
    let task_arn = task_info
        .map(|t| t.task_arn.as_str())
        .or(r.task_arn.as_deref());
    let cluster_arn = task_info
        .map(|t| t.cluster_arn.as_str())
        .or(r.cluster_arn.as_deref());
    let task_definition_arn = task_info
        .and_then(|t| t.task_definition_arn.clone())
        .or_else(|| {
            let (family, revision) = (
                r.task_definition_family.as_ref()?,
                r.task_definition_revision.as_ref()?,
            );
            let prefix = task_arn?
                .split(":task/")
                .next()
                .filter(|p| p.starts_with("arn:"))?;
            Some(format!("{prefix}:task-definition/{family}:{revision}"))
        });
    let service_name = task_info
        .and_then(|t| t.service_name.as_deref())
        .or(r.service_name.as_deref());

    if let Some(task) = task_arn {
        let mut details = serde_json::Map::new();
        if let Some(c) = cluster_arn {
            details.insert("ClusterArn".into(), arn(c));
        }
        if let Some(td) = &task_definition_arn {
            details.insert("TaskDefinitionArn".into(), arn(td));
        }
        let group = task_info
            .and_then(|t| t.group.clone())
            .or_else(|| service_name.map(|s| format!("service:{s}")));
        if let Some(g) = group {
            details.insert("Group".into(), text(&g));
        }
        if let Some(by) = task_info.and_then(|t| t.started_by.as_deref()) {
            details.insert("StartedBy".into(), text(by));
        }
        let tags = task_info.map_or(&no_tags, |t| &t.tags);
        out.push(resource(
            "AwsEcsTask",
            task,
            tags,
            Some(serde_json::json!({ "AwsEcsTask": details })),
        ));
    }
    if let Some(cluster) = cluster_arn {
        let name = cluster.rsplit('/').next().unwrap_or(cluster);
        let details = serde_json::json!({ "AwsEcsCluster": { "ClusterArn": arn(cluster), "ClusterName": text(name) } });
        out.push(resource("AwsEcsCluster", cluster, &no_tags, Some(details)));
    }
    if let Some(t) = task_info {
        if let Some(name) = &t.service_name {
            let id = t.service_arn.clone().unwrap_or_else(|| name.clone());
            let mut details = serde_json::Map::from_iter([("Name".to_owned(), text(name))]);
            details.insert("Cluster".into(), arn(&t.cluster_arn));
            if let Some(td) = &t.task_definition_arn {
                details.insert("TaskDefinition".into(), arn(td));
            }
            if let Some(service_arn) = &t.service_arn {
                details.insert("ServiceArn".into(), arn(service_arn));
            }
            out.push(resource(
                "AwsEcsService",
                &id,
                &t.service_tags,
                Some(serde_json::json!({ "AwsEcsService": details })),
            ));
        }
        if let Some(td) = &t.task_definition_arn {
            let mut details = serde_json::Map::new();
            if let Some(f) = &t.task_definition_family {
                details.insert("Family".into(), text(f));
            }
            if let Some(role) = &t.task_role_arn {
                details.insert("TaskRoleArn".into(), arn(role));
            }
            let definitions: Vec<serde_json::Value> = t
                .containers
                .iter()
                .take(MAX_RESOURCES)
                .map(|c| {
                    let mut d = serde_json::Map::from_iter([("Name".to_owned(), text(&c.name))]);
                    if let Some(i) = &c.image {
                        d.insert("Image".into(), text(i));
                    }
                    if let Some(p) = c.privileged {
                        d.insert("Privileged".into(), p.into());
                    }
                    if let Some(ro) = c.readonly_root_filesystem {
                        d.insert("ReadonlyRootFilesystem".into(), ro.into());
                    }
                    if let Some(u) = &c.user {
                        d.insert("User".into(), text(u));
                    }
                    serde_json::Value::Object(d)
                })
                .collect();
            details.insert("ContainerDefinitions".into(), definitions.into());
            out.push(resource(
                "AwsEcsTaskDefinition",
                td,
                &no_tags,
                Some(serde_json::json!({ "AwsEcsTaskDefinition": details })),
            ));
        }
    }

    let c = &r.container;
    let offending = task_info.and_then(TaskInfo::offending);
    let name = offending.map(|o| o.name.as_str()).or(c.name.as_deref());
    let image = offending
        .and_then(|o| o.image.as_deref())
        .or(c.image.as_deref());
    let digest = offending
        .and_then(|o| o.image_digest.as_deref())
        .or(c.image_digest.as_deref());
    let privileged = offending.and_then(|o| o.privileged).or(c.privileged);
    let id = offending
        .and_then(|o| o.runtime_id.as_deref())
        .or(c.id.as_deref())
        .or(name)
        .or(image);
    if let Some(id) = id {
        let mut details = serde_json::Map::new();
        if let Some(n) = name {
            details.insert("Name".into(), text(n));
        }
        if let Some(i) = image {
            details.insert("ImageName".into(), text(i));
        }
        if let Some(d) = digest {
            details.insert("ImageId".into(), text(d));
        }
        if let Some(p) = privileged {
            details.insert("Privileged".into(), p.into());
        }
        out.push(resource(
            "Container",
            id,
            &no_tags,
            Some(serde_json::json!({ "Container": details })),
        ));
    }
    if out.is_empty() {
        // ASFF needs at least one resource; with nothing known, name the host (or say so).
        let id = r.host.as_deref().unwrap_or("unknown-workload");
        out.push(resource("Other", id, &no_tags, None));
    }
    out.truncate(MAX_RESOURCES);
    out
}

/// An attack sequence's resources, within ASFF's [`MAX_RESOURCES`]: its clusters first, then its
/// tasks, then their containers (and the containers no task lists). Returns them with how many
/// were listed and how many the sequence names (tasks and containers dropped by the model's own
/// bounds included), so a truncation can be noted.
pub fn sequence_resources(
    seq: &vigil_model::AttackSequence,
    partition: &str,
    region: &str,
) -> (Vec<AsffResource>, usize, usize) {
    let text = |v: &str| serde_json::Value::from(clean(v, MAX_GENERIC_STRING, false));
    let arn = |v: &str| serde_json::Value::from(clean(v, MAX_RESOURCE_ID, false));
    let resource = |resource_type: &str, id: &str, details: serde_json::Value| AsffResource {
        resource_type: resource_type.to_owned(),
        id: clean(id, MAX_RESOURCE_ID, false),
        partition: partition.to_owned(),
        region: region.to_owned(),
        tags: BTreeMap::new(),
        details: Some(details),
    };
    let mut all = Vec::new();
    for c in &seq.clusters {
        let name = c.rsplit('/').next().unwrap_or(c);
        all.push(resource(
            "AwsEcsCluster",
            c,
            serde_json::json!({ "AwsEcsCluster": { "ClusterArn": arn(c), "ClusterName": text(name) } }),
        ));
    }
    for t in &seq.tasks {
        let mut details = serde_json::Map::new();
        if let Some(c) = &t.cluster_arn {
            details.insert("ClusterArn".into(), arn(c));
        }
        if let Some(td) = &t.task_definition_arn {
            details.insert("TaskDefinitionArn".into(), arn(td));
        }
        all.push(resource(
            "AwsEcsTask",
            &t.task_arn,
            serde_json::json!({ "AwsEcsTask": details }),
        ));
    }
    let containers = seq
        .tasks
        .iter()
        .flat_map(|t| t.containers.iter())
        .chain(&seq.unattached_containers);
    for c in containers {
        let mut details = serde_json::Map::new();
        if let Some(n) = &c.name {
            details.insert("Name".into(), text(n));
        }
        if let Some(i) = &c.image {
            details.insert("ImageName".into(), text(i));
        }
        if let Some(d) = &c.image_uid {
            details.insert("ImageId".into(), text(d));
        }
        all.push(resource(
            "Container",
            &c.uid,
            serde_json::json!({ "Container": details }),
        ));
    }
    if all.is_empty() {
        // ASFF needs a resource: the sequence names no ECS resource Vigil keeps.
        all.push(resource(
            "Other",
            &format!("guardduty-attack-sequence/{}", seq.uid),
            serde_json::json!({ "Other": { "SequenceUid": text(&seq.uid) } }),
        ));
    }
    let named = all.len() + (seq.tasks_dropped + seq.containers_dropped) as usize;
    all.truncate(MAX_RESOURCES);
    let listed = all.len();
    (all, listed, named)
}

/// The resource of a finding about an account, a Kubernetes object or a SaaS identity (never a
/// container or task): an IAM user by its ARN when CloudTrail names one, otherwise `Other`, named by
/// what the finding is about, with the subject in its details.
fn subject_resources(finding: &Finding, partition: &str, region: &str) -> Vec<AsffResource> {
    let s = &finding.subject;
    let resource = |resource_type: &str, id: &str, details: serde_json::Value| AsffResource {
        resource_type: resource_type.to_owned(),
        id: clean(id, MAX_RESOURCE_ID, false),
        partition: partition.to_owned(),
        region: region.to_owned(),
        tags: BTreeMap::new(),
        details: Some(details),
    };
    let mut other = serde_json::Map::new();
    for (k, v) in [
        ("Kind", Some(s.kind.as_str())),
        ("EventSource", s.event_source.as_deref()),
        ("User", s.user.as_deref()),
        ("UserId", s.user_id.as_deref()),
        ("Account", s.account.as_deref()),
        ("SourceIp", s.source_ip.as_deref()),
        ("Action", s.action.as_deref()),
        ("Target", s.target.as_deref()),
    ] {
        if let Some(v) = v
            .map(|v| clean(v, MAX_OTHER_DETAIL_VALUE, false))
            .filter(|v| !v.is_empty())
        {
            other.insert(k.to_owned(), v.into());
        }
    }
    let iam_user = s.user_id.as_deref().and_then(|arn| {
        let (head, name) = arn.split_once(":user/")?;
        (head.starts_with("arn:") && head.contains(":iam::") && !name.is_empty())
            .then(|| (arn, name.rsplit('/').next().unwrap_or(name)))
    });
    let mut out = Vec::new();
    if s.kind == SubjectKind::Cloud
        && let Some((arn, name)) = iam_user
    {
        out.push(resource(
            "AwsIamUser",
            arn,
            serde_json::json!({ "AwsIamUser": { "UserName": clean(name, MAX_GENERIC_STRING, false) } }),
        ));
    }
    // Named by what it is about: the Kubernetes object, else the acting user (with its account),
    // else the account, else the event source.
    let user = s.user_id.clone().or_else(|| {
        let user = s.user.as_deref()?;
        Some(match s.account.as_deref() {
            Some(a) => format!("{a}/{user}"),
            None => user.to_owned(),
        })
    });
    let id = match s.kind {
        SubjectKind::Kubernetes => s.target.as_ref().map(|t| format!("k8s/{t}")).or(user),
        _ => user.or_else(|| s.target.clone()),
    }
    .or_else(|| s.account.clone())
    .or_else(|| s.event_source.clone())
    .unwrap_or_else(|| s.kind.as_str().to_owned());
    out.push(resource(
        "Other",
        &id,
        serde_json::json!({ "Other": other }),
    ));
    out
}

/// ASFF resource tags: at most 50, keys ≤ 128 and values ≤ 256 characters, AWS-reserved keys dropped.
fn resource_tags(tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    tags.iter()
        .filter(|(k, _)| !k.starts_with("aws:"))
        .take(MAX_RESOURCE_TAGS)
        .map(|(k, v)| {
            (
                clean(k, 128, false),
                clean(v, MAX_RESOURCE_TAG_VALUE, false),
            )
        })
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

fn process(finding: &Finding) -> Option<AsffProcess> {
    let p = finding.process.as_ref()?;
    let proc = AsffProcess {
        name: p
            .name
            .as_deref()
            .map(|n| clean(n, MAX_PROCESS_NAME, false))
            .filter(|n| !n.is_empty()),
        path: p
            .executable_path
            .as_deref()
            .map(|n| clean(n, MAX_PROCESS_PATH, false))
            .filter(|n| !n.is_empty()),
        pid: p
            .pid
            .and_then(|v| i32::try_from(v).ok())
            .filter(|v| *v >= 0),
        parent_pid: p
            .parent_pid
            .and_then(|v| i32::try_from(v).ok())
            .filter(|v| *v >= 0),
    };
    (proc.name.is_some() || proc.path.is_some() || proc.pid.is_some()).then_some(proc)
}

fn network(finding: &Finding) -> Option<AsffNetwork> {
    let n = finding.network.as_ref()?;
    let ip = |s: &Option<String>| s.as_deref().and_then(|s| s.parse::<IpAddr>().ok());
    let (local, remote) = (ip(&n.local_ip), ip(&n.remote_ip));
    // ASFF's Source/Destination are the connection's ends: outbound goes local → remote.
    let inbound = n.direction == Some(NetworkDirection::Inbound);
    let (src, src_port, dst, dst_port) = if inbound {
        (remote, n.remote_port, local, n.local_port)
    } else {
        (local, n.local_port, remote, n.remote_port)
    };
    let v4 = |a: Option<IpAddr>| a.filter(IpAddr::is_ipv4).map(|a| a.to_string());
    let v6 = |a: Option<IpAddr>| a.filter(IpAddr::is_ipv6).map(|a| a.to_string());
    let net = AsffNetwork {
        direction: n.direction.map(|d| {
            if d == NetworkDirection::Inbound {
                "IN"
            } else {
                "OUT"
            }
            .to_owned()
        }),
        protocol: n
            .protocol
            .as_deref()
            .map(|p| clean(p, MAX_NETWORK_PROTOCOL, false))
            .filter(|p| !p.is_empty()),
        source_ip_v4: v4(src),
        source_ip_v6: v6(src),
        source_port: src_port,
        destination_ip_v4: v4(dst),
        destination_ip_v6: v6(dst),
        destination_port: dst_port,
        destination_domain: n
            .domain
            .as_deref()
            .map(|d| clean(d, MAX_NETWORK_DOMAIN, false))
            .filter(|d| !d.is_empty()),
    };
    (net.destination_domain.is_some()
        || net.source_ip_v4.is_some()
        || net.destination_ip_v4.is_some()
        || net.source_ip_v6.is_some()
        || net.destination_ip_v6.is_some())
    .then_some(net)
}

/// Keeps the serialized record within the 240 KB finding limit, shedding optional detail first.
fn enforce_size(record: &mut AsffFinding) -> Result<(), AsffError> {
    // Serializing every record to measure it would cost more than the rest of the mapping; the bound
    // is exact enough, as nearly every record is a few KB against a 240 KB limit.
    if size_upper_bound(record) <= MAX_FINDING_BYTES {
        return Ok(());
    }
    let size = |r: &AsffFinding| serde_json::to_vec(r).map(|v| v.len()).unwrap_or(usize::MAX);
    if size(record) <= MAX_FINDING_BYTES {
        return Ok(());
    }
    record.product_fields.retain(|k, _| {
        matches!(
            k.as_str(),
            "vigil/Source" | "vigil/Rule" | "vigil/Fingerprint" | "vigil/Count"
        )
    });
    record.resources.iter_mut().for_each(|r| r.details = None);
    let n = size(record);
    if n <= MAX_FINDING_BYTES {
        Ok(())
    } else {
        Err(AsffError::TooLarge(n))
    }
}

/// An upper bound of the record's serialized size. Strings were cleaned of control characters, so JSON
/// escaping at most doubles them (`"` and `\\`); every field is charged a generous fixed overhead for
/// its key and punctuation.
pub(crate) fn size_upper_bound(r: &AsffFinding) -> usize {
    const FIELD: usize = 48;
    fn text(s: &str) -> usize {
        2 * s.len() + FIELD
    }
    fn value(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::String(s) => text(s),
            serde_json::Value::Array(items) => FIELD + items.iter().map(value).sum::<usize>(),
            serde_json::Value::Object(map) => {
                FIELD + map.iter().map(|(k, v)| text(k) + value(v)).sum::<usize>()
            }
            _ => FIELD,
        }
    }
    let opt = |s: &Option<String>| s.as_deref().map_or(0, text);
    let strings = [
        &r.schema_version,
        &r.id,
        &r.product_arn,
        &r.product_name,
        &r.company_name,
        &r.region,
        &r.generator_id,
        &r.aws_account_id,
        &r.first_observed_at,
        &r.last_observed_at,
        &r.created_at,
        &r.updated_at,
        &r.title,
        &r.description,
        &r.record_state,
        &r.severity.label,
        &r.severity.original,
    ];
    let mut total = 512 + strings.iter().map(|s| text(s)).sum::<usize>();
    total += r.types.iter().map(|t| text(t)).sum::<usize>();
    total += r
        .product_fields
        .iter()
        .map(|(k, v)| text(k) + text(v))
        .sum::<usize>();
    for res in &r.resources {
        total += 4 * FIELD
            + text(&res.resource_type)
            + text(&res.id)
            + text(&res.partition)
            + text(&res.region);
        total += res
            .tags
            .iter()
            .map(|(k, v)| text(k) + text(v))
            .sum::<usize>();
        total += res.details.as_ref().map_or(0, value);
    }
    if let Some(p) = &r.process {
        total += 4 * FIELD + opt(&p.name) + opt(&p.path);
    }
    if let Some(n) = &r.network {
        total += 9 * FIELD
            + opt(&n.destination_domain)
            + opt(&n.direction)
            + opt(&n.protocol)
            + opt(&n.source_ip_v4)
            + opt(&n.source_ip_v6)
            + opt(&n.destination_ip_v4)
            + opt(&n.destination_ip_v6);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_model::{RawEvent, Severity, Source};

    #[test]
    fn the_size_bound_is_never_below_the_real_size() {
        let now = Utc::now();
        for (title, desc) in [
            ("t", "d"),
            ("\"quoted\" \\ slashes", "é".repeat(2000).as_str()),
            ("x", &"\"".repeat(900)),
        ] {
            let mut f = Finding::new(
                Source::Falco,
                "r".into(),
                title.into(),
                Severity::from_falco_priority("Notice").unwrap(),
                now,
                RawEvent::capture("{}"),
            );
            f.description = Some(desc.to_owned());
            f.account = Some("123456789012".into());
            f.region = Some("us-east-1".into());
            f.resource.task_arn = Some("arn:aws:ecs:us-east-1:123456789012:task/c/t".into());
            f.resource.container.name = Some("\"c\"".into());
            f.tags = vec!["\\".repeat(100); 20];
            let record = to_asff(&f.seal(), &MappingContext { now }).unwrap();
            let actual = serde_json::to_vec(&record).unwrap().len();
            assert!(
                size_upper_bound(&record) >= actual,
                "bound {} < actual {actual}",
                size_upper_bound(&record)
            );
        }
    }
}
