//! Whether an occurrence is published as `Finding Accepted`. New fingerprints always are; repeats are
//! published when more severe than any occurrence counted before (at once, whatever the interval), at
//! count milestones (1, 10, 100, …), when the update interval's window turns over, or when the record
//! is still `accepted` past its lease (enrichment may have failed).

use crate::record::{DedupState, RecordBefore};
use chrono::{DateTime, Utc};

pub use vigil_contract::PublishReason;

/// What became of one occurrence. Every variant carries the record's occurrence count after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Counted (or recognized as a redelivery) and to be published.
    Publish {
        /// Why it is published (the `Finding Accepted` event's `dedup.reason`).
        reason: PublishReason,
        /// Occurrences counted, this one included.
        count: u64,
    },
    /// Counted; Security Hub will hear of it with a later update.
    Duplicate {
        /// Occurrences counted, this one included.
        count: u64,
    },
    /// This event id was already counted; nothing changed.
    Redelivered {
        /// Occurrences counted, as the record holds them.
        count: u64,
    },
}

impl Outcome {
    /// The record's occurrence count after this occurrence.
    pub fn count(&self) -> u64 {
        match self {
            Outcome::Publish { count, .. }
            | Outcome::Duplicate { count }
            | Outcome::Redelivered { count } => *count,
        }
    }

    /// Whether ingest publishes it as `Finding Accepted` ([`Outcome::Publish`]).
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

/// The fixed window of length `secs` (seconds) that `now` falls in: its index since the Unix epoch
/// (`secs` of 0 counts as 1).
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

/// What the record looks like to the next occurrence of the same write, once `before` (`None`: no
/// record yet) counted one more at `now` of severity `severity`: the count, both windows stamped
/// with `now`, the highest severity (raised when `escalated`; a record without one takes the
/// write's first counted severity, `first_severity`, as the counting update does).
pub fn advance(
    before: Option<&RecordBefore>,
    now: DateTime<Utc>,
    lease_secs: u64,
    interval_secs: u64,
    severity: u8,
    escalated: bool,
    first_severity: u8,
) -> RecordBefore {
    let stamped = |count: u64, state, accepted_at, max_severity, forwarded_at| RecordBefore {
        count,
        state,
        accepted_at,
        lease_bucket: Some(bucket(now, lease_secs)),
        interval_bucket: Some(bucket(now, interval_secs)),
        max_severity: Some(max_severity),
        forwarded_at,
    };
    match before {
        None => stamped(
            1,
            DedupState::Accepted,
            Some(now.timestamp()),
            severity,
            None,
        ),
        Some(b) => {
            let kept = b.max_severity.unwrap_or(first_severity);
            stamped(
                b.count.saturating_add(1),
                b.state,
                b.accepted_at.or(Some(now.timestamp())),
                if escalated { kept.max(severity) } else { kept },
                b.forwarded_at,
            )
        }
    }
}

/// How one occurrence of a coalesced write fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member {
    /// Counted by the write.
    Counted,
    /// Its id was already counted before the write (the record remembered it).
    Redelivered,
    /// Redelivered, and the occurrence that last raised the record's highest severity: its
    /// escalation's publication may be what failed (the record cannot tell), so it is published
    /// again, whatever the record's state.
    RedeliveredRaiser,
    /// Redelivered, and listed by the record as counted but not published (its publication failed
    /// for good, [`UNPUBLISHED`](crate::record::UNPUBLISHED)): published again, whatever the
    /// record's state.
    RedeliveredUnpublished,
    /// Its id is an earlier occurrence's of the same write (delivered twice in one batch).
    Repeated,
}

/// The state of the conditional raise of the record's highest severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raise {
    /// Not attempted yet: say which occurrences would escalate, and to what to raise.
    Planned,
    /// This write raised it.
    Raised,
    /// Another writer had raised it at least as high (to this).
    Refused(u8),
}

/// The outcome of each occurrence of one coalesced write, in order, exactly as if each had been
/// counted by its own update one after the other: the first one sees the record as the write
/// found it (`before`, `None` when the write created it), each later one the record as the
/// earlier ones left it ([`advance`]), so a write publishes on the same occurrences (new, each
/// milestone it crosses, the first in a new interval or past the lease, each escalation) as the
/// occurrences would one by one. `existing` is the record as a refused attempt returned it, for
/// the redelivered ones. Returns each outcome with the highest severity to publish, and the
/// severity to raise the record to (`Some` only when an occurrence escalates).
#[allow(clippy::too_many_arguments)]
pub fn group_outcomes(
    before: Option<&RecordBefore>,
    existing: Option<&RecordBefore>,
    members: &[(Member, u8)],
    raise: Raise,
    now: DateTime<Utc>,
    lease_secs: u64,
    interval_secs: u64,
) -> (Vec<(Outcome, u8)>, Option<u8>) {
    let allow = !matches!(raise, Raise::Refused(_));
    let floor = match raise {
        Raise::Refused(current) => current,
        _ => 0,
    };
    let first_severity = members
        .iter()
        .find(|(m, _)| *m == Member::Counted)
        .map_or(0, |(_, s)| *s);
    let blank = RecordBefore {
        count: 0,
        state: DedupState::Accepted,
        accepted_at: None,
        lease_bucket: None,
        interval_bucket: None,
        max_severity: None,
        forwarded_at: None,
    };
    let mut running: Option<RecordBefore> = before.cloned();
    let mut counted_any = false;
    let mut existing: RecordBefore = existing.cloned().unwrap_or(blank);
    let mut raise_to: Option<u8> = None;
    let mut out = Vec::with_capacity(members.len());
    for &(member, severity) in members {
        match member {
            Member::Counted => {
                let escalated =
                    allow && running.as_ref().is_some_and(|b| is_escalation(b, severity));
                let outcome =
                    after_counted(running.as_ref(), now, lease_secs, interval_secs, escalated);
                let next = advance(
                    running.as_ref(),
                    now,
                    lease_secs,
                    interval_secs,
                    severity,
                    escalated,
                    first_severity,
                );
                if escalated {
                    raise_to = Some(raise_to.map_or(severity, |r| r.max(severity)));
                }
                let highest = next.max_severity.unwrap_or(severity).max(floor);
                running = Some(next);
                counted_any = true;
                out.push((outcome, highest));
            }
            Member::Redelivered | Member::RedeliveredRaiser | Member::RedeliveredUnpublished => {
                let escalated = allow && is_escalation(&existing, severity);
                if escalated {
                    raise_to = Some(raise_to.map_or(severity, |r| r.max(severity)));
                    existing.max_severity = Some(severity);
                }
                let highest = existing.max_severity.unwrap_or(severity).max(floor);
                let outcome = match after_redelivery(&existing, escalated) {
                    // Its publication failed (listed unpublished), or its escalation's may have
                    // (the raiser): published again.
                    Outcome::Redelivered { count } if member != Member::Redelivered => {
                        Outcome::Publish {
                            reason: PublishReason::Redelivery,
                            count,
                        }
                    }
                    outcome => outcome,
                };
                out.push((outcome, highest));
            }
            Member::Repeated => {
                let seen = match (&running, counted_any) {
                    (Some(r), true) => r,
                    _ => &existing,
                };
                let highest = seen.max_severity.unwrap_or(severity).max(floor);
                out.push((after_redelivery(seen, false), highest));
            }
        }
    }
    (out, raise_to)
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
    fn a_coalesced_write_escalates_only_when_its_raise_holds() {
        let b = before(3, DedupState::Forwarded, 0);
        let members = [
            (Member::Counted, 20),
            (Member::Counted, 70),
            (Member::Counted, 50),
            (Member::Repeated, 70),
        ];
        let decide = |raise| group_outcomes(Some(&b), None, &members, raise, at(5), 120, 900);
        let (planned, raise_to) = decide(Raise::Planned);
        assert_eq!(raise_to, Some(70));
        assert_eq!(
            planned,
            vec![
                (Outcome::Duplicate { count: 4 }, 20),
                (
                    Outcome::Publish {
                        reason: PublishReason::Escalated,
                        count: 5
                    },
                    70
                ),
                (Outcome::Duplicate { count: 6 }, 70),
                (Outcome::Redelivered { count: 6 }, 70),
            ]
        );
        assert_eq!(decide(Raise::Raised).0, planned);
        let (refused, _) = decide(Raise::Refused(90));
        assert_eq!(refused[1], (Outcome::Duplicate { count: 5 }, 90));
        assert!(refused.iter().all(|(o, _)| !o.should_publish()));
    }

    #[test]
    fn the_redelivered_occurrence_that_raised_the_severity_is_published_again() {
        // Forwarded, its highest severity raised to 70 by the occurrence now redelivered: the
        // raise held, but the escalation's publication may be what failed.
        let mut b = before(3, DedupState::Forwarded, 0);
        b.max_severity = Some(70);
        let decide = |member| {
            group_outcomes(
                None,
                Some(&b),
                &[(member, 70)],
                Raise::Planned,
                at(5),
                120,
                900,
            )
        };
        assert_eq!(
            decide(Member::RedeliveredRaiser),
            (
                vec![(
                    Outcome::Publish {
                        reason: PublishReason::Redelivery,
                        count: 3
                    },
                    70
                )],
                None
            ),
            "published again, and not raised again"
        );
        assert_eq!(
            decide(Member::RedeliveredUnpublished).0,
            vec![(
                Outcome::Publish {
                    reason: PublishReason::Redelivery,
                    count: 3
                },
                70
            )],
            "one listed unpublished is published again too"
        );
        assert_eq!(
            decide(Member::Redelivered).0,
            vec![(Outcome::Redelivered { count: 3 }, 70)],
            "any other redelivery of a forwarded record stays quiet"
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
