//! What became of an invocation's messages, counted for CloudWatch (one embedded-metric line per
//! invocation).

use vigil_lambda::emf;

/// Messages of one invocation, by what became of them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Findings the dedup record let through, to be published as `Finding Accepted`.
    pub accepted: u64,
    /// Repeats of a finding, counted on its dedup record and not published.
    pub duplicates: u64,
    /// Messages SQS delivered again whose event the dedup record had already counted.
    pub redeliveries: u64,
    /// Bad input, published as `Event Rejected`.
    pub rejected: u64,
    /// Messages left to SQS to deliver again (a failed write or publication).
    pub failed: u64,
    /// Agents' events about themselves (Falco's `Falco internal: …`): logged, not findings.
    pub telemetry: u64,
}

impl Counts {
    /// The counts as one embedded-metric line's values.
    pub fn emf(&self) -> emf::Counts {
        emf::Counts::new("ingest")
            .count("Accepted", self.accepted)
            .count("Duplicates", self.duplicates)
            .count("Redeliveries", self.redeliveries)
            .count("Rejected", self.rejected)
            .count("Failed", self.failed)
            .count("Telemetry", self.telemetry)
    }
}
