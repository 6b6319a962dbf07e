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
/// `ErrorCode: ErrorMessage`, and whether sending it again could succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("BatchUpdateFindings failed: {message}")]
pub struct WorkflowError {
    /// What failed, as text.
    pub message: String,
    /// Refused for its input or access, as [`crate::retry`] classes the call or the entry's code
    /// (`InvalidAccessException`: Security Hub is not enabled in that account and region, …).
    refused: bool,
}

impl WorkflowError {
    /// A failure with its text; `refused` when sending it again cannot succeed.
    pub fn new(message: impl Into<String>, refused: bool) -> Self {
        WorkflowError {
            message: message.into(),
            refused,
        }
    }

    /// Security Hub does not have the finding (`FindingNotFound`, `ResourceNotFoundException`) or
    /// does not let this caller update it (`AccessDenied…`): asking again changes nothing.
    pub fn is_not_found_or_denied(&self) -> bool {
        self.message.contains("NotFound") || self.message.contains("AccessDenied")
    }

    /// Asking again changes nothing: the finding is not found, the caller is denied, or the call
    /// is refused for its input or access (throttling, 5xx, timeouts and connection failures are
    /// not permanent).
    pub fn is_permanent(&self) -> bool {
        self.refused || self.is_not_found_or_denied()
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
        .map_err(|e| {
            WorkflowError::new(
                DisplayErrorContext(&e).to_string(),
                !crate::retry::is_retryable_call(&e),
            )
        })?;
    match out.unprocessed_findings().first() {
        None => Ok(()),
        Some(u) => {
            let code = u.error_code().unwrap_or("Unprocessed");
            Err(WorkflowError::new(
                format!("{code}: {}", u.error_message().unwrap_or_default()),
                !crate::retry::is_retryable_code(code),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_cannot_succeed_again_is_permanent() {
        assert!(WorkflowError::new("FindingNotFound: gone", false).is_permanent());
        assert!(WorkflowError::new("AccessDeniedException: no", false).is_permanent());
        assert!(WorkflowError::new("InvalidAccessException: not subscribed", true).is_permanent());
        assert!(!WorkflowError::new("TooManyRequestsException: slow down", false).is_permanent());
        assert!(!WorkflowError::new("InternalException", false).is_permanent());
    }
}
