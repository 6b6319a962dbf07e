//! Which tasks run: per cluster in scope, `ListTasks` (desired status RUNNING, pages of 100) and
//! `DescribeTasks` (≤ 100 a call); `DescribeContainerInstances` (≤ 100 a call) only when a
//! heartbeat names an EC2 instance, to place it.

use aws_sdk_ecs::types::DesiredStatus;
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};

/// DescribeTasks and DescribeContainerInstances take at most 100 a call; ListTasks returns at most 100.
pub const MAX_PER_CALL: usize = 100;

/// An ECS call that failed (`about`: the cluster; empty for ListClusters).
pub type InventoryError = crate::error::CallError;

fn ecs_error(
    operation: &'static str,
    cluster: &str,
    e: impl std::error::Error + 'static,
) -> InventoryError {
    InventoryError::new("ECS", operation, cluster, e)
}

/// A running task, as the check needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningTask {
    /// Its ARN.
    pub task_arn: String,
    /// Its cluster's ARN.
    pub cluster_arn: String,
    /// `service:NAME`, `family:NAME`, or what ECS gave.
    pub group: Option<String>,
    /// When it started (`startedAt`, else `createdAt`).
    pub started_at: Option<DateTime<Utc>>,
    /// The container instance it runs on (EC2 launch type).
    pub container_instance_arn: Option<String>,
    /// That container instance's EC2 instance id, when looked up.
    pub ec2_instance_id: Option<String>,
    /// `FARGATE`, `EC2`, `EXTERNAL`, …
    pub launch_type: Option<String>,
}

/// ECS calls made, by operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct EcsCalls {
    /// ListClusters calls.
    pub list_clusters: u64,
    /// ListTasks calls.
    pub list_tasks: u64,
    /// DescribeTasks calls.
    pub describe_tasks: u64,
    /// DescribeContainerInstances calls.
    pub describe_container_instances: u64,
}

impl EcsCalls {
    /// All of them.
    pub fn total(&self) -> u64 {
        self.list_clusters
            + self.list_tasks
            + self.describe_tasks
            + self.describe_container_instances
    }
}

fn time(t: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    let t = t?;
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// The clusters in scope: `configured` (names or ARNs), else every cluster ListClusters names.
pub async fn clusters(
    ecs: &aws_sdk_ecs::Client,
    configured: &[String],
    calls: &mut EcsCalls,
) -> Result<Vec<String>, InventoryError> {
    if !configured.is_empty() {
        return Ok(configured.to_vec());
    }
    let mut out = Vec::new();
    let mut token = None;
    loop {
        calls.list_clusters += 1;
        let page = ecs
            .list_clusters()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| ecs_error("ListClusters", "", e))?;
        out.extend(page.cluster_arns().iter().cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// The running tasks of `cluster`.
pub async fn running_tasks(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    calls: &mut EcsCalls,
) -> Result<Vec<RunningTask>, InventoryError> {
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        calls.list_tasks += 1;
        let page = ecs
            .list_tasks()
            .cluster(cluster)
            .desired_status(DesiredStatus::Running)
            .max_results(MAX_PER_CALL as i32)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| ecs_error("ListTasks", cluster, e))?;
        arns.extend(page.task_arns().iter().cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let mut tasks = Vec::with_capacity(arns.len());
    for chunk in arns.chunks(MAX_PER_CALL) {
        calls.describe_tasks += 1;
        let out = ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| ecs_error("DescribeTasks", cluster, e))?;
        // A task that stopped between the two calls is not running: it needs no agent.
        tasks.extend(
            out.tasks()
                .iter()
                .filter(|t| t.last_status() != Some("STOPPED"))
                .filter_map(|t| {
                    Some(RunningTask {
                        task_arn: t.task_arn()?.to_owned(),
                        cluster_arn: t.cluster_arn().unwrap_or(cluster).to_owned(),
                        group: t.group().map(str::to_owned),
                        started_at: time(t.started_at()).or_else(|| time(t.created_at())),
                        container_instance_arn: t.container_instance_arn().map(str::to_owned),
                        ec2_instance_id: None,
                        launch_type: t.launch_type().map(|l| l.as_str().to_owned()),
                    })
                }),
        );
    }
    Ok(tasks)
}

/// Fills each task's EC2 instance id from its container instance.
pub async fn place_on_instances(
    ecs: &aws_sdk_ecs::Client,
    tasks: &mut [RunningTask],
    calls: &mut EcsCalls,
) -> Result<(), InventoryError> {
    let mut by_cluster: HashMap<String, BTreeSet<String>> = HashMap::new();
    for t in tasks.iter() {
        if let Some(ci) = &t.container_instance_arn {
            by_cluster
                .entry(t.cluster_arn.clone())
                .or_default()
                .insert(ci.clone());
        }
    }
    let mut instance_of: HashMap<String, String> = HashMap::new();
    for (cluster, instances) in by_cluster {
        let instances: Vec<String> = instances.into_iter().collect();
        for chunk in instances.chunks(MAX_PER_CALL) {
            calls.describe_container_instances += 1;
            let out = ecs
                .describe_container_instances()
                .cluster(&cluster)
                .set_container_instances(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| ecs_error("DescribeContainerInstances", &cluster, e))?;
            for ci in out.container_instances() {
                if let (Some(arn), Some(id)) = (ci.container_instance_arn(), ci.ec2_instance_id()) {
                    instance_of.insert(arn.to_owned(), id.to_owned());
                }
            }
        }
    }
    for t in tasks.iter_mut() {
        t.ec2_instance_id = t
            .container_instance_arn
            .as_ref()
            .and_then(|ci| instance_of.get(ci).cloned());
    }
    Ok(())
}
