//! Finding → ASFF. Strings are cleaned again here even though the adapters cleaned them: a Finding
//! can also arrive from the bus, where anything may be forged.

use crate::limits::*;
use crate::model::*;
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::BTreeMap;
use std::net::IpAddr;
use vigil_model::text::clean;
use vigil_model::{Finding, NetworkDirection};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsffError {
    MissingAccount,
    InvalidAccount(String),
    MissingRegion,
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

/// The product ARN Security Hub assigns to an account's own findings.
pub fn product_arn(partition: &str, region: &str, account: &str) -> String {
    format!("arn:{partition}:securityhub:{region}:{account}:product/{account}/default")
}

/// The ASFF `Id` of a finding: derived from the fingerprint, so repeats update one record.
pub fn finding_id(finding: &Finding) -> String {
    let id = format!("vigil-{}", finding.fingerprint);
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'))
        .take(MAX_ID)
        .collect()
}

pub fn to_asff(finding: &Finding, ctx: &MappingContext) -> Result<AsffFinding, AsffError> {
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
    let partition = vigil_adapters_partition(&region);

    let first = finding.first_observed_at.min(finding.observed_at);
    let last = finding.last_observed_at.max(finding.observed_at);
    let updated = ctx.now.max(last);

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
        types: types(finding),
        first_observed_at: ts(first),
        last_observed_at: ts(last),
        created_at: ts(first),
        updated_at: ts(updated),
        severity: AsffSeverity {
            label: finding.severity.label.as_str().to_owned(),
            normalized: {
                let (lo, hi) = finding.severity.label.band();
                finding.severity.normalized.clamp(lo, hi)
            },
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
        resources: resources(finding, partition, &region),
        process: process(finding),
        network: network(finding),
        record_state: "ACTIVE".to_owned(),
    };
    enforce_size(&mut record)?;
    Ok(record)
}

fn vigil_adapters_partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// ASFF `Types` (`namespace/category/classifier`) from the MITRE tactics the source tagged.
fn types(finding: &Finding) -> Vec<String> {
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
        out.push(if classifier.is_empty() {
            "Unusual Behaviors/Container".to_owned()
        } else {
            clean(
                &format!("Unusual Behaviors/Container/{classifier}"),
                MAX_TYPE,
                false,
            )
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
    put("Host", r.host.as_deref());
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
    if !finding.mitre.is_empty() {
        put("Mitre", Some(&finding.mitre.join(",")));
    }
    if !finding.tags.is_empty() {
        put("Tags", Some(&finding.tags.join(",")));
    }
    fields
}

fn resources(finding: &Finding, partition: &str, region: &str) -> Vec<AsffResource> {
    let r = &finding.resource;
    let resource =
        |resource_type: &str, id: &str, details: Option<serde_json::Value>| AsffResource {
            resource_type: resource_type.to_owned(),
            id: clean(id, MAX_RESOURCE_ID, false),
            partition: partition.to_owned(),
            region: region.to_owned(),
            tags: BTreeMap::new(),
            details,
        };
    let mut out = Vec::new();
    if let Some(task) = &r.task_arn {
        let mut details = serde_json::Map::new();
        if let Some(c) = &r.cluster_arn {
            details.insert("ClusterArn".into(), clean(c, MAX_RESOURCE_ID, false).into());
        }
        if let (Some(family), Some(revision)) =
            (&r.task_definition_family, &r.task_definition_revision)
            && let Some(prefix) = task
                .split(":task/")
                .next()
                .filter(|p| p.starts_with("arn:"))
        {
            let arn = format!("{prefix}:task-definition/{family}:{revision}");
            details.insert(
                "TaskDefinitionArn".into(),
                clean(&arn, MAX_RESOURCE_ID, false).into(),
            );
        }
        if let Some(service) = &r.service_name {
            details.insert(
                "Group".into(),
                clean(&format!("service:{service}"), MAX_GENERIC_STRING, false).into(),
            );
        }
        out.push(resource(
            "AwsEcsTask",
            task,
            Some(serde_json::json!({ "AwsEcsTask": details })),
        ));
    }
    if let Some(cluster) = &r.cluster_arn {
        let name = cluster.rsplit('/').next().unwrap_or(cluster);
        out.push(resource(
            "AwsEcsCluster",
            cluster,
            Some(serde_json::json!({ "AwsEcsCluster": { "ClusterName": clean(name, MAX_GENERIC_STRING, false) } })),
        ));
    }
    let c = &r.container;
    if let Some(id) = c.id.as_deref().or(c.name.as_deref()).or(c.image.as_deref()) {
        let mut details = serde_json::Map::new();
        if let Some(n) = &c.name {
            details.insert("Name".into(), clean(n, MAX_GENERIC_STRING, false).into());
        }
        if let Some(i) = &c.image {
            details.insert(
                "ImageName".into(),
                clean(i, MAX_GENERIC_STRING, false).into(),
            );
        }
        if let Some(d) = &c.image_digest {
            details.insert("ImageId".into(), clean(d, MAX_GENERIC_STRING, false).into());
        }
        if let Some(p) = c.privileged {
            details.insert("Privileged".into(), p.into());
        }
        out.push(resource(
            "Container",
            id,
            Some(serde_json::json!({ "Container": details })),
        ));
    }
    if out.is_empty() {
        // ASFF needs at least one resource; with nothing known, name the host (or say so).
        let id = r.host.as_deref().unwrap_or("unknown-workload");
        out.push(resource("Other", id, None));
    }
    out.truncate(MAX_RESOURCES);
    out
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
    };
    (net.source_ip_v4.is_some()
        || net.destination_ip_v4.is_some()
        || net.source_ip_v6.is_some()
        || net.destination_ip_v6.is_some())
    .then_some(net)
}

/// Keeps the serialized record within the 240 KB finding limit, shedding optional detail first.
fn enforce_size(record: &mut AsffFinding) -> Result<(), AsffError> {
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
