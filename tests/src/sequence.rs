//! GuardDuty attack sequences about a test pipeline's cluster, built from the documented sample
//! (`samples/guardduty-attack-sequence-ecs.json`) with the ids, tasks and times a test needs.

use crate::{ACCOUNT, Pipeline};
use serde_json::{Value, json};

/// The task ids in the sample's three task slots.
const SAMPLE_TASKS: [&str; 3] = [
    "0a1b2c3d4e5f40718293a4b5c6d7e8f9",
    "1b2c3d4e5f60718293a4b5c6d7e8f90a",
    "2c3d4e5f60718293a4b5c6d7e8f90a1b",
];
/// The runtime ids of the containers in the sample's first two task slots.
const SAMPLE_CONTAINERS: [&str; 2] = [
    "3e1f6a2b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f",
    "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f3e1f6a2b9c8d7e6f5a4b3c2d1e0f",
];
/// The sample's GuardDuty finding id (the last part of its ARN).
const SAMPLE_FINDING: &str = "f8c1a7e2d3b44a5c9e0f1a2b3c4d5e6f";
/// The sample's sequence uid.
const SAMPLE_UID: &str = "2f9a6c1e8d7b4a3f9c0e1d2b3a4f5e6d";

/// An attack sequence event to build: EventBridge id, and optionally another GuardDuty finding id,
/// sequence uid, the tasks it names and its age.
#[derive(Debug, Clone)]
pub struct AttackSequence {
    id: String,
    finding: Option<String>,
    uid: Option<String>,
    tasks: Vec<String>,
    age_seconds: i64,
}

impl AttackSequence {
    /// The sample as EventBridge event `id`, seen just now, naming no task of the pipeline (its
    /// task slots name tasks ECS does not know).
    pub fn new(id: &str) -> Self {
        AttackSequence {
            id: id.to_owned(),
            finding: None,
            uid: None,
            tasks: Vec::new(),
            age_seconds: 0,
        }
    }

    /// As GuardDuty finding `finding` (32 hex digits).
    pub fn finding(mut self, finding: &str) -> Self {
        self.finding = Some(finding.to_owned());
        self
    }

    /// With sequence uid `uid`.
    pub fn uid(mut self, uid: &str) -> Self {
        self.uid = Some(uid.to_owned());
        self
    }

    /// Naming `tasks` (ARNs, possibly of another account or in other casing) in the sample's
    /// three slots, in order; the first two with their app containers' runtime ids.
    pub fn naming(mut self, tasks: &[String]) -> Self {
        self.tasks = tasks.to_vec();
        self
    }

    /// Every time in it `seconds` ago.
    pub fn aged(mut self, seconds: i64) -> Self {
        self.age_seconds = seconds;
        self
    }

    /// The event, about `p`'s cluster in the test account and `us-east-1`.
    pub async fn build(self, p: &Pipeline) -> Value {
        let mut text = include_str!("../../samples/guardduty-attack-sequence-ecs.json")
            .replace("111122223333", ACCOUNT)
            .replace("us-west-2", "us-east-1")
            .replace("cluster/shop-prod", "cluster/prod")
            .replace("task/shop-prod/", "task/prod/");
        if let Some(finding) = &self.finding {
            text = text.replace(SAMPLE_FINDING, finding);
        }
        if let Some(uid) = &self.uid {
            text = text.replace(SAMPLE_UID, uid);
        }
        assert!(
            self.tasks.len() <= SAMPLE_TASKS.len(),
            "the sample has three task slots"
        );
        for (i, task) in self.tasks.iter().enumerate() {
            let task_id = task.rsplit('/').next().unwrap_or(task);
            if let Some(container) = SAMPLE_CONTAINERS.get(i) {
                let runtime = p
                    .emulator
                    .runtime_id(&p.cluster, &task_id.to_lowercase(), "app")
                    .await;
                text = text.replace(container, &runtime);
            }
            // The whole ARN first: a test may name a task of another account.
            let sample_arn = format!(
                "arn:aws:ecs:us-east-1:{ACCOUNT}:task/prod/{}",
                SAMPLE_TASKS[i]
            );
            text = text.replace(&sample_arn, task);
            text = text.replace(SAMPLE_TASKS[i], task_id);
        }
        let at = (chrono::Utc::now() - chrono::Duration::seconds(self.age_seconds))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        for t in sample_times(&text) {
            text = text.replace(&t, &at);
        }
        let mut v: Value = serde_json::from_str(&text).expect("the sample is JSON");
        v["id"] = json!(self.id);
        v
    }
}

/// The ISO-8601 UTC times in the sample (`"2025-…Z"`).
fn sample_times(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("\"2025-") {
        let tail = &rest[i + 1..];
        let Some(end) = tail.find('"') else { break };
        out.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}
