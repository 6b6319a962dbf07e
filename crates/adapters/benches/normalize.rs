//! Per-event CPU cost of the ingest path: parse + normalize + fingerprint (the adapters) + ASFF mapping,
//! for each sample source. Two floors parse the same bytes and nothing else: `serde_json_value` into a
//! `serde_json::Value`, and `serde_json_typed` into typed structs borrowing `&str`/`Cow` fields that
//! cover every field the adapter reads (numbers-or-strings and field maps as borrowed `RawValue`s) —
//! the cheapest a serde_json-based adapter could be. `scripts/bench` reports full path / typed floor.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use vigil_adapters::{ParseContext, SourceEvent, parse_event};

mod floor;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../samples/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let ctx = ParseContext {
        default_account: Some("123456789012".into()),
        default_region: Some("us-east-1".into()),
        ..Default::default()
    };
    let mapping = vigil_asff::MappingContext {
        now: chrono::Utc::now(),
    };
    for name in [
        "falco-ecs-eventbridge.json",
        "falco-public-2.json",
        "guardduty-ecs-runtime.json",
        "guardduty-attack-sequence-ecs.json",
        "sysdig-runtime-policy.json",
    ] {
        let bytes = fixture(name);
        let mut group = c.benchmark_group(name.trim_end_matches(".json"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("normalize+fingerprint+asff", |b| {
            // The record borrows from the finding: both are dropped inside the timed loop.
            b.iter(|| match parse_event(black_box(&bytes), &ctx).unwrap() {
                SourceEvent::Finding(f) => {
                    black_box(vigil_asff::to_asff(&f, &mapping).unwrap());
                }
                SourceEvent::TaskStateChange(_) | SourceEvent::AgentStatus(_) => unreachable!(),
            })
        });
        group.bench_function("normalize+fingerprint", |b| {
            b.iter(|| black_box(parse_event(black_box(&bytes), &ctx).unwrap()))
        });
        let typed = floor::parser_for(name);
        group.bench_function("serde_json_typed", |b| b.iter(|| typed(black_box(&bytes))));
        group.bench_function("serde_json_value", |b| {
            b.iter(|| {
                black_box(serde_json::from_slice::<serde_json::Value>(black_box(&bytes)).unwrap())
            })
        });
        group.finish();
    }

    let batch: Vec<Vec<u8>> = (0..100)
        .map(|_| fixture("falco-ecs-eventbridge.json"))
        .collect();
    let mut group = c.benchmark_group("batch");
    group.throughput(Throughput::Elements(100));
    group.bench_function("falco x100 normalize+fingerprint+asff", |b| {
        b.iter_batched(
            || batch.clone(),
            |events| {
                for e in &events {
                    if let SourceEvent::Finding(f) = parse_event(e, &ctx).unwrap() {
                        black_box(vigil_asff::to_asff(&f, &mapping).unwrap());
                    }
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
