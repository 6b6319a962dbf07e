//! What Vigil's functions and AWS edges share.
//!
//! - [`RetryPolicy`]: exponential backoff with full jitter, so concurrent Lambda instances retrying a
//!   throttled service do not retry in lock-step.
//! - [`entries`]: the retry loop of calls that can fail for some of their entries (PutEvents,
//!   BatchImportFindings): [`send_entries`] sends again only the entries that failed retryably.
//! - [`Clock`]: the time source handlers take, so tests control windows and leases.
//! - [`sdk_standard_retry`]: the SDK retry of the calls retried whole (DynamoDB, ECS).

#![warn(missing_docs)]

pub mod entries;

pub use entries::{EntryFailure, send_entries};

use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

/// Attempts the SDK makes of a call retried whole, the first included.
pub const SDK_STANDARD_ATTEMPTS: u32 = 3;

/// The SDK's retry of the calls it retries whole (DynamoDB: the dedup record, remediate's records,
/// holds and proposals; ECS: Describe*, ListTasks, StopTask, TagResource): the standard retry
/// (exponential backoff, retry quota) with [`SDK_STANDARD_ATTEMPTS`] attempts, stated rather than
/// inherited. Vigil has no loop of its own that sends such a call again (its loops decide again when
/// a condition refuses); past these attempts the message goes back to SQS. The calls Vigil retries
/// per entry (PutEvents, BatchImportFindings) have no SDK retry instead (`vigil_bus`,
/// `vigil_securityhub`).
pub fn sdk_standard_retry() -> aws_smithy_types::retry::RetryConfig {
    aws_smithy_types::retry::RetryConfig::standard().with_max_attempts(SDK_STANDARD_ATTEMPTS)
}

/// The time source handlers take: a shared closure returning the current UTC instant, so tests can fix or step time.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// Exponential backoff with full jitter: how many attempts to make and how long to pause between them.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least one is made).
    pub max_attempts: u32,
    /// The cap on the pause before the second attempt; the cap doubles for each attempt after it.
    pub base_delay: Duration,
    /// The largest pause between two attempts; zero turns waiting off.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::new(4, Duration::from_millis(100), Duration::from_secs(2))
    }
}

impl RetryPolicy {
    /// A policy of `max_attempts` attempts in all, pauses capped at `base_delay · 2^(n-2)` and at `max_delay`.
    pub fn new(max_attempts: u32, base_delay: Duration, max_delay: Duration) -> Self {
        RetryPolicy {
            max_attempts,
            base_delay,
            max_delay,
        }
    }

    /// No waiting between attempts: for tests.
    pub fn immediate(max_attempts: u32) -> Self {
        RetryPolicy::new(max_attempts, Duration::ZERO, Duration::ZERO)
    }

    /// The pause before attempt `attempt` (1-based; the first attempt has none): uniformly random in
    /// `[0, min(max_delay, base_delay · 2^(attempt-2))]`.
    pub fn delay_before(&self, attempt: u32) -> Duration {
        if attempt <= 1 || self.max_delay.is_zero() {
            return Duration::ZERO;
        }
        let exp = self
            .base_delay
            .saturating_mul(1u32 << (attempt - 2).min(16));
        exp.min(self.max_delay).mul_f64(fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_stay_capped_and_vary() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay_before(1), Duration::ZERO);
        for attempt in 2..40 {
            assert!(p.delay_before(attempt) <= p.max_delay);
        }
        // Full jitter: the cap for attempt 2 is the base delay.
        assert!((0..100).all(|_| p.delay_before(2) <= p.base_delay));
        let samples: std::collections::BTreeSet<Duration> =
            (0..50).map(|_| p.delay_before(5)).collect();
        assert!(samples.len() > 1, "jittered");
        assert_eq!(RetryPolicy::immediate(3).delay_before(3), Duration::ZERO);
    }
}
