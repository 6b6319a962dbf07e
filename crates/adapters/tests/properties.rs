//! Whatever bytes arrive, the adapters return a finding or a typed error, never panic; and every
//! finding maps to an ASFF record inside Security Hub's limits.

use proptest::prelude::*;
use serde_json::{Value, json};
use vigil_adapters::{ParseContext, SourceEvent, parse_event};
use vigil_asff::limits::*;

fn ctx() -> ParseContext {
    ParseContext {
        default_account: Some("123456789012".into()),
        default_region: Some("us-east-1".into()),
    }
}

fn check_asff(bytes: &[u8]) -> Result<(), TestCaseError> {
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
            let all_text = serde_json::to_string(&a).unwrap();
            prop_assert!(
                !all_text.contains('\u{1b}'),
                "no escape characters reach ASFF"
            );
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
