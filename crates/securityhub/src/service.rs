//! BatchImportFindings with per-finding retry. A call that fails as a whole with a retryable error
//! (throttling, 5xx, timeout, connection) is retried whole; a call that succeeds with some
//! `FailedFindings` retries only those whose error code is retryable. What still fails is reported
//! per finding, so the caller can hand exactly those messages back to SQS.

use crate::batching::{batches, finding_size};
use crate::mapping::{MappingError, to_sdk};
use crate::rate_limit::RateLimiter;
use crate::retry::{RetryPolicy, is_retryable_call, is_retryable_code};
use aws_sdk_securityhub::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_securityhub::types::AwsSecurityFinding;
use std::collections::HashMap;
use tracing::warn;
use vigil_asff::AsffFinding;

/// Why one finding was not imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The finding does not map to the SDK model; never sent.
    #[error("cannot map the finding to the Security Hub model: {0}")]
    Mapping(#[from] MappingError),
    /// The finding's JSON alone is larger than a request may be: its size in bytes; never sent.
    #[error("finding is {0} bytes, over the BatchImportFindings request limit")]
    TooLarge(usize),
    /// Security Hub refused the finding (or the call) for a reason retrying cannot fix.
    #[error("Security Hub rejected the finding: {code}: {message}")]
    Rejected {
        /// The `FailedFindings[].ErrorCode`, or the service error's code for a refused call.
        code: String,
        /// The matching error message.
        message: String,
    },
    /// Still failing, with a retryable error, when the attempts ran out.
    #[error("BatchImportFindings failed after {attempts} attempts: {code}: {message}")]
    Failed {
        /// Attempts made, as the retry policy allows.
        attempts: u32,
        /// The last error code: `FailedFindings[].ErrorCode`, the service error's code, or the
        /// transport failure's kind.
        code: String,
        /// The last error message.
        message: String,
    },
}

impl ImportError {
    /// The error code, where Security Hub (or the transport) gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ImportError::Rejected { code, .. } | ImportError::Failed { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Imports findings into Security Hub. Cheap to share: keep one per warm instance so its rate
/// limiter spans invocations.
#[derive(Debug)]
pub struct SecurityHubImporter {
    client: aws_sdk_securityhub::Client,
    retry: RetryPolicy,
    limiter: RateLimiter,
}

impl SecurityHubImporter {
    /// `calls_per_second` is both the sustained rate and the burst of BatchImportFindings calls.
    pub fn new(
        client: aws_sdk_securityhub::Client,
        retry: RetryPolicy,
        calls_per_second: u32,
    ) -> Self {
        SecurityHubImporter {
            client,
            retry,
            limiter: RateLimiter::new(calls_per_second, calls_per_second),
        }
    }

    /// The Security Hub client it imports through, for other calls on the same connection pool.
    pub fn client(&self) -> &aws_sdk_securityhub::Client {
        &self.client
    }

    /// Imports `findings`; result `i` belongs to finding `i`.
    pub async fn import(&self, findings: &[AsffFinding<'_>]) -> Vec<Result<(), ImportError>> {
        let mut results: Vec<Option<Result<(), ImportError>>> = vec![None; findings.len()];
        let mut sdk: Vec<Option<AwsSecurityFinding>> = Vec::with_capacity(findings.len());
        let mut pending = Vec::new();
        for (i, f) in findings.iter().enumerate() {
            match to_sdk(f) {
                Ok(s) => {
                    sdk.push(Some(s));
                    pending.push(i);
                }
                Err(e) => {
                    warn!(id = %f.id, error = %e, "finding not importable");
                    sdk.push(None);
                    results[i] = Some(Err(e.into()));
                }
            }
        }
        let sizes: Vec<usize> = findings.iter().map(finding_size).collect();
        let mut last_error: Vec<(String, String)> = vec![Default::default(); findings.len()];
        let max_attempts = self.retry.max_attempts.max(1);

        for attempt in 1..=max_attempts {
            if pending.is_empty() {
                break;
            }
            tokio::time::sleep(self.retry.delay_before(attempt)).await;
            let (requests, oversized) = batches(&sizes, &pending);
            for i in oversized {
                results[i] = Some(Err(ImportError::TooLarge(sizes[i])));
            }
            let mut still_failing = Vec::new();
            for request in requests {
                let batch: Vec<AwsSecurityFinding> =
                    request.iter().filter_map(|&i| sdk[i].clone()).collect();
                self.limiter.acquire().await;
                match self
                    .client
                    .batch_import_findings()
                    .set_findings(Some(batch))
                    .send()
                    .await
                {
                    Ok(out) => {
                        let failed: HashMap<&str, (&str, &str)> = out
                            .failed_findings()
                            .iter()
                            .map(|e| {
                                (
                                    e.id().unwrap_or_default(),
                                    (
                                        e.error_code().unwrap_or("Unknown"),
                                        e.error_message().unwrap_or_default(),
                                    ),
                                )
                            })
                            .collect();
                        for &i in &request {
                            match failed.get(findings[i].id.as_str()) {
                                None => results[i] = Some(Ok(())),
                                Some(&(code, message)) if is_retryable_code(code) => {
                                    last_error[i] = (code.to_owned(), message.to_owned());
                                    still_failing.push(i);
                                }
                                Some(&(code, message)) => {
                                    warn!(id = %findings[i].id, code, message, "finding rejected");
                                    results[i] = Some(Err(ImportError::Rejected {
                                        code: code.to_owned(),
                                        message: message.to_owned(),
                                    }));
                                }
                            }
                        }
                    }
                    Err(e) => {
                        let (code, message) = describe(&e);
                        warn!(attempt, code, error = %message, findings = request.len(), "BatchImportFindings call failed");
                        if is_retryable_call(&e) {
                            for &i in &request {
                                last_error[i] = (code.clone(), message.clone());
                                still_failing.push(i);
                            }
                        } else {
                            for &i in &request {
                                results[i] = Some(Err(ImportError::Rejected {
                                    code: code.clone(),
                                    message: message.clone(),
                                }));
                            }
                        }
                    }
                }
            }
            if !still_failing.is_empty() && attempt < max_attempts {
                warn!(
                    attempt,
                    failed = still_failing.len(),
                    "findings failed; retrying"
                );
            }
            // Batches keep order; retries go out in the callers' order too.
            still_failing.sort_unstable();
            pending = still_failing;
        }
        for i in pending {
            let (code, message) = std::mem::take(&mut last_error[i]);
            results[i] = Some(Err(ImportError::Failed {
                attempts: max_attempts,
                code,
                message,
            }));
        }
        results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect()
    }
}

/// The code and message of a failed call: the service's code, or the kind of transport failure.
fn describe<E, R>(e: &SdkError<E, R>) -> (String, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = match e {
        SdkError::ServiceError(s) => s.err().code().unwrap_or("Unknown"),
        SdkError::TimeoutError(_) => "TimeoutError",
        SdkError::DispatchFailure(_) => "DispatchFailure",
        SdkError::ResponseError(_) => "ResponseError",
        SdkError::ConstructionFailure(_) => "ConstructionFailure",
        _ => "Unknown",
    };
    let message = match e {
        SdkError::ServiceError(s) => s
            .err()
            .message()
            .map(str::to_owned)
            .unwrap_or_else(|| DisplayErrorContext(e).to_string()),
        _ => DisplayErrorContext(e).to_string(),
    };
    (code.to_owned(), message)
}
