//! Reads the pipeline's state back from the emulator: the dedup records, the action records and
//! the Security Hub findings. The summary is made from these, and the reliability tests assert on
//! them.

use crate::LocalPipeline;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use std::collections::HashMap;
use vigil_dedup::record;

/// A fingerprint's dedup record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupRecord {
    /// The fingerprint (the key without its `FP#` prefix).
    pub fingerprint: String,
    /// Occurrences counted.
    pub occurrences: u64,
    /// `accepted` until Security Hub confirmed the import, then `forwarded`.
    pub state: String,
}

/// The dedup and action records of a table.
pub struct Records {
    /// Every fingerprint's dedup record.
    pub dedup: Vec<DedupRecord>,
    /// Every remediation decision.
    pub actions: Vec<ActionRecord>,
}

impl Records {
    fn of(items: &[HashMap<String, AttributeValue>]) -> Records {
        Records {
            dedup: items
                .iter()
                .filter(|i| {
                    s(i, record::PK).starts_with("FP#") && s(i, record::SK) == record::SK_DEDUP
                })
                .map(dedup_record)
                .collect(),
            actions: items
                .iter()
                .filter(|i| s(i, "pk").starts_with("ACT#"))
                .map(action_record)
                .collect(),
        }
    }
}

/// A remediation decision about one (finding, task).
#[derive(Debug, Clone)]
pub struct ActionRecord {
    /// Partition key, `ACT#<fingerprint>#…`.
    pub pk: String,
    /// Sort key.
    pub sk: String,
    /// `act`, `dry_run`, `recorded`, `refused`, `rate_limited`, ...
    pub outcome: String,
    /// The decision as stored (playbook, mode, task, reason, stop reason, ...).
    pub decision: Value,
}

impl ActionRecord {
    /// The decision was to stop the task (not only tag it).
    pub fn stops(&self) -> bool {
        self.outcome == "act"
            && self
                .decision
                .get("stop_reason")
                .is_some_and(|r| !r.is_null())
    }
}

fn s(item: &HashMap<String, AttributeValue>, k: &str) -> String {
    item.get(k)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

fn n(item: &HashMap<String, AttributeValue>, k: &str) -> u64 {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub(crate) fn dedup_record(i: &HashMap<String, AttributeValue>) -> DedupRecord {
    DedupRecord {
        fingerprint: s(i, record::PK).trim_start_matches("FP#").to_owned(),
        occurrences: n(i, record::COUNT),
        state: s(i, record::STATE),
    }
}

pub(crate) fn action_record(i: &HashMap<String, AttributeValue>) -> ActionRecord {
    ActionRecord {
        pk: s(i, "pk"),
        sk: s(i, "sk"),
        outcome: s(i, "outcome"),
        decision: serde_json::from_str(&s(i, "decision")).unwrap_or(Value::Null),
    }
}

impl LocalPipeline {
    async fn table_items(&self) -> Result<Vec<HashMap<String, AttributeValue>>, String> {
        let dynamodb = aws_sdk_dynamodb::Client::new(self.sdk());
        let mut pages = dynamodb
            .scan()
            .table_name(&self.stack().table_name)
            .into_paginator()
            .send();
        let mut items = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                format!("Scan: {}", aws_sdk_dynamodb::error::DisplayErrorContext(&e))
            })?;
            items.extend(page.items().iter().cloned());
        }
        Ok(items)
    }

    /// Every dedup record (`FP#…`/`DEDUP`).
    pub async fn dedup_records(&self) -> Result<Vec<DedupRecord>, String> {
        Ok(Records::of(&self.table_items().await?).dedup)
    }

    /// Every action record (`ACT#…`), the untrusted ones included.
    pub async fn action_records(&self) -> Result<Vec<ActionRecord>, String> {
        Ok(Records::of(&self.table_items().await?).actions)
    }

    /// Both kinds of record, from one scan of the table.
    pub async fn records(&self) -> Result<Records, String> {
        Ok(Records::of(&self.table_items().await?))
    }

    /// The Security Hub findings (`Id`, `ProductArn`, `AwsAccountId`) a stop awaits approval
    /// under (`PROPOSAL#` items), each once.
    pub async fn awaiting_approval(&self) -> Result<Vec<(String, String, String)>, String> {
        let found: std::collections::BTreeSet<(String, String, String)> = self
            .table_items()
            .await?
            .iter()
            .filter(|i| s(i, "pk").starts_with("PROPOSAL#"))
            .map(|i| {
                (
                    s(i, "finding_id"),
                    s(i, "product_arn"),
                    s(i, "finding_account"),
                )
            })
            .collect();
        Ok(found.into_iter().collect())
    }

    /// Every finding in Security Hub, as `GetFindings` returns them: the deploying account's hub and
    /// every member's, in every region of the run (see [`crate::accounts`]).
    pub async fn securityhub_findings(
        &self,
    ) -> Result<Vec<aws_sdk_securityhub::types::AwsSecurityFinding>, String> {
        let mut findings = Vec::new();
        for (account, region) in &self.hubs {
            let hub = aws_sdk_securityhub::Client::new(&self.sdk_as(account, region));
            findings.extend(hub_findings(&hub).await?);
        }
        Ok(findings)
    }
}

/// Every finding in one hub.
async fn hub_findings(
    hub: &aws_sdk_securityhub::Client,
) -> Result<Vec<aws_sdk_securityhub::types::AwsSecurityFinding>, String> {
    let mut findings = Vec::new();
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
        findings.extend(out.findings().iter().cloned());
        token = out
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        if token.is_none() {
            return Ok(findings);
        }
    }
}
