//! What a playbook is matched against: a finding and, when enrichment found its task, the task. The
//! task's own view wins over what the source claimed (a forged label cannot move a finding into a
//! cluster the task is not in).

use crate::file::{Conditions, Glob};
use std::collections::BTreeMap;
use vigil_model::{Enrichment, Finding, Source, TaskInfo};

/// A finding and the task enrichment found for it: every accessor prefers the task's view.
pub struct Subject<'a> {
    /// The canonical finding.
    pub finding: &'a Finding,
    /// The task as ECS described it at enrichment; `None` when enrichment found none.
    pub task: Option<&'a TaskInfo>,
    /// ASFF `Types` the finding maps to (see `vigil_asff::finding_types`).
    pub finding_types: Vec<String>,
}

impl<'a> Subject<'a> {
    /// The subject of `finding`, with the task from `enrichment` if it found one.
    pub fn new(
        finding: &'a Finding,
        enrichment: Option<&'a Enrichment>,
        finding_types: Vec<String>,
    ) -> Self {
        Subject {
            finding,
            task: enrichment.and_then(|e| e.task.as_ref()),
            finding_types,
        }
    }

    /// The task's ARN: the described task's, else the one the finding names.
    pub fn task_arn(&self) -> Option<&str> {
        self.task
            .map(|t| t.task_arn.as_str())
            .or(self.finding.resource.task_arn.as_deref())
    }

    /// The cluster's ARN: the described task's, else the one the finding names.
    pub fn cluster_arn(&self) -> Option<&str> {
        self.task
            .map(|t| t.cluster_arn.as_str())
            .or(self.finding.resource.cluster_arn.as_deref())
    }

    /// The cluster's name: the last segment of [`Subject::cluster_arn`] (`…:cluster/NAME`).
    pub fn cluster_name(&self) -> Option<&str> {
        self.cluster_arn()
            .map(|a| a.rsplit('/').next().unwrap_or(a))
    }

    /// The service's name: the described task's when there is one (even if it has none), else
    /// the finding's.
    pub fn service(&self) -> Option<&str> {
        match self.task {
            Some(t) => t.service_name.as_deref(),
            None => self.finding.resource.service_name.as_deref(),
        }
    }

    /// The task definition's family, by the same rule as [`Subject::service`].
    pub fn task_definition_family(&self) -> Option<&str> {
        match self.task {
            Some(t) => t.task_definition_family.as_deref(),
            None => self.finding.resource.task_definition_family.as_deref(),
        }
    }

    /// Images of the offending container, or of every container when it is not known.
    pub fn images(&self) -> Vec<&str> {
        let mut images: Vec<&str> = Vec::new();
        if let Some(t) = self.task {
            match t.offending() {
                Some(c) => images.extend(c.image.as_deref()),
                None => images.extend(t.containers.iter().filter_map(|c| c.image.as_deref())),
            }
        }
        if images.is_empty() {
            images.extend(self.finding.resource.container.image.as_deref());
        }
        images
    }

    /// The offending container's name: the one enrichment matched in the task, else the
    /// finding's.
    pub fn container(&self) -> Option<&str> {
        self.task
            .and_then(|t| t.offending_container.as_deref())
            .or(self.finding.resource.container.name.as_deref())
    }

    /// Task tags, with the service's tags for keys the task lacks.
    pub fn tags(&self) -> BTreeMap<&str, &str> {
        let mut tags = BTreeMap::new();
        if let Some(t) = self.task {
            for (k, v) in &t.service_tags {
                tags.insert(k.as_str(), v.as_str());
            }
            for (k, v) in &t.tags {
                tags.insert(k.as_str(), v.as_str());
            }
        }
        tags
    }

    /// The value of a reason-template variable (one of [`crate::reason::VARIABLES`]); `None` when
    /// unknown for this finding or not a variable.
    pub fn variable(&self, name: &str, playbook: &str) -> Option<String> {
        let f = self.finding;
        match name {
            "playbook" => Some(playbook.to_owned()),
            "rule" => Some(f.rule.clone()),
            "severity" => Some(f.severity.label.as_str().to_owned()),
            "source" => Some(f.source.as_str().to_owned()),
            "fingerprint" => Some(f.fingerprint.as_str().to_owned()),
            "account" => f.account.clone(),
            "cluster" => self.cluster_name().map(str::to_owned),
            "service" => self.service().map(str::to_owned),
            "task_id" => self
                .task_arn()
                .map(|a| a.rsplit('/').next().unwrap_or(a).to_owned()),
            "task_arn" => self.task_arn().map(str::to_owned),
            "container" => self.container().map(str::to_owned),
            "image" => self.images().first().map(|s| (*s).to_owned()),
            _ => None,
        }
    }
}

fn any(globs: &[Glob], values: &[&str]) -> bool {
    globs.is_empty() || globs.iter().any(|g| values.iter().any(|v| g.matches(v)))
}

impl Conditions {
    /// Whether the subject meets every condition of a playbook's `match`; an empty list matches
    /// anything.
    pub fn matches(&self, s: &Subject<'_>) -> bool {
        let f = s.finding;
        if !self.sources.is_empty() && !self.sources.contains(&f.source) {
            return false;
        }
        if self.min_severity.is_some_and(|min| f.severity.label < min) {
            return false;
        }
        if !any(&self.rules, &[f.rule.as_str()]) {
            return false;
        }
        let mut types: Vec<&str> = s.finding_types.iter().map(String::as_str).collect();
        if f.source == Source::Guardduty {
            types.push(f.rule.as_str());
        }
        if !any(&self.finding_types, &types) {
            return false;
        }
        let cluster: Vec<&str> = s
            .cluster_arn()
            .into_iter()
            .chain(s.cluster_name())
            .collect();
        if !any(&self.clusters, &cluster) {
            return false;
        }
        if !any(&self.services, &s.service().into_iter().collect::<Vec<_>>()) {
            return false;
        }
        if !any(
            &self.task_definition_families,
            &s.task_definition_family().into_iter().collect::<Vec<_>>(),
        ) {
            return false;
        }
        if !any(&self.images, &s.images()) {
            return false;
        }
        let tags = s.tags();
        self.tags
            .iter()
            .all(|(k, g)| tags.get(k.as_str()).is_some_and(|v| g.matches(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PlaybookFile;
    use vigil_model::fixtures::terminal_shell;
    use vigil_model::{ContainerInfo, Enrichment, TaskInfo};

    fn task() -> TaskInfo {
        TaskInfo {
            task_arn: "arn:aws:ecs:us-east-1:123456789012:task/prod/t1".into(),
            cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/prod".into(),
            service_name: Some("shop".into()),
            task_definition_family: Some("shop".into()),
            tags: [("env".to_owned(), "production".to_owned())].into(),
            service_tags: [
                ("team".to_owned(), "payments".to_owned()),
                ("env".to_owned(), "x".to_owned()),
            ]
            .into(),
            containers: vec![
                ContainerInfo {
                    name: "app".into(),
                    image: Some("123.dkr.ecr/shop:3".into()),
                    ..Default::default()
                },
                ContainerInfo {
                    name: "db".into(),
                    image: Some("postgres:16".into()),
                    ..Default::default()
                },
            ],
            offending_container: Some("app".into()),
            ..Default::default()
        }
    }

    fn first(yaml: &str, enrichment: Option<&Enrichment>) -> Option<String> {
        let file = PlaybookFile::parse(&format!("version: 1\nplaybooks:\n{yaml}")).unwrap();
        let f = terminal_shell("123456789012", "us-east-1");
        let s = Subject::new(
            &f,
            enrichment,
            vec!["TTPs/Execution/Terminal shell in container".into()],
        );
        file.first_match(&s).map(|p| p.name.as_str().to_owned())
    }

    #[test]
    fn first_match_wins_in_file_order() {
        let yaml = "  - name: a\n    match: {rules: ['*shell*']}\n    actions: [record]\n  - name: b\n    match: {sources: [falco]}\n    actions: [record]\n";
        assert_eq!(first(yaml, None).as_deref(), Some("a"));
        let yaml = "  - name: a\n    match: {rules: ['*miner*']}\n    actions: [record]\n  - name: b\n    match: {sources: [falco]}\n    actions: [record]\n";
        assert_eq!(first(yaml, None).as_deref(), Some("b"));
    }

    #[test]
    fn every_condition_must_hold() {
        let e = Enrichment::of(task());
        let m = |cond: &str| {
            first(
                &format!("  - name: p\n    match: {cond}\n    actions: [record]\n"),
                Some(&e),
            )
            .is_some()
        };
        assert!(m("{min_severity: low}"));
        assert!(!m("{min_severity: medium}"), "Notice is LOW");
        assert!(m("{finding_types: ['TTPs/Execution/*']}"));
        assert!(!m("{finding_types: ['Effects/*']}"));
        assert!(m("{clusters: [prod]}"));
        assert!(m("{clusters: ['arn:aws:ecs:*:cluster/prod']}"));
        assert!(
            !m("{clusters: [staging]}"),
            "the task's cluster wins over the finding's FargateCluster"
        );
        assert!(m("{services: [shop], task_definition_families: ['sh*']}"));
        assert!(m("{images: ['*/shop:*']}"));
        assert!(
            !m("{images: ['postgres:*']}"),
            "only the offending container's image"
        );
        assert!(m("{tags: {env: prod*, team: payments}}"));
        assert!(
            !m("{tags: {env: x}}"),
            "the task's own tag wins over the service's"
        );
        assert!(!m("{tags: {owner: '*'}}"), "a missing tag does not match");
        assert!(!m("{sources: [guardduty]}"));
    }
}
