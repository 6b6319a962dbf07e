//! The action record: one DynamoDB item per (finding fingerprint, task, mode) that makes a stop
//! happen once and keeps the audit trail.
//!
//! The record moves `claimed` → `acting` → `acted` → `complete`, each step a conditional write that
//! only the current lease holder can make:
//! - `claimed`: a conditional `UpdateItem` takes the record, or takes over one whose lease ran out
//!   (a crashed attempt) or whose holder worked for an earlier receive of the same SQS message (an
//!   attempt that is over); a record that is `complete` refuses, which is what makes a duplicate
//!   delivery a no-op. The holder's message carries the job until it is done: a copy of the
//!   event (another message) that finds the record claimed leaves it to that message.
//! - `acting`: the decision and guardrail verdicts are written *before* StopTask, in one transaction
//!   with the per-service and per-cluster stop counters (`rate_limit`), so the rate limit holds
//!   exactly and a retry after a crash re-sends the same StopTask instead of deciding again.
//! - `acted`: the StopTask response; `complete`: the Security Hub note and the event are out.
//!
//! Only an `act` (and a dry run or a record-only decision) is final. A refusal, a stop over the
//! limit or a task found not running is `complete` with `is_final = false`: a later arrival of the
//! finding (another event than the one decided, `decided_event`) reopens the record and decides
//! again, while a redelivery of the same event stays a no-op.
//!
//! Key: `pk = ACT#<fingerprint>#<task ARN>`, `sk = ACTION#<mode>` (a dry-run decision does not
//! stand in the way of a later enforced one). Events refused as untrusted are recorded under
//! `sk = UNTRUSTED#<mode>#<event account>`, and findings whose task ECS does not know (a claimed
//! cluster or task that does not exist) under `sk = UNSEEN#<mode>#<event account>`, so neither a
//! forged event nor a decoy can occupy the real record, and a finding delivered again (as a new
//! event, when enrichment ran twice) is recorded once.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use vigil_playbook::Mode;

type Item = HashMap<String, AttributeValue>;

/// What an action record is for: one finding on one task in one mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionKey {
    /// The finding's Vigil fingerprint.
    pub fingerprint: String,
    /// The ECS task ARN acted on.
    pub task_arn: String,
    /// The mode the playbook runs in (after the deployment's cap).
    pub mode: Mode,
}

impl ActionKey {
    /// The partition key, `ACT#<fingerprint>#<task ARN>`.
    pub fn pk(&self) -> String {
        format!("ACT#{}#{}", self.fingerprint, self.task_arn)
    }

    /// The sort key, `ACTION#<mode>`.
    pub fn sk(&self) -> String {
        format!("ACTION#{}", self.mode.as_str())
    }

    fn key(&self) -> Item {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S(self.pk())),
            ("sk".to_owned(), AttributeValue::S(self.sk())),
        ])
    }
}

/// Where an action record is in claim → act → record: a redelivery resumes from here.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Phase {
    /// An attempt holds the lease and has not called ECS yet (also what a record unreadable as
    /// any other phase is taken for: busy, never done).
    #[default]
    Claimed,
    /// The attempt is calling ECS.
    Acting,
    /// ECS answered; the decision is not recorded everywhere yet.
    Acted,
    /// Done: a redelivery finds the outcome and does nothing again.
    Complete,
}

impl Phase {
    /// The `phase` attribute's value.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What a record held when it was claimed.
#[derive(Debug, Clone, Deserialize)]
pub struct ActionRecord {
    /// Where the record is; `claimed` when absent.
    #[serde(default)]
    pub phase: Phase,
    /// The decision, as JSON, once one was made.
    #[serde(default)]
    pub decision: Option<String>,
    /// ECS's StopTask answer, as JSON, once it was called.
    #[serde(default)]
    pub stop_response: Option<String>,
    /// False for a decision that is made again on the finding's next arrival; records written
    /// before the flag existed are final.
    #[serde(default = "records_are_final")]
    pub is_final: bool,
    /// The event the decision was made for.
    #[serde(default)]
    pub decided_event: Option<String>,
}

fn records_are_final() -> bool {
    true
}

impl ActionRecord {
    /// The record an item holds; `None` for an item this version cannot read (none is written so).
    fn read(item: &Item) -> Option<ActionRecord> {
        serde_dynamo::from_item(item.clone()).ok()
    }

    /// The record an item holds. An item this version cannot read is taken for a record still
    /// claimed: busy, so nothing is acted on twice. (A claim that *took* such an item does not
    /// use this: see [`ActionStore::claim`].)
    fn from_item(item: &Item) -> ActionRecord {
        Self::read(item).unwrap_or(ActionRecord {
            phase: Phase::Claimed,
            decision: None,
            stop_response: None,
            is_final: true,
            decided_event: None,
        })
    }
}

/// The SQS receive an attempt works for. SQS shows a message again only after the handler returned
/// it as failed or after its visibility timeout, which the template keeps above the function
/// timeout: so a later receive of the same message proves the attempt of an earlier receive is
/// over, and may take its lease over at once instead of waiting for it to run out (locally, where
/// failed messages come back within a second, it would otherwise run out of receives first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The SQS `messageId`.
    pub message_id: String,
    /// `ApproximateReceiveCount`: 1 on the first receive.
    pub receive_count: u32,
}

/// What [`ActionStore::claim`] found.
pub enum Claim {
    /// The lease is ours; continue from the record's phase (`Claimed` for a new record).
    Owned(ActionRecord),
    /// Already complete: a duplicate delivery.
    Done(ActionRecord),
    /// Another attempt holds a live lease. `message` is the SQS message that attempt works for,
    /// when it said: that message stays on its queue until the job is done (or reaches the
    /// dead-letter queue, from which it can be redriven), so it carries the job.
    Busy {
        /// The SQS message id of the attempt holding the lease.
        message: Option<String>,
    },
}

/// Why a write to Vigil's remediation items (action records, proposals, holds, stop counters)
/// did not happen. The message goes back to SQS.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A DynamoDB call failed (after the SDK's retries), or a request could not be built.
    #[error("DynamoDB {operation} on {pk} failed: {message}")]
    Store {
        /// The DynamoDB operation (`UpdateItem`, `TransactWriteItems`, …).
        operation: &'static str,
        /// The item's partition key.
        pk: String,
        /// The SDK's error, with its context.
        message: String,
    },
    /// Our lease was taken over (we were too slow); the new holder finishes the job.
    #[error("the claim on {0} was lost to another attempt")]
    LostLease(String),
}

/// What [`ActionStore::decide`] writes: the decision as JSON, two fields to query by, the next
/// phase, whether the decision is final and the event it was made for.
#[derive(Debug, Clone, Copy)]
pub struct DecisionWrite<'a> {
    /// The [`Decision`](crate::Decision) as JSON (`decision`).
    pub decision: &'a str,
    /// The outcome's name (`outcome`, `vigil_playbook::Outcome::as_str`).
    pub outcome: &'a str,
    /// The playbook's name (`playbook`).
    pub playbook: &'a str,
    /// The phase the record moves to: `acting` for a stop, else `acted`.
    pub next: Phase,
    /// Whether the decision stands for later arrivals of the finding (`is_final`).
    pub is_final: bool,
    /// The event decided for (`decided_event`): its EventBridge id, else the SQS message id.
    pub event: &'a str,
}

/// What [`ActionStore::decide`] came to.
pub enum Decided {
    /// Written, with the hold and the counters.
    Ok,
    /// The service's held stops changed since they were read: decide again.
    HoldChanged,
    /// A stop counter changed since it was read (another stop was counted): decide again.
    CounterChanged,
}

/// Why a decision is recorded apart from the finding's real record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aside {
    /// A trust check failed: the event may be forged.
    Untrusted,
    /// ECS does not know the task (or cluster) the finding claims: a decoy must not decide for the
    /// genuine alert.
    Unseen,
    /// The task is in an account Vigil has no way to call (trusted, but no member role).
    Unroutable,
}

impl Aside {
    const fn sort_key_prefix(self) -> &'static str {
        match self {
            Aside::Untrusted => "UNTRUSTED",
            Aside::Unseen => "UNSEEN",
            Aside::Unroutable => "UNROUTABLE",
        }
    }

    const fn outcome(self) -> &'static str {
        match self {
            Aside::Untrusted => "refused",
            Aside::Unseen => "not_running",
            Aside::Unroutable => "refused",
        }
    }
}

/// The action records (and those recorded aside) in the shared table. Times are Unix epoch
/// seconds; `expires_at` (TTL) is the claim's time plus the retention.
#[derive(Clone)]
pub struct ActionStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    lease_seconds: i64,
    retention_seconds: i64,
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

impl ActionStore {
    /// A store over `table`: a claim is exclusive for `lease_seconds`; records are kept for
    /// `retention_seconds`.
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        lease_seconds: i64,
        retention_seconds: i64,
    ) -> Self {
        ActionStore {
            client,
            table: table.into(),
            lease_seconds,
            retention_seconds,
        }
    }

    fn error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
        operation: &'static str,
        key: &ActionKey,
        e: SdkError<E, R>,
    ) -> RecordError {
        RecordError::Store {
            operation,
            pk: key.pk(),
            message: DisplayErrorContext(&e).to_string(),
        }
    }

    /// Takes the record for `owner`: a new one, one whose holder's lease ran out, one `owner`
    /// already holds, or one held by an earlier receive of the same SQS message (`delivery`).
    pub async fn claim(
        &self,
        key: &ActionKey,
        owner: &str,
        delivery: Option<&Delivery>,
        now: i64,
    ) -> Result<Claim, RecordError> {
        let mut update = String::from(
            "SET #phase = if_not_exists(#phase, :claimed), lease_owner = :owner, lease_until = :until, \
             created_at = if_not_exists(created_at, :now), fingerprint = :fp, task_arn = :task, \
             #mode = :mode, expires_at = :expires, attempts = if_not_exists(attempts, :zero) + :one",
        );
        // The holder itself may claim again: an SDK retry of a claim whose response was lost
        // must not find the record busy with its own lease.
        let mut condition = String::from(
            "attribute_not_exists(pk) OR (#phase <> :complete AND (lease_until < :now OR lease_owner = :owner",
        );
        let mut request = self.client.update_item();
        match delivery {
            Some(d) => {
                update.push_str(", lease_message = :message, lease_receive = :receive");
                condition.push_str(" OR (lease_message = :message AND lease_receive < :receive)");
                request = request
                    .expression_attribute_values(":message", s(&d.message_id))
                    .expression_attribute_values(":receive", n(i64::from(d.receive_count)));
            }
            // Not from SQS (or unknown): no earlier receive can be recognised.
            None => update.push_str(" REMOVE lease_message, lease_receive"),
        }
        condition.push_str("))");
        let result = request
            .table_name(&self.table)
            .set_key(Some(key.key()))
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_names("#phase", "phase")
            .expression_attribute_names("#mode", "mode")
            .expression_attribute_values(":claimed", s(Phase::Claimed.as_str()))
            .expression_attribute_values(":complete", s(Phase::Complete.as_str()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(now + self.lease_seconds))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":fp", s(&key.fingerprint))
            .expression_attribute_values(":task", s(&key.task_arn))
            .expression_attribute_values(":mode", s(key.mode.as_str()))
            .expression_attribute_values(":expires", n(now + self.retention_seconds))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            // The lease is ours, but what the record holds decides where to go on from: a record
            // this version cannot read may be past its decision (`acting`, `acted`), and taking
            // it for a new claim would decide and act again. Nothing is done: the lease is given
            // back and the message returns to its queue (and on to its dead-letter queue).
            Ok(out) => match ActionRecord::read(out.attributes().unwrap_or(&HashMap::new())) {
                Some(record) => Ok(Claim::Owned(record)),
                None => {
                    self.release(key, owner).await?;
                    Err(RecordError::Store {
                        operation: "UpdateItem",
                        pk: key.pk(),
                        message: "the action record is unreadable: not decided again".into(),
                    })
                }
            },
            Err(SdkError::ServiceError(ctx))
                if ctx.err().is_conditional_check_failed_exception() =>
            {
                let old = match ctx.into_err() {
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(e) => {
                        e.item.unwrap_or_default()
                    }
                    _ => HashMap::new(),
                };
                let record = ActionRecord::from_item(&old);
                Ok(if record.phase == Phase::Complete {
                    Claim::Done(record)
                } else {
                    Claim::Busy {
                        message: old
                            .get("lease_message")
                            .and_then(|v| v.as_s().ok())
                            .cloned(),
                    }
                })
            }
            Err(e) => Err(Self::error("UpdateItem", key, e)),
        }
    }

    /// Writes the decision and moves the record to `next`, in one transaction with the service's
    /// stop `hold` (if any) and the stop `counters` (`RateCounter::count`). A changed hold or
    /// counter refuses the whole transaction and nothing is written.
    pub async fn decide(
        &self,
        key: &ActionKey,
        owner: &str,
        decision: &DecisionWrite<'_>,
        hold: Option<TransactWriteItem>,
        counters: Vec<TransactWriteItem>,
        now: i64,
    ) -> Result<Decided, RecordError> {
        let mut items = vec![self.decision_item(key, owner, decision, now)?];
        let held = usize::from(hold.is_some());
        let counted = counters.len();
        items.extend(hold);
        items.extend(counters);
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Decided::Ok),
            Err(SdkError::ServiceError(ctx)) if ctx.err().is_transaction_canceled_exception() => {
                let reasons: Vec<Option<String>> = match ctx.err() {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(e) => {
                        e.cancellation_reasons().iter().map(|r| r.code().map(str::to_owned)).collect()
                    }
                    _ => Vec::new(),
                };
                let failed = |i: usize| {
                    reasons
                        .get(i)
                        .and_then(|r| r.as_deref())
                        .is_some_and(|c| c == "ConditionalCheckFailed")
                };
                if failed(0) {
                    return Err(RecordError::LostLease(key.pk()));
                }
                if held == 1 && failed(1) {
                    return Ok(Decided::HoldChanged);
                }
                // Item 0 is the record, then the hold (if any), then the counters, in order.
                match (1 + held..=held + counted).find(|&i| failed(i)) {
                    Some(_) => Ok(Decided::CounterChanged),
                    None => Err(RecordError::Store {
                        operation: "TransactWriteItems",
                        pk: key.pk(),
                        message: format!("transaction cancelled: {reasons:?}"),
                    }),
                }
            }
            Err(e) => Err(Self::error("TransactWriteItems", key, e)),
        }
    }

    fn decision_item(
        &self,
        key: &ActionKey,
        owner: &str,
        write: &DecisionWrite<'_>,
        now: i64,
    ) -> Result<TransactWriteItem, RecordError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key.key()))
            .update_expression(
                "SET #phase = :next, decision = :decision, outcome = :outcome, playbook = :playbook, \
                 decided_at = :now, is_final = :final, decided_event = :event",
            )
            .condition_expression("lease_owner = :owner")
            .expression_attribute_names("#phase", "phase")
            .expression_attribute_values(":next", s(write.next.as_str()))
            .expression_attribute_values(":decision", s(write.decision))
            .expression_attribute_values(":outcome", s(write.outcome))
            .expression_attribute_values(":playbook", s(write.playbook))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":final", AttributeValue::Bool(write.is_final))
            .expression_attribute_values(":event", s(write.event))
            .expression_attribute_values(":owner", s(owner))
            .build()
            .map_err(|e| RecordError::Store {
                operation: "TransactWriteItems",
                pk: key.pk(),
                message: e.to_string(),
            })?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Takes a complete record whose decision was not final for a new arrival of its finding
    /// (`event`, not the one decided): the record goes back to `claimed`, without its decision.
    /// `None` when the record is final, or was decided for this very event, or someone else
    /// reopened it first.
    pub async fn reopen(
        &self,
        key: &ActionKey,
        owner: &str,
        delivery: Option<&Delivery>,
        event: &str,
        now: i64,
    ) -> Result<Option<ActionRecord>, RecordError> {
        // The lease names the message it works for, as a claim does: copies of the event that
        // find the record reopened leave the job to that message.
        let mut request = self.client.update_item();
        let update = match delivery {
            Some(d) => {
                request = request
                    .expression_attribute_values(":message", s(&d.message_id))
                    .expression_attribute_values(":receive", n(i64::from(d.receive_count)));
                "SET #phase = :claimed, lease_owner = :owner, lease_until = :until, \
                 attempts = attempts + :one, lease_message = :message, lease_receive = :receive \
                 REMOVE decision, stop_response"
            }
            None => {
                "SET #phase = :claimed, lease_owner = :owner, lease_until = :until, \
                 attempts = attempts + :one REMOVE decision, stop_response, lease_message, lease_receive"
            }
        };
        let result = request
            .table_name(&self.table)
            .set_key(Some(key.key()))
            .update_expression(update)
            .condition_expression(
                "#phase = :complete AND is_final = :false AND decided_event <> :event",
            )
            .expression_attribute_names("#phase", "phase")
            .expression_attribute_values(":claimed", s(Phase::Claimed.as_str()))
            .expression_attribute_values(":complete", s(Phase::Complete.as_str()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(now + self.lease_seconds))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":event", s(event))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        Self::record_if_written(key, result)
    }

    /// The record a conditional `UpdateItem` (returning `ALL_NEW`) wrote; `None` when its
    /// condition refused.
    fn record_if_written(
        key: &ActionKey,
        result: Result<
            aws_sdk_dynamodb::operation::update_item::UpdateItemOutput,
            SdkError<
                aws_sdk_dynamodb::operation::update_item::UpdateItemError,
                aws_sdk_dynamodb::config::http::HttpResponse,
            >,
        >,
    ) -> Result<Option<ActionRecord>, RecordError> {
        match result {
            Ok(out) => Ok(Some(ActionRecord::from_item(
                out.attributes().unwrap_or(&HashMap::new()),
            ))),
            Err(SdkError::ServiceError(ctx))
                if ctx.err().is_conditional_check_failed_exception() =>
            {
                Ok(None)
            }
            Err(e) => Err(Self::error("UpdateItem", key, e)),
        }
    }

    /// Stores what StopTask / TagResource answered and moves the record to `acted`.
    pub async fn acted(
        &self,
        key: &ActionKey,
        owner: &str,
        response: &str,
        now: i64,
    ) -> Result<(), RecordError> {
        self.advance(
            key,
            owner,
            Phase::Acted,
            Some(("stop_response", response)),
            "acted_at",
            now,
        )
        .await
    }

    /// The note and the event are out: the record is final.
    pub async fn complete(
        &self,
        key: &ActionKey,
        owner: &str,
        now: i64,
    ) -> Result<(), RecordError> {
        self.advance(key, owner, Phase::Complete, None, "completed_at", now)
            .await
    }

    async fn advance(
        &self,
        key: &ActionKey,
        owner: &str,
        next: Phase,
        field: Option<(&str, &str)>,
        stamp: &str,
        now: i64,
    ) -> Result<(), RecordError> {
        let mut expression = format!("SET #phase = :next, {stamp} = :now");
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.key()))
            .condition_expression("lease_owner = :owner")
            .expression_attribute_names("#phase", "phase")
            .expression_attribute_values(":next", s(next.as_str()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":owner", s(owner));
        if let Some((name, value)) = field {
            expression.push_str(&format!(", {name} = :field"));
            request = request.expression_attribute_values(":field", s(value));
        }
        match request.update_expression(expression).send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(ctx))
                if ctx.err().is_conditional_check_failed_exception() =>
            {
                Err(RecordError::LostLease(key.pk()))
            }
            Err(e) => Err(Self::error("UpdateItem", key, e)),
        }
    }

    /// Whether the record holds a decision a crashed attempt left unfinished (`acting`, `acted`),
    /// or cannot be read (it may hold one): the claim carries such a record on (or refuses it),
    /// whatever the task looks like now. One strongly consistent read.
    pub async fn unfinished(&self, key: &ActionKey) -> Result<bool, RecordError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.key()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Self::error("GetItem", key, e))?;
        Ok(out.item().is_some_and(|item| {
            ActionRecord::read(item).is_none_or(|r| matches!(r.phase, Phase::Acting | Phase::Acted))
        }))
    }

    /// Gives the lease up after a failure, so the redelivery need not wait for it to run out. The
    /// record keeps its phase (and decision, if one was written).
    pub async fn release(&self, key: &ActionKey, owner: &str) -> Result<(), RecordError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.key()))
            .update_expression("SET lease_until = :zero")
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(ctx))
                if ctx.err().is_conditional_check_failed_exception() =>
            {
                Ok(())
            }
            Err(e) => Err(Self::error("UpdateItem", key, e)),
        }
    }

    /// An `ECS Task State Change` to STOPPED carrying our reason: stamps the enforced record and
    /// returns its decision (for the Security Hub note). `None` when there is no such record.
    pub async fn confirm_stop(
        &self,
        key: &ActionKey,
        stopped_at: &str,
        stop_code: &str,
    ) -> Result<Option<ActionRecord>, RecordError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.key()))
            .update_expression(
                "SET confirmed_at = if_not_exists(confirmed_at, :at), stop_code = :code",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":at", s(stopped_at))
            .expression_attribute_values(":code", s(stop_code))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        Self::record_if_written(key, result)
    }

    /// Records a decision apart from the real record (`aside`: why), once per (finding, task, mode,
    /// event account).
    pub async fn record_aside(
        &self,
        key: &ActionKey,
        aside: Aside,
        event_account: &str,
        decision: &str,
        now: i64,
    ) -> Result<(), RecordError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(key.pk()))
            .item(
                "sk",
                s(format!(
                    "{}#{}#{event_account}",
                    aside.sort_key_prefix(),
                    key.mode.as_str()
                )),
            )
            .item("outcome", s(aside.outcome()))
            .item("decision", s(decision))
            .item("decided_at", n(now))
            .item("expires_at", n(now + self.retention_seconds))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(ctx))
                if ctx.err().is_conditional_check_failed_exception() =>
            {
                Ok(())
            }
            Err(e) => Err(Self::error("PutItem", key, e)),
        }
    }
}
