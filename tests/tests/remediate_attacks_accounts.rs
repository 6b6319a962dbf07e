//! Attacks on multi-account remediation: forged, foreign, replayed and concurrent messages about
//! tasks in member accounts. Each outcome is read back from ECS in the task's own account, the
//! table, each account's Security Hub and the emulator's call counts.

use serde_json::{Value, json};
use vigil_e2e::Pipeline;
use vigil_e2e::accounts::{
    self, HOME, MEMBERS, STRANGER, alert_in, desired_status, enable_hubs, hub_findings, members,
};
use vigil_remediate::{Remediate, RemediationMode};

const SHELL: &str = "Terminal shell in container";
const EAST: &str = "us-east-1";
const WEST: &str = "eu-west-1";

/// Remediate as deployed in `HOME`, enforcing, with `members` in `MEMBER_ACCOUNTS` and `trusted`
/// in `TRUSTED_ACCOUNTS`.
async fn remediate_as(
    p: &Pipeline,
    members: vigil_accounts::MemberAccounts,
    trusted: &[&str],
) -> Remediate {
    accounts::central_remediate(p, vigil_e2e::PLAYBOOKS, members, trusted).await
}

/// The central remediate, trusting the deploying account and both members.
async fn central(p: &Pipeline) -> Remediate {
    remediate_as(p, members(), &[HOME, MEMBERS[0], MEMBERS[1]]).await
}

/// `bodies` through ingest and the central enrich; the `Finding Enriched` bodies.
async fn enriched(p: &Pipeline, bodies: &[Value]) -> Vec<String> {
    accounts::centrally_enriched(p, bodies).await
}

/// A copy of `event` under the EventBridge id `id`, changed by `f`.
fn copy(event: &str, id: &str, f: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(event).unwrap();
    v["id"] = json!(id);
    f(&mut v);
    v.to_string()
}

/// `sk outcome` of every item keyed `ACT#`.
async fn records(p: &Pipeline) -> Vec<String> {
    p.items("ACT#")
        .await
        .iter()
        .map(|i| format!("{} {}", vigil_e2e::s(i, "sk"), vigil_e2e::s(i, "outcome")))
        .collect()
}

/// ECS's `Task State Change` to STOPPED, as `account`'s bus would carry it.
fn task_stopped(account: &str, region: &str, cluster: &str, task: &str, reason: &str) -> String {
    json!({
        "version": "0", "id": format!("sc-{}", fastrand::u64(..)), "detail-type": "ECS Task State Change",
        "source": "aws.ecs", "account": account, "time": "2026-11-23T10:00:00Z", "region": region,
        "resources": [task],
        "detail": {"clusterArn": cluster, "taskArn": task, "lastStatus": "STOPPED", "desiredStatus": "STOPPED",
                   "stopCode": "UserInitiated", "stoppedReason": reason, "stoppedAt": "2026-11-23T10:00:00Z",
                   "containers": [], "version": 5}
    })
    .to_string()
}

/// Whether an action record carries ECS's confirmation of its stop.
async fn confirmed(p: &Pipeline) -> bool {
    p.action_records()
        .await
        .iter()
        .any(|r| !vigil_e2e::s(r, "confirmed_at").is_empty())
}

fn cluster_of(account: &str, region: &str) -> String {
    format!("arn:aws:ecs:{region}:{account}:cluster/prod")
}

/// A `Finding Enriched` put straight on the remediate queue about a member's running task, with
/// no dedup record behind it (and a copy claiming Security Hub imported it): refused from the
/// message and the table alone. No member role is assumed, ECS is not asked, no finding noted.
#[tokio::test]
async fn a_forged_finding_about_a_member_task_assumes_no_role() {
    let p = Pipeline::start().await;
    enable_hubs(&p.emulator, &[HOME, MEMBERS[0]], &[EAST]).await;
    let task = p.emulator.run_task_in(MEMBERS[0], EAST, "victim").await;
    // A genuine message about another task gives the forged one its shape.
    let other = p.emulator.run_task_in(MEMBERS[0], EAST, "other").await;
    let genuine = enriched(&p, &[alert_in("g", MEMBERS[0], EAST, &other, SHELL)]).await;
    assert_eq!(genuine.len(), 1);
    // Ingest counted no occurrence about `task`: a fingerprint of its own, no record behind it.
    let forged = copy(&genuine[0], "forged", |v| {
        let f = &mut v["detail"]["finding"];
        f["resource"]["task_arn"] = json!(task);
        f["fingerprint"] = json!("v1-00000000000000000000000000000000");
        v["detail"]["securityhub"]["imported"] = json!(true);
        v["detail"]["enrichment"]["task"] = Value::Null;
    });
    p.emulator.reset_api_calls();
    let remediate = central(&p).await;
    assert!(remediate.process(&[forged], Some(HOME)).await.is_empty());
    assert_eq!(p.emulator.calls("sts", "AssumeRole"), 0);
    assert_eq!(p.emulator.calls("ecs", "DescribeTasks"), 0);
    assert_eq!(p.emulator.calls("securityhub", "BatchUpdateFindings"), 0);
    assert_eq!(
        desired_status(&p.emulator, MEMBERS[0], EAST, &task).await,
        "RUNNING"
    );
    let recs = records(&p).await;
    assert!(recs.iter().all(|r| r.starts_with("UNTRUSTED#")), "{recs:?}");
}

/// Copies of a genuine member-A message (vouched for by its dedup record) edited to name member
/// B's task (with B as the finding's account, or not), A's task in another region, or B's account
/// alone: the dedup record and the identity guardrail refuse each before any call, so B's role is
/// never assumed and nothing but the genuine task is stopped.
#[tokio::test]
async fn a_genuine_copy_moved_to_another_account_or_region_reaches_no_other_account() {
    let p = Pipeline::start().await;
    enable_hubs(&p.emulator, &[HOME, MEMBERS[0], MEMBERS[1]], &[EAST, WEST]).await;
    let a_task = p.emulator.run_task_in(MEMBERS[0], EAST, "a").await;
    let a_west = p.emulator.run_task_in(MEMBERS[0], WEST, "aw").await;
    let b_task = p.emulator.run_task_in(MEMBERS[1], EAST, "b").await;
    let genuine = enriched(&p, &[alert_in("g", MEMBERS[0], EAST, &a_task, SHELL)]).await;
    assert_eq!(genuine.len(), 1);
    let to_task = |task: &str, account: Option<&str>| {
        let (task, account) = (task.to_owned(), account.map(str::to_owned));
        move |v: &mut Value| {
            let f = &mut v["detail"]["finding"];
            f["resource"]["task_arn"] = json!(task);
            f["resource"]["cluster_arn"] = json!(
                task.replace(":task/prod/", ":cluster/prod#")
                    .split('#')
                    .next()
                    .unwrap()
            );
            if let Some(a) = &account {
                f["account"] = json!(a);
            }
            v["detail"]["enrichment"]["task"] = Value::Null;
        }
    };
    let copies = vec![
        copy(&genuine[0], "to-b", to_task(&b_task, Some(MEMBERS[1]))),
        copy(&genuine[0], "to-b-task", to_task(&b_task, None)),
        copy(&genuine[0], "to-west", to_task(&a_west, None)),
        copy(&genuine[0], "b-account", |v| {
            v["detail"]["finding"]["account"] = json!(MEMBERS[1]);
        }),
        copy(&genuine[0], "b-sender", |v| {
            v["detail"]["finding"]["provenance"]["sender_account"] = json!(MEMBERS[1]);
            v["detail"]["finding"]["account"] = json!(MEMBERS[1]);
        }),
    ];
    p.emulator.reset_api_calls();
    let remediate = central(&p).await;
    assert!(remediate.process(&copies, Some(HOME)).await.is_empty());
    assert_eq!(
        p.emulator.calls("sts", "AssumeRole"),
        0,
        "{:?}",
        records(&p).await
    );
    assert_eq!(p.emulator.calls("ecs", "DescribeTasks"), 0);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    // The genuine message still acts, on its own task only.
    assert!(remediate.process(&genuine, Some(HOME)).await.is_empty());
    assert_eq!(
        desired_status(&p.emulator, MEMBERS[0], EAST, &a_task).await,
        "STOPPED"
    );
    assert_eq!(
        desired_status(&p.emulator, MEMBERS[0], WEST, &a_west).await,
        "RUNNING"
    );
    assert_eq!(
        desired_status(&p.emulator, MEMBERS[1], EAST, &b_task).await,
        "RUNNING"
    );
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.emulator.calls("sts", "AssumeRole"), 1, "A's role only");
    assert!(hub_findings(&p.emulator, MEMBERS[1], EAST).await.is_empty());
}

/// A vouched copy of a genuine member message whose cluster names member B's cluster (the
/// fingerprint does not cover the cluster): ECS is asked in the task's own account (A), which
/// does not run the task in that cluster; nothing is stopped, B's role is never assumed, and the
/// genuine message then stops the task once.
#[tokio::test]
async fn a_copy_naming_another_account_s_cluster_is_asked_only_in_the_task_s_account() {
    let p = Pipeline::start().await;
    enable_hubs(&p.emulator, &[HOME, MEMBERS[0], MEMBERS[1]], &[EAST]).await;
    let a_task = p.emulator.run_task_in(MEMBERS[0], EAST, "a").await;
    let b_task = p.emulator.run_task_in(MEMBERS[1], EAST, "b").await;
    let genuine = enriched(&p, &[alert_in("g", MEMBERS[0], EAST, &a_task, SHELL)]).await;
    let decoy = copy(&genuine[0], "decoy", |v| {
        v["detail"]["finding"]["resource"]["cluster_arn"] = json!(cluster_of(MEMBERS[1], EAST));
        v["detail"]["enrichment"]["task"] = Value::Null;
    });
    p.emulator.reset_api_calls();
    let remediate = central(&p).await;
    assert!(remediate.process(&[decoy], Some(HOME)).await.is_empty());
    assert_eq!(
        p.emulator.calls("ecs", "StopTask"),
        0,
        "{:?}",
        records(&p).await
    );
    assert_eq!(p.emulator.calls("sts", "AssumeRole"), 1, "A's role only");
    assert_eq!(
        desired_status(&p.emulator, MEMBERS[0], EAST, &a_task).await,
        "RUNNING"
    );
    assert!(remediate.process(&genuine, Some(HOME)).await.is_empty());
    assert!(remediate.process(&genuine, Some(HOME)).await.is_empty());
    assert_eq!(
        desired_status(&p.emulator, MEMBERS[0], EAST, &a_task).await,
        "STOPPED"
    );
    assert_eq!(
        desired_status(&p.emulator, MEMBERS[1], EAST, &b_task).await,
        "RUNNING"
    );
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.emulator.calls("sts", "AssumeRole"), 1);
}

/// Alerts sent by member A through ingest naming A's running task by ARNs routing could misread:
/// another partition, an upper-cased region, a region of another partition, an empty region.
/// None is stopped, and none is asked of ECS in the deploying account with the central role.
#[tokio::test]
async fn odd_partitions_and_regions_in_a_member_task_arn_stop_nothing() {
    let p = Pipeline::start().await;
    enable_hubs(&p.emulator, &[HOME, MEMBERS[0]], &[EAST]).await;
    let task = p.emulator.run_task_in(MEMBERS[0], EAST, "odd").await;
    let id = task.rsplit('/').next().unwrap().to_owned();
    let a = MEMBERS[0];
    let odd = [
        format!("arn:aws-cn:ecs:{EAST}:{a}:task/prod/{id}"),
        format!("arn:aws:ecs:US-EAST-1:{a}:task/prod/{id}"),
        format!("arn:aws:ecs:cn-north-1:{a}:task/prod/{id}"),
        format!("arn:aws:ecs::{a}:task/prod/{id}"),
        format!("arn:aws:ecs:{EAST}:{a}:task/PROD/{id}"),
    ];
    let bodies: Vec<Value> = odd
        .iter()
        .enumerate()
        .map(|(i, t)| alert_in(&format!("odd{i}"), a, EAST, t, SHELL))
        .collect();
    let enriched = enriched(&p, &bodies).await;
    p.emulator.reset_api_calls();
    let remediate = central(&p).await;
    for _ in 0..2 {
        assert!(remediate.process(&enriched, Some(HOME)).await.is_empty());
    }
    assert_eq!(
        desired_status(&p.emulator, a, EAST, &task).await,
        "RUNNING",
        "{:?}",
        records(&p).await
    );
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    assert_eq!(p.emulator.calls("ecs", "TagResource"), 0);
}

/// ECS STOPPED changes that do not hold together: from member A about member B's task Vigil
/// stopped, from the deploying account about A's task, from a trusted account with no role, and
/// with the task ARN's region emptied. None assumes a role or asks ECS; none confirms B's stop.
/// The true change from B, in B's account, confirms it.
#[tokio::test]
async fn stopped_changes_naming_another_account_s_task_are_never_looked_at() {
    let p = Pipeline::start().await;
    enable_hubs(&p.emulator, &[HOME, MEMBERS[0], MEMBERS[1]], &[EAST]).await;
    let b_task = p.emulator.run_task_in(MEMBERS[1], EAST, "b").await;
    let genuine = enriched(&p, &[alert_in("g", MEMBERS[1], EAST, &b_task, SHELL)]).await;
    let trusted = [HOME, MEMBERS[0], MEMBERS[1], STRANGER];
    let remediate = remediate_as(&p, members(), &trusted).await;
    assert!(remediate.process(&genuine, Some(HOME)).await.is_empty());
    assert_eq!(
        desired_status(&p.emulator, MEMBERS[1], EAST, &b_task).await,
        "STOPPED"
    );
    let reason = stopped_reason(&p, MEMBERS[1], EAST, &b_task).await;
    let b_cluster = cluster_of(MEMBERS[1], EAST);
    let no_region = b_task.replacen(&format!(":{EAST}:"), "::", 1);
    let forged = vec![
        task_stopped(MEMBERS[0], EAST, &b_cluster, &b_task, &reason),
        task_stopped(HOME, EAST, &b_cluster, &b_task, &reason),
        task_stopped(STRANGER, EAST, &b_cluster, &b_task, &reason),
        task_stopped(MEMBERS[1], EAST, &b_cluster, &no_region, &reason),
        task_stopped(MEMBERS[1], "", &b_cluster, &no_region, &reason),
    ];
    // A fresh instance: no member credentials cached.
    let remediate = remediate_as(&p, members(), &trusted).await;
    p.emulator.reset_api_calls();
    assert!(remediate.process(&forged, Some(HOME)).await.is_empty());
    assert_eq!(p.emulator.calls("sts", "AssumeRole"), 0);
    assert_eq!(p.emulator.calls("ecs", "DescribeTasks"), 0);
    assert_eq!(p.emulator.calls("securityhub", "BatchUpdateFindings"), 0);
    assert!(!confirmed(&p).await);
    let change = task_stopped(MEMBERS[1], EAST, &b_cluster, &b_task, &reason);
    assert!(remediate.process(&[change], Some(HOME)).await.is_empty());
    assert!(confirmed(&p).await);
    assert_eq!(p.emulator.calls("sts", "AssumeRole"), 1, "B's role");
}

/// Two copies of one genuine member decision at the same moment (an SQS redelivery racing the
/// first delivery), and a third under a new id: the member task is stopped once, announced once.
#[tokio::test]
async fn two_copies_of_a_member_decision_at_once_stop_the_task_once() {
    let p = Pipeline::start().await;
    enable_hubs(&p.emulator, &[HOME, MEMBERS[0]], &[WEST]).await;
    let task = p.emulator.run_task_in(MEMBERS[0], WEST, "race").await;
    let genuine = enriched(&p, &[alert_in("g", MEMBERS[0], WEST, &task, SHELL)]).await;
    assert_eq!(genuine.len(), 1);
    p.emulator.reset_api_calls();
    let (r1, r2) = (central(&p).await, central(&p).await);
    let again = vec![copy(&genuine[0], "again", |_| {})];
    let (a, b, c) = tokio::join!(
        r1.process(&genuine, Some(HOME)),
        r2.process(&genuine, Some(HOME)),
        r1.process(&again, Some(HOME)),
    );
    // Whichever lost the claim may come back; its retry is a no-op.
    for (out, bodies) in [(a, &genuine), (b, &genuine), (c, &again)] {
        if !out.is_empty() {
            assert!(r2.process(bodies, Some(HOME)).await.is_empty());
        }
    }
    assert_eq!(
        desired_status(&p.emulator, MEMBERS[0], WEST, &task).await,
        "STOPPED"
    );
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    let executed = p.executed.drain().await;
    assert_eq!(executed.len(), 1, "{executed:?}");
    let found = hub_findings(&p.emulator, MEMBERS[0], WEST).await;
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0]
            .workflow()
            .and_then(|w| w.status())
            .map(|s| s.as_str()),
        Some("RESOLVED")
    );
}

/// A vouched copy of a genuine member message whose finding `region` was edited (neither the
/// fingerprint nor the dedup record covers it) and that claims Security Hub imported it, sent
/// before the genuine message: it must not steer the note to another region (or partition) of
/// the account, nor leave a decision the genuine message can never finish. The genuine message
/// is processed, not retried forever, and Vigil's finding where enrich imported it is noted.
#[tokio::test]
async fn a_copy_with_the_finding_s_region_edited_cannot_strand_the_genuine_decision() {
    for region in [WEST, "cn-north-1", ""] {
        let p = Pipeline::start().await;
        enable_hubs(&p.emulator, &[HOME, MEMBERS[0]], &[EAST, WEST]).await;
        let task = p.emulator.run_task_in(MEMBERS[0], EAST, "shop").await;
        let genuine = enriched(&p, &[alert_in("g", MEMBERS[0], EAST, &task, SHELL)]).await;
        assert_eq!(genuine.len(), 1);
        let moved = moved_again(&genuine[0], region);
        let remediate = central(&p).await;
        let first = remediate.process(&[moved], Some(HOME)).await;
        let mut genuine_failed = Vec::new();
        for _ in 0..3 {
            genuine_failed = remediate.process(&genuine, Some(HOME)).await;
        }
        assert!(
            genuine_failed.is_empty(),
            "{region}: the genuine message keeps coming back ({first:?}): {:?}",
            records(&p).await
        );
        assert_eq!(
            desired_status(&p.emulator, MEMBERS[0], EAST, &task).await,
            "STOPPED"
        );
        let found = hub_findings(&p.emulator, MEMBERS[0], EAST).await;
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0]
                .workflow()
                .and_then(|w| w.status())
                .map(|s| s.as_str()),
            Some("RESOLVED"),
            "{region}: the genuine finding is noted"
        );
        assert!(hub_findings(&p.emulator, MEMBERS[0], WEST).await.is_empty());
        assert_eq!(p.executed.drain().await.len(), 1, "{region}");
        // ECS's STOPPED change confirms the stop, and is not retried for the copy's note target
        // the stored decision may still carry.
        let reason = stopped_reason(&p, MEMBERS[0], EAST, &task).await;
        let change = task_stopped(
            MEMBERS[0],
            EAST,
            &cluster_of(MEMBERS[0], EAST),
            &task,
            &reason,
        );
        assert!(
            remediate.process(&[change], Some(HOME)).await.is_empty(),
            "{region}"
        );
        assert!(confirmed(&p).await, "{region}");
        // The copy, delivered again, finds the decision complete.
        assert!(
            remediate
                .process(&[moved_again(&genuine[0], region)], Some(HOME))
                .await
                .is_empty()
        );
    }
}

/// A copy of `genuine` whose finding claims `region` and an import into Security Hub.
fn moved_again(genuine: &str, region: &str) -> String {
    copy(genuine, "moved", |v| {
        v["detail"]["finding"]["region"] = json!(region);
        v["detail"]["securityhub"]["imported"] = json!(true);
    })
}

/// The `stoppedReason` ECS shows for `task` in cluster `prod` of its account and region.
async fn stopped_reason(p: &Pipeline, account: &str, region: &str, task: &str) -> String {
    accounts::stopped_reason(&p.emulator, account, region, task).await
}

/// MEMBER_ACCOUNTS changes after a member task was stopped: a replay of the finding (a new id)
/// under a deployment without the member's role is not decided again, calls nothing and is not
/// retried; ECS's STOPPED change is ignored, not retried. Once the role is back the change
/// confirms the stop.
#[tokio::test]
async fn replays_after_member_accounts_change_neither_call_nor_loop() {
    let p = Pipeline::start().await;
    enable_hubs(&p.emulator, &[HOME, MEMBERS[0]], &[EAST]).await;
    let task = p.emulator.run_task_in(MEMBERS[0], EAST, "shop").await;
    let genuine = enriched(&p, &[alert_in("g", MEMBERS[0], EAST, &task, SHELL)]).await;
    assert!(
        central(&p)
            .await
            .process(&genuine, Some(HOME))
            .await
            .is_empty()
    );
    assert_eq!(
        desired_status(&p.emulator, MEMBERS[0], EAST, &task).await,
        "STOPPED"
    );
    let reason = stopped_reason(&p, MEMBERS[0], EAST, &task).await;
    let change = task_stopped(
        MEMBERS[0],
        EAST,
        &cluster_of(MEMBERS[0], EAST),
        &task,
        &reason,
    );
    let roleless = remediate_as(
        &p,
        vigil_accounts::MemberAccounts::none(),
        &[HOME, MEMBERS[0]],
    )
    .await;
    p.emulator.reset_api_calls();
    let replay = copy(&genuine[0], "replay", |_| {});
    assert!(
        roleless
            .process(&[replay, change.clone()], Some(HOME))
            .await
            .is_empty()
    );
    assert_eq!(p.emulator.calls("sts", "AssumeRole"), 0);
    assert_eq!(p.emulator.calls("ecs", "DescribeTasks"), 0);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    assert!(
        central(&p)
            .await
            .process(&[change], Some(HOME))
            .await
            .is_empty()
    );
    assert!(confirmed(&p).await);
}

/// A playbook that stops every task an attack sequence names.
const STOP_SEQUENCES: &str = "version: 1\nplaybooks:\n  - name: sequence\n    match: {finding_types: [\"AttackSequence:*\"]}\n    actions: [stop_task]\n    mode: enforce\n";

/// The sample sequence's task ids (slots) and the runtime ids of its first two slots' containers.
const SAMPLE_TASKS: [&str; 3] = [
    "0a1b2c3d4e5f40718293a4b5c6d7e8f9",
    "1b2c3d4e5f60718293a4b5c6d7e8f90a",
    "2c3d4e5f60718293a4b5c6d7e8f90a1b",
];
const SAMPLE_CONTAINERS: [&str; 2] = [
    "3e1f6a2b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f",
    "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f3e1f6a2b9c8d7e6f5a4b3c2d1e0f",
];

/// The app container's runtime id of `task`, asked in its own account and region.
async fn runtime_of(p: &Pipeline, account: &str, region: &str, task: &str) -> String {
    let out = vigil_e2e::accounts::ecs(&p.emulator, account, region)
        .await
        .describe_tasks()
        .cluster("prod")
        .tasks(task)
        .send()
        .await
        .unwrap();
    out.tasks()[0].containers()[0]
        .runtime_id()
        .unwrap_or_default()
        .to_owned()
}

/// A GuardDuty attack sequence sent by `account` (us-east-1) naming `tasks` (ARNs of any account,
/// with their runtime ids) in its first slots.
async fn member_sequence(p: &Pipeline, id: &str, account: &str, tasks: &[(&str, String)]) -> Value {
    let base = vigil_e2e::AttackSequence::new(id)
        .build(p)
        .await
        .to_string();
    let mut text = base.replace(HOME, account);
    for (i, (task_account, task)) in tasks.iter().enumerate() {
        let sample = format!(
            "arn:aws:ecs:us-east-1:{account}:task/prod/{}",
            SAMPLE_TASKS[i]
        );
        text = text.replace(&sample, task);
        text = text.replace(SAMPLE_TASKS[i], task.rsplit('/').next().unwrap());
        let region = task.split(':').nth(3).unwrap();
        let runtime = runtime_of(p, task_account, region, task).await;
        text = text.replace(SAMPLE_CONTAINERS[i], &runtime);
    }
    serde_json::from_str(&text).unwrap()
}

/// A genuine GuardDuty attack sequence from member A naming A's task and member B's task (ingest
/// counted both): A's task is stopped through A's role, B's is refused on the message alone (it is
/// not in the finding's account) without B's role ever being assumed. A redelivery, and two
/// instances at once, stop nothing more.
#[tokio::test]
async fn a_member_sequence_naming_another_member_s_task_never_reaches_that_account() {
    let p = Pipeline::start().await;
    enable_hubs(&p.emulator, &[HOME, MEMBERS[0], MEMBERS[1]], &[EAST]).await;
    let a_task = p.emulator.run_task_in(MEMBERS[0], EAST, "a").await;
    let b_task = p.emulator.run_task_in(MEMBERS[1], EAST, "b").await;
    let seq = member_sequence(
        &p,
        "seq",
        MEMBERS[0],
        &[(MEMBERS[0], a_task.clone()), (MEMBERS[1], b_task.clone())],
    )
    .await;
    let genuine = enriched(&p, &[seq]).await;
    assert_eq!(genuine.len(), 1);
    p.emulator.reset_api_calls();
    let make = || async {
        p.remediate_with(STOP_SEQUENCES, RemediationMode::Enforce, |s| {
            s.account_id = Some(HOME.into());
            s.members = members();
            vigil_e2e::generous(s);
            s.guardrails
                .trusted_accounts
                .extend([HOME, MEMBERS[0], MEMBERS[1]].map(String::from));
        })
        .await
    };
    let r = make().await;
    let (x, y) = tokio::join!(
        r.process(&genuine, Some(HOME)),
        r.process(&genuine, Some(HOME))
    );
    for out in [x, y] {
        if !out.is_empty() {
            assert!(r.process(&genuine, Some(HOME)).await.is_empty());
        }
    }
    assert!(r.process(&genuine, Some(HOME)).await.is_empty());
    let recs = records(&p).await;
    assert_eq!(
        desired_status(&p.emulator, MEMBERS[1], EAST, &b_task).await,
        "RUNNING",
        "{recs:?}"
    );
    assert_eq!(
        desired_status(&p.emulator, MEMBERS[0], EAST, &a_task).await,
        "STOPPED",
        "{recs:?}"
    );
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1, "{recs:?}");
    assert_eq!(p.emulator.calls("sts", "AssumeRole"), 1, "A's role only");
    assert!(hub_findings(&p.emulator, MEMBERS[1], EAST).await.is_empty());
}

const APPROVALS: &str = "arn:aws:sqs:us-east-1:123456789012:vigil-approvals";
const QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:vigil-remediate";
const TARGET: &str = "arn:aws:securityhub:us-east-1:123456789012:action/custom/VigilApprove";

/// One SQS record, first received, as the event source mapping delivers it.
fn sqs_record(id: &str, queue: &str, body: &str) -> Value {
    vigil_e2e::queue::sqs_record(id, 1, queue, body)
}

/// Delivers a batch of records; the message ids SQS would deliver again.
async fn deliver(r: &Remediate, records: Vec<Value>) -> Vec<String> {
    vigil_e2e::queue::deliver_batch(r, records).await
}

/// The custom action event the deploying account's Security Hub sends for `findings`
/// (Id, ProductArn, AwsAccountId).
fn approval(id: &str, findings: &[(&str, &str, &str)]) -> String {
    let findings: Vec<Value> = findings
        .iter()
        .map(|(id, product, account)| {
            json!({"SchemaVersion": "2018-10-08", "Id": id, "ProductArn": product,
                   "AwsAccountId": account, "Title": "selected"})
        })
        .collect();
    json!({"version": "0", "id": id, "source": "aws.securityhub",
           "detail-type": "Security Hub Findings - Custom Action", "account": HOME,
           "time": chrono::Utc::now().to_rfc3339(), "region": "us-east-1", "resources": [TARGET],
           "detail": {"actionName": "Vigil: approve stop", "findings": findings}})
    .to_string()
}

/// A member's shell alert waits for approval, filed under Vigil's finding in the member's hub.
/// Approvals selecting that finding with another account, or another account's product, approve
/// nothing, stop nothing and note nothing in the other account; the true selection, delivered
/// twice at once to two instances, stops the member's task once, through its role.
#[tokio::test]
async fn approvals_of_a_member_finding_stop_its_task_once_and_only_as_proposed() {
    let p = Pipeline::start().await;
    enable_hubs(&p.emulator, &[HOME, MEMBERS[0], MEMBERS[1]], &[EAST]).await;
    let task = p.emulator.run_task_in(MEMBERS[0], EAST, "shop").await;
    let genuine = enriched(&p, &[alert_in("g", MEMBERS[0], EAST, &task, SHELL)]).await;
    assert_eq!(genuine.len(), 1);
    let approve_playbook = "version: 1\nplaybooks:\n  - name: shell-approve\n    match: {rules: [\"Terminal shell*\"]}\n    actions: [stop_task]\n    mode: approve\n";
    let make = || async {
        p.remediate_with(approve_playbook, RemediationMode::Enforce, |s| {
            vigil_e2e::generous(s);
            s.account_id = Some(HOME.into());
            s.members = members();
            s.queue_arns = vec![QUEUE.into()];
            s.approval_queue_arn = Some(APPROVALS.into());
            s.approval_action_target_arn = Some(TARGET.into());
            s.guardrails
                .trusted_accounts
                .extend([HOME, MEMBERS[0], MEMBERS[1]].map(String::from));
        })
        .await
    };
    let (r1, r2) = (make().await, make().await);
    assert!(
        deliver(&r1, vec![sqs_record("enriched", QUEUE, &genuine[0])])
            .await
            .is_empty()
    );
    assert_eq!(
        desired_status(&p.emulator, MEMBERS[0], EAST, &task).await,
        "RUNNING"
    );
    let v: Value = serde_json::from_str(&genuine[0]).unwrap();
    let id = v["detail"]["securityhub"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let product = v["detail"]["securityhub"]["product_arn"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(product.contains(MEMBERS[0]), "{product}");
    let b_product = product.replace(MEMBERS[0], MEMBERS[1]);
    p.emulator.reset_api_calls();
    let wrong = approval(
        "wrong",
        &[
            (id.as_str(), product.as_str(), HOME),
            (id.as_str(), product.as_str(), MEMBERS[1]),
            (id.as_str(), b_product.as_str(), MEMBERS[1]),
            (id.as_str(), b_product.as_str(), MEMBERS[0]),
        ],
    );
    assert!(
        deliver(&r1, vec![sqs_record("wrong", APPROVALS, &wrong)])
            .await
            .is_empty()
    );
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    assert_eq!(
        desired_status(&p.emulator, MEMBERS[0], EAST, &task).await,
        "RUNNING"
    );
    assert!(hub_findings(&p.emulator, MEMBERS[1], EAST).await.is_empty());
    let right = approval("right", &[(id.as_str(), product.as_str(), MEMBERS[0])]);
    let (x, y) = tokio::join!(
        deliver(&r1, vec![sqs_record("right", APPROVALS, &right)]),
        deliver(&r2, vec![sqs_record("right", APPROVALS, &right)]),
    );
    for out in [x, y] {
        if !out.is_empty() {
            assert!(
                deliver(&r1, vec![sqs_record("right", APPROVALS, &right)])
                    .await
                    .is_empty()
            );
        }
    }
    assert_eq!(
        desired_status(&p.emulator, MEMBERS[0], EAST, &task).await,
        "STOPPED"
    );
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    let found = hub_findings(&p.emulator, MEMBERS[0], EAST).await;
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0]
            .workflow()
            .and_then(|w| w.status())
            .map(|s| s.as_str()),
        Some("RESOLVED")
    );
}

/// A rolling deployment that adds an account's member role: the instance without it records the
/// finding aside (UNROUTABLE) with no call and does not retry it; the same message at the same
/// moment on an instance with the role, and again on both, stops the task once. The old
/// instance, given the message after the stop, calls nothing and does not retry.
#[tokio::test]
async fn a_member_role_added_mid_deployment_stops_the_task_once_and_loops_nowhere() {
    let p = Pipeline::start().await;
    enable_hubs(&p.emulator, &[HOME, STRANGER], &[EAST]).await;
    let task = p.emulator.run_task_in(STRANGER, EAST, "late").await;
    let genuine = enriched(&p, &[alert_in("g", STRANGER, EAST, &task, SHELL)]).await;
    assert_eq!(genuine.len(), 1);
    let trusted = [HOME, STRANGER];
    let old = remediate_as(&p, members(), &trusted).await;
    let with_role = vigil_accounts::MemberAccounts::new(
        [MEMBERS[0], MEMBERS[1], STRANGER],
        "VigilMember",
        Some(vigil_e2e::accounts::EXTERNAL_ID.into()),
    );
    let new = remediate_as(&p, with_role, &trusted).await;
    p.emulator.reset_api_calls();
    assert!(old.process(&genuine, Some(HOME)).await.is_empty());
    assert_eq!(p.emulator.calls("sts", "AssumeRole"), 0);
    assert_eq!(p.emulator.calls("ecs", "DescribeTasks"), 0);
    assert!(
        records(&p)
            .await
            .iter()
            .any(|r| r.starts_with("UNROUTABLE#")),
        "{:?}",
        records(&p).await
    );
    let (a, b) = tokio::join!(
        old.process(&genuine, Some(HOME)),
        new.process(&genuine, Some(HOME))
    );
    // Whichever lost the claim to the other may come back once; its retry is a no-op.
    if !a.is_empty() {
        assert!(old.process(&genuine, Some(HOME)).await.is_empty());
    }
    if !b.is_empty() {
        assert!(new.process(&genuine, Some(HOME)).await.is_empty());
    }
    assert!(new.process(&genuine, Some(HOME)).await.is_empty());
    assert_eq!(
        desired_status(&p.emulator, STRANGER, EAST, &task).await,
        "STOPPED"
    );
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    p.emulator.reset_api_calls();
    let replay = copy(&genuine[0], "replay", |_| {});
    assert!(old.process(&[replay], Some(HOME)).await.is_empty());
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    assert_eq!(p.emulator.calls("sts", "AssumeRole"), 0);
}

/// A finding enrich could not import (its account had no role for enrich: Security Hub does not
/// hold Vigil's finding) and a vouched copy claiming it was imported, sent first to remediate,
/// which has the role: the copy's note cannot be made, and the genuine message (which names no
/// note) must still finish the decision rather than come back until it is dead-lettered.
#[tokio::test]
async fn a_copy_claiming_an_import_that_never_happened_cannot_strand_the_genuine_decision() {
    let p = Pipeline::start().await;
    enable_hubs(&p.emulator, &[HOME, STRANGER], &[EAST]).await;
    let task = p.emulator.run_task_in(STRANGER, EAST, "shop").await;
    let genuine = enriched(&p, &[alert_in("g", STRANGER, EAST, &task, SHELL)]).await;
    assert_eq!(genuine.len(), 1);
    let v: Value = serde_json::from_str(&genuine[0]).unwrap();
    assert_eq!(v["detail"]["securityhub"]["imported"], false, "{v}");
    let claimed = copy(&genuine[0], "claimed", |v| {
        v["detail"]["securityhub"]["imported"] = json!(true);
        v["detail"]["securityhub"]["import_error"] = Value::Null;
    });
    let with_role = vigil_accounts::MemberAccounts::new(
        [STRANGER],
        "VigilMember",
        Some(vigil_e2e::accounts::EXTERNAL_ID.into()),
    );
    let remediate = remediate_as(&p, with_role, &[HOME, STRANGER]).await;
    let _ = remediate
        .process(std::slice::from_ref(&claimed), Some(HOME))
        .await;
    let mut failed = Vec::new();
    for _ in 0..3 {
        failed = remediate.process(&genuine, Some(HOME)).await;
    }
    assert!(
        failed.is_empty(),
        "the genuine message keeps coming back: {:?}",
        records(&p).await
    );
    assert_eq!(
        desired_status(&p.emulator, STRANGER, EAST, &task).await,
        "STOPPED"
    );
    assert_eq!(p.executed.drain().await.len(), 1);
    // The copy, delivered again, finds the decision complete.
    assert!(remediate.process(&[claimed], Some(HOME)).await.is_empty());
}

/// A vouched copy of a genuine member message that says Vigil's finding was not imported (it was:
/// ingest's record says Security Hub confirmed it), sent first: the genuine finding in the
/// member's hub is still noted and resolved, not left silent by whichever copy decided first.
#[tokio::test]
async fn a_copy_denying_the_import_cannot_leave_the_genuine_finding_unnoted() {
    let p = Pipeline::start().await;
    enable_hubs(&p.emulator, &[HOME, MEMBERS[0]], &[EAST]).await;
    let task = p.emulator.run_task_in(MEMBERS[0], EAST, "shop").await;
    let genuine = enriched(&p, &[alert_in("g", MEMBERS[0], EAST, &task, SHELL)]).await;
    assert_eq!(genuine.len(), 1);
    let denied = copy(&genuine[0], "denied", |v| {
        v["detail"]["securityhub"]["imported"] = json!(false);
    });
    let remediate = central(&p).await;
    assert!(remediate.process(&[denied], Some(HOME)).await.is_empty());
    assert!(remediate.process(&genuine, Some(HOME)).await.is_empty());
    assert_eq!(
        desired_status(&p.emulator, MEMBERS[0], EAST, &task).await,
        "STOPPED"
    );
    let found = hub_findings(&p.emulator, MEMBERS[0], EAST).await;
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0]
            .workflow()
            .and_then(|w| w.status())
            .map(|s| s.as_str()),
        Some("RESOLVED"),
        "{:?}",
        found[0].note()
    );
}
