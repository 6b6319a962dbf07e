//! What enrichment learned about a finding's ECS task. Part of the `Finding Enriched` event and the
//! input of the enriched ASFF mapping; kept here so both sides share one schema.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What enrich learned of a finding's task: the `enrichment` of a `Finding Enriched` event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrichment {
    /// `true` when the task was described; otherwise `reason` says why not (the finding still flows).
    pub enriched: bool,
    /// Why the task was not described (no task named, ECS error, task gone); `None` when enriched.
    pub reason: Option<String>,
    /// The described task; `None` when not enriched.
    pub task: Option<TaskInfo>,
    /// The alert's container is not one of the described task's: the finding is kept and
    /// imported, and remediation refuses it.
    #[serde(default)]
    pub identity_mismatch: Option<String>,
}

impl Enrichment {
    /// Not enriched, for `reason`.
    pub fn unenriched(reason: impl Into<String>) -> Self {
        Enrichment {
            enriched: false,
            reason: Some(reason.into()),
            task: None,
            identity_mismatch: None,
        }
    }

    /// Enriched with `task`.
    pub fn of(task: TaskInfo) -> Self {
        Enrichment {
            enriched: true,
            reason: None,
            task: Some(task),
            identity_mismatch: None,
        }
    }
}

/// An ECS task as `DescribeTasks` (and the task definition, service and cluster it belongs to)
/// described it. Optional fields are `None` where ECS gave no value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// The task ARN (`arn:<partition>:ecs:<region>:<account>:task/<cluster>/<id>`).
    pub task_arn: String,
    /// The cluster ARN (`arn:<partition>:ecs:<region>:<account>:cluster/<name>`).
    pub cluster_arn: String,
    /// ECS `lastStatus` (`RUNNING`, `STOPPED`, …).
    pub last_status: Option<String>,
    /// The service that started the task, from its `group` (`service:<name>`); `None` for standalone tasks.
    pub service_name: Option<String>,
    /// The service's ARN, when services are described.
    pub service_arn: Option<String>,
    /// ECS `group` (`service:<name>`, `family:<name>`, or a custom group).
    pub group: Option<String>,
    /// ECS `startedBy` (a deployment id for service tasks, or what the caller of `RunTask` set).
    pub started_by: Option<String>,
    /// ECS `taskDefinitionArn` (`…:task-definition/<family>:<revision>`).
    pub task_definition_arn: Option<String>,
    /// The task definition's `family`.
    pub task_definition_family: Option<String>,
    /// The task definition's `revision` (1 and up).
    pub task_definition_revision: Option<i32>,
    /// ECS `launchType` (`FARGATE`, `EC2`, `EXTERNAL`).
    pub launch_type: Option<String>,
    /// ECS `platformVersion` (Fargate only, e.g. `1.4.0`).
    pub platform_version: Option<String>,
    /// ECS `availabilityZone` (e.g. `eu-west-1a`).
    pub availability_zone: Option<String>,
    /// The task's private IPv4 address, from its ENI attachment or its containers' network interfaces.
    pub private_ip: Option<String>,
    /// The IAM role the task's containers assume, from the task definition.
    pub task_role_arn: Option<String>,
    /// The task's tags, key → value.
    pub tags: BTreeMap<String, String>,
    /// The service's tags, key → value; empty when services are not described.
    pub service_tags: BTreeMap<String, String>,
    /// The cluster's tags (cached with the other ECS metadata); absent in enrichments written
    /// before they were read.
    #[serde(default)]
    pub cluster_tags: BTreeMap<String, String>,
    /// The task's containers, as ECS listed them.
    pub containers: Vec<ContainerInfo>,
    /// The container the finding is about, when it could be told apart.
    pub offending_container: Option<String>,
}

impl TaskInfo {
    /// The container named `name`; `None` when the task has none of that name.
    pub fn container(&self, name: &str) -> Option<&ContainerInfo> {
        self.containers.iter().find(|c| c.name == name)
    }

    /// The container the finding is about; `None` when it was not told apart or is not in the task.
    pub fn offending(&self) -> Option<&ContainerInfo> {
        self.offending_container
            .as_deref()
            .and_then(|n| self.container(n))
    }
}

/// One container of a described ECS task (`DescribeTasks` `containers[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// The container's name in the task definition.
    pub name: String,
    /// The image reference the container was started from (`repository[:tag]`).
    pub image: Option<String>,
    /// The image's digest (`sha256:<64 hex>`).
    pub image_digest: Option<String>,
    /// The container runtime id (64 hex characters on EC2 and Fargate).
    pub runtime_id: Option<String>,
    /// ECS `lastStatus` of the container (`RUNNING`, `STOPPED`, …).
    pub last_status: Option<String>,
    /// From the task definition's container definition.
    pub privileged: Option<bool>,
    /// From the container definition: whether its root filesystem is read-only.
    pub readonly_root_filesystem: Option<bool>,
    /// From the container definition: the user it runs as (`user`, `uid`, `user:group`).
    pub user: Option<String>,
}
