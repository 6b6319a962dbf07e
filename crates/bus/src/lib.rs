//! Publishes Vigil's own events (`Finding Accepted`, `Event Rejected`, …) to EventBridge.
//!
//! - [`request_builder`]: entries and their batching within PutEvents limits.
//! - [`retry`]: the backoff policy for failed entries.
//! - [`service`]: the PutEvents calls, retrying only the entries that failed.

pub mod request_builder;
pub mod retry;
mod service;

pub use request_builder::{MAX_ENTRIES_PER_CALL, MAX_REQUEST_BYTES, SOURCE, VigilEvent};
pub use retry::RetryPolicy;
pub use service::{EventPublisher, PublishError};
