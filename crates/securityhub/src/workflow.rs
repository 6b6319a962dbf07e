//! BatchUpdateFindings: the note and workflow status remediation leaves on a finding, so the people
//! triaging in Security Hub see what Vigil did (or would have done) and why.

use aws_sdk_securityhub::error::DisplayErrorContext;
use aws_sdk_securityhub::types::{
    AwsSecurityFindingIdentifier, NoteUpdate, WorkflowStatus, WorkflowUpdate,
};

/// Security Hub's limit on a note's text.
pub const MAX_NOTE_TEXT: usize = 512;
/// Who the note says wrote it.
pub const UPDATED_BY: &str = "vigil-remediate";

/// `BatchUpdateFindings` failed: the SDK error's text, or the `UnprocessedFindings` entry's
/// `ErrorCode: ErrorMessage`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("BatchUpdateFindings failed: {0}")]
pub struct WorkflowError(pub String);

impl WorkflowError {
    /// Security Hub does not have the finding (`FindingNotFound`, `ResourceNotFoundException`) or
    /// does not let this caller update it (`AccessDenied…`): asking again changes nothing.
    pub fn is_not_found_or_denied(&self) -> bool {
        self.0.contains("NotFound") || self.0.contains("AccessDenied")
    }
}

/// Sets the note (cut to 512 characters) and, when given, the workflow status of one finding.
pub async fn annotate(
    client: &aws_sdk_securityhub::Client,
    finding_id: &str,
    product_arn: &str,
    note: &str,
    status: Option<WorkflowStatus>,
) -> Result<(), WorkflowError> {
    let identifier = AwsSecurityFindingIdentifier::builder()
        .id(finding_id)
        .product_arn(product_arn)
        .build();
    let note = NoteUpdate::builder()
        .text(vigil_model::text::clean(note, MAX_NOTE_TEXT, true))
        .updated_by(UPDATED_BY)
        .build();
    let out = client
        .batch_update_findings()
        .finding_identifiers(identifier)
        .note(note)
        .set_workflow(status.map(|s| WorkflowUpdate::builder().status(s).build()))
        .send()
        .await
        .map_err(|e| WorkflowError(DisplayErrorContext(&e).to_string()))?;
    match out.unprocessed_findings().first() {
        None => Ok(()),
        Some(u) => Err(WorkflowError(format!(
            "{}: {}",
            u.error_code().unwrap_or("Unprocessed"),
            u.error_message().unwrap_or_default()
        ))),
    }
}
