//! What a run did, read back from the emulator: the dedup records, the rejected queue, Security Hub,
//! the action records, the dead-letter queues and the API calls the functions made.

use crate::{LocalPipeline, Progress};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// What a run did, for people ([`std::fmt::Display`]) and `--json`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Events put on the buses.
    pub events: u64,
    /// Distinct findings (fingerprints) ingest accepted.
    pub accepted: u64,
    /// Occurrences folded into an existing finding instead of published again.
    pub duplicates: u64,
    /// `Event Rejected`: input ingest refused.
    pub rejected: u64,
    /// Each rejection's reason, sorted.
    pub rejected_reasons: Vec<String>,
    /// Distinct accepted findings per severity label.
    pub severities: BTreeMap<String, u64>,
    /// What Security Hub holds at the end.
    pub securityhub: SecurityHubSummary,
    /// The remediation decisions.
    pub remediation: RemediationSummary,
    /// Messages left in dead-letter queues, by queue.
    pub dead_letter: BTreeMap<String, u64>,
    /// Requests the pipeline sent after the events were put, per service (`dynamodb`, `ecs`,
    /// `securityhub`, `events`).
    pub api_calls: BTreeMap<String, u64>,
    /// Wall-clock duration of the run, in seconds.
    pub seconds: f64,
    /// The coverage check at the end of a demo: which running tasks no agent watches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<crate::coverage::CoverageSummary>,
}

/// Security Hub at the end of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SecurityHubSummary {
    /// Distinct findings of this run in Security Hub at the end (read back with GetFindings), in
    /// every account's hub.
    pub findings: u64,
    /// The same, per account (`AwsAccountId`, the account whose hub holds it).
    pub by_account: BTreeMap<String, u64>,
}

/// The remediation decisions of a run, counted by outcome.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RemediationSummary {
    /// Tasks stopped (outcome `act` with a stop).
    pub stopped: u64,
    /// Tasks only tagged (outcome `act` without a stop).
    pub tagged: u64,
    /// Decisions of `dry_run` playbooks or under a `dry_run` deployment.
    pub dry_run: u64,
    /// Refused by a guardrail, over the rate limit, or the task was not running.
    pub refused: u64,
    /// Decisions of playbooks that only record.
    pub recorded: u64,
    /// Stops proposed by `approve` playbooks, awaiting an analyst's approval (an approved one
    /// stays counted here, and its stop among `stopped`).
    pub proposed: u64,
    /// Stops made on an analyst's approval.
    pub approved: u64,
    /// Each decision in brief (playbook, outcome, task, reason), in a stable order.
    pub decisions: Vec<Value>,
}

impl LocalPipeline {
    /// Reads everything back. `api_calls` are the emulator's counts since the last reset.
    pub async fn summary(
        &self,
        events: u64,
        api_calls: BTreeMap<String, u64>,
        seconds: f64,
    ) -> Result<Summary, String> {
        let mut summary = Summary {
            events,
            api_calls,
            seconds,
            ..Summary::default()
        };
        let crate::inspect::Records {
            dedup: records,
            actions,
        } = self.records().await?;
        add_dedup_records(&mut summary, &records);
        add_decisions(&mut summary, actions);
        summary.severities = severities(&self.progress);

        let sqs = aws_sdk_sqs::Client::new(self.sdk());
        if let Some(q) = self.stack().queue("RejectedQueue") {
            // Rejections are published at least once: each rejected event counts once, by its id.
            let mut seen = std::collections::BTreeSet::new();
            for body in crate::relay::drain(&sqs, &q.url).await? {
                let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                let detail = &body["detail"];
                if seen.insert(detail["event_id"].as_str().unwrap_or_default().to_owned()) {
                    summary.rejected += 1;
                    summary
                        .rejected_reasons
                        .push(detail["reason"].as_str().unwrap_or("?").to_owned());
                }
            }
        }
        summary.rejected_reasons.sort();
        for (id, q) in &self.stack().queues {
            if id.contains("DeadLetter") {
                let depth = crate::relay::depth(&sqs, &q.url).await?;
                if depth > 0 {
                    summary.dead_letter.insert(id.clone(), depth);
                }
            }
        }

        // This run's findings: the emulator may hold other runs' too.
        let ours: std::collections::BTreeSet<String> = records
            .iter()
            .map(|r| format!("vigil-{}", r.fingerprint))
            .collect();
        let found: std::collections::BTreeSet<(String, String)> = self
            .securityhub_findings()
            .await?
            .iter()
            .filter_map(|f| Some((f.aws_account_id()?.to_owned(), f.id()?.to_owned())))
            .filter(|(_, id)| ours.contains(id))
            .collect();
        summary.securityhub.findings = found.len() as u64;
        for (account, _) in found {
            *summary.securityhub.by_account.entry(account).or_default() += 1;
        }
        Ok(summary)
    }
}

/// Counts the accepted findings (one dedup record each) and the duplicates among the occurrences.
pub(crate) fn add_dedup_records(summary: &mut Summary, records: &[crate::inspect::DedupRecord]) {
    summary.accepted = records.len() as u64;
    let occurrences: u64 = records.iter().map(|r| r.occurrences).sum();
    summary.duplicates = occurrences.saturating_sub(summary.accepted);
}

/// Counts the remediation decisions by outcome and lists them, in a stable order.
pub(crate) fn add_decisions(summary: &mut Summary, actions: Vec<crate::inspect::ActionRecord>) {
    let r = &mut summary.remediation;
    for action in actions {
        match action.outcome.as_str() {
            // Claimed and given back undecided (a task ECS did not know, recorded aside).
            "" => continue,
            "awaiting_approval" => r.proposed += 1,
            "act" if action.stops() => r.stopped += 1,
            "act" => r.tagged += 1,
            "dry_run" => r.dry_run += 1,
            "recorded" => r.recorded += 1,
            _ => r.refused += 1,
        }
        let d = &action.decision;
        if action.outcome == "act" && !d["approval"].is_null() {
            r.approved += 1;
        }
        // The guardrail that said no, for refusals: the first failed check.
        let guardrail = d["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["verdict"] == "fail")
            .map(|c| c["guardrail"].clone())
            .unwrap_or(serde_json::Value::Null);
        r.decisions.push(serde_json::json!({
            "playbook": d["playbook"], "outcome": action.outcome, "mode": d["mode"],
            "task": d["task_arn"], "guardrail": guardrail, "reason": d["reason"],
            "approval": d["approval"]["event_id"],
        }));
    }
    r.decisions.sort_by_key(|d| d.to_string());
}

fn severities(progress: &Progress) -> BTreeMap<String, u64> {
    let mut by_fingerprint = BTreeMap::new();
    for body in &progress.accepted_bodies {
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let f = &v["detail"]["finding"];
        if let (Some(fp), Some(label)) =
            (f["fingerprint"].as_str(), f["severity"]["label"].as_str())
        {
            by_fingerprint.insert(fp.to_owned(), label.to_owned());
        }
    }
    let mut out = BTreeMap::new();
    for label in by_fingerprint.into_values() {
        *out.entry(label).or_default() += 1;
    }
    out
}

impl Summary {
    /// The summary for people.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        line(format!("events sent            {}", self.events));
        line(format!("findings accepted      {} distinct", self.accepted));
        for (label, count) in &self.severities {
            line(format!("  {label:<20} {count}"));
        }
        line(format!("duplicates suppressed  {}", self.duplicates));
        line(format!("rejected               {}", self.rejected));
        for r in &self.rejected_reasons {
            line(format!("  {r}"));
        }
        line(format!(
            "Security Hub findings  {}",
            self.securityhub.findings
        ));
        if self.securityhub.by_account.len() > 1 {
            for (account, n) in &self.securityhub.by_account {
                line(format!("  account {account}   {n}"));
            }
        }
        let r = &self.remediation;
        line(format!(
            "remediation            {} stopped, {} tagged, {} dry-run, {} refused, {} recorded, {} proposed ({} approved)",
            r.stopped, r.tagged, r.dry_run, r.refused, r.recorded, r.proposed, r.approved
        ));
        for d in &r.decisions {
            line(format!(
                "  {:<24} {:<17} {}{}",
                d["playbook"].as_str().unwrap_or("-"),
                d["outcome"].as_str().unwrap_or("-"),
                d["task"]
                    .as_str()
                    .unwrap_or("-")
                    .rsplit('/')
                    .next()
                    .unwrap_or("-"),
                d["reason"]
                    .as_str()
                    .map(|r| format!("  ({r})"))
                    .or_else(|| d["approval"]
                        .as_str()
                        .map(|a| format!("  (approved in Security Hub, event {a})")))
                    .unwrap_or_default()
            ));
        }
        if let Some(c) = &self.coverage {
            line(format!(
                "coverage               {} running tasks: {} covered, {} uncovered, {} degraded ({} findings)",
                c.running_tasks, c.covered_tasks, c.uncovered_tasks, c.degraded_tasks, c.findings
            ));
            for s in c
                .services
                .iter()
                .filter(|s| s["uncovered"] != 0 || s["degraded"] != 0)
            {
                line(format!(
                    "  {:<22} {} of {} tasks not watched by any runtime agent",
                    s["service"].as_str().unwrap_or("-"),
                    s["uncovered"],
                    s["running"]
                ));
            }
        }
        if !self.dead_letter.is_empty() {
            line(format!("dead-letter queues     {:?}", self.dead_letter));
        }
        line(format!(
            "API calls              {}",
            self.api_calls
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        line(format!("took                   {:.1} s", self.seconds));
        out
    }
}
