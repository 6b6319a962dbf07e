//! ECS Task State Change events (`aws.ecs`): not findings, but the lifecycle facts later stages use
//! (cache eviction on STOPPED, confirmation of a stop Vigil asked for).

use crate::AdapterError;
use crate::envelope::Envelope;
use crate::json::Obj;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use vigil_model::text::clean_opt;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStateChange {
    pub event_id: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub time: Option<DateTime<Utc>>,
    pub cluster_arn: String,
    pub task_arn: String,
    pub last_status: String,
    pub desired_status: Option<String>,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub group: Option<String>,
    pub task_definition_arn: Option<String>,
    pub launch_type: Option<String>,
    /// The task's `version`: increases with every state change, so stale events can be told apart.
    pub version: Option<i64>,
    pub containers: Vec<TaskContainerState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskContainerState {
    pub name: Option<String>,
    pub runtime_id: Option<String>,
    pub image: Option<String>,
    pub image_digest: Option<String>,
    pub last_status: Option<String>,
}

impl TaskStateChange {
    pub fn is_stopped(&self) -> bool {
        self.last_status.eq_ignore_ascii_case("STOPPED")
    }
}

pub fn looks_like_task(o: &Obj<'_>) -> bool {
    o.has("taskArn") && o.has("clusterArn") && o.has("lastStatus")
}

pub fn parse(d: &Obj<'_>, envelope: Option<&Envelope>) -> Result<TaskStateChange, AdapterError> {
    let containers = d
        .objs("containers")?
        .iter()
        .map(|c| {
            Ok(TaskContainerState {
                name: clean_opt(c.str("name")?, 255),
                runtime_id: clean_opt(c.str("runtimeId")?, 128),
                image: clean_opt(c.str("image")?, 512),
                image_digest: clean_opt(c.str("imageDigest")?, 128),
                last_status: clean_opt(c.str("lastStatus")?, 32),
            })
        })
        .collect::<Result<Vec<_>, AdapterError>>()?;
    Ok(TaskStateChange {
        event_id: envelope.and_then(|e| e.id.clone()),
        account: envelope.and_then(|e| e.account.clone()),
        region: envelope.and_then(|e| e.region.clone()),
        time: envelope.and_then(|e| e.time),
        cluster_arn: required(d, "clusterArn", 1024)?,
        task_arn: required(d, "taskArn", 1024)?,
        last_status: required(d, "lastStatus", 32)?,
        desired_status: clean_opt(d.str("desiredStatus")?, 32),
        stop_code: clean_opt(d.str("stopCode")?, 64),
        stopped_reason: clean_opt(d.str("stoppedReason")?, 1024),
        stopped_at: d.time("stoppedAt")?,
        group: clean_opt(d.str("group")?, 255),
        task_definition_arn: clean_opt(d.str("taskDefinitionArn")?, 1024),
        launch_type: clean_opt(d.str("launchType")?, 32),
        version: d.int("version")?,
        containers,
    })
}

/// A required string, cleaned; one that cleans to nothing is missing.
fn required(d: &Obj<'_>, key: &str, max_chars: usize) -> Result<String, AdapterError> {
    clean_opt(Some(d.req_str(key)?), max_chars).ok_or_else(|| d.missing(key))
}
