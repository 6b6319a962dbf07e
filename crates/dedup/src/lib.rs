//! Finding deduplication in DynamoDB.
//!
//! One record per fingerprint (`pk = FP#<fingerprint>`, `sk = DEDUP`) holds first/last seen, the count,
//! the state (`accepted` until Security Hub confirms the import, then `forwarded`), the Security Hub
//! finding id, the highest severity counted (`max_severity`), the last confirmed import's `UpdatedAt`
//! (`forwarded_at`), and an `expires_at` TTL. Each event costs one conditional `UpdateItem`, with no
//! read before the write: the condition refuses an EventBridge event id already counted, and the
//! values the update returns say whether to publish. An occurrence more severe than any before costs
//! a second, conditional one that raises `max_severity` and never lowers it.
//!
//! - [`config`]: windows and leases.
//! - [`decision`]: whether an occurrence is published (pure; unit-tested).
//! - [`record`]: the item layout.
//! - [`store`]: the DynamoDB calls.

pub mod config;
pub mod decision;
pub mod record;
mod store;

pub use config::DedupConfig;
pub use decision::{Outcome, PublishReason};
pub use record::{DedupState, RecordedOrigin};
pub use store::{DedupError, DedupStore, Occurrence, Recorded};
