//! The ECS calls remediation makes: a fresh look at the task and its service (never the cache:
//! the decision must see the task as it is now), StopTask and TagResource.

use aws_sdk_ecs::error::DisplayErrorContext;
use aws_sdk_ecs::types::{ServiceField, Tag};
use serde_json::{Value, json};
use vigil_ecs::describe::{EcsError, describe_tasks, task_info};
use vigil_model::TaskInfo;
use vigil_playbook::{LiveService, LiveTask};

fn error(operation: &'static str, e: impl std::fmt::Display) -> EcsError {
    EcsError {
        operation,
        message: e.to_string(),
    }
}

/// The task now (and its service's tags and running count), with the described task as evidence.
pub async fn live_task(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
    task_arn: &str,
) -> Result<(LiveTask, Option<TaskInfo>), EcsError> {
    let described = match describe_tasks(client, cluster, &[task_arn.to_owned()]).await {
        Ok(d) => d,
        // The cluster is gone (or never was): so is the task. Nothing to act on.
        Err(e) if e.message.contains("ClusterNotFoundException") => {
            return Ok((
                LiveTask::Missing(format!("ECS does not know the cluster {cluster}")),
                None,
            ));
        }
        Err(e) => return Err(e),
    };
    let Some(task) = described.tasks.first() else {
        let reason = described
            .failures
            .first()
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| "MISSING".into());
        return Ok((
            LiveTask::Missing(format!("ECS does not know the task: {reason}")),
            None,
        ));
    };
    let info = task_info(task, cluster);
    let status = task.last_status().unwrap_or("UNKNOWN");
    let desired = task.desired_status().unwrap_or("RUNNING");
    if status != "RUNNING" || desired != "RUNNING" {
        return Ok((
            LiveTask::NotRunning(format!("{status} (desired {desired})")),
            Some(info),
        ));
    }
    let service = match &info.service_name {
        None => None,
        Some(name) => Some(live_service(client, cluster, name).await?),
    };
    Ok((
        LiveTask::Running {
            tags: info.tags.clone(),
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

async fn live_service(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
    name: &str,
) -> Result<LiveService, EcsError> {
    let out = client
        .describe_services()
        .cluster(cluster)
        .services(name)
        .include(ServiceField::Tags)
        .send()
        .await
        .map_err(|e| error("DescribeServices", DisplayErrorContext(&e)))?;
    let Some(service) = out.services().first() else {
        // The group names a service ECS no longer has: count it as a service with no other task.
        return Ok(LiveService {
            name: name.to_owned(),
            tags: Default::default(),
            running_count: 0,
        });
    };
    Ok(LiveService {
        name: name.to_owned(),
        tags: service
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                ))
            })
            .collect(),
        running_count: service.running_count(),
    })
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
