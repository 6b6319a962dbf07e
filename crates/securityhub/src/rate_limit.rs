//! A token bucket (as GCRA: one "theoretical arrival time", exact in integer durations) limiting
//! BatchImportFindings calls per warm instance. Security Hub allows 10 calls/s with bursts of 30 per
//! account and region; staying at 10/s with a burst of 10 per instance leaves room for a second
//! instance's burst before throttling starts. The importer takes a token for every send, retries
//! included, and the SDK sends each call once, so no send escapes the count.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The sustained rate of [`RateLimiter::default`], in calls per second.
pub const DEFAULT_CALLS_PER_SECOND: u32 = 10;
/// The burst of [`RateLimiter::default`]: calls allowed back to back before the rate applies.
pub const DEFAULT_BURST: u32 = 10;

/// Paces calls to a sustained rate with a burst allowance; shared by reference across tasks.
#[derive(Debug)]
pub struct RateLimiter {
    /// Time between calls at the sustained rate.
    interval: Duration,
    /// How far ahead of the sustained rate a burst may run: `interval · (burst − 1)`.
    tolerance: Duration,
    /// When the next call would be due were the bucket empty.
    next_due: Mutex<Option<Instant>>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter::new(DEFAULT_CALLS_PER_SECOND, DEFAULT_BURST)
    }
}

impl RateLimiter {
    /// `calls_per_second` and `burst` below 1 are taken as 1.
    pub fn new(calls_per_second: u32, burst: u32) -> Self {
        let interval = Duration::from_secs(1) / calls_per_second.max(1);
        RateLimiter {
            interval,
            tolerance: interval * (burst.max(1) - 1),
            next_due: Mutex::new(None),
        }
    }

    /// Waits until a call is allowed. Callers are served in the order they asked.
    pub async fn acquire(&self) {
        let now = Instant::now();
        let allowed_at = {
            let mut next_due = self.next_due.lock().unwrap_or_else(|e| e.into_inner());
            let due = next_due.map_or(now, |d| d.max(now));
            *next_due = Some(due + self.interval);
            due.checked_sub(self.tolerance).unwrap_or(now)
        };
        if allowed_at > now {
            tokio::time::sleep_until(allowed_at).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn twenty_five_calls_take_at_least_one_and_a_half_seconds() {
        let limiter = RateLimiter::default();
        let start = Instant::now();
        for _ in 0..25 {
            limiter.acquire().await;
        }
        // 10 from the burst at once, then 15 at 10 per second.
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(1500), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(1600), "{elapsed:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_burst_is_immediate_and_refills() {
        let limiter = RateLimiter::new(10, 10);
        let start = Instant::now();
        for _ in 0..10 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let again = Instant::now();
        for _ in 0..10 {
            limiter.acquire().await;
        }
        assert_eq!(again.elapsed(), Duration::ZERO, "an idle bucket refills");
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_the_rate() {
        let limiter = std::sync::Arc::new(RateLimiter::new(10, 1));
        let start = Instant::now();
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let l = limiter.clone();
                tokio::spawn(async move { l.acquire().await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert!(start.elapsed() >= Duration::from_millis(400));
    }
}
