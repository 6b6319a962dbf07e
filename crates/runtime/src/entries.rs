//! The retry loop of calls that take many entries and can fail for some of them only
//! (EventBridge `PutEvents`, Security Hub `BatchImportFindings`).
//!
//! Each attempt hands the entries still pending to the caller's `send`, which makes the calls (as
//! many as its batching needs) and reports the entries that failed, each retryable or not. Only
//! the retryable ones go out again, after the policy's pause; what still fails when the attempts
//! run out is reported per entry, so the caller can hand exactly those messages back to SQS.
//!
//! This is the only retry layer of those calls: their SDK clients send each request once, so
//! `max_attempts` attempts are at most `max_attempts` sends of an entry.

use crate::RetryPolicy;
use std::future::Future;

/// Why one entry failed one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryFailure<E> {
    /// It may succeed if sent again (throttling, an internal error, a call that failed whole):
    /// sent again while attempts remain, reported with this error when they run out.
    Retryable(E),
    /// Sending it again cannot help (invalid, too large, refused): reported with this error, never
    /// sent again.
    Permanent(E),
}

/// Sends the `count` entries named by their positions `0..count` with `send`, retrying the entries
/// that failed retryably as `policy` says; result `i` is entry `i`'s: `Ok` once an attempt did not
/// report it as failed, else the error its last failure carried.
///
/// `send(attempt, pending)` gets the attempt's number (1-based) and the positions still pending,
/// in ascending order, and returns `(position, failure)` for each entry that failed; an entry it
/// does not report succeeded. Reports of positions that were not pending are ignored; of two
/// reports for one entry, the last counts. At least one attempt is made, even when
/// `policy.max_attempts` is 0.
pub async fn send_entries<E, F, Fut>(
    policy: &RetryPolicy,
    count: usize,
    mut send: F,
) -> Vec<Result<(), E>>
where
    F: FnMut(u32, Vec<usize>) -> Fut,
    Fut: Future<Output = Vec<(usize, EntryFailure<E>)>>,
{
    let mut failures: Vec<Option<EntryFailure<E>>> = (0..count).map(|_| None).collect();
    let mut pending: Vec<usize> = (0..count).collect();
    for attempt in 1..=policy.max_attempts.max(1) {
        if pending.is_empty() {
            break;
        }
        tokio::time::sleep(policy.delay_before(attempt)).await;
        let mut in_attempt = vec![false; count];
        for &i in &pending {
            in_attempt[i] = true;
            failures[i] = None;
        }
        for (i, failure) in send(attempt, pending).await {
            if in_attempt.get(i).copied().unwrap_or(false) {
                failures[i] = Some(failure);
            }
        }
        pending = (0..count)
            .filter(|&i| in_attempt[i] && matches!(failures[i], Some(EntryFailure::Retryable(_))))
            .collect();
    }
    failures
        .into_iter()
        .map(|failure| match failure {
            None => Ok(()),
            Some(EntryFailure::Retryable(e) | EntryFailure::Permanent(e)) => Err(e),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::time::Instant;

    /// Runs `send_entries` over `count` entries where `fails(attempt, i)` says how entry `i` fares
    /// in an attempt; returns the results and the positions each attempt was given.
    async fn run(
        policy: RetryPolicy,
        count: usize,
        fails: impl Fn(u32, usize) -> Option<EntryFailure<String>>,
    ) -> (Vec<Result<(), String>>, Vec<Vec<usize>>) {
        let mut sent = Vec::new();
        let results = send_entries(&policy, count, |attempt, pending| {
            sent.push(pending.clone());
            let failed: Vec<_> = pending
                .iter()
                .filter_map(|&i| fails(attempt, i).map(|f| (i, f)))
                .collect();
            async move { failed }
        })
        .await;
        (results, sent)
    }

    fn retryable(attempt: u32) -> Option<EntryFailure<String>> {
        Some(EntryFailure::Retryable(format!(
            "throttled on attempt {attempt}"
        )))
    }

    #[tokio::test]
    async fn all_delivered_take_one_attempt() {
        let (results, sent) = run(RetryPolicy::immediate(4), 3, |_, _| None).await;
        assert_eq!(results, vec![Ok(()), Ok(()), Ok(())]);
        assert_eq!(sent, vec![vec![0, 1, 2]]);
    }

    #[tokio::test]
    async fn only_failed_entries_are_sent_again_in_order() {
        let (results, sent) = run(RetryPolicy::immediate(4), 5, |attempt, i| {
            if attempt == 1 && (i == 1 || i == 3) {
                retryable(attempt)
            } else {
                None
            }
        })
        .await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(sent, vec![vec![0, 1, 2, 3, 4], vec![1, 3]]);
    }

    #[tokio::test]
    async fn an_entry_failing_every_attempt_is_sent_max_attempts_times_and_keeps_its_last_error() {
        let (results, sent) = run(RetryPolicy::immediate(4), 2, |attempt, i| {
            if i == 1 { retryable(attempt) } else { None }
        })
        .await;
        assert_eq!(results[0], Ok(()));
        assert_eq!(results[1], Err("throttled on attempt 4".to_owned()));
        assert_eq!(sent, vec![vec![0, 1], vec![1], vec![1], vec![1]]);
    }

    #[tokio::test]
    async fn a_permanent_failure_is_never_sent_again() {
        let (results, sent) = run(RetryPolicy::immediate(4), 3, |attempt, i| match i {
            0 => Some(EntryFailure::Permanent("invalid".to_owned())),
            2 if attempt == 1 => retryable(attempt),
            _ => None,
        })
        .await;
        assert_eq!(results, vec![Err("invalid".to_owned()), Ok(()), Ok(())]);
        assert_eq!(sent, vec![vec![0, 1, 2], vec![2]]);
    }

    #[tokio::test]
    async fn an_entry_delivered_after_failing_is_ok() {
        let (results, sent) = run(RetryPolicy::immediate(3), 1, |attempt, _| {
            if attempt < 3 {
                retryable(attempt)
            } else {
                None
            }
        })
        .await;
        assert_eq!(results, vec![Ok(())]);
        assert_eq!(sent.len(), 3);
    }

    #[tokio::test]
    async fn no_attempts_allowed_still_makes_one() {
        let (results, sent) = run(RetryPolicy::immediate(0), 2, retry_all).await;
        assert_eq!(sent, vec![vec![0, 1]]);
        assert!(results.iter().all(Result::is_err));
    }

    fn retry_all(attempt: u32, _: usize) -> Option<EntryFailure<String>> {
        retryable(attempt)
    }

    #[tokio::test]
    async fn nothing_to_send_sends_nothing() {
        let (results, sent) = run(RetryPolicy::immediate(4), 0, retry_all).await;
        assert!(results.is_empty());
        assert!(sent.is_empty());
    }

    #[tokio::test]
    async fn reports_of_entries_not_pending_are_ignored() {
        let mut attempts = 0;
        let results = send_entries(&RetryPolicy::immediate(3), 2, |_, pending| {
            attempts += 1;
            // Position 7 does not exist; position 0 is reported again after it was delivered.
            let mut failed = vec![(7, EntryFailure::Retryable("ghost"))];
            if pending == [0, 1] {
                failed.push((1, EntryFailure::Retryable("once")));
            } else {
                failed.push((0, EntryFailure::Permanent("late")));
            }
            async move { failed }
        })
        .await;
        assert_eq!(results, vec![Ok(()), Ok(())]);
        assert_eq!(attempts, 2);
    }

    #[tokio::test]
    async fn the_last_report_of_an_entry_counts() {
        let results = send_entries(&RetryPolicy::immediate(3), 1, |_, _| async {
            vec![
                (0, EntryFailure::Retryable("throttled")),
                (0, EntryFailure::Permanent("invalid")),
            ]
        })
        .await;
        assert_eq!(results, vec![Err("invalid")]);
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_after_the_first_wait_as_the_policy_says() {
        let policy = RetryPolicy::new(3, Duration::from_millis(100), Duration::from_secs(1));
        let start = Instant::now();
        let mut at = Vec::new();
        let results = send_entries(&policy, 1, |attempt, _| {
            at.push(start.elapsed());
            async move { vec![(0, EntryFailure::Retryable(attempt))] }
        })
        .await;
        assert_eq!(results, vec![Err(3)]);
        assert_eq!(at.len(), 3);
        assert_eq!(at[0], Duration::ZERO, "the first attempt does not wait");
        // Full jitter: at most 100 ms before the second attempt, at most 200 ms before the third.
        assert!(at[1] <= Duration::from_millis(100), "{at:?}");
        assert!(at[2] - at[1] <= Duration::from_millis(200), "{at:?}");
    }
}
