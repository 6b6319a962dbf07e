//! Coverage on the local pipeline and a deployed stack: the check run as its schedule runs it (the
//! coverage function's own handler, invoked with a `Scheduled Event`), the last report read back,
//! and both rendered as `vigil coverage` prints them.

use crate::{ACCOUNT, LocalPipeline};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use vigil_coverage::{Clients, Coverage, CoverageSettings, Report};
use vigil_testkit::Emulator;

/// The coverage function's logical id in the template.
pub const COVERAGE: &str = "CoverageFunction";

/// What a run's summary says of coverage (`--json`: under `coverage`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CoverageSummary {
    /// Tasks running in the checked clusters.
    pub running_tasks: u64,
    /// Tasks an agent or GuardDuty watches.
    pub covered_tasks: u64,
    /// Tasks nothing watches.
    pub uncovered_tasks: u64,
    /// Tasks whose agents drop events heavily.
    pub degraded_tasks: u64,
    /// Tasks started within the start-up grace that nothing reports for yet.
    pub starting_tasks: u64,
    /// Coverage findings active in Security Hub.
    pub findings: u64,
    /// Per service: running, covered, uncovered, last heartbeat, agent versions.
    pub services: Vec<Value>,
}

impl CoverageSummary {
    /// The summary of a check's report.
    pub fn of(report: &Report) -> Self {
        let t = &report.totals;
        CoverageSummary {
            running_tasks: t.running_tasks,
            covered_tasks: t.covered_tasks,
            uncovered_tasks: t.uncovered_tasks,
            degraded_tasks: t.degraded_tasks,
            starting_tasks: t.starting_tasks,
            findings: report.findings.active,
            services: report
                .services
                .iter()
                .map(|s| {
                    json!({"cluster": s.cluster, "service": s.service, "running": s.running,
                           "covered": s.covered, "uncovered": s.uncovered, "degraded": s.degraded,
                           "last_heartbeat": s.last_heartbeat, "agent_versions": s.agent_versions})
                })
                .collect(),
        }
    }
}

/// The settings the template gives the coverage function, for `table` and `bus`, checking
/// `clusters` (all when empty).
fn settings(
    env: &BTreeMap<String, String>,
    table: &str,
    bus: &str,
    clusters: &[String],
) -> Result<CoverageSettings, String> {
    let mut env = env.clone();
    env.insert("TABLE_NAME".into(), table.to_owned());
    env.insert("EVENT_BUS_NAME".into(), bus.to_owned());
    env.insert("ACCOUNT_ID".into(), ACCOUNT.to_owned());
    let mut s =
        CoverageSettings::from_lookup(|k| env.get(k).cloned()).map_err(|e| e.to_string())?;
    s.clusters = clusters.to_vec();
    // A local run's tasks started seconds ago: the check reports an unwatched one at once instead
    // of waiting the start-up grace for its agent.
    s.startup_grace = std::time::Duration::ZERO;
    Ok(s)
}

/// Runs the check with `coverage`'s handler, as the schedule invokes it.
async fn scheduled_check(coverage: &Coverage) -> Result<Report, String> {
    let event = json!({"version": "0", "id": "vigil-coverage-check", "source": "aws.events",
        "detail-type": vigil_coverage::SCHEDULED_EVENT, "account": ACCOUNT, "region": "us-east-1",
        "time": chrono::Utc::now().to_rfc3339(), "resources": [], "detail": {}});
    let arn = format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:vigil-coverage");
    let out = vigil_lambda::invoke_json(|e| coverage.handle(e), event, &arn)
        .await
        .map_err(|e| format!("coverage check: {e}"))?;
    serde_json::from_value(out).map_err(|e| format!("coverage report: {e}"))
}

impl LocalPipeline {
    /// The coverage check over `clusters` (every cluster when empty), as the schedule runs it.
    pub async fn check_coverage(&self, clusters: &[String]) -> Result<Report, String> {
        let stack = self.stack();
        let s = settings(
            &stack.function_env(COVERAGE),
            &stack.table_name,
            &stack.bus_name,
            clusters,
        )?;
        let coverage = Coverage::from_env(s, self.sdk()).without_metrics();
        scheduled_check(&coverage).await
    }
}

/// `vigil coverage --endpoint URL`: the check, now, against the local pipeline on the emulator at
/// `endpoint`: its table `table`, else the table of the latest run there (`vigil-…`).
pub async fn check_at(endpoint: &str, table: Option<String>) -> Result<Report, String> {
    let emulator = Emulator::connect(endpoint)?;
    let sdk = emulator.sdk_config().await;
    let table = match table {
        Some(t) => t,
        None => latest_table(&sdk).await?,
    };
    let stack = vigil_stack::Stack::load(
        vigil_stack::Stack::repo_template(),
        &vigil_stack::Options::default(),
    )
    .map_err(|e| e.to_string())?;
    let env = stack
        .functions
        .get(COVERAGE)
        .map(|f| f.environment.clone())
        .unwrap_or_default();
    let bus = env.get("EVENT_BUS_NAME").cloned().unwrap_or_default();
    let coverage = Coverage::new(
        Clients::from_sdk(&sdk),
        settings(&env, &table, &bus, &[])?,
        "us-east-1",
    )
    .without_metrics();
    scheduled_check(&coverage).await
}

/// The newest local run's table: run tables are named `vigil-<milliseconds in hex>`.
async fn latest_table(sdk: &aws_config::SdkConfig) -> Result<String, String> {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let mut names = Vec::new();
    let mut start = None;
    loop {
        let out = ddb
            .list_tables()
            .set_exclusive_start_table_name(start)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "ListTables: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                )
            })?;
        names.extend(out.table_names().iter().cloned());
        start = out.last_evaluated_table_name().map(str::to_owned);
        if start.is_none() {
            break;
        }
    }
    names
        .into_iter()
        .filter(|n| n.starts_with("vigil"))
        .max_by_key(|n| (n.len(), n.clone()))
        .ok_or_else(|| {
            "no Vigil table on this emulator: run `vigil demo --endpoint URL` first".into()
        })
}

/// `vigil coverage --aws --stack NAME`: the last report the deployed coverage function kept.
pub async fn deployed_report(stack_name: &str) -> Result<Report, String> {
    let sdk = aws_config::load_from_env().await;
    let stack = crate::deployed::DeployedStack::describe(&sdk, stack_name).await?;
    let store = vigil_coverage::store::CoverageStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        stack.table_name.clone(),
    );
    let text = store
        .report()
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!("stack {stack_name}: no coverage check has run yet (it runs on its schedule)")
        })?;
    serde_json::from_str(&text).map_err(|e| format!("the stored coverage report: {e}"))
}

/// A report as a table per cluster and service.
pub fn render(report: &Report) -> String {
    let t = &report.totals;
    let mut out = format!(
        "coverage at {} (grace {} s, GuardDuty {})\n{} running tasks: {} covered, {} uncovered, {} degraded, {} starting; {} findings active, {} resolved\n",
        report
            .checked_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        report.grace_seconds,
        report.guardduty,
        t.running_tasks,
        t.covered_tasks,
        t.uncovered_tasks,
        t.degraded_tasks,
        t.starting_tasks,
        report.findings.active,
        report.findings.resolved
    );
    out.push_str(&format!(
        "{:<24} {:<20} {:>7} {:>7} {:>9} {:>8}  {:<20} {}\n",
        "CLUSTER",
        "SERVICE",
        "RUNNING",
        "COVERED",
        "UNCOVERED",
        "DEGRADED",
        "LAST HEARTBEAT",
        "AGENTS"
    ));
    for s in &report.services {
        out.push_str(&format!(
            "{:<24} {:<20} {:>7} {:>7} {:>9} {:>8}  {:<20} {}\n",
            s.cluster,
            s.service,
            s.running,
            s.covered,
            s.uncovered,
            s.degraded,
            s.last_heartbeat
                .map(|h| h.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_else(|| "never".into()),
            if s.agent_versions.is_empty() {
                "-".to_owned()
            } else {
                s.agent_versions.join(", ")
            }
        ));
    }
    for e in &report.errors {
        out.push_str(&format!("error: {e}\n"));
    }
    out
}
