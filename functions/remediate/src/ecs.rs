//! The ECS calls remediation makes: a fresh look at the task, its service and its cluster (never
//! the cache: the decision must see the task as it is now), the service's running tasks, StopTask
//! and TagResource.

use aws_sdk_ecs::error::DisplayErrorContext;
use aws_sdk_ecs::types::{DesiredStatus, Tag};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use vigil_ecs::describe::{
    EcsError, describe_cluster_tags, describe_services, describe_tasks, task_info,
};
use vigil_model::TaskInfo;
use vigil_playbook::{LiveService, LiveTask};

fn error(operation: &'static str, e: impl std::fmt::Display) -> EcsError {
    EcsError {
        operation,
        message: e.to_string(),
    }
}

/// What one DescribeTasks says of the task: enough to know whether there is anything to claim.
#[derive(Debug, Clone)]
pub enum Sighting {
    /// ECS does not know the task by that ARN in that cluster (or the cluster): nothing to act
    /// on, and nothing to claim.
    Missing(String),
    /// ECS knows the task, and it is not running (or not meant to be).
    NotRunning(String, Box<TaskInfo>),
    /// The task is running: its service's and cluster's tags are still to be looked at.
    Running(Box<TaskInfo>),
}

/// The task as one DescribeTasks shows it now.
pub async fn sight_task(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
    task_arn: &str,
) -> Result<Sighting, EcsError> {
    let described = match describe_tasks(client, cluster, &[task_arn.to_owned()]).await {
        Ok(d) => d,
        // The cluster is gone (or never was): so is the task. Nothing to act on.
        Err(e) if e.message.contains("ClusterNotFoundException") => {
            return Ok(Sighting::Missing(format!(
                "ECS does not know the cluster {cluster}"
            )));
        }
        Err(e) => return Err(e),
    };
    let Some(task) = described.tasks.first() else {
        let reason = described
            .failures
            .first()
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| "MISSING".into());
        return Ok(Sighting::Missing(format!(
            "ECS does not know the task: {reason}"
        )));
    };
    // ECS answers MISSING for a task asked for in a cluster that does not run it; an answer from
    // another cluster is treated the same, so a claimed cluster never goes unchecked.
    let described_cluster = task.cluster_arn().unwrap_or_default();
    if !same_cluster(described_cluster, cluster) {
        return Ok(Sighting::Missing(format!(
            "ECS does not know the task in cluster {cluster} (it runs in {described_cluster})"
        )));
    }
    // The record, the hold and `min_healthy` all key on the task ARN: a task named any other way
    // (a bare id, other casing) is not the task asked for.
    if task.task_arn() != Some(task_arn) {
        return Ok(Sighting::Missing(format!(
            "ECS describes {task_arn} as {}",
            task.task_arn().unwrap_or("(no ARN)")
        )));
    }
    let info = Box::new(task_info(task, cluster));
    let status = task.last_status().unwrap_or("UNKNOWN");
    let desired = task.desired_status().unwrap_or("RUNNING");
    if status != "RUNNING" || desired != "RUNNING" {
        return Ok(Sighting::NotRunning(
            format!("{status} (desired {desired})"),
            info,
        ));
    }
    Ok(Sighting::Running(info))
}

/// The task now (and, when it runs, its service's and cluster's tags), with the described task
/// as evidence.
pub async fn live_task(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
    sighting: Sighting,
) -> Result<(LiveTask, Option<TaskInfo>), EcsError> {
    let info = match sighting {
        Sighting::Missing(why) => return Ok((LiveTask::Missing(why), None)),
        Sighting::NotRunning(why, info) => return Ok((LiveTask::NotRunning(why), Some(*info))),
        Sighting::Running(info) => *info,
    };
    let service = match &info.service_name {
        None => None,
        Some(name) => Some(live_service(client, cluster, name).await?),
    };
    let cluster_tags = cluster_tags(client, &info.cluster_arn).await?;
    Ok((
        LiveTask::Running {
            cluster_arn: info.cluster_arn.clone(),
            tags: info.tags.clone(),
            cluster_tags,
            service,
            runtime_ids: info
                .containers
                .iter()
                .filter_map(|c| c.runtime_id.clone())
                .collect(),
        },
        Some(info),
    ))
}

/// `cluster` as a name or an ARN names the cluster of `arn`.
pub(crate) fn same_cluster(arn: &str, cluster: &str) -> bool {
    arn == cluster
        || arn
            .rsplit_once('/')
            .is_some_and(|(_, name)| name == cluster)
}

/// The service's tags now (none when ECS no longer has the service: its running tasks are still
/// listed), through the same DescribeServices the enrichment makes.
async fn live_service(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
    name: &str,
) -> Result<LiveService, EcsError> {
    let found = describe_services(client, cluster, &[name.to_owned()]).await?;
    Ok(LiveService {
        name: name.to_owned(),
        tags: found.get(name).map(|s| s.tags.clone()).unwrap_or_default(),
        running_tasks: BTreeSet::new(),
        held: BTreeSet::new(),
    })
}

/// The cluster's tags now (empty when ECS does not describe it), through the same DescribeClusters
/// the enrichment makes.
async fn cluster_tags(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
) -> Result<BTreeMap<String, String>, EcsError> {
    let found = describe_cluster_tags(client, &[cluster.to_owned()]).await?;
    Ok(found.into_values().next().unwrap_or_default())
}

/// The service's tasks that are RUNNING and desired RUNNING now. ListTasks with
/// `desiredStatus=RUNNING` drops a task the moment StopTask is called; DescribeTasks (100 at a time)
/// then drops those still starting.
pub async fn service_running_tasks(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
) -> Result<BTreeSet<String>, EcsError> {
    let mut listed = Vec::new();
    let mut pages = client
        .list_tasks()
        .cluster(cluster)
        .service_name(service)
        .desired_status(DesiredStatus::Running)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| error("ListTasks", DisplayErrorContext(&e)))?;
        listed.extend(page.task_arns().iter().cloned());
    }
    let mut running = BTreeSet::new();
    for chunk in listed.chunks(100) {
        let described = describe_tasks(client, cluster, chunk).await?;
        running.extend(described.tasks.iter().filter_map(|t| {
            let live = t.last_status() == Some("RUNNING") && t.desired_status() == Some("RUNNING");
            live.then(|| t.task_arn().map(str::to_owned)).flatten()
        }));
    }
    Ok(running)
}

/// Where ECS says a task it has stopped ran: its cluster and service, when ECS describes `task_arn`
/// in `cluster` as desired STOPPED. `None` when ECS still runs it (or is still to start it), or does
/// not know it there: a STOPPED state change ECS would not stand behind.
pub async fn stopped_task(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
    task_arn: &str,
) -> Result<Option<(String, Option<String>)>, EcsError> {
    let described = match describe_tasks(client, cluster, &[task_arn.to_owned()]).await {
        Ok(d) => d,
        Err(e) if e.message.contains("ClusterNotFoundException") => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(described
        .tasks
        .iter()
        .find(|t| t.task_arn() == Some(task_arn) && t.desired_status() == Some("STOPPED"))
        .and_then(|t| {
            let cluster_arn = t.cluster_arn()?.to_owned();
            let service = t.group().and_then(vigil_adapters::arn::service_from_group);
            Some((cluster_arn, service))
        }))
}

/// StopTask; returns the task as ECS answered, for the record.
pub async fn stop_task(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
    task_arn: &str,
    reason: &str,
) -> Result<Value, EcsError> {
    let out = client
        .stop_task()
        .cluster(cluster)
        .task(task_arn)
        .reason(reason)
        .send()
        .await
        .map_err(|e| error("StopTask", DisplayErrorContext(&e)))?;
    let task = out.task();
    Ok(json!({
        "task_arn": task.and_then(|t| t.task_arn()),
        "last_status": task.and_then(|t| t.last_status()),
        "desired_status": task.and_then(|t| t.desired_status()),
        "stopped_reason": task.and_then(|t| t.stopped_reason()),
        "stop_code": task.and_then(|t| t.stop_code()).map(|c| c.as_str()),
    }))
}

/// ECS TagResource: sets one tag (`key` = `value`) on the task.
pub async fn tag_task(
    client: &aws_sdk_ecs::Client,
    task_arn: &str,
    key: &str,
    value: &str,
) -> Result<(), EcsError> {
    let tag = Tag::builder().key(key).value(value).build();
    client
        .tag_resource()
        .resource_arn(task_arn)
        .tags(tag)
        .send()
        .await
        .map_err(|e| error("TagResource", DisplayErrorContext(&e)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_is_named_by_its_arn_or_its_name_only() {
        let arn = "arn:aws:ecs:us-east-1:123456789012:cluster/prod";
        assert!(same_cluster(arn, arn));
        assert!(same_cluster(arn, "prod"));
        assert!(!same_cluster(arn, "staging"));
        assert!(!same_cluster(
            arn,
            "arn:aws:ecs:us-east-1:123456789012:cluster/staging"
        ));
        assert!(!same_cluster(arn, "cluster/prod-2"));
        assert!(!same_cluster("", "prod"));
    }
}
