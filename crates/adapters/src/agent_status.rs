//! An agent's events about itself: Falco's `Falco internal: …` rules (syscall event drops, timeouts,
//! metrics snapshots), priority Debug or Informational, `source` `internal` or none. They are agent
//! telemetry, not findings: never imported into Security Hub, never remediated.

use crate::arn::TaskArn;
use crate::envelope::Envelope;
use crate::fields::{self, FieldMap};
use crate::json::{Obj, View};
use crate::{AdapterError, ParseContext};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use vigil_model::text::clean_opt;

/// The rule-name prefix of Falco's own events.
pub const FALCO_INTERNAL_PREFIX: &str = "Falco internal";

/// The `kind` an agent status event serializes with.
pub const KIND: &str = "agent_telemetry";

/// Most output fields kept verbatim (a metrics snapshot carries a few dozen).
const MAX_FIELDS: usize = 256;

/// The agent that reported on itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Agent {
    /// Falco (`Falco internal: …` rules).
    Falco,
}

/// What the agent reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusKind {
    /// `Falco internal: syscall event drop`: the kernel found the ring buffer full.
    SyscallEventDrop,
    /// `Falco internal: metrics snapshot`: the periodic metrics (`metrics.output_rule`).
    MetricsSnapshot,
    /// `Falco internal: timeouts notification`: consecutive reads without an event.
    Timeouts,
    /// Another `Falco internal:` event.
    Other,
}

/// Event drop counters, from the drop alert's fields (`n_drops`, `n_evts`, `n_drops_buffer_total`,
/// …) or a metrics snapshot's (`scap.n_drops`, `scap.n_evts`, `falco.outputs_queue_num_drops`, …).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DropCounters {
    /// Events the driver captured (`n_evts`, `scap.n_evts`).
    pub n_evts: Option<u64>,
    /// Events dropped in all (`n_drops`, `scap.n_drops`).
    pub n_drops: Option<u64>,
    /// Events dropped because the ring buffer was full (`n_drops_buffer_total`, `scap.n_drops_buffer_total`).
    pub n_drops_buffer: Option<u64>,
    /// Events dropped for lack of scratch space in the driver (`n_drops_scratch_map`).
    pub n_drops_scratch_map: Option<u64>,
    /// Events dropped on page faults reading arguments (`n_drops_page_faults`, `n_drops_pf`).
    pub n_drops_page_faults: Option<u64>,
    /// Events dropped on driver bugs (`n_drops_bug`).
    pub n_drops_bug: Option<u64>,
    /// Percentage of events dropped since the previous snapshot (`scap.n_drops_perc`).
    pub n_drops_perc: Option<f64>,
    /// Alerts Falco dropped because its output queue was full.
    pub outputs_queue_num_drops: Option<u64>,
}

/// An agent's event about itself.
#[derive(Debug, Clone, Serialize)]
pub struct AgentStatus {
    /// Always [`KIND`]: says, in JSON, that this is agent telemetry and not a finding.
    pub kind: &'static str,
    /// The agent.
    pub agent: Agent,
    /// What it reported.
    pub status: StatusKind,
    /// The rule name as given (`Falco internal: syscall event drop`, …), cleaned.
    pub rule: String,
    /// The Falco `priority` (`Debug`, `Informational`, …).
    pub priority: Option<String>,
    /// The alert's `time`, when given and valid.
    pub observed_at: Option<DateTime<Utc>>,
    /// The alert's `output` line, cleaned.
    pub message: Option<String>,
    /// The event source the status is about (`evt.source`, e.g. `syscall`), else the alert's `source`.
    pub event_source: Option<String>,
    /// The agent's version (`falco.version`), when the fields carry it.
    pub agent_version: Option<String>,
    /// The alert's `hostname`, else the `evt.hostname` or `falco.hostname` field.
    pub host: Option<String>,
    /// The AWS account: the envelope's, else the task ARN's, else the parse context's default.
    pub account: Option<String>,
    /// The AWS region: the envelope's, else the task ARN's, else the parse context's default.
    pub region: Option<String>,
    /// The ECS task ARN the agent runs in, from its fields or labels, else the log wrapper's.
    pub task_arn: Option<String>,
    /// The ECS cluster (name or ARN) the agent runs in: its cluster label, else the log wrapper's.
    pub cluster: Option<String>,
    /// The container runtime id (`container.id`, `container.full_id`; not `host`), else the log wrapper's.
    pub container_id: Option<String>,
    /// The drop counters found in the fields.
    pub drops: DropCounters,
    /// The output fields as given (numbers stay numbers, every digit kept), at most 256.
    pub fields: BTreeMap<String, serde_json::Value>,
    /// The event's id: falcosidekick's `uuid`, else the envelope's `id`.
    pub source_event_id: Option<String>,
}

/// Whether a Falco alert is one of Falco's own events.
pub fn is_falco_internal(alert: &Obj<'_>) -> bool {
    let rule_says = alert.str("rule").ok().flatten().is_some_and(|r| {
        r.trim_start()
            .get(..FALCO_INTERNAL_PREFIX.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(FALCO_INTERNAL_PREFIX))
    });
    let source_says = alert
        .str("source")
        .ok()
        .flatten()
        .is_some_and(|s| s.trim().eq_ignore_ascii_case("internal"));
    rule_says || source_says
}

fn status_kind(rule: &str) -> StatusKind {
    let r = rule.to_ascii_lowercase();
    if r.contains("drop") {
        StatusKind::SyscallEventDrop
    } else if r.contains("metrics") {
        StatusKind::MetricsSnapshot
    } else if r.contains("timeout") {
        StatusKind::Timeouts
    } else {
        StatusKind::Other
    }
}

/// Reads a Falco internal alert (see [`is_falco_internal`]) as agent telemetry.
///
/// Fails only when a field Falco documents holds the wrong JSON type.
pub fn parse(
    alert: &Obj<'_>,
    envelope: Option<&Envelope<'_>>,
    wrapper: &crate::falco::WrapperContext,
    ctx: &ParseContext,
) -> Result<AgentStatus, AdapterError> {
    let rule = fields::known(alert.str("rule")?, 512).unwrap_or_else(|| "Falco internal".into());
    let of = alert.obj("output_fields")?;
    let f = FieldMap(of.as_ref().map(|o| o.map));
    // A telemetry event with a time that cannot be read is still telemetry: the time is unknown.
    let observed_at = alert
        .time("time")
        .ok()
        .flatten()
        .or_else(|| of.as_ref().and_then(|o| o.time("evt.time").ok().flatten()))
        .or_else(|| envelope.and_then(|e| e.time));

    let task_arn = f
        .label(fields::LABEL_TASK_ARN)
        .map(|t| t.into_owned())
        .or_else(|| wrapper.task_arn.clone())
        .filter(|t| TaskArn::parse(t).is_some());
    let task = task_arn.as_deref().and_then(TaskArn::parse);

    let mut kept = BTreeMap::new();
    if let Some(o) = &of {
        for (k, v) in o.map.iter().take(MAX_FIELDS) {
            let value = match v.view() {
                View::Number(n) => serde_json::Value::Number(n.clone()),
                View::Bool(b) => serde_json::Value::Bool(b),
                View::Str(s) if !fields::is_unknown(s) => {
                    serde_json::Value::String(vigil_model::text::clean(s, 1024, false))
                }
                _ => continue,
            };
            let key = vigil_model::text::clean(k, 128, false);
            if !key.is_empty() {
                kept.insert(key, value);
            }
        }
    }

    let count = |names: &[&str]| f.count(names);
    let drops = DropCounters {
        n_evts: count(&["n_evts", "scap.n_evts"]),
        n_drops: count(&["n_drops", "scap.n_drops"]),
        n_drops_buffer: count(&[
            "n_drops_buffer_total",
            "n_drops_buffer",
            "scap.n_drops_buffer_total",
            "scap.n_drops_buffer",
        ]),
        n_drops_scratch_map: count(&["n_drops_scratch_map", "scap.n_drops_scratch_map"]),
        n_drops_page_faults: count(&[
            "n_drops_page_faults",
            "n_drops_pf",
            "scap.n_drops_page_faults",
            "scap.n_drops_pf",
        ]),
        n_drops_bug: count(&["n_drops_bug", "scap.n_drops_bug"]),
        n_drops_perc: f
            .get("scap.n_drops_perc")
            .and_then(|p| p.parse::<f64>().ok())
            .filter(|p| p.is_finite()),
        outputs_queue_num_drops: count(&["falco.outputs_queue_num_drops"]),
    };

    Ok(AgentStatus {
        kind: KIND,
        agent: Agent::Falco,
        status: status_kind(&rule),
        priority: fields::known(alert.str("priority").ok().flatten(), 32),
        observed_at,
        message: clean_opt(alert.str("output").ok().flatten(), 4096),
        event_source: clean_opt(
            f.get("evt.source")
                .as_deref()
                .or(alert.str("source").ok().flatten()),
            64,
        ),
        agent_version: clean_opt(f.get("falco.version").as_deref(), 64),
        host: fields::known(alert.str("hostname").ok().flatten(), 255).or_else(|| {
            clean_opt(
                f.get_any(&["evt.hostname", "falco.hostname"]).as_deref(),
                255,
            )
        }),
        account: envelope
            .and_then(|e| e.account_owned())
            .or_else(|| task.as_ref().map(|t| t.account.to_owned()))
            .or_else(|| ctx.default_account.clone()),
        region: envelope
            .and_then(|e| e.region_owned())
            .or_else(|| task.as_ref().map(|t| t.region.to_owned()))
            .or_else(|| ctx.default_region.clone()),
        cluster: clean_opt(
            f.label(fields::LABEL_CLUSTER)
                .as_deref()
                .or(wrapper.cluster.as_deref()),
            512,
        ),
        task_arn,
        container_id: clean_opt(
            f.get_any(&["container.id", "container.full_id"])
                .filter(|id| id != "host")
                .as_deref()
                .or(wrapper.container_id.as_deref()),
            128,
        ),
        drops,
        fields: kept,
        source_event_id: fields::known(alert.str("uuid").ok().flatten(), 128)
            .or_else(|| envelope.and_then(|e| e.id_owned())),
        rule,
    })
}
