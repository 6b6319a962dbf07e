//! One error for every AWS call the function makes: which service and operation, what it was
//! about, and the SDK's error with its sources.

/// An AWS call that failed (after the SDK's own retries).
#[derive(Debug, thiserror::Error)]
#[error("{service} {operation} ({about}) failed: {message}")]
pub struct CallError {
    /// `DynamoDB`, `ECS`, `GuardDuty`.
    pub service: &'static str,
    /// The operation (`UpdateItem`, `ListTasks`, `ListCoverage`, …).
    pub operation: &'static str,
    /// The item, partition or cluster it was about.
    pub about: String,
    /// The SDK error with its sources.
    pub message: String,
}

impl CallError {
    /// The error of `service`'s `operation` about `about`.
    pub fn new(
        service: &'static str,
        operation: &'static str,
        about: &str,
        e: impl std::error::Error + 'static,
    ) -> Self {
        CallError {
            service,
            operation,
            about: about.to_owned(),
            message: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
        }
    }
}
