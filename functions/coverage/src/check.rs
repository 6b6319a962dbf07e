//! The coverage decision, without AWS: which running task is covered, degraded or uncovered, and
//! the report per cluster and service.
//!
//! A task is **covered** when an agent watching it (its sidecar by task ARN, or a daemon on its
//! container instance or EC2 instance) reported within the grace period without sustained heavy
//! drops, or when GuardDuty has reported its cluster's runtime coverage healthy since before the
//! task started. It is **degraded** when the only agents reporting for it drop events heavily,
//! heartbeat after heartbeat; **starting** when nothing reports for it yet but it started within
//! the start-up grace (its sidecar's first heartbeat may still be on its way); **uncovered**
//! otherwise. An agent counts only for tasks of its own
//! sender's account, and only when that sender is trusted: a heartbeat vouches for nothing else.

use crate::heartbeat::Senders;
use crate::inventory::RunningTask;
use crate::store::AgentRecord;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

/// Task ARNs listed per service and state in a report, at most.
pub const MAX_LISTED_TASKS: usize = 100;

/// What the check needs besides the tasks.
#[derive(Debug, Clone)]
pub struct Rules<'a> {
    /// Who may vouch for tasks.
    pub senders: &'a Senders,
    /// The time of the check.
    pub now: DateTime<Utc>,
    /// How recent a heartbeat must be.
    pub grace: Duration,
    /// Heavy-drop heartbeats in a row that make an agent degraded.
    pub degraded_after: u32,
    /// How long a new task may run before its agent's first heartbeat.
    pub startup_grace: Duration,
}

/// A task's coverage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// An agent reports for it.
    ByAgent,
    /// GuardDuty Runtime Monitoring covers it.
    ByGuardDuty,
    /// Its agents report, dropping events heavily.
    Degraded,
    /// Nothing reports for it yet, and it started within the start-up grace.
    Starting,
    /// Nothing watches it.
    Uncovered,
}

/// One service (or a cluster's standalone tasks) in a report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceCoverage {
    /// The account.
    pub account: String,
    /// The region.
    pub region: String,
    /// The cluster's ARN.
    pub cluster_arn: String,
    /// The cluster's name.
    pub cluster: String,
    /// The service's name; `family:NAME` for tasks started outside a service by family,
    /// `standalone` for others.
    pub service: String,
    /// Tasks running.
    pub running: u64,
    /// Tasks covered (by an agent or GuardDuty).
    pub covered: u64,
    /// Of them, by GuardDuty alone.
    pub covered_by_guardduty: u64,
    /// Tasks nothing watches.
    pub uncovered: u64,
    /// Tasks whose agents drop events heavily.
    pub degraded: u64,
    /// Tasks started within the start-up grace that nothing reports for yet.
    #[serde(default)]
    pub starting: u64,
    /// The latest heartbeat of an agent watching one of its tasks, fresh or not.
    pub last_heartbeat: Option<DateTime<Utc>>,
    /// The versions of those agents (`kind version`).
    pub agent_versions: Vec<String>,
    /// The uncovered tasks (at most [`MAX_LISTED_TASKS`]).
    pub uncovered_tasks: Vec<String>,
    /// The degraded tasks (at most [`MAX_LISTED_TASKS`]).
    pub degraded_tasks: Vec<String>,
}

/// Totals over every service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Tasks running.
    pub running_tasks: u64,
    /// Tasks covered.
    pub covered_tasks: u64,
    /// Tasks nothing watches.
    pub uncovered_tasks: u64,
    /// Tasks whose agents drop events heavily.
    pub degraded_tasks: u64,
    /// Tasks started within the start-up grace that nothing reports for yet.
    #[serde(default)]
    pub starting_tasks: u64,
}

/// `service:NAME` → `NAME`; `family:NAME` as it is; nothing → `standalone`.
pub fn service_of(group: Option<&str>) -> String {
    match group {
        Some(g) => g.strip_prefix("service:").unwrap_or(g).to_owned(),
        None => "standalone".to_owned(),
    }
}

/// The `(account, region)` of an ARN.
pub fn account_region(arn: &str) -> (String, String) {
    let mut parts = arn.split(':');
    let region = parts.nth(3).unwrap_or_default().to_owned();
    let account = parts.next().unwrap_or_default().to_owned();
    (account, region)
}

fn cluster_name(arn: &str) -> String {
    arn.rsplit_once("cluster/")
        .map_or(arn, |(_, name)| name)
        .to_owned()
}

/// The agents that may vouch for tasks, indexed by what they watch.
struct Watchers<'a> {
    by_key: HashMap<&'a str, Vec<&'a AgentRecord>>,
}

impl<'a> Watchers<'a> {
    fn new(agents: &'a [AgentRecord], senders: &Senders) -> Self {
        let mut by_key: HashMap<&str, Vec<&AgentRecord>> = HashMap::new();
        for a in agents.iter().filter(|a| senders.trusts(&a.sender_account)) {
            let w = &a.watches;
            for key in [&w.task_arn, &w.container_instance_arn, &w.ec2_instance_id]
                .into_iter()
                .flatten()
            {
                by_key.entry(key.as_str()).or_default().push(a);
            }
        }
        Watchers { by_key }
    }

    /// The agents watching `task`, of its own account.
    fn of(&self, task: &RunningTask, account: &str) -> Vec<&'a AgentRecord> {
        let keys = [
            Some(&task.task_arn),
            task.container_instance_arn.as_ref(),
            task.ec2_instance_id.as_ref(),
        ];
        let mut seen = BTreeSet::new();
        keys.into_iter()
            .flatten()
            .filter_map(|k| self.by_key.get(k.as_str()))
            .flatten()
            .copied()
            .filter(|a| a.sender_account == account)
            .filter(|a| seen.insert((&a.sender_account, &a.agent_id)))
            .collect()
    }
}

/// The state of `task` given its watching `agents` and GuardDuty's healthy time for its cluster.
pub fn task_state(
    task: &RunningTask,
    agents: &[&AgentRecord],
    guardduty_since: Option<DateTime<Utc>>,
    rules: &Rules<'_>,
) -> TaskState {
    let grace = chrono::Duration::from_std(rules.grace).unwrap_or(chrono::Duration::MAX);
    let fresh: Vec<&&AgentRecord> = agents
        .iter()
        .filter(|a| a.seen_at >= rules.now - grace)
        .collect();
    if fresh.iter().any(|a| a.heavy_streak < rules.degraded_after) {
        return TaskState::ByAgent;
    }
    // A task started before GuardDuty reported its cluster healthy may run without its agent
    // (on Fargate, until it restarts): only later tasks are GuardDuty's.
    if let (Some(since), Some(started)) = (guardduty_since, task.started_at)
        && started >= since
    {
        return TaskState::ByGuardDuty;
    }
    if !fresh.is_empty() {
        return TaskState::Degraded;
    }
    let startup = chrono::Duration::from_std(rules.startup_grace).unwrap_or(chrono::Duration::MAX);
    match task.started_at {
        Some(started) if started > rules.now - startup => TaskState::Starting,
        _ => TaskState::Uncovered,
    }
}

/// The report rows, one per (account, region, cluster, service), in that order, and the totals.
pub fn evaluate(
    tasks: &[RunningTask],
    agents: &[AgentRecord],
    guardduty: &HashMap<String, DateTime<Utc>>,
    rules: &Rules<'_>,
) -> (Vec<ServiceCoverage>, Totals) {
    let watchers = Watchers::new(agents, rules.senders);
    let mut rows: BTreeMap<(String, String, String, String), ServiceCoverage> = BTreeMap::new();
    let mut versions: HashMap<(String, String, String, String), BTreeSet<String>> = HashMap::new();
    let mut totals = Totals::default();
    for task in tasks {
        let (account, region) = account_region(&task.task_arn);
        let service = service_of(task.group.as_deref());
        let key = (
            account.clone(),
            region.clone(),
            task.cluster_arn.clone(),
            service.clone(),
        );
        let watching = watchers.of(task, &account);
        let state = task_state(
            task,
            &watching,
            guardduty.get(&task.cluster_arn).copied(),
            rules,
        );
        let row = rows.entry(key.clone()).or_insert_with(|| ServiceCoverage {
            account,
            region,
            cluster: cluster_name(&task.cluster_arn),
            cluster_arn: task.cluster_arn.clone(),
            service,
            ..ServiceCoverage::default()
        });
        row.running += 1;
        totals.running_tasks += 1;
        for a in &watching {
            row.last_heartbeat = row.last_heartbeat.max(Some(a.seen_at));
            let version = a.version.as_deref().unwrap_or("unknown");
            versions
                .entry(key.clone())
                .or_default()
                .insert(format!("{} {version}", a.kind.as_str()));
        }
        let list = |l: &mut Vec<String>| {
            if l.len() < MAX_LISTED_TASKS {
                l.push(task.task_arn.clone());
            }
        };
        match state {
            TaskState::ByAgent | TaskState::ByGuardDuty => {
                row.covered += 1;
                totals.covered_tasks += 1;
                row.covered_by_guardduty += u64::from(state == TaskState::ByGuardDuty);
            }
            TaskState::Degraded => {
                row.degraded += 1;
                totals.degraded_tasks += 1;
                list(&mut row.degraded_tasks);
            }
            TaskState::Starting => {
                row.starting += 1;
                totals.starting_tasks += 1;
            }
            TaskState::Uncovered => {
                row.uncovered += 1;
                totals.uncovered_tasks += 1;
                list(&mut row.uncovered_tasks);
            }
        }
    }
    let rows = rows
        .into_iter()
        .map(|(key, mut row)| {
            row.agent_versions = versions.remove(&key).into_iter().flatten().collect();
            row
        })
        .collect();
    (rows, totals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heartbeat::{AgentKind, Watches};

    const ACCOUNT: &str = "123456789012";
    const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/prod";

    fn now() -> DateTime<Utc> {
        "2026-01-01T01:00:00Z".parse().unwrap()
    }

    fn task(id: &str, service: &str, started_min_ago: i64) -> RunningTask {
        RunningTask {
            task_arn: format!("arn:aws:ecs:us-east-1:{ACCOUNT}:task/prod/{id}"),
            cluster_arn: CLUSTER.into(),
            group: Some(format!("service:{service}")),
            started_at: Some(now() - chrono::Duration::minutes(started_min_ago)),
            container_instance_arn: None,
            ec2_instance_id: None,
            launch_type: Some("FARGATE".into()),
        }
    }

    fn agent(sender: &str, task: &RunningTask, seen_min_ago: i64, streak: u32) -> AgentRecord {
        AgentRecord {
            sender_account: sender.into(),
            agent_id: format!("sidecar-{}", task.task_arn),
            kind: AgentKind::Falco,
            version: Some("0.39.2".into()),
            watches: Watches {
                task_arn: Some(task.task_arn.clone()),
                ..Watches::default()
            },
            seen_at: now() - chrono::Duration::minutes(seen_min_ago),
            drop_ratio: None,
            heavy_streak: streak,
        }
    }

    fn senders() -> Senders {
        Senders {
            deploying: Some(ACCOUNT.into()),
            trusted: vec!["222222222222".into()],
        }
    }

    fn run(
        tasks: &[RunningTask],
        agents: &[AgentRecord],
        gd: &HashMap<String, DateTime<Utc>>,
    ) -> (Vec<ServiceCoverage>, Totals) {
        let senders = senders();
        let rules = Rules {
            senders: &senders,
            now: now(),
            grace: Duration::from_secs(600),
            degraded_after: 3,
            startup_grace: Duration::from_secs(120),
        };
        evaluate(tasks, agents, gd, &rules)
    }

    #[test]
    fn fresh_agents_cover_stale_and_missing_do_not_grouped_by_service() {
        let (a, b, c) = (
            task("a", "shop", 30),
            task("b", "shop", 30),
            task("c", "cart", 30),
        );
        let agents = [agent(ACCOUNT, &a, 2, 0), agent(ACCOUNT, &b, 11, 0)];
        let (rows, totals) = run(&[a.clone(), b.clone(), c.clone()], &agents, &HashMap::new());
        assert_eq!(
            (
                totals.running_tasks,
                totals.covered_tasks,
                totals.uncovered_tasks
            ),
            (3, 1, 2)
        );
        assert_eq!(rows.len(), 2);
        let shop = rows.iter().find(|r| r.service == "shop").unwrap();
        assert_eq!((shop.running, shop.covered, shop.uncovered), (2, 1, 1));
        assert_eq!(shop.uncovered_tasks, std::slice::from_ref(&b.task_arn));
        assert_eq!(
            shop.last_heartbeat,
            Some(now() - chrono::Duration::minutes(2))
        );
        assert_eq!(shop.agent_versions, ["falco 0.39.2"]);
        assert_eq!(shop.cluster, "prod");
        let cart = rows.iter().find(|r| r.service == "cart").unwrap();
        assert_eq!((cart.uncovered, cart.last_heartbeat), (1, None));
    }

    #[test]
    fn untrusted_or_foreign_senders_vouch_for_nothing() {
        let a = task("a", "shop", 30);
        for sender in ["999999999999", "222222222222"] {
            let (_, totals) = run(
                std::slice::from_ref(&a),
                &[agent(sender, &a, 1, 0)],
                &HashMap::new(),
            );
            assert_eq!(totals.uncovered_tasks, 1, "{sender}");
        }
    }

    #[test]
    fn sustained_heavy_drops_degrade_and_a_good_agent_still_covers() {
        let a = task("a", "shop", 30);
        let (rows, totals) = run(
            std::slice::from_ref(&a),
            &[agent(ACCOUNT, &a, 1, 3)],
            &HashMap::new(),
        );
        assert_eq!((totals.degraded_tasks, totals.covered_tasks), (1, 0));
        assert_eq!(rows[0].degraded_tasks, std::slice::from_ref(&a.task_arn));
        let (_, totals) = run(
            std::slice::from_ref(&a),
            &[agent(ACCOUNT, &a, 1, 2)],
            &HashMap::new(),
        );
        assert_eq!(
            totals.covered_tasks, 1,
            "two heavy heartbeats are not yet sustained"
        );
    }

    #[test]
    fn guardduty_covers_tasks_started_after_it_was_healthy() {
        let (old, new) = (task("old", "shop", 60), task("new", "shop", 5));
        let gd = HashMap::from([(CLUSTER.to_owned(), now() - chrono::Duration::minutes(30))]);
        let (rows, totals) = run(&[old.clone(), new], &[], &gd);
        assert_eq!((totals.covered_tasks, totals.uncovered_tasks), (1, 1));
        assert_eq!(rows[0].covered_by_guardduty, 1);
        assert_eq!(rows[0].uncovered_tasks, [old.task_arn]);
    }

    #[test]
    fn a_daemon_covers_the_tasks_on_its_instance() {
        let mut a = task("a", "shop", 30);
        a.container_instance_arn =
            Some("arn:aws:ecs:us-east-1:123456789012:container-instance/prod/ci1".into());
        a.ec2_instance_id = Some("i-0abc".into());
        let mut daemon = agent(ACCOUNT, &a, 1, 0);
        daemon.watches = Watches {
            ec2_instance_id: Some("i-0abc".into()),
            ..Watches::default()
        };
        let (_, totals) = run(std::slice::from_ref(&a), &[daemon], &HashMap::new());
        assert_eq!(totals.covered_tasks, 1);
    }

    #[test]
    fn a_new_task_waits_for_its_first_heartbeat_an_old_one_does_not() {
        let (new, old) = (task("new", "shop", 1), task("old", "shop", 3));
        let (rows, totals) = run(&[new, old.clone()], &[], &HashMap::new());
        assert_eq!((totals.starting_tasks, totals.uncovered_tasks), (1, 1));
        assert_eq!(rows[0].uncovered_tasks, std::slice::from_ref(&old.task_arn));
    }

    #[test]
    fn names() {
        assert_eq!(service_of(Some("service:shop")), "shop");
        assert_eq!(service_of(Some("family:batch")), "family:batch");
        assert_eq!(service_of(None), "standalone");
        assert_eq!(
            account_region("arn:aws:ecs:eu-west-1:123456789012:task/c/t"),
            ("123456789012".into(), "eu-west-1".into())
        );
        assert_eq!(cluster_name(CLUSTER), "prod");
    }
}
