//! The `vigil` binary: samples print findings; every class of invalid input exits 2 with a one-line
//! reason naming the field, and nothing panics or hangs.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn vigil(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .env_remove("AWS_REGION")
        .env_remove("VIGIL_ACCOUNT_ID")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // Write from a thread: the child may exit (refusing the input) before reading it all.
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn fixture(name: &str) -> String {
    format!("{}/../samples/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_sample_normalizes() {
    for entry in std::fs::read_dir(format!("{}/../samples", env!("CARGO_MANIFEST_DIR"))).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue; // the fixtures' README
        }
        let out = vigil(&["normalize", path.to_str().unwrap()], b"");
        assert!(
            out.status.success(),
            "{path:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if v.get("source").is_some() {
            for pointer in [
                "/source",
                "/rule",
                "/severity/label",
                "/severity/normalized",
                "/fingerprint",
                "/account",
                "/region",
                "/observed_at",
                "/resource/cluster_arn",
                "/resource/task_arn",
                "/resource/container/name",
                "/resource/container/id",
                "/resource/container/image",
            ] {
                assert!(v.pointer(pointer).is_some(), "{path:?} lacks {pointer}");
            }
        }
    }
}

#[test]
fn normalize_reads_stdin_and_asff_maps() {
    let bytes = std::fs::read(fixture("guardduty-ecs-runtime.json")).unwrap();
    let out = vigil(&["normalize", "-"], &bytes);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["source"], "guardduty");
    assert_eq!(v["severity"]["label"], "HIGH");

    let out = vigil(&["asff", &fixture("falco-ecs-eventbridge.json")], b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        a["ProductArn"],
        "arn:aws:securityhub:us-west-2:111122223333:product/111122223333/default"
    );

    // A bare Falco alert has no account: asff needs one given, and says so otherwise.
    let out = vigil(&["asff", &fixture("falco-public-1.json")], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("account"));
    let out = vigil(
        &[
            "asff",
            "--account",
            "123456789012",
            "--region",
            "eu-west-1",
            &fixture("falco-public-1.json"),
        ],
        b"",
    );
    assert!(out.status.success());
}

fn assert_refused(input: &[u8], expect: &str) {
    let out = vigil(&["normalize"], input);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "input {:?}: stderr {stderr}",
        String::from_utf8_lossy(&input[..input.len().min(80)])
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(expect), "expected {expect:?} in {stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn not_json() {
    assert_refused(b"this is not json", "$: not valid JSON");
    assert_refused(b"{\"rule\": \"x\xff\xfe\"}", "$: not valid JSON");
    assert_refused(b"", "$: not valid JSON");
}

#[test]
fn wrong_types() {
    assert_refused(
        br#"{"rule": "r", "priority": 3, "output": "o"}"#,
        "priority: expected a string, found a number",
    );
    assert_refused(br#"{"detail-type": "GuardDuty Finding", "source": "aws.guardduty", "detail": {"type": "x", "severity": [1], "resource": {}}}"#, "detail.severity: expected a number");
}

#[test]
fn missing_rule_or_priority() {
    assert_refused(
        br#"{"priority": "Notice", "output": "o", "rule": null, "output_fields": {}}"#,
        "unknown source",
    );
    assert_refused(br#"{"detail-type": "Falco Alert", "source": "falco", "detail": {"priority": "Notice", "output": "o"}}"#, "detail.rule: missing");
    assert_refused(
        br#"{"rule": "r", "output": "o", "time": "2020-01-01T00:00:00Z"}"#,
        "priority: missing",
    );
}

#[test]
fn unknown_source() {
    assert_refused(br#"{"hello": "world"}"#, "$: unknown source");
    assert_refused(
        br#"{"source": "acme.scanner", "detail-type": "Scan", "detail": {"x": 1}}"#,
        "source: unknown source",
    );
}

#[test]
fn unknown_priority() {
    assert_refused(
        br#"{"rule": "r", "priority": "Urgent", "output": "o", "time": "2020-01-01T00:00:00Z"}"#,
        "priority: unknown Falco priority \"Urgent\"",
    );
}

#[test]
fn absurd_nesting() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_refused(deep.as_bytes(), "$: nested too deeply");
    let deep_obj = format!("{}1{}", r#"{"a":"#.repeat(5_000), "}".repeat(5_000));
    assert_refused(deep_obj.as_bytes(), "$: nested too deeply");
}

#[test]
fn oversized_event() {
    let big = format!(
        r#"{{"rule": "r", "priority": "Notice", "output": "{}"}}"#,
        "x".repeat(300 * 1024)
    );
    assert_refused(big.as_bytes(), "over the 262144-byte limit");
}

#[test]
fn help_on_every_command() {
    for args in [
        &["--help"][..],
        &["normalize", "--help"],
        &["asff", "--help"],
        &["coverage", "--help"],
    ] {
        let out = vigil(args, b"");
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
    }
}

#[test]
fn replay_against_aws_needs_a_stack_and_no_emulator() {
    for (args, needle) in [
        (&["replay", "events.jsonl", "--aws"][..], "--stack"),
        (&["replay", "events.jsonl", "--stack", "vigil"], "--aws"),
        (
            &[
                "replay",
                "events.jsonl",
                "--aws",
                "--stack",
                "vigil",
                "--endpoint",
                "http://127.0.0.1:1",
            ],
            "--endpoint",
        ),
    ] {
        let out = vigil(args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn coverage_needs_a_local_emulator_or_a_deployed_stack() {
    for (args, needle) in [
        (&["coverage"][..], "--endpoint"),
        (&["coverage", "--aws"], "--stack"),
        (&["coverage", "--stack", "vigil"], "--aws"),
        (&["coverage", "--table", "t"], "--endpoint"),
        (
            &[
                "coverage",
                "--aws",
                "--stack",
                "vigil",
                "--endpoint",
                "http://127.0.0.1:1",
            ],
            "--endpoint",
        ),
    ] {
        let out = vigil(args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

fn shipped_playbooks() -> String {
    format!(
        "{}/../playbooks/vigil/playbooks.yaml",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn the_shipped_example_playbooks_pass_check() {
    let out = vigil(&["playbook", "check", &shipped_playbooks()], b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok: 4 playbook(s), 3 that stop tasks"));
}

#[test]
fn a_bad_playbook_exits_2_with_line_and_reason() {
    let dir = std::env::temp_dir().join(format!("vigil-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        "version: 1\nplaybooks:\n  - name: p\n    match: {rules: [x]}\n    actions: [stop_task]\n    reason: \"{rul}\"\n",
    )
    .unwrap();
    let out = vigil(&["playbook", "check", file.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 6"), "{err}");
    assert!(err.contains("unknown template variable {rul}"), "{err}");
}

/// `vigil playbook test --mode enforce --json` of the shipped playbooks on sample `name`.
fn playbook_test_enforced(name: &str) -> serde_json::Value {
    let out = vigil(
        &[
            "playbook",
            "test",
            &shipped_playbooks(),
            &fixture(name),
            "--mode",
            "enforce",
            "--json",
        ],
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn playbook_test_shows_the_match_and_every_guardrail() {
    let report = playbook_test_enforced("falco-ecs-eventbridge.json");
    assert_eq!(report[0]["playbook"], "shell-in-container");
    assert_eq!(report[0]["mode"], "enforce");
    assert_eq!(report[0]["actions"], serde_json::json!(["stop_task"]));
    let names: Vec<&str> = report[0]["guardrails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["guardrail"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "trusted_source",
            "recorded_origin",
            "trusted_account",
            "allowed_cluster",
            "provenance",
            "identity",
            "fresh",
            "not_a_sample",
            "approval",
            "protected",
            "task_running",
            "min_healthy",
            "rate_limit"
        ]
    );
    // The deployment default caps the playbook to a dry run.
    let out = vigil(
        &[
            "playbook",
            "test",
            &shipped_playbooks(),
            &fixture("falco-ecs-eventbridge.json"),
            "--json",
        ],
        b"",
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["outcome"], "dry_run");
}

#[test]
fn playbook_test_shows_the_per_task_plan_of_an_attack_sequence() {
    let report = playbook_test_enforced("guardduty-attack-sequence-ecs.json");
    assert_eq!(report[0]["sequence"], "2f9a6c1e8d7b4a3f9c0e1d2b3a4f5e6d");
    let tasks = report[0]["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 3, "one decision per task");
    for t in tasks {
        assert!(
            t["task_arn"]
                .as_str()
                .unwrap()
                .starts_with("arn:aws:ecs:us-west-2:111122223333:task/shop-prod/")
        );
        // The shipped playbooks never stop a task on a sequence by themselves: each task's stop
        // is proposed, and waits for an analyst's approval.
        assert_eq!(t["playbook"], "attack-sequence-approve");
        assert_eq!(t["actions"], serde_json::json!(["stop_task"]));
        assert_eq!(t["mode"], "approve");
        assert_eq!(t["outcome"], "awaiting_approval");
    }
    let text = vigil(
        &[
            "playbook",
            "test",
            &shipped_playbooks(),
            &fixture("guardduty-attack-sequence-ecs.json"),
        ],
        b"",
    );
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("3 task(s) decided one by one"), "{text}");
    assert_eq!(text.matches("  task arn:aws:ecs:").count(), 3, "{text}");

    // normalize and asff take it too.
    let out = vigil(
        &["asff", &fixture("guardduty-attack-sequence-ecs.json")],
        b"",
    );
    assert!(out.status.success());
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(a["Resources"][0]["Type"], "AwsEcsCluster");
    assert_eq!(a["Resources"].as_array().unwrap().len(), 7);
}

#[test]
fn approve_needs_a_local_emulator_and_says_so() {
    let out = vigil(&["approve", "vigil-v1-x"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--endpoint"));
    // Nothing listens on port 9 of loopback: refused with the reason, nothing sent anywhere else.
    let out = vigil(
        &["approve", "vigil-v1-x", "--endpoint", "http://127.0.0.1:9"],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot reach"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
