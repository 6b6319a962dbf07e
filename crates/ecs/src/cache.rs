//! Caches that live as long as the warm Lambda instance. Task definitions never change once
//! registered, so they are kept until the size cap; tasks and runtime-id indexes expire.

use std::collections::HashMap;
use std::time::{Duration, Instant};
use vigil_model::TaskInfo;

/// Entries kept per map before the oldest half is dropped (bounds a long-lived instance's memory).
const MAX_ENTRIES: usize = 4096;

/// What a container definition says about a container's hardening.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerSecurity {
    /// ECS `ContainerDefinition.privileged`; `None` when the definition leaves it unset.
    pub privileged: Option<bool>,
    /// ECS `ContainerDefinition.readonlyRootFilesystem`; `None` when unset.
    pub readonly_root_filesystem: Option<bool>,
    /// ECS `ContainerDefinition.user` (`user`, `uid`, `user:group`, …); `None` when unset (the image's user).
    pub user: Option<String>,
}

/// What Vigil keeps of an ECS `DescribeTaskDefinition` answer.
#[derive(Debug, Clone)]
pub struct TaskDefinitionInfo {
    /// The task definition's `family`.
    pub family: Option<String>,
    /// The task definition's `revision` (1 and up).
    pub revision: Option<i32>,
    /// The `taskRoleArn` the task's containers run as (an IAM role ARN); `None` without a task role.
    pub task_role_arn: Option<String>,
    /// Container name → its definition's hardening.
    pub containers: HashMap<String, ContainerSecurity>,
}

/// What Vigil keeps of an ECS `DescribeServices` answer for one service.
#[derive(Debug, Clone)]
pub struct ServiceInfo {
    /// The service ARN (`arn:<partition>:ecs:<region>:<account>:service/<cluster>/<name>`).
    pub arn: Option<String>,
    /// The service's tags, key → value.
    pub tags: std::collections::BTreeMap<String, String>,
}

/// A task as the last `DescribeTasks` answered.
#[derive(Debug, Clone)]
pub enum CachedTask {
    /// Described: the task as Vigil's model holds it.
    Found(Box<TaskInfo>),
    /// ECS answered MISSING: remembered briefly so a burst about a gone task does not re-ask.
    Missing,
}

/// The caches of one warm instance; every map is bounded to a few thousand entries.
#[derive(Debug, Default)]
pub struct Caches {
    tasks: HashMap<String, (Instant, CachedTask)>,
    /// Task definition ARN → what its definition says; never expires (definitions are immutable).
    pub task_definitions: HashMap<String, TaskDefinitionInfo>,
    /// (Cluster ARN, service name) → the service's ARN and tags.
    pub services: HashMap<(String, String), ServiceInfo>,
    /// Cluster ARN → its tags.
    pub cluster_tags: HashMap<String, std::collections::BTreeMap<String, String>>,
    /// Cluster ARN → (built at, 12-char runtime id prefix → task ARN).
    runtime_index: HashMap<String, (Instant, HashMap<String, String>)>,
}

impl Caches {
    /// The cached task `arn`, if stored less than `ttl` before `now`.
    pub fn task(&self, arn: &str, now: Instant, ttl: Duration) -> Option<&CachedTask> {
        self.tasks
            .get(arn)
            .filter(|(at, _)| now.duration_since(*at) < ttl)
            .map(|(_, t)| t)
    }

    /// Stores `task` under `arn` as of `now`.
    pub fn put_task(&mut self, arn: String, now: Instant, task: CachedTask) {
        bound(&mut self.tasks);
        self.tasks.insert(arn, (now, task));
    }

    /// Forgets a task (an ECS Task State Change to STOPPED) and its runtime ids.
    pub fn evict_task(&mut self, arn: &str) {
        self.tasks.remove(arn);
        for (_, index) in self.runtime_index.values_mut() {
            index.retain(|_, task| task != arn);
        }
    }

    /// The task ARN of the container runtime id `short_id` (its first 12 hex characters) in cluster
    /// `cluster` (ARN): `None` when the cluster has no index younger than `ttl` (list it again),
    /// `Some(None)` when the fresh index has no such container.
    pub fn runtime_lookup(
        &self,
        cluster: &str,
        short_id: &str,
        now: Instant,
        ttl: Duration,
    ) -> Option<Option<String>> {
        let (at, index) = self.runtime_index.get(cluster)?;
        if now.duration_since(*at) >= ttl {
            return None;
        }
        Some(index.get(short_id).cloned())
    }

    /// Stores a cluster's index (runtime id prefix → task ARN) as of `now`, replacing the previous one.
    pub fn put_runtime_index(
        &mut self,
        cluster: String,
        now: Instant,
        index: HashMap<String, String>,
    ) {
        bound(&mut self.runtime_index);
        self.runtime_index.insert(cluster, (now, index));
    }

    /// Keeps the task-definition, service and cluster-tag maps within their size cap, before inserting.
    pub fn bound_definitions(&mut self) {
        bound(&mut self.task_definitions);
        bound(&mut self.services);
        bound(&mut self.cluster_tags);
    }
}

fn bound<K: Clone + Eq + std::hash::Hash, V>(map: &mut HashMap<K, V>) {
    if map.len() >= MAX_ENTRIES {
        let drop: Vec<K> = map.keys().take(MAX_ENTRIES / 2).cloned().collect();
        for k in drop {
            map.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_expire_and_are_evicted() {
        let mut c = Caches::default();
        let t0 = Instant::now();
        c.put_task("t".into(), t0, CachedTask::Missing);
        assert!(c.task("t", t0, Duration::from_secs(5)).is_some());
        assert!(
            c.task("t", t0 + Duration::from_secs(6), Duration::from_secs(5))
                .is_none()
        );
        c.put_runtime_index("c".into(), t0, HashMap::from([("abc".into(), "t".into())]));
        c.evict_task("t");
        assert!(c.task("t", t0, Duration::from_secs(5)).is_none());
        assert_eq!(
            c.runtime_lookup("c", "abc", t0, Duration::from_secs(5)),
            Some(None)
        );
    }

    #[test]
    fn maps_stay_bounded() {
        let mut c = Caches::default();
        let t0 = Instant::now();
        for i in 0..(MAX_ENTRIES * 3) {
            c.put_task(format!("t{i}"), t0, CachedTask::Missing);
        }
        assert!(c.tasks.len() <= MAX_ENTRIES);
    }
}
