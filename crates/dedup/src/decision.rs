//! Whether an occurrence is published as `Finding Accepted`. New fingerprints always are; repeats are
//! published when more severe than any occurrence counted before (at once, whatever the interval), at
//! count milestones (1, 10, 100, …), when the update interval's window turns over, or when the record
//! is still `accepted` past its lease (enrichment may have failed).

use crate::record::{DedupState, RecordBefore};
use chrono::{DateTime, Utc};

pub use vigil_contract::PublishReason;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Counted (or recognized as a redelivery) and to be published.
    Publish { reason: PublishReason, count: u64 },
    /// Counted; Security Hub will hear of it with a later update.
    Duplicate { count: u64 },
    /// This event id was already counted; nothing changed.
    Redelivered { count: u64 },
}

impl Outcome {
    pub fn count(&self) -> u64 {
        match self {
            Outcome::Publish { count, .. }
            | Outcome::Duplicate { count }
            | Outcome::Redelivered { count } => *count,
        }
    }

    pub fn should_publish(&self) -> bool {
        matches!(self, Outcome::Publish { .. })
    }
}

/// 1, 10, 100, 1000, …
pub fn is_milestone(count: u64) -> bool {
    let mut m = 1u64;
    while m < count {
        match m.checked_mul(10) {
            Some(next) => m = next,
            None => return false,
        }
    }
    m == count
}

/// The fixed window of length `secs` that `now` falls in.
pub fn bucket(now: DateTime<Utc>, secs: u64) -> i64 {
    now.timestamp().div_euclid(secs.max(1) as i64)
}

/// Whether an occurrence of `severity` (normalized) is more severe than any counted before, by the
/// record's values before it was counted. A record without a kept severity (written before they
/// were kept) vouches for none: its first repeat sets the severity and is not an escalation.
pub fn is_escalation(before: &RecordBefore, severity: u8) -> bool {
    before.max_severity.is_some_and(|max| severity > max)
}

/// Decides for an event that was counted: `before` holds the record's values as the update found them
/// (`None` when the update created the record); `escalated` says that this occurrence raised the
/// record's highest severity (see [`is_escalation`]; the store raises it with a conditional write).
pub fn after_counted(
    before: Option<&RecordBefore>,
    now: DateTime<Utc>,
    lease_secs: u64,
    interval_secs: u64,
    escalated: bool,
) -> Outcome {
    let Some(before) = before else {
        return Outcome::Publish {
            reason: PublishReason::New,
            count: 1,
        };
    };
    let count = before.count.saturating_add(1);
    if escalated {
        return Outcome::Publish {
            reason: PublishReason::Escalated,
            count,
        };
    }
    if is_milestone(count) {
        return Outcome::Publish {
            reason: PublishReason::Milestone,
            count,
        };
    }
    let lease_expired = before.state == DedupState::Accepted
        && before
            .accepted_at
            .is_some_and(|t| now.timestamp() - t >= lease_secs as i64)
        && before.lease_bucket != Some(bucket(now, lease_secs));
    if lease_expired {
        return Outcome::Publish {
            reason: PublishReason::LeaseExpired,
            count,
        };
    }
    if before.interval_bucket != Some(bucket(now, interval_secs)) {
        return Outcome::Publish {
            reason: PublishReason::Interval,
            count,
        };
    }
    Outcome::Duplicate { count }
}

/// Decides for a redelivered event (its id was already counted). `escalated`: the redelivery raised
/// the highest severity, which its first delivery counted but did not get to raise.
pub fn after_redelivery(existing: &RecordBefore, escalated: bool) -> Outcome {
    if escalated {
        Outcome::Publish {
            reason: PublishReason::Escalated,
            count: existing.count,
        }
    } else if existing.state == DedupState::Accepted {
        Outcome::Publish {
            reason: PublishReason::Redelivery,
            count: existing.count,
        }
    } else {
        Outcome::Redelivered {
            count: existing.count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        // 1_700_000_100 is a multiple of 900, so windows start at `at(0)`.
        Utc.timestamp_opt(1_700_000_100 + secs, 0).unwrap()
    }

    fn before(count: u64, state: DedupState, accepted_secs: i64) -> RecordBefore {
        RecordBefore {
            count,
            state,
            accepted_at: Some(at(accepted_secs).timestamp()),
            lease_bucket: Some(bucket(at(accepted_secs), 120)),
            interval_bucket: Some(bucket(at(accepted_secs), 900)),
            max_severity: Some(20),
            forwarded_at: None,
        }
    }

    #[test]
    fn milestones() {
        let ms: Vec<u64> = (1..=2000).filter(|c| is_milestone(*c)).collect();
        assert_eq!(ms, vec![1, 10, 100, 1000]);
        assert!(is_milestone(10_000_000_000_000_000_000));
        assert!(!is_milestone(u64::MAX));
        assert!(!is_milestone(0));
    }

    #[test]
    fn new_then_repeats() {
        assert_eq!(
            after_counted(None, at(0), 120, 900, false),
            Outcome::Publish {
                reason: PublishReason::New,
                count: 1
            }
        );
        let b = before(1, DedupState::Accepted, 0);
        assert_eq!(
            after_counted(Some(&b), at(5), 120, 900, false),
            Outcome::Duplicate { count: 2 }
        );
        let b = before(9, DedupState::Forwarded, 0);
        assert_eq!(
            after_counted(Some(&b), at(5), 120, 900, false),
            Outcome::Publish {
                reason: PublishReason::Milestone,
                count: 10
            }
        );
    }

    #[test]
    fn lease_lets_an_unforwarded_finding_through_again() {
        let b = before(3, DedupState::Accepted, 0);
        assert_eq!(
            after_counted(Some(&b), at(60), 120, 900, false),
            Outcome::Duplicate { count: 4 },
            "within the lease"
        );
        assert_eq!(
            after_counted(Some(&b), at(125), 120, 900, false),
            Outcome::Publish {
                reason: PublishReason::LeaseExpired,
                count: 4
            }
        );
        let forwarded = before(3, DedupState::Forwarded, 0);
        assert_eq!(
            after_counted(Some(&forwarded), at(125), 120, 900, false),
            Outcome::Duplicate { count: 4 }
        );
    }

    #[test]
    fn interval_turnover_publishes_a_count_update() {
        let b = before(3, DedupState::Forwarded, 0);
        assert_eq!(
            after_counted(Some(&b), at(901), 120, 900, false),
            Outcome::Publish {
                reason: PublishReason::Interval,
                count: 4
            }
        );
    }

    #[test]
    fn a_more_severe_repeat_is_published_at_once_within_the_interval() {
        let b = before(3, DedupState::Forwarded, 0);
        assert!(is_escalation(&b, 70));
        assert!(!is_escalation(&b, 20), "as severe as before");
        assert!(!is_escalation(&b, 0), "less severe");
        let legacy = RecordBefore {
            max_severity: None,
            ..b.clone()
        };
        assert!(!is_escalation(&legacy, 100), "no kept severity to exceed");
        assert_eq!(
            after_counted(Some(&b), at(5), 120, 900, true),
            Outcome::Publish {
                reason: PublishReason::Escalated,
                count: 4
            }
        );
        assert_eq!(
            after_counted(Some(&b), at(5), 120, 900, false),
            Outcome::Duplicate { count: 4 },
            "the same repeat, not more severe, waits for the interval"
        );
        assert_eq!(
            after_counted(None, at(5), 120, 900, true),
            Outcome::Publish {
                reason: PublishReason::New,
                count: 1
            }
        );
        assert_eq!(
            after_redelivery(&b, true),
            Outcome::Publish {
                reason: PublishReason::Escalated,
                count: 3
            },
            "a forwarded record's redelivery that raised the severity"
        );
    }

    #[test]
    fn redeliveries() {
        assert!(after_redelivery(&before(3, DedupState::Accepted, 0), false).should_publish());
        assert_eq!(
            after_redelivery(&before(3, DedupState::Forwarded, 0), false),
            Outcome::Redelivered { count: 3 }
        );
    }
}
