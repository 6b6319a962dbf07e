//! The DynamoDB calls. The hot path is one `UpdateItem` per write, and a write counts every
//! occurrence of one fingerprint that ingest received in one batch (up to a generation of ids):
//!
//! - the update adds their number to the count, stamps times and windows, and adds their event ids'
//!   8-byte digests to the current generation of remembered ids;
//! - the condition refuses any of those ids already remembered (a redelivery), a full generation,
//!   and, for an attack sequence, a task set the record does not vouch for yet;
//! - `ALL_OLD` returns what the record held before, which is all [`decision`](crate::decision) needs
//!   (not `UPDATED_OLD`: implementations differ on whether it includes attributes whose value did not
//!   change, such as `if_not_exists` ones); a refused condition returns the record too, so there is
//!   never a second read. Returning values costs no capacity.
//!
//! A refusal says why: remembered ids are taken out of the write (they are redeliveries) and the rest
//! counted again; a full generation is rolled over by the next attempt; a sequence's tasks are first
//! written to its own item. Only when an occurrence is more severe than any counted before does a
//! second, conditional `UpdateItem` raise the record's highest severity (its condition refuses to
//! lower it, whoever writes at once).
//!
//! The dedup item stays under 1 KB whatever the count (DynamoDB bills an `UpdateItem` on the larger
//! of the item's size before and after, in 1 KB units): see `tests/item_size.rs`.

use crate::config::DedupConfig;
use crate::decision::{self, Member, Outcome, Raise};
use crate::record::*;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// Why the store could not count or read a record. A refused condition is never an error: it is how
/// the store learns what the record holds.
#[derive(Debug, thiserror::Error)]
pub enum DedupError {
    /// An `UpdateItem` failed, after the SDK's retries (throttling, a network or service error).
    #[error("DynamoDB UpdateItem on {fingerprint} failed: {source}")]
    Update {
        /// The record's fingerprint.
        fingerprint: String,
        /// The SDK's error.
        #[source]
        source: Box<SdkError<UpdateItemError>>,
    },
    /// A `GetItem` of the record or its sequence's task item failed, after the SDK's retries.
    #[error("DynamoDB GetItem of the dedup record {fingerprint} failed: {source}")]
    Read {
        /// The record's fingerprint.
        fingerprint: String,
        /// The SDK's error.
        #[source]
        source: Box<SdkError<aws_sdk_dynamodb::operation::get_item::GetItemError>>,
    },
    /// Eight attempts at the counting update were all refused, the record changing under
    /// concurrent writers each time (the fingerprint).
    #[error("dedup record for {0} kept changing under concurrent writers")]
    Contention(String),
    /// [`DedupStore::record_group`] was given occurrences of two fingerprints (the first two that
    /// differ); nothing was written.
    #[error("one dedup write cannot count occurrences of two fingerprints ({0}, {1})")]
    Mixed(String, String),
}

/// One occurrence of a finding, as the dedup record sees it.
#[derive(Debug, Clone)]
pub struct Occurrence {
    /// The finding's fingerprint: the record's key (`FP#<fingerprint>`).
    pub fingerprint: String,
    /// The delivery's identity: the EventBridge event id (or the source's own id for bare events).
    pub event_id: String,
    /// The finding's source ([`vigil_model::Source::as_str`]), kept as [`SOURCE`](crate::record::SOURCE).
    pub source: &'static str,
    /// The rule or finding type that fired. Kept on the record cut to [`RULE_MAX_BYTES`](crate::record::RULE_MAX_BYTES).
    pub rule: String,
    /// Not written to the record (it is `vigil-<fingerprint>`, and the publication carries it).
    pub securityhub_id: String,
    /// Where the finding came from (written with the first occurrence; the fingerprint includes the
    /// sender, the arrival and the task, so every occurrence agrees).
    /// How it arrived ([`vigil_model::Arrival::as_str`]).
    pub arrival: &'static str,
    /// The account EventBridge stamped on the finding's event, if any.
    pub sender_account: Option<String>,
    /// The account the finding is about, if known.
    pub account: Option<String>,
    /// The ECS task ARN the finding names, if any.
    pub task_arn: Option<String>,
    /// The region the finding is about, if known (not in the fingerprint: see
    /// [`ORIGIN_REGION`](crate::record::ORIGIN_REGION)).
    pub region: Option<String>,
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
    /// Whether it was counted, and whether to publish it.
    pub outcome: Outcome,
    /// The highest severity counted for the fingerprint, this occurrence's included.
    pub highest_severity: u8,
    /// The last confirmed Security Hub import's `UpdatedAt`, as the record held it.
    pub last_update: Option<DateTime<Utc>>,
    /// A redelivery the record listed as unpublished ([`UNPUBLISHED`]): once it is published,
    /// [`DedupStore::clear_unpublished`] takes it off the list.
    pub listed_unpublished: bool,
}

/// The dedup records in one DynamoDB table. Cheap to clone; clones share the client and the
/// generation-fill hints.
#[derive(Clone)]
pub struct DedupStore {
    client: aws_sdk_dynamodb::Client,
    config: DedupConfig,
    /// How many ids each fingerprint's current generation held after this process's last write to
    /// it (from the values the write returned), so that a write that will not fit starts the next
    /// generation at once instead of being refused first. Only a hint: the condition still checks,
    /// and a stale one costs the refusal it saves.
    fills: Arc<Mutex<HashMap<String, usize>>>,
}

/// Fingerprints whose generation fill is remembered, at most (then forgotten all at once).
const REMEMBERED_FILLS: usize = 10_000;

/// What the counting update found.
struct Counted {
    /// The record before the update that counted (`None`: it created the record, or nothing was
    /// left to count).
    before: Option<RecordBefore>,
    /// The record as a refused attempt returned it, if one was refused.
    existing: Option<RecordBefore>,
}

/// How the next counting attempt is written.
#[derive(Default)]
struct Plan {
    /// Start a new generation of remembered ids (the current one has no room).
    rollover: bool,
    /// The sequence's task item was written for this count: add the set's digest, unconditionally.
    sequence_written: bool,
    /// The record lists as many task-set digests as it keeps: replace them with this one.
    replace_digests: bool,
}

impl DedupStore {
    /// A store over `config.table_name`, through `client` (see [`client()`](crate::client())).
    pub fn new(client: aws_sdk_dynamodb::Client, config: DedupConfig) -> Self {
        DedupStore {
            client,
            config,
            fills: Arc::default(),
        }
    }

    /// The windows and leases it counts with.
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
        let mut recorded = self.record_group(std::slice::from_ref(occ), now).await?;
        Ok(recorded.remove(0))
    }

    /// The most occurrences one [`record_group`](Self::record_group) counts: as many as a
    /// generation of remembered ids holds.
    pub fn max_group(&self) -> usize {
        self.config.remembered_event_ids.max(1)
    }

    /// Counts occurrences of one fingerprint with one conditional `UpdateItem` (at most
    /// [`max_group`](Self::max_group); more are counted a group at a time), and says for each, in
    /// order, what [`record_occurrence`](Self::record_occurrence) would have said had they come one
    /// by one: the count adds every occurrence whose id the record does not remember, and remembers
    /// their ids; the others are recognized as redeliveries. On an error none of them was counted
    /// by this call (a write that failed ambiguously is recognized when the occurrences come again).
    pub async fn record_group(
        &self,
        occs: &[Occurrence],
        now: DateTime<Utc>,
    ) -> Result<Vec<Recorded>, DedupError> {
        let mut all = Vec::with_capacity(occs.len());
        for chunk in occs.chunks(self.max_group()) {
            all.extend(self.record_chunk(chunk, now).await?);
        }
        Ok(all)
    }

    async fn record_chunk(
        &self,
        occs: &[Occurrence],
        now: DateTime<Utc>,
    ) -> Result<Vec<Recorded>, DedupError> {
        let Some(first) = occs.first() else {
            return Ok(Vec::new());
        };
        if let Some(other) = occs.iter().find(|o| o.fingerprint != first.fingerprint) {
            return Err(DedupError::Mixed(
                first.fingerprint.clone(),
                other.fingerprint.clone(),
            ));
        }
        let (lease, interval) = (
            self.config.lease.as_secs(),
            self.config.update_interval.as_secs(),
        );
        let digests: Vec<[u8; DIGEST_BYTES]> = occs.iter().map(|o| digest(&o.event_id)).collect();
        let mut members: Vec<Member> = Vec::with_capacity(occs.len());
        for (i, d) in digests.iter().enumerate() {
            members.push(if digests[..i].contains(d) {
                Member::Repeated
            } else {
                Member::Counted
            });
        }
        let counted = self.count(occs, &digests, &mut members, now).await?;
        let severities: Vec<(Member, u8)> = members
            .iter()
            .zip(occs)
            .map(|(m, o)| (*m, o.severity))
            .collect();
        let plan = |raise| {
            decision::group_outcomes(
                counted.before.as_ref(),
                counted.existing.as_ref(),
                &severities,
                raise,
                now,
                lease,
                interval,
            )
        };
        let (mut outcomes, raise_to) = plan(Raise::Planned);
        // The raise names the first occurrence as severe as it raises to.
        let raiser = raise_to.and_then(|severity| {
            severities
                .iter()
                .position(|&(m, s)| m != Member::Repeated && s == severity)
                .map(|i| digests[i])
        });
        if let (Some(severity), Some(raiser)) = (raise_to, raiser)
            && let Some(current) = self
                .raise_severity(&first.fingerprint, severity, &raiser)
                .await?
        {
            // Another writer raised it at least as high first: not this write's escalation.
            (outcomes, _) = plan(Raise::Refused(current));
        }
        let last_update = counted
            .before
            .as_ref()
            .or(counted.existing.as_ref())
            .and_then(|b| b.forwarded_at);
        Ok(outcomes
            .into_iter()
            .zip(&members)
            .map(|((outcome, highest_severity), member)| Recorded {
                outcome,
                highest_severity,
                last_update,
                listed_unpublished: *member == Member::RedeliveredUnpublished,
            })
            .collect())
    }

    /// The counting update, with what its refusals say: ids the record remembers are taken out of
    /// the count (marked [`Member::Redelivered`]); a sequence's tasks are written to its task item
    /// first when the record does not vouch for them yet; a full generation is rolled over.
    async fn count(
        &self,
        occs: &[Occurrence],
        digests: &[[u8; DIGEST_BYTES]],
        members: &mut [Member],
        now: DateTime<Utc>,
    ) -> Result<Counted, DedupError> {
        let fingerprint = &occs[0].fingerprint;
        let tasks: BTreeSet<&String> = occs.iter().flat_map(|o| &o.sequence_tasks).collect();
        let sequence = (!tasks.is_empty()).then(|| task_set_digest(tasks.iter().copied()));
        let counting = members.iter().filter(|m| **m == Member::Counted).count();
        let mut plan = Plan {
            rollover: self
                .fill(fingerprint)
                .is_some_and(|fill| fill + counting > self.max_group()),
            ..Plan::default()
        };
        let mut existing = None;
        for _ in 0..8 {
            let pending: Vec<usize> = (0..occs.len())
                .filter(|&i| members[i] == Member::Counted)
                .collect();
            if pending.is_empty() {
                return Ok(Counted {
                    before: None,
                    existing,
                });
            }
            let refused = match self
                .try_count(occs, digests, &pending, sequence, &plan, now)
                .await
            {
                Ok(Ok((before, fill_before))) => {
                    let fill = if plan.rollover { 0 } else { fill_before };
                    self.remember_fill(fingerprint, fill + pending.len());
                    return Ok(Counted { before, existing });
                }
                Ok(Err(item)) => item,
                // The SDK gave up on the write, which DynamoDB may have applied all the same (the
                // answer lost on the way back): the record, read back, remembers the ids if it did,
                // and then it is answered as a refusal is (they were counted). If it does not, or
                // the read fails too, the error stands and SQS brings the messages back. Leaving
                // the question to the redelivery would count an occurrence of a hot fingerprint
                // twice once 20–40 others were counted in between (its id no longer remembered).
                Err(e) => match self.read_back(fingerprint).await {
                    Some(item) if pending.iter().any(|&i| remembers(&item, &digests[i])) => item,
                    _ => return Err(e),
                },
            };
            existing = RecordBefore::from_attributes(&refused).or(existing);
            let mut remembered = false;
            for &i in &pending {
                if remembers(&refused, &digests[i]) {
                    members[i] = if listed(&refused, UNPUBLISHED, &digests[i]) {
                        Member::RedeliveredUnpublished
                    } else if raised_by(&refused, &digests[i]) {
                        Member::RedeliveredRaiser
                    } else {
                        Member::Redelivered
                    };
                    remembered = true;
                }
            }
            if remembered {
                continue;
            }
            if let Some(d) = sequence
                && !plan.sequence_written
                && !vouches(&refused, &d, self.expiry(now))
            {
                self.write_sequence(fingerprint, &tasks, now).await?;
                plan.sequence_written = true;
                plan.replace_digests = set_len(&refused, SEQUENCE_DIGESTS) >= SEQUENCE_DIGESTS_MAX;
                continue;
            }
            // Refused for room (or another writer rolled the generation over first: count again).
            plan.rollover = !refused.is_empty()
                && set_len(&refused, DIGESTS_CURRENT) + pending.len() > self.max_group();
        }
        Err(DedupError::Contention(fingerprint.clone()))
    }

    fn fill(&self, fingerprint: &str) -> Option<usize> {
        self.fills.lock().ok()?.get(fingerprint).copied()
    }

    fn remember_fill(&self, fingerprint: &str, fill: usize) {
        if let Ok(mut fills) = self.fills.lock() {
            if fills.len() >= REMEMBERED_FILLS && !fills.contains_key(fingerprint) {
                fills.clear();
            }
            fills.insert(fingerprint.to_owned(), fill);
        }
    }

    fn expiry(&self, now: DateTime<Utc>) -> i64 {
        now.timestamp() + self.config.window.as_secs() as i64
    }

    /// Adds a sequence's tasks to its task item (a set union, so writing it again is harmless), and
    /// sets the item's expiry to twice the window.
    async fn write_sequence(
        &self,
        fingerprint: &str,
        tasks: &BTreeSet<&String>,
        now: DateTime<Utc>,
    ) -> Result<(), DedupError> {
        self.client
            .update_item()
            .table_name(&self.config.table_name)
            .set_key(Some(sequence_key(fingerprint)))
            .update_expression("ADD #tasks :tasks SET #exp = :exp")
            .expression_attribute_names("#tasks", ORIGIN_SEQUENCE_TASKS)
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_values(
                ":tasks",
                AttributeValue::Ss(tasks.iter().map(|t| (*t).clone()).collect()),
            )
            .expression_attribute_values(
                ":exp",
                AttributeValue::N(self.sequence_expiry(now).to_string()),
            )
            .send()
            .await
            .map_err(|e| DedupError::Update {
                fingerprint: fingerprint.to_owned(),
                source: Box::new(e),
            })?;
        Ok(())
    }

    fn sequence_expiry(&self, now: DateTime<Utc>) -> i64 {
        now.timestamp() + 2 * self.config.window.as_secs() as i64
    }

    /// Raises the record's highest severity to `severity`, naming the occurrence that raised it
    /// (`raiser`, its event id's digest) in [`RAISED_BY`]. The condition refuses to lower it, so
    /// concurrent writers leave the highest of them. `None` when this write raised it, else the
    /// severity another writer left (or `severity` itself, should the record be gone).
    async fn raise_severity(
        &self,
        fingerprint: &str,
        severity: u8,
        raiser: &[u8; DIGEST_BYTES],
    ) -> Result<Option<u8>, DedupError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.config.table_name)
            .set_key(Some(dedup_key(fingerprint)))
            .update_expression("SET #sev = :sev, #by = :by")
            .expression_attribute_names("#by", RAISED_BY)
            .expression_attribute_values(":by", AttributeValue::S(hex(raiser)))
            .condition_expression(
                "attribute_exists(#pk) AND (attribute_not_exists(#sev) OR #sev < :sev)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sev", MAX_SEVERITY)
            .expression_attribute_values(":sev", AttributeValue::N(severity.to_string()))
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
                Ok(Some(current.unwrap_or(severity)))
            }
            Err(e) => Err(DedupError::Update {
                fingerprint: fingerprint.to_owned(),
                source: Box::new(e),
            }),
        }
    }

    /// One attempt at the counting update of the occurrences `pending` (indexes into `occs`): `Ok`
    /// with the record before it (`None`: it created the record) and the number of ids its current
    /// generation held, or `Err` with the record as the refused condition returned it (empty when
    /// there is none).
    async fn try_count(
        &self,
        occs: &[Occurrence],
        digests: &[[u8; DIGEST_BYTES]],
        pending: &[usize],
        sequence: Option<[u8; DIGEST_BYTES]>,
        plan: &Plan,
        now: DateTime<Utc>,
    ) -> Result<Result<(Option<RecordBefore>, usize), HashMap<String, AttributeValue>>, DedupError>
    {
        let cfg = &self.config;
        let first = &occs[pending[0]];
        let (lease, interval) = (cfg.lease.as_secs(), cfg.update_interval.as_secs());
        let mut names: HashMap<String, String> = [
            ("#pk", PK),
            ("#first", FIRST_SEEN),
            ("#last", LAST_SEEN),
            ("#state", STATE),
            ("#acc", ACCEPTED_AT),
            ("#rule", RULE),
            ("#src", SOURCE),
            ("#lease", LEASE_BUCKET),
            ("#interval", INTERVAL_BUCKET),
            ("#exp", EXPIRES_AT),
            ("#count", COUNT),
            ("#ids", DIGESTS_CURRENT),
            ("#prev", DIGESTS_PREVIOUS),
            ("#old_ids", LEGACY_IDS_CURRENT),
            ("#old_prev", LEGACY_IDS_PREVIOUS),
            ("#old_fp", FINGERPRINT),
            ("#old_shid", SECURITY_HUB_ID),
            ("#o_arr", ORIGIN_ARRIVAL),
            ("#o_snd", ORIGIN_SENDER),
            ("#o_acc", ORIGIN_ACCOUNT),
            ("#o_task", ORIGIN_TASK),
            ("#o_reg", ORIGIN_REGION),
            ("#sev", MAX_SEVERITY),
            ("#unpub", UNPUBLISHED),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let n = |v: i64| AttributeValue::N(v.to_string());
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let mut values: HashMap<String, AttributeValue> = [
            (
                ":now_iso",
                s(&now.to_rfc3339_opts(SecondsFormat::Millis, true)),
            ),
            (":accepted", s(DedupState::Accepted.as_str())),
            (":now_s", n(now.timestamp())),
            (":rule", s(truncated(&first.rule, RULE_MAX_BYTES))),
            (":src", s(first.source)),
            (":lease_b", n(decision::bucket(now, lease))),
            (":interval_b", n(decision::bucket(now, interval))),
            (":exp", n(self.expiry(now))),
            (":count", n(pending.len() as i64)),
            (":digests", digest_set(pending.iter().map(|&i| &digests[i]))),
            (":room", n((self.max_group() - pending.len()) as i64)),
            (":o_arr", s(first.arrival)),
            (":o_snd", s(first.sender_account.as_deref().unwrap_or(NONE))),
            (":o_acc", s(first.account.as_deref().unwrap_or(NONE))),
            (":o_task", s(first.task_arn.as_deref().unwrap_or(NONE))),
            (":o_reg", s(first.region.as_deref().unwrap_or(NONE))),
            (":sev", n(i64::from(first.severity))),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let mut set = vec![
            "#first = if_not_exists(#first, :now_iso)",
            "#last = :now_iso",
            "#state = if_not_exists(#state, :accepted)",
            "#acc = if_not_exists(#acc, :now_s)",
            "#rule = if_not_exists(#rule, :rule)",
            "#src = if_not_exists(#src, :src)",
            "#lease = :lease_b",
            "#interval = :interval_b",
            "#exp = :exp",
            "#o_arr = if_not_exists(#o_arr, :o_arr)",
            "#o_snd = if_not_exists(#o_snd, :o_snd)",
            "#o_acc = if_not_exists(#o_acc, :o_acc)",
            "#o_task = if_not_exists(#o_task, :o_task)",
            "#o_reg = if_not_exists(#o_reg, :o_reg)",
            "#sev = if_not_exists(#sev, :sev)",
        ];
        let mut add = vec!["#count :count"];
        if plan.rollover {
            set.push("#prev = #ids");
            set.push("#ids = :digests");
        } else {
            add.push("#ids :digests");
        }
        // None of the ids counted may be remembered already, or listed as unpublished.
        let mut fresh = Vec::with_capacity(pending.len());
        for (j, &i) in pending.iter().enumerate() {
            let key = format!(":d{j}");
            fresh.push(format!(
                "NOT contains(#ids, {key}) AND NOT contains(#prev, {key}) AND NOT contains(#unpub, {key})"
            ));
            values.insert(key, AttributeValue::B(Blob::new(digests[i].to_vec())));
        }
        let fresh = fresh.join(" AND ");
        let mut condition = if plan.rollover {
            format!("{fresh} AND size(#ids) > :room")
        } else {
            format!(
                "attribute_not_exists(#pk) OR ({fresh} AND (attribute_not_exists(#ids) OR size(#ids) <= :room))"
            )
        };
        if let Some(d) = sequence {
            names.insert("#seq".into(), SEQUENCE_DIGESTS.into());
            names.insert("#seq_exp".into(), SEQUENCE_EXPIRES_AT.into());
            if plan.sequence_written {
                values.insert(":seq".into(), digest_set([&d]));
                // The task item was just written: the record now vouches for its set.
                values.insert(":seq_exp".into(), n(self.sequence_expiry(now)));
                set.push("#seq_exp = :seq_exp");
                if plan.replace_digests {
                    set.push("#seq = :seq");
                } else {
                    add.push("#seq :seq");
                }
            } else {
                values.insert(":seq_d".into(), AttributeValue::B(Blob::new(d.to_vec())));
                condition =
                    format!("({condition}) AND contains(#seq, :seq_d) AND #seq_exp >= :exp");
            }
        }
        // The source's own ids of the finding (GuardDuty's finding ARN) are added to the set the
        // record keeps, so remediation can tell which GuardDuty finding a message may name.
        let refs: std::collections::BTreeSet<&String> = pending
            .iter()
            .flat_map(|&i| occs[i].source_refs.iter())
            .collect();
        if !refs.is_empty() {
            names.insert("#o_ref".into(), ORIGIN_SOURCE_REFS.into());
            values.insert(
                ":o_ref".into(),
                AttributeValue::Ss(refs.into_iter().cloned().collect()),
            );
            add.push("#o_ref :o_ref");
        }
        if plan.rollover {
            // DynamoDB refuses expression names the expressions do not use.
            names.remove("#pk");
        }
        let update = format!(
            "SET {} ADD {} REMOVE #old_ids, #old_prev, #old_fp, #old_shid",
            set.join(", "),
            add.join(", ")
        );
        let result = self
            .client
            .update_item()
            .table_name(&cfg.table_name)
            .set_key(Some(dedup_key(&first.fingerprint)))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(UpdateItemOutput { attributes, .. }) => {
                let attributes = attributes.unwrap_or_default();
                Ok(Ok((
                    RecordBefore::from_attributes(&attributes),
                    set_len(&attributes, DIGESTS_CURRENT),
                )))
            }
            Err(SdkError::ServiceError(ctx))
                if ctx.err().is_conditional_check_failed_exception() =>
            {
                Ok(Err(match ctx.err() {
                    UpdateItemError::ConditionalCheckFailedException(e) => {
                        e.item.clone().unwrap_or_default()
                    }
                    _ => HashMap::new(),
                }))
            }
            Err(e) => Err(DedupError::Update {
                fingerprint: first.fingerprint.clone(),
                source: Box::new(e),
            }),
        }
    }

    /// The whole dedup record (strongly consistent), after a counting write failed; `None` when
    /// there is none or the read fails too.
    async fn read_back(&self, fingerprint: &str) -> Option<HashMap<String, AttributeValue>> {
        self.client
            .get_item()
            .table_name(&self.config.table_name)
            .set_key(Some(dedup_key(fingerprint)))
            .consistent_read(true)
            .send()
            .await
            .ok()?
            .item
    }

    /// The origin ingest recorded for a fingerprint (strongly consistent reads), or `None` when no
    /// record vouches for it. A sequence's tasks are read from its task item (a second read, only
    /// when the record says it has one).
    pub async fn origin(&self, fingerprint: &str) -> Result<Option<RecordedOrigin>, DedupError> {
        let read_error = |e| DedupError::Read {
            fingerprint: fingerprint.to_owned(),
            source: Box::new(e),
        };
        let out = self
            .client
            .get_item()
            .table_name(&self.config.table_name)
            .set_key(Some(dedup_key(fingerprint)))
            .consistent_read(true)
            .projection_expression("#a, #s, #c, #t, #g, #q, #r, #l, #st, #sd")
            .expression_attribute_names("#a", ORIGIN_ARRIVAL)
            .expression_attribute_names("#s", ORIGIN_SENDER)
            .expression_attribute_names("#c", ORIGIN_ACCOUNT)
            .expression_attribute_names("#t", ORIGIN_TASK)
            .expression_attribute_names("#g", ORIGIN_REGION)
            .expression_attribute_names("#q", ORIGIN_SEQUENCE_TASKS)
            .expression_attribute_names("#r", ORIGIN_SOURCE_REFS)
            .expression_attribute_names("#l", LAST_SEEN)
            .expression_attribute_names("#st", STATE)
            .expression_attribute_names("#sd", SEQUENCE_DIGESTS)
            .send()
            .await
            .map_err(read_error)?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let Some(mut origin) = RecordedOrigin::from_attributes(item) else {
            return Ok(None);
        };
        if item.contains_key(SEQUENCE_DIGESTS) {
            let tasks = self
                .client
                .get_item()
                .table_name(&self.config.table_name)
                .set_key(Some(sequence_key(fingerprint)))
                .consistent_read(true)
                .projection_expression("#q")
                .expression_attribute_names("#q", ORIGIN_SEQUENCE_TASKS)
                .send()
                .await
                .map_err(read_error)?;
            if let Some(set) = tasks
                .item()
                .and_then(|i| i.get(ORIGIN_SEQUENCE_TASKS))
                .and_then(|v| v.as_ss().ok())
            {
                origin.sequence_tasks.extend(set.iter().cloned());
            }
        }
        Ok(Some(origin))
    }
}

impl DedupStore {
    /// Whether enrich already published `Finding Enriched` for the occurrence `event_id` (the
    /// `dedup.event_id` of its `Finding Accepted`), as [`DedupStore::mark_enriched`] recorded it.
    /// Strongly consistent; `false` when there is no record.
    pub async fn enriched_published(
        &self,
        fingerprint: &str,
        event_id: &str,
    ) -> Result<bool, DedupError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.config.table_name)
            .set_key(Some(dedup_key(fingerprint)))
            .consistent_read(true)
            .projection_expression("#e")
            .expression_attribute_names("#e", ENRICHED_EVENT)
            .send()
            .await
            .map_err(|e| DedupError::Read {
                fingerprint: fingerprint.to_owned(),
                source: Box::new(e),
            })?;
        Ok(out
            .item()
            .and_then(|i| i.get(ENRICHED_EVENT))
            .and_then(|v| v.as_b().ok())
            .is_some_and(|b| b.as_ref() == digest(event_id).as_slice()))
    }

    /// Lists the occurrences `event_ids` of `fingerprint`, counted and to be published, as
    /// unpublished ([`UNPUBLISHED`]): their publication failed for good and SQS will bring them back.
    /// Until [`clear_unpublished`](Self::clear_unpublished) takes them off, the count recognizes
    /// them as redeliveries however many other occurrences it counts in between, and their
    /// redelivery is published. Conditional on the record existing (never creating one) and on the
    /// list's room ([`UNPUBLISHED_MAX`]; of more ids than it holds, the first are given): returns
    /// whether every id was listed. One that was not is still recognized while the record
    /// remembers its id (a generation of other occurrences).
    pub async fn list_unpublished(
        &self,
        fingerprint: &str,
        event_ids: &[&str],
    ) -> Result<bool, DedupError> {
        let digests = unique_digests(event_ids);
        let listed = &digests[..digests.len().min(UNPUBLISHED_MAX)];
        if listed.is_empty() {
            return Ok(true);
        }
        let room = (UNPUBLISHED_MAX - listed.len()) as i64;
        let written = self
            .update_unpublished(fingerprint, "ADD #u :ds", listed)
            .condition_expression(
                "attribute_exists(#pk) AND (attribute_not_exists(#u) OR size(#u) <= :room)",
            )
            .expression_attribute_values(":room", AttributeValue::N(room.to_string()))
            .send()
            .await;
        Ok(refusal(written, fingerprint)?.is_none() && listed.len() == digests.len())
    }

    /// Takes the occurrences `event_ids` off the record's unpublished list: they were published.
    /// They go back among the remembered ids (the current generation), as if just counted: SQS may
    /// still bring a copy of the same message (a duplicate delivery, a concurrent invocation's copy
    /// that failed), and that copy must be recognized for a generation more, not counted a second
    /// time because the list no longer holds its id and the generations had long dropped it.
    /// Conditional on the record existing, so that an expired record is not written again.
    pub async fn clear_unpublished(
        &self,
        fingerprint: &str,
        event_ids: &[&str],
    ) -> Result<(), DedupError> {
        let digests = unique_digests(event_ids);
        if digests.is_empty() {
            return Ok(());
        }
        let written = self
            .update_unpublished(fingerprint, "DELETE #u :ds ADD #ids :ds", &digests)
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#ids", DIGESTS_CURRENT)
            .send()
            .await;
        refusal(written, fingerprint).map(|_| ())
    }

    /// An `UpdateItem` of the record's unpublished list (`#u`) by `expression`, with the digests as
    /// `:ds` and the key attribute as `#pk` for the caller's condition.
    fn update_unpublished(
        &self,
        fingerprint: &str,
        expression: &str,
        digests: &[[u8; DIGEST_BYTES]],
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.config.table_name)
            .set_key(Some(dedup_key(fingerprint)))
            .update_expression(expression)
            .expression_attribute_names("#u", UNPUBLISHED)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":ds", digest_set(digests))
    }

    /// Records that `Finding Enriched` for the occurrence `event_id` is on the bus and, with
    /// `forwarded` (the `UpdatedAt` Security Hub confirmed), marks the record `forwarded` in the
    /// same write, keeping that time as `forwarded_at` for the next import to stay at or after it.
    /// Conditional on the record existing, so a late confirmation never resurrects an expired
    /// record, and on `forwarded_at` not being later already, so a slower import confirmed after a
    /// newer one never moves it back (`forwarded_at` is written only with the state). Returns
    /// whether the record exists. A forwarded time refused as earlier than the record's (a newer import confirmed
    /// first) leaves the record as it is and returns `true`: that message is done.
    pub async fn mark_enriched(
        &self,
        fingerprint: &str,
        event_id: &str,
        forwarded: Option<DateTime<Utc>>,
    ) -> Result<bool, DedupError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.config.table_name)
            .set_key(Some(dedup_key(fingerprint)))
            .expression_attribute_names("#e", ENRICHED_EVENT)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(
                ":e",
                AttributeValue::B(Blob::new(digest(event_id).to_vec())),
            )
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        update = match forwarded {
            Some(at) => update
                .update_expression("SET #e = :e, #state = :forwarded, #fwd = :now")
                .condition_expression(
                    "attribute_exists(#pk) AND (attribute_not_exists(#fwd) OR #fwd <= :now)",
                )
                .expression_attribute_names("#state", STATE)
                .expression_attribute_names("#fwd", FORWARDED_AT)
                .expression_attribute_values(
                    ":forwarded",
                    AttributeValue::S(DedupState::Forwarded.as_str().into()),
                )
                .expression_attribute_values(
                    ":now",
                    AttributeValue::S(at.to_rfc3339_opts(SecondsFormat::Millis, true)),
                ),
            None => update
                .update_expression("SET #e = :e")
                .condition_expression("attribute_exists(#pk)"),
        };
        record_exists(update.send().await, fingerprint)
    }
}

/// Whether the record exists after a forwarding write ([`DedupStore::mark_enriched`]): written,
/// or refused with the record present (`ALL_OLD` not empty: a later import was confirmed first).
/// Refused on an absent record (expired, or never written): `false`.
fn record_exists(result: UpdateResult, fingerprint: &str) -> Result<bool, DedupError> {
    Ok(refusal(result, fingerprint)?
        .is_none_or(|refused| refused.is_some_and(|item| !item.is_empty())))
}

/// What an `UpdateItem` answered.
type UpdateResult = Result<
    UpdateItemOutput,
    SdkError<UpdateItemError, aws_sdk_dynamodb::config::http::HttpResponse>,
>;

/// A conditional write's refusal, with the record as the refusal returned it (`ALL_OLD`, when
/// asked for); `None`: the write was applied. Any other failure is an error.
fn refusal(
    result: UpdateResult,
    fingerprint: &str,
) -> Result<Option<Option<HashMap<String, AttributeValue>>>, DedupError> {
    match result {
        Ok(_) => Ok(None),
        Err(SdkError::ServiceError(ctx)) if ctx.err().is_conditional_check_failed_exception() => {
            Ok(Some(match ctx.into_err() {
                UpdateItemError::ConditionalCheckFailedException(refused) => refused.item,
                _ => None,
            }))
        }
        Err(e) => Err(DedupError::Update {
            fingerprint: fingerprint.to_owned(),
            source: Box::new(e),
        }),
    }
}

/// The digests of `event_ids`, each once, in order.
fn unique_digests(event_ids: &[&str]) -> Vec<[u8; DIGEST_BYTES]> {
    let mut digests: Vec<[u8; DIGEST_BYTES]> = Vec::new();
    for id in event_ids {
        let d = digest(id);
        if !digests.contains(&d) {
            digests.push(d);
        }
    }
    digests
}

/// A binary set of digests (not empty: DynamoDB has no empty sets).
fn digest_set<'a>(digests: impl IntoIterator<Item = &'a [u8; DIGEST_BYTES]>) -> AttributeValue {
    AttributeValue::Bs(digests.into_iter().map(|d| Blob::new(d.to_vec())).collect())
}

/// Whether the record remembers an id by its digest: among the counted ids, or listed unpublished.
fn remembers(item: &HashMap<String, AttributeValue>, d: &[u8; DIGEST_BYTES]) -> bool {
    [DIGESTS_CURRENT, DIGESTS_PREVIOUS, UNPUBLISHED]
        .iter()
        .any(|k| listed(item, k, d))
}

/// Whether the binary set `attribute` of the record holds the digest `d`.
fn listed(item: &HashMap<String, AttributeValue>, attribute: &str, d: &[u8; DIGEST_BYTES]) -> bool {
    item.get(attribute)
        .and_then(|v| v.as_bs().ok())
        .is_some_and(|ds| ds.iter().any(|b| b.as_ref() == d))
}

/// Whether the record names the occurrence of this id digest as the one that last raised its
/// highest severity.
fn raised_by(item: &HashMap<String, AttributeValue>, d: &[u8; DIGEST_BYTES]) -> bool {
    item.get(RAISED_BY)
        .and_then(|v| v.as_s().ok())
        .is_some_and(|by| *by == hex(d))
}

fn hex(d: &[u8; DIGEST_BYTES]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the record vouches for a sequence's task set: its digest is among those merged into the
/// task item, and the task item outlives the record's next expiry.
fn vouches(item: &HashMap<String, AttributeValue>, d: &[u8; DIGEST_BYTES], expiry: i64) -> bool {
    let listed = item
        .get(SEQUENCE_DIGESTS)
        .and_then(|v| v.as_bs().ok())
        .is_some_and(|ds| ds.iter().any(|b| b.as_ref() == d));
    let lasts = item
        .get(SEQUENCE_EXPIRES_AT)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<i64>().ok())
        .is_some_and(|t| t >= expiry);
    listed && lasts
}

/// The number of elements of a set attribute (0 when absent).
fn set_len(item: &HashMap<String, AttributeValue>, name: &str) -> usize {
    match item.get(name) {
        Some(AttributeValue::Bs(set)) => set.len(),
        Some(AttributeValue::Ss(set)) => set.len(),
        _ => 0,
    }
}
