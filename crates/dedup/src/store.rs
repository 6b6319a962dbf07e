//! The DynamoDB calls. The hot path is one `UpdateItem`:
//!
//! - the update counts the occurrence, stamps times and windows, and adds the event id to the
//!   current generation of remembered ids;
//! - the condition refuses an event id already remembered (a redelivery), and a full generation;
//! - `ALL_OLD` returns what the record held before, which is all [`decision`](crate::decision) needs
//!   (not `UPDATED_OLD`: implementations differ on whether it includes attributes whose value did not
//!   change, such as `if_not_exists` ones); a refused condition returns the record too, so there is
//!   never a second read. Returning values costs no capacity.
//!
//! Only when the current generation is full does a second `UpdateItem` roll it over, and only when an
//! occurrence is more severe than any counted before does a second, conditional `UpdateItem` raise
//! the record's highest severity (its condition refuses to lower it, whoever writes at once).

use crate::config::DedupConfig;
use crate::decision::{self, Outcome};
use crate::record::*;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum DedupError {
    #[error("DynamoDB UpdateItem on {fingerprint} failed: {source}")]
    Update {
        fingerprint: String,
        #[source]
        source: Box<SdkError<UpdateItemError>>,
    },
    #[error("DynamoDB GetItem of the dedup record {fingerprint} failed: {source}")]
    Read {
        fingerprint: String,
        #[source]
        source: Box<SdkError<aws_sdk_dynamodb::operation::get_item::GetItemError>>,
    },
    #[error("dedup record for {0} kept changing under concurrent writers")]
    Contention(String),
}

/// One occurrence of a finding, as the dedup record sees it.
#[derive(Debug, Clone)]
pub struct Occurrence {
    pub fingerprint: String,
    /// The delivery's identity: the EventBridge event id (or the source's own id for bare events).
    pub event_id: String,
    pub source: &'static str,
    pub rule: String,
    pub securityhub_id: String,
    /// Where the finding came from (written with the first occurrence; the fingerprint includes the
    /// sender, the arrival and the task, so every occurrence agrees).
    pub arrival: &'static str,
    pub sender_account: Option<String>,
    pub account: Option<String>,
    pub task_arn: Option<String>,
    /// For an attack sequence, the task ARNs it names: added to the record's set with every
    /// counted occurrence (see [`crate::record::ORIGIN_SEQUENCE_TASKS`]). Empty otherwise.
    pub sequence_tasks: Vec<String>,
    /// The source's own ids of the finding (the GuardDuty finding ARN): added to the record's set
    /// with every counted occurrence (see [`crate::record::ORIGIN_SOURCE_REFS`]). Empty otherwise.
    pub source_refs: Vec<String>,
    /// The occurrence's normalized severity (0–100): the record keeps the highest counted.
    pub severity: u8,
}

/// An occurrence counted (or recognized as redelivered), and what the record says of its finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub outcome: Outcome,
    /// The highest severity counted for the fingerprint, this occurrence's included.
    pub highest_severity: u8,
    /// The last confirmed Security Hub import's `UpdatedAt`, as the record held it.
    pub last_update: Option<DateTime<Utc>>,
}

#[derive(Clone)]
pub struct DedupStore {
    client: aws_sdk_dynamodb::Client,
    config: DedupConfig,
}

enum Attempt {
    /// Counted; the record's values before (`None`: the update created it).
    Counted(Option<RecordBefore>),
    /// The event id was already counted; the record as it is.
    Redelivered(RecordBefore),
    /// The current generation of event ids is full: roll it over.
    Full,
}

impl DedupStore {
    pub fn new(client: aws_sdk_dynamodb::Client, config: DedupConfig) -> Self {
        DedupStore { client, config }
    }

    pub fn config(&self) -> &DedupConfig {
        &self.config
    }

    /// Counts one occurrence and says whether to publish it.
    pub async fn record(
        &self,
        occ: &Occurrence,
        now: DateTime<Utc>,
    ) -> Result<Outcome, DedupError> {
        Ok(self.record_occurrence(occ, now).await?.outcome)
    }

    /// Counts one occurrence, keeps the highest severity, and says whether to publish it, with what
    /// the publication must carry of the record.
    pub async fn record_occurrence(
        &self,
        occ: &Occurrence,
        now: DateTime<Utc>,
    ) -> Result<Recorded, DedupError> {
        let (lease, interval) = (
            self.config.lease.as_secs(),
            self.config.update_interval.as_secs(),
        );
        let attempt = self.count(occ, now).await?;
        let before = match &attempt {
            Attempt::Counted(before) => before.as_ref(),
            Attempt::Redelivered(existing) => Some(existing),
            Attempt::Full => None,
        };
        let (escalated, highest_severity) = match before {
            Some(b) if decision::is_escalation(b, occ.severity) => {
                match self.raise_severity(occ).await? {
                    None => (true, occ.severity),
                    // Another writer raised it at least as high first: not this one's escalation.
                    Some(current) => (false, current.max(occ.severity)),
                }
            }
            Some(b) => (false, b.max_severity.unwrap_or(occ.severity)),
            // The update created the record with this occurrence's severity.
            None => (false, occ.severity),
        };
        let last_update = before.and_then(|b| b.forwarded_at);
        let outcome = match &attempt {
            Attempt::Counted(before) => {
                decision::after_counted(before.as_ref(), now, lease, interval, escalated)
            }
            Attempt::Redelivered(existing) => decision::after_redelivery(existing, escalated),
            Attempt::Full => return Err(DedupError::Contention(occ.fingerprint.clone())),
        };
        Ok(Recorded {
            outcome,
            highest_severity,
            last_update,
        })
    }

    /// The counting update, rolling the generation of event ids over when full.
    async fn count(&self, occ: &Occurrence, now: DateTime<Utc>) -> Result<Attempt, DedupError> {
        for _ in 0..3 {
            match self.try_count(occ, now, false).await? {
                Attempt::Full => match self.try_count(occ, now, true).await? {
                    // Another writer rolled the generation over first: count again on the new one.
                    Attempt::Full => continue,
                    done => return Ok(done),
                },
                done => return Ok(done),
            }
        }
        Ok(Attempt::Full)
    }

    /// Raises the record's highest severity to the occurrence's. The condition refuses to lower
    /// it, so concurrent writers leave the highest of them. `None` when this write raised it, else
    /// the severity another writer left (or the occurrence's own, should the record be gone).
    async fn raise_severity(&self, occ: &Occurrence) -> Result<Option<u8>, DedupError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.config.table_name)
            .set_key(Some(dedup_key(&occ.fingerprint)))
            .update_expression("SET #sev = :sev")
            .condition_expression(
                "attribute_exists(#pk) AND (attribute_not_exists(#sev) OR #sev < :sev)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sev", MAX_SEVERITY)
            .expression_attribute_values(":sev", AttributeValue::N(occ.severity.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(None),
            Err(SdkError::ServiceError(ctx))
                if ctx.err().is_conditional_check_failed_exception() =>
            {
                let current = match ctx.err() {
                    UpdateItemError::ConditionalCheckFailedException(e) => e
                        .item
                        .as_ref()
                        .and_then(|item| item.get(MAX_SEVERITY))
                        .and_then(|v| v.as_n().ok())
                        .and_then(|n| n.parse::<u8>().ok()),
                    _ => None,
                };
                Ok(Some(current.unwrap_or(occ.severity)))
            }
            Err(e) => Err(DedupError::Update {
                fingerprint: occ.fingerprint.clone(),
                source: Box::new(e),
            }),
        }
    }

    async fn try_count(
        &self,
        occ: &Occurrence,
        now: DateTime<Utc>,
        rollover: bool,
    ) -> Result<Attempt, DedupError> {
        let cfg = &self.config;
        let (lease, interval) = (cfg.lease.as_secs(), cfg.update_interval.as_secs());
        let names = HashMap::from(
            [
                ("#pk", PK),
                ("#fp", FINGERPRINT),
                ("#first", FIRST_SEEN),
                ("#last", LAST_SEEN),
                ("#state", STATE),
                ("#acc", ACCEPTED_AT),
                ("#shid", SECURITY_HUB_ID),
                ("#rule", RULE),
                ("#src", SOURCE),
                ("#lease", LEASE_BUCKET),
                ("#interval", INTERVAL_BUCKET),
                ("#exp", EXPIRES_AT),
                ("#count", COUNT),
                ("#ids", IDS_CURRENT),
                ("#prev", IDS_PREVIOUS),
                ("#o_arr", ORIGIN_ARRIVAL),
                ("#o_snd", ORIGIN_SENDER),
                ("#o_acc", ORIGIN_ACCOUNT),
                ("#o_task", ORIGIN_TASK),
                ("#sev", MAX_SEVERITY),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        let n = |v: i64| AttributeValue::N(v.to_string());
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let values = HashMap::from(
            [
                (":fp", s(&occ.fingerprint)),
                (
                    ":now_iso",
                    s(&now.to_rfc3339_opts(SecondsFormat::Millis, true)),
                ),
                (":accepted", s(DedupState::Accepted.as_str())),
                (":now_s", n(now.timestamp())),
                (":shid", s(&occ.securityhub_id)),
                (":rule", s(&occ.rule)),
                (":src", s(occ.source)),
                (":lease_b", n(decision::bucket(now, lease))),
                (":interval_b", n(decision::bucket(now, interval))),
                (":exp", n(now.timestamp() + cfg.window.as_secs() as i64)),
                (":one", n(1)),
                (":eid", s(&occ.event_id)),
                (":eidset", AttributeValue::Ss(vec![occ.event_id.clone()])),
                (":cap", n(cfg.remembered_event_ids as i64)),
                (":o_arr", s(occ.arrival)),
                (":o_snd", s(occ.sender_account.as_deref().unwrap_or(NONE))),
                (":o_acc", s(occ.account.as_deref().unwrap_or(NONE))),
                (":o_task", s(occ.task_arn.as_deref().unwrap_or(NONE))),
                (":sev", n(i64::from(occ.severity))),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        let common = "#fp = if_not_exists(#fp, :fp), #first = if_not_exists(#first, :now_iso), #last = :now_iso, \
                      #state = if_not_exists(#state, :accepted), #acc = if_not_exists(#acc, :now_s), \
                      #shid = if_not_exists(#shid, :shid), #rule = if_not_exists(#rule, :rule), \
                      #src = if_not_exists(#src, :src), #lease = :lease_b, #interval = :interval_b, #exp = :exp, \
                      #o_arr = if_not_exists(#o_arr, :o_arr), #o_snd = if_not_exists(#o_snd, :o_snd), \
                      #o_acc = if_not_exists(#o_acc, :o_acc), #o_task = if_not_exists(#o_task, :o_task), \
                      #sev = if_not_exists(#sev, :sev)";
        // A sequence's tasks are added to the set the record keeps (DynamoDB refuses an empty set).
        let tasks: std::collections::BTreeSet<&String> = occ.sequence_tasks.iter().collect();
        let refs: std::collections::BTreeSet<&String> = occ.source_refs.iter().collect();
        let mut add_tasks = String::new();
        if !tasks.is_empty() {
            add_tasks.push_str(", #o_seq :o_seq");
        }
        if !refs.is_empty() {
            add_tasks.push_str(", #o_ref :o_ref");
        }
        let (update, condition) = if rollover {
            (
                format!("SET {common}, #prev = #ids, #ids = :eidset ADD #count :one{add_tasks}"),
                "NOT contains(#ids, :eid) AND NOT contains(#prev, :eid) AND size(#ids) >= :cap",
            )
        } else {
            (
                format!("SET {common} ADD #count :one, #ids :eidset{add_tasks}"),
                "attribute_not_exists(#pk) OR (NOT contains(#ids, :eid) AND NOT contains(#prev, :eid) \
                 AND (attribute_not_exists(#ids) OR size(#ids) < :cap))",
            )
        };
        let mut names = names;
        let mut values = values;
        if !tasks.is_empty() {
            names.insert("#o_seq".into(), ORIGIN_SEQUENCE_TASKS.into());
            values.insert(
                ":o_seq".into(),
                AttributeValue::Ss(tasks.into_iter().cloned().collect()),
            );
        }
        if !refs.is_empty() {
            names.insert("#o_ref".into(), ORIGIN_SOURCE_REFS.into());
            values.insert(
                ":o_ref".into(),
                AttributeValue::Ss(refs.into_iter().cloned().collect()),
            );
        }
        if rollover {
            // DynamoDB refuses expression names the expressions do not use.
            names.remove("#pk");
        }
        let result = self
            .client
            .update_item()
            .table_name(&cfg.table_name)
            .set_key(Some(dedup_key(&occ.fingerprint)))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(UpdateItemOutput { attributes, .. }) => Ok(Attempt::Counted(
                attributes.as_ref().and_then(RecordBefore::from_attributes),
            )),
            Err(SdkError::ServiceError(ctx))
                if ctx.err().is_conditional_check_failed_exception() =>
            {
                let item = match ctx.err() {
                    UpdateItemError::ConditionalCheckFailedException(e) => {
                        e.item.clone().unwrap_or_default()
                    }
                    _ => HashMap::new(),
                };
                if remembers(&item, &occ.event_id) {
                    let existing = RecordBefore::from_attributes(&item).unwrap_or(RecordBefore {
                        count: 0,
                        state: DedupState::Accepted,
                        accepted_at: None,
                        lease_bucket: None,
                        interval_bucket: None,
                        max_severity: None,
                        forwarded_at: None,
                    });
                    Ok(Attempt::Redelivered(existing))
                } else {
                    Ok(Attempt::Full)
                }
            }
            Err(e) => Err(DedupError::Update {
                fingerprint: occ.fingerprint.clone(),
                source: Box::new(e),
            }),
        }
    }

    /// The origin ingest recorded for a fingerprint (a strongly consistent read), or `None` when no
    /// record vouches for it.
    pub async fn origin(&self, fingerprint: &str) -> Result<Option<RecordedOrigin>, DedupError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.config.table_name)
            .set_key(Some(dedup_key(fingerprint)))
            .consistent_read(true)
            .projection_expression("#a, #s, #c, #t, #q, #r, #l, #st")
            .expression_attribute_names("#a", ORIGIN_ARRIVAL)
            .expression_attribute_names("#s", ORIGIN_SENDER)
            .expression_attribute_names("#c", ORIGIN_ACCOUNT)
            .expression_attribute_names("#t", ORIGIN_TASK)
            .expression_attribute_names("#q", ORIGIN_SEQUENCE_TASKS)
            .expression_attribute_names("#r", ORIGIN_SOURCE_REFS)
            .expression_attribute_names("#l", LAST_SEEN)
            .expression_attribute_names("#st", STATE)
            .send()
            .await
            .map_err(|e| DedupError::Read {
                fingerprint: fingerprint.to_owned(),
                source: Box::new(e),
            })?;
        Ok(out.item().and_then(RecordedOrigin::from_attributes))
    }

    /// Marks a record `forwarded` once Security Hub confirmed the import whose `UpdatedAt` was
    /// `updated_at`, and keeps that time as `forwarded_at` for the next import to stay at or after
    /// it. Conditional on the record existing, so a late confirmation never resurrects an expired
    /// record, and on `forwarded_at` not being later already, so a slower import confirmed after a
    /// newer one never moves it back (the record is then already `forwarded`: `forwarded_at` is
    /// written only with that state). Returns whether the record exists.
    pub async fn mark_forwarded(
        &self,
        fingerprint: &str,
        updated_at: DateTime<Utc>,
    ) -> Result<bool, DedupError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.config.table_name)
            .set_key(Some(dedup_key(fingerprint)))
            .update_expression("SET #state = :forwarded, #fwd = :now")
            // Fixed-width RFC 3339 in UTC (milliseconds, `Z`): string order is time order.
            .condition_expression(
                "attribute_exists(#pk) AND (attribute_not_exists(#fwd) OR #fwd <= :now)",
            )
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#fwd", FORWARDED_AT)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(
                ":forwarded",
                AttributeValue::S(DedupState::Forwarded.as_str().into()),
            )
            .expression_attribute_values(
                ":now",
                AttributeValue::S(updated_at.to_rfc3339_opts(SecondsFormat::Millis, true)),
            )
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(ctx))
                if ctx.err().is_conditional_check_failed_exception() =>
            {
                // Refused with the record present: a later import was confirmed first.
                Ok(matches!(
                    ctx.err(),
                    UpdateItemError::ConditionalCheckFailedException(e)
                        if e.item.as_ref().is_some_and(|item| !item.is_empty())
                ))
            }
            Err(e) => Err(DedupError::Update {
                fingerprint: fingerprint.to_owned(),
                source: Box::new(e),
            }),
        }
    }
}

fn remembers(item: &HashMap<String, AttributeValue>, event_id: &str) -> bool {
    [IDS_CURRENT, IDS_PREVIOUS].iter().any(|k| {
        item.get(*k)
            .and_then(|v| v.as_ss().ok())
            .is_some_and(|ids| ids.iter().any(|id| id == event_id))
    })
}
