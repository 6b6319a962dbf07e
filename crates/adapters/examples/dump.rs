//! Prints, for each file given, the canonical Finding (or task event) and the ASFF record as JSON, or
//! the error: a plain-text trace to compare two builds of the adapters with `diff`.
use vigil_adapters::{ParseContext, SourceEvent, parse_delivery};

fn main() {
    let ctx = ParseContext {
        default_account: Some("123456789012".into()),
        default_region: Some("us-east-1".into()),
        ..Default::default()
    };
    let mapping = vigil_asff::MappingContext {
        now: chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("a valid time"),
    };
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).expect("read");
        println!("== {path}");
        match parse_delivery(&bytes, &ctx) {
            Ok(d) => {
                println!("envelope_id {:?}", d.envelope_id);
                match d.event {
                    SourceEvent::Finding(f) => {
                        println!("{}", serde_json::to_string(&f).expect("serializes"));
                        match vigil_asff::to_asff(&f, &mapping) {
                            Ok(a) => println!("{}", serde_json::to_string(&a).expect("serializes")),
                            Err(e) => println!("asff error: {e}"),
                        }
                    }
                    SourceEvent::TaskStateChange(t) => {
                        println!("{}", serde_json::to_string(&t).expect("serializes"))
                    }
                    SourceEvent::AgentStatus(s) => {
                        println!("{}", serde_json::to_string(&s).expect("serializes"))
                    }
                }
            }
            Err(e) => println!("error {} [{}] {e:?}", e, e.code()),
        }
    }
}
