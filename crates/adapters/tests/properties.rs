//! Whatever bytes arrive, the adapters return a finding or a typed error, never panic; and every
//! finding maps to an ASFF record inside Security Hub's limits. Hostile strings (controls, ANSI
//! escapes, bidi overrides, zero-width characters, NUL, surrogate escapes, bytes that are not UTF-8,
//! very long values) in the fields each adapter reads never reach a finding, its ASFF record or an
//! error's one-line reason.

mod common;

use proptest::prelude::*;
use serde_json::{Value, json};
use vigil_adapters::{SourceEvent, parse_event};
use vigil_asff::limits::*;

use common::ctx;

fn check_asff(bytes: &[u8]) -> Result<(), TestCaseError> {
    // Every string of the finding, its ASFF record or the error, decoded and checked.
    common::check_event(bytes);
    if let Ok(SourceEvent::Finding(f)) = parse_event(bytes, &ctx()) {
        let asff = vigil_asff::to_asff(
            &f,
            &vigil_asff::MappingContext {
                now: chrono::Utc::now(),
            },
        );
        if let Ok(a) = asff {
            prop_assert!(a.title.chars().count() <= MAX_TITLE);
            prop_assert!(
                a.description.chars().count() <= MAX_DESCRIPTION && !a.description.is_empty()
            );
            prop_assert!(a.id.len() <= MAX_ID);
            prop_assert!(a.product_fields.len() <= MAX_PRODUCT_FIELDS);
            prop_assert!(
                a.product_fields
                    .iter()
                    .all(|(k, v)| k.len() <= MAX_PRODUCT_FIELD_KEY
                        && v.chars().count() <= MAX_PRODUCT_FIELD_VALUE)
            );
            prop_assert!(!a.resources.is_empty() && a.resources.len() <= MAX_RESOURCES);
            prop_assert!(a.types.len() <= MAX_TYPES && !a.types.is_empty());
            prop_assert!(serde_json::to_vec(&a).unwrap().len() <= MAX_FINDING_BYTES);
            let (lo, hi) = vigil_model::SeverityLabel::parse(&a.severity.label)
                .unwrap()
                .band();
            prop_assert!(a.severity.normalized >= lo && a.severity.normalized <= hi);
        }
    }
    Ok(())
}

/// Arbitrary JSON values, biased towards the keys the adapters look at.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("rule".to_string()),
        Just("priority".to_string()),
        Just("output".to_string()),
        Just("output_fields".to_string()),
        Just("time".to_string()),
        Just("detail".to_string()),
        Just("detail-type".to_string()),
        Just("source".to_string()),
        Just("severity".to_string()),
        Just("resource".to_string()),
        Just("type".to_string()),
        Just("content".to_string()),
        Just("labels".to_string()),
        Just("container.id".to_string()),
        "[a-z.\\[\\]-]{0,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        prop_oneof![
            Just("Notice"),
            Just("info"),
            Just("2020-01-01T00:00:00Z"),
            Just("falco"),
            Just("aws.guardduty"),
            Just("GuardDuty Finding")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes_parse_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_event(&bytes, &ctx());
    }

    #[test]
    fn any_json_maps_within_limits(v in json_value()) {
        check_asff(&serde_json::to_vec(&v).unwrap())?;
    }

    #[test]
    fn mutated_falco_alerts_map_within_limits(
        rule in any::<String>(), output in any::<String>(), cmdline in any::<String>(),
        priority in prop_oneof![Just("Notice".to_string()), Just("CRITICAL".to_string()), any::<String>()],
        container in any::<String>(),
    ) {
        let v = json!({"rule": rule, "priority": priority, "output": output, "time": "2020-01-01T00:00:00Z",
            "output_fields": {"proc.cmdline": cmdline, "container.id": container, "proc.name": "\u{1b}[31msh"}});
        check_asff(&serde_json::to_vec(&v).unwrap())?;
    }
}

#[test]
fn huge_strings_are_capped_in_asff() {
    let v = json!({"rule": "r".repeat(5000), "priority": "Notice", "output": "é".repeat(60_000),
        "time": "2020-01-01T00:00:00Z", "output_fields": {"container.id": "abc", "proc.name": "x".repeat(500)}});
    let bytes = serde_json::to_vec(&v).unwrap();
    let SourceEvent::Finding(f) = parse_event(&bytes, &ctx()).unwrap() else {
        panic!()
    };
    let a = vigil_asff::to_asff(
        &f,
        &vigil_asff::MappingContext {
            now: chrono::Utc::now(),
        },
    )
    .unwrap();
    assert_eq!(a.title.chars().count(), MAX_TITLE);
    assert_eq!(a.description.chars().count(), MAX_DESCRIPTION);
    assert_eq!(a.process.unwrap().name.unwrap().len(), MAX_PROCESS_NAME);
    assert!(f.raw.truncated);
}

// ---------------------------------------------------------------------------------------------
// Hostile strings in the fields each adapter reads.

/// Byte-level markers, swapped into the serialized event: what a `String` cannot hold.
const MARKERS: [(&str, &[u8]); 6] = [
    ("@LEAD@", br"\ud800"),       // lone leading surrogate escape
    ("@TRAIL@", br"\udfff"),      // lone trailing surrogate escape
    ("@PAIR@", br"\ud83e\udd80"), // a valid pair (U+1F980)
    ("@OVERLONG@", b"\xc0\xaf"),  // overlong '/'
    ("@CESU@", b"\xed\xa0\x80"),  // a surrogate encoded as UTF-8
    ("@BAD@", b"\xff"),
];

fn piece() -> impl Strategy<Value = String> {
    let escapes = [
        "\u{1b}[31m",
        "\u{1b}[0m",
        "\u{1b}[2J",
        "\u{1b}[1;31;40m",
        "\u{1b}]0;title\u{7}",
        "\u{1b}]8;;http://x\u{1b}\\",
        "\u{1b}P",
        "\u{1b}",
        "\u{1b}[",
        "\u{9b}31m",
        "\u{9d}0;t\u{9c}",
    ];
    let invisible = [
        "\u{202a}",
        "\u{202b}",
        "\u{202c}",
        "\u{202d}",
        "\u{202e}",
        "\u{2066}",
        "\u{2067}",
        "\u{2068}",
        "\u{2069}",
        "\u{200e}",
        "\u{200f}",
        "\u{61c}",
        "\u{200b}",
        "\u{200c}",
        "\u{200d}",
        "\u{2060}",
        "\u{2063}",
        "\u{feff}",
        "\u{ad}",
        "\u{180e}",
        "\u{e0041}",
        "\u{e007f}",
        "\u{2028}",
        "\u{2029}",
        "\u{fff9}",
    ];
    let text = [
        "\"",
        "\\",
        "é",
        "日本",
        "🦀",
        "\u{fe0f}",
        "\n",
        "\r\n",
        "\t",
        " ",
        "<NA>",
        "->",
        ":",
        "arn:aws:ecs:us-east-1:123456789012:task/c/0123abcd",
        "arn:aws:ecs:us-east-1:123456789012:cluster/c",
        "service:api",
        "mitre_execution",
        "T1059",
        "Notice",
        "critical",
        "8.0",
        "2",
        "1579802300000000000",
        "2020-01-01T00:00:00Z",
        "10.0.0.1:443->203.0.113.9:80",
        "203.0.113.9",
        "connect",
    ];
    let markers: Vec<&str> = MARKERS.iter().map(|(m, _)| *m).collect();
    prop_oneof![
        4 => "[a-zA-Z0-9 ._:/-]{1,8}",
        3 => prop::sample::select(escapes.to_vec()).prop_map(String::from),
        3 => prop::sample::select(invisible.to_vec()).prop_map(String::from),
        3 => prop_oneof![0u32..0x20, 0x7fu32..0xa0].prop_map(|c| char::from_u32(c).unwrap().to_string()),
        3 => prop::sample::select(text.to_vec()).prop_map(String::from),
        1 => prop::sample::select(markers).prop_map(String::from),
    ]
}

/// A string of hostile pieces; now and then a very long one.
fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => prop::collection::vec(piece(), 0..12).prop_map(|p| p.concat()),
        1 => (prop::collection::vec(piece(), 1..4), 1_000usize..60_000).prop_map(|(p, len)| {
            let unit = p.concat();
            let long = unit.repeat(len / unit.len().max(1) + 1);
            vigil_model::text::truncate_utf8(&long, len).to_owned()
        }),
    ]
}

/// A hostile string, or the wrong JSON type.
fn hostile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        12 => hostile_string().prop_map(Value::String),
        1 => Just(Value::Null),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::from),
        1 => hostile_string().prop_map(|s| json!([s])),
        1 => hostile_string().prop_map(|s| json!({ "k": s })),
    ]
}

type Edits = Vec<(Vec<&'static str>, Value)>;

fn edits(paths: Vec<Vec<&'static str>>) -> impl Strategy<Value = Edits> {
    prop::collection::vec((prop::sample::select(paths), hostile_value()), 1..6)
}

/// The fixture with the edits applied, serialized, markers swapped for their bytes.
fn hostile_event(base: &str, edits: &Edits) -> Vec<u8> {
    let mut v = common::fixture(base);
    for (path, value) in edits {
        common::set(&mut v, path, value.clone());
    }
    with_markers(serde_json::to_vec(&v).unwrap())
}

fn with_markers(bytes: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = &bytes[..];
    'scan: while let Some((&first, tail)) = rest.split_first() {
        if first == b'@' {
            for (marker, replacement) in MARKERS {
                if let Some(after) = rest.strip_prefix(marker.as_bytes()) {
                    out.extend_from_slice(replacement);
                    rest = after;
                    continue 'scan;
                }
            }
        }
        out.push(first);
        rest = tail;
    }
    out
}

proptest! {
    // Moderate counts: the whole adapters suite stays well under 30 s in a debug build.
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn hostile_falco_alerts_are_refused_or_sanitized(
        envelope in edits([common::envelope_paths(), common::falco_paths(&["detail"])].concat()),
        bare in edits(common::falco_paths(&[])),
        wrapper in (hostile_value(), hostile_value(), hostile_value()),
        shape in 0..3u8,
    ) {
        let bytes = match shape {
            0 => hostile_event("falco-ecs-eventbridge.json", &envelope),
            1 => hostile_event("falco-public-3.json", &bare),
            // FireLens: the alert is a JSON string in `log`, next to the wrapper's ECS fields.
            _ => {
                let alert = String::from_utf8_lossy(&hostile_event("falco-public-1.json", &bare)).into_owned();
                let record = json!({"log": alert, "ecs_task_arn": wrapper.0, "ecs_cluster": wrapper.1, "container_id": wrapper.2});
                with_markers(serde_json::to_vec(&record).unwrap())
            }
        };
        common::check_event(&bytes);
    }

    #[test]
    fn hostile_guardduty_findings_are_refused_or_sanitized(
        e in edits([common::envelope_paths(), common::guardduty_paths()].concat()),
    ) {
        common::check_event(&hostile_event("guardduty-ecs-runtime.json", &e));
    }

    #[test]
    fn hostile_sysdig_events_are_refused_or_sanitized(
        e in edits([common::envelope_paths(), common::sysdig_paths()].concat()),
    ) {
        common::check_event(&hostile_event("sysdig-runtime-policy.json", &e));
    }

    #[test]
    fn hostile_task_state_changes_are_refused_or_sanitized(
        e in edits([common::envelope_paths(), common::task_paths()].concat()),
    ) {
        common::check_event(&hostile_event("aws-ecs-task-state-change.json", &e));
    }

    /// The sanitizer itself, on hostile strings at every cap: nothing forbidden, within the cap,
    /// trimmed.
    #[test]
    fn clean_strips_every_hostile_class(s in hostile_string(), cap in 0usize..600, keep in any::<bool>()) {
        let out = vigil_model::text::clean(&s, cap, keep);
        prop_assert!(out.chars().count() <= cap);
        prop_assert_eq!(out.trim(), out.as_str());
        let allowed = |c: char| keep && (c == '\n' || c == '\t');
        prop_assert!(!out.chars().any(|c| common::is_forbidden(c) && !allowed(c)), "{:?}", out);
        prop_assert!(!out.contains('\u{1b}'), "ESC in {:?}", out);
    }
}
