//! Imports Vigil's ASFF findings into AWS Security Hub with `BatchImportFindings`.
//!
//! - [`mapping`]: our ASFF model → the SDK's `AwsSecurityFinding` (strict enums, typed ECS and
//!   container resource details, everything else kept in `Details.Other`).
//! - [`batching`]: requests of at most 100 findings and 6 MB, in order.
//! - [`retry`]: exponential backoff with full jitter; which error codes are worth retrying.
//! - [`rate_limit`]: a token bucket keeping one warm instance within Security Hub's call quota;
//!   every send waits for it, retries included.
//! - [`service`]: [`SecurityHubImporter`], which ties these together and reports a result per
//!   finding.
//! - [`hubs`]: [`SecurityHubs`], one importer per (account, region) the findings name, through
//!   the member role for a member account ([`vigil_accounts`]); groups imported apart.
//! - [`workflow`]: BatchUpdateFindings notes and workflow status, for remediation decisions.
//! - [`client()`]: the Security Hub client and the SDK retry of its calls: none for imports
//!   ([`import_sdk_retry`]), whose retry is the importer's own; the standard retry for the rest
//!   ([`sdk_retry`]).

#![warn(missing_docs)]

pub mod batching;
mod client;
pub mod hubs;
pub mod mapping;
pub mod rate_limit;
pub mod retry;
mod service;
pub mod workflow;

pub use batching::{MAX_FINDINGS_PER_CALL, MAX_REQUEST_BYTES};
pub use client::{client, import_sdk_retry, sdk_retry};
pub use hubs::SecurityHubs;
pub use mapping::{MappingError, to_sdk};
pub use rate_limit::RateLimiter;
pub use retry::RetryPolicy;
pub use service::{ImportError, SecurityHubImporter};
