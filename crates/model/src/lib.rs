//! The canonical `Finding`: one versioned schema that every source adapter produces and every later stage
//! (dedup, enrichment, ASFF, remediation) consumes.

#![warn(missing_docs)]

mod enrichment;
mod finding;
mod fingerprint;
#[cfg(feature = "test-support")]
pub mod fixtures;
mod provenance;
mod sequence;
mod severity;
pub mod text;
pub mod time;

pub use enrichment::{ContainerInfo, Enrichment, TaskInfo};
pub use finding::{
    Container, FUTURE_TOLERANCE_SECS, Finding, Network, NetworkDirection, Process, RawEvent,
    Resource, SAMPLE_TAG, SCHEMA_VERSION, Source, Subject, SubjectKind, TimeClamp,
};
pub use fingerprint::FindingFingerprint;
pub use provenance::{Arrival, Provenance};
pub use sequence::{
    AttackSequence, MAX_INDICATOR_VALUES, MAX_SEQUENCE_ACTORS, MAX_SEQUENCE_CLUSTERS,
    MAX_SEQUENCE_ENDPOINTS, MAX_SEQUENCE_INDICATORS, MAX_SEQUENCE_SIGNALS, MAX_SEQUENCE_TASKS,
    MAX_TASK_CONTAINERS, SequenceContainer, SequenceIndicator, SequenceTask, SignalBrief,
    SignalSummary,
};
pub use severity::{Severity, SeverityLabel};

/// The AWS partition a region belongs to (`aws`, `aws-cn`, `aws-us-gov`): ARNs and product ARNs need it.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod names {
    use super::*;
    use strum::VariantArray;

    /// The name each enum serializes under (events, records) is the name `as_str` gives (ASFF
    /// product fields, playbooks, logs), and reads back.
    #[test]
    fn serde_and_as_str_agree() {
        fn check<T: serde::Serialize + Copy>(all: &[T], name: impl Fn(T) -> &'static str) {
            for v in all {
                assert_eq!(serde_json::to_value(v).unwrap(), name(*v));
            }
        }
        check(Source::VARIANTS, Source::as_str);
        check(SubjectKind::VARIANTS, SubjectKind::as_str);
        check(Arrival::VARIANTS, Arrival::as_str);
        check(SeverityLabel::VARIANTS, SeverityLabel::as_str);
        for s in Source::VARIANTS {
            assert_eq!(Source::parse(&s.as_str().to_uppercase()), Some(*s));
            assert_eq!(s.to_string(), s.as_str());
        }
        for l in SeverityLabel::ALL {
            assert_eq!(
                SeverityLabel::parse(&format!(" {} ", l.as_str().to_lowercase())),
                Some(*l)
            );
        }
        assert_eq!(Source::parse("nessus"), None);
    }
}
