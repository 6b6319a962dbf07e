//! GuardDuty Runtime Monitoring findings for ECS (`aws.guardduty`, `GuardDuty Finding`). Fargate and
//! ECS-on-EC2 findings carry `resource.ecsClusterDetails.taskDetails`; container-level findings may
//! carry `resource.containerDetails` as well. Times arrive as ISO strings or epoch numbers.

use crate::arn::{TaskArn, resolve_cluster, service_from_group, task_definition_parts};
use crate::envelope::Envelope;
use crate::guardduty_sequence::ATTACK_SEQUENCE_PREFIX;
use crate::json::Obj;
use crate::{AdapterError, ErrorKind, ParseContext};
use vigil_model::text::{clean, clean_opt};
use vigil_model::{
    Container, Finding, Network, NetworkDirection, Process, RawEvent, Severity, Source,
};

/// Whether `o` has the shape of a GuardDuty finding: `schemaVersion`, `type`, `severity` and
/// `resource` (an attack sequence may have no `resource`).
pub fn looks_like_guardduty(o: &Obj<'_>) -> bool {
    o.has("schemaVersion")
        && o.has("type")
        && o.has("severity")
        && (o.has("resource")
            || o.str("type")
                .ok()
                .flatten()
                .is_some_and(|t| t.starts_with(ATTACK_SEQUENCE_PREFIX)))
}

/// Reads a GuardDuty finding (the `detail` of a `GuardDuty Finding` event) about ECS, as GuardDuty's
/// finding format documents it (`resource.ecsClusterDetails`, `service.runtimeDetails`, …).
///
/// Fails when `type` or another required field is missing, a field has the wrong JSON type, or the
/// finding is about a resource Vigil does not handle ([`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported)).
pub fn parse(
    d: &Obj<'_>,
    envelope: Option<&Envelope<'_>>,
    ctx: &ParseContext,
    raw: RawEvent,
) -> Result<Finding, AdapterError> {
    let finding_type = clean(d.req_str("type")?, 256, false);
    if finding_type.is_empty() {
        return Err(d.missing("type"));
    }
    let score = d.num("severity")?.ok_or_else(|| d.missing("severity"))?;
    let severity = Severity::from_guardduty(score)
        .ok_or_else(|| d.invalid("severity", format!("{score} is outside 0–10")))?;

    let service = d.obj("service")?;
    // Extended Threat Detection: an attack sequence names its resources under
    // `service.detection.sequence`, not under `resource`.
    let sequence = match &service {
        Some(s) => match s.obj("detection")? {
            Some(det) => det.obj("sequence")?,
            None => None,
        },
        None => None,
    };
    if sequence.is_none() && finding_type.starts_with(ATTACK_SEQUENCE_PREFIX) {
        return Err(d.missing("service.detection.sequence"));
    }
    let (ecs, container_details) = if sequence.is_some() {
        (None, None)
    } else {
        let resource = d.obj("resource")?.ok_or_else(|| d.missing("resource"))?;
        let resource_type = resource.str("resourceType")?.unwrap_or("");
        let ecs = resource.obj("ecsClusterDetails")?;
        let container_details = resource.obj("containerDetails")?;
        if ecs.is_none() && container_details.is_none() {
            return Err(AdapterError::new(
                resource.path_of("resourceType"),
                ErrorKind::Unsupported(format!(
                    "GuardDuty finding for resource type {} has no ECS or container details",
                    crate::quote(resource_type)
                )),
            ));
        }
        (ecs, container_details)
    };
    let first = match &service {
        Some(s) => s.time("eventFirstSeen")?,
        None => None,
    };
    let last = match &service {
        Some(s) => s.time("eventLastSeen")?,
        None => None,
    };
    let observed_at = last
        .or(d.time("updatedAt")?)
        .or(d.time("createdAt")?)
        .or(envelope.and_then(|e| e.time))
        .ok_or_else(|| d.missing("service.eventLastSeen"))?;

    let title = clean_opt(d.str("title")?, 512).unwrap_or_else(|| finding_type.clone());
    let mut finding = Finding::new(
        Source::Guardduty,
        finding_type.clone(),
        title,
        severity,
        observed_at,
        raw,
    );
    finding.first_observed_at = first.unwrap_or(observed_at).min(observed_at);
    finding.last_observed_at = observed_at;
    finding.description = clean_opt(d.str("description")?, 4096);
    finding.source_event_id = clean_opt(d.str("id")?, 128);
    finding.count = match &service {
        Some(s) => s.int("count")?.filter(|c| *c > 0).map_or(1, |c| c as u64),
        None => 1,
    };
    // The finding's account is the one its resource lives in (`accountId`). The envelope's is the
    // account whose bus received it: GuardDuty's delegated administrator receives its members'
    // findings, and trusting the receiver's account would let a member's finding act as its own.
    finding.account = clean_opt(d.text("accountId")?.as_deref(), 32)
        .or_else(|| envelope.and_then(|e| e.account_owned()))
        .or_else(|| ctx.default_account.clone());
    finding.region = envelope
        .and_then(|e| e.region_owned())
        .or(clean_opt(d.str("region")?, 32))
        .or_else(|| ctx.default_region.clone());
    finding.tags = vec![finding_type.clone()];
    if is_sample(d, service.as_ref())? {
        // GuardDuty's own sample findings (`additionalInfo.value` `{"sample":true}`; the console
        // shows them as "[SAMPLE]"): imported, so the wiring can be tested, never acted on.
        finding.tags.push(vigil_model::SAMPLE_TAG.to_owned());
        if !finding.title.starts_with("[SAMPLE]") {
            finding.title = clean(&format!("[SAMPLE] {}", finding.title), 512, false);
        }
    }
    finding.mitre = tactic_of(&finding_type)
        .map(|t| vec![t.to_owned()])
        .unwrap_or_default();

    if let Some(seq) = &sequence {
        let parsed = crate::guardduty_sequence::parse(
            seq,
            &finding_type,
            finding.account.as_deref(),
            finding.region.as_deref(),
        )?;
        // The finding's own span covers every signal GuardDuty correlated.
        if let Some(first) = parsed.signals.first_seen {
            finding.first_observed_at = finding.first_observed_at.min(first);
        }
        finding.mitre = crate::guardduty_sequence::mitre(&parsed);
        // The primary resource is the cluster alone (the first named, else the first task's),
        // never a task: nothing acts on the sequence as a whole, only on `Finding::per_task`.
        finding.resource.cluster_arn = parsed
            .clusters
            .first()
            .cloned()
            .or_else(|| parsed.tasks.first().and_then(|t| t.cluster_arn.clone()));
        let mut sequence = parsed;
        sequence.title = Some(finding.title.clone());
        finding.sequence = Some(sequence);
        return Ok(finding);
    }

    let task = match &ecs {
        Some(e) => e.obj("taskDetails")?,
        None => None,
    };
    let task_arn_text = match &task {
        Some(t) => t.str("arn")?,
        None => None,
    };
    let task_arn = task_arn_text.and_then(TaskArn::parse);
    let cluster = match &ecs {
        Some(e) => e.str("arn")?.or(e.str("name")?),
        None => None,
    };

    let r = &mut finding.resource;
    r.task_arn = task_arn.as_ref().and(task_arn_text.map(str::to_owned));
    r.cluster_arn = resolve_cluster(
        cluster,
        task_arn.as_ref(),
        finding.account.as_deref(),
        finding.region.as_deref(),
    );
    if let Some(t) = &task {
        if let Some((family, revision)) = t.str("definitionArn")?.and_then(task_definition_parts) {
            r.task_definition_family = Some(clean(&family, 255, false));
            r.task_definition_revision = Some(revision);
        }
        r.service_name = t
            .str("group")?
            .and_then(service_from_group)
            .map(|s| clean(&s, 255, false));
        r.launch_type = clean_opt(t.str("launchType")?, 32);
    }

    let description = finding.description.clone().unwrap_or_default();
    r.container = match &container_details {
        Some(c) => container(c)?,
        None => match &task {
            Some(t) => pick_container(t.objs("containers")?, &description)?,
            None => Container::default(),
        },
    };

    if let Some(rt) = match &service {
        Some(s) => s.obj("runtimeDetails")?,
        None => None,
    } {
        finding.process = process(&rt)?;
    }
    if let Some(action) = match &service {
        Some(s) => s.obj("action")?,
        None => None,
    } {
        finding.network = network(&action)?;
    }
    // Sealed by the caller, once the provenance is stamped.
    Ok(finding)
}

fn container(c: &Obj<'_>) -> Result<Container, AdapterError> {
    let image = c.str("image")?;
    Ok(Container {
        name: clean_opt(c.str("name")?, 255),
        id: clean_opt(c.str("id")?, 128),
        image: clean_opt(image, 512),
        image_digest: image
            .and_then(|i| i.split_once('@'))
            .map(|(_, d)| clean(d, 128, false)),
        privileged: match c.obj("securityContext")? {
            Some(sc) => sc.bool("privileged")?,
            None => None,
        },
    })
}

/// The task's containers: the one named in the description when there are several, else the only one.
fn pick_container(containers: Vec<Obj<'_>>, description: &str) -> Result<Container, AdapterError> {
    let parsed = containers
        .iter()
        .map(container)
        .collect::<Result<Vec<_>, _>>()?;
    if parsed.len() == 1 {
        return Ok(parsed.into_iter().next().unwrap_or_default());
    }
    let named = parsed.iter().find(|c| {
        c.name.as_deref().is_some_and(|n| {
            description.contains(&format!("container {n} "))
                || description.contains(&format!("container {n}."))
        })
    });
    Ok(named.cloned().unwrap_or_default())
}

fn process(rt: &Obj<'_>) -> Result<Option<Process>, AdapterError> {
    let Some(p) = rt.obj("process")? else {
        return Ok(None);
    };
    // The parent is the lineage entry whose `uuid` is the process's `parentUuid`; the order of
    // `lineage` is not documented, so the first entry is only the fallback.
    let lineage = p.objs("lineage")?;
    // Informational: a malformed value only loses the match, never the finding.
    let parent_uuid = p.str("parentUuid").ok().flatten();
    let by_uuid = match parent_uuid {
        Some(id) => lineage
            .iter()
            .position(|l| l.str("uuid").ok().flatten() == Some(id)),
        None => None,
    };
    let parent = lineage.into_iter().nth(by_uuid.unwrap_or(0));
    let command_line = match rt.obj("context")? {
        Some(c) => clean_opt(c.str("commandLineExample")?, 2048),
        None => None,
    };
    Ok(Some(Process {
        name: clean_opt(p.str("name")?, 256),
        executable_path: clean_opt(p.str("executablePath")?, 1024),
        command_line,
        pid: p.int("pid")?,
        parent_name: match &parent {
            Some(l) => clean_opt(l.str("name")?, 256),
            None => None,
        },
        parent_pid: match &parent {
            Some(l) => l.int("pid")?,
            None => None,
        },
        user: clean_opt(p.text("user")?.as_deref(), 256),
        uid: p.int("userId")?,
        executable_sha256: clean_opt(p.str("executableSha256")?, 64),
    }))
}

fn network(action: &Obj<'_>) -> Result<Option<Network>, AdapterError> {
    // `…!DNS` findings (`CryptoCurrency:Runtime/BitcoinTool.B!DNS`) carry the domain looked up.
    if let Some(dns) = action.obj("dnsRequestAction")? {
        let n = Network {
            direction: Some(NetworkDirection::Outbound),
            protocol: clean_opt(dns.str("protocol").ok().flatten(), 16),
            domain: clean_opt(dns.str("domain").ok().flatten(), 253),
            ..Network::default()
        };
        return Ok((!n.is_empty()).then_some(n));
    }
    let Some(nc) = action.obj("networkConnectionAction")? else {
        return Ok(None);
    };
    let ip = |o: Option<Obj<'_>>| -> Result<Option<String>, AdapterError> {
        match o {
            Some(o) => Ok(clean_opt(
                o.str("ipAddressV4")?.or(o.str("ipAddressV6")?),
                64,
            )),
            None => Ok(None),
        }
    };
    let port = |o: Option<Obj<'_>>| -> Result<Option<u16>, AdapterError> {
        match o {
            Some(o) => Ok(o.int("port")?.and_then(|p| u16::try_from(p).ok())),
            None => Ok(None),
        }
    };
    let n = Network {
        direction: match nc.str("connectionDirection")? {
            Some(d) if d.eq_ignore_ascii_case("OUTBOUND") => Some(NetworkDirection::Outbound),
            Some(d) if d.eq_ignore_ascii_case("INBOUND") => Some(NetworkDirection::Inbound),
            _ => None,
        },
        protocol: clean_opt(nc.str("protocol")?, 16),
        local_ip: ip(nc.obj("localIpDetails")?)?,
        local_port: port(nc.obj("localPortDetails")?)?,
        remote_ip: ip(nc.obj("remoteIpDetails")?)?,
        remote_port: port(nc.obj("remotePortDetails")?)?,
        connection: None,
        domain: None,
    };
    Ok((!n.is_empty()).then_some(n))
}

/// The MITRE tactic a GuardDuty threat purpose (`Execution:Runtime/…`) stands for.
pub fn tactic_of(finding_type: &str) -> Option<&'static str> {
    let purpose = finding_type.split(':').next()?;
    Some(match purpose {
        "Execution" => "execution",
        "PrivilegeEscalation" => "privilege_escalation",
        "DefenseEvasion" | "Stealth" => "defense_evasion",
        "Discovery" | "Recon" => "discovery",
        "Persistence" => "persistence",
        "CredentialAccess" => "credential_access",
        "Backdoor" | "Trojan" => "command_and_control",
        "CryptoCurrency" | "Impact" => "impact",
        "UnauthorizedAccess" | "InitialAccess" => "initial_access",
        "Exfiltration" => "exfiltration",
        "LateralMovement" => "lateral_movement",
        _ => return None,
    })
}

/// Whether GuardDuty generated this finding as a sample: `service.additionalInfo.value` is the JSON
/// text `{"sample":true}` (or `additionalInfo.sample` is true, or the title says `[SAMPLE]`). A
/// malformed `additionalInfo` only means "not a sample": it is informational.
fn is_sample(d: &Obj<'_>, service: Option<&Obj<'_>>) -> Result<bool, AdapterError> {
    if d.str("title")?
        .is_some_and(|t| t.trim_start().starts_with("[SAMPLE]"))
    {
        return Ok(true);
    }
    let Some(info) = service.and_then(|s| s.obj("additionalInfo").ok().flatten()) else {
        return Ok(false);
    };
    if info.bool("sample").ok().flatten() == Some(true) {
        return Ok(true);
    }
    Ok(info.str("value").ok().flatten().is_some_and(|v| {
        serde_json::from_str::<serde_json::Value>(v)
            .ok()
            .and_then(|v| v.get("sample").and_then(serde_json::Value::as_bool))
            == Some(true)
    }))
}
