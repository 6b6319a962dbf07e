//! CloudWatch embedded metric format: one JSON line per invocation on stdout, which CloudWatch Logs
//! turns into metrics with no API call from the function (cheaper and faster than
//! `PutMetricData`). Format: "Specification: Embedded metric format" in the CloudWatch User Guide.
//!
//! All of Vigil's metrics are in the `Vigil` namespace with one dimension, `Function`.

use serde::Serialize;
use serde_json::{Map, Value, json};

/// The namespace of every metric Vigil emits.
pub const NAMESPACE: &str = "Vigil";

/// The EMF line for one invocation of `function` (the value of the `Function` dimension: `ingest`,
/// `enrich`, `remediate`) at `timestamp_ms` (milliseconds since the epoch). `counts` is a struct of
/// whole-number fields, each a metric of unit `Count` named as it serializes (the functions'
/// `Counts` use `#[serde(rename_all = "PascalCase")]`), so a function declares its metrics once, as
/// typed fields.
pub fn line(function: &str, counts: &impl Serialize, timestamp_ms: i64) -> String {
    let values = match serde_json::to_value(counts) {
        Ok(Value::Object(values)) => values,
        // Not a struct of counts: nothing to declare (every caller passes one; no panic either way).
        _ => Map::new(),
    };
    let metrics: Vec<Value> = values
        .keys()
        .map(|name| json!({"Name": name, "Unit": "Count"}))
        .collect();
    let mut root = values;
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
    root.insert("Function".into(), Value::from(function));
    Value::Object(root).to_string()
}

/// Prints [`line`] on stdout, where the Lambda runtime sends it to CloudWatch Logs.
pub fn emit(function: &str, counts: &impl Serialize, timestamp_ms: i64) {
    println!("{}", line(function, counts, timestamp_ms));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct EnrichCounts {
        failed: u64,
        imported: u64,
    }

    #[test]
    fn a_line_declares_each_count_and_carries_its_value() {
        let counts = EnrichCounts {
            imported: 3,
            failed: 0,
        };
        let v: Value = serde_json::from_str(&line("enrich", &counts, 1_700_000_000_000)).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000i64);
        let declared = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], "Vigil");
        assert_eq!(declared["Dimensions"], json!([["Function"]]));
        assert_eq!(
            declared["Metrics"],
            json!([{"Name": "Failed", "Unit": "Count"}, {"Name": "Imported", "Unit": "Count"}])
        );
        assert_eq!(v["Function"], "enrich");
        assert_eq!(v["Imported"], 3);
        assert_eq!(v["Failed"], 0);
    }

    #[test]
    fn something_not_a_struct_declares_nothing() {
        let v: Value = serde_json::from_str(&line("enrich", &7u64, 1)).unwrap();
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Metrics"], json!([]));
        assert_eq!(v["Function"], "enrich");
    }
}
