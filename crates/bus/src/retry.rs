//! Exponential backoff with full jitter, so concurrent Lambda instances retrying a throttled bus do
//! not retry in lock-step.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// No waiting between attempts: for tests.
    pub fn immediate(max_attempts: u32) -> Self {
        RetryPolicy {
            max_attempts,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        }
    }

    /// The pause before attempt `attempt` (1-based; the first attempt has none).
    pub fn delay_before(&self, attempt: u32) -> Duration {
        if attempt <= 1 || self.max_delay.is_zero() {
            return Duration::ZERO;
        }
        let exp = self
            .base_delay
            .saturating_mul(1u32 << (attempt - 2).min(16));
        let cap = exp.min(self.max_delay);
        cap.mul_f64(fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay_before(1), Duration::ZERO);
        for attempt in 2..20 {
            assert!(p.delay_before(attempt) <= p.max_delay);
        }
        assert_eq!(RetryPolicy::immediate(3).delay_before(3), Duration::ZERO);
    }
}
