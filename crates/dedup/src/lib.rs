//! Finding deduplication in DynamoDB.
//!
//! One record per fingerprint (`pk = FP#<fingerprint>`, `sk = DEDUP`) holds first/last seen, the count,
//! the state (`accepted` until Security Hub confirms the import, then `forwarded`), the highest
//! severity counted (`max_severity`), the last confirmed import's `UpdatedAt` (`forwarded_at`), the
//! origin remediation checks messages against, digests of recently counted event ids, and an
//! `expires_at` TTL; it stays under 1 KB, so a write costs one write unit. The occurrences of one
//! fingerprint in a batch cost one conditional `UpdateItem`, with no read before the write: the
//! condition refuses event ids already counted, and the values the update returns say, for each
//! occurrence, whether to publish. An occurrence more severe than any before costs a second,
//! conditional one that raises `max_severity` and never lowers it. An attack sequence's tasks are
//! kept in an item of their own (`sk = SEQ`), written only when they change.
//!
//! - [`config`]: windows and leases.
//! - [`decision`]: whether an occurrence is published (pure; unit-tested).
//! - [`record`]: the item layout.
//! - [`DedupStore`]: the DynamoDB calls.
//! - [`client()`]: the functions' DynamoDB client, with the SDK's standard retry (`vigil_runtime::sdk_standard_retry`).

#![warn(missing_docs)]

mod client;
pub mod config;
pub mod decision;
pub mod record;
mod store;

pub use client::client;
pub use config::DedupConfig;
pub use decision::{Outcome, PublishReason};
pub use record::{DedupState, RecordedOrigin};
pub use store::{DedupError, DedupStore, Occurrence, Recorded};
