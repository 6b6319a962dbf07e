//! A finding ingest accepts always fits the events it publishes: the kept event travels four
//! levels deeper (`detail.finding.raw.event`) and every function parses those events with
//! serde_json, whose recursion limit refuses the 128th level.

use serde_json::Value;
use vigil_adapters::json::MAX_DEPTH;
use vigil_adapters::{ErrorKind, ParseContext, SourceEvent, parse_event};

const SAMPLES: [&str; 5] = [
    "falco-ecs-eventbridge.json",
    "falco-public-1.json",
    "guardduty-ecs-runtime.json",
    "sysdig-runtime-policy.json",
    "falco-public-2.json",
];

fn sample(name: &str) -> Value {
    let path = format!("{}/../../samples/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `sample` with an extra top-level field nesting arrays so that the whole event is `depth` deep.
fn nested_to(sample: &Value, depth: usize) -> String {
    let text = serde_json::to_string(sample).unwrap();
    // The field's own object level is the event's top level: `depth - 1` arrays inside it.
    let arrays = "[".repeat(depth - 1) + &"]".repeat(depth - 1);
    let body = text.strip_prefix('{').unwrap();
    format!("{{\"unrelated\":{arrays},{body}")
}

/// `Finding Accepted` as ingest publishes it (the dedup part does not nest deeper).
fn published(finding: &vigil_model::Finding) -> String {
    let finding = serde_json::to_string(finding).unwrap();
    format!(
        r#"{{"version":"0","id":"e","source":"vigil","detail-type":"Finding Accepted","detail":{{"finding":{finding},"dedup":{{}}}}}}"#
    )
}

#[test]
fn the_deepest_event_ingest_accepts_is_still_readable_where_it_is_published() {
    for name in SAMPLES {
        let event = nested_to(&sample(name), MAX_DEPTH);
        let finding = match parse_event(event.as_bytes(), &ParseContext::default()) {
            Ok(SourceEvent::Finding(f)) => f,
            other => panic!("{name}: {other:?}"),
        };
        assert!(!finding.raw.truncated, "{name}: kept whole");
        let out = published(&finding);
        serde_json::from_str::<Value>(&out)
            .unwrap_or_else(|e| panic!("{name}: the published event does not parse: {e}"));

        let deeper = nested_to(&sample(name), MAX_DEPTH + 1);
        let refused = parse_event(deeper.as_bytes(), &ParseContext::default()).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::TooDeep, "{name}");
    }
}

/// The margin is exact: one level more in the published event and serde_json refuses it.
#[test]
fn the_margin_is_what_publishing_adds() {
    let name = SAMPLES[0];
    let event = nested_to(&sample(name), MAX_DEPTH);
    let Ok(SourceEvent::Finding(finding)) = parse_event(event.as_bytes(), &ParseContext::default())
    else {
        panic!("accepted");
    };
    let once_more = format!(r#"{{"wrapped":{}}}"#, published(&finding));
    let e = serde_json::from_str::<Value>(&once_more).unwrap_err();
    assert!(e.to_string().contains("recursion limit"), "{e}");
}
