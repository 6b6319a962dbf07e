//! What became of an invocation's messages, counted for CloudWatch (one embedded-metric line per
//! invocation).

use vigil_lambda::emf;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub accepted: u64,
    pub duplicates: u64,
    pub redeliveries: u64,
    pub rejected: u64,
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
