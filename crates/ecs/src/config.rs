//! How the ECS enricher caches and what it describes.

use std::time::Duration;

/// Cache lifetimes and optional calls of the ECS enricher; defaults: tasks 300 s, runtime-id index
/// 60 s, services described.
#[derive(Debug, Clone)]
pub struct EnrichConfig {
    /// How long a described task is trusted (its tags or status may change; STOPPED events evict it).
    pub task_ttl: Duration,
    /// How long a cluster's runtime-id index is trusted before a miss re-lists the cluster.
    pub runtime_index_ttl: Duration,
    /// Describe services for their tags (one more call per cluster and batch, cached).
    pub describe_services: bool,
}

impl Default for EnrichConfig {
    fn default() -> Self {
        EnrichConfig {
            task_ttl: Duration::from_secs(300),
            runtime_index_ttl: Duration::from_secs(60),
            describe_services: true,
        }
    }
}
