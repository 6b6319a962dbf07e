//! Publishes Vigil's own events (`Finding Accepted`, `Event Rejected`, …) to EventBridge.
//!
//! - [`request_builder`]: entries and their batching within PutEvents limits.
//! - [`service`]: the PutEvents calls, retrying only the entries that failed.
//! - [`client()`]: the EventBridge client, without the SDK's own retry ([`sdk_retry`]).

#![warn(missing_docs)]

mod client;
pub mod request_builder;
mod service;

pub use client::{client, sdk_retry};
pub use request_builder::{MAX_ENTRIES_PER_CALL, MAX_REQUEST_BYTES, SOURCE, VigilEvent};
pub use service::{EventPublisher, PublishError};
pub use vigil_runtime::RetryPolicy;
