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

/// The partition key's prefix of a proposal: `PROPOSAL#<finding Id>`.
pub const PREFIX: &str = "PROPOSAL#";

/// One task's proposal under one Security Hub finding; its fields are the item's attributes (as
/// DynamoDB strings, `actions` a list), beside the key and `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Proposal {
    /// The Security Hub finding it is filed under (`Id`, `ProductArn`, `AwsAccountId`).
    pub finding_id: String,
    /// The finding's `ProductArn`: Vigil's own product, or `aws/guardduty` for GuardDuty's finding.
    pub product_arn: String,
    /// The finding's `AwsAccountId`.
    #[serde(default)]
    pub finding_account: String,
    /// The finding's Vigil fingerprint (its dedup record's key).
    pub fingerprint: String,
    /// The task the plan acts on.
    pub task_arn: String,
    /// The playbook that proposed it.
    #[serde(default)]
    pub playbook: String,
    /// The playbook's actions (`stop_task`, `tag_task`, `record`).
    #[serde(default)]
    pub actions: Vec<String>,
    /// The playbook's reason, rendered for this finding.
    #[serde(default)]
    pub reason: String,
    /// RFC 3339.
    pub proposed_at: String,
    /// The event the proposal was decided for.
    #[serde(default)]
    pub proposal_event: String,
    /// The `Finding Enriched` detail, as JSON.
    pub detail: String,
}

/// The proposals in the shared table.
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
    /// A store over `table`; proposals are kept for `retention_seconds` (TTL on `expires_at`).
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
        let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(p)
            .map_err(|e| error("PutItem", &pk, format!("proposal as an item: {e}")))?;
        item.insert("pk".into(), s(&pk));
        item.insert("sk".into(), s(format!("{}|{}", p.product_arn, p.task_arn)));
        item.insert(
            "expires_at".into(),
            AttributeValue::N((now + self.retention_seconds).to_string()),
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
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
            let next = page.last_evaluated_key.filter(|k| !k.is_empty());
            // An item that is not a whole proposal (none is written so) proposes nothing.
            out.extend(
                page.items
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|item| serde_dynamo::from_item(item).ok()),
            );
            match next {
                Some(k) => start = Some(k),
                None => return Ok(out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposal(actions: &[&str]) -> Proposal {
        Proposal {
            finding_id: "vigil-v1-ab".into(),
            product_arn: "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
                .into(),
            finding_account: "123456789012".into(),
            fingerprint: "v1-ab".into(),
            task_arn: "arn:aws:ecs:us-east-1:123456789012:task/prod/0a".into(),
            playbook: "attack-sequence-approve".into(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
            reason: "Vigil: stop".into(),
            proposed_at: "2026-01-01T00:00:00Z".into(),
            proposal_event: "e-1".into(),
            detail: "{}".into(),
        }
    }

    /// The plan survives the table: the actions as a list of strings (what earlier versions wrote
    /// and read), beside the key and `expires_at`, which the reader ignores.
    #[test]
    fn a_proposal_reads_back_as_written_with_its_plan() {
        for actions in [&["stop_task", "tag_task"][..], &[]] {
            let p = proposal(actions);
            let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(&p).unwrap();
            assert_eq!(
                item["actions"],
                AttributeValue::L(actions.iter().map(|a| s(*a)).collect())
            );
            item.insert("pk".into(), s("PROPOSAL#vigil-v1-ab"));
            item.insert("sk".into(), s("x|y"));
            item.insert("expires_at".into(), AttributeValue::N("1".into()));
            assert_eq!(serde_dynamo::from_item::<_, Proposal>(item).unwrap(), p);
        }
    }

    /// An item without what the plan is (its task, its finding) is no proposal, so nothing is
    /// approved from it; the attributes earlier versions may not have written default to a plan
    /// no playbook approves (no actions).
    #[test]
    fn a_partial_item_proposes_nothing_it_does_not_name() {
        let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(proposal(&[])).unwrap();
        for required in [
            "task_arn",
            "fingerprint",
            "detail",
            "finding_id",
            "proposed_at",
        ] {
            let mut partial = item.clone();
            partial.remove(required);
            assert!(
                serde_dynamo::from_item::<_, Proposal>(partial).is_err(),
                "{required}"
            );
        }
        let mut legacy = item.clone();
        for optional in ["actions", "playbook", "finding_account", "proposal_event"] {
            legacy.remove(optional);
        }
        let read: Proposal = serde_dynamo::from_item(legacy).unwrap();
        assert!(read.actions.is_empty() && read.playbook.is_empty());
        let mut wrong = item;
        wrong.insert(
            "actions".into(),
            AttributeValue::Ss(vec!["stop_task".into()]),
        );
        let read: Result<Proposal, _> = serde_dynamo::from_item(wrong);
        assert!(
            read.as_ref().map_or(true, |p| p.actions == ["stop_task"]),
            "a set of actions reads as those actions or not at all: {read:?}"
        );
    }
}
