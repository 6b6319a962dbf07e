//! `vigil demo` and `vigil replay` through the library: the numbers the scenario implies, exactly.

use serde_json::json;
use vigil_local::scenario::{self, Emulated};
use vigil_playbook::PlaybookFile;
use vigil_remediate::RemediationMode;

/// 22 events: 12 repeats of one shell (web task), 3 of the same rule on the protected payments
/// service, 2 outbound connections from the database, 1 GuardDuty crypto-mining finding (web
/// task), 1 GuardDuty attack sequence (a database task), 1 Sysdig event about a task this cluster
/// does not have, 2 junk. The sequence's stop is proposed, and approved from Security Hub.
/// And 8 telemetry events: a heartbeat from each of the 7 web, database and payments tasks'
/// sidecars, 1 Falco metrics snapshot; the 2 `legacy` tasks run without an agent.
#[tokio::test]
async fn the_demo_reports_what_its_scenario_implies() {
    let s = scenario::demo(RemediationMode::Enforce, &Emulated::Own, |_| {})
        .await
        .unwrap();
    assert_eq!(s.events, 22 + 8);
    assert_eq!(s.rejected, 2, "{:?}", s.rejected_reasons);
    assert_eq!(
        s.accepted, 6,
        "shell on web, shell on payments, outbound, crypto, sequence, sysdig"
    );
    assert_eq!(s.duplicates, 11 + 2 + 1);
    assert_eq!(
        s.securityhub.findings, 4,
        "GuardDuty's own finding is not imported again"
    );
    assert_eq!(s.severities.values().sum::<u64>(), 6);
    let r = &s.remediation;
    assert_eq!(
        r.stopped, 3,
        "the web shell, the crypto miner, the sequence's database task once approved"
    );
    assert_eq!((r.proposed, r.approved), (1, 1), "{:?}", r.decisions);
    assert!(
        r.decisions
            .iter()
            .any(|d| d["playbook"] == "attack-sequence-approve"
                && d["outcome"] == "act"
                && d["approval"].is_string()),
        "{:?}",
        r.decisions
    );
    assert_eq!(r.tagged, 1, "the database, for forensics");
    assert_eq!(r.dry_run, 0);
    assert_eq!(
        r.refused, 2,
        "the protected payments task; the Sysdig task nobody has"
    );
    // Each refusal names the guardrail that said no. The Sysdig event names a task in another
    // account than its sender's: that account is not trusted.
    let refusals: std::collections::BTreeSet<&str> = r
        .decisions
        .iter()
        .filter(|d| d["outcome"] == "refused")
        .filter_map(|d| d["guardrail"].as_str())
        .collect();
    assert_eq!(
        refusals,
        std::collections::BTreeSet::from(["protected", "trusted_account"]),
        "{:?}",
        r.decisions
    );
    assert!(s.dead_letter.is_empty(), "{:?}", s.dead_letter);
    assert!(
        s.api_calls["dynamodb"] > 0 && s.api_calls["securityhub"] > 0 && s.api_calls["ecs"] > 0
    );
    assert!(
        s.rejected_reasons
            .iter()
            .any(|r| r.contains("detail.priority"))
    );
    // Coverage after the stops: web 1, database 1, payments 2 covered; legacy's 2 not.
    let c = s.coverage.as_ref().expect("the demo checks coverage");
    assert_eq!(
        (
            c.running_tasks,
            c.covered_tasks,
            c.uncovered_tasks,
            c.degraded_tasks
        ),
        (6, 4, 2, 0),
        "{:?}",
        c.services
    );
    assert_eq!(c.findings, 1, "one finding: the legacy service");
    let legacy = c
        .services
        .iter()
        .find(|r| r["service"] == "legacy")
        .unwrap();
    assert_eq!(
        (
            legacy["uncovered"].as_u64(),
            legacy["last_heartbeat"].is_null()
        ),
        (Some(2), true)
    );
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["coverage"]["uncovered_tasks"], 2);
    assert_eq!(json["coverage"]["covered_tasks"], 4);
    assert!(s.render().contains("legacy"), "{}", s.render());

    let dry = scenario::demo(RemediationMode::DryRun, &Emulated::Own, |_| {})
        .await
        .unwrap();
    assert_eq!((dry.remediation.stopped, dry.remediation.tagged), (0, 0));
    assert_eq!(
        dry.remediation.dry_run, 4,
        "the sequence's stop would be proposed"
    );
    assert_eq!((dry.remediation.proposed, dry.remediation.approved), (0, 0));
    assert_eq!(dry.accepted, 6);
    let c = dry.coverage.as_ref().unwrap();
    assert_eq!(
        (c.running_tasks, c.covered_tasks, c.uncovered_tasks),
        (9, 7, 2)
    );
}

/// 2,000 events about 40 threats (tasks that do not exist): every distinct fingerprint becomes
/// exactly one Security Hub finding, and remediation refuses to act on tasks it cannot see.
/// `vigil replay` of `events` with the shipped playbooks, on an emulator of its own.
async fn replay(mode: RemediationMode, events: Vec<serde_json::Value>) -> vigil_local::Summary {
    let playbooks = PlaybookFile::parse(scenario::SHIPPED_PLAYBOOKS).unwrap();
    scenario::run(mode, playbooks, &Emulated::Own, |_| events, false, |_| {})
        .await
        .unwrap()
}

#[tokio::test]
async fn a_replay_of_two_thousand_repeating_events_has_one_finding_per_fingerprint() {
    let events: Vec<serde_json::Value> = (0..2000)
        .map(|i| {
            let task = format!(
                "arn:aws:ecs:us-east-1:123456789012:task/replay/{:032x}",
                i % 20
            );
            let rule = if (i / 20) % 2 == 0 {
                "Terminal shell in container"
            } else {
                "Read sensitive file untrusted"
            };
            let mut e = scenario::falco(
                "arn:aws:ecs:us-east-1:123456789012:cluster/replay",
                &task,
                rule,
                "Warning",
                i,
            );
            e["detail"]["uuid"] = json!(format!("replay-{i}"));
            e
        })
        .collect();
    let s = replay(RemediationMode::Enforce, events).await;
    assert_eq!(s.events, 2000);
    assert_eq!(s.accepted, 40);
    assert_eq!(s.duplicates, 1960);
    assert_eq!(s.securityhub.findings, 40);
    assert_eq!(s.remediation.stopped, 0);
    assert_eq!(
        s.remediation.refused, 20,
        "the 20 shell findings match a stop playbook; their tasks are missing"
    );
    assert!(s.dead_letter.is_empty(), "{:?}", s.dead_letter);
    let dynamodb = s.api_calls["dynamodb"];
    assert!(
        (100..=1200).contains(&dynamodb),
        "{dynamodb}: at most 0.6 DynamoDB calls per event, remediation included (1.03 before the repeats of a batch shared a write)"
    );
}

/// A replay whose events come from member accounts: each account gets the member role (the
/// member-role template deployed there) and its findings land in its own hub, counted per account.
#[tokio::test]
async fn a_replay_from_member_accounts_imports_into_each_account_s_own_hub() {
    let places = [
        ("123456789012", "us-east-1"),
        ("111111111111", "eu-west-1"),
        ("222222222222", "us-east-1"),
    ];
    let events: Vec<serde_json::Value> = places
        .iter()
        .enumerate()
        .map(|(i, (account, region))| {
            let cluster = format!("arn:aws:ecs:{region}:{account}:cluster/prod");
            let task = format!(
                "arn:aws:ecs:{region}:{account}:task/prod/{}",
                "a".repeat(32)
            );
            let mut e =
                scenario::falco(&cluster, &task, "Terminal shell in container", "Warning", i);
            e["account"] = json!(account);
            e["region"] = json!(region);
            e
        })
        .collect();
    let s = replay(RemediationMode::DryRun, events).await;
    assert_eq!(s.accepted, 3);
    assert_eq!(s.securityhub.findings, 3, "{:?}", s.securityhub);
    let by_account: Vec<(&str, u64)> = s
        .securityhub
        .by_account
        .iter()
        .map(|(a, n)| (a.as_str(), *n))
        .collect();
    assert_eq!(
        by_account,
        [
            ("111111111111", 1),
            ("123456789012", 1),
            ("222222222222", 1)
        ]
    );
    assert!(s.dead_letter.is_empty(), "{:?}", s.dead_letter);
    assert!(s.render().contains("account 111111111111"));
}

/// `--endpoint`: two runs against one emulator someone else started, each with a stack of its own,
/// report the same numbers as a run with an emulator of its own.
#[tokio::test]
async fn runs_against_a_running_emulator_do_not_see_each_other() {
    let emulator = vigil_testkit::Emulator::start();
    let at = Emulated::At(emulator.endpoint().to_owned());
    for _ in 0..2 {
        let s = scenario::demo(RemediationMode::Enforce, &at, |_| {})
            .await
            .unwrap();
        assert_eq!(
            (s.events, s.accepted, s.duplicates, s.rejected),
            (30, 6, 14, 2)
        );
        assert_eq!(s.securityhub.findings, 4);
        assert_eq!((s.remediation.stopped, s.remediation.refused), (3, 2));
        assert_eq!(s.remediation.approved, 1);
        assert!(s.dead_letter.is_empty(), "{:?}", s.dead_letter);
        assert!(s.api_calls["dynamodb"] > 0);
        let c = s.coverage.unwrap();
        assert_eq!(
            (c.covered_tasks, c.uncovered_tasks),
            (4, 2),
            "this run's cluster only"
        );
    }
    // `vigil coverage --endpoint`: the check now, over every cluster there, with the latest run's
    // heartbeats: the earlier run's tasks have none in it.
    let report = vigil_local::coverage::check_at(emulator.endpoint(), None)
        .await
        .unwrap();
    assert_eq!(
        (report.totals.running_tasks, report.totals.covered_tasks),
        (12, 4)
    );
    let legacy: Vec<_> = report
        .services
        .iter()
        .filter(|r| r.service == "legacy")
        .collect();
    assert_eq!(legacy.len(), 2);
    assert!(legacy.iter().all(|r| r.uncovered == 2));
    let table = vigil_local::coverage::render(&report);
    assert!(
        table.contains("LAST HEARTBEAT") && table.contains("falco 0.39.2"),
        "{table}"
    );
}

/// `vigil approve`: the documented custom action event, put on the default bus of a running
/// emulator, reaches the approval queue of the stack provisioned there, as one remediate trusts.
#[tokio::test]
async fn vigil_approve_puts_the_custom_action_event_where_remediate_takes_approvals() {
    let emulator = vigil_testkit::Emulator::start();
    let playbooks = PlaybookFile::parse(scenario::SHIPPED_PLAYBOOKS).unwrap();
    let p = vigil_local::LocalPipeline::connect(
        emulator.endpoint(),
        vigil_local::RunOptions::new(RemediationMode::Enforce, playbooks),
    )
    .await
    .unwrap();
    let product = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default";
    vigil_local::approve_at(
        emulator.endpoint(),
        &[(
            "vigil-v1-x".into(),
            product.into(),
            vigil_local::ACCOUNT.into(),
        )],
    )
    .await
    .unwrap();
    let queue = p.stack().queue("ApprovalQueue").unwrap();
    let sqs = aws_sdk_sqs::Client::new(p.sdk());
    let bodies = vigil_local::relay::drain(&sqs, &queue.url).await.unwrap();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let target = p.stack().function_env("RemediateFunction")["APPROVAL_ACTION_TARGET_ARN"].clone();
    let approval = vigil_remediate::approval::parse_approval(
        &bodies[0],
        Some(&target),
        Some(vigil_local::ACCOUNT),
    )
    .unwrap();
    assert_eq!(approval.findings[0].id, "vigil-v1-x");
    assert_eq!(approval.findings[0].product_arn, product);
}
