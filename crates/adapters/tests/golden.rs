//! Byte-identity of what the adapters and the ASFF mapping write, across changes that must not alter
//! behaviour (performance work above all): every sample and thousands of generated variations of
//! each are read and mapped, and the output compared with the committed golden files.
//!
//! - `tests/golden/samples.txt`: the full trace of each sample, read through each entry point,
//!   mapped alone and with enrichment and history (readable; a change shows in `git diff`).
//! - `tests/golden/variations.txt`: per sample and JSON pointer, a digest of the trace of every
//!   variation of that field (removed, or replaced by null, numbers, `1e400`, empty, `<NA>`,
//!   controls, a lone surrogate, long strings, arrays, objects…), and of whole-document variations
//!   (other forms, encodings, sizes, nesting, subjects other than a workload).
//!
//! A trace is what `examples/dump` prints: the envelope id, the canonical Finding's JSON and the
//! ASFF record's JSON (or the error with its code). After a deliberate change of output, rewrite the
//! files with `VIGIL_BLESS=1 cargo test -p vigil-adapters --test golden` and review the diff.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use vigil_adapters::{Channel, ParseContext, SourceEvent, parse_delivery};
use vigil_asff::{History, MappingContext};
use vigil_model::{ContainerInfo, Enrichment, Finding, TaskInfo};

const SAMPLES: &[&str] = &[
    "aws-ecs-task-state-change.json",
    "falco-ecs-eventbridge.json",
    "falco-public-1.json",
    "falco-public-2.json",
    "falco-public-3.json",
    "guardduty-attack-sequence-ecs.json",
    "guardduty-ecs-runtime.json",
    "sysdig-runtime-policy.json",
];

fn golden_dir() -> String {
    format!("{}/tests/golden", env!("CARGO_MANIFEST_DIR"))
}

fn sample_text(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../../samples/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn ctx(channel: Channel) -> ParseContext {
    ParseContext {
        default_account: Some("123456789012".into()),
        default_region: Some("us-east-1".into()),
        channel,
        delegations: BTreeMap::from([(
            "111122223333".to_owned(),
            ["444455556666".to_owned()].into(),
        )]),
    }
}

fn mapping() -> MappingContext {
    MappingContext {
        now: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
    }
}

/// The trace of one event, as `examples/dump` prints it; the finding, when there is one.
fn trace(bytes: &[u8], channel: Channel, out: &mut String) -> Option<Finding> {
    match parse_delivery(bytes, &ctx(channel)) {
        Ok(d) => {
            writeln!(out, "envelope_id {:?}", d.envelope_id).unwrap();
            match d.event {
                SourceEvent::Finding(f) => {
                    writeln!(out, "{}", serde_json::to_string(&f).unwrap()).unwrap();
                    match vigil_asff::to_asff(&f, &mapping()) {
                        Ok(a) => writeln!(out, "{}", serde_json::to_string(&a).unwrap()).unwrap(),
                        Err(e) => writeln!(out, "asff error: {e}").unwrap(),
                    }
                    return Some(f);
                }
                SourceEvent::TaskStateChange(t) => {
                    writeln!(out, "{}", serde_json::to_string(&t).unwrap()).unwrap()
                }
                SourceEvent::AgentStatus(s) => {
                    writeln!(out, "{}", serde_json::to_string(&s).unwrap()).unwrap()
                }
            }
        }
        Err(e) => writeln!(out, "error {} [{}] {e:?}", e, e.code()).unwrap(),
    }
    None
}

/// Enrichments of every shape the enriched mapping reads, for the finding's own task and container.
fn enrichments(f: &Finding) -> Vec<(&'static str, Enrichment, History)> {
    let task_arn = f
        .resource
        .task_arn
        .clone()
        .unwrap_or_else(|| "arn:aws:ecs:us-west-2:111122223333:task/C/0123456789abcdef".into());
    let cluster_arn = f
        .resource
        .cluster_arn
        .clone()
        .unwrap_or_else(|| "arn:aws:ecs:us-west-2:111122223333:cluster/C".into());
    let container = f
        .resource
        .container
        .name
        .clone()
        .unwrap_or_else(|| "app".into());
    let full = TaskInfo {
        task_arn: task_arn.clone(),
        cluster_arn: cluster_arn.clone(),
        last_status: Some("RUNNING".into()),
        service_name: Some("web \"front\"".into()),
        service_arn: Some("arn:aws:ecs:us-west-2:111122223333:service/C/web".into()),
        group: Some("service:web".into()),
        started_by: Some("ecs-svc/1234567890".into()),
        task_definition_arn: Some(
            "arn:aws:ecs:us-west-2:111122223333:task-definition/web:7".into(),
        ),
        task_definition_family: Some("web".into()),
        task_definition_revision: Some(7),
        launch_type: Some("FARGATE".into()),
        platform_version: Some("1.4.0".into()),
        availability_zone: Some("us-west-2a".into()),
        private_ip: Some("10.0.0.9".into()),
        task_role_arn: Some("arn:aws:iam::111122223333:role/web-task".into()),
        tags: BTreeMap::from([
            ("team".into(), "payments".into()),
            ("aws:cloudformation:stack-name".into(), "s".into()),
            ("\u{1b}[31mbad".into(), "x\u{202e}y".into()),
            ("".into(), "empty key".into()),
        ]),
        service_tags: BTreeMap::from([("tier".into(), "front".repeat(60))]),
        cluster_tags: BTreeMap::from([("env".into(), "prod".into())]),
        containers: vec![
            ContainerInfo {
                name: container.clone(),
                image: Some("111122223333.dkr.ecr.us-west-2.amazonaws.com/web:1".into()),
                image_digest: Some(format!("sha256:{}", "a".repeat(64))),
                runtime_id: Some(format!("ad64cbc71c7f{}", "0".repeat(52))),
                last_status: Some("RUNNING".into()),
                privileged: Some(true),
                readonly_root_filesystem: Some(false),
                user: Some("1000:1000".into()),
            },
            ContainerInfo {
                name: "sidecar".into(),
                image: None,
                image_digest: None,
                runtime_id: None,
                last_status: None,
                privileged: None,
                readonly_root_filesystem: Some(true),
                user: None,
            },
        ],
        offending_container: Some(container.clone()),
    };
    let minimal = TaskInfo {
        task_arn,
        cluster_arn,
        ..Default::default()
    };
    let service_only = TaskInfo {
        service_name: Some("svc".into()),
        offending_container: Some("not-in-the-task".into()),
        ..minimal.clone()
    };
    let many = TaskInfo {
        containers: (0..40)
            .map(|i| ContainerInfo {
                name: format!("c{i}"),
                ..Default::default()
            })
            .collect(),
        task_definition_arn: Some("td".into()),
        ..minimal.clone()
    };
    let later = History {
        highest_severity: Some(95),
        last_update: Some(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()),
    };
    let mut all = vec![
        ("full", Enrichment::of(full.clone()), History::default()),
        ("full+history", Enrichment::of(full), later),
        ("minimal", Enrichment::of(minimal), History::default()),
        (
            "service only",
            Enrichment::of(service_only),
            History::default(),
        ),
        (
            "unenriched",
            Enrichment::unenriched("task gone"),
            History {
                highest_severity: Some(3),
                last_update: None,
            },
        ),
    ];
    if f.resource.task_arn.is_some() && f.source == vigil_model::Source::Falco {
        all.push(("40 containers", Enrichment::of(many), History::default()));
    }
    all
}

/// The full trace of every sample, through every entry point, mapped alone and enriched.
fn samples_trace() -> String {
    let mut out = String::new();
    for name in SAMPLES {
        let text = sample_text(name);
        for channel in [Channel::Local, Channel::EventBridge, Channel::DirectInvoke] {
            writeln!(out, "== {name} {channel:?}").unwrap();
            let finding = trace(text.as_bytes(), channel, &mut out);
            if let (Some(f), Channel::Local) = (finding, channel) {
                for (what, enrichment, history) in enrichments(&f) {
                    writeln!(out, "-- enriched: {what}").unwrap();
                    match vigil_asff::to_asff_with_history(
                        &f,
                        Some(&enrichment),
                        &mapping(),
                        &history,
                    ) {
                        Ok(a) => writeln!(out, "{}", serde_json::to_string(&a).unwrap()).unwrap(),
                        Err(e) => writeln!(out, "asff error: {e}").unwrap(),
                    }
                }
            }
        }
    }
    out
}

/// Raw JSON texts put in place of a field (some are not `serde_json::Value`s: `1e400`, a lone
/// surrogate, a number beyond `u64`).
fn replacements() -> Vec<String> {
    let mut r: Vec<String> = [
        "null",
        "true",
        "false",
        "0",
        "-1",
        "3.5",
        "18446744073709551616",
        "1e400",
        "\"\"",
        "\"<NA>\"",
        "\"  padded \\t\"",
        "\"\\u0000\\u001b[31mred\\u202e\\u200bx\\u0085\"",
        "\"\\ud800\"",
        "\"1579802300\"",
        "1579802300000",
        "\"2020-01-23T17:58:20Z\"",
        "\"arn:aws:ecs:us-west-2:444455556666:task/Other/0123456789abcdef\"",
        "[]",
        "{}",
        "[\"a\",1,null]",
        "{\"k\":\"v\",\"n\":1}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    r.push(serde_json::to_string(&"é…\"\\".repeat(150)).unwrap());
    r.push(serde_json::to_string(&"A".repeat(3000)).unwrap());
    r
}

/// `v` with every object's keys in name order: the documents are the same whether or not serde_json
/// preserves insertion order (its `preserve_order` feature, which AWS SDK test dependencies turn on
/// when other crates' tests are built together with these).
fn sorted(v: &Value) -> Value {
    fn sort(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.sort_keys();
                map.values_mut().for_each(sort);
            }
            Value::Array(items) => items.iter_mut().for_each(sort),
            _ => {}
        }
    }
    let mut v = v.clone();
    sort(&mut v);
    v
}

const MARK: &str = "\u{1}vigil-golden-mark";

/// Every pointer under `v` (not the root itself), depth first.
fn pointers(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, item) in map {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(item, &p, out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(item, &p, out);
            }
        }
        _ => {}
    }
}

fn remove(doc: &mut Value, pointer: &str) {
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    let last = last.replace("~1", "/").replace("~0", "~");
    match doc.pointer_mut(parent).unwrap() {
        Value::Object(map) => {
            map.remove(&last);
        }
        Value::Array(items) => {
            items.remove(last.parse::<usize>().unwrap());
        }
        _ => unreachable!(),
    }
}

/// `doc` with the field at `pointer` replaced by the raw JSON `raw`.
fn replaced(doc: &Value, pointer: &str, raw: &str) -> String {
    let mut d = doc.clone();
    *d.pointer_mut(pointer).unwrap() = Value::String(MARK.into());
    let text = serde_json::to_string(&sorted(&d)).unwrap();
    let marked = serde_json::to_string(MARK).unwrap();
    text.replacen(&marked, raw, 1)
}

/// A labelled event text.
type Variation = (String, Vec<u8>);

/// Whole-document variations of one sample: forms, encodings, sizes, nesting, duplicate keys.
fn document_variations(name: &str, text: &str, doc: &Value) -> Vec<Variation> {
    let mut out: Vec<Variation> = Vec::new();
    let mut add = |label: &str, bytes: Vec<u8>| out.push((label.to_owned(), bytes));
    let compact = serde_json::to_string(&sorted(doc)).unwrap();
    add("compact", compact.clone().into_bytes());
    add("pretty", serde_json::to_vec_pretty(&sorted(doc)).unwrap());
    add("padded", format!(" \n\t{text}\r\n ").into_bytes());
    add("bom", format!("\u{feff}{compact}").into_bytes());
    add("trailing data", format!("{compact} {{}}").into_bytes());
    add("trailing comma", format!("{compact},").into_bytes());
    add("half", compact.as_bytes()[..compact.len() / 2].to_vec());
    add("empty", Vec::new());
    add("array of it", format!("[{compact}]").into_bytes());
    add("string of it", serde_json::to_vec(&compact).unwrap());
    // Duplicate keys: the last value counts, as in a map.
    if let Some(rest) = compact.strip_prefix('{') {
        add(
            "duplicate first key",
            format!("{{\"source\":\"dup\",\"rule\":\"dup\",\"detail\":{{}},{rest}").into_bytes(),
        );
        let dup = format!("{{{rest}");
        let dup = dup.replacen("\"source\":", "\"source\":\"first\",\"source\":", 1);
        add("duplicate source", dup.into_bytes());
    }
    // Invalid UTF-8 inside a string, and in a key.
    let mut bytes = compact.clone().into_bytes();
    if let Some(i) = compact.find("\":\"") {
        bytes.insert(i + 3, 0xff);
        add("invalid utf-8 value", bytes);
    }
    let mut bytes = compact.clone().into_bytes();
    bytes.insert(2, 0xc3);
    add("invalid utf-8 key", bytes);
    // Escapes in keys and values (owned strings in the tree).
    add(
        "escaped",
        compact
            .replace("\"rule\"", "\"r\\u0075le\"")
            .replace("\"source\"", "\"sourc\\u0065\"")
            .replace("a", "\\u0061")
            .into_bytes(),
    );
    // serde_json's raw-value token, at the root and nested.
    add(
        "raw value token",
        br#"{"$serde_json::private::RawValue":"{\"a\":1}"}"#.to_vec(),
    );
    let mut d = doc.clone();
    if let Some(o) = d.as_object_mut() {
        o.insert(
            "zz".into(),
            json!({ "$serde_json::private::RawValue": "[[[[1]]]]" }),
        );
        add(
            "nested raw value token",
            serde_json::to_vec(&sorted(&d)).unwrap(),
        );
    }
    // Nesting at and past the limit.
    for depth in [100, 126, 127, 128, 200] {
        let deep = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let mut d = doc.clone();
        if let Some(o) = d.as_object_mut() {
            o.insert("deep".into(), Value::String(MARK.into()));
        }
        let t = serde_json::to_string(&sorted(&d)).unwrap().replacen(
            &serde_json::to_string(MARK).unwrap(),
            &deep,
            1,
        );
        add(&format!("depth {depth}"), t.into_bytes());
    }
    // Sizes: the raw event is kept whole up to 8 KiB, then as a string prefix; over 256 KiB refused.
    for (label, n) in [
        (
            "raw just under 8 KiB",
            (8 * 1024usize).saturating_sub(compact.len() + 16),
        ),
        (
            "raw just over 8 KiB",
            (8 * 1024usize).saturating_sub(compact.len() + 8),
        ),
        ("raw 9 KiB", 9 * 1024),
        ("raw 255 KiB", 255 * 1024 - compact.len()),
        ("raw 257 KiB", 257 * 1024),
    ] {
        for filler in ["x", "\"", "é"] {
            let mut d = doc.clone();
            if let Some(o) = d.as_object_mut() {
                o.insert(
                    "zz_pad".into(),
                    Value::String(filler.repeat(n / filler.len().max(1))),
                );
            }
            add(
                &format!("{label} {filler}"),
                serde_json::to_vec(&sorted(&d)).unwrap(),
            );
        }
    }
    // Other forms of the same event.
    if let Some(detail) = doc.get("detail") {
        add("bare detail", serde_json::to_vec(&sorted(detail)).unwrap());
        let mut d = doc.clone();
        d["source"] = json!("falco.forwarder");
        d["detail-type"] = json!("Sysdig Alert");
        add(
            "agent source renamed",
            serde_json::to_vec(&sorted(&d)).unwrap(),
        );
        for source in [
            "aws.guardduty",
            "AWS.GuardDuty",
            "aws.ecs",
            "vigil",
            "custom",
        ] {
            let mut d = doc.clone();
            d["source"] = json!(source);
            add(
                &format!("source {source}"),
                serde_json::to_vec(&sorted(&d)).unwrap(),
            );
        }
        let mut d = doc.clone();
        d["detail-type"] = json!("Something Else");
        add(
            "detail-type other",
            serde_json::to_vec(&sorted(&d)).unwrap(),
        );
    } else {
        let envelope = json!({
            "version": "0",
            "id": "11111111-2222-3333-4444-555555555555",
            "detail-type": "Falco Alert",
            "source": "falco",
            "account": "111122223333",
            "time": "2020-01-23T17:58:21Z",
            "region": "eu-west-1",
            "resources": [],
            "detail": doc,
        });
        add("wrapped", serde_json::to_vec(&sorted(&envelope)).unwrap());
        let firelens = json!({
            "log": compact,
            "ecs_task_arn": "arn:aws:ecs:eu-west-1:111122223333:task/Fire/0123456789abcdef",
            "ecs_cluster": "Fire",
            "container_id": "ad64cbc71c7f",
            "source": "stdout",
        });
        add("firelens", serde_json::to_vec(&sorted(&firelens)).unwrap());
        let mut merged = doc.clone();
        if let Some(o) = merged.as_object_mut() {
            o.insert(
                "ecs_task_arn".into(),
                json!("arn:aws:ecs:eu-west-1:444455556666:task/Fire/0123456789abcdef"),
            );
            o.insert("ecs_cluster".into(), json!(7));
        }
        add(
            "firelens merged",
            serde_json::to_vec(&sorted(&merged)).unwrap(),
        );
        add(
            "firelens not json",
            serde_json::to_vec(&sorted(&json!({ "log": "{not json", "source": "stderr" })))
                .unwrap(),
        );
    }
    // Falco from other event sources: a cloud account, a Kubernetes object, a SaaS identity.
    let falco_fields = doc
        .pointer("/detail/output_fields")
        .map(|_| "/detail")
        .or(doc.pointer("/output_fields").map(|_| ""));
    if let Some(at) = falco_fields {
        let extra = json!({
            "ct.user.arn": "arn:aws:iam::111122223333:user/ops/alice",
            "ct.user": "alice",
            "ct.user.accountid": "111122223333",
            "ct.srcip": "203.0.113.9",
            "ct.name": "PutBucketPolicy",
            "ct.request.bucketname": "logs",
            "ka.user.name": "system:serviceaccount:default:bob",
            "ka.verb": "create",
            "ka.target.resource": "pods",
            "ka.target.subresource": "exec",
            "ka.target.namespace": "default",
            "ka.target.name": "web-1",
            "ka.sourceips": ["10.0.0.1", "10.0.0.2"],
            "ka.cluster.name": "eks-prod",
            "okta.actor.alternateid": "carol@example.com",
            "okta.actor.id": "00u1",
            "okta.org": "example",
            "okta.client.ip": "198.51.100.7",
            "okta.evt.type": "user.session.start",
            "github.user": "dave",
            "github.repo": "example/app",
            "github.type": "push",
        });
        for source in [
            "aws_cloudtrail",
            "k8s_audit",
            "okta",
            "github",
            "gcp_auditlog",
            "keycloak",
            "someplugin",
        ] {
            for with_fields in [false, true] {
                let mut d = doc.clone();
                let alert = d.pointer_mut(at).unwrap();
                alert["source"] = json!(source);
                if with_fields {
                    let fields = alert["output_fields"].as_object_mut().unwrap();
                    for (k, v) in extra.as_object().unwrap() {
                        fields.insert(k.clone(), v.clone());
                    }
                }
                add(
                    &format!("falco source {source} fields {with_fields}"),
                    serde_json::to_vec(&sorted(&d)).unwrap(),
                );
            }
        }
    }
    let _ = name;
    out
}

/// Per sample and group (a JSON pointer, or `document`), a digest of the traces of its variations.
fn variations_digests() -> (String, usize) {
    let mut lines = String::new();
    let mut count = 0;
    let replacements = replacements();
    for name in SAMPLES {
        let text = sample_text(name);
        let doc = sorted(&serde_json::from_str(&text).unwrap());
        let mut groups: Vec<(String, Vec<Variation>)> = Vec::new();
        groups.push(("document".into(), document_variations(name, &text, &doc)));
        let mut ps = Vec::new();
        pointers(&doc, "", &mut ps);
        for p in ps {
            let mut vs = Vec::new();
            let mut d = doc.clone();
            remove(&mut d, &p);
            vs.push((
                "removed".to_owned(),
                serde_json::to_vec(&sorted(&d)).unwrap(),
            ));
            for r in &replacements {
                vs.push((r.clone(), replaced(&doc, &p, r).into_bytes()));
            }
            groups.push((p, vs));
        }
        for (group, vs) in groups {
            let mut hash = Sha256::new();
            for (label, bytes) in &vs {
                for channel in [Channel::Local, Channel::EventBridge, Channel::DirectInvoke] {
                    let mut out = format!("== {label} {channel:?}\n");
                    trace(bytes, channel, &mut out);
                    hash.update(out.as_bytes());
                    count += 1;
                }
            }
            let digest = hash.finalize();
            let hex: String = digest[..10].iter().map(|b| format!("{b:02x}")).collect();
            writeln!(lines, "{name} {group} {} {hex}", vs.len()).unwrap();
        }
    }
    (lines, count)
}

fn compare(file: &str, actual: &str) {
    let path = format!("{}/{file}", golden_dir());
    if std::env::var_os("VIGIL_BLESS").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}; create it with VIGIL_BLESS=1"));
    if expected == actual {
        return;
    }
    let (exp, act): (Vec<_>, Vec<_>) = (expected.lines().collect(), actual.lines().collect());
    let differing: Vec<String> = exp
        .iter()
        .zip(&act)
        .enumerate()
        .filter(|(_, (e, a))| e != a)
        .take(20)
        .map(|(i, (e, a))| format!("line {}:\n  golden: {e:.400}\n  now:    {a:.400}", i + 1))
        .collect();
    panic!(
        "{path} differs ({} golden lines, {} now); first differences:\n{}",
        exp.len(),
        act.len(),
        differing.join("\n")
    );
}

#[test]
fn samples_trace_is_byte_identical_to_the_golden_file() {
    compare("samples.txt", &samples_trace());
}

#[test]
fn variations_trace_is_byte_identical_to_the_golden_file() {
    let (lines, count) = variations_digests();
    assert!(count > 30_000, "only {count} traces");
    compare("variations.txt", &lines);
}
