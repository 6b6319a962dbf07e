//! Hostile input, kind by kind: oversized events and fields, deep nesting, wrong JSON types, bytes
//! that are not UTF-8, and control, ANSI and invisible characters. Each is refused with a typed error
//! naming the field, or sanitized: nothing of it reaches the canonical Finding, the ASFF record or
//! the one-line reason that goes to logs and `Event Rejected`.

mod common;

use common::*;
use serde_json::{Value, json};
use vigil_adapters::{ErrorKind, MAX_EVENT_BYTES, SourceEvent, parse_event};

const FALCO_EB: &str = "falco-ecs-eventbridge.json";
const GUARDDUTY: &str = "guardduty-ecs-runtime.json";
const SYSDIG: &str = "sysdig-runtime-policy.json";
const FIXTURES: [&str; 7] = [
    "aws-ecs-task-state-change.json",
    FALCO_EB,
    "falco-public-1.json",
    "falco-public-2.json",
    "falco-public-3.json",
    GUARDDUTY,
    SYSDIG,
];

/// Every hostile character class in one string around `word`.
fn hostile(word: &str) -> String {
    format!(
        "\u{1b}[31m\u{1b}]0;pwned\u{7}{word}\u{0}\u{7f}\u{9b}\u{85}\u{202e}\u{2066}\u{200b}\u{200d}\u{feff}\u{2028}\u{e0041}\u{1b}[0m\n"
    )
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn finding(v: &Value) -> vigil_model::Finding {
    check_event(&bytes(v)).unwrap_or_else(|| panic!("no finding from {v}"))
}

fn error(v: &[u8]) -> vigil_adapters::AdapterError {
    let e = parse_event(v, &ctx())
        .err()
        .unwrap_or_else(|| panic!("accepted {}", String::from_utf8_lossy(v)));
    check_error(&e);
    e
}

fn with(base: &str, path: &[&str], value: Value) -> Value {
    let mut v = fixture(base);
    set(&mut v, path, value);
    v
}

/// Every path in `v` (objects, arrays and leaves), root excluded.
fn paths(v: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let children: Vec<(String, &Value)> = match v {
        Value::Object(m) => m.iter().map(|(k, c)| (k.clone(), c)).collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, c)| (i.to_string(), c))
            .collect(),
        _ => return,
    };
    for (k, c) in children {
        at.push(k);
        out.push(at.clone());
        paths(c, at, out);
        at.pop();
    }
}

// ---------------------------------------------------------------------------------------------
// Oversized

#[test]
fn events_over_256_kib_are_refused_before_parsing() {
    for name in FIXTURES {
        let mut v = fixture(name);
        set(&mut v, &["padding"], json!(""));
        let base = bytes(&v).len();
        set(
            &mut v,
            &["padding"],
            json!("x".repeat(MAX_EVENT_BYTES - base)),
        );
        let at_limit = bytes(&v);
        assert_eq!(at_limit.len(), MAX_EVENT_BYTES);
        let accepted = parse_event(&at_limit, &ctx());
        assert!(accepted.is_ok(), "{name}: {accepted:?}");
        check_event(&at_limit);

        set(
            &mut v,
            &["padding"],
            json!("x".repeat(MAX_EVENT_BYTES - base + 1)),
        );
        let e = error(&bytes(&v));
        assert_eq!(e.path, "$");
        assert_eq!(
            e.kind,
            ErrorKind::TooLarge {
                size: MAX_EVENT_BYTES + 1,
                limit: MAX_EVENT_BYTES
            },
            "{name}"
        );
    }
    // Not even JSON: the size is checked first.
    let junk = vec![0xffu8; MAX_EVENT_BYTES + 1];
    assert!(matches!(error(&junk).kind, ErrorKind::TooLarge { .. }));
}

/// A single ~200 KB field inside an event under the limit: capped in the finding (and by Security
/// Hub's limits in ASFF), the raw copy truncated to 8 KiB, the finding small enough for the bus.
#[test]
fn a_huge_field_is_capped_everywhere() {
    // About 200 KB once JSON-encoded, whatever the filler.
    let huge = |c: &str| c.repeat(200_000 / (serde_json::to_string(c).unwrap().len() - 2));
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (FALCO_EB, vec!["detail", "rule"]),
        (FALCO_EB, vec!["detail", "output"]),
        (FALCO_EB, vec!["detail", "hostname"]),
        (FALCO_EB, vec!["detail", "uuid"]),
        (FALCO_EB, vec!["detail", "output_fields", "proc.cmdline"]),
        (FALCO_EB, vec!["detail", "output_fields", "proc.name"]),
        (FALCO_EB, vec!["detail", "output_fields", "proc.exepath"]),
        (
            FALCO_EB,
            vec!["detail", "output_fields", "container.image.repository"],
        ),
        (FALCO_EB, vec!["detail", "output_fields", "fd.name"]),
        (
            FALCO_EB,
            vec![
                "detail",
                "output_fields",
                "container.label.com.amazonaws.ecs.task-arn",
            ],
        ),
        (
            FALCO_EB,
            vec![
                "detail",
                "output_fields",
                "container.label.com.amazonaws.ecs.cluster",
            ],
        ),
        (FALCO_EB, vec!["id"]),
        (GUARDDUTY, vec!["detail", "type"]),
        (GUARDDUTY, vec!["detail", "title"]),
        (GUARDDUTY, vec!["detail", "description"]),
        (
            GUARDDUTY,
            vec!["detail", "resource", "ecsClusterDetails", "name"],
        ),
        (
            GUARDDUTY,
            vec![
                "detail",
                "resource",
                "ecsClusterDetails",
                "taskDetails",
                "arn",
            ],
        ),
        (
            GUARDDUTY,
            vec![
                "detail",
                "resource",
                "ecsClusterDetails",
                "taskDetails",
                "group",
            ],
        ),
        (
            GUARDDUTY,
            vec![
                "detail",
                "service",
                "runtimeDetails",
                "process",
                "executablePath",
            ],
        ),
        (
            GUARDDUTY,
            vec![
                "detail",
                "service",
                "runtimeDetails",
                "context",
                "commandLineExample",
            ],
        ),
        (SYSDIG, vec!["detail", "name"]),
        (SYSDIG, vec!["detail", "content", "ruleName"]),
        (SYSDIG, vec!["detail", "content", "output"]),
        (SYSDIG, vec!["detail", "labels", "aws.accountId"]),
        (SYSDIG, vec!["detail", "labels", "ecs.clusterName"]),
        (SYSDIG, vec!["detail", "labels", "host.hostName"]),
    ];
    for (name, path) in cases {
        for filler in ["x", "\"\\", "é", "🦀", "\u{1b}[31m", "\u{202e}a"] {
            let v = with(name, &path, json!(huge(filler)));
            let input = bytes(&v);
            assert!(input.len() <= MAX_EVENT_BYTES, "{name} {path:?}");
            // A rule of nothing but escapes cleans to nothing: missing, a typed error.
            let Some(f) = check_event(&input) else {
                assert!(filler.contains('\u{1b}'), "{name} {path:?} {filler:?}");
                continue;
            };
            assert!(f.raw.truncated, "{name} {path:?}");
            assert_eq!(f.raw.size_bytes, input.len());
        }
    }
}

/// Thousands of tags: kept to 64, so the finding stays small enough for the bus.
#[test]
fn a_flood_of_tags_is_capped() {
    let tags: Vec<String> = (0..3000)
        .map(|i| format!("mitre_tag{i:04}_{}", "é".repeat(30)))
        .collect();
    for (name, path) in [
        (FALCO_EB, vec!["detail", "tags"]),
        (SYSDIG, vec!["detail", "content", "ruleTags"]),
    ] {
        let v = with(name, &path, json!(tags));
        assert!(bytes(&v).len() <= MAX_EVENT_BYTES);
        let f = finding(&v);
        assert_eq!(f.tags.len(), 64, "{name}");
        assert!(f.mitre.len() <= 64);
    }
}

// ---------------------------------------------------------------------------------------------
// Deeply nested

fn nested(levels: usize) -> Value {
    let mut v = json!([]);
    for _ in 1..levels {
        v = json!([v]);
    }
    v
}

#[test]
fn nesting_over_the_limit_is_refused_wherever_it_is() {
    let deep = "[".repeat(200) + &"]".repeat(200);
    for (name, path) in [
        (FALCO_EB, vec!["detail", "output_fields", "proc.name"]),
        (FALCO_EB, vec!["detail", "output_fields"]),
        ("falco-public-1.json", vec!["output_fields", "container.id"]),
        (GUARDDUTY, vec!["detail", "resource"]),
        (
            GUARDDUTY,
            vec!["detail", "resource", "ecsClusterDetails", "taskDetails"],
        ),
        (SYSDIG, vec!["detail", "content", "fields", "proc.cmdline"]),
        (SYSDIG, vec!["detail", "labels"]),
        (SYSDIG, vec!["unrelated"]),
    ] {
        let mut v = with(name, &path, json!("@DEEP@"));
        let text = serde_json::to_string(&v)
            .unwrap()
            .replace("\"@DEEP@\"", &deep);
        let e = error(text.as_bytes());
        assert_eq!(e.kind, ErrorKind::TooDeep, "{name} {path:?}: {e}");
        assert_eq!(e.path, "$");

        // Just under the limit, the same place is a type error naming the field, or a field map
        // value that is not text (ignored, as Falco's `<NA>`).
        set(&mut v, &path, nested(100));
        match parse_event(&bytes(&v), &ctx()) {
            Ok(_) => {
                check_event(&bytes(&v));
            }
            Err(e) => {
                check_error(&e);
                assert!(matches!(e.kind, ErrorKind::WrongType { .. }), "{e}");
                assert!(e.path.starts_with(&path.join(".")), "{e}");
            }
        }
    }
    // At the top level too, for any container type.
    for deep in [
        "[".repeat(128) + &"]".repeat(128),
        "{\"a\":".repeat(128) + "1" + &"}".repeat(128),
    ] {
        assert_eq!(error(deep.as_bytes()).kind, ErrorKind::TooDeep);
    }
}

/// serde_json re-parses an object keyed by its private raw-value token with a fresh nesting budget;
/// nested in each other's strings, such objects would carry some 2,000 levels past the limit.
#[test]
fn the_raw_value_token_cannot_smuggle_nesting() {
    let token = "$serde_json::private::RawValue";
    let mut doc = "1".to_owned();
    for _ in 0..14 {
        let quoted = serde_json::to_string(&doc).unwrap();
        doc = format!(
            "{}{{\"{token}\":{quoted}}}{}",
            "[".repeat(100),
            "]".repeat(100)
        );
    }
    let mut v = fixture(FALCO_EB);
    set(
        &mut v,
        &["detail", "output_fields", "proc.name"],
        json!("@DEEP@"),
    );
    let text = serde_json::to_string(&v)
        .unwrap()
        .replace("\"@DEEP@\"", &doc);
    assert!(text.len() <= MAX_EVENT_BYTES);
    let e = error(text.as_bytes());
    assert_eq!(e.path, "$");
    assert!(e.to_string().contains("reserved"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Wrong types, numbers as strings, null everywhere

#[test]
fn wrong_types_are_refused_naming_the_field() {
    let d = |p: &[&'static str]| {
        let mut v = vec!["detail"];
        v.extend_from_slice(p);
        v
    };
    let td = ["resource", "ecsClusterDetails", "taskDetails"];
    let cases: Vec<(&str, Vec<&str>, Value, &str)> = vec![
        (FALCO_EB, vec!["detail"], json!("alert"), "detail"),
        (FALCO_EB, vec!["source"], json!(5), "source"),
        (FALCO_EB, d(&["rule"]), json!({"r": 1}), "detail.rule"),
        (
            FALCO_EB,
            d(&["priority"]),
            json!(["Notice"]),
            "detail.priority",
        ),
        (FALCO_EB, d(&["output"]), json!(1), "detail.output"),
        (
            FALCO_EB,
            d(&["output_fields"]),
            json!("proc.name=sh"),
            "detail.output_fields",
        ),
        (
            FALCO_EB,
            d(&["output_fields"]),
            json!([]),
            "detail.output_fields",
        ),
        (FALCO_EB, d(&["tags"]), json!("shell"), "detail.tags"),
        (
            FALCO_EB,
            d(&["tags", "1"]),
            json!({"t": 1}),
            "detail.tags[1]",
        ),
        (FALCO_EB, d(&["time"]), json!({}), "detail.time"),
        (FALCO_EB, d(&["time"]), json!(true), "detail.time"),
        (FALCO_EB, d(&["hostname"]), json!([]), "detail.hostname"),
        (
            GUARDDUTY,
            d(&["resource"]),
            json!("ECSCluster"),
            "detail.resource",
        ),
        (GUARDDUTY, d(&["severity"]), json!([8]), "detail.severity"),
        (GUARDDUTY, d(&["service"]), json!([]), "detail.service"),
        (
            GUARDDUTY,
            d(&["service", "count"]),
            json!({}),
            "detail.service.count",
        ),
        (
            GUARDDUTY,
            d(&["resource", "ecsClusterDetails"]),
            json!(1),
            "detail.resource.ecsClusterDetails",
        ),
        (
            GUARDDUTY,
            d(&[td[0], td[1], td[2], "containers"]),
            json!({}),
            "detail.resource.ecsClusterDetails.taskDetails.containers",
        ),
        (
            GUARDDUTY,
            d(&[td[0], td[1], td[2], "containers", "0"]),
            json!("app"),
            "detail.resource.ecsClusterDetails.taskDetails.containers[0]",
        ),
        (
            GUARDDUTY,
            d(&[
                td[0],
                td[1],
                td[2],
                "containers",
                "0",
                "securityContext",
                "privileged",
            ]),
            json!(1),
            "detail.resource.ecsClusterDetails.taskDetails.containers[0].securityContext.privileged",
        ),
        (
            GUARDDUTY,
            d(&["service", "runtimeDetails", "process"]),
            json!("bash"),
            "detail.service.runtimeDetails.process",
        ),
        (
            GUARDDUTY,
            d(&["service", "runtimeDetails", "process", "lineage"]),
            json!({}),
            "detail.service.runtimeDetails.process.lineage",
        ),
        (
            GUARDDUTY,
            d(&["service", "eventLastSeen"]),
            json!([]),
            "detail.service.eventLastSeen",
        ),
        (SYSDIG, d(&["content"]), json!("policy"), "detail.content"),
        (
            SYSDIG,
            d(&["content", "ruleTags"]),
            json!("network"),
            "detail.content.ruleTags",
        ),
        (
            SYSDIG,
            d(&["content", "fields"]),
            json!(["fd.name"]),
            "detail.content.fields",
        ),
        (SYSDIG, d(&["labels"]), json!([]), "detail.labels"),
        (
            SYSDIG,
            d(&["severity"]),
            json!({"level": 2}),
            "detail.severity",
        ),
        (SYSDIG, d(&["containerId"]), json!([]), "detail.containerId"),
        (
            "aws-ecs-task-state-change.json",
            d(&["containers"]),
            json!("x"),
            "detail.containers",
        ),
        (
            "aws-ecs-task-state-change.json",
            d(&["taskArn"]),
            json!(1),
            "detail.taskArn",
        ),
    ];
    for (name, path, value, field) in cases {
        let v = with(name, &path, value);
        let e = error(&bytes(&v));
        assert_eq!(e.path, field, "{name} {path:?}: {e}");
        assert!(
            matches!(e.kind, ErrorKind::WrongType { .. }),
            "{name} {path:?}: {e}"
        );
        assert!(
            e.to_string().starts_with(&format!("{field}: expected ")),
            "{e}"
        );
    }
}

#[test]
fn values_that_are_not_what_they_claim_are_refused_naming_the_field() {
    let cases: Vec<(&str, Vec<&str>, Value, &str)> = vec![
        (
            GUARDDUTY,
            vec!["detail", "severity"],
            json!("high"),
            "detail.severity",
        ),
        (
            GUARDDUTY,
            vec!["detail", "severity"],
            json!(11),
            "detail.severity",
        ),
        (
            GUARDDUTY,
            vec!["detail", "service", "count"],
            json!("many"),
            "detail.service.count",
        ),
        (
            GUARDDUTY,
            vec!["detail", "service", "count"],
            json!(1.5),
            "detail.service.count",
        ),
        (
            GUARDDUTY,
            vec!["detail", "service", "eventLastSeen"],
            json!("yesterday"),
            "detail.service.eventLastSeen",
        ),
        (
            SYSDIG,
            vec!["detail", "severity"],
            json!("two"),
            "detail.severity",
        ),
        (
            SYSDIG,
            vec!["detail", "severity"],
            json!(9),
            "detail.severity",
        ),
        (
            SYSDIG,
            vec!["detail", "timestamp"],
            json!(-5),
            "detail.timestamp",
        ),
        (
            FALCO_EB,
            vec!["detail", "time"],
            json!("2020-13-45"),
            "detail.time",
        ),
        (
            FALCO_EB,
            vec!["detail", "priority"],
            json!("Urgent"),
            "detail.priority",
        ),
    ];
    for (name, path, value, field) in cases {
        let e = error(&bytes(&with(name, &path, value)));
        assert_eq!(e.path, field, "{e}");
        assert!(matches!(e.kind, ErrorKind::InvalidValue(_)), "{e}");
    }
}

/// Sources send numbers as strings and the reverse; the documented ones are read either way.
#[test]
fn numbers_as_strings_are_read() {
    let of = |p: &'static str| vec!["detail", "output_fields", p];
    let f = finding(&with(FALCO_EB, &of("proc.pid"), json!(" 4242 ")));
    assert_eq!(f.process.unwrap().pid, Some(4242));
    let f = finding(&with(FALCO_EB, &of("user.uid"), json!("0")));
    assert_eq!(f.process.unwrap().uid, Some(0));
    let f = finding(&with(
        FALCO_EB,
        &of("container.label.com.amazonaws.ecs.task-definition-version"),
        json!(7),
    ));
    assert_eq!(f.resource.task_definition_revision.as_deref(), Some("7"));
    let mut v = with(FALCO_EB, &of("evt.time"), json!("1579802300000000000"));
    set(&mut v, &["detail", "time"], Value::Null);
    assert_eq!(finding(&v).observed_at.timestamp(), 1_579_802_300);

    let f = finding(&with(GUARDDUTY, &["detail", "severity"], json!("8.0")));
    assert_eq!(f.severity.normalized, 80);
    let f = finding(&with(
        GUARDDUTY,
        &["detail", "service", "count"],
        json!("3"),
    ));
    assert_eq!(f.count, 3);
    let mut v = with(GUARDDUTY, &["detail", "accountId"], json!(444455556666u64));
    set(&mut v, &["account"], Value::Null);
    assert_eq!(finding(&v).account.as_deref(), Some("444455556666"));
    let rt = ["detail", "service", "runtimeDetails", "process"];
    let f = finding(&with(
        GUARDDUTY,
        &[rt[0], rt[1], rt[2], rt[3], "pid"],
        json!("1201"),
    ));
    assert_eq!(f.process.unwrap().pid, Some(1201));

    let f = finding(&with(SYSDIG, &["detail", "severity"], json!("2")));
    assert_eq!(f.severity.original, "2");
    let f = finding(&with(SYSDIG, &["detail", "containerId"], json!(12345)));
    assert_eq!(f.resource.container.id.as_deref(), Some("12345"));
    let f = finding(&with(
        SYSDIG,
        &["detail", "timestamp"],
        json!("1579802400000000000"),
    ));
    assert_eq!(f.observed_at.timestamp(), 1_579_802_400);
}

/// Every node of every sample replaced, one at a time, by null and by each other JSON type: a
/// finding (nulls read as absent) or a typed error, always clean; never a panic.
#[test]
fn null_or_any_type_at_every_path() {
    let replacements = [
        json!(null),
        json!("text"),
        json!(-1),
        json!(1.5),
        json!(true),
        json!([]),
        json!({}),
        json!([null]),
        json!({"k": null}),
    ];
    for name in FIXTURES {
        let base = fixture(name);
        let mut all = Vec::new();
        paths(&base, &mut Vec::new(), &mut all);
        for path in &all {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            for r in &replacements {
                check_event(&bytes(&with(name, &path, r.clone())));
            }
        }
        // Every leaf null at once: nothing to go on, a typed error.
        let mut v = base.clone();
        for path in &all {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            let leaf = path.iter().try_fold(&base, |cur, seg| match cur {
                Value::Array(a) => a.get(seg.parse::<usize>().ok()?),
                _ => cur.get(seg),
            });
            if leaf.is_some_and(|l| !l.is_object() && !l.is_array()) {
                set(&mut v, &path, Value::Null);
            }
        }
        let e = error(&bytes(&v));
        assert!(
            matches!(e.kind, ErrorKind::Missing | ErrorKind::UnknownSource(_)),
            "{name}: {e}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Not UTF-8

#[test]
fn bytes_that_are_not_utf8_are_refused() {
    let bad: [&[u8]; 9] = [
        b"\xff",
        b"\xfe\xff",
        b"\x80",             // a lone continuation byte
        b"\xc0\xaf",         // overlong '/'
        b"\xe0\x80\xaf",     // overlong '/', three bytes
        b"\xf0\x80\x80\xaf", // overlong '/', four bytes
        b"\xed\xa0\x80",     // a UTF-16 surrogate encoded as UTF-8 (CESU-8)
        b"\xf4\x90\x80\x80", // beyond U+10FFFF
        b"\xe2\x82",         // truncated sequence
    ];
    for name in FIXTURES {
        for (path, marker) in [(vec!["detail", "rule"], "@BAD@"), (vec!["id"], "x@BAD@y")] {
            let v = with(name, &path, json!(marker));
            let text = serde_json::to_vec(&v).unwrap();
            for b in bad {
                let input = replace(&text, b"@BAD@", b);
                let e = error(&input);
                assert_eq!(e.path, "$");
                assert!(matches!(e.kind, ErrorKind::NotJson(_)), "{name}: {e}");
            }
        }
    }
    // Outside strings, and a UTF-8 byte-order mark, too.
    assert!(matches!(
        error(b"\xef\xbb\xbf{\"rule\":\"r\"}").kind,
        ErrorKind::NotJson(_)
    ));
    assert!(matches!(
        error(b"{\"rule\":\"r\",\xff:1}").kind,
        ErrorKind::NotJson(_)
    ));
}

#[test]
fn lone_surrogate_escapes_are_refused_and_pairs_decoded() {
    for esc in [
        r"\ud800",
        r"\udbff",
        r"\udc00",
        r"\udfff",
        r"\ud800\u0041",
        r"\udc00\ud800",
        r"\ud800\\",
    ] {
        for name in [FALCO_EB, GUARDDUTY, SYSDIG] {
            let v = with(name, &["detail", "description"], json!("@S@"));
            let text = serde_json::to_string(&v).unwrap().replace("@S@", esc);
            let e = error(text.as_bytes());
            assert!(matches!(e.kind, ErrorKind::NotJson(_)), "{esc}: {e}");
        }
        // Inside a FireLens record the log line is JSON in a string: the inner parse names `log`.
        let inner =
            format!(r#"{{"rule":"r{esc}","priority":"Notice","time":"2020-01-01T00:00:00Z"}}"#);
        let wrapper =
            json!({"log": inner, "ecs_task_arn": "arn:aws:ecs:us-east-1:123456789012:task/c/t"});
        let e = error(&bytes(&wrapper));
        assert_eq!(e.path, "log", "{e}");
    }
    let v = with(FALCO_EB, &["detail", "output"], json!("@S@"));
    let text = serde_json::to_string(&v)
        .unwrap()
        .replace("@S@", r"crab \ud83e\udd80 \u00e9");
    let f = check_event(text.as_bytes()).unwrap();
    assert_eq!(f.description.as_deref(), Some("crab 🦀 é"));
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Control, ANSI and invisible characters

/// Every field each adapter reads, set to its own value wrapped in every hostile class, and to
/// nothing but them: the output holds none of them, readable or not.
#[test]
fn control_and_invisible_characters_never_reach_finding_or_asff() {
    let mut cases: Vec<(&str, Vec<&str>)> = Vec::new();
    for (name, paths) in [
        (
            FALCO_EB,
            [envelope_paths(), falco_paths(&["detail"])].concat(),
        ),
        ("falco-public-1.json", falco_paths(&[])),
        (GUARDDUTY, [envelope_paths(), guardduty_paths()].concat()),
        (SYSDIG, [envelope_paths(), sysdig_paths()].concat()),
        (
            "aws-ecs-task-state-change.json",
            [envelope_paths(), task_paths()].concat(),
        ),
    ] {
        cases.extend(paths.into_iter().map(|p| (name, p)));
    }
    let (total, mut findings) = (cases.len(), 0);
    for (name, path) in cases {
        let base = fixture(name);
        let original = path
            .iter()
            .try_fold(&base, |cur, seg| match cur {
                Value::Array(a) => a.get(seg.parse::<usize>().ok()?),
                _ => cur.get(*seg),
            })
            .and_then(Value::as_str)
            .unwrap_or("value")
            .to_owned();
        // Whether the field is readable or not, nothing hostile gets through.
        let wrapped = check_event(&bytes(&with(name, &path, json!(hostile(&original)))));
        findings += usize::from(wrapped.is_some() || name.contains("task-state"));
        check_event(&bytes(&with(name, &path, json!(hostile("")))));
        check_event(&bytes(&with(
            name,
            &path,
            json!(format!("{original}\u{202e}\u{200b}")),
        )));
    }
    // Most fields still read their visible value: the sanitizer cleans, it does not refuse.
    assert!(
        findings * 10 >= total * 8,
        "only {findings} of {total} events gave a finding"
    );
}

/// Text fields keep their visible text, so a hostile copy of a rule is still the same finding.
#[test]
fn stripped_text_keeps_its_meaning() {
    let clean = finding(&fixture(FALCO_EB));
    let v = with(
        FALCO_EB,
        &["detail", "rule"],
        json!(hostile("Terminal shell in container")),
    );
    let f = finding(&v);
    assert_eq!(f.rule, "Terminal shell in container");
    assert_eq!(
        f.fingerprint, clean.fingerprint,
        "invisible characters must not evade dedup"
    );

    let v = with(
        FALCO_EB,
        &["detail", "output_fields", "proc.name"],
        json!("x\u{200b}m\u{202e}rig\u{0}"),
    );
    assert_eq!(finding(&v).process.unwrap().name.as_deref(), Some("xmrig"));

    let v = with(
        GUARDDUTY,
        &["detail", "title"],
        json!("A \u{1b}[1mreverse\u{1b}[0m shell\r\n\u{2029}opened"),
    );
    assert_eq!(finding(&v).title, "A reverse shell   opened");
}

/// An identifier (task ARN, cluster) that holds any of them is no identifier: it is dropped rather
/// than cleaned into another one, and the cluster falls back to the task's.
#[test]
fn hostile_identifiers_are_dropped_not_rewritten() {
    let task =
        "arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b4cb40f1f4fe4a2971f76ae5a47ad";
    let label = |k: &str| format!("container.label.com.amazonaws.ecs.{k}");
    for bad in [
        format!("{task}\u{1b}[31m"),
        task.replace("111122223333", "1111\u{202e}22223333"),
        task.replace("us-west-2", "us-\u{0}west-2"),
        format!("{task}\u{200b}"),
        format!("{task} {task}"),
    ] {
        let v = with(
            FALCO_EB,
            &["detail", "output_fields", &label("task-arn")],
            json!(bad),
        );
        let f = finding(&v);
        assert_eq!(f.resource.task_arn, None, "{bad:?}");
        let v = with(
            GUARDDUTY,
            &[
                "detail",
                "resource",
                "ecsClusterDetails",
                "taskDetails",
                "arn",
            ],
            json!(bad),
        );
        assert_eq!(finding(&v).resource.task_arn, None, "{bad:?}");
    }
    let v = with(
        FALCO_EB,
        &["detail", "output_fields", &label("cluster")],
        json!("Fargate\u{1b}[2JCluster"),
    );
    assert_eq!(
        finding(&v).resource.cluster_arn.as_deref(),
        Some("arn:aws:ecs:us-west-2:111122223333:cluster/FargateCluster"),
        "the task ARN's cluster"
    );
    let v = with(
        SYSDIG,
        &["detail", "labels", "ecs.clusterName"],
        json!("prod\u{202e}"),
    );
    assert_eq!(finding(&v).resource.cluster_arn, None);
    let v = with(
        SYSDIG,
        &["detail", "labels", "aws.accountId"],
        json!("1111\u{200b}22223333\u{7}"),
    );
    let mut v2 = v.clone();
    set(&mut v2, &["account"], Value::Null);
    assert_eq!(finding(&v2).account.as_deref(), Some("111122223333"));
    // An ECS task state change: cleaned, and a required field that cleans to nothing is missing.
    let v = with(
        "aws-ecs-task-state-change.json",
        &["detail", "lastStatus"],
        json!("\u{1b}[31mSTOPPED\u{202e}"),
    );
    let Ok(SourceEvent::TaskStateChange(t)) = parse_event(&bytes(&v), &ctx()) else {
        panic!()
    };
    assert_eq!(t.last_status, "STOPPED");
    let v = with(
        "aws-ecs-task-state-change.json",
        &["detail", "taskArn"],
        json!("\u{200b}\u{0}"),
    );
    let e = error(&bytes(&v));
    assert_eq!(
        (e.path.as_str(), e.kind),
        ("detail.taskArn", ErrorKind::Missing)
    );
}

/// A rejection quotes the offending value escaped, on one line, so it cannot rewrite a log line or
/// a terminal: `detail.priority: unknown Falco priority "Urg\u{1b}[31ment\n"`.
#[test]
fn rejection_reasons_quote_hostile_values_escaped_on_one_line() {
    let e = error(&bytes(&with(
        FALCO_EB,
        &["detail", "priority"],
        json!("Urg\u{1b}[31ment\n"),
    )));
    assert_eq!(e.path, "detail.priority");
    assert!(
        e.to_string().starts_with(
            r#"detail.priority: unknown Falco priority "Urg\u{1b}[31ment\n" (expected"#
        ),
        "{e}"
    );
    let cases: Vec<(&str, Vec<&str>, String, &str)> = vec![
        (
            FALCO_EB,
            vec!["detail", "time"],
            hostile("2020"),
            "detail.time",
        ),
        (
            FALCO_EB,
            vec!["detail", "priority"],
            hostile("Notice"),
            "detail.priority",
        ),
        (
            FALCO_EB,
            vec!["detail", "priority"],
            "\u{202e}eciton".into(),
            "detail.priority",
        ),
        (
            GUARDDUTY,
            vec!["detail", "severity"],
            hostile("8"),
            "detail.severity",
        ),
        (
            GUARDDUTY,
            vec!["detail", "service", "count"],
            hostile("2"),
            "detail.service.count",
        ),
        (
            GUARDDUTY,
            vec!["detail", "resource", "resourceType"],
            hostile("EKS"),
            "detail.resource.resourceType",
        ),
        (
            SYSDIG,
            vec!["detail", "severity"],
            hostile("2"),
            "detail.severity",
        ),
        (
            SYSDIG,
            vec!["detail", "timestamp"],
            hostile("1"),
            "detail.timestamp",
        ),
        (
            "aws-ecs-task-state-change.json",
            vec!["detail", "stoppedAt"],
            hostile("now"),
            "detail.stoppedAt",
        ),
    ];
    for (name, path, value, field) in cases {
        let mut v = with(name, &path, json!(value));
        if path.last() == Some(&"resourceType") {
            set(
                &mut v,
                &["detail", "resource", "ecsClusterDetails"],
                Value::Null,
            );
        }
        let e = error(&bytes(&v));
        assert_eq!(e.path, field, "{e}");
        assert!(
            e.to_string().contains("\\u{1b}") || e.to_string().contains("\\u{202e}"),
            "escaped, not dropped: {e}"
        );
    }
    // Quoted values are cut: a 200 KB value does not make a 200 KB log line.
    let e = error(&bytes(&with(
        GUARDDUTY,
        &["detail", "severity"],
        json!("9".repeat(100) + &"x".repeat(200_000)),
    )));
    assert!(e.to_string().chars().count() < 200, "{e}");
    // An unknown source quotes the envelope's names, already cleaned.
    let v = json!({"detail-type": hostile("Alert"), "source": hostile("acme"), "detail": {"a": 1}});
    let e = error(&bytes(&v));
    assert_eq!(e.path, "source");
    assert!(e.to_string().contains(r#""acme" / "Alert""#), "{e}");
}
