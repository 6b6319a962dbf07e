//! ECS enrichment: who is the task behind a finding.
//!
//! - [`config`]: cache lifetimes and what to describe.
//! - [`cache`]: per-warm-instance caches (tasks with a TTL, task definitions forever, services,
//!   runtime-id indexes per cluster).
//! - [`describe`]: the ECS calls (DescribeTasks ≤ 100 per call with tags, DescribeTaskDefinition,
//!   DescribeServices ≤ 10 per call, ListTasks) and their conversion to [`vigil_model::TaskInfo`].
//! - [`enricher`]: a batch of findings → one enrichment each, grouping calls by cluster.
//! - [`client()`]: the functions' ECS client, with the SDK's standard retry (`vigil_runtime::sdk_standard_retry`).

#![warn(missing_docs)]

pub mod cache;
mod client;
pub mod config;
pub mod describe;
mod enricher;

pub use client::client;
pub use config::EnrichConfig;
pub use enricher::EcsEnricher;
