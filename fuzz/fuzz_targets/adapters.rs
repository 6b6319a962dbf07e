//! Any bytes through every adapter (`parse_delivery`: the entry the ingest function uses, envelope
//! id included) and the ASFF mapping: a finding within limits or a typed error, and nothing hostile
//! in either. Every string of the finding (but the verbatim source event under `/raw`), of its ASFF
//! record, of a task state change, and every error's one-line reason is free of control, escape and
//! invisible formatting characters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use vigil_adapters::{ParseContext, SourceEvent, parse_delivery};
use vigil_asff::limits;

/// Listed independently of the sanitizer: C0, DEL, C1, soft hyphen, bidi marks, embeddings,
/// overrides and isolates, zero-width and invisible characters, line and paragraph separators,
/// the byte-order mark, interlinear annotations, tag characters.
fn forbidden(c: char) -> bool {
    matches!(c as u32,
        0x00..=0x1f | 0x7f..=0x9f | 0xad | 0x061c | 0x180e
        | 0x200b..=0x200f | 0x2028..=0x202e | 0x2060..=0x2064 | 0x2066..=0x206f
        | 0xfeff | 0xfff9..=0xfffb | 0xe0000..=0xe007f)
}

fn assert_clean(what: &str, s: &str) {
    assert!(!s.chars().any(forbidden), "{what}: {s:?}");
}

/// Every string and key in `v`, outside `skip`.
fn assert_all_clean(what: &str, v: &Value, at: &str, skip: &str) {
    if at == skip {
        return;
    }
    match v {
        Value::String(s) => assert_clean(what, s),
        Value::Array(items) => items
            .iter()
            .for_each(|i| assert_all_clean(what, i, &format!("{at}/_"), skip)),
        Value::Object(map) => map.iter().for_each(|(k, i)| {
            assert_clean(what, k);
            assert_all_clean(what, i, &format!("{at}/{k}"), skip)
        }),
        _ => {}
    }
}

fn assert_message(what: &str, m: &str) {
    assert!(!m.is_empty(), "{what}: empty");
    assert_clean(what, m);
    assert!(
        m.chars().count() <= vigil_adapters::MAX_MESSAGE_CHARS,
        "{what}: too long"
    );
}

fuzz_target!(|data: &[u8]| {
    let ctx = ParseContext {
        default_account: Some("123456789012".into()),
        default_region: Some("us-east-1".into()),
        ..Default::default()
    };
    let result = parse_delivery(data, &ctx);
    match &result {
        Ok(d) => {
            if let Some(id) = &d.envelope_id {
                assert_message("envelope id", id);
            }
            match &d.event {
                SourceEvent::Finding(f) => {
                    let v = serde_json::to_value(f).unwrap();
                    assert_all_clean("finding", &v, "", "/raw/event");
                    assert!(!f.rule.is_empty() && !f.title.is_empty());
                    assert!(f.raw.event.get().len() <= vigil_model::RawEvent::MAX_BYTES);
                    assert!(serde_json::to_vec(f).unwrap().len() <= 128 * 1024);
                    let now = chrono::Utc::now();
                    match vigil_asff::to_asff(f, &vigil_asff::MappingContext { now }) {
                        Ok(a) => {
                            let chars = |s: &str| s.chars().count();
                            assert!(chars(&a.title) <= limits::MAX_TITLE);
                            assert!(chars(&a.description) <= limits::MAX_DESCRIPTION);
                            assert!(a.types.iter().all(|t| chars(t) <= limits::MAX_TYPE));
                            assert!(
                                a.resources
                                    .iter()
                                    .all(|r| chars(&r.id) <= limits::MAX_RESOURCE_ID)
                            );
                            assert!(
                                a.product_fields
                                    .values()
                                    .all(|v| chars(v) <= limits::MAX_PRODUCT_FIELD_VALUE)
                            );
                            assert!(a.process.as_ref().is_none_or(|p| {
                                p.name
                                    .as_deref()
                                    .is_none_or(|n| chars(n) <= limits::MAX_PROCESS_NAME)
                            }));
                            let json = serde_json::to_vec(&a).unwrap();
                            assert!(json.len() <= limits::MAX_FINDING_BYTES);
                            assert_all_clean("ASFF", &serde_json::to_value(&a).unwrap(), "", "");
                        }
                        Err(e) => assert_message("ASFF error", &e.to_string()),
                    }
                }
                SourceEvent::TaskStateChange(t) => {
                    assert_all_clean("task", &serde_json::to_value(t).unwrap(), "", "");
                }
                SourceEvent::AgentStatus(s) => {
                    assert_all_clean("agent status", &serde_json::to_value(s).unwrap(), "", "");
                }
            }
        }
        Err(e) => {
            assert_message("reason", &e.to_string());
            assert_message("path", &e.path);
        }
    }
});
