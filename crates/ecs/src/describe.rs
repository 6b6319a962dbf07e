//! The ECS calls and their conversion into Vigil's types.

use crate::cache::{ContainerSecurity, ServiceInfo, TaskDefinitionInfo};
use aws_sdk_ecs::error::{DisplayErrorContext, SdkError};
use aws_sdk_ecs::types::{DesiredStatus, ServiceField, Task, TaskDefinitionField, TaskField};
use std::collections::{BTreeMap, HashMap};
use vigil_model::{ContainerInfo, TaskInfo};

/// DescribeTasks takes at most 100 tasks per call.
pub const MAX_TASKS_PER_CALL: usize = 100;
/// DescribeServices takes at most 10 services per call.
pub const MAX_SERVICES_PER_CALL: usize = 10;

/// An ECS call that failed as a whole.
#[derive(Debug, thiserror::Error)]
#[error("ECS {operation} failed: {message}")]
pub struct EcsError {
    /// The ECS API operation (`DescribeTasks`, `DescribeTaskDefinition`, `DescribeServices`, `ListTasks`, …).
    pub operation: &'static str,
    /// The SDK error with its sources (`DisplayErrorContext`).
    pub message: String,
}

fn ecs_error<E: std::error::Error + 'static, R: std::fmt::Debug>(
    operation: &'static str,
    e: SdkError<E, R>,
) -> EcsError {
    EcsError {
        operation,
        message: DisplayErrorContext(&e).to_string(),
    }
}

/// Described tasks, and the ARNs ECS reported as failures (`MISSING`, …) with the reason.
pub struct DescribeTasksOutput {
    /// The tasks ECS described.
    pub tasks: Vec<Task>,
    /// (ARN, reason) for each task ECS could not describe, e.g. `MISSING`; `UNKNOWN` when no reason was given.
    pub failures: Vec<(String, String)>,
}

/// DescribeTasks for up to 100 tasks of one cluster, with tags.
pub async fn describe_tasks(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
    arns: &[String],
) -> Result<DescribeTasksOutput, EcsError> {
    debug_assert!(arns.len() <= MAX_TASKS_PER_CALL);
    let out = client
        .describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(arns.to_vec()))
        .include(TaskField::Tags)
        .send()
        .await
        .map_err(|e| ecs_error("DescribeTasks", e))?;
    let failures = out
        .failures()
        .iter()
        .map(|f| {
            (
                f.arn().unwrap_or_default().to_owned(),
                f.reason().unwrap_or("UNKNOWN").to_owned(),
            )
        })
        .collect();
    Ok(DescribeTasksOutput {
        tasks: out.tasks().to_vec(),
        failures,
    })
}

/// What a described task says about itself (task definition and service details are added later).
pub fn task_info(task: &Task, cluster_fallback: &str) -> TaskInfo {
    let private_ip = task
        .attachments()
        .iter()
        .flat_map(|a| a.details())
        .find(|d| d.name() == Some("privateIPv4Address"))
        .and_then(|d| d.value())
        .map(str::to_owned)
        .or_else(|| {
            task.containers()
                .iter()
                .flat_map(|c| c.network_interfaces())
                .find_map(|n| n.private_ipv4_address())
                .map(str::to_owned)
        });
    TaskInfo {
        task_arn: task.task_arn().unwrap_or_default().to_owned(),
        cluster_arn: task.cluster_arn().unwrap_or(cluster_fallback).to_owned(),
        last_status: task.last_status().map(str::to_owned),
        service_name: task
            .group()
            .and_then(vigil_adapters::arn::service_from_group),
        service_arn: None,
        group: task.group().map(str::to_owned),
        started_by: task.started_by().map(str::to_owned),
        task_definition_arn: task.task_definition_arn().map(str::to_owned),
        task_definition_family: None,
        task_definition_revision: None,
        launch_type: task.launch_type().map(|l| l.as_str().to_owned()),
        platform_version: task.platform_version().map(str::to_owned),
        availability_zone: task.availability_zone().map(str::to_owned),
        private_ip,
        task_role_arn: task
            .overrides()
            .and_then(|o| o.task_role_arn())
            .map(str::to_owned),
        tags: tags(task.tags().iter().map(|t| (t.key(), t.value()))),
        service_tags: BTreeMap::new(),
        cluster_tags: BTreeMap::new(),
        containers: task
            .containers()
            .iter()
            .map(|c| ContainerInfo {
                name: c.name().unwrap_or_default().to_owned(),
                image: c.image().map(str::to_owned),
                image_digest: c.image_digest().map(str::to_owned),
                runtime_id: c.runtime_id().map(str::to_owned),
                last_status: c.last_status().map(str::to_owned),
                privileged: None,
                readonly_root_filesystem: None,
                user: None,
            })
            .collect(),
        offending_container: None,
    }
}

fn tags<'a>(
    pairs: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> BTreeMap<String, String> {
    pairs
        .filter_map(|(k, v)| Some((k?.to_owned(), v.unwrap_or_default().to_owned())))
        .collect()
}

/// `DescribeTaskDefinition` (with tags) for the task definition `arn`, kept as its family, revision,
/// task role and each container's hardening.
///
/// Fails when the call fails (including an unknown or inaccessible definition).
pub async fn describe_task_definition(
    client: &aws_sdk_ecs::Client,
    arn: &str,
) -> Result<TaskDefinitionInfo, EcsError> {
    let out = client
        .describe_task_definition()
        .task_definition(arn)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .map_err(|e| ecs_error("DescribeTaskDefinition", e))?;
    let td = out.task_definition();
    Ok(TaskDefinitionInfo {
        family: td.and_then(|t| t.family()).map(str::to_owned),
        revision: td.map(|t| t.revision()),
        task_role_arn: td.and_then(|t| t.task_role_arn()).map(str::to_owned),
        containers: td
            .map(|t| t.container_definitions())
            .unwrap_or_default()
            .iter()
            .filter_map(|c| {
                let security = ContainerSecurity {
                    privileged: c.privileged(),
                    readonly_root_filesystem: c.readonly_root_filesystem(),
                    user: c.user().map(str::to_owned),
                };
                Some((c.name()?.to_owned(), security))
            })
            .collect(),
    })
}

/// DescribeClusters (with tags) for up to 100 clusters: cluster ARN → its tags.
pub async fn describe_cluster_tags(
    client: &aws_sdk_ecs::Client,
    clusters: &[String],
) -> Result<HashMap<String, BTreeMap<String, String>>, EcsError> {
    let out = client
        .describe_clusters()
        .set_clusters(Some(clusters.to_vec()))
        .include(aws_sdk_ecs::types::ClusterField::Tags)
        .send()
        .await
        .map_err(|e| ecs_error("DescribeClusters", e))?;
    Ok(out
        .clusters()
        .iter()
        .filter_map(|c| {
            Some((
                c.cluster_arn()?.to_owned(),
                tags(c.tags().iter().map(|t| (t.key(), t.value()))),
            ))
        })
        .collect())
}

/// DescribeServices (with tags) for up to 10 services of one cluster.
pub async fn describe_services(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
    names: &[String],
) -> Result<HashMap<String, ServiceInfo>, EcsError> {
    let out = client
        .describe_services()
        .cluster(cluster)
        .set_services(Some(names.to_vec()))
        .include(ServiceField::Tags)
        .send()
        .await
        .map_err(|e| ecs_error("DescribeServices", e))?;
    Ok(out
        .services()
        .iter()
        .filter_map(|s| {
            Some((
                s.service_name()?.to_owned(),
                ServiceInfo {
                    arn: s.service_arn().map(str::to_owned),
                    tags: tags(s.tags().iter().map(|t| (t.key(), t.value()))),
                },
            ))
        })
        .collect())
}

/// The running tasks of a cluster by container runtime id (12-character prefix, lower case): for
/// findings that name a container but not its task (Falco on EC2 hosts without ECS labels).
pub async fn running_tasks_by_runtime_id(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
) -> Result<(HashMap<String, String>, Vec<Task>), EcsError> {
    let mut arns = Vec::new();
    let mut pages = client
        .list_tasks()
        .cluster(cluster)
        .desired_status(DesiredStatus::Running)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        arns.extend(
            page.map_err(|e| ecs_error("ListTasks", e))?
                .task_arns()
                .iter()
                .cloned(),
        );
    }
    let mut index = HashMap::new();
    let mut tasks = Vec::new();
    for chunk in arns.chunks(MAX_TASKS_PER_CALL) {
        let described = describe_tasks(client, cluster, chunk).await?;
        for task in described.tasks {
            for c in task.containers() {
                if let (Some(id), Some(arn)) = (c.runtime_id(), task.task_arn()) {
                    index.insert(short_id(id), arn.to_owned());
                }
            }
            tasks.push(task);
        }
    }
    Ok((index, tasks))
}

/// Docker's 12-character short form of a runtime id, lower case.
pub fn short_id(id: &str) -> String {
    id.chars().take(12).collect::<String>().to_ascii_lowercase()
}
