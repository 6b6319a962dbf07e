//! GuardDuty Extended Threat Detection attack sequences (`AttackSequence:ECS/CompromisedCluster`),
//! read from `service.detection.sequence` as GuardDuty publishes it to EventBridge (the API's
//! `Sequence`, `ResourceV2`, `Signal`, `Indicator`, `Actor` and `NetworkEndpoint`, camelCase):
//!
//! - `uid` (required), `description`, `additionalSequenceTypes[]`;
//! - `resources[]`: `resourceType` (`ECS_CLUSTER`, `ECS_TASK`, `CONTAINER`, and others counted
//!   only), `uid`, `name`, `accountId`, `region`, and `data.ecsCluster`, `data.ecsTask`
//!   (`taskDefinitionArn`, `launchType`, `containerUids[]`), `data.container` (`image`, `imageUid`);
//! - `signals[]`: `name`, `type`, `count`, `firstSeenAt`, `lastSeenAt` (or `createdAt`/`updatedAt`);
//! - `sequenceIndicators[]`: `key`, `title`, `values[]`;
//! - `actors[]` (`id`), `endpoints[]` (`id`, `ip`, `domain`, `port`).
//!
//! Informational parts (signals, indicators, actors, endpoints) never refuse a finding when one
//! of them is malformed; the sequence's `uid` and the ECS resources it names are read strictly.

use crate::arn::{TaskArn, is_cluster_arn, is_plausible_id, resolve_cluster};
use crate::json::Obj;
use crate::{AdapterError, ErrorKind};
use std::collections::{BTreeMap, BTreeSet};
use vigil_model::text::{clean, clean_opt};
use vigil_model::{
    AttackSequence, MAX_INDICATOR_VALUES, MAX_SEQUENCE_ACTORS, MAX_SEQUENCE_CLUSTERS,
    MAX_SEQUENCE_ENDPOINTS, MAX_SEQUENCE_INDICATORS, MAX_SEQUENCE_SIGNALS, MAX_SEQUENCE_TASKS,
    MAX_TASK_CONTAINERS, SequenceContainer, SequenceIndicator, SequenceTask, SignalBrief,
};

/// The prefix of every attack sequence finding type.
pub const ATTACK_SEQUENCE_PREFIX: &str = "AttackSequence:";

/// `ResourceV2.resourceType` folded: upper case, without `_`, so `ECS_TASK`, `EcsTask` and
/// `ecs_task` agree.
fn folded_type(t: &str) -> String {
    t.chars()
        .filter(|c| *c != '_' && *c != '-' && !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Reads the sequence; `account`/`region` resolve a cluster given by name.
pub fn parse(
    seq: &Obj<'_>,
    finding_type: &str,
    account: Option<&str>,
    region: Option<&str>,
) -> Result<AttackSequence, AdapterError> {
    let uid = clean(seq.req_str("uid")?, 256, false);
    if uid.is_empty() {
        return Err(seq.missing("uid"));
    }
    let mut out = AttackSequence {
        uid,
        description: clean_opt(seq.str("description").ok().flatten(), 4096),
        additional_types: seq
            .strings("additionalSequenceTypes")
            .unwrap_or_default()
            .iter()
            .filter_map(|t| clean_opt(Some(t), 100))
            .take(10)
            .collect(),
        ..AttackSequence::default()
    };

    // Resources: clusters, tasks and containers, each deduplicated by uid in the sequence's order.
    let mut clusters: Vec<String> = Vec::new();
    let mut tasks: Vec<SequenceTask> = Vec::new();
    let mut task_container_uids: Vec<Vec<String>> = Vec::new();
    let mut seen_tasks = BTreeSet::new();
    let mut containers: BTreeMap<String, SequenceContainer> = BTreeMap::new();
    let mut container_order: Vec<String> = Vec::new();
    let mut tasks_named: u64 = 0;
    let mut any_ecs = false;
    for r in seq.objs("resources")? {
        let kind = folded_type(r.str("resourceType")?.unwrap_or(""));
        let uid = r.str("uid")?.map(str::trim).filter(|u| !u.is_empty());
        let data = r.obj("data")?;
        match kind.as_str() {
            "ECSCLUSTER" => {
                any_ecs = true;
                let name = r.str("name")?;
                let cluster = match uid.filter(|u| is_cluster_arn(u)) {
                    Some(arn) => Some(arn.to_owned()),
                    None => {
                        let acct = r.str("accountId")?.or(account);
                        let reg = r.str("region")?.or(region);
                        resolve_cluster(uid.or(name), None, acct, reg)
                    }
                };
                if let Some(c) = cluster
                    && !clusters.contains(&c)
                {
                    clusters.push(c);
                }
            }
            "ECSTASK" => {
                any_ecs = true;
                let Some(uid) = uid else { continue };
                if !seen_tasks.insert(uid.to_owned()) {
                    continue; // the same task named twice
                }
                tasks_named += 1;
                let Some(arn) = TaskArn::parse(uid) else {
                    continue; // not a task ARN: nothing could act on it
                };
                if tasks.len() >= MAX_SEQUENCE_TASKS {
                    continue;
                }
                let task = match &data {
                    Some(d) => d.obj("ecsTask")?,
                    None => None,
                };
                let (td, launch, uids) = match &task {
                    Some(t) => (
                        t.str("taskDefinitionArn")?
                            .filter(|a| is_plausible_id(a))
                            .map(str::to_owned),
                        clean_opt(t.str("launchType")?, 32),
                        t.strings("containerUids")?,
                    ),
                    None => (None, None, Vec::new()),
                };
                tasks.push(SequenceTask {
                    task_arn: uid.to_owned(),
                    cluster_arn: arn.cluster_arn(),
                    task_definition_arn: td,
                    launch_type: launch,
                    containers: Vec::new(),
                });
                task_container_uids.push(uids);
            }
            "CONTAINER" => {
                let Some(uid) = uid else { continue };
                let key = uid.to_owned();
                if containers.contains_key(&key) {
                    continue;
                }
                let c = match &data {
                    Some(d) => d.obj("container")?,
                    None => None,
                };
                let (image, image_uid) = match &c {
                    Some(c) => (
                        clean_opt(c.str("image")?, 512),
                        clean_opt(c.str("imageUid")?, 1024),
                    ),
                    None => (None, None),
                };
                containers.insert(
                    key.clone(),
                    SequenceContainer {
                        uid: clean(uid, 256, false),
                        name: clean_opt(r.str("name")?, 255),
                        image,
                        image_uid,
                    },
                );
                container_order.push(key);
            }
            _ => out.other_resources += 1,
        }
    }
    if !any_ecs && !finding_type.contains(":ECS/") {
        return Err(AdapterError::new(
            seq.path_of("resources"),
            ErrorKind::Unsupported(format!(
                "attack sequence {} names no ECS cluster or task",
                crate::quote(finding_type)
            )),
        ));
    }

    // Containers go under the task that lists them; the rest stay unattached.
    let mut attached = BTreeSet::new();
    for (task, uids) in tasks.iter_mut().zip(&task_container_uids) {
        for u in uids {
            let Some(c) = containers.get(u.trim()) else {
                continue;
            };
            if !attached.insert(u.trim().to_owned()) {
                continue;
            }
            if task.containers.len() < MAX_TASK_CONTAINERS {
                task.containers.push(c.clone());
            } else {
                out.containers_dropped += 1;
            }
        }
    }
    for key in &container_order {
        if attached.contains(key) {
            continue;
        }
        if out.unattached_containers.len() < MAX_TASK_CONTAINERS {
            out.unattached_containers.push(containers[key].clone());
        } else {
            out.containers_dropped += 1;
        }
    }
    for t in &tasks {
        if let Some(c) = &t.cluster_arn
            && !clusters.contains(c)
        {
            clusters.push(c.clone());
        }
    }
    clusters.truncate(MAX_SEQUENCE_CLUSTERS);
    // A legacy task ARN names no cluster: with one cluster in the sequence, it is that one.
    if clusters.len() == 1 {
        for t in tasks.iter_mut().filter(|t| t.cluster_arn.is_none()) {
            t.cluster_arn = Some(clusters[0].clone());
        }
    }
    out.tasks_dropped = tasks_named - tasks.len() as u64;
    out.tasks = tasks;
    out.clusters = clusters;

    signals(seq, &mut out);
    indicators(seq, &mut out);
    let actors = seq.objs("actors").unwrap_or_default();
    out.actor_count = actors.len() as u64;
    out.actor_ids = actors
        .iter()
        .filter_map(|a| clean_opt(a.str("id").ok().flatten(), 256))
        .take(MAX_SEQUENCE_ACTORS)
        .collect();
    let endpoints = seq.objs("endpoints").unwrap_or_default();
    out.endpoint_count = endpoints.len() as u64;
    out.endpoints = endpoints
        .iter()
        .filter_map(|e| {
            let host = e
                .str("ip")
                .ok()
                .flatten()
                .or(e.str("domain").ok().flatten())
                .or(e.str("id").ok().flatten())?;
            let port = e.int("port").ok().flatten();
            clean_opt(
                Some(&match port {
                    Some(p) => format!("{host}:{p}"),
                    None => host.to_owned(),
                }),
                256,
            )
        })
        .take(MAX_SEQUENCE_ENDPOINTS)
        .collect();
    Ok(out)
}

fn signals(seq: &Obj<'_>, out: &mut AttackSequence) {
    let list = seq.objs("signals").unwrap_or_default();
    let s = &mut out.signals;
    s.count = list.len() as u64;
    for sig in &list {
        let count = sig
            .int("count")
            .ok()
            .flatten()
            .filter(|c| *c > 0)
            .map_or(1, |c| c as u64);
        s.occurrences = s.occurrences.saturating_add(count);
        let first = sig
            .time("firstSeenAt")
            .ok()
            .flatten()
            .or(sig.time("createdAt").ok().flatten());
        let last = sig
            .time("lastSeenAt")
            .ok()
            .flatten()
            .or(sig.time("updatedAt").ok().flatten())
            .or(first);
        if let Some(f) = first {
            s.first_seen = Some(s.first_seen.map_or(f, |x| x.min(f)));
        }
        if let Some(l) = last {
            s.last_seen = Some(s.last_seen.map_or(l, |x| x.max(l)));
        }
        let signal_type = clean_opt(sig.str("type").ok().flatten(), 64);
        if s.types.len() < MAX_SEQUENCE_SIGNALS
            || signal_type
                .as_ref()
                .is_some_and(|t| s.types.contains_key(t))
        {
            *s.types
                .entry(signal_type.clone().unwrap_or_else(|| "UNKNOWN".into()))
                .or_default() += 1;
        }
        if s.kept.len() < MAX_SEQUENCE_SIGNALS {
            let name = clean_opt(sig.str("name").ok().flatten(), 256)
                .or_else(|| clean_opt(sig.str("uid").ok().flatten(), 256))
                .unwrap_or_else(|| "unnamed signal".into());
            s.kept.push(SignalBrief {
                name,
                signal_type,
                count,
                first_seen: first,
                last_seen: last,
            });
        }
    }
}

fn indicators(seq: &Obj<'_>, out: &mut AttackSequence) {
    for ind in seq.objs("sequenceIndicators").unwrap_or_default() {
        let Some(key) = clean_opt(ind.str("key").ok().flatten(), 64) else {
            continue;
        };
        if out.indicators.len() >= MAX_SEQUENCE_INDICATORS {
            out.indicators_dropped += 1;
            continue;
        }
        let values = ind.strings("values").unwrap_or_default();
        let kept: Vec<String> = values
            .iter()
            .filter_map(|v| clean_opt(Some(v), 256))
            .take(MAX_INDICATOR_VALUES)
            .collect();
        out.indicators.push(SequenceIndicator {
            key,
            title: clean_opt(ind.str("title").ok().flatten(), 256),
            values_dropped: (values.len() - kept.len()) as u64,
            values: kept,
        });
    }
}

/// MITRE tactics and techniques from the `ATTACK_TACTIC` / `ATTACK_TECHNIQUE` indicators, in the
/// canonical form (`execution`, `command_and_control`, `T1059`).
pub fn mitre(seq: &AttackSequence) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for ind in &seq.indicators {
        for v in &ind.values {
            let m = match ind.key.as_str() {
                "ATTACK_TACTIC" => v.trim().to_ascii_lowercase().replace(['-', ' '], "_"),
                "ATTACK_TECHNIQUE" => {
                    // `T1059` or `T1059.004`, possibly before the technique's name.
                    let id = v.split_whitespace().next().unwrap_or("");
                    let ok = id.len() >= 5
                        && id.starts_with('T')
                        && id[1..].chars().all(|c| c.is_ascii_digit() || c == '.');
                    if !ok {
                        continue;
                    }
                    id.to_owned()
                }
                _ => continue,
            };
            if !m.is_empty() && !out.contains(&m) {
                out.push(m);
            }
        }
    }
    out
}
