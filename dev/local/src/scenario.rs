//! The demo's world and what happens in it: a cluster with a web service, a database service and a
//! protected payments service, and a realistic burst: repeated shell alerts from Falco, a GuardDuty
//! crypto-mining finding, a Sysdig event about a task the cluster does not have, an outbound
//! connection from the database, a GuardDuty attack sequence on a database task (whose stop is
//! proposed, then approved from Security Hub), and junk. Runtime agents send heartbeats for every
//! task but those of a `legacy` service that runs without one, which the coverage check reports.

use crate::{LocalPipeline, RunOptions, Summary};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use vigil_playbook::PlaybookFile;
use vigil_remediate::RemediationMode;
use vigil_testkit::events::FalcoAlert;

const GUARDDUTY: &str = include_str!("../../../samples/guardduty-ecs-runtime.json");
const SYSDIG: &str = include_str!("../../../samples/sysdig-runtime-policy.json");
const SEQUENCE: &str = include_str!("../../../samples/guardduty-attack-sequence-ecs.json");
/// The sample sequence's first task and its web container; the others are left out.
const SEQUENCE_TASK: &str = "0a1b2c3d4e5f40718293a4b5c6d7e8f9";
const SEQUENCE_CONTAINER: &str = "3e1f6a2b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";
const SEQUENCE_OTHERS: [&str; 3] = [
    "1b2c3d4e5f60718293a4b5c6d7e8f90a",
    "2c3d4e5f60718293a4b5c6d7e8f90a1b",
    "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f3e1f6a2b9c8d7e6f5a4b3c2d1e0f",
];
/// The playbooks the function deploys with.
pub const SHIPPED_PLAYBOOKS: &str = include_str!("../../../playbooks/vigil/playbooks.yaml");

/// The tasks the scenario's events are about.
pub struct World {
    /// The cluster's ARN.
    pub cluster: String,
    /// Task ARNs of service `shop` (3 tasks; the service is tagged `team=web`).
    pub shop: Vec<String>,
    /// Task ARNs of service `db` (2 tasks).
    pub db: Vec<String>,
    /// Task ARNs of service `payments` (2 tasks; the service is tagged `vigil:protected=true`).
    pub payments: Vec<String>,
    /// The runtime id of the `app` container of the second database task (the attack sequence's).
    pub db_runtime_id: String,
    /// Task ARNs of service `legacy` (2 tasks), which runs without a runtime agent.
    pub legacy: Vec<String>,
}

/// Creates the scenario's cluster, task definitions and services on the emulator.
pub async fn build_world(p: &LocalPipeline) -> World {
    let e = p.emulator();
    // `vigil-demo`; in an emulator shared with other runs, this run's own cluster.
    let cluster = e
        .create_cluster(&format!("{}-demo", p.stack().stack.name))
        .await;
    let shop_td = e
        .register_task_definition("shop", &[("app", "public.ecr.aws/demo/shop:3")])
        .await;
    let db_td = e
        .register_task_definition(
            "db",
            &[("app", "public.ecr.aws/docker/library/postgres:16")],
        )
        .await;
    let pay_td = e
        .register_task_definition("payments", &[("app", "public.ecr.aws/demo/payments:7")])
        .await;
    let shop = e
        .create_service(&cluster, "shop", &shop_td, 3, &[("team", "web")])
        .await;
    let db = e.create_service(&cluster, "db", &db_td, 2, &[]).await;
    let payments = e
        .create_service(
            &cluster,
            "payments",
            &pay_td,
            2,
            &[("vigil:protected", "true")],
        )
        .await;
    let db_runtime_id = e.runtime_id(&cluster, &db[1], "app").await;
    let legacy_td = e
        .register_task_definition("legacy", &[("app", "public.ecr.aws/demo/legacy:1")])
        .await;
    let legacy = e
        .create_service(&cluster, "legacy", &legacy_td, 2, &[])
        .await;
    World {
        cluster,
        shop,
        db,
        payments,
        db_runtime_id,
        legacy,
    }
}

/// The documented GuardDuty attack sequence, about the second database task only.
fn attack_sequence(w: &World) -> Value {
    let account = crate::ACCOUNT;
    let task_id = w.db[1].rsplit('/').next().unwrap_or_default();
    let text = SEQUENCE
        .replace("111122223333", account)
        .replace("us-west-2", "us-east-1")
        .replace(
            &format!("arn:aws:ecs:us-east-1:{account}:cluster/shop-prod"),
            &w.cluster,
        )
        .replace(
            &format!("arn:aws:ecs:us-east-1:{account}:task/shop-prod/{SEQUENCE_TASK}"),
            &w.db[1],
        )
        .replace(SEQUENCE_TASK, task_id)
        .replace(SEQUENCE_CONTAINER, &w.db_runtime_id);
    let mut v: Value = serde_json::from_str(&text).expect("the sequence sample is JSON");
    let names_other = |v: &Value| {
        let t = v.to_string();
        SEQUENCE_OTHERS.iter().any(|o| t.contains(o))
    };
    let sequence = &mut v["detail"]["service"]["detection"]["sequence"];
    if let Some(resources) = sequence["resources"].as_array_mut() {
        resources.retain(|r| !names_other(r));
    }
    if let Some(signals) = sequence["signals"].as_array_mut() {
        for signal in signals {
            if let Some(uids) = signal["resourceUids"].as_array_mut() {
                uids.retain(|u| !names_other(u));
            }
        }
    }
    // Seen just now.
    let now = now();
    fn refresh(v: &mut Value, now: &str) {
        match v {
            Value::String(s) if s.starts_with("2025-") => *s = now.to_owned(),
            Value::Array(a) => a.iter_mut().for_each(|x| refresh(x, now)),
            Value::Object(o) => o.values_mut().for_each(|x| refresh(x, now)),
            _ => {}
        }
    }
    refresh(&mut v["detail"], &now);
    json!({"source": "aws.guardduty", "detail-type": "GuardDuty Finding", "detail": v["detail"]})
}

/// A random UUID, as falcosidekick gives each alert.
fn uuid() -> String {
    let (a, b) = (fastrand::u64(..), fastrand::u64(..));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// A Falco alert from the `app` container of `task`, as the Falco forwarder sends it, with a
/// falcosidekick uuid of its own (a copy of this event is a redelivery of it).
pub fn falco(cluster: &str, task: &str, rule: &str, priority: &str, n: usize) -> Value {
    FalcoAlert::sample()
        .rule(rule)
        .priority(priority)
        .uuid(&uuid())
        .seen_now()
        .on_task(cluster, task)
        .pid(1000 + n as u64)
        .entry()
}

/// A runtime sidecar's `Agent Heartbeat` for `task` (schemas/agent-heartbeat.schema.json).
pub fn heartbeat(cluster: &str, task: &str) -> Value {
    json!({"source": "acme.runtime-sidecar", "detail-type": "Agent Heartbeat",
           "detail": {"schema_version": 1, "agent_id": format!("{task}/falco"), "kind": "falco",
                      "version": "0.39.2", "watches": {"task_arn": task, "cluster": cluster},
                      "drops": {"events": 120_000, "dropped": 0}, "time": now()}})
}

/// Falco's own metrics snapshot from the sidecar of `task`, as its forwarder puts it on the bus.
fn falco_metrics(cluster: &str, task: &str) -> Value {
    json!({"source": "falco", "detail-type": "Falco Alert",
           "detail": {"rule": "Falco internal: metrics snapshot", "priority": "Informational",
                      "output": "Falco metrics snapshot", "source": "internal", "time": now(),
                      "output_fields": {"falco.version": "0.39.2", "scap.n_drops_perc": 0.0,
                                        "container.label.com.amazonaws.ecs.task-arn": task,
                                        "container.label.com.amazonaws.ecs.cluster": cluster}}})
}

/// The agents' telemetry: a heartbeat from every task's sidecar but the `legacy` service's, and
/// one Falco metrics snapshot.
pub fn telemetry(w: &World) -> Vec<Value> {
    let mut out: Vec<Value> = [&w.shop, &w.db, &w.payments]
        .into_iter()
        .flatten()
        .map(|t| heartbeat(&w.cluster, t))
        .collect();
    out.push(falco_metrics(&w.cluster, &w.shop[0]));
    out
}

/// The scenario's events, in the order they are put on the buses.
pub fn events(w: &World) -> Vec<Value> {
    let mut out = telemetry(w);
    // A burst: the same shell, seen 12 times on one web task.
    for n in 0..12 {
        out.push(falco(
            &w.cluster,
            &w.shop[0],
            "Terminal shell in container",
            "Notice",
            n,
        ));
    }
    // The same rule on the protected payments service: refused.
    for n in 0..3 {
        out.push(falco(
            &w.cluster,
            &w.payments[0],
            "Terminal shell in container",
            "Notice",
            n,
        ));
    }
    // The database opens an outbound connection: tagged for forensics, not stopped.
    for n in 0..2 {
        out.push(falco(
            &w.cluster,
            &w.db[0],
            "Unexpected outbound connection destination",
            "Warning",
            n,
        ));
    }
    // GuardDuty sees crypto mining on another web task.
    let mut gd: Value = serde_json::from_str(GUARDDUTY).expect("the GuardDuty sample is JSON");
    let d = &mut gd["detail"];
    d["type"] = json!("CryptoCurrency:Runtime/BitcoinDomainRequest.Reputation");
    d["accountId"] = json!(crate::ACCOUNT);
    d["region"] = json!("us-east-1");
    d["resource"]["ecsClusterDetails"]["arn"] = json!(w.cluster);
    d["resource"]["ecsClusterDetails"]["name"] = json!("vigil-demo");
    d["resource"]["ecsClusterDetails"]["taskDetails"]["arn"] = json!(w.shop[1]);
    d["resource"]["ecsClusterDetails"]["taskDetails"]["group"] = json!("service:shop");
    // The sample's container runtime id belongs to no emulated task: the finding names none.
    if let Some(containers) =
        d["resource"]["ecsClusterDetails"]["taskDetails"]["containers"].as_array_mut()
    {
        for c in containers {
            if let Some(c) = c.as_object_mut() {
                c.remove("id");
            }
        }
    }
    for at in ["createdAt", "updatedAt"] {
        d[at] = json!(now());
    }
    for at in ["eventFirstSeen", "eventLastSeen"] {
        d["service"][at] = json!(now());
    }
    out.push(json!({"source": "aws.guardduty", "detail-type": "GuardDuty Finding", "detail": gd["detail"]}));
    // GuardDuty correlates an attack sequence on a database task: its stop is proposed.
    out.push(attack_sequence(w));
    // Sysdig, about a task in another account's cluster that this emulator does not have.
    let sysdig: Value = serde_json::from_str(SYSDIG).expect("the Sysdig sample is JSON");
    out.push(json!({"source": "sysdig", "detail-type": sysdig["detail-type"], "detail": sysdig["detail"]}));
    // Junk: no priority; an unknown priority.
    let mut junk = falco(
        &w.cluster,
        &w.shop[2],
        "Terminal shell in container",
        "Notice",
        0,
    );
    junk["detail"]
        .as_object_mut()
        .expect("detail")
        .remove("priority");
    out.push(junk);
    out.push(falco(
        &w.cluster,
        &w.shop[2],
        "Terminal shell in container",
        "Urgent",
        1,
    ));
    out
}

/// Requests per service (`dynamodb`, `ecs`, `securityhub`, `events`) between two readings of the
/// emulator's counts; empty when the emulator does not count (plain `moto_server`).
fn per_service(
    before: Option<vigil_testkit::ApiCalls>,
    after: Option<vigil_testkit::ApiCalls>,
) -> BTreeMap<String, u64> {
    let (Some(before), Some(after)) = (before, after) else {
        return BTreeMap::new();
    };
    let total = |calls: &vigil_testkit::ApiCalls, s: &str| -> u64 {
        calls.get(s).map(|ops| ops.values().sum()).unwrap_or(0)
    };
    ["dynamodb", "ecs", "securityhub", "events"]
        .into_iter()
        .map(|s| {
            (
                s.to_owned(),
                total(&after, s).saturating_sub(total(&before, s)),
            )
        })
        .collect()
}

/// Where a run's AWS APIs are.
#[derive(Debug, Clone, Default)]
pub enum Emulated {
    /// An emulator of its own, started for the run and stopped when it ends.
    #[default]
    Own,
    /// An emulator already running at this endpoint (`--endpoint URL`).
    At(String),
}

/// Starts the emulator (or connects to one), provisions it from the template, runs `events` (built
/// against the world) through the pipeline until the queues are quiet, and reads back the summary.
/// An emulator of its own stops when this returns (its process is killed on drop, and exits by
/// itself if this process dies).
pub async fn run(
    mode: RemediationMode,
    playbooks: PlaybookFile,
    emulated: &Emulated,
    events: impl FnOnce(Option<&World>) -> Vec<Value>,
    with_world: bool,
    report: impl FnMut(&crate::Progress),
) -> Result<Summary, String> {
    run_approving(mode, playbooks, emulated, events, with_world, false, report).await
}

/// [`run`], then, when `approve` is set, an analyst's approval of every GuardDuty finding that has
/// a stop awaiting approval (the Security Hub custom action's event on the default bus), relayed
/// until quiet again.
pub async fn run_approving(
    mode: RemediationMode,
    playbooks: PlaybookFile,
    emulated: &Emulated,
    events: impl FnOnce(Option<&World>) -> Vec<Value>,
    with_world: bool,
    approve: bool,
    mut report: impl FnMut(&crate::Progress),
) -> Result<Summary, String> {
    let started = Instant::now();
    let options = RunOptions::new(mode, playbooks);
    let mut p = match emulated {
        Emulated::Own => LocalPipeline::start(options).await?,
        Emulated::At(endpoint) => LocalPipeline::connect(endpoint, options).await?,
    };
    let world = if with_world {
        Some(build_world(&p).await)
    } else {
        None
    };
    let events = events(world.as_ref());
    p.deploy_members(&events).await?;
    let sent = p.put_events(&events).await?;
    let before = p.emulator().try_api_calls();
    p.run_until_quiet(Duration::from_millis(300), &mut report)
        .await?;
    if approve {
        let awaiting = p.awaiting_approval().await?;
        // The analyst sees GuardDuty's own finding in Security Hub, and approves that.
        let selected: Vec<(String, String, String)> = awaiting
            .into_iter()
            .filter(|(_, product, _)| product.ends_with("::product/aws/guardduty"))
            .collect();
        if !selected.is_empty() {
            p.approve(&selected).await?;
            p.run_until_quiet(Duration::from_millis(300), &mut report)
                .await?;
        }
    }
    // The coverage check, as its schedule runs it, over this run's cluster.
    let coverage = match &world {
        Some(w) => Some(p.check_coverage(std::slice::from_ref(&w.cluster)).await?),
        None => None,
    };
    let calls = per_service(before, p.emulator().try_api_calls());
    let mut summary = p
        .summary(sent as u64, calls, started.elapsed().as_secs_f64())
        .await?;
    summary.coverage = coverage.as_ref().map(crate::coverage::CoverageSummary::of);
    Ok(summary)
}

/// `vigil demo`.
pub async fn demo(
    mode: RemediationMode,
    emulated: &Emulated,
    report: impl FnMut(&crate::Progress),
) -> Result<Summary, String> {
    let playbooks = PlaybookFile::parse(SHIPPED_PLAYBOOKS).map_err(|e| e.to_string())?;
    run_approving(
        mode,
        playbooks,
        emulated,
        |w| events(w.expect("the demo builds its world")),
        true,
        true,
        report,
    )
    .await
}
