//! CloudWatch embedded metric format: one JSON line per invocation, turned into metrics by
//! CloudWatch Logs with no API call from the function.

use serde_json::json;

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
    pub fn emf_line(&self, timestamp_ms: i64) -> String {
        json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": "Vigil",
                    "Dimensions": [["Function"]],
                    "Metrics": [
                        {"Name": "Accepted", "Unit": "Count"},
                        {"Name": "Duplicates", "Unit": "Count"},
                        {"Name": "Redeliveries", "Unit": "Count"},
                        {"Name": "Rejected", "Unit": "Count"},
                        {"Name": "Failed", "Unit": "Count"},
                        {"Name": "Telemetry", "Unit": "Count"}
                    ]
                }]
            },
            "Function": "ingest",
            "Accepted": self.accepted,
            "Duplicates": self.duplicates,
            "Redeliveries": self.redeliveries,
            "Rejected": self.rejected,
            "Failed": self.failed,
            "Telemetry": self.telemetry,
        })
        .to_string()
    }
}
