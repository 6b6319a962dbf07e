//! ECS Task State Change events (`aws.ecs`): not findings, but the lifecycle facts later stages use
//! (cache eviction on STOPPED, confirmation of a stop Vigil asked for).

use crate::AdapterError;
use crate::envelope::Envelope;
use crate::json::Obj;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use vigil_model::text::clean_opt;

/// An EventBridge `ECS Task State Change` event (`detail` of source `aws.ecs`), as ECS documents it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStateChange {
    /// The envelope's `id`.
    pub event_id: Option<String>,
    /// The envelope's `account`.
    pub account: Option<String>,
    /// The envelope's `region`.
    pub region: Option<String>,
    /// The envelope's `time`.
    pub time: Option<DateTime<Utc>>,
    /// `detail.clusterArn`.
    pub cluster_arn: String,
    /// `detail.taskArn`.
    pub task_arn: String,
    /// `detail.lastStatus` (`PROVISIONING` … `RUNNING` … `STOPPED`).
    pub last_status: String,
    /// `detail.desiredStatus` (`RUNNING` or `STOPPED`).
    pub desired_status: Option<String>,
    /// `detail.stopCode` (`UserInitiated`, `EssentialContainerExited`, `TaskFailedToStart`, …).
    pub stop_code: Option<String>,
    /// `detail.stoppedReason`: free text, e.g. the reason a `StopTask` caller gave.
    pub stopped_reason: Option<String>,
    /// `detail.stoppedAt`.
    pub stopped_at: Option<DateTime<Utc>>,
    /// `detail.group` (`service:<name>`, `family:<name>`).
    pub group: Option<String>,
    /// `detail.taskDefinitionArn`.
    pub task_definition_arn: Option<String>,
    /// `detail.launchType` (`FARGATE`, `EC2`, `EXTERNAL`).
    pub launch_type: Option<String>,
    /// The task's `version`: increases with every state change, so stale events can be told apart.
    pub version: Option<i64>,
    /// `detail.containers[]`.
    pub containers: Vec<TaskContainerState>,
}

/// One of `detail.containers[]` of an `ECS Task State Change`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskContainerState {
    /// `name`, at most 255 characters.
    pub name: Option<String>,
    /// `runtimeId`: the container runtime id.
    pub runtime_id: Option<String>,
    /// `image`: the image reference.
    pub image: Option<String>,
    /// `imageDigest` (`sha256:<64 hex>`).
    pub image_digest: Option<String>,
    /// `lastStatus`.
    pub last_status: Option<String>,
}

impl TaskStateChange {
    /// Whether the task's `lastStatus` is `STOPPED` (any case).
    pub fn is_stopped(&self) -> bool {
        self.last_status.eq_ignore_ascii_case("STOPPED")
    }
}

/// Whether `o` has the shape of an ECS task state `detail` (`taskArn`, `clusterArn`, `lastStatus`).
pub fn looks_like_task(o: &Obj<'_>) -> bool {
    o.has("taskArn") && o.has("clusterArn") && o.has("lastStatus")
}

/// Reads an `ECS Task State Change` `detail`, with its envelope's id, account, region and time.
///
/// Fails when `taskArn`, `clusterArn` or `lastStatus` is missing, or a field has the wrong JSON type.
pub fn parse(
    d: &Obj<'_>,
    envelope: Option<&Envelope<'_>>,
) -> Result<TaskStateChange, AdapterError> {
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
        event_id: envelope.and_then(|e| e.id_owned()),
        account: envelope.and_then(|e| e.account_owned()),
        region: envelope.and_then(|e| e.region_owned()),
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
