//! What a run did, read back from the emulator: the dedup records, the rejected queue, Security Hub,
//! the action records, the dead-letter queues and the API calls the functions made.

use crate::{LocalPipeline, Progress};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

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
    pub rejected_reasons: Vec<String>,
    /// Distinct accepted findings per severity label.
    pub severities: BTreeMap<String, u64>,
    pub securityhub: SecurityHubSummary,
    pub remediation: RemediationSummary,
    /// Messages left in dead-letter queues, by queue.
    pub dead_letter: BTreeMap<String, u64>,
    /// Requests the pipeline sent after the events were put, per service (`dynamodb`, `ecs`,
    /// `securityhub`, `events`).
    pub api_calls: BTreeMap<String, u64>,
    pub seconds: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SecurityHubSummary {
    /// Distinct findings in Security Hub at the end (read back with GetFindings).
    pub findings: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RemediationSummary {
    pub stopped: u64,
    pub tagged: u64,
    pub dry_run: u64,
    /// Refused by a guardrail, over the rate limit, or the task was not running.
    pub refused: u64,
    pub recorded: u64,
    pub decisions: Vec<Value>,
}

fn s(
    item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    k: &str,
) -> String {
    item.get(k)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

fn n(
    item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    k: &str,
) -> u64 {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
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
        let dynamodb = aws_sdk_dynamodb::Client::new(self.sdk());
        let mut pages = dynamodb
            .scan()
            .table_name(&self.stack().table_name)
            .into_paginator()
            .send();
        let mut occurrences = 0;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                format!("Scan: {}", aws_sdk_dynamodb::error::DisplayErrorContext(&e))
            })?;
            for item in page.items() {
                let (pk, sk) = (s(item, "pk"), s(item, "sk"));
                if pk.starts_with("FP#") && sk == "DEDUP" {
                    summary.accepted += 1;
                    occurrences += n(item, "occurrences");
                } else if pk.starts_with("ACT#") {
                    let outcome = s(item, "outcome");
                    let decision: Value =
                        serde_json::from_str(&s(item, "decision")).unwrap_or(Value::Null);
                    let stopped = decision.get("stop_reason").is_some_and(|r| !r.is_null());
                    let r = &mut summary.remediation;
                    match outcome.as_str() {
                        "act" if stopped => r.stopped += 1,
                        "act" => r.tagged += 1,
                        "dry_run" => r.dry_run += 1,
                        "recorded" => r.recorded += 1,
                        _ => r.refused += 1,
                    }
                    r.decisions.push(serde_json::json!({
                        "playbook": decision["playbook"], "outcome": outcome, "mode": decision["mode"],
                        "task": decision["task_arn"], "reason": decision["reason"],
                    }));
                }
            }
        }
        summary.duplicates = occurrences.saturating_sub(summary.accepted);
        summary.remediation.decisions.sort_by_key(|d| d.to_string());
        summary.severities = severities(&self.progress);

        let sqs = aws_sdk_sqs::Client::new(self.sdk());
        if let Some(q) = self.stack().queue("RejectedQueue") {
            loop {
                let out = sqs
                    .receive_message()
                    .queue_url(&q.url)
                    .max_number_of_messages(10)
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "ReceiveMessage: {}",
                            aws_sdk_sqs::error::DisplayErrorContext(&e)
                        )
                    })?;
                if out.messages().is_empty() {
                    break;
                }
                for m in out.messages() {
                    summary.rejected += 1;
                    let body: Value =
                        serde_json::from_str(m.body().unwrap_or("{}")).unwrap_or(Value::Null);
                    summary
                        .rejected_reasons
                        .push(body["detail"]["reason"].as_str().unwrap_or("?").to_owned());
                    sqs.delete_message()
                        .queue_url(&q.url)
                        .receipt_handle(m.receipt_handle().unwrap_or_default())
                        .send()
                        .await
                        .map_err(|e| {
                            format!(
                                "DeleteMessage: {}",
                                aws_sdk_sqs::error::DisplayErrorContext(&e)
                            )
                        })?;
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

        let hub = aws_sdk_securityhub::Client::new(self.sdk());
        let mut ids = std::collections::BTreeSet::new();
        let mut token = None;
        loop {
            let out = hub
                .get_findings()
                .max_results(100)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "GetFindings: {}",
                        aws_sdk_securityhub::error::DisplayErrorContext(&e)
                    )
                })?;
            ids.extend(
                out.findings()
                    .iter()
                    .filter_map(|f| f.id().map(str::to_owned)),
            );
            token = out
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        summary.securityhub.findings = ids.len() as u64;
        Ok(summary)
    }
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
        let r = &self.remediation;
        line(format!(
            "remediation            {} stopped, {} tagged, {} dry-run, {} refused, {} recorded",
            r.stopped, r.tagged, r.dry_run, r.refused, r.recorded
        ));
        for d in &r.decisions {
            line(format!(
                "  {:<24} {:<13} {}{}",
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
                    .unwrap_or_default()
            ));
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
