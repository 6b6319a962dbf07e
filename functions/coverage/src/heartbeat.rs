//! Agent telemetry read as heartbeats: the documented `Agent Heartbeat` event
//! (`schemas/agent-heartbeat.schema.json`) any agent or sidecar may put on the agent bus, and
//! Falco's own `Falco internal: …` events (drop alerts, metrics snapshots), read by the adapters.
//!
//! Who sent a heartbeat is the account EventBridge stamped on the envelope, never the payload: a
//! heartbeat vouches only for workloads of its sender's own account, and only a trusted sender's
//! heartbeat is recorded at all.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use vigil_adapters::{AgentStatus, Channel, ParseContext, SourceEvent, arn::TaskArn};
use vigil_model::text::clean;

/// The `detail-type` of the documented heartbeat event.
pub const DETAIL_TYPE: &str = "Agent Heartbeat";
/// The heartbeat detail's schema version.
pub const SCHEMA_VERSION: u32 = 1;
/// Most characters of an agent id.
pub const MAX_AGENT_ID: usize = 256;

/// The kind of agent that sent a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentKind {
    /// Falco (its internal events, or a forwarder's heartbeat).
    Falco,
    /// Sysdig's agent.
    Sysdig,
    /// Any other agent or sidecar sending the documented shape.
    Custom,
}

impl AgentKind {
    /// The kind as records name it.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentKind::Falco => "falco",
            AgentKind::Sysdig => "sysdig",
            AgentKind::Custom => "custom",
        }
    }

    /// The kind a record names; an unknown name is `custom`.
    pub fn parse(s: &str) -> AgentKind {
        match s {
            "falco" => AgentKind::Falco,
            "sysdig" => AgentKind::Sysdig,
            _ => AgentKind::Custom,
        }
    }
}

/// What an agent watches: a task (a sidecar), or a container instance or EC2 instance (a daemon),
/// with the cluster, account and region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Watches {
    /// The ECS task ARN a sidecar runs in.
    pub task_arn: Option<String>,
    /// The ECS container instance ARN a daemon runs on.
    pub container_instance_arn: Option<String>,
    /// The EC2 instance id a daemon runs on (`i-…`).
    pub ec2_instance_id: Option<String>,
    /// The ECS cluster, name or ARN.
    pub cluster: Option<String>,
    /// The workload's account; must be the sender's.
    pub account: Option<String>,
    /// The workload's region.
    pub region: Option<String>,
}

/// Event drop counters since the agent's previous heartbeat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drops {
    /// Events the agent saw.
    pub events: Option<u64>,
    /// Events it dropped.
    pub dropped: Option<u64>,
    /// The share of events dropped, 0–1, when the agent reports a ratio rather than counts.
    pub ratio: Option<f64>,
}

impl Drops {
    /// The share of events dropped (0–1), from the ratio, else the counts; `None` when unknown.
    pub fn ratio(&self) -> Option<f64> {
        let from_counts = match (self.dropped, self.events) {
            (Some(d), Some(e)) if d + e > 0 => Some(d as f64 / (d.max(e)) as f64),
            _ => None,
        };
        self.ratio
            .filter(|r| r.is_finite())
            .map(|r| r.clamp(0.0, 1.0))
            .or(from_counts)
    }
}

/// The `detail` of an `Agent Heartbeat` event, as documented.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentHeartbeat {
    /// Always 1.
    pub schema_version: u32,
    /// The agent's id, stable across its restarts (e.g. its task ARN and container name).
    pub agent_id: String,
    /// `falco`, `sysdig` or `custom`.
    pub kind: AgentKind,
    /// The agent's version.
    pub version: Option<String>,
    /// What it watches.
    pub watches: Watches,
    /// Drop counters since its previous heartbeat.
    pub drops: Option<Drops>,
    /// When the agent sent it (RFC 3339).
    pub time: DateTime<Utc>,
}

/// A heartbeat, read and attributed to its sender.
#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    /// The account EventBridge stamped: who sent it.
    pub sender_account: String,
    /// The agent's id, cleaned.
    pub agent_id: String,
    /// The agent's kind.
    pub kind: AgentKind,
    /// Its version.
    pub version: Option<String>,
    /// What it watches (account settled to the sender's).
    pub watches: Watches,
    /// The share of events dropped, when reported.
    pub drop_ratio: Option<f64>,
    /// When it was sent, never later than when it was received.
    pub seen_at: DateTime<Utc>,
}

/// Why a message is not a heartbeat Vigil records; published as `Event Rejected` with [`Self::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not JSON, not an EventBridge event, or a detail that does not follow the schema.
    #[error("{path}: {reason}")]
    Malformed {
        /// Where (a JSON path).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// An event that is neither an `Agent Heartbeat` nor one of Falco's own.
    #[error("$: {0}")]
    NotAHeartbeat(String),
    /// The sender account is neither the deploying account nor a trusted one.
    #[error("account: the sender account {0} is not trusted (TRUSTED_ACCOUNTS)")]
    UntrustedSender(String),
    /// The heartbeat names a workload of another account than its sender's.
    #[error("detail.watches: names account {named}, not its sender's ({sender})")]
    ForeignWorkload {
        /// The sender account.
        sender: String,
        /// The account the heartbeat named.
        named: String,
    },
}

impl Refusal {
    /// The `Event Rejected` code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Malformed { .. } => "malformed_heartbeat",
            Refusal::NotAHeartbeat(_) => "not_a_heartbeat",
            Refusal::UntrustedSender(_) => "untrusted_sender",
            Refusal::ForeignWorkload { .. } => "foreign_workload",
        }
    }

    fn malformed(path: &str, reason: impl Into<String>) -> Refusal {
        Refusal::Malformed {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Who may send heartbeats: the deploying account and `TRUSTED_ACCOUNTS`.
#[derive(Debug, Clone, Default)]
pub struct Senders {
    /// The deploying account, when known.
    pub deploying: Option<String>,
    /// Other trusted accounts.
    pub trusted: Vec<String>,
}

impl Senders {
    /// Whether `account` may send heartbeats.
    pub fn trusts(&self, account: &str) -> bool {
        self.deploying.as_deref() == Some(account) || self.trusted.iter().any(|t| t == account)
    }
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The account an ARN names (`arn:PARTITION:SERVICE:REGION:ACCOUNT:…`).
fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| is_account(a))
}

/// Reads one message of the coverage queue (an EventBridge event) as a heartbeat of a trusted
/// sender, received at `now`.
pub fn read(body: &str, senders: &Senders, now: DateTime<Utc>) -> Result<Heartbeat, Refusal> {
    let event: Value = serde_json::from_str(body)
        .map_err(|e| Refusal::malformed("$", format!("not JSON: {e}")))?;
    let text = |k: &str| event.get(k).and_then(Value::as_str);
    let (Some(detail_type), Some(source)) = (text("detail-type"), text("source")) else {
        return Err(Refusal::malformed(
            "$",
            "not an EventBridge event (no source or detail-type)",
        ));
    };
    // The agent rules pass no AWS or Vigil source; anything else claiming one is forged.
    if source.starts_with("aws.") || source == vigil_contract::SOURCE {
        return Err(Refusal::NotAHeartbeat(format!(
            "source {source:?} is not an agent's"
        )));
    }
    let sender = text("account")
        .filter(|a| is_account(a))
        .ok_or_else(|| Refusal::malformed("account", "no 12-digit sender account"))?
        .to_owned();
    if !senders.trusts(&sender) {
        return Err(Refusal::UntrustedSender(sender));
    }
    let heartbeat = if detail_type == DETAIL_TYPE {
        documented(&event, sender, now)?
    } else {
        falco_internal(body, sender, now)?
    };
    settle_account(heartbeat)
}

/// The documented shape.
fn documented(event: &Value, sender: String, now: DateTime<Utc>) -> Result<Heartbeat, Refusal> {
    let detail = event
        .get("detail")
        .ok_or_else(|| Refusal::malformed("detail", "missing"))?;
    let hb: AgentHeartbeat = serde_json::from_value(detail.clone())
        .map_err(|e| Refusal::malformed("detail", e.to_string()))?;
    if hb.schema_version != SCHEMA_VERSION {
        return Err(Refusal::malformed(
            "detail.schema_version",
            format!("{} is not {SCHEMA_VERSION}", hb.schema_version),
        ));
    }
    let agent_id = clean(&hb.agent_id, MAX_AGENT_ID, false);
    if agent_id.is_empty() {
        return Err(Refusal::malformed("detail.agent_id", "empty"));
    }
    let w = &hb.watches;
    if w.task_arn.is_none() && w.container_instance_arn.is_none() && w.ec2_instance_id.is_none() {
        return Err(Refusal::malformed(
            "detail.watches",
            "names no task_arn, container_instance_arn or ec2_instance_id",
        ));
    }
    if let Some(t) = &w.task_arn
        && TaskArn::parse(t).is_none()
    {
        return Err(Refusal::malformed(
            "detail.watches.task_arn",
            "not an ECS task ARN",
        ));
    }
    Ok(Heartbeat {
        sender_account: sender,
        agent_id,
        kind: hb.kind,
        version: hb.version.map(|v| clean(&v, 64, false)),
        watches: cleaned(&hb.watches),
        drop_ratio: hb.drops.and_then(|d| d.ratio()),
        seen_at: hb.time.min(now),
    })
}

fn cleaned(w: &Watches) -> Watches {
    let c = |s: &Option<String>| {
        s.as_deref()
            .map(|v| clean(v, 1024, false))
            .filter(|v| !v.is_empty())
    };
    Watches {
        task_arn: c(&w.task_arn),
        container_instance_arn: c(&w.container_instance_arn),
        ec2_instance_id: c(&w.ec2_instance_id),
        cluster: c(&w.cluster),
        account: c(&w.account),
        region: c(&w.region),
    }
}

/// One of Falco's own events, read by the adapters (the same reading ingest logs).
fn falco_internal(body: &str, sender: String, now: DateTime<Utc>) -> Result<Heartbeat, Refusal> {
    let ctx = ParseContext {
        channel: Channel::EventBridge,
        ..Default::default()
    };
    match vigil_adapters::parse_delivery(body.as_bytes(), &ctx) {
        Ok(d) => match d.event {
            SourceEvent::AgentStatus(s) => Ok(from_status(&s, sender, now)),
            _ => Err(Refusal::NotAHeartbeat(
                "neither an Agent Heartbeat nor one of Falco's own events".into(),
            )),
        },
        Err(e) => Err(Refusal::malformed(&e.path, e.to_string())),
    }
}

fn from_status(s: &AgentStatus, sender: String, now: DateTime<Utc>) -> Heartbeat {
    // A sidecar is named by its task; a daemon by its host.
    let agent_id = s
        .task_arn
        .as_deref()
        .or(s.host.as_deref())
        .or(s.container_id.as_deref())
        .map(|id| format!("falco:{id}"))
        .unwrap_or_else(|| "falco:unknown".into());
    let d = &s.drops;
    let drops = Drops {
        events: d.n_evts,
        dropped: d.n_drops,
        ratio: d.n_drops_perc.map(|p| p / 100.0),
    };
    Heartbeat {
        sender_account: sender,
        agent_id: clean(&agent_id, MAX_AGENT_ID, false),
        kind: AgentKind::Falco,
        version: s.agent_version.clone(),
        watches: Watches {
            task_arn: s.task_arn.clone(),
            cluster: s.cluster.clone(),
            account: s
                .task_arn
                .as_deref()
                .and_then(TaskArn::parse)
                .map(|t| t.account.to_owned()),
            region: s.region.clone(),
            ..Watches::default()
        },
        drop_ratio: drops.ratio(),
        seen_at: s.observed_at.unwrap_or(now).min(now),
    }
}

/// The workload's account is the sender's: a heartbeat naming another one (in `account`, or in
/// the ARN of its task or container instance) is refused.
fn settle_account(mut hb: Heartbeat) -> Result<Heartbeat, Refusal> {
    let w = &hb.watches;
    let named = [
        w.account.as_deref(),
        w.task_arn.as_deref().and_then(arn_account),
        w.container_instance_arn.as_deref().and_then(arn_account),
    ];
    if let Some(other) = named
        .into_iter()
        .flatten()
        .find(|a| *a != hb.sender_account)
    {
        return Err(Refusal::ForeignWorkload {
            sender: hb.sender_account.clone(),
            named: other.to_owned(),
        });
    }
    hb.watches.account = Some(hb.sender_account.clone());
    Ok(hb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TASK: &str = "arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef";

    fn senders() -> Senders {
        Senders {
            deploying: Some("123456789012".into()),
            trusted: vec!["222222222222".into()],
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-01-01T12:10:00Z".parse().unwrap()
    }

    fn event(account: &str, detail: Value) -> String {
        json!({"version": "0", "id": "e1", "source": "acme.sidecar", "detail-type": DETAIL_TYPE,
               "account": account, "region": "us-east-1", "time": "2026-01-01T00:00:00Z",
               "detail": detail})
        .to_string()
    }

    fn detail() -> Value {
        json!({"schema_version": 1, "agent_id": "shop-sidecar", "kind": "custom", "version": "1.2",
               "watches": {"task_arn": TASK, "cluster": "prod"},
               "drops": {"events": 1000, "dropped": 250}, "time": "2026-01-01T12:09:00Z"})
    }

    #[test]
    fn the_documented_shape_is_read_and_attributed_to_its_sender() {
        let hb = read(&event("123456789012", detail()), &senders(), now()).unwrap();
        assert_eq!(hb.sender_account, "123456789012");
        assert_eq!(hb.agent_id, "shop-sidecar");
        assert_eq!(hb.kind, AgentKind::Custom);
        assert_eq!(hb.watches.task_arn.as_deref(), Some(TASK));
        assert_eq!(hb.watches.account.as_deref(), Some("123456789012"));
        assert_eq!(hb.drop_ratio, Some(0.25));
        assert_eq!(
            hb.seen_at,
            "2026-01-01T12:09:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn a_heartbeat_from_the_future_is_seen_when_received() {
        let mut d = detail();
        d["time"] = json!("2099-01-01T00:00:00Z");
        assert_eq!(
            read(&event("123456789012", d), &senders(), now())
                .unwrap()
                .seen_at,
            now()
        );
    }

    #[test]
    fn refusals_say_why() {
        let code = |body: String| read(&body, &senders(), now()).unwrap_err().code();
        assert_eq!(code(event("999999999999", detail())), "untrusted_sender");
        // Trusted, but vouching for another account's task.
        assert_eq!(code(event("222222222222", detail())), "foreign_workload");
        let mut d = detail();
        d["watches"] = json!({"cluster": "prod"});
        assert_eq!(code(event("123456789012", d)), "malformed_heartbeat");
        let mut d = detail();
        d["kind"] = json!("other");
        assert_eq!(code(event("123456789012", d)), "malformed_heartbeat");
        let mut d = detail();
        d["watches"]["task_arn"] = json!("not-an-arn");
        assert_eq!(code(event("123456789012", d)), "malformed_heartbeat");
        assert_eq!(code("{".into()), "malformed_heartbeat");
        assert_eq!(code("[]".into()), "malformed_heartbeat");
        let forged = json!({"source": "aws.ecs", "detail-type": DETAIL_TYPE,
                            "account": "123456789012", "detail": detail()});
        assert_eq!(code(forged.to_string()), "not_a_heartbeat");
        let alert = json!({"source": "falco", "detail-type": "Falco Alert", "account": "123456789012",
                           "detail": {"rule": "Terminal shell in container", "priority": "Notice",
                                      "output": "o", "time": "2026-01-01T00:00:00Z"}});
        assert_eq!(code(alert.to_string()), "not_a_heartbeat");
    }

    #[test]
    fn falcos_own_events_are_heartbeats_with_their_drops() {
        let body =
            json!({"version": "0", "id": "e2", "source": "falco", "detail-type": "Falco Alert",
            "account": "123456789012", "region": "us-east-1",
            "detail": {"rule": "Falco internal: syscall event drop", "priority": "Debug",
                       "output": "Falco internal: syscall event drop. 300 system calls dropped",
                       "time": "2026-01-01T00:05:00Z", "source": "internal",
                       "output_fields": {"n_drops": 300, "n_evts": 1000, "falco.version": "0.39.2",
                                         "container.label.com.amazonaws.ecs.task-arn": TASK,
                                         "container.label.com.amazonaws.ecs.cluster": "prod"}}})
            .to_string();
        let hb = read(&body, &senders(), now()).unwrap();
        assert_eq!(hb.kind, AgentKind::Falco);
        assert_eq!(hb.agent_id, format!("falco:{TASK}"));
        assert_eq!(hb.watches.task_arn.as_deref(), Some(TASK));
        assert_eq!(hb.version.as_deref(), Some("0.39.2"));
        assert_eq!(hb.drop_ratio, Some(0.3));
    }

    #[test]
    fn the_sample_heartbeat_reads() {
        let body = include_str!("../../../schemas/examples/agent-heartbeat.json");
        let hb = read(body, &senders(), now()).unwrap();
        assert_eq!(hb.kind, AgentKind::Falco);
        assert!(hb.watches.task_arn.is_some());
        assert_eq!(hb.drop_ratio, Some(12.0 / 182_734.0));
    }

    #[test]
    fn drop_ratios() {
        let r = |d: Drops| d.ratio();
        assert_eq!(r(Drops::default()), None);
        assert_eq!(
            r(Drops {
                events: Some(0),
                dropped: Some(0),
                ratio: None
            }),
            None
        );
        assert_eq!(
            r(Drops {
                events: Some(10),
                dropped: Some(20),
                ratio: None
            }),
            Some(1.0)
        );
        assert_eq!(
            r(Drops {
                ratio: Some(7.0),
                ..Drops::default()
            }),
            Some(1.0)
        );
        assert_eq!(
            r(Drops {
                ratio: Some(f64::NAN),
                events: Some(4),
                dropped: Some(1)
            }),
            Some(0.25)
        );
    }
}
