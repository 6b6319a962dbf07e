//! What Vigil's functions and AWS edges share.
//!
//! - [`RetryPolicy`]: exponential backoff with full jitter, so concurrent Lambda instances retrying a
//!   throttled service do not retry in lock-step.
//! - [`init_logging`]: structured JSON logs for CloudWatch.
//! - [`Clock`]: the time source handlers take, so tests control windows and leases.

use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least one is made).
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::new(4, Duration::from_millis(100), Duration::from_secs(2))
    }
}

impl RetryPolicy {
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

/// Structured JSON logs; the level comes from `RUST_LOG` or `LOG_LEVEL` (default `info`).
pub fn init_logging() {
    let level = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("LOG_LEVEL"))
        .unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_current_span(false)
        .without_time()
        .with_target(false)
        .init();
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

/// A comma-separated setting (`A, B,,C`) as its non-empty, trimmed items; unset is empty.
pub fn comma_list(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]` → ACCOUNT (12 digits), the account a
/// function is deployed in.
pub fn account_of_function_arn(arn: &str) -> Option<String> {
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then(|| account.to_owned())
}

#[cfg(test)]
mod settings_tests {
    use super::*;

    #[test]
    fn comma_lists_drop_blanks() {
        assert_eq!(comma_list(Some(" a, b,,c ")), ["a", "b", "c"]);
        assert!(comma_list(None).is_empty());
    }

    #[test]
    fn account_from_function_arn() {
        assert_eq!(
            account_of_function_arn("arn:aws:lambda:us-east-1:123456789012:function:ingest")
                .as_deref(),
            Some("123456789012")
        );
        assert_eq!(account_of_function_arn("nonsense"), None);
    }
}
