//! Coverage findings in ASFF: one per service and kind ("runtime monitoring not reporting",
//! "runtime monitoring degraded"), the same `Id` while it lasts, archived when it ends.
//!
//! They can never drive a stop: they are imported here, never published as `Finding Accepted` or
//! `Finding Enriched` (the only events remediation decides on), and they name the service and
//! cluster, never a task resource (`AwsEcsTask`) or container; the tasks are listed in the
//! service resource's `Details.Other`. `ProductFields` say `vigil/Kind` = `coverage`.

use crate::check::ServiceCoverage;
use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use vigil_asff::AsffFinding;
use vigil_asff::limits::{
    MAX_DESCRIPTION, MAX_OTHER_DETAIL_VALUE, MAX_PRODUCT_FIELD_VALUE, MAX_TITLE, SCHEMA_VERSION,
};
use vigil_asff::model::{AsffDetails, AsffResource, AsffSeverity, Text};
use vigil_model::text::clean;

/// The `vigil/Kind` product field of every coverage finding.
pub const KIND: &str = "coverage";

/// Which coverage finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Tasks no agent or GuardDuty watches.
    NotReporting,
    /// Tasks whose agents drop events heavily.
    Degraded,
}

impl Problem {
    /// The name in ids, product fields and generator ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Problem::NotReporting => "not-reporting",
            Problem::Degraded => "degraded",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Problem::NotReporting => "Runtime monitoring not reporting",
            Problem::Degraded => "Runtime monitoring degraded",
        }
    }

    fn severity(self) -> (&'static str, u8) {
        match self {
            Problem::NotReporting => ("MEDIUM", 40),
            Problem::Degraded => ("LOW", 30),
        }
    }
}

/// The Security Hub `Id` of a service's coverage finding.
pub fn finding_id(row: &ServiceCoverage, problem: Problem) -> String {
    let digest = Sha256::digest(
        [
            row.account.as_str(),
            &row.region,
            &row.cluster_arn,
            &row.service,
        ]
        .join("\n"),
    );
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("vigil-coverage-{}-{hex}", problem.as_str())
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The coverage findings of a report row (none when every task is covered).
pub fn of_row(
    row: &ServiceCoverage,
    first_seen: impl Fn(&str) -> Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<AsffFinding<'static>> {
    let mut out = Vec::new();
    for (problem, count, tasks) in [
        (Problem::NotReporting, row.uncovered, &row.uncovered_tasks),
        (Problem::Degraded, row.degraded, &row.degraded_tasks),
    ] {
        if count == 0 {
            continue;
        }
        let id = finding_id(row, problem);
        let first = first_seen(&id).unwrap_or(now).min(now);
        out.push(asff(row, problem, count, tasks, id, first, now));
    }
    out
}

fn asff(
    row: &ServiceCoverage,
    problem: Problem,
    count: u64,
    tasks: &[String],
    id: String,
    first: DateTime<Utc>,
    now: DateTime<Utc>,
) -> AsffFinding<'static> {
    let partition = vigil_model::partition_of(&row.region);
    let last = row.last_heartbeat.map_or_else(|| "never".to_owned(), stamp);
    let title = format!(
        "{}: {} of {} tasks of {} in cluster {}",
        problem.title(),
        count,
        row.running,
        row.service,
        row.cluster
    );
    let description = format!(
        "{}. Last heartbeat of an agent watching these tasks: {last}. Tasks: {}",
        match problem {
            Problem::NotReporting =>
                "No runtime agent reported within the grace period and GuardDuty Runtime Monitoring does not cover these running tasks",
            Problem::Degraded =>
                "The runtime agents watching these tasks keep dropping events heavily",
        },
        tasks.join(", ")
    );
    let (label, normalized) = problem.severity();
    let field = |s: &str| Text::from(clean(s, MAX_PRODUCT_FIELD_VALUE, false));
    let mut fields: BTreeMap<Text<'static>, Text<'static>> = BTreeMap::new();
    for (k, v) in [
        ("vigil/Kind", KIND.to_owned()),
        ("vigil/Coverage", problem.as_str().to_owned()),
        ("vigil/Cluster", row.cluster_arn.clone()),
        ("vigil/Service", row.service.clone()),
        ("vigil/RunningTasks", row.running.to_string()),
        ("vigil/AffectedTasks", count.to_string()),
        ("vigil/LastHeartbeat", last.clone()),
        ("vigil/AgentVersions", row.agent_versions.join(", ")),
    ] {
        fields.insert(Text::constant(k), field(&v));
    }
    let other = |v: &str| Text::from(clean(v, MAX_OTHER_DETAIL_VALUE, false));
    let details: BTreeMap<Text<'static>, Text<'static>> = [
        ("Tasks", other(&tasks.join(","))),
        ("LastHeartbeat", other(&last)),
        ("Coverage", other(problem.as_str())),
    ]
    .into_iter()
    .map(|(k, v)| (Text::constant(k), v))
    .collect();
    let resource =
        |kind: &'static str, id: String, details: Option<AsffDetails<'static>>| AsffResource {
            resource_type: Text::constant(kind),
            id: Text::from(id),
            partition: Text::constant(partition),
            region: Text::from(row.region.clone()),
            tags: BTreeMap::new(),
            details,
        };
    let mut resources = vec![resource("AwsEcsCluster", row.cluster_arn.clone(), None)];
    // The service's ARN when the tasks belong to a service; otherwise the cluster's tasks are
    // described under an `Other` resource naming the group. Never a task resource.
    let (kind, resource_id) = match row.service.as_str() {
        s if s == "standalone" || s.starts_with("family:") => {
            ("Other", format!("{}/{}", row.cluster_arn, row.service))
        }
        s => (
            "AwsEcsService",
            format!(
                "arn:{partition}:ecs:{}:{}:service/{}/{s}",
                row.region, row.account, row.cluster
            ),
        ),
    };
    resources.push(resource(
        kind,
        resource_id,
        Some(AsffDetails::Other(details)),
    ));
    AsffFinding {
        schema_version: Text::constant(SCHEMA_VERSION),
        product_arn: Text::from(vigil_asff::product_arn(
            partition,
            &row.region,
            &row.account,
        )),
        id: Text::from(id),
        product_name: Text::constant("Vigil"),
        company_name: Text::constant("Vigil"),
        region: Text::from(row.region.clone()),
        generator_id: Text::from(format!("vigil/coverage/{}", problem.as_str())),
        aws_account_id: Text::from(row.account.clone()),
        types: vec![Text::from(format!(
            "Software and Configuration Checks/Vigil/{}",
            problem.title()
        ))],
        first_observed_at: Text::from(stamp(first)),
        last_observed_at: Text::from(stamp(now)),
        created_at: Text::from(stamp(first)),
        updated_at: Text::from(stamp(now)),
        severity: AsffSeverity {
            label: Text::constant(label),
            normalized,
            original: Text::constant(label),
        },
        title: Text::from(clean(&title, MAX_TITLE, false)),
        description: Text::from(clean(&description, MAX_DESCRIPTION, false)),
        product_fields: fields.into_iter().collect(),
        resources,
        process: None,
        network: None,
        record_state: Text::constant("ACTIVE"),
    }
}

/// The record of a finding that ended: the same finding, archived, updated `now`.
pub fn archived(mut record: AsffFinding<'static>, now: DateTime<Utc>) -> AsffFinding<'static> {
    record.record_state = Text::constant("ARCHIVED");
    record.updated_at = Text::from(stamp(now));
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> ServiceCoverage {
        ServiceCoverage {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/prod".into(),
            cluster: "prod".into(),
            service: "shop".into(),
            running: 3,
            covered: 1,
            uncovered: 2,
            uncovered_tasks: vec!["arn:t1".into(), "arn:t2".into()],
            ..ServiceCoverage::default()
        }
    }

    #[test]
    fn one_finding_per_problem_naming_the_service_never_a_task() {
        let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let earlier = now - chrono::Duration::hours(1);
        let found = of_row(&row(), |_| Some(earlier), now);
        assert_eq!(found.len(), 1);
        let f = &found[0];
        assert_eq!(f.id, finding_id(&row(), Problem::NotReporting));
        assert!(f.id.starts_with("vigil-coverage-not-reporting-"));
        assert_eq!(f.first_observed_at, "2025-12-31T23:00:00.000Z");
        assert_eq!(f.product_fields.get("vigil/Kind").unwrap(), &KIND);
        assert!(f.title.contains("2 of 3 tasks of shop"));
        let types: Vec<&str> = f
            .resources
            .iter()
            .map(|r| r.resource_type.as_str())
            .collect();
        assert_eq!(types, ["AwsEcsCluster", "AwsEcsService"]);
        assert!(vigil_securityhub::to_sdk(f).is_ok());
        let closed = archived(f.clone(), now);
        assert_eq!(closed.record_state, "ARCHIVED");
        let mut degraded = row();
        degraded.degraded = 1;
        degraded.degraded_tasks = vec!["arn:t3".into()];
        assert_eq!(of_row(&degraded, |_| None, now).len(), 2);
        let mut fine = row();
        fine.uncovered = 0;
        assert!(of_row(&fine, |_| None, now).is_empty());
    }

    #[test]
    fn ids_differ_by_service_and_problem() {
        let mut other = row();
        other.service = "cart".into();
        assert_ne!(
            finding_id(&row(), Problem::NotReporting),
            finding_id(&other, Problem::NotReporting)
        );
        assert_ne!(
            finding_id(&row(), Problem::NotReporting),
            finding_id(&row(), Problem::Degraded)
        );
    }
}
