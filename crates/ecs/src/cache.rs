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
    pub privileged: Option<bool>,
    pub readonly_root_filesystem: Option<bool>,
    pub user: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TaskDefinitionInfo {
    pub family: Option<String>,
    pub revision: Option<i32>,
    pub task_role_arn: Option<String>,
    /// Container name → its definition's hardening.
    pub containers: HashMap<String, ContainerSecurity>,
}

#[derive(Debug, Clone)]
pub struct ServiceInfo {
    pub arn: Option<String>,
    pub tags: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub enum CachedTask {
    Found(Box<TaskInfo>),
    /// ECS answered MISSING: remembered briefly so a burst about a gone task does not re-ask.
    Missing,
}

#[derive(Debug, Default)]
pub struct Caches {
    tasks: HashMap<String, (Instant, CachedTask)>,
    pub task_definitions: HashMap<String, TaskDefinitionInfo>,
    pub services: HashMap<(String, String), ServiceInfo>,
    /// Cluster ARN → its tags.
    pub cluster_tags: HashMap<String, std::collections::BTreeMap<String, String>>,
    /// Cluster ARN → (built at, 12-char runtime id prefix → task ARN).
    runtime_index: HashMap<String, (Instant, HashMap<String, String>)>,
}

impl Caches {
    pub fn task(&self, arn: &str, now: Instant, ttl: Duration) -> Option<&CachedTask> {
        self.tasks
            .get(arn)
            .filter(|(at, _)| now.duration_since(*at) < ttl)
            .map(|(_, t)| t)
    }

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

    pub fn put_runtime_index(
        &mut self,
        cluster: String,
        now: Instant,
        index: HashMap<String, String>,
    ) {
        bound(&mut self.runtime_index);
        self.runtime_index.insert(cluster, (now, index));
    }

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
