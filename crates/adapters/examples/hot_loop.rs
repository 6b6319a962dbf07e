//! Runs one sample event through the full CPU path N times: a steady loop for profilers
//! (`valgrind --tool=callgrind`, `perf`). Usage: hot_loop FIXTURE [N] [normalize]; with
//! `normalize`, the ASFF mapping is left out.
use std::hint::black_box;
use vigil_adapters::{ParseContext, SourceEvent, parse_event};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: hot_loop FIXTURE [N]");
    let n: usize = args.next().map_or(10_000, |n| n.parse().expect("N"));
    let asff = args.next().as_deref() != Some("normalize");
    let bytes = std::fs::read(&path).expect("read fixture");
    let ctx = ParseContext {
        default_account: Some("123456789012".into()),
        default_region: Some("us-east-1".into()),
        ..Default::default()
    };
    let mapping = vigil_asff::MappingContext {
        now: chrono::Utc::now(),
    };
    for _ in 0..n {
        match parse_event(black_box(&bytes), &ctx).expect("sample parses") {
            SourceEvent::Finding(f) if asff => {
                black_box(vigil_asff::to_asff(&f, &mapping).expect("maps"));
            }
            SourceEvent::Finding(f) => {
                black_box(f);
            }
            SourceEvent::TaskStateChange(t) => {
                black_box(t);
            }
            SourceEvent::AgentStatus(s) => {
                black_box(s);
            }
        }
    }
}
