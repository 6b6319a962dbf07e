//! CloudWatch embedded metric format: one JSON line per invocation on stdout, which CloudWatch Logs
//! turns into metrics with no API call from the function (cheaper and faster than
//! `PutMetricData`). Format: "Specification: Embedded metric format" in the CloudWatch User Guide.
//!
//! All of Vigil's metrics are in the `Vigil` namespace with one dimension, `Function`.

use serde_json::{Map, Value, json};

/// The namespace of every metric Vigil emits.
pub const NAMESPACE: &str = "Vigil";

/// One invocation's counts, by metric name, for one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    function: &'static str,
    counts: Vec<(&'static str, u64)>,
}

impl Counts {
    /// No counts yet, for `function` (the value of the `Function` dimension: `ingest`, `enrich`, `remediate`).
    pub fn new(function: &'static str) -> Self {
        Counts {
            function,
            counts: Vec::new(),
        }
    }

    /// Adds the count `name` (unit `Count`).
    pub fn count(mut self, name: &'static str, value: u64) -> Self {
        self.counts.push((name, value));
        self
    }

    /// The EMF line for these counts at `timestamp_ms` (milliseconds since the epoch).
    pub fn line(&self, timestamp_ms: i64) -> String {
        let metrics: Vec<Value> = self
            .counts
            .iter()
            .map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
            .collect();
        let mut root = Map::new();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Function"]],
                    "Metrics": metrics,
                }]
            }),
        );
        root.insert("Function".into(), Value::from(self.function));
        for (name, value) in &self.counts {
            root.insert((*name).into(), Value::from(*value));
        }
        Value::Object(root).to_string()
    }

    /// Prints the line on stdout, where the Lambda runtime sends it to CloudWatch Logs.
    pub fn emit(&self, timestamp_ms: i64) {
        println!("{}", self.line(timestamp_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_declares_each_count_and_carries_its_value() {
        let line = Counts::new("enrich")
            .count("Imported", 3)
            .count("Failed", 0)
            .line(1_700_000_000_000);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000i64);
        let declared = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], "Vigil");
        assert_eq!(declared["Dimensions"], json!([["Function"]]));
        assert_eq!(
            declared["Metrics"],
            json!([{"Name": "Imported", "Unit": "Count"}, {"Name": "Failed", "Unit": "Count"}])
        );
        assert_eq!(v["Function"], "enrich");
        assert_eq!(v["Imported"], 3);
        assert_eq!(v["Failed"], 0);
    }
}
