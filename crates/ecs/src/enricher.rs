//! A batch of findings → one [`Enrichment`] each, with as few ECS calls as the batch allows: tasks
//! grouped by cluster (≤ 100 per DescribeTasks), each task definition and service described once per
//! warm instance, and a cluster listed only when a finding names a container but not its task.
//!
//! A finding whose task cannot be described still flows on, marked unenriched with the reason:
//! enrichment adds context, it never decides whether a finding exists.

use crate::cache::{CachedTask, Caches};
use crate::config::EnrichConfig;
use crate::describe::{self, MAX_SERVICES_PER_CALL, MAX_TASKS_PER_CALL, short_id};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Instant;
use tracing::warn;
use vigil_adapters::arn::TaskArn;
use vigil_model::{Enrichment, Finding, TaskInfo};

/// Describes the ECS tasks behind findings, with caches that live as long as the warm instance.
pub struct EcsEnricher {
    client: aws_sdk_ecs::Client,
    config: EnrichConfig,
    caches: Mutex<Caches>,
}

enum Target {
    Task { cluster: String, arn: String },
    Unresolvable(String),
}

impl EcsEnricher {
    /// An enricher calling ECS through `client`, with empty caches.
    pub fn new(client: aws_sdk_ecs::Client, config: EnrichConfig) -> Self {
        EcsEnricher {
            client,
            config,
            caches: Mutex::new(Caches::default()),
        }
    }

    fn caches(&self) -> std::sync::MutexGuard<'_, Caches> {
        // A panic while holding the lock leaves only cache state behind; keep using it.
        self.caches.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets a task that stopped (an ECS Task State Change), so its next finding is described fresh.
    pub fn evict_task(&self, task_arn: &str) {
        self.caches().evict_task(task_arn);
    }

    /// One [`Enrichment`] per finding, in order: the task described (cached or by ECS), or
    /// [`Enrichment::unenriched`] with the reason when the finding names no task, or ECS could not
    /// describe it. Never fails as a whole: ECS errors become unenriched results.
    pub async fn enrich(&self, findings: &[Finding]) -> Vec<Enrichment> {
        let now = Instant::now();
        let mut targets: Vec<Target> = findings.iter().map(target_of).collect();
        self.resolve_runtime_ids(findings, &mut targets, now).await;

        // Describe every task not cached, grouped by cluster.
        let mut wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        {
            let caches = self.caches();
            for t in &targets {
                if let Target::Task { cluster, arn } = t
                    && caches.task(arn, now, self.config.task_ttl).is_none()
                {
                    wanted
                        .entry(cluster.clone())
                        .or_default()
                        .insert(arn.clone());
                }
            }
        }
        let mut errors: HashMap<String, String> = HashMap::new();
        let mut described: Vec<TaskInfo> = Vec::new();
        for (cluster, arns) in &wanted {
            let arns: Vec<String> = arns.iter().cloned().collect();
            for chunk in arns.chunks(MAX_TASKS_PER_CALL) {
                match describe::describe_tasks(&self.client, cluster, chunk).await {
                    Ok(out) => {
                        let mut caches = self.caches();
                        // A task ECS returns neither described nor as a failure is gone all the same.
                        for arn in chunk {
                            let returned =
                                out.tasks.iter().any(|t| t.task_arn() == Some(arn.as_str()))
                                    || out.failures.iter().any(|(a, _)| a == arn);
                            if !returned {
                                caches.put_task(arn.clone(), now, CachedTask::Missing);
                            }
                        }
                        for (arn, reason) in out.failures {
                            if reason == "MISSING" {
                                caches.put_task(arn, now, CachedTask::Missing);
                            } else {
                                errors.insert(arn, format!("ECS DescribeTasks reported {reason}"));
                            }
                        }
                        drop(caches);
                        described.extend(out.tasks.iter().map(|t| describe::task_info(t, cluster)));
                    }
                    Err(e) => {
                        warn!(cluster, error = %e, "DescribeTasks failed; findings continue unenriched");
                        for arn in chunk {
                            errors.insert(arn.clone(), e.to_string());
                        }
                    }
                }
            }
        }
        self.complete(&mut described).await;
        {
            let mut caches = self.caches();
            for task in described {
                caches.put_task(
                    task.task_arn.clone(),
                    now,
                    CachedTask::Found(Box::new(task)),
                );
            }
        }

        let caches = self.caches();
        findings
            .iter()
            .zip(targets)
            .map(|(finding, target)| match target {
                Target::Unresolvable(reason) => Enrichment::unenriched(reason),
                Target::Task { arn, .. } => {
                    if let Some(err) = errors.get(&arn) {
                        return Enrichment::unenriched(err.clone());
                    }
                    match caches.task(&arn, now, self.config.task_ttl) {
                        Some(CachedTask::Found(task)) => {
                            let mut task = task.as_ref().clone();
                            task.offending_container = offending(finding, &task);
                            Enrichment::of(task)
                        }
                        Some(CachedTask::Missing) => Enrichment::unenriched(format!(
                            "task {arn} not found (MISSING): it has stopped or never existed"
                        )),
                        None => {
                            Enrichment::unenriched(format!("task {arn} could not be described"))
                        }
                    }
                }
            })
            .collect()
    }

    /// Findings naming a container but no task: look the container up among the cluster's running
    /// tasks, listing each cluster at most once per batch (and per index TTL).
    async fn resolve_runtime_ids(
        &self,
        findings: &[Finding],
        targets: &mut [Target],
        now: Instant,
    ) {
        let mut need_index: BTreeSet<String> = BTreeSet::new();
        for (f, t) in findings.iter().zip(targets.iter()) {
            if let (Target::Unresolvable(_), Some(cluster), Some(id)) = (
                t,
                f.resource.cluster_arn.as_deref(),
                f.resource.container.short_id(),
            ) && self
                .caches()
                .runtime_lookup(cluster, &id, now, self.config.runtime_index_ttl)
                .is_none()
            {
                need_index.insert(cluster.to_owned());
            }
        }
        for cluster in need_index {
            match describe::running_tasks_by_runtime_id(&self.client, &cluster).await {
                Ok((index, tasks)) => {
                    let mut infos: Vec<TaskInfo> = tasks
                        .iter()
                        .map(|t| describe::task_info(t, &cluster))
                        .collect();
                    self.complete(&mut infos).await;
                    let mut caches = self.caches();
                    for info in infos {
                        caches.put_task(
                            info.task_arn.clone(),
                            now,
                            CachedTask::Found(Box::new(info)),
                        );
                    }
                    caches.put_runtime_index(cluster, now, index);
                }
                Err(e) => warn!(cluster, error = %e, "listing the cluster's tasks failed"),
            }
        }
        let caches = self.caches();
        for (f, t) in findings.iter().zip(targets.iter_mut()) {
            if let (Target::Unresolvable(_), Some(cluster), Some(id)) = (
                &*t,
                f.resource.cluster_arn.as_deref(),
                f.resource.container.short_id(),
            ) {
                *t = match caches.runtime_lookup(cluster, &id, now, self.config.runtime_index_ttl) {
                    Some(Some(arn)) => Target::Task {
                        cluster: cluster.to_owned(),
                        arn,
                    },
                    Some(None) => {
                        Target::Unresolvable(format!("container {id} is not running in {cluster}"))
                    }
                    None => Target::Unresolvable(format!("could not list the tasks of {cluster}")),
                };
            }
        }
    }

    /// Describes the tags of the clusters not yet cached, up to 100 in one call.
    async fn cache_cluster_tags(&self, tasks: &[TaskInfo]) {
        let missing: Vec<String> = {
            let caches = self.caches();
            let set: BTreeSet<&String> = tasks
                .iter()
                .map(|t| &t.cluster_arn)
                .filter(|c| !caches.cluster_tags.contains_key(*c))
                .collect();
            set.into_iter().cloned().collect()
        };
        for chunk in missing.chunks(100) {
            match describe::describe_cluster_tags(&self.client, chunk).await {
                Ok(found) => {
                    let mut caches = self.caches();
                    caches.bound_definitions();
                    for cluster in chunk {
                        let tags = found.get(cluster).cloned().unwrap_or_default();
                        caches.cluster_tags.insert(cluster.clone(), tags);
                    }
                }
                Err(e) => warn!(error = %e, "DescribeClusters failed"),
            }
        }
    }

    /// Adds task definition and service details, describing each at most once per warm instance.
    async fn complete(&self, tasks: &mut [TaskInfo]) {
        let missing_definitions: BTreeSet<String> = {
            let caches = self.caches();
            tasks
                .iter()
                .filter_map(|t| t.task_definition_arn.clone())
                .filter(|arn| !caches.task_definitions.contains_key(arn))
                .collect()
        };
        for arn in missing_definitions {
            match describe::describe_task_definition(&self.client, &arn).await {
                Ok(info) => {
                    let mut caches = self.caches();
                    caches.bound_definitions();
                    caches.task_definitions.insert(arn, info);
                }
                Err(e) => warn!(task_definition = arn, error = %e, "DescribeTaskDefinition failed"),
            }
        }
        if self.config.describe_services {
            let mut by_cluster: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            {
                let caches = self.caches();
                for t in tasks.iter() {
                    if let Some(service) = &t.service_name
                        && !caches
                            .services
                            .contains_key(&(t.cluster_arn.clone(), service.clone()))
                    {
                        by_cluster
                            .entry(t.cluster_arn.clone())
                            .or_default()
                            .insert(service.clone());
                    }
                }
            }
            for (cluster, names) in by_cluster {
                let names: Vec<String> = names.into_iter().collect();
                for chunk in names.chunks(MAX_SERVICES_PER_CALL) {
                    match describe::describe_services(&self.client, &cluster, chunk).await {
                        Ok(found) => {
                            let mut caches = self.caches();
                            for (name, info) in found {
                                caches.services.insert((cluster.clone(), name), info);
                            }
                        }
                        Err(e) => warn!(cluster, error = %e, "DescribeServices failed"),
                    }
                }
            }
        }
        if self.config.describe_services {
            self.cache_cluster_tags(tasks).await;
        }
        let caches = self.caches();
        for t in tasks.iter_mut() {
            if let Some(tags) = caches.cluster_tags.get(&t.cluster_arn) {
                t.cluster_tags = tags.clone();
            }
            if let Some(td) = t
                .task_definition_arn
                .as_ref()
                .and_then(|a| caches.task_definitions.get(a))
            {
                t.task_definition_family = td.family.clone();
                t.task_definition_revision = td.revision;
                if t.task_role_arn.is_none() {
                    t.task_role_arn = td.task_role_arn.clone();
                }
                for c in &mut t.containers {
                    if let Some(security) = td.containers.get(&c.name) {
                        c.privileged = security.privileged;
                        c.readonly_root_filesystem = security.readonly_root_filesystem;
                        c.user = security.user.clone();
                    }
                }
            }
            if let Some(s) = t
                .service_name
                .as_ref()
                .and_then(|s| caches.services.get(&(t.cluster_arn.clone(), s.clone())))
            {
                t.service_arn = s.arn.clone();
                t.service_tags = s.tags.clone();
            }
        }
    }
}

fn target_of(f: &Finding) -> Target {
    let r = &f.resource;
    match &r.task_arn {
        Some(arn) => {
            let cluster = r
                .cluster_arn
                .clone()
                .or_else(|| TaskArn::parse(arn).and_then(|t| t.cluster_arn()))
                // A legacy task ARN without its cluster: ECS looks in the default cluster.
                .unwrap_or_else(|| "default".to_owned());
            Target::Task {
                cluster,
                arn: arn.clone(),
            }
        }
        None if r.container.id.is_some() && r.cluster_arn.is_some() => {
            Target::Unresolvable("pending runtime id resolution".into())
        }
        None if r.container.id.is_some() => {
            Target::Unresolvable("no task ARN, and no cluster to look the container up in".into())
        }
        None => Target::Unresolvable("the finding names no task or container".into()),
    }
}

/// The task's container the finding is about: by runtime id, else by name, else the only one.
fn offending(f: &Finding, task: &TaskInfo) -> Option<String> {
    let c = &f.resource.container;
    if let Some(id) = c.short_id()
        && let Some(hit) = task
            .containers
            .iter()
            .find(|t| t.runtime_id.as_deref().map(short_id).as_deref() == Some(id.as_str()))
    {
        return Some(hit.name.clone());
    }
    if let Some(name) = &c.name
        && task.container(name).is_some()
    {
        return Some(name.clone());
    }
    (task.containers.len() == 1).then(|| task.containers[0].name.clone())
}
