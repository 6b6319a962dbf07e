//! GuardDuty Runtime Monitoring's own coverage: `ListDetectors`, then `ListCoverage` of ECS
//! resources (pages of 50): each cluster's status (HEALTHY or UNHEALTHY) and issue.

use aws_sdk_guardduty::types::{
    CoverageFilterCondition, CoverageFilterCriteria, CoverageFilterCriterion,
    CoverageFilterCriterionKey, CoverageStatus,
};
use chrono::{DateTime, Utc};

/// ListCoverage returns at most 50 resources a page.
pub const MAX_PER_PAGE: i32 = 50;

/// A GuardDuty call that failed.
pub type GuardDutyError = crate::error::CallError;

fn gd_error(operation: &'static str, e: impl std::error::Error + 'static) -> GuardDutyError {
    GuardDutyError::new("GuardDuty", operation, "ECS coverage", e)
}

/// One ECS cluster as GuardDuty's coverage reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterCoverage {
    /// The cluster's ARN (from its name, the account and the region).
    pub cluster_arn: String,
    /// Whether GuardDuty reports its runtime coverage healthy.
    pub healthy: bool,
    /// The issue GuardDuty reports, if any.
    pub issue: Option<String>,
    /// When GuardDuty last updated the status.
    pub updated_at: Option<DateTime<Utc>>,
}

/// What the coverage API answered, and the calls it took.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    /// The ECS clusters GuardDuty reports on.
    pub clusters: Vec<ClusterCoverage>,
    /// ListDetectors and ListCoverage calls made.
    pub calls: u64,
}

/// GuardDuty's ECS coverage in `account` and `region` (the client's); no detector: nothing.
pub async fn ecs_coverage(
    gd: &aws_sdk_guardduty::Client,
    account: &str,
    region: &str,
) -> Result<Coverage, GuardDutyError> {
    let mut coverage = Coverage {
        calls: 1,
        ..Coverage::default()
    };
    let detectors = gd
        .list_detectors()
        .send()
        .await
        .map_err(|e| gd_error("ListDetectors", e))?;
    // One detector per account and region.
    let Some(detector) = detectors.detector_ids().first() else {
        return Ok(coverage);
    };
    let ecs_only = CoverageFilterCriteria::builder()
        .filter_criterion(
            CoverageFilterCriterion::builder()
                .criterion_key(CoverageFilterCriterionKey::ResourceType)
                .filter_condition(CoverageFilterCondition::builder().equals("ECS").build())
                .build(),
        )
        .build();
    let partition = vigil_model::partition_of(region);
    let mut token = None;
    loop {
        coverage.calls += 1;
        let page = gd
            .list_coverage()
            .detector_id(detector)
            .filter_criteria(ecs_only.clone())
            .max_results(MAX_PER_PAGE)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| gd_error("ListCoverage", e))?;
        for r in page.resources() {
            let Some(name) = r
                .resource_details()
                .and_then(|d| d.ecs_cluster_details())
                .and_then(|c| c.cluster_name())
            else {
                continue;
            };
            let owner = r.account_id().unwrap_or(account);
            coverage.clusters.push(ClusterCoverage {
                cluster_arn: format!("arn:{partition}:ecs:{region}:{owner}:cluster/{name}"),
                healthy: r.coverage_status() == Some(&CoverageStatus::Healthy),
                issue: r.issue().map(str::to_owned),
                updated_at: r
                    .updated_at()
                    .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
            });
        }
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        if token.is_none() {
            return Ok(coverage);
        }
    }
}
