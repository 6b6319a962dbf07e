//! What became of an invocation's messages, counted for CloudWatch (one embedded-metric line per
//! invocation).

/// Messages of one invocation, by what became of them; each field is a CloudWatch metric of its
/// PascalCase name (`vigil_lambda::emf`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
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
