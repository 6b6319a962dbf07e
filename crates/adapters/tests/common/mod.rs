//! Checks shared by the hostile-input tests and the property tests: whatever an event holds, what
//! the adapters produce (a finding, its ASFF record, a task state change, or an error's one-line
//! reason) carries no control, escape or invisible formatting character and stays within its limits.
#![allow(dead_code)] // Each test crate uses its own subset.

use serde_json::Value;
use vigil_adapters::{AdapterError, MAX_MESSAGE_CHARS, ParseContext, SourceEvent, parse_delivery};
use vigil_asff::limits::*;
use vigil_model::Finding;

/// A finding must fit, with its dedup summary, in one `Finding Accepted` event (EventBridge: 256 KiB
/// per entry); half of that is ample for every field at its cap, and an event of nothing but one
/// repeated field must not grow past it.
pub const FINDING_JSON_BUDGET: usize = 128 * 1024;

pub fn ctx() -> ParseContext {
    ParseContext {
        default_account: Some("123456789012".into()),
        default_region: Some("us-east-1".into()),
        ..Default::default()
    }
}

pub fn fixture(name: &str) -> Value {
    let path = format!("{}/../../samples/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Characters no output string may hold, listed independently of the sanitizer: C0 controls, DEL,
/// C1 controls, bidi embeddings/overrides/isolates/marks, zero-width and invisible characters, line
/// and paragraph separators, tag characters.
pub fn is_forbidden(c: char) -> bool {
    matches!(c as u32,
        0x00..=0x1f | 0x7f..=0x9f | 0xad | 0x061c | 0x180e
        | 0x200b..=0x200f | 0x2028..=0x202e | 0x2060..=0x2064 | 0x2066..=0x206f
        | 0xfeff | 0xfff9..=0xfffb | 0xe0000..=0xe007f)
}

/// Every string (object keys included) in `v` with its JSON pointer, skipping `skip` subtrees.
pub fn strings<'a>(v: &'a Value, at: String, skip: &[&str], out: &mut Vec<(String, &'a str)>) {
    if skip.contains(&at.as_str()) {
        return;
    }
    match v {
        Value::String(s) => out.push((at, s)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                strings(item, format!("{at}/{i}"), skip, out);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                out.push((format!("{at}/{k} (key)"), k));
                strings(item, format!("{at}/{k}"), skip, out);
            }
        }
        _ => {}
    }
}

fn assert_clean_strings(what: &str, v: &Value, skip: &[&str]) {
    let mut all = Vec::new();
    strings(v, String::new(), skip, &mut all);
    for (at, s) in all {
        assert!(
            !s.chars().any(is_forbidden),
            "{what} {at} holds a control or invisible character: {s:?}"
        );
        assert_eq!(s, s.trim(), "{what} {at} is not trimmed: {s:?}");
    }
}

/// The canonical finding: every decoded string clean (the source event kept verbatim under `/raw`
/// is evidence, not text Vigil writes), the whole within [`FINDING_JSON_BUDGET`].
pub fn check_finding(f: &Finding) {
    let v = serde_json::to_value(f).unwrap();
    assert_clean_strings("finding", &v, &["/raw/event"]);
    let len = serde_json::to_vec(f).unwrap().len();
    assert!(len <= FINDING_JSON_BUDGET, "finding is {len} bytes");
    assert!(f.raw.event.get().len() <= vigil_model::RawEvent::MAX_BYTES);
    assert!(!f.rule.is_empty() && !f.title.is_empty());
    let caps: [(&str, Option<&str>, usize); 8] = [
        ("rule", Some(&f.rule), 512),
        ("title", Some(&f.title), 512),
        ("description", f.description.as_deref(), 4096),
        ("task_arn", f.resource.task_arn.as_deref(), 512),
        ("cluster_arn", f.resource.cluster_arn.as_deref(), 1024),
        ("account", f.account.as_deref(), 32),
        ("region", f.region.as_deref(), 32),
        (
            "container.image",
            f.resource.container.image.as_deref(),
            512,
        ),
    ];
    for (name, value, cap) in caps {
        if let Some(value) = value {
            assert!(value.chars().count() <= cap, "finding {name} is too long");
        }
    }
    assert!(f.tags.len() <= 64, "{} tags", f.tags.len());
}

/// The ASFF record: every string clean and within Security Hub's limits.
pub fn check_asff(a: &vigil_asff::AsffFinding) {
    let v = serde_json::to_value(a).unwrap();
    assert_clean_strings("ASFF", &v, &[]);
    let chars = |s: &str| s.chars().count();
    assert!(chars(&a.title) <= MAX_TITLE && !a.title.is_empty());
    assert!(chars(&a.description) <= MAX_DESCRIPTION && !a.description.is_empty());
    assert!(a.id.len() <= MAX_ID && chars(&a.generator_id) <= MAX_GENERATOR_ID);
    assert!(!a.types.is_empty() && a.types.len() <= MAX_TYPES);
    assert!(a.types.iter().all(|t| chars(t) <= MAX_TYPE));
    assert!(chars(&a.severity.original) <= MAX_SEVERITY_ORIGINAL);
    assert!(a.product_fields.len() <= MAX_PRODUCT_FIELDS);
    for (k, v) in &a.product_fields {
        assert!(chars(k) <= MAX_PRODUCT_FIELD_KEY && chars(v) <= MAX_PRODUCT_FIELD_VALUE);
    }
    assert!(!a.resources.is_empty() && a.resources.len() <= MAX_RESOURCES);
    for r in &a.resources {
        assert!(chars(&r.id) <= MAX_RESOURCE_ID, "resource id too long");
        if let Some(d) = &r.details {
            let d = d.to_json();
            let mut all = Vec::new();
            strings(&d, String::new(), &[], &mut all);
            assert!(all.iter().all(|(_, s)| chars(s) <= MAX_RESOURCE_ID));
        }
    }
    if let Some(p) = &a.process {
        assert!(
            p.name
                .as_deref()
                .is_none_or(|n| chars(n) <= MAX_PROCESS_NAME)
        );
        assert!(
            p.path
                .as_deref()
                .is_none_or(|n| chars(n) <= MAX_PROCESS_PATH)
        );
    }
    if let Some(n) = &a.network {
        assert!(
            n.protocol
                .as_deref()
                .is_none_or(|p| chars(p) <= MAX_NETWORK_PROTOCOL)
        );
    }
    assert!(serde_json::to_vec(a).unwrap().len() <= MAX_FINDING_BYTES);
    let (lo, hi) = vigil_model::SeverityLabel::parse(&a.severity.label)
        .unwrap()
        .band();
    assert!(a.severity.normalized >= lo && a.severity.normalized <= hi);
}

/// A one-line message for logs and `Event Rejected`: no control, escape or invisible character,
/// no line break, bounded.
pub fn check_message(what: &str, m: &str) {
    assert!(!m.is_empty(), "{what}: empty message");
    assert!(
        !m.chars().any(is_forbidden),
        "{what}: message holds a control or invisible character: {m:?}"
    );
    assert!(
        m.chars().count() <= MAX_MESSAGE_CHARS,
        "{what}: message too long"
    );
}

pub fn check_error(e: &AdapterError) {
    check_message("error", &e.to_string());
    check_message("error path", &e.path);
    assert!(!e.code().is_empty());
}

/// What the adapters make of `bytes`, checked whatever it is. Returns the finding, if any.
pub fn check_event(bytes: &[u8]) -> Option<Finding> {
    match parse_delivery(bytes, &ctx()) {
        Ok(d) => {
            if let Some(id) = &d.envelope_id {
                check_message("envelope id", id);
            }
            match d.event {
                SourceEvent::Finding(f) => {
                    check_finding(&f);
                    let now = chrono::Utc::now();
                    match vigil_asff::to_asff(&f, &vigil_asff::MappingContext { now }) {
                        Ok(a) => check_asff(&a),
                        Err(e) => check_message("ASFF error", &e.to_string()),
                    }
                    Some(f)
                }
                SourceEvent::TaskStateChange(t) => {
                    assert_clean_strings(
                        "task state change",
                        &serde_json::to_value(&t).unwrap(),
                        &[],
                    );
                    None
                }
                SourceEvent::AgentStatus(s) => {
                    assert_clean_strings("agent status", &serde_json::to_value(&s).unwrap(), &[]);
                    None
                }
            }
        }
        Err(e) => {
            check_error(&e);
            None
        }
    }
}

/// Sets `value` at `path` (object keys, or array indexes into existing arrays), making objects of
/// whatever stands in the way.
pub fn set(root: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *root = value;
        return;
    };
    let mut cur = root;
    for seg in parents {
        cur = child(cur, seg);
    }
    match (cur, last.parse::<usize>()) {
        (Value::Array(items), Ok(i)) if i < items.len() => items[i] = value,
        (Value::Array(items), Ok(_)) => items.push(value),
        (other, _) => {
            if !other.is_object() {
                *other = Value::Object(Default::default());
            }
            other
                .as_object_mut()
                .unwrap()
                .insert((*last).to_owned(), value);
        }
    }
}

fn child<'a>(cur: &'a mut Value, seg: &str) -> &'a mut Value {
    if let (Value::Array(items), Ok(i)) = (&*cur, seg.parse::<usize>())
        && i < items.len()
    {
        return &mut cur.as_array_mut().unwrap()[i];
    }
    if !cur.is_object() {
        *cur = Value::Object(Default::default());
    }
    cur.as_object_mut()
        .unwrap()
        .entry(seg.to_owned())
        .or_insert(Value::Null)
}

// ---------------------------------------------------------------------------------------------
// Where each adapter reads: the JSON paths of every field it looks at, for the fixtures' shapes.

/// Falco-style field map keys (Falco `output_fields`, Sysdig `content.fields`).
pub const FIELD_MAP_KEYS: &[&str] = &[
    "container.id",
    "container.full_id",
    "container.name",
    "container.image",
    "container.image.repository",
    "container.image.tag",
    "container.image.digest",
    "container.privileged",
    "proc.name",
    "proc.exepath",
    "proc.exe",
    "proc.cmdline",
    "proc.pname",
    "proc.pid",
    "proc.ppid",
    "user.name",
    "user.uid",
    "evt.time",
    "evt.hostname",
    "evt.type",
    "fd.name",
    "fd.lip",
    "fd.rip",
    "fd.lport",
    "fd.rport",
    "fd.l4proto",
    "fd.cip",
    "fd.sip",
    "fd.cport",
    "fd.sport",
    "fd.is_server",
    "fd.rip.name",
    "fd.sip.name",
    "fd.cip.name",
    "container.label.com.amazonaws.ecs.task-arn",
    "container.label[com.amazonaws.ecs.cluster]",
    "container.label_com.amazonaws.ecs.container-name",
    "container.label.com.amazonaws.ecs.task-definition-family",
    "container.label.com.amazonaws.ecs.task-definition-version",
];

fn under(prefix: &[&'static str], rest: &[&'static str]) -> Vec<&'static str> {
    prefix.iter().chain(rest).copied().collect()
}

/// The EventBridge envelope's fields.
pub fn envelope_paths() -> Vec<Vec<&'static str>> {
    [
        "id",
        "source",
        "detail-type",
        "account",
        "region",
        "time",
        "detail",
    ]
    .into_iter()
    .map(|k| vec![k])
    .collect()
}

/// A Falco alert's fields, under `prefix` (`["detail"]` in an envelope, `[]` bare).
pub fn falco_paths(prefix: &[&'static str]) -> Vec<Vec<&'static str>> {
    let mut out: Vec<Vec<&'static str>> = [
        "rule",
        "priority",
        "output",
        "time",
        "uuid",
        "hostname",
        "tags",
        "output_fields",
    ]
    .into_iter()
    .map(|k| under(prefix, &[k]))
    .collect();
    out.push(under(prefix, &["tags", "0"]));
    out.push(under(prefix, &["tags", "1"]));
    out.extend(
        FIELD_MAP_KEYS
            .iter()
            .map(|k| under(prefix, &["output_fields", k])),
    );
    out
}

pub fn guardduty_paths() -> Vec<Vec<&'static str>> {
    let d = |rest: &[&'static str]| under(&["detail"], rest);
    let ecs = ["resource", "ecsClusterDetails"];
    let task = ["resource", "ecsClusterDetails", "taskDetails"];
    let c0 = [
        "resource",
        "ecsClusterDetails",
        "taskDetails",
        "containers",
        "0",
    ];
    let rt = ["service", "runtimeDetails"];
    let proc = ["service", "runtimeDetails", "process"];
    let net = ["service", "action", "networkConnectionAction"];
    let mut out = vec![
        d(&["type"]),
        d(&["severity"]),
        d(&["title"]),
        d(&["description"]),
        d(&["id"]),
        d(&["accountId"]),
        d(&["region"]),
        d(&["createdAt"]),
        d(&["updatedAt"]),
        d(&["resource"]),
        d(&["resource", "resourceType"]),
        d(&ecs),
        d(&[ecs[0], ecs[1], "name"]),
        d(&[ecs[0], ecs[1], "arn"]),
        d(&task),
        d(&[task[0], task[1], task[2], "containers"]),
        d(&c0),
        d(&["resource", "containerDetails"]),
        d(&["service"]),
        d(&["service", "eventFirstSeen"]),
        d(&["service", "eventLastSeen"]),
        d(&["service", "count"]),
        d(&rt),
        d(&proc),
        d(&[rt[0], rt[1], "context", "commandLineExample"]),
        d(&net),
        d(&["service", "action", "dnsRequestAction"]),
        d(&["service", "action", "dnsRequestAction", "domain"]),
        d(&["service", "action", "dnsRequestAction", "protocol"]),
        d(&["service", "additionalInfo"]),
        d(&["service", "additionalInfo", "value"]),
        d(&["service", "additionalInfo", "sample"]),
        d(&[proc[0], proc[1], proc[2], "lineage"]),
        d(&[proc[0], proc[1], proc[2], "lineage", "0", "name"]),
        d(&[proc[0], proc[1], proc[2], "lineage", "0", "pid"]),
        d(&[proc[0], proc[1], proc[2], "lineage", "0", "uuid"]),
        d(&[proc[0], proc[1], proc[2], "parentUuid"]),
    ];
    for k in ["arn", "definitionArn", "group", "launchType"] {
        out.push(d(&[task[0], task[1], task[2], k]));
    }
    for k in ["name", "id", "image", "securityContext"] {
        out.push(d(&[c0[0], c0[1], c0[2], c0[3], c0[4], k]));
        out.push(d(&["resource", "containerDetails", k]));
    }
    out.push(d(&[
        c0[0],
        c0[1],
        c0[2],
        c0[3],
        c0[4],
        "securityContext",
        "privileged",
    ]));
    for k in [
        "name",
        "executablePath",
        "executableSha256",
        "pid",
        "user",
        "userId",
    ] {
        out.push(d(&[proc[0], proc[1], proc[2], k]));
    }
    for k in [
        "connectionDirection",
        "protocol",
        "remoteIpDetails",
        "localIpDetails",
    ] {
        out.push(d(&[net[0], net[1], net[2], k]));
    }
    for (k, leaf) in [
        ("remoteIpDetails", "ipAddressV4"),
        ("localIpDetails", "ipAddressV6"),
        ("remotePortDetails", "port"),
        ("localPortDetails", "port"),
    ] {
        out.push(d(&[net[0], net[1], net[2], k, leaf]));
    }
    out
}

pub fn sysdig_paths() -> Vec<Vec<&'static str>> {
    let d = |rest: &[&'static str]| under(&["detail"], rest);
    let mut out = vec![
        d(&["name"]),
        d(&["description"]),
        d(&["severity"]),
        d(&["timestamp"]),
        d(&["timestampRFC3339Nano"]),
        d(&["id"]),
        d(&["containerId"]),
        d(&["content"]),
        d(&["content", "ruleName"]),
        d(&["content", "output"]),
        d(&["content", "ruleTags"]),
        d(&["content", "ruleTags", "0"]),
        d(&["content", "fields"]),
        d(&["labels"]),
    ];
    out.extend(FIELD_MAP_KEYS.iter().map(|k| d(&["content", "fields", k])));
    for k in [
        "aws.accountId",
        "aws.region",
        "cloudProvider.account.id",
        "cloudProvider.region",
        "ecs.clusterName",
        "ecs.clusterArn",
        "aws.ecs.cluster.name",
        "ecs.serviceName",
        "aws.ecs.service.name",
        "ecs.taskArn",
        "aws.ecs.taskArn",
        "ecs.task.arn",
        "ecs.taskFamilyName",
        "aws.ecs.task.family",
        "host.hostName",
        "host.hostname",
        "container.name",
        "container.image.repo",
        "container.image.tag",
        "container.image.digest",
        "container.image",
        "aws.fargate.task.arn",
        "aws.fargate.cluster.arn",
        "container.label.com.amazonaws.ecs.task-arn",
        "container.label.com.amazonaws.ecs.cluster",
        "container.label.com.amazonaws.ecs.container-name",
        "container.label.com.amazonaws.ecs.task-definition-family",
    ] {
        out.push(d(&["labels", k]));
    }
    out
}

/// An ECS task state change's fields.
pub fn task_paths() -> Vec<Vec<&'static str>> {
    let d = |rest: &[&'static str]| under(&["detail"], rest);
    let mut out: Vec<_> = [
        "clusterArn",
        "taskArn",
        "lastStatus",
        "desiredStatus",
        "stopCode",
        "stoppedReason",
        "stoppedAt",
        "group",
        "taskDefinitionArn",
        "launchType",
        "version",
        "containers",
    ]
    .into_iter()
    .map(|k| d(&[k]))
    .collect();
    for k in ["name", "runtimeId", "image", "imageDigest", "lastStatus"] {
        out.push(d(&["containers", "0", k]));
    }
    out
}
