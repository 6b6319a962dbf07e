//! Any bytes through every adapter and the ASFF mapping: a finding within limits or a typed error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_adapters::{parse_event, ParseContext, SourceEvent};

fuzz_target!(|data: &[u8]| {
    let ctx = ParseContext { default_account: Some("123456789012".into()), default_region: Some("us-east-1".into()) };
    if let Ok(SourceEvent::Finding(f)) = parse_event(data, &ctx) {
        if let Ok(a) = vigil_asff::to_asff(&f, &vigil_asff::MappingContext { now: chrono::Utc::now() }) {
            assert!(a.title.chars().count() <= vigil_asff::limits::MAX_TITLE);
            assert!(a.description.chars().count() <= vigil_asff::limits::MAX_DESCRIPTION);
            assert!(serde_json::to_vec(&a).unwrap().len() <= vigil_asff::limits::MAX_FINDING_BYTES);
        }
    }
});
