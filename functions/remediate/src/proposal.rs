//! Proposals awaiting an analyst's approval (`mode: approve`), findable by the Security Hub finding
//! the analyst selects. One item per (Security Hub finding, task): `pk = PROPOSAL#<finding Id>`,
//! `sk = <ProductArn>|<task ARN>`, so an attack sequence (one finding, many tasks) has one proposal
//! per task under one key. Only the remediate role writes the `PROPOSAL#` prefix; what an approval
//! acts on is always read from here, never from the approval event.
//!
//! A proposal holds the plan (playbook, actions, task, rendered reason, when it was proposed) and
//! the `Finding Enriched` detail it was decided on, so the approval can decide again, from the same
//! facts and on fresh state, with the same core. Writing it again (a redelivery finishing a crashed
//! attempt) writes the same item.

use crate::action_record::RecordError;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

pub const PREFIX: &str = "PROPOSAL#";

/// One task's proposal under one Security Hub finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// The Security Hub finding it is filed under (`Id`, `ProductArn`, `AwsAccountId`).
    pub finding_id: String,
    pub product_arn: String,
    pub finding_account: String,
    pub fingerprint: String,
    pub task_arn: String,
    pub playbook: String,
    pub actions: Vec<String>,
    /// The playbook's reason, rendered for this finding.
    pub reason: String,
    /// RFC 3339.
    pub proposed_at: String,
    /// The event the proposal was decided for.
    pub proposal_event: String,
    /// The `Finding Enriched` detail, as JSON.
    pub detail: String,
}

#[derive(Clone)]
pub struct ProposalStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    retention_seconds: i64,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn error(operation: &'static str, pk: &str, message: String) -> RecordError {
    RecordError::Store {
        operation,
        pk: pk.to_owned(),
        message,
    }
}

impl ProposalStore {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        retention_seconds: i64,
    ) -> Self {
        ProposalStore {
            client,
            table: table.into(),
            retention_seconds,
        }
    }

    fn pk(finding_id: &str) -> String {
        format!("{PREFIX}{finding_id}")
    }

    /// Files the proposal under its Security Hub finding.
    pub async fn put(&self, p: &Proposal, now: i64) -> Result<(), RecordError> {
        let pk = Self::pk(&p.finding_id);
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&pk))
            .item("sk", s(format!("{}|{}", p.product_arn, p.task_arn)))
            .item("finding_id", s(&p.finding_id))
            .item("product_arn", s(&p.product_arn))
            .item("finding_account", s(&p.finding_account))
            .item("fingerprint", s(&p.fingerprint))
            .item("task_arn", s(&p.task_arn))
            .item("playbook", s(&p.playbook))
            .item(
                "actions",
                AttributeValue::L(p.actions.iter().map(s).collect()),
            )
            .item("reason", s(&p.reason))
            .item("proposed_at", s(&p.proposed_at))
            .item("proposal_event", s(&p.proposal_event))
            .item("detail", s(&p.detail))
            .item(
                "expires_at",
                AttributeValue::N((now + self.retention_seconds).to_string()),
            )
            .send()
            .await
            .map_err(|e| error("PutItem", &pk, DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }

    /// Every task's proposal filed under the Security Hub finding `finding_id` (of any product:
    /// the caller matches the product and account the analyst's selection names).
    pub async fn under(&self, finding_id: &str) -> Result<Vec<Proposal>, RecordError> {
        let pk = Self::pk(finding_id);
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(&pk))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| error("Query", &pk, DisplayErrorContext(&e).to_string()))?;
            out.extend(page.items().iter().filter_map(from_item));
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }
}

fn from_item(item: &HashMap<String, AttributeValue>) -> Option<Proposal> {
    let get = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    Some(Proposal {
        finding_id: get("finding_id")?,
        product_arn: get("product_arn")?,
        finding_account: get("finding_account").unwrap_or_default(),
        fingerprint: get("fingerprint")?,
        task_arn: get("task_arn")?,
        playbook: get("playbook").unwrap_or_default(),
        actions: item
            .get("actions")
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
            .unwrap_or_default(),
        reason: get("reason").unwrap_or_default(),
        proposed_at: get("proposed_at")?,
        proposal_event: get("proposal_event").unwrap_or_default(),
        detail: get("detail")?,
    })
}
