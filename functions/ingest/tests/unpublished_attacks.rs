//! Attacks on the unpublished list (a counted finding whose publication failed for good, listed on its
//! dedup record so that its late redelivery is counted once and published): duplicates and replays,
//! concurrent copies, partial and total failures of the bus and of DynamoDB, records forwarded,
//! escalated or gone in between, and forged copies reusing a listed id. Every test checks the same
//! promises: the record counts each distinct event id once, every finding that should be published
//! is published at least once, and nothing is published for an event id never sent.
//!
//! DynamoDB is the emulator (behind the fault injector); EventBridge is a fake that records what it
//! accepted and fails what a test tells it to.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_eventbridge::operation::put_events::{PutEventsError, PutEventsInput, PutEventsOutput};
use aws_sdk_eventbridge::types::PutEventsResultEntry;
use aws_smithy_mocks::{MockResponse, Rule, RuleMode, mock, mock_client};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use vigil_bus::RetryPolicy;
use vigil_dedup::DedupStore;
use vigil_dedup::record::{UNPUBLISHED, UNPUBLISHED_MAX, digest};
use vigil_fault_injection::{FaultInjector, FaultKind, FaultPlan, FaultRates, Service};
use vigil_ingest::{Ingest, IngestConfig, IngestEntry};
use vigil_testkit::events::FalcoAlert;
use vigil_testkit::{BUS_NAME, Emulator, TABLE_NAME};

const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:vigil-ingest";
/// The sample's sender account (and a second, untrusted one).
const SENDER: &str = "111122223333";
const OTHER_SENDER: &str = "444455556666";

type Item = HashMap<String, AttributeValue>;

/// What the fake bus accepted of one `Finding Accepted`.
#[derive(Debug, Clone)]
struct Published {
    event_id: String,
    reason: String,
    count: u64,
    priority: String,
    sender: String,
}

/// Decides, for the entry at `index` of a request carrying the `dedup.event_id`s `ids` (empty for
/// an `Event Rejected`), whether it fails.
type Policy = Box<dyn Fn(&[String], usize) -> bool + Send + Sync>;
/// Runs at every PutEvents request, before its answer (e.g. to break DynamoDB from then on).
type Hook = Box<dyn Fn() + Send + Sync>;

/// A fake EventBridge: records every entry it accepts; fails the entries its policy says.
#[derive(Default)]
struct Bus {
    policy: Mutex<Option<Policy>>,
    hook: Mutex<Option<Hook>>,
    published: Mutex<Vec<Published>>,
    /// Every PutEvents request whose whole call failed (the bus down).
    down: Mutex<bool>,
}

impl Bus {
    fn fail_when(&self, policy: impl Fn(&[String], usize) -> bool + Send + Sync + 'static) {
        *self.policy.lock().unwrap() = Some(Box::new(policy));
    }

    fn fail_ids(&self, ids: &[&str]) {
        let ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
        self.fail_when(move |req, i| ids.contains(&req[i]));
    }

    fn heal(&self) {
        *self.policy.lock().unwrap() = None;
        *self.down.lock().unwrap() = false;
        *self.hook.lock().unwrap() = None;
    }

    fn set_down(&self, down: bool) {
        *self.down.lock().unwrap() = down;
    }

    fn on_request(&self, hook: impl Fn() + Send + Sync + 'static) {
        *self.hook.lock().unwrap() = Some(Box::new(hook));
    }

    fn published(&self) -> Vec<Published> {
        self.published.lock().unwrap().clone()
    }

    /// How many `Finding Accepted` the bus took for `event_id`.
    fn times(&self, event_id: &str) -> usize {
        self.published()
            .iter()
            .filter(|p| p.event_id == event_id)
            .count()
    }

    fn answer(&self, input: &PutEventsInput) -> MockResponse<PutEventsOutput, PutEventsError> {
        if let Some(hook) = self.hook.lock().unwrap().as_ref() {
            hook();
        }
        if *self.down.lock().unwrap() {
            return MockResponse::Error(PutEventsError::unhandled("service unavailable"));
        }
        let entries = input.entries();
        let details: Vec<Value> = entries
            .iter()
            .map(|e| serde_json::from_str(e.detail().unwrap_or("{}")).unwrap_or(Value::Null))
            .collect();
        let ids: Vec<String> = details
            .iter()
            .map(|d| d["dedup"]["event_id"].as_str().unwrap_or("").to_owned())
            .collect();
        let policy = self.policy.lock().unwrap();
        let mut results = Vec::new();
        let mut failed = 0;
        for (i, (entry, detail)) in entries.iter().zip(&details).enumerate() {
            if policy.as_ref().is_some_and(|p| p(&ids, i)) {
                failed += 1;
                results.push(
                    PutEventsResultEntry::builder()
                        .error_code("InternalFailure")
                        .error_message("injected")
                        .build(),
                );
                continue;
            }
            if entry.detail_type() == Some("Finding Accepted") {
                self.published.lock().unwrap().push(Published {
                    event_id: ids[i].clone(),
                    reason: detail["dedup"]["reason"].as_str().unwrap_or("").to_owned(),
                    count: detail["dedup"]["count"].as_u64().unwrap_or(0),
                    priority: detail["finding"]["severity"]["original"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                    sender: detail["finding"]["provenance"]["sender_account"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                });
            }
            results.push(
                PutEventsResultEntry::builder()
                    .event_id(format!("bus-{i}"))
                    .build(),
            );
        }
        MockResponse::Output(
            PutEventsOutput::builder()
                .failed_entry_count(failed)
                .set_entries(Some(results))
                .build(),
        )
    }

    /// An EventBridge client answered by this bus (and the rule, kept alive beside it).
    fn client(self: &Arc<Self>) -> (aws_sdk_eventbridge::Client, Rule) {
        let bus = self.clone();
        let rule = mock!(aws_sdk_eventbridge::Client::put_events)
            .then_compute_response(move |input| bus.answer(input));
        let client = mock_client!(aws_sdk_eventbridge, RuleMode::MatchAny, [&rule]);
        (client, rule)
    }
}

struct Harness {
    emulator: Emulator,
    /// A client without faults, to read and change the table behind ingest's back.
    ddb: aws_sdk_dynamodb::Client,
    faults: FaultInjector,
    /// The DynamoDB client ingest uses, through the fault injector.
    faulty: aws_sdk_dynamodb::Client,
    bus: Arc<Bus>,
    config: IngestConfig,
    now: Arc<Mutex<DateTime<Utc>>>,
    ingest: Ingest,
    _rules: Vec<Rule>,
}

impl Harness {
    async fn start(remembered: usize) -> Harness {
        Self::start_with(remembered, IngestEntry::Queue).await
    }

    async fn start_with(remembered: usize, entry: IngestEntry) -> Harness {
        let emulator = Emulator::start();
        emulator.create_table().await;
        let sdk = emulator.sdk_config().await;
        let ddb = aws_sdk_dynamodb::Client::new(&sdk);
        let faults = FaultInjector::new(FaultPlan::none());
        let faulty = vigil_dedup::client(faults.dynamodb_config(&sdk));
        let mut config = IngestConfig::new(TABLE_NAME, BUS_NAME);
        config.dedup.remembered_event_ids = remembered;
        config.entry = entry;
        config.direct_invoke_account = Some(SENDER.into());
        let now = Arc::new(Mutex::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        ));
        let bus = Arc::new(Bus::default());
        let (events, rule) = bus.client();
        let ingest = Self::ingest_on(faulty.clone(), events, &config, &now);
        Harness {
            emulator,
            ddb,
            faults,
            faulty,
            bus,
            config,
            now,
            ingest,
            _rules: vec![rule],
        }
    }

    fn ingest_on(
        ddb: aws_sdk_dynamodb::Client,
        events: aws_sdk_eventbridge::Client,
        config: &IngestConfig,
        now: &Arc<Mutex<DateTime<Utc>>>,
    ) -> Ingest {
        let clock = now.clone();
        Ingest::new(ddb, events, config.clone(), Some("us-east-1".into()))
            .with_retry(RetryPolicy::immediate(2))
            .with_clock(Arc::new(move || *clock.lock().unwrap()))
            .without_metrics()
    }

    /// Another ingest instance (its own caches) on the same table, publishing to `bus`.
    fn another(&mut self, bus: &Arc<Bus>) -> Ingest {
        let (events, rule) = bus.client();
        self._rules.push(rule);
        Self::ingest_on(self.faulty.clone(), events, &self.config, &self.now)
    }

    fn store(&self) -> DedupStore {
        DedupStore::new(self.ddb.clone(), self.config.dedup.clone())
    }

    fn advance(&self, secs: i64) {
        *self.now.lock().unwrap() += Duration::seconds(secs);
    }

    /// DynamoDB fails every request from now on (`true`) or none (`false`).
    fn break_dynamodb(faults: &FaultInjector, broken: bool) {
        faults.set_plan(if broken {
            FaultPlan::none().service(
                Service::DynamoDb,
                FaultRates::always(FaultKind::ServerError),
            )
        } else {
            FaultPlan::none()
        });
    }

    async fn send_with(ingest: &Ingest, messages: &[(String, Value)]) -> Vec<String> {
        let records: Vec<Value> = messages
            .iter()
            .map(|(id, body)| json!({"messageId": id, "eventSource": "aws:sqs", "body": body.to_string()}))
            .collect();
        let response = vigil_lambda::invoke_json(
            |e| ingest.handle(e),
            json!({"Records": records}),
            FUNCTION_ARN,
        )
        .await
        .expect("an SQS batch always answers");
        response["batchItemFailures"]
            .as_array()
            .expect("batchItemFailures")
            .iter()
            .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
            .collect()
    }

    /// One batch; the ids of the messages SQS must deliver again.
    async fn send(&self, messages: &[(String, Value)]) -> Vec<String> {
        Self::send_with(&self.ingest, messages).await
    }

    /// Each event id its own batch of one (message id = event id), checking none fails.
    async fn send_quietly(&self, ids: impl IntoIterator<Item = String>) {
        for id in ids {
            let failed = self.send(&[msg(&id)]).await;
            assert!(failed.is_empty(), "{id}: {failed:?}");
        }
    }

    async fn records(&self) -> Vec<Item> {
        let mut items = self.emulator.table_items().await;
        items.retain(|i| i["pk"].as_s().unwrap().starts_with("FP#"));
        items
    }

    /// The one dedup record.
    async fn record(&self) -> Item {
        let records = self.records().await;
        assert_eq!(records.len(), 1, "{records:?}");
        records.into_iter().next().unwrap()
    }

    /// The record whose first occurrence was sent by `sender` with `rule`.
    async fn record_of(&self, sender: &str, rule: &str) -> Item {
        self.records()
            .await
            .into_iter()
            .find(|r| {
                r["origin_sender_account"].as_s().ok().map(String::as_str) == Some(sender)
                    && r["rule"].as_s().unwrap() == rule
            })
            .unwrap_or_else(|| panic!("no record of {sender} {rule}"))
    }

    fn fingerprint(record: &Item) -> String {
        record["pk"]
            .as_s()
            .unwrap()
            .trim_start_matches("FP#")
            .to_owned()
    }

    async fn forward(&self, record: &Item) {
        let now = *self.now.lock().unwrap();
        assert!(
            self.store()
                .mark_enriched(&Self::fingerprint(record), "confirmed", Some(now))
                .await
                .unwrap()
        );
    }
}

fn occurrences(record: &Item) -> u64 {
    record["occurrences"].as_n().unwrap().parse().unwrap()
}

/// Whether the record lists `event_id` as unpublished.
fn listed(record: &Item, event_id: &str) -> bool {
    unpublished(record).contains(&digest(event_id).to_vec())
}

fn unpublished(record: &Item) -> Vec<Vec<u8>> {
    record
        .get(UNPUBLISHED)
        .map(|v| {
            v.as_bs()
                .unwrap()
                .iter()
                .map(|b| b.as_ref().to_vec())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the record still remembers `event_id` among its counted ids.
fn remembered(record: &Item, event_id: &str) -> bool {
    ["event_digests", "event_digests_prev"].iter().any(|k| {
        record
            .get(*k)
            .and_then(|v| v.as_bs().ok())
            .is_some_and(|ds| ds.iter().any(|d| d.as_ref() == digest(event_id)))
    })
}

/// The sample alert with EventBridge id `id`, as the message `id`.
fn msg(id: &str) -> (String, Value) {
    (id.to_owned(), FalcoAlert::sample().id(id).event())
}

fn ids(from: u32, to: u32) -> Vec<String> {
    (from..to).map(|n| format!("e{n}")).collect()
}

/// A forwarded, hot record (4 ids a generation): e1 published, e2–e9 quiet, the milestone e10's
/// publication fails for good (listed), then e11–e30 push e10 out of the remembered ids.
async fn hot_with_e10_listed(h: &Harness, forwarded: bool) {
    h.send_quietly(ids(1, 2)).await;
    if forwarded {
        h.forward(&h.record().await).await;
    }
    h.send_quietly(ids(2, 10)).await;
    h.bus.fail_ids(&["e10"]);
    assert_eq!(h.send(&[msg("e10")]).await, ["e10"]);
    h.bus.heal();
    assert_eq!(h.bus.times("e10"), 0);
    assert!(listed(&h.record().await, "e10"));
    h.send_quietly(ids(11, 31)).await;
    let record = h.record().await;
    assert_eq!(occurrences(&record), 30);
    assert!(!remembered(&record, "e10"), "{record:?}");
    assert!(listed(&record, "e10"));
}

/// Nothing was published for an id never sent.
fn only_sent(h: &Harness, sent: &[String]) {
    for p in h.bus.published() {
        assert!(sent.contains(&p.event_id), "published {p:?}, never sent");
    }
}

// 1. Replays and duplicates.

/// The same message twice in one batch (SQS may deliver a message twice, and EventBridge may put
/// an event on the queue twice) while the bus is down, then both again once it is back.
#[tokio::test]
async fn a_failed_message_twice_in_one_batch_is_counted_once_and_published() {
    let h = Harness::start(4).await;
    h.send_quietly(ids(1, 10)).await;
    h.bus.set_down(true);
    let twice = [msg("e10"), ("e10-copy".into(), msg("e10").1)];
    let mut failed = h.send(&twice).await;
    failed.sort();
    assert_eq!(failed, ["e10", "e10-copy"]);
    let record = h.record().await;
    assert_eq!(occurrences(&record), 10);
    assert_eq!(unpublished(&record).len(), 1, "listed once: {record:?}");

    h.bus.heal();
    h.send_quietly(ids(11, 31)).await;
    let failed = h.send(&twice).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert!(h.bus.times("e10") >= 1, "the milestone was published");
    let record = h.record().await;
    assert_eq!(occurrences(&record), 30, "counted once");
    assert!(!listed(&record, "e10"), "{record:?}");
    only_sent(&h, &ids(1, 31));
}

/// A listed redelivery comes twice in one batch on an `accepted` record (so both copies are to be
/// published), and the bus takes the first copy and fails the second. The second comes back later,
/// after more than a generation of other occurrences: it must still be recognized, not counted a
/// second time (the first copy's publication must not take off the list an id whose second copy
/// just failed).
#[tokio::test]
async fn a_listed_id_published_by_one_copy_and_failed_by_the_other_stays_recognized() {
    let h = Harness::start(4).await;
    hot_with_e10_listed(&h, false).await;

    // The first e10 entry the bus sees goes through; every other fails (retries included).
    let first_seen = std::sync::atomic::AtomicBool::new(false);
    h.bus.fail_when(move |req, i| {
        req[i] == "e10" && first_seen.swap(true, std::sync::atomic::Ordering::SeqCst)
    });
    let copy = ("e10-copy".to_owned(), msg("e10").1);
    let failed = h.send(&[msg("e10"), copy.clone()]).await;
    assert_eq!(failed, ["e10-copy"]);
    assert_eq!(h.bus.times("e10"), 1, "the first copy was published");
    h.bus.heal();
    assert_eq!(occurrences(&h.record().await), 30);

    // More than a generation of others before SQS brings the second copy back.
    h.send_quietly(ids(31, 41)).await;
    assert!(h.send(&[copy]).await.is_empty());
    let record = h.record().await;
    assert_eq!(
        occurrences(&record),
        40,
        "the second copy was counted a second time: {record:?}"
    );
    assert!(!listed(&record, "e10"), "published, it left the list");
    only_sent(&h, &ids(1, 41));
}

/// Once the listed redelivery is published, SQS may still bring copies of it (a duplicate
/// delivery, a retry of a batch that timed out): alone, several in one batch, and after a few
/// other occurrences. None is counted again.
#[tokio::test]
async fn replays_after_the_publication_succeeded_are_not_counted_again() {
    let h = Harness::start(4).await;
    hot_with_e10_listed(&h, true).await;
    assert!(h.send(&[msg("e10")]).await.is_empty());
    assert_eq!(h.bus.times("e10"), 1);
    assert!(!listed(&h.record().await, "e10"));

    for _ in 0..3 {
        assert!(h.send(&[msg("e10")]).await.is_empty());
    }
    let batch: Vec<(String, Value)> = (0..3)
        .map(|n| (format!("copy-{n}"), msg("e10").1))
        .collect();
    assert!(h.send(&batch).await.is_empty());
    h.send_quietly(ids(31, 33)).await;
    assert!(h.send(&[msg("e10")]).await.is_empty());
    let record = h.record().await;
    assert_eq!(
        occurrences(&record),
        32,
        "a replay of the published redelivery was counted again: {record:?}"
    );
    assert!(h.bus.times("e10") >= 1);
    only_sent(&h, &ids(1, 33));
}

/// Two ingest instances (two concurrent invocations) get the listed redelivery at once; one of them
/// cannot publish it. Whichever order their writes land in, the record counts it once, it is
/// published, and the failed copy, brought back, is not counted either.
#[tokio::test]
async fn the_listed_redelivery_twice_concurrently_is_counted_once_and_published() {
    let mut h = Harness::start(4).await;
    hot_with_e10_listed(&h, true).await;
    let down = Arc::new(Bus::default());
    down.set_down(true);
    let up = h.bus.clone();
    let a = h.another(&up);
    let b = h.another(&down);
    let (ma, mb) = ([msg("e10")], [msg("e10")]);
    let (fa, fb) = tokio::join!(Harness::send_with(&a, &ma), Harness::send_with(&b, &mb));
    assert!(fa.is_empty(), "{fa:?}");
    assert_eq!(
        h.bus.times("e10"),
        1,
        "published by the instance whose bus is up"
    );
    assert_eq!(occurrences(&h.record().await), 30);

    // Whatever failed comes back (to either instance, the bus up), after a few other occurrences.
    h.send_quietly(ids(31, 33)).await;
    for failed in fb {
        assert!(h.send(&[msg(&failed)]).await.is_empty());
    }
    let record = h.record().await;
    assert_eq!(occurrences(&record), 32, "{record:?}");
    assert!(!listed(&record, "e10"));
    assert!(h.bus.times("e10") >= 1);
    only_sent(&h, &ids(1, 33));
}

/// A new event delivered twice at once to two instances, the bus down for both: counted once,
/// listed, and published by its redelivery.
#[tokio::test]
async fn a_new_event_delivered_twice_concurrently_is_counted_once() {
    let mut h = Harness::start(4).await;
    h.bus.set_down(true);
    let up = h.bus.clone();
    let a = h.another(&up);
    let b = h.another(&up);
    let (ma, mb) = ([msg("e1")], [msg("e1")]);
    let (fa, fb) = tokio::join!(Harness::send_with(&a, &ma), Harness::send_with(&b, &mb));
    // The instance that counted it could not publish it; the other saw a redelivery of an
    // `accepted` record, to be published too, and could not either.
    assert_eq!((fa.len(), fb.len()), (1, 1));
    let record = h.record().await;
    assert_eq!(occurrences(&record), 1);
    assert!(listed(&record, "e1"), "{record:?}");
    h.bus.heal();
    assert!(h.send(&[msg("e1")]).await.is_empty());
    assert!(h.send(&[msg("e1")]).await.is_empty());
    assert_eq!(occurrences(&h.record().await), 1);
    assert!(h.bus.times("e1") >= 1);
}

// 2. Partial failures.

/// One PutEvents answer fails some entries only (`FailedEntryCount`, an `ErrorCode` an entry), in a
/// batch of two fingerprints and a rejected event: only the failed finding is handed back and
/// listed, on its own record; its redelivery is published and counted once.
#[tokio::test]
async fn a_partial_put_events_failure_lists_only_the_failed_finding_on_its_own_record() {
    let h = Harness::start(4).await;
    let rule_a = "Terminal shell in container";
    let rule_b = "Write below etc";
    let on = |id: &str, rule: &str| {
        (
            id.to_owned(),
            FalcoAlert::sample().id(id).rule(rule).event(),
        )
    };
    let junk = ("junk".to_owned(), json!({"not": "an event"}));
    // Event Rejected carries no dedup.event_id: it fails too (and must not be listed anywhere).
    h.bus
        .fail_when(|req, i| req[i] == "b1" || req[i].is_empty());
    let mut failed = h
        .send(&[on("a1", rule_a), on("b1", rule_b), on("a2", rule_a), junk])
        .await;
    failed.sort();
    assert_eq!(failed, ["b1", "junk"]);
    assert_eq!(h.bus.times("a1"), 1);
    let a = h.record_of(SENDER, rule_a).await;
    let b = h.record_of(SENDER, rule_b).await;
    assert_eq!((occurrences(&a), occurrences(&b)), (2, 1));
    assert!(unpublished(&a).is_empty(), "{a:?}");
    assert_eq!(unpublished(&b), vec![digest("b1").to_vec()]);

    h.bus.heal();
    assert!(h.send(&[on("b1", rule_b)]).await.is_empty());
    assert_eq!(h.bus.times("b1"), 1);
    let b = h.record_of(SENDER, rule_b).await;
    assert_eq!(occurrences(&b), 1);
    assert!(unpublished(&b).is_empty());
    assert_eq!(occurrences(&h.record_of(SENDER, rule_a).await), 2);
    only_sent(&h, &["a1".into(), "a2".into(), "b1".into()]);
}

/// Ten publications of one fingerprint fail for good (each the first of a new update interval):
/// the list holds eight, refuses the rest without error, and nothing panics. The listed ones are
/// recognized however late they come; the others while the record remembers them.
#[tokio::test]
async fn more_failed_ids_than_the_list_holds_are_never_counted_twice_while_remembered() {
    let h = Harness::start(4).await;
    h.send_quietly(ids(0, 1)).await;
    h.bus.set_down(true);
    for id in ids(1, 11) {
        h.advance(901);
        assert_eq!(h.send(&[msg(&id)]).await, std::slice::from_ref(&id));
    }
    h.bus.heal();
    let record = h.record().await;
    assert_eq!(occurrences(&record), 11);
    assert_eq!(unpublished(&record).len(), UNPUBLISHED_MAX);
    for id in ids(1, 9) {
        assert!(listed(&record, &id), "{id}");
    }
    // e9 and e10 did not fit; the record still remembers them: their redeliveries are recognized.
    for id in ["e9", "e10"] {
        assert!(remembered(&record, id));
        assert!(h.send(&[msg(id)]).await.is_empty());
    }
    assert_eq!(occurrences(&h.record().await), 11);
    // A generation and more of others; then the listed ones come back, in one batch.
    h.send_quietly(ids(11, 21)).await;
    let late: Vec<(String, Value)> = ids(1, 9).iter().map(|id| msg(id)).collect();
    assert!(h.send(&late).await.is_empty());
    let record = h.record().await;
    assert_eq!(occurrences(&record), 21, "{record:?}");
    assert!(unpublished(&record).is_empty());
    for id in ids(1, 11) {
        assert!(h.bus.times(&id) >= 1, "{id} was never published");
    }
    only_sent(&h, &ids(0, 21));
}

/// The bus fails the milestone for good, and then DynamoDB fails the listing write too: the
/// message is handed back all the same (nothing panics), and its redelivery, while the record
/// remembers its id, is not counted again and is published (the record is `accepted`).
#[tokio::test]
async fn a_failed_listing_write_hands_the_message_back_and_its_redelivery_counts_once() {
    let h = Harness::start(4).await;
    h.send_quietly(ids(1, 10)).await;
    h.bus.set_down(true);
    let faults = h.faults.clone();
    h.bus
        .on_request(move || Harness::break_dynamodb(&faults, true));
    assert_eq!(h.send(&[msg("e10")]).await, ["e10"]);
    Harness::break_dynamodb(&h.faults, false);
    h.bus.heal();
    let record = h.record().await;
    assert_eq!(occurrences(&record), 10);
    assert!(
        !record.contains_key(UNPUBLISHED),
        "the listing write failed"
    );
    assert!(remembered(&record, "e10"));

    assert!(h.send(&[msg("e10")]).await.is_empty());
    assert_eq!(occurrences(&h.record().await), 10, "not counted twice");
    assert_eq!(h.bus.times("e10"), 1, "the redelivery was published");
}

// 3. The clear failing; the record gone; forwarded and escalated in between.

/// The redelivery is published, but taking it off the list fails: the message is acknowledged (it
/// was published), the id stays listed, and a later copy is published again (at least once),
/// never counted again, and then taken off.
#[tokio::test]
async fn a_failed_clear_leaves_the_id_listed_and_a_later_copy_is_published_not_counted() {
    let h = Harness::start(4).await;
    hot_with_e10_listed(&h, true).await;
    let faults = h.faults.clone();
    h.bus
        .on_request(move || Harness::break_dynamodb(&faults, true));
    assert!(h.send(&[msg("e10")]).await.is_empty());
    Harness::break_dynamodb(&h.faults, false);
    h.bus.heal();
    assert_eq!(h.bus.times("e10"), 1);
    let record = h.record().await;
    assert!(listed(&record, "e10"), "the clear failed: still listed");
    assert_eq!(occurrences(&record), 30);

    h.send_quietly(ids(31, 41)).await;
    assert!(h.send(&[msg("e10")]).await.is_empty());
    assert_eq!(h.bus.times("e10"), 2, "published again");
    let record = h.record().await;
    assert_eq!(occurrences(&record), 40);
    assert!(!listed(&record, "e10"));
}

/// The record expires (or is deleted) between the failure and the redelivery: the redelivery
/// starts a new record, counted once and published as new, with nothing listed.
#[tokio::test]
async fn a_redelivery_after_its_record_is_gone_starts_a_new_record() {
    let h = Harness::start(4).await;
    hot_with_e10_listed(&h, true).await;
    let record = h.record().await;
    h.ddb
        .delete_item()
        .table_name(TABLE_NAME)
        .key("pk", record["pk"].clone())
        .key("sk", record["sk"].clone())
        .send()
        .await
        .unwrap();
    assert!(h.send(&[msg("e10")]).await.is_empty());
    let record = h.record().await;
    assert_eq!(occurrences(&record), 1);
    assert!(!record.contains_key(UNPUBLISHED));
    let published = h.bus.published();
    assert_eq!(published.len(), 2, "{published:?}");
    assert_eq!(published[1].event_id, "e10");
    assert_eq!(published[1].reason, "new");
    // The list write on a gone record never creates one.
    assert!(!h.store().list_unpublished("gone", &["e1"]).await.unwrap());
    assert_eq!(h.records().await.len(), 1);
}

/// The failed milestone is listed while the record is `accepted`; then the record is forwarded and
/// a severe occurrence escalates it. The redelivery is still published (as a redelivery, carrying
/// the raised severity), counted once, and the escalation is not published again.
#[tokio::test]
async fn a_redelivery_after_the_record_was_forwarded_and_escalated_is_published_once_counted_once()
{
    let h = Harness::start(4).await;
    hot_with_e10_listed(&h, false).await;
    h.forward(&h.record().await).await;
    let severe = (
        "severe".to_owned(),
        FalcoAlert::sample()
            .id("severe")
            .priority("Critical")
            .event(),
    );
    assert!(h.send(std::slice::from_ref(&severe)).await.is_empty());
    assert_eq!(h.bus.times("severe"), 1, "the escalation was published");
    assert!(h.send(&[msg("e10")]).await.is_empty());
    let redelivered: Vec<Published> = h
        .bus
        .published()
        .into_iter()
        .filter(|p| p.event_id == "e10")
        .collect();
    assert_eq!(redelivered.len(), 1, "{redelivered:?}");
    assert_eq!(redelivered[0].reason, "redelivery");
    assert_eq!(redelivered[0].count, 31);
    let record = h.record().await;
    assert_eq!(occurrences(&record), 31);
    assert!(!listed(&record, "e10"));
    // The escalation, redelivered, is the record's raiser: published again, never counted again.
    assert!(h.send(&[severe]).await.is_empty());
    assert_eq!(occurrences(&h.record().await), 31);
}

// 4. Forged input.

/// Another account puts on the bus an event reusing the listed event's ids (its EventBridge id, in
/// a test's body, and falcosidekick's uuid): it is another sender's finding (another fingerprint),
/// counted and published on its own record. It neither takes the genuine id off the list nor is
/// published as its redelivery, and the genuine redelivery is still published, counted once.
#[tokio::test]
async fn another_senders_copy_of_a_listed_id_neither_stands_in_for_nor_suppresses_it() {
    let h = Harness::start(4).await;
    let genuine = |id: &str| {
        (
            id.to_owned(),
            FalcoAlert::sample().id(id).uuid(&format!("u-{id}")).event(),
        )
    };
    for id in ids(1, 10) {
        assert!(h.send(&[genuine(&id)]).await.is_empty());
    }
    let fp = Harness::fingerprint(&h.record().await);
    h.forward(&h.record().await).await;
    h.bus.fail_ids(&["producer:u-e10"]);
    assert_eq!(h.send(&[genuine("e10")]).await, ["e10"]);
    h.bus.heal();
    for id in ids(11, 31) {
        assert!(h.send(&[genuine(&id)]).await.is_empty());
    }

    let forged = (
        "forged".to_owned(),
        FalcoAlert::sample()
            .id("e10")
            .uuid("u-e10")
            .from_account(OTHER_SENDER, "us-west-2")
            .priority("Debug")
            .event(),
    );
    assert!(h.send(&[forged]).await.is_empty());
    let genuine_record = h
        .records()
        .await
        .into_iter()
        .find(|r| Harness::fingerprint(r) == fp)
        .unwrap();
    assert!(listed(&genuine_record, "producer:u-e10"), "still listed");
    assert_eq!(occurrences(&genuine_record), 30);
    let forged_published: Vec<Published> = h
        .bus
        .published()
        .into_iter()
        .filter(|p| p.sender == OTHER_SENDER)
        .collect();
    assert_eq!(forged_published.len(), 1, "{forged_published:?}");
    assert_eq!(
        forged_published[0].reason, "new",
        "its own finding, not a redelivery"
    );

    assert!(h.send(&[genuine("e10")]).await.is_empty());
    let from_genuine: Vec<Published> = h
        .bus
        .published()
        .into_iter()
        .filter(|p| p.sender == SENDER && p.event_id == "producer:u-e10")
        .collect();
    assert_eq!(from_genuine.len(), 1);
    assert_eq!(from_genuine[0].reason, "redelivery");
    assert_ne!(from_genuine[0].priority, "Debug");
    let genuine_record = h
        .records()
        .await
        .into_iter()
        .find(|r| Harness::fingerprint(r) == fp)
        .unwrap();
    assert_eq!(occurrences(&genuine_record), 30);
    assert!(!listed(&genuine_record, "producer:u-e10"));
}

/// The direct-invoke entry point takes a bare alert whose uuid its caller chooses, on behalf of
/// the configured account. A direct invocation reusing the uuid of an alert listed on the agent
/// bus's record is another finding (the entry point is in the fingerprint): it cannot stand in for
/// the listed one, nor take it off the list. A direct alert whose own publication fails is listed
/// too (the caller's retry is its redelivery): published by the retry, counted once.
#[tokio::test]
async fn a_direct_invocation_reusing_a_listed_uuid_is_its_own_finding() {
    let h = Harness::start(4).await;
    let direct = {
        let mut config = h.config.clone();
        config.entry = IngestEntry::Direct;
        let (events, _rule) = h.bus.client();
        // The rule must outlive the client's use: keep it in the test's scope.
        (
            Harness::ingest_on(h.faulty.clone(), events, &config, &h.now),
            _rule,
        )
    };
    let bare = |uuid: &str, priority: &str| {
        let mut detail =
            FalcoAlert::sample().uuid(uuid).priority(priority).event()["detail"].clone();
        detail["output_fields"]["proc.pid"] = json!(7);
        detail
    };
    let invoke = |payload: Value| {
        let ingest = direct.0.clone();
        async move { vigil_lambda::invoke_json(|e| ingest.handle(e), payload, FUNCTION_ARN).await }
    };

    // The agent bus's alert, listed.
    let on_bus = |id: &str| {
        (
            id.to_owned(),
            FalcoAlert::sample().id(id).uuid("u-listed").event(),
        )
    };
    h.bus.fail_ids(&["producer:u-listed"]);
    assert_eq!(h.send(&[on_bus("e1")]).await, ["e1"]);
    h.bus.heal();
    let bus_record = h.record().await;
    assert!(listed(&bus_record, "producer:u-listed"));

    // The direct copy, its publication failing: an error for Lambda to retry; listed on its own record.
    h.bus.fail_ids(&["producer:u-listed"]);
    assert!(invoke(bare("u-listed", "Debug")).await.is_err());
    h.bus.heal();
    let records = h.records().await;
    assert_eq!(records.len(), 2, "the direct copy is another finding");
    let direct_record = records
        .iter()
        .find(|r| r["pk"] != bus_record["pk"])
        .unwrap()
        .clone();
    assert!(listed(&direct_record, "producer:u-listed"));
    assert_eq!(occurrences(&direct_record), 1);
    let retried = invoke(bare("u-listed", "Debug")).await.unwrap();
    assert_eq!(retried["accepted"], 1, "{retried}");
    assert_eq!(h.bus.times("producer:u-listed"), 1);

    // The bus's own redelivery is still recognized (its record's listing untouched) and published.
    let bus_record = h
        .records()
        .await
        .into_iter()
        .find(|r| r["pk"] == bus_record["pk"])
        .unwrap();
    assert!(listed(&bus_record, "producer:u-listed"));
    assert!(h.send(&[on_bus("e1-again")]).await.is_empty());
    let published = h.bus.published();
    assert_eq!(published.len(), 2, "{published:?}");
    assert!(
        published.iter().all(|p| p.reason == "redelivery"),
        "{published:?}"
    );
    for r in h.records().await {
        assert_eq!(occurrences(&r), 1, "{r:?}");
        assert!(unpublished(&r).is_empty(), "{r:?}");
    }
}

/// The same sender forges a copy of its own listed alert (same uuid, a benign priority): the
/// producer's id is the event id, so the copy is taken for the redelivery. It is not counted, and
/// the record's severity is not lowered; what it publishes is the forged content (a limit of
/// producer ids the sender chooses, which the remembered ids had before the list).
#[tokio::test]
async fn the_same_senders_forged_copy_of_a_listed_uuid_is_never_counted() {
    let h = Harness::start(4).await;
    let alert = |id: &str, uuid: &str, priority: &str| {
        (
            id.to_owned(),
            FalcoAlert::sample()
                .id(id)
                .uuid(uuid)
                .priority(priority)
                .event(),
        )
    };
    for n in 1..10 {
        let id = format!("e{n}");
        assert!(
            h.send(&[alert(&id, &format!("u{n}"), "Critical")])
                .await
                .is_empty()
        );
    }
    h.bus.fail_ids(&["producer:u10"]);
    assert_eq!(h.send(&[alert("e10", "u10", "Critical")]).await, ["e10"]);
    h.bus.heal();
    for n in 11..31 {
        let id = format!("e{n}");
        assert!(
            h.send(&[alert(&id, &format!("u{n}"), "Critical")])
                .await
                .is_empty()
        );
    }
    let before = h.record().await;
    assert!(listed(&before, "producer:u10"));
    assert!(!remembered(&before, "producer:u10"));
    assert!(h.send(&[alert("forged", "u10", "Debug")]).await.is_empty());
    let after = h.record().await;
    assert_eq!(occurrences(&after), occurrences(&before), "not counted");
    assert_eq!(after["max_severity"], before["max_severity"]);
    let copies: Vec<Published> = h
        .bus
        .published()
        .into_iter()
        .filter(|p| p.event_id == "producer:u10")
        .collect();
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0].reason, "redelivery");
}
