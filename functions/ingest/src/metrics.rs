//! What became of an invocation's messages, counted for CloudWatch (one embedded-metric line per
//! invocation).

/// An invocation's messages by what became of them; each field is a CloudWatch metric of its
/// PascalCase name (`vigil_lambda::emf`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Counts {
    /// Findings accepted as new (or due again) and published.
    pub accepted: u64,
    /// Repeats counted on an existing record.
    pub duplicates: u64,
    /// Messages whose event ids were already counted (SQS or EventBridge redelivery).
    pub redeliveries: u64,
    /// Messages refused as invalid (dead-lettered).
    pub rejected: u64,
    /// Messages returned to the queue.
    pub failed: u64,
    /// Agents' events about themselves (Falco's `Falco internal: …`): logged, not findings.
    pub telemetry: u64,
}
