//! BatchImportFindings with per-finding retry. A call that fails as a whole with a retryable error
//! (throttling, 5xx, timeout, connection) is retried whole; a call that succeeds with some
//! `FailedFindings` retries only those whose error code is retryable. What still fails is reported
//! per finding, so the caller can hand exactly those messages back to SQS. The loop is
//! [`send_entries`]; each of its attempts sends a call once ([`import_sdk_retry`]) and only when the
//! rate limiter allows, so `max_attempts` attempts are at most `max_attempts` sends of a finding,
//! each counted by the limiter.

use crate::batching::{batches, finding_size};
use crate::client::import_sdk_retry;
use crate::mapping::{MappingError, to_sdk};
use crate::rate_limit::RateLimiter;
use crate::retry::{RetryPolicy, is_retryable_call, is_retryable_code};
use aws_sdk_securityhub::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_securityhub::types::AwsSecurityFinding;
use std::collections::HashMap;
use tracing::warn;
use vigil_asff::AsffFinding;
use vigil_runtime::{EntryFailure, send_entries};

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
    /// The finding's account cannot be called (no member role) or it names no region; never sent.
    #[error("not imported into account {account} region {region}: {reason}")]
    NotRouted {
        /// The finding's `AwsAccountId`.
        account: String,
        /// The finding's `Region`.
        region: String,
        /// Why the (account, region) cannot be called.
        reason: String,
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
            ImportError::NotRouted { .. } => Some("NotRouted"),
            _ => None,
        }
    }

    /// Whether importing again later may succeed: only a retryable error whose attempts ran out.
    /// Every other error is the finding's (or its account's) for good.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ImportError::Failed { .. })
    }
}

/// Imports findings into Security Hub. Cheap to share: keep one per warm instance so its rate
/// limiter spans invocations.
#[derive(Debug)]
pub struct SecurityHubImporter {
    client: aws_sdk_securityhub::Client,
    retry: RetryPolicy,
    limiter: RateLimiter,
    calls_per_second: u32,
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
            calls_per_second,
        }
    }

    /// The Security Hub client it imports through, for other calls on the same connection pool.
    pub fn client(&self) -> &aws_sdk_securityhub::Client {
        &self.client
    }

    /// Its retry policy.
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The BatchImportFindings calls per second its limiter allows.
    pub fn calls_per_second(&self) -> u32 {
        self.calls_per_second
    }

    /// Imports `findings`; result `i` belongs to finding `i`. All must name one account and
    /// region, the client's ([`SecurityHubs`](crate::SecurityHubs) groups them).
    pub async fn import(&self, findings: &[AsffFinding<'_>]) -> Vec<Result<(), ImportError>> {
        let mapped: Vec<Result<AwsSecurityFinding, MappingError>> = findings
            .iter()
            .map(|f| {
                to_sdk(f).inspect_err(|e| warn!(id = %f.id, error = %e, "finding not importable"))
            })
            .collect();
        let sizes: Vec<usize> = findings.iter().map(finding_size).collect();
        send_entries(&self.retry, findings.len(), |attempt, pending| {
            self.attempt(findings, &mapped, &sizes, attempt, pending)
        })
        .await
    }

    /// One attempt: the `pending` findings in as few calls as the limits allow, each call sent once
    /// when the rate limiter allows it; returns the findings that failed.
    async fn attempt(
        &self,
        findings: &[AsffFinding<'_>],
        mapped: &[Result<AwsSecurityFinding, MappingError>],
        sizes: &[usize],
        attempt: u32,
        pending: Vec<usize>,
    ) -> Vec<(usize, EntryFailure<ImportError>)> {
        let mut failures = Vec::new();
        let mut sendable = Vec::with_capacity(pending.len());
        for i in pending {
            match &mapped[i] {
                Ok(_) => sendable.push(i),
                Err(e) => failures.push((i, EntryFailure::Permanent(e.clone().into()))),
            }
        }
        let (requests, oversized) = batches(sizes, &sendable);
        failures.extend(
            oversized
                .into_iter()
                .map(|i| (i, EntryFailure::Permanent(ImportError::TooLarge(sizes[i])))),
        );
        let failed = |code: &str, message: &str| ImportError::Failed {
            attempts: attempt,
            code: code.to_owned(),
            message: message.to_owned(),
        };
        let rejected = |code: &str, message: &str| ImportError::Rejected {
            code: code.to_owned(),
            message: message.to_owned(),
        };
        for request in requests {
            let batch: Vec<AwsSecurityFinding> = request
                .iter()
                .filter_map(|&i| mapped[i].as_ref().ok().cloned())
                .collect();
            // Every send takes a token, retries included: the SDK sends each call once.
            self.limiter.acquire().await;
            let sent = self
                .client
                .batch_import_findings()
                .set_findings(Some(batch))
                .customize()
                .config_override(
                    aws_sdk_securityhub::config::Builder::default()
                        .retry_config(import_sdk_retry()),
                )
                .send()
                .await;
            match sent {
                Ok(out) => {
                    let refused: HashMap<&str, (&str, &str)> = out
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
                        match refused.get(findings[i].id.as_str()) {
                            None => {}
                            Some(&(code, message)) if is_retryable_code(code) => {
                                failures.push((i, EntryFailure::Retryable(failed(code, message))));
                            }
                            Some(&(code, message)) => {
                                warn!(id = %findings[i].id, code, message, "finding rejected");
                                failures
                                    .push((i, EntryFailure::Permanent(rejected(code, message))));
                            }
                        }
                    }
                }
                Err(e) => {
                    let (code, message) = describe(&e);
                    warn!(attempt, code, error = %message, findings = request.len(), "BatchImportFindings call failed");
                    let failure = if is_retryable_call(&e) {
                        EntryFailure::Retryable(failed(&code, &message))
                    } else {
                        EntryFailure::Permanent(rejected(&code, &message))
                    };
                    failures.extend(request.iter().map(|&i| (i, failure.clone())));
                }
            }
        }
        let retrying = failures
            .iter()
            .filter(|(_, f)| matches!(f, EntryFailure::Retryable(_)))
            .count();
        if retrying > 0 && attempt < self.retry.max_attempts {
            warn!(attempt, failed = retrying, "findings failed; retrying");
        }
        failures
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
