//! Coverage findings never drive remediation: the coverage check publishes nothing remediation
//! decides on, and an analyst approving a coverage finding in Security Hub stops nothing, even
//! under a playbook that would stop a task for any finding.

use serde_json::json;
use vigil_coverage::{Clients, Coverage, CoverageSettings};
use vigil_e2e::{ACCOUNT, FUNCTION_ARN, Pipeline, generous};
use vigil_remediate::RemediationMode;
use vigil_testkit::{BUS_NAME, TABLE_NAME};

const APPROVALS: &str = "arn:aws:sqs:us-east-1:123456789012:vigil-approvals";
const TARGET: &str = "arn:aws:securityhub:us-east-1:123456789012:action/custom/VigilApprove";

/// Stops the task of any finding at all, at once or on approval.
const STOP_EVERYTHING: &str = "version: 1\nplaybooks:\n  - {name: stop-anything, match: {rules: [\"*\"]}, actions: [stop_task], mode: enforce}\n";

#[tokio::test]
async fn coverage_findings_are_never_remediated() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 2).await;
    let sdk = p.emulator.sdk_config().await;
    let mut settings = CoverageSettings::new(TABLE_NAME, BUS_NAME);
    settings.startup_grace = std::time::Duration::ZERO;
    let coverage = Coverage::new(Clients::from_sdk(&sdk), settings, "us-east-1").without_metrics();
    let report = coverage.check(ACCOUNT).await.unwrap();
    assert_eq!(report.totals.uncovered_tasks, 2);
    let finding = p
        .findings()
        .await
        .into_iter()
        .find(|f| {
            f.product_fields()
                .is_some_and(|pf| pf.get("vigil/Kind").map(String::as_str) == Some("coverage"))
        })
        .expect("the coverage finding");

    // Nothing reached the bus for enrichment or remediation.
    assert!(p.accepted.drain().await.is_empty());
    assert!(p.enriched.drain().await.is_empty());

    // An analyst selects it and chooses "Vigil: approve stop": nothing awaits, nothing stops.
    let remediate = p
        .remediate_with(STOP_EVERYTHING, RemediationMode::Enforce, |s| {
            generous(s);
            s.approval_queue_arn = Some(APPROVALS.into());
            s.approval_action_target_arn = Some(TARGET.into());
        })
        .await;
    let approval = json!({"version": "0", "id": "approve-coverage", "source": "aws.securityhub",
        "detail-type": "Security Hub Findings - Custom Action", "account": ACCOUNT,
        "time": chrono::Utc::now().to_rfc3339(), "region": "us-east-1", "resources": [TARGET],
        "detail": {"actionName": "Vigil: approve stop", "actionDescription": "approve",
                   "findings": [{"SchemaVersion": "2018-10-08", "Id": finding.id(),
                                 "ProductArn": finding.product_arn(), "AwsAccountId": ACCOUNT}]}});
    let batch = json!({"Records": [{"messageId": "a1", "eventSource": "aws:sqs",
        "eventSourceARN": APPROVALS, "attributes": {"ApproximateReceiveCount": "1"},
        "body": approval.to_string()}]});
    let out = vigil_lambda::invoke_json(|e| remediate.handle(e), batch, FUNCTION_ARN)
        .await
        .unwrap();
    assert_eq!(out["batchItemFailures"], json!([]));
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    assert_eq!(p.stopped(&tasks).await, 0);
    assert!(
        p.action_records()
            .await
            .iter()
            .all(|r| !vigil_e2e::s(r, "outcome").contains("stop"))
    );
    let noted = p
        .findings()
        .await
        .into_iter()
        .find(|f| f.id() == finding.id())
        .unwrap();
    let text = noted
        .note()
        .and_then(|n| n.text())
        .unwrap_or_default()
        .to_owned();
    assert!(text.contains("nothing awaits approval"), "{text}");
}
