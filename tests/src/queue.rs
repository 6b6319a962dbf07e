//! Remediate as its SQS queues deliver to it: the queue and approval ARNs the tests deploy, the
//! settings that take messages from them, one message delivered through the Lambda handler, and the
//! analyst's approval of a finding as Security Hub's custom action sends it.

use crate::generous;
use serde_json::{Value, json};
use vigil_remediate::{Remediate, RemediateSettings};

/// The remediate function's queue.
pub const REMEDIATE_QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:vigil-remediate";
/// The queue of Security Hub's custom action events (approvals).
pub const APPROVALS_QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:vigil-approvals";
/// The custom action an analyst approves a proposal with.
pub const APPROVE_TARGET: &str =
    "arn:aws:securityhub:us-east-1:123456789012:action/custom/VigilApprove";
/// One playbook proposing to stop any task with a shell in it, for approval.
pub const APPROVE_SHELLS: &str = "version: 1\nplaybooks:\n  - name: shell-approve\n    match: {rules: [\"Terminal shell*\"]}\n    actions: [stop_task]\n    mode: approve\n";

/// Generous limits, messages taken from [`REMEDIATE_QUEUE`] only.
pub fn on_queue(s: &mut RemediateSettings) {
    generous(s);
    s.queue_arns = vec![REMEDIATE_QUEUE.into()];
}

/// [`on_queue`], with approvals taken from [`APPROVALS_QUEUE`] for [`APPROVE_TARGET`].
pub fn approver(s: &mut RemediateSettings) {
    on_queue(s);
    s.approval_queue_arn = Some(APPROVALS_QUEUE.into());
    s.approval_action_target_arn = Some(APPROVE_TARGET.into());
}

/// One SQS record as the event source mapping delivers it: message `id`, its `receive`-th receive,
/// from `queue`.
pub fn sqs_record(id: &str, receive: u32, queue: &str, body: &str) -> Value {
    json!({"messageId": id, "eventSource": "aws:sqs", "eventSourceARN": queue,
           "attributes": {"ApproximateReceiveCount": receive.to_string()}, "body": body})
}

/// Delivers a batch of [`sqs_record`]s through the Lambda handler; returns the message ids SQS
/// would deliver again.
pub async fn deliver_batch(r: &Remediate, records: Vec<Value>) -> Vec<String> {
    let out = vigil_lambda::invoke_json(
        |e| r.handle(e),
        json!({ "Records": records }),
        crate::FUNCTION_ARN,
    )
    .await
    .unwrap();
    out["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

/// Delivers one message from `queue` (its `receive`-th receive) through the Lambda handler; returns
/// the message ids SQS would deliver again.
pub async fn deliver(
    r: &Remediate,
    id: &str,
    receive: u32,
    queue: &str,
    body: &str,
) -> Vec<String> {
    deliver_batch(r, vec![sqs_record(id, receive, queue, body)]).await
}

/// The custom action event approving the Security Hub finding of the `Finding Enriched` `event`.
pub fn approval_of(id: &str, event: &str) -> String {
    let v: Value = serde_json::from_str(event).unwrap();
    let sh = &v["detail"]["securityhub"];
    json!({"version": "0", "id": id, "source": "aws.securityhub",
           "detail-type": "Security Hub Findings - Custom Action", "account": crate::ACCOUNT,
           "time": chrono::Utc::now().to_rfc3339(), "region": "us-east-1", "resources": [APPROVE_TARGET],
           "detail": {"actionName": "Vigil: approve stop",
                      "actionDescription": "Approve the stop Vigil proposed",
                      "findings": [{"SchemaVersion": "2018-10-08", "Id": sh["id"],
                                    "ProductArn": sh["product_arn"], "AwsAccountId": crate::ACCOUNT,
                                    "Title": "selected"}]}})
    .to_string()
}
