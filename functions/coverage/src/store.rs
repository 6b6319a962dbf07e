//! The coverage items of the table, each partition read with one paginated `Query`:
//!
//! | pk | sk | what |
//! |---|---|---|
//! | `COVERAGE#AGENTS` | `<sender account>#<agent id>` | an agent's last recorded heartbeat |
//! | `COVERAGE#FINDINGS` | `<Security Hub Id>` | an open coverage finding (its last ASFF record) |
//! | `COVERAGE#GUARDDUTY` | `<cluster ARN>` | since when GuardDuty has reported the cluster healthy |
//! | `COVERAGE#REPORT` | `LATEST` | the last check's report (`vigil coverage` reads it) |
//!
//! A heartbeat is written at most once per agent per heartbeat interval: the write's condition
//! refuses it while the last one is younger than the interval (coalesced, not an error).

use crate::heartbeat::{AgentKind, Heartbeat, Watches};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, TimeZone, Utc};
use std::collections::HashMap;

/// The partition of agents' heartbeats.
pub const AGENTS: &str = "COVERAGE#AGENTS";
/// The partition of open coverage findings.
pub const FINDINGS: &str = "COVERAGE#FINDINGS";
/// The partition of GuardDuty's per-cluster healthy times.
pub const GUARDDUTY: &str = "COVERAGE#GUARDDUTY";
/// The partition of the last report.
pub const REPORT: &str = "COVERAGE#REPORT";
/// How long an agent's item outlives its last write (TTL).
pub const AGENT_TTL_SECONDS: i64 = 7 * 86_400;

type Item = HashMap<String, AttributeValue>;

/// A DynamoDB call that failed.
pub type StoreError = crate::error::CallError;

fn store_error(
    operation: &'static str,
    key: &str,
    e: impl std::error::Error + 'static,
) -> StoreError {
    StoreError::new("DynamoDB", operation, key, e)
}

/// What a heartbeat write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Recorded.
    Recorded,
    /// Refused by the condition: the agent's last write is younger than the interval (or newer).
    Coalesced,
}

/// An agent's recorded heartbeat, as the check reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRecord {
    /// The sender account.
    pub sender_account: String,
    /// The agent id.
    pub agent_id: String,
    /// Its kind.
    pub kind: AgentKind,
    /// Its version.
    pub version: Option<String>,
    /// What it watches.
    pub watches: Watches,
    /// When it last reported.
    pub seen_at: DateTime<Utc>,
    /// The last recorded drop share.
    pub drop_ratio: Option<f64>,
    /// Recorded heartbeats in a row with heavy drops.
    pub heavy_streak: u32,
}

/// The coverage items of one table.
#[derive(Clone, Debug)]
pub struct CoverageStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s(item: &Item, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}

fn get_n<T: std::str::FromStr>(item: &Item, k: &str) -> Option<T> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn at(seconds: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(seconds, 0).single()
}

impl CoverageStore {
    /// The items of `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        CoverageStore {
            client,
            table: table.into(),
        }
    }

    /// Records `hb` unless the agent's last write is younger than `interval` (seconds) at `now`
    /// or already newer. `heavy`: its drops were heavy (the streak grows; otherwise it restarts).
    pub async fn record_heartbeat(
        &self,
        hb: &Heartbeat,
        heavy: bool,
        interval: i64,
        now: DateTime<Utc>,
    ) -> Result<Written, StoreError> {
        let sk = format!("{}#{}", hb.sender_account, hb.agent_id);
        let w = &hb.watches;
        // Every attribute by placeholder: several of these names (`kind`, `version`, `region`,
        // `cluster`) are DynamoDB reserved words.
        let mut set = vec![
            "#kind = :kind",
            "#seen_at = :seen",
            "#written_at = :now",
            "#expires_at = :ttl",
        ];
        let mut values: Item = HashMap::from([
            (":kind".into(), s(hb.kind.as_str())),
            (":seen".into(), n(hb.seen_at.timestamp())),
            (":now".into(), n(now.timestamp())),
            (":ttl".into(), n(now.timestamp() + AGENT_TTL_SECONDS)),
            (":cutoff".into(), n(now.timestamp() - interval)),
            (":zero".into(), n(0)),
        ]);
        let mut remove: Vec<String> = Vec::new();
        let optional = [
            ("version", ":version", hb.version.as_deref()),
            ("task_arn", ":task", w.task_arn.as_deref()),
            (
                "container_instance_arn",
                ":ci",
                w.container_instance_arn.as_deref(),
            ),
            ("ec2_instance_id", ":ec2", w.ec2_instance_id.as_deref()),
            ("cluster", ":cluster", w.cluster.as_deref()),
            ("account", ":account", w.account.as_deref()),
            ("region", ":region", w.region.as_deref()),
        ];
        let mut clauses: Vec<String> = Vec::new();
        for &(name, placeholder, value) in &optional {
            match value {
                Some(v) => {
                    clauses.push(format!("#{name} = {placeholder}"));
                    values.insert(placeholder.into(), s(v));
                }
                None => remove.push(format!("#{name}")),
            }
        }
        match hb.drop_ratio {
            Some(r) => {
                set.push("#drop_ratio = :ratio");
                values.insert(":ratio".into(), n(r));
            }
            None => remove.push("#drop_ratio".into()),
        }
        if heavy {
            set.push("#heavy_streak = if_not_exists(#heavy_streak, :zero) + :one");
            values.insert(":one".into(), n(1));
        } else {
            set.push("#heavy_streak = :zero");
        }
        let names: HashMap<String, String> = [
            "kind",
            "seen_at",
            "written_at",
            "expires_at",
            "drop_ratio",
            "heavy_streak",
        ]
        .into_iter()
        .chain(optional.iter().map(|(name, _, _)| *name))
        .map(|n| (format!("#{n}"), n.to_owned()))
        .collect();
        let mut expression = format!(
            "SET {}",
            set.iter()
                .map(|c| c.to_string())
                .chain(clauses)
                .collect::<Vec<_>>()
                .join(", ")
        );
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(AGENTS))
            .key("sk", s(&sk))
            .update_expression(expression)
            .condition_expression(
                "attribute_not_exists(pk) OR (#written_at <= :cutoff AND #seen_at < :seen)",
            )
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Written::Recorded),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(Written::Coalesced)
            }
            Err(e) => Err(store_error("UpdateItem", &sk, e)),
        }
    }

    /// Every item of partition `pk`, page by page.
    async fn partition(&self, pk: &str) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(pk))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| store_error("Query", pk, e))?;
            items.extend(out.items().iter().cloned());
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(items),
            }
        }
    }

    /// Every agent's recorded heartbeat (items that do not read are skipped, logged).
    pub async fn agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        let items = self.partition(AGENTS).await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                let record = agent_record(item);
                if record.is_none() {
                    tracing::warn!(sk = ?get_s(item, "sk"), "an agent item that does not read");
                }
                record
            })
            .collect())
    }

    /// The open coverage findings: Security Hub Id → (first seen, last ASFF record as JSON).
    pub async fn open_findings(
        &self,
    ) -> Result<HashMap<String, (DateTime<Utc>, String)>, StoreError> {
        let items = self.partition(FINDINGS).await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                let first = get_n::<i64>(item, "first_seen").and_then(at)?;
                Some((get_s(item, "sk")?, (first, get_s(item, "asff")?)))
            })
            .collect())
    }

    /// Records an open finding (its ASFF record, first seen at `first_seen`).
    pub async fn open_finding(
        &self,
        id: &str,
        first_seen: DateTime<Utc>,
        asff: &str,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(FINDINGS))
            .item("sk", s(id))
            .item("first_seen", n(first_seen.timestamp()))
            .item("asff", s(asff))
            .send()
            .await
            .map_err(|e| store_error("PutItem", id, e))?;
        Ok(())
    }

    /// Forgets a resolved finding.
    pub async fn close_finding(&self, id: &str) -> Result<(), StoreError> {
        self.delete(FINDINGS, id).await
    }

    async fn delete(&self, pk: &str, sk: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .send()
            .await
            .map_err(|e| store_error("DeleteItem", sk, e))?;
        Ok(())
    }

    /// Cluster ARN → since when GuardDuty has reported it healthy.
    pub async fn guardduty_healthy(&self) -> Result<HashMap<String, DateTime<Utc>>, StoreError> {
        let items = self.partition(GUARDDUTY).await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                // Milliseconds: a task started in the same second is told apart.
                let since = get_n::<i64>(item, "healthy_since")
                    .and_then(DateTime::from_timestamp_millis)?;
                Some((get_s(item, "sk")?, since))
            })
            .collect())
    }

    /// Records that GuardDuty reports `cluster_arn` healthy since `since`, or (`None`) no longer.
    pub async fn set_guardduty_healthy(
        &self,
        cluster_arn: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let Some(since) = since else {
            return self.delete(GUARDDUTY, cluster_arn).await;
        };
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(GUARDDUTY))
            .item("sk", s(cluster_arn))
            .item("healthy_since", n(since.timestamp_millis()))
            .send()
            .await
            .map_err(|e| store_error("PutItem", cluster_arn, e))?;
        Ok(())
    }

    /// Keeps the last report (JSON) for `vigil coverage`.
    pub async fn save_report(&self, report: &str) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(REPORT))
            .item("sk", s("LATEST"))
            .item("report", s(report))
            .send()
            .await
            .map_err(|e| store_error("PutItem", REPORT, e))?;
        Ok(())
    }

    /// The last report (JSON), when a check has run.
    pub async fn report(&self) -> Result<Option<String>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(REPORT))
            .key("sk", s("LATEST"))
            .send()
            .await
            .map_err(|e| store_error("GetItem", REPORT, e))?;
        Ok(out.item().and_then(|i| get_s(i, "report")))
    }
}

fn agent_record(item: &Item) -> Option<AgentRecord> {
    let sk = get_s(item, "sk")?;
    let (sender, agent) = sk.split_once('#')?;
    Some(AgentRecord {
        sender_account: sender.to_owned(),
        agent_id: agent.to_owned(),
        kind: AgentKind::parse(&get_s(item, "kind").unwrap_or_default()),
        version: get_s(item, "version"),
        watches: Watches {
            task_arn: get_s(item, "task_arn"),
            container_instance_arn: get_s(item, "container_instance_arn"),
            ec2_instance_id: get_s(item, "ec2_instance_id"),
            cluster: get_s(item, "cluster"),
            account: get_s(item, "account"),
            region: get_s(item, "region"),
        },
        seen_at: get_n::<i64>(item, "seen_at").and_then(at)?,
        drop_ratio: get_n(item, "drop_ratio"),
        heavy_streak: get_n(item, "heavy_streak").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
    use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn heartbeat() -> Heartbeat {
        Heartbeat {
            sender_account: "123456789012".into(),
            agent_id: "a".into(),
            kind: AgentKind::Custom,
            version: None,
            watches: Watches::default(),
            drop_ratio: None,
            seen_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn a_refused_condition_is_coalesced_and_another_error_names_the_item() {
        let refused = mock!(aws_sdk_dynamodb::Client::update_item).then_error(|| {
            UpdateItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder().build(),
            )
        });
        let broken = mock!(aws_sdk_dynamodb::Client::update_item).then_error(|| {
            UpdateItemError::InternalServerError(
                aws_sdk_dynamodb::types::error::InternalServerError::builder()
                    .message("boom")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&refused, &broken]);
        let store = CoverageStore::new(client, "t");
        let hb = heartbeat();
        assert_eq!(
            store
                .record_heartbeat(&hb, false, 60, Utc::now())
                .await
                .unwrap(),
            Written::Coalesced
        );
        let e = store
            .record_heartbeat(&hb, true, 60, Utc::now())
            .await
            .unwrap_err();
        assert_eq!(e.operation, "UpdateItem");
        assert_eq!(e.about, "123456789012#a");
    }

    #[test]
    fn an_agent_item_reads_back_and_a_broken_one_does_not() {
        let mut item: Item = HashMap::from([
            ("sk".into(), s("123456789012#falco:x")),
            ("kind".into(), s("falco")),
            ("seen_at".into(), n(1_700_000_000)),
            ("heavy_streak".into(), n(2)),
            ("drop_ratio".into(), n(0.5)),
            ("task_arn".into(), s("arn:t")),
        ]);
        let r = agent_record(&item).unwrap();
        assert_eq!(
            (r.sender_account.as_str(), r.agent_id.as_str()),
            ("123456789012", "falco:x")
        );
        assert_eq!(
            (r.kind, r.heavy_streak, r.drop_ratio),
            (AgentKind::Falco, 2, Some(0.5))
        );
        assert_eq!(r.watches.task_arn.as_deref(), Some("arn:t"));
        item.remove("seen_at");
        assert_eq!(agent_record(&item), None);
    }
}
