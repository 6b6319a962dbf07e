//! GuardDuty Extended Threat Detection attack sequences (`AttackSequence:ECS/CompromisedCluster`, …):
//! one finding that correlates many signals over a day and names a cluster and possibly many tasks
//! and containers (`service.detection.sequence` of the GuardDuty finding).
//!
//! A sequence is **one** finding: its fingerprint comes from the sequence's own `uid` (see
//! [`crate::FindingFingerprint`]), never from a task, so a sequence that grows by a task is the same
//! finding. Its primary [`crate::Resource`] is the cluster only (no task, no container): nothing acts
//! on the sequence as a whole. Remediation fans out with [`Finding::per_task`]: one finding per named
//! task, each with that task (and its first container) as its resource and the sequence's fingerprint.
//!
//! Everything is bounded (see the `MAX_*` constants) and says how much was left out, so a sequence
//! naming hundreds of resources stays a small message.

use crate::Finding;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Tasks kept per sequence; the rest are counted in [`AttackSequence::tasks_dropped`].
pub const MAX_SEQUENCE_TASKS: usize = 100;
/// Containers kept per task (and unattached containers kept per sequence).
pub const MAX_TASK_CONTAINERS: usize = 10;
/// Clusters kept per sequence.
pub const MAX_SEQUENCE_CLUSTERS: usize = 10;
/// Signals kept in the summary (all are counted).
pub const MAX_SEQUENCE_SIGNALS: usize = 20;
/// Indicators kept, and values kept per indicator.
pub const MAX_SEQUENCE_INDICATORS: usize = 20;
/// Values kept per indicator; the rest are counted in [`SequenceIndicator::values_dropped`].
pub const MAX_INDICATOR_VALUES: usize = 10;
/// Actor ids and endpoints kept (all are counted).
pub const MAX_SEQUENCE_ACTORS: usize = 10;
/// Endpoints kept; all are counted in [`AttackSequence::endpoint_count`].
pub const MAX_SEQUENCE_ENDPOINTS: usize = 10;

/// A GuardDuty attack sequence, from the finding's `service.detection.sequence` and `resources`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttackSequence {
    /// `service.detection.sequence.uid`: GuardDuty's identity of the sequence.
    pub uid: String,
    /// The finding's title (GuardDuty gives the sequence itself only a description).
    pub title: Option<String>,
    /// `sequence.description`.
    pub description: Option<String>,
    /// `sequence.additionalSequenceTypes`.
    #[serde(default)]
    pub additional_types: Vec<String>,
    /// `sequence.signals`, summarized.
    pub signals: SignalSummary,
    /// `sequence.sequenceIndicators`, bounded.
    #[serde(default)]
    pub indicators: Vec<SequenceIndicator>,
    /// Indicators beyond [`MAX_SEQUENCE_INDICATORS`], counted not kept.
    #[serde(default)]
    pub indicators_dropped: u64,
    /// How many actors the sequence names, and the first few ids.
    pub actor_count: u64,
    /// The first actor ids (at most [`MAX_SEQUENCE_ACTORS`]).
    #[serde(default)]
    pub actor_ids: Vec<String>,
    /// How many network endpoints the sequence names, and the first few (IP or domain, with port).
    pub endpoint_count: u64,
    /// The first endpoints (at most [`MAX_SEQUENCE_ENDPOINTS`]).
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// ECS cluster ARNs named (`ECS_CLUSTER` resources, and the clusters of named tasks).
    #[serde(default)]
    pub clusters: Vec<String>,
    /// ECS tasks named (`ECS_TASK` resources whose uid is a task ARN), deduplicated, bounded.
    #[serde(default)]
    pub tasks: Vec<SequenceTask>,
    /// Tasks named but not kept: beyond [`MAX_SEQUENCE_TASKS`], or whose uid is not a task ARN.
    #[serde(default)]
    pub tasks_dropped: u64,
    /// `CONTAINER` resources no named task lists in its `containerUids`.
    #[serde(default)]
    pub unattached_containers: Vec<SequenceContainer>,
    /// Containers named but not kept (beyond the per-task or unattached bound).
    #[serde(default)]
    pub containers_dropped: u64,
    /// Resources of other types (EC2 instances, images, …) counted, not kept.
    #[serde(default)]
    pub other_resources: u64,
}

/// An ECS task a sequence names (`ECS_TASK` resource).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceTask {
    /// The task ARN (the resource's `uid`).
    pub task_arn: String,
    /// The task's cluster ARN.
    pub cluster_arn: Option<String>,
    /// The task definition ARN.
    pub task_definition_arn: Option<String>,
    /// The launch type (`FARGATE`, `EC2`).
    pub launch_type: Option<String>,
    /// Containers of the task the sequence names (at most [`MAX_TASK_CONTAINERS`]).
    #[serde(default)]
    pub containers: Vec<SequenceContainer>,
}

/// A container a sequence names (`CONTAINER` resource).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceContainer {
    /// The resource's `uid` (GuardDuty's container identifier, the runtime id where it gives one).
    pub uid: String,
    /// The container's name.
    pub name: Option<String>,
    /// The image reference.
    pub image: Option<String>,
    /// `data.container.imageUid`.
    pub image_uid: Option<String>,
}

/// The signals a sequence correlates, counted, with the first few kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalSummary {
    /// Signals listed in the sequence.
    pub count: u64,
    /// The sum of their `count`s: the observations GuardDuty correlated.
    pub occurrences: u64,
    /// The earliest `firstSeenAt` among them.
    pub first_seen: Option<DateTime<Utc>>,
    /// The latest `lastSeenAt` among them.
    pub last_seen: Option<DateTime<Utc>>,
    /// Signals by type (`FINDING`, `CLOUD_TRAIL`, `S3_DATA_EVENTS`, …) → how many.
    #[serde(default)]
    pub types: std::collections::BTreeMap<String, u64>,
    /// The first signals, in the sequence's order.
    #[serde(default)]
    pub kept: Vec<SignalBrief>,
}

/// One signal of a sequence (`sequence.signals[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalBrief {
    /// The signal's `name` (e.g. a finding type or API name).
    pub name: String,
    /// Its `type` (`FINDING`, `CLOUD_TRAIL`, …).
    pub signal_type: Option<String>,
    /// Its `count`: observations folded into it.
    pub count: u64,
    /// Its `firstSeenAt`.
    pub first_seen: Option<DateTime<Utc>>,
    /// Its `lastSeenAt`.
    pub last_seen: Option<DateTime<Utc>>,
}

/// One indicator of a sequence (`sequence.sequenceIndicators[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceIndicator {
    /// The indicator's `key` (e.g. `ATTACK_TACTIC`, `HIGH_RISK_API`).
    pub key: String,
    /// Its `title`.
    pub title: Option<String>,
    /// Its first `values` (at most [`MAX_INDICATOR_VALUES`]).
    #[serde(default)]
    pub values: Vec<String>,
    /// Values beyond that bound, counted not kept.
    #[serde(default)]
    pub values_dropped: u64,
}

impl AttackSequence {
    /// One line for people: signals, tasks, containers.
    pub fn summary(&self) -> String {
        let containers: usize = self.tasks.iter().map(|t| t.containers.len()).sum::<usize>()
            + self.unattached_containers.len();
        let mut s = format!(
            "{} signal(s) ({} observation(s)), {} cluster(s), {} task(s), {} container(s)",
            self.signals.count,
            self.signals.occurrences,
            self.clusters.len(),
            self.tasks.len() as u64 + self.tasks_dropped,
            containers as u64 + self.containers_dropped,
        );
        if !self.signals.kept.is_empty() {
            s.push_str(": ");
            let names: Vec<&str> = self.signals.kept.iter().map(|b| b.name.as_str()).collect();
            s.push_str(&names.join(", "));
            if self.signals.count > self.signals.kept.len() as u64 {
                s.push_str(", …");
            }
        }
        s
    }
}

impl Finding {
    /// Whether this is an attack sequence (see [`AttackSequence`]).
    pub fn is_sequence(&self) -> bool {
        self.sequence.is_some()
    }

    /// One finding per task the sequence names, for remediation to decide each on its own: the
    /// same finding with `resource.task_arn`, `cluster_arn`, task definition, launch type and
    /// container (the task's first named container) set to that task, and the sequence's
    /// fingerprint (it comes from the sequence uid, so `FindingFingerprint::of` agrees). A task in
    /// another account than the finding's carries an identity conflict, so remediation refuses it.
    /// Empty for a finding that is not a sequence, or a sequence that names no task.
    pub fn per_task(&self) -> Vec<Finding> {
        let Some(seq) = &self.sequence else {
            return Vec::new();
        };
        seq.tasks
            .iter()
            .map(|task| {
                let mut f = self.clone();
                let r = &mut f.resource;
                r.task_arn = Some(task.task_arn.clone());
                r.cluster_arn = task.cluster_arn.clone().or(r.cluster_arn.take());
                r.launch_type = task.launch_type.clone();
                r.service_name = None;
                let (family, revision) = task
                    .task_definition_arn
                    .as_deref()
                    .and_then(|a| a.rsplit_once("task-definition/"))
                    .and_then(|(_, rest)| rest.rsplit_once(':'))
                    .map_or((None, None), |(f, r)| {
                        (Some(f.to_owned()), Some(r.to_owned()))
                    });
                r.task_definition_family = family;
                r.task_definition_revision = revision;
                r.container = task
                    .containers
                    .first()
                    .map(|c| crate::Container {
                        name: c.name.clone(),
                        id: Some(c.uid.clone()),
                        image: c.image.clone(),
                        image_digest: c.image_uid.clone().or_else(|| {
                            c.image
                                .as_deref()
                                .and_then(|i| i.split_once('@'))
                                .map(|(_, d)| d.to_owned())
                        }),
                        privileged: None,
                    })
                    .unwrap_or_default();
                let task_account = task.task_arn.split(':').nth(4);
                if let Some(a) = task_account
                    && f.account.as_deref() != Some(a)
                {
                    f.identity_conflicts.push(format!(
                        "the task is in account \"{a}\", not the finding's account \"{}\"",
                        f.account.as_deref().unwrap_or("unknown")
                    ));
                }
                f
            })
            .collect()
    }
}
