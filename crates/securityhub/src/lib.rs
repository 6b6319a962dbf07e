//! Imports Vigil's ASFF findings into AWS Security Hub with `BatchImportFindings`.
//!
//! - [`mapping`]: our ASFF model → the SDK's `AwsSecurityFinding` (strict enums, typed ECS and
//!   container resource details, everything else kept in `Details.Other`).
//! - [`batching`]: requests of at most 100 findings and 6 MB, in order.
//! - [`retry`]: exponential backoff with full jitter; which error codes are worth retrying.
//! - [`rate_limit`]: a token bucket keeping one warm instance within Security Hub's call quota.
//! - [`service`]: [`SecurityHubImporter`], which ties these together and reports a result per
//!   finding.
//! - [`workflow`]: BatchUpdateFindings notes and workflow status, for remediation decisions.

#![warn(missing_docs)]

pub mod batching;
pub mod mapping;
pub mod rate_limit;
pub mod retry;
mod service;
pub mod workflow;

pub use batching::{MAX_FINDINGS_PER_CALL, MAX_REQUEST_BYTES};
pub use mapping::{MappingError, to_sdk};
pub use rate_limit::RateLimiter;
pub use retry::RetryPolicy;
pub use service::{ImportError, SecurityHubImporter};
