//! What enrichment learned about a finding's ECS task. Part of the `Finding Enriched` event and the
//! input of the enriched ASFF mapping; kept here so both sides share one schema.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrichment {
    /// `true` when the task was described; otherwise `reason` says why not (the finding still flows).
    pub enriched: bool,
    pub reason: Option<String>,
    pub task: Option<TaskInfo>,
    /// The alert's container is not one of the described task's: the finding is kept and
    /// imported, and remediation refuses it.
    #[serde(default)]
    pub identity_mismatch: Option<String>,
}

impl Enrichment {
    pub fn unenriched(reason: impl Into<String>) -> Self {
        Enrichment {
            enriched: false,
            reason: Some(reason.into()),
            task: None,
            identity_mismatch: None,
        }
    }

    pub fn of(task: TaskInfo) -> Self {
        Enrichment {
            enriched: true,
            reason: None,
            task: Some(task),
            identity_mismatch: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInfo {
    pub task_arn: String,
    pub cluster_arn: String,
    pub last_status: Option<String>,
    pub service_name: Option<String>,
    pub service_arn: Option<String>,
    pub group: Option<String>,
    pub started_by: Option<String>,
    pub task_definition_arn: Option<String>,
    pub task_definition_family: Option<String>,
    pub task_definition_revision: Option<i32>,
    pub launch_type: Option<String>,
    pub platform_version: Option<String>,
    pub availability_zone: Option<String>,
    pub private_ip: Option<String>,
    pub task_role_arn: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub service_tags: BTreeMap<String, String>,
    /// The cluster's tags (cached with the other ECS metadata); absent in enrichments written
    /// before they were read.
    #[serde(default)]
    pub cluster_tags: BTreeMap<String, String>,
    pub containers: Vec<ContainerInfo>,
    /// The container the finding is about, when it could be told apart.
    pub offending_container: Option<String>,
}

impl TaskInfo {
    pub fn container(&self, name: &str) -> Option<&ContainerInfo> {
        self.containers.iter().find(|c| c.name == name)
    }

    pub fn offending(&self) -> Option<&ContainerInfo> {
        self.offending_container
            .as_deref()
            .and_then(|n| self.container(n))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    pub name: String,
    pub image: Option<String>,
    pub image_digest: Option<String>,
    pub runtime_id: Option<String>,
    pub last_status: Option<String>,
    /// From the task definition's container definition.
    pub privileged: Option<bool>,
    pub readonly_root_filesystem: Option<bool>,
    pub user: Option<String>,
}
