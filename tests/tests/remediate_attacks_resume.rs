//! Attacks on the read before the claim: when the look before the claim finds nothing to claim
//! for (or fails), remediate reads the finding's action record once and, only if it holds a
//! crashed attempt's decision (`acting`, `acted`) or cannot be read, claims it and carries the
//! stored decision on without a look. These tests move the record between that read and the
//! claim (completed, reopened, taken by another message's lease), fail the read, leave records
//! claimed without a decision or unreadable, send edited copies that make the look miss while a
//! crashed decision waits, and run blind instances side by side. What must hold throughout:
//! nothing acts without a fresh look unless it resumes a decision stored before, a stop is done
//! once and announced once, and a message is never deleted while its decision is unfinished.

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_mocks::Rule;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use vigil_e2e::queue::{
    APPROVALS_QUEUE, APPROVE_SHELLS, REMEDIATE_QUEUE, approval_of, approver, deliver, on_queue,
};
use vigil_e2e::{ACCOUNT, AttackSequence, PLAYBOOKS, Pipeline, alerts, generous, s, with_id};
use vigil_playbook::PlaybookFile;
use vigil_remediate::{Remediate, RemediateSettings, RemediationMode};
use vigil_testkit::{BUS_NAME, Emulator, TABLE_NAME};

const SHELL: &str = "Terminal shell in container";

mod blind;

use blind::{Ecs, Item, blind_remediate, crash_in, stopped_then_crashed};

/// Something done elsewhere (another attempt, another instance) while the hooked call waits.
type Elsewhere = Box<dyn FnOnce() + Send>;

/// An interceptor on one operation (`DynamoDB_20120810.GetItem`, `…StopTask`) whose request body
/// contains `body_has`: it counts such requests, can fail them before they are sent, and can run
/// one [`Elsewhere`] right after the first of them was answered (before its caller sees the
/// answer): the way to move a record between remediate's read and its claim.
#[derive(Clone)]
struct Hook(Arc<HookState>);

struct HookState {
    operation: &'static str,
    body_has: &'static str,
    fail: AtomicBool,
    seen: AtomicU64,
    pending: AtomicBool,
    after: Mutex<Option<Elsewhere>>,
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hook")
            .field("operation", &self.0.operation)
            .finish()
    }
}

impl Hook {
    fn new(operation: &'static str, body_has: &'static str) -> Hook {
        Hook(Arc::new(HookState {
            operation,
            body_has,
            fail: AtomicBool::new(false),
            seen: AtomicU64::new(0),
            pending: AtomicBool::new(false),
            after: Mutex::new(None),
        }))
    }

    /// A strongly consistent read of an enforced action record (`ActionStore::unfinished`).
    fn record_reads() -> Hook {
        Hook::new("GetItem", "ACTION#enforce")
    }

    fn failing(self) -> Hook {
        self.0.fail.store(true, Ordering::SeqCst);
        self
    }

    fn then(self, elsewhere: Elsewhere) -> Hook {
        *self.0.after.lock().unwrap() = Some(elsewhere);
        self
    }

    fn seen(&self) -> u64 {
        self.0.seen.load(Ordering::SeqCst)
    }

    fn ran(&self) -> bool {
        self.0.after.lock().unwrap().is_none()
    }
}

impl Intercept for Hook {
    fn name(&self) -> &'static str {
        "Hook"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        let body = request.body().bytes().unwrap_or_default();
        if !target.ends_with(&format!(".{}", self.0.operation))
            || !String::from_utf8_lossy(body).contains(self.0.body_has)
        {
            return Ok(());
        }
        self.0.seen.fetch_add(1, Ordering::SeqCst);
        if self.0.fail.load(Ordering::SeqCst) {
            return Err(format!("{} failed (injected)", self.0.operation).into());
        }
        self.0.pending.store(true, Ordering::SeqCst);
        Ok(())
    }

    fn read_after_transmit(
        &self,
        _: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.0.pending.swap(false, Ordering::SeqCst) {
            let elsewhere = self.0.after.lock().unwrap().take();
            if let Some(f) = elsewhere {
                f();
            }
        }
        Ok(())
    }
}

/// `work` on its own thread and runtime, against the emulator at `endpoint` (fresh clients): what
/// another instance does while the hooked one waits.
fn elsewhere<F, Fut>(endpoint: &str, work: F) -> Elsewhere
where
    F: FnOnce(aws_config::SdkConfig) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let endpoint = endpoint.to_owned();
    Box::new(move || {
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let emulator = Emulator::connect(&endpoint).unwrap();
                    work(emulator.sdk_config().await).await;
                });
        })
        .join()
        .unwrap();
    })
}

/// A genuine remediate (the emulator's ECS) built on `config`, enforcing [`PLAYBOOKS`].
fn genuine_on(config: &aws_config::SdkConfig) -> Remediate {
    let mut settings = RemediateSettings::new(TABLE_NAME, BUS_NAME);
    settings.mode = RemediationMode::Enforce;
    generous(&mut settings);
    Remediate::from_env(PlaybookFile::parse(PLAYBOOKS).unwrap(), settings, config)
}

/// Writes `record` with `changes` applied (a value of `None` removes the attribute).
async fn put_changed(
    config: &aws_config::SdkConfig,
    record: &Item,
    changes: &[(&str, Option<AttributeValue>)],
) {
    let mut next = record.clone();
    for (k, v) in changes {
        match v {
            Some(v) => next.insert((*k).to_owned(), v.clone()),
            None => next.remove(*k),
        };
    }
    aws_sdk_dynamodb::Client::new(config)
        .put_item()
        .table_name(TABLE_NAME)
        .set_item(Some(next))
        .send()
        .await
        .unwrap();
}

fn st(v: &str) -> Option<AttributeValue> {
    Some(AttributeValue::S(v.into()))
}

fn num(v: i64) -> Option<AttributeValue> {
    Some(AttributeValue::N(v.to_string()))
}

/// A remediate function whose ECS answers as `ecs` says (see [`blind_remediate`]) and whose
/// DynamoDB client carries `hook`.
async fn blind(p: &Pipeline, ecs: Ecs, hook: Option<Hook>) -> (Remediate, Rule, Rule) {
    blind_with(p, ecs, hook, PLAYBOOKS, generous).await
}

async fn blind_with(
    p: &Pipeline,
    ecs: Ecs,
    hook: Option<Hook>,
    playbooks: &str,
    adjust: fn(&mut RemediateSettings),
) -> (Remediate, Rule, Rule) {
    let config = p.emulator.sdk_config().await;
    let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(&config);
    if let Some(hook) = hook {
        dynamodb = dynamodb.interceptor(hook);
    }
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(dynamodb.build());
    blind_remediate(p, ecs, dynamodb, playbooks, adjust).await
}

/// A copy of `alert` (new event id `id`) edited to name a cluster that does not exist, its task
/// left unenriched: its look finds nothing.
fn decoy_of(p: &Pipeline, alert: &str, id: &str) -> String {
    let nowhere = p.cluster.replace("cluster/prod", "cluster/nowhere");
    let mut d: Value = serde_json::from_str(alert).unwrap();
    d["id"] = json!(id);
    d["detail"]["enrichment"]["task"] = Value::Null;
    d["detail"]["finding"]["resource"]["cluster_arn"] = json!(nowhere);
    d.to_string()
}

/// An attempt stopped the task and crashed before its announcement (record `acted`). Its
/// redelivery meets a look that misses (ECS forgot the task) and reads the record as unfinished;
/// right then, another instance (the same alert delivered as another message, with a look that
/// sees the stopped task) carries the stored stop on and completes it. The read is now stale: the
/// claim finds the record complete. What must hold: the blind redelivery is a duplicate (not
/// retried, nothing decided), no StopTask anywhere, the stop announced exactly once, and the
/// record complete with `act`.
#[tokio::test]
async fn a_record_completed_between_the_read_and_the_claim_is_a_duplicate() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let alert = stopped_then_crashed(&p, &tasks, "acted", "completed-between").await;
    let copy = alert.clone();
    let hook =
        Hook::record_reads().then(elsewhere(p.emulator.endpoint(), move |config| async move {
            let genuine = genuine_on(&config);
            assert!(genuine.process(&[copy], Some(ACCOUNT)).await.is_empty());
        }));
    let (r, _, stops) = blind(&p, Ecs::Forgotten, Some(hook.clone())).await;
    p.emulator.reset_api_calls();
    let failed = r.process(std::slice::from_ref(&alert), Some(ACCOUNT)).await;
    assert!(hook.ran(), "the record was read before the claim");
    assert!(failed.is_empty(), "a duplicate is not retried: {failed:?}");
    assert_eq!(stops.num_calls(), 0);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0, "the stop was done");
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(s(&record, "phase"), "complete");
    assert_eq!(s(&record, "outcome"), "act");
    let executed = p.executed.drain().await;
    assert_eq!(executed.len(), 1, "announced once: {executed:?}");
    assert_eq!(p.stopped(&tasks).await, 1);
}

/// A decision that is not final (the task was found not running) was made and the attempt crashed
/// before its announcement (record `acted`). A vouched copy edited to name a missing cluster, a new
/// event, arrives: its look misses and it reads the record as unfinished. Between that read and
/// its claim the genuine redelivery finishes the stored decision (complete, `is_final = false`,
/// decided for the genuine event). The copy's claim then finds a complete, non-final record
/// decided for another event: a fresh arrival would reopen it and decide again, but this copy has
/// no look to decide with. What must hold: a copy without a look never reopens a record (it
/// would erase the completed decision and leave the record `claimed` with none, so that a later
/// copy of the genuine event is decided and announced a second time); the completed decision
/// stays complete and is announced once, even after a further copy of the genuine event.
#[tokio::test]
async fn a_look_less_copy_never_reopens_a_decision_completed_after_its_read() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let (alert, real) = not_running_then_crashed(&p, &tasks, "reopen-between").await;

    let redelivery = alert.clone();
    let hook =
        Hook::record_reads().then(elsewhere(p.emulator.endpoint(), move |config| async move {
            let genuine = genuine_on(&config);
            assert!(
                genuine
                    .process(&[redelivery], Some(ACCOUNT))
                    .await
                    .is_empty()
            );
        }));
    let (r, _, stops) = blind(&p, Ecs::Forgotten, Some(hook.clone())).await;
    let decoy = decoy_of(&p, &alert, "reopen-between-decoy");
    // The copy may go back to its queue (to look again) or be dropped; either way it decides
    // nothing and leaves the completed decision alone.
    let first = r.process(std::slice::from_ref(&decoy), Some(ACCOUNT)).await;
    assert!(hook.ran());
    assert_eq!(stops.num_calls(), 0);
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(
        s(&record, "phase"),
        "complete",
        "a copy with no look reopened the completed decision (its retry: {first:?}): {record:?}"
    );
    assert!(
        record.contains_key("decision"),
        "the decision was erased: {record:?}"
    );
    // Its retry (the look missing again) is recorded aside.
    if !first.is_empty() {
        assert!(r.process(&[decoy], Some(ACCOUNT)).await.is_empty());
    }
    // A further copy of the genuine event (another message) is a duplicate.
    assert!(
        real.process(std::slice::from_ref(&alert), Some(ACCOUNT))
            .await
            .is_empty()
    );
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(s(&record, "phase"), "complete");
    assert_eq!(s(&record, "outcome"), "not_running");
    let executed = p.executed.drain().await;
    assert_eq!(
        executed.len(),
        1,
        "decided and announced once: {executed:?}"
    );
    assert_eq!(
        p.emulator.calls("ecs", "StopTask"),
        1,
        "only the operator's stop"
    );
}

/// A crashed stop (record `acting`, task already stopped) is redelivered as message `m-1` with a
/// blind look; it reads the record as unfinished, and right then the attempt of another message
/// (`m-2`) takes the lease (live). The blind attempt's claim finds the record busy with `m-2`'s
/// lease: it leaves the job to `m-2` (that message stays on its queue until the job is done).
/// What must hold: the blind attempt writes nothing and stops nothing; `m-2`, when it comes back
/// after its attempt died, finishes the stored stop: complete, announced once, StopTask sent only
/// for the resumed decision (never decided anew).
#[tokio::test]
async fn a_record_taken_by_another_message_between_the_read_and_the_claim_is_left_to_it() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let alert = stopped_then_crashed(&p, &tasks, "acting", "busy-between").await;
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    let taken = record.clone();
    let hook =
        Hook::record_reads().then(elsewhere(p.emulator.endpoint(), move |config| async move {
            let until = chrono::Utc::now().timestamp() + 600;
            put_changed(
                &config,
                &taken,
                &[
                    ("lease_owner", st("m-2-attempt")),
                    ("lease_until", num(until)),
                    ("lease_message", st("m-2")),
                    ("lease_receive", num(1)),
                ],
            )
            .await;
        }));
    let (r, _, stops) =
        blind_with(&p, Ecs::Forgotten, Some(hook.clone()), PLAYBOOKS, on_queue).await;
    let failed = deliver(&r, "m-1", 1, REMEDIATE_QUEUE, &alert).await;
    assert!(hook.ran());
    assert_eq!(
        stops.num_calls(),
        0,
        "no stop while another attempt holds the lease"
    );
    let now = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(s(&now, "phase"), "acting");
    assert_eq!(
        s(&now, "lease_owner"),
        "m-2-attempt",
        "the lease was not taken: {now:?}"
    );
    assert!(failed.is_empty() || failed == ["m-1"], "{failed:?}");
    // `m-2`'s attempt died; SQS delivers `m-2` again, to an instance that sees the task.
    let real = p.remediate(RemediationMode::Enforce, on_queue).await;
    p.emulator.reset_api_calls();
    assert!(
        deliver(&real, "m-2", 2, REMEDIATE_QUEUE, &alert)
            .await
            .is_empty()
    );
    let done = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(s(&done, "phase"), "complete");
    assert_eq!(s(&done, "outcome"), "act");
    assert!(
        p.emulator.calls("ecs", "StopTask") <= 1,
        "the resumed stop only"
    );
    assert_eq!(p.executed.drain().await.len(), 1);
    assert_eq!(p.stopped(&tasks).await, 1);
    // `m-1` again (if it was kept) is a duplicate.
    if !failed.is_empty() {
        assert!(
            deliver(&real, "m-1", 2, REMEDIATE_QUEUE, &alert)
                .await
                .is_empty()
        );
        assert_eq!(p.executed.drain().await.len(), 0);
    }
}

/// A crashed stop (record `acted`) is redelivered while DescribeTasks is throttled AND the read
/// of the record fails. With neither a look nor the stored decision known, nothing may be
/// decided, claimed or put aside, and the message must go back to its queue (its decision is
/// unfinished). The next delivery, with the read working (the look still throttled), finishes
/// the stored stop: complete, announced once, no StopTask.
#[tokio::test]
async fn a_throttled_look_and_a_failing_read_keep_the_message_and_the_decision() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let alert = stopped_then_crashed(&p, &tasks, "acted", "both-fail").await;
    let before = p.enforced_record(&tasks[0]).await.unwrap();
    let hook = Hook::record_reads().failing();
    let (r, described, stops) = blind(&p, Ecs::Throttled, Some(hook.clone())).await;
    p.emulator.reset_api_calls();
    let failed = r.process(std::slice::from_ref(&alert), Some(ACCOUNT)).await;
    assert_eq!(
        failed,
        [0],
        "the message was deleted with its decision unfinished"
    );
    assert!(described.num_calls() >= 1 && hook.seen() >= 1);
    assert_eq!(stops.num_calls(), 0);
    assert_eq!(p.emulator.calls("dynamodb", "UpdateItem"), 0, "no claim");
    assert_eq!(p.emulator.calls("dynamodb", "PutItem"), 0, "no aside");
    let after = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(after, before, "the record changed");
    assert!(p.executed.drain().await.is_empty());

    let (r, _, stops) = blind(&p, Ecs::Throttled, None).await;
    assert!(r.process(&[alert], Some(ACCOUNT)).await.is_empty());
    assert_eq!(stops.num_calls(), 0);
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(s(&record, "phase"), "complete");
    assert_eq!(p.executed.drain().await.len(), 1);
}

/// An attempt claimed the record and crashed before deciding (record `claimed`, no decision,
/// lease run out). Its redelivery meets a throttled look. A claimed record holds no decision to
/// resume: nothing may act without a look. What must hold: no StopTask, no claim taken (the
/// record is as the crash left it), the message goes back to its queue; the next delivery with
/// ECS answering stops the task once.
#[tokio::test]
async fn a_throttled_look_never_acts_on_a_claimed_record_without_a_decision() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let events = alerts(&p, &tasks[..1], SHELL, "claimed-throttled").await;
    // What an attempt that crashed right after its claim leaves.
    let now = chrono::Utc::now().timestamp();
    let fp = serde_json::from_str::<Value>(&events[0]).unwrap()["detail"]["finding"]["fingerprint"]
        .as_str()
        .map(str::to_owned);
    let Some(fp) = fp else {
        panic!("the enriched event names its fingerprint: {}", events[0]);
    };
    let crashed: Item = HashMap::from([
        (
            "pk".to_owned(),
            AttributeValue::S(format!("ACT#{fp}#{}", tasks[0])),
        ),
        ("sk".to_owned(), AttributeValue::S("ACTION#enforce".into())),
        ("phase".to_owned(), AttributeValue::S("claimed".into())),
        (
            "lease_owner".to_owned(),
            AttributeValue::S("crashed".into()),
        ),
        ("lease_until".to_owned(), AttributeValue::N("0".into())),
        ("created_at".to_owned(), AttributeValue::N(now.to_string())),
        ("attempts".to_owned(), AttributeValue::N("1".into())),
    ]);
    put_changed(&p.emulator.sdk_config().await, &crashed, &[]).await;

    let (r, described, stops) = blind(&p, Ecs::Throttled, None).await;
    p.emulator.reset_api_calls();
    assert_eq!(r.process(&events, Some(ACCOUNT)).await, [0]);
    assert!(described.num_calls() >= 1);
    assert_eq!(stops.num_calls(), 0);
    assert_eq!(
        p.emulator.calls("dynamodb", "UpdateItem"),
        0,
        "no claim without a look"
    );
    let record = p
        .enforced_record(&tasks[0])
        .await
        .expect("the crashed claim");
    assert_eq!(record, crashed, "the crashed claim was changed");
    assert_eq!(
        p.record_keys(&tasks[0]).await,
        ["ACTION#enforce"],
        "no aside"
    );

    let real = p.remediate(RemediationMode::Enforce, generous).await;
    assert!(real.process(&events, Some(ACCOUNT)).await.is_empty());
    assert!(real.process(&events, Some(ACCOUNT)).await.is_empty());
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.stopped(&tasks).await, 1);
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(s(&record, "phase"), "complete");
    assert_eq!(p.executed.drain().await.len(), 1);
}

/// A record written by a future version that this one cannot read (an unknown phase) on a finding
/// whose task ECS has since forgotten, once with a look that misses and once with a throttled
/// look. It may hold a decision: it must neither be resumed, decided again nor recorded aside as
/// unseen, and the message must go back to its queue (on to its dead-letter queue) with the
/// record as it was, apart from its lease.
#[tokio::test]
async fn an_unreadable_record_is_never_finished_or_put_aside() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let alert = stopped_then_crashed(&p, &tasks, "acted", "unreadable").await;
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    put_changed(
        &p.emulator.sdk_config().await,
        &record,
        &[("phase", st("quarantined"))],
    )
    .await;
    for ecs in [Ecs::Forgotten, Ecs::Throttled] {
        let (r, _, stops) = blind(&p, ecs, None).await;
        let failed = r.process(std::slice::from_ref(&alert), Some(ACCOUNT)).await;
        assert_eq!(failed, [0], "an unreadable record's message was deleted");
        assert_eq!(stops.num_calls(), 0);
        let now = p.enforced_record(&tasks[0]).await.unwrap();
        assert_eq!(s(&now, "phase"), "quarantined");
        assert_eq!(s(&now, "decision"), s(&record, "decision"));
        assert_eq!(
            now["lease_until"].as_n().unwrap(),
            "0",
            "the lease was given back"
        );
        assert_eq!(
            p.record_keys(&tasks[0]).await,
            ["ACTION#enforce"],
            "no aside"
        );
    }
    assert!(p.executed.drain().await.is_empty());
}

/// A StopTask that fails before it reaches ECS: an attempt that decided to stop and crashed before
/// its StopTask.
fn no_stops() -> Hook {
    Hook::new("StopTask", "").failing()
}

/// A remediate enforcing `playbooks` whose every StopTask fails ([`no_stops`]): it decides, and its
/// attempt ends before the stop, leaving the record `acting`.
async fn crashing_before_stop(p: &Pipeline, playbooks: &str) -> Remediate {
    let config = p.emulator.sdk_config().await;
    let ecs = aws_sdk_ecs::Client::from_conf(
        aws_sdk_ecs::config::Builder::from(&config)
            .interceptor(no_stops())
            .build(),
    );
    let mut settings = RemediateSettings::new(TABLE_NAME, BUS_NAME);
    settings.mode = RemediationMode::Enforce;
    generous(&mut settings);
    Remediate::new(
        ecs,
        aws_sdk_securityhub::Client::new(&config),
        aws_sdk_dynamodb::Client::new(&config),
        aws_sdk_eventbridge::Client::new(&config),
        PlaybookFile::parse(playbooks).unwrap(),
        settings,
    )
}

/// The genuine alert on `tasks[0]` (still running) was decided `act` and its attempt crashed before
/// StopTask (record `acting`, lease given back). Returns the alert.
async fn decided_then_crashed(p: &Pipeline, tasks: &[String], tag: &str) -> String {
    let events = alerts(p, &tasks[..1], SHELL, tag).await;
    let crashing = crashing_before_stop(p, PLAYBOOKS).await;
    assert_eq!(crashing.process(&events, Some(ACCOUNT)).await, [0]);
    let record = p.enforced_record(&tasks[0]).await.expect("the decision");
    assert_eq!(s(&record, "phase"), "acting");
    assert_eq!(p.task_status(&tasks[0]).await.1, "RUNNING");
    assert_eq!(p.stopped(tasks).await, 0);
    crash_in(p, &record, "acting").await;
    events[0].clone()
}

/// A genuine decision to stop `tasks[0]` is stored (`acting`) and the task still runs. A vouched
/// copy edited to name a missing cluster arrives first: its look misses, the record is unfinished,
/// and the copy carries the stored decision on. What must hold: it stops exactly the task the
/// stored decision names, on the cluster the decision was made for (never the copy's), once;
/// no other task is stopped; the decision is completed and announced once; the genuine
/// redelivery is then a duplicate.
#[tokio::test]
async fn a_decoy_resuming_a_stored_stop_stops_only_the_decided_task_once() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let alert = decided_then_crashed(&p, &tasks, "decoy-acting").await;
    let real = p.remediate(RemediationMode::Enforce, generous).await;
    p.emulator.reset_api_calls();
    let decoy = decoy_of(&p, &alert, "decoy-acting-copy");
    let failed = real.process(&[decoy], Some(ACCOUNT)).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    assert_eq!(p.stopped(&tasks).await, 1);
    assert!(p.stopped_reason(&tasks[0]).await.starts_with("Vigil shell"));
    assert!(real.process(&[alert], Some(ACCOUNT)).await.is_empty());
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(s(&record, "phase"), "complete");
    assert_eq!(s(&record, "outcome"), "act");
    let executed = p.executed.drain().await;
    assert_eq!(executed.len(), 1, "{executed:?}");
    assert_eq!(
        executed[0]["detail"]["cluster_arn"].as_str(),
        Some(p.cluster.as_str())
    );
}

/// A genuine decision to stop `tasks[0]` is stored (`acting`). Vouched copies edited to name the
/// task with its ARN in another case (and one naming another running task of the service) arrive:
/// each is another action record's key, and its look must decide for what it names. What must
/// hold: no copy resumes, completes or changes the genuine stored decision, and the task with the
/// other case is not a way to stop anything (ECS does not know it); the genuine redelivery then
/// stops `tasks[0]` exactly once.
#[tokio::test]
async fn copies_naming_another_task_never_touch_a_stored_decision() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let alert = decided_then_crashed(&p, &tasks, "recase").await;
    let stored = p.enforced_record(&tasks[0]).await.unwrap();
    let upper = {
        let (head, id) = tasks[0].rsplit_once('/').unwrap();
        format!("{head}/{}", id.to_uppercase())
    };
    assert_ne!(upper, tasks[0]);
    let mut recased: Value = serde_json::from_str(&alert).unwrap();
    recased["id"] = json!("recase-copy");
    recased["detail"]["enrichment"]["task"] = Value::Null;
    recased["detail"]["finding"]["resource"]["task_arn"] = json!(upper);
    let (r, _, stops) = blind(&p, Ecs::Forgotten, None).await;
    let _ = r.process(&[recased.to_string()], Some(ACCOUNT)).await;
    assert_eq!(
        stops.num_calls(),
        0,
        "a look that misses stops nothing of its own"
    );
    let real = p.remediate(RemediationMode::Enforce, generous).await;
    p.emulator.reset_api_calls();
    let _ = real.process(&[recased.to_string()], Some(ACCOUNT)).await;
    assert_eq!(
        p.emulator.calls("ecs", "StopTask"),
        0,
        "ECS knows no such task"
    );
    assert_eq!(
        p.enforced_record(&tasks[0]).await.unwrap(),
        stored,
        "a copy for another key changed the stored decision"
    );
    assert_eq!(p.task_status(&tasks[0]).await.1, "RUNNING");

    assert!(real.process(&[alert], Some(ACCOUNT)).await.is_empty());
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.stopped(&tasks).await, 1);
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(s(&record, "phase"), "complete");
    assert_eq!(p.executed.drain().await.len(), 1);
}

/// A crashed stop (record `acted`) is redelivered twice at once, on two instances whose looks both
/// miss: two copies of one message (same message id and receive) and a copy as another message.
/// Both read the record as unfinished and race for the claim. What must hold: the stored stop is
/// finished once (complete, one `Remediation Executed`, no StopTask), and a copy that loses the
/// race is either retried or left to the message holding the claim, never deleted while the
/// decision is unfinished.
#[tokio::test]
async fn blind_instances_racing_on_copies_of_one_message_finish_a_stored_stop_once() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let alert = stopped_then_crashed(&p, &tasks, "acted", "race-blind").await;
    let (a, _, a_stops) = blind_with(&p, Ecs::Forgotten, None, PLAYBOOKS, on_queue).await;
    let (b, _, b_stops) = blind_with(&p, Ecs::Forgotten, None, PLAYBOOKS, on_queue).await;
    let (fa, fb) = tokio::join!(
        deliver(&a, "m-1", 2, REMEDIATE_QUEUE, &alert),
        deliver(&b, "m-1", 2, REMEDIATE_QUEUE, &alert)
    );
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    if s(&record, "phase") != "complete" {
        assert!(
            !fa.is_empty() || !fb.is_empty(),
            "both copies deleted with the record `{}`",
            s(&record, "phase")
        );
    }
    let (fa2, fb2) = tokio::join!(
        deliver(&a, "m-1", 3, REMEDIATE_QUEUE, &alert),
        deliver(&b, "m-2", 1, REMEDIATE_QUEUE, &alert)
    );
    assert!(fa2.is_empty() && fb2.is_empty(), "{fa2:?} {fb2:?}");
    assert_eq!(a_stops.num_calls() + b_stops.num_calls(), 0);
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(s(&record, "phase"), "complete");
    assert_eq!(s(&record, "outcome"), "act");
    let executed = p.executed.drain().await;
    assert_eq!(executed.len(), 1, "{executed:?}");
}

/// A GuardDuty attack sequence naming one running task and two ECS does not know. Its first
/// delivery decided to stop the running one and crashed before StopTask (record `acting`); the
/// redelivery meets ECS answering MISSING for everything and failing StopTask. The missing tasks
/// are recorded aside, the stored stop is resumed and fails: the message must go back to its
/// queue (the decision is unfinished), not be deleted because the other tasks were handled. With
/// ECS answering again, the stop is done once and announced once.
#[tokio::test]
async fn a_sequence_with_an_unfinished_stop_and_missing_tasks_is_kept_until_the_stop_is_done() {
    const STOP_SEQUENCES: &str = "version: 1\nplaybooks:\n  - name: sequence\n    match: {finding_types: [\"AttackSequence:*\"]}\n    actions: [stop_task]\n    mode: enforce\n";
    let p = Pipeline::start().await;
    let shop = p.service("shop", 3).await;
    let seq = AttackSequence::new("seq-resume")
        .naming(&shop[..1])
        .build(&p)
        .await;
    let events = p.through_ingest_and_enrich(&[seq]).await;
    assert_eq!(events.len(), 1);
    let crashing = crashing_before_stop(&p, STOP_SEQUENCES).await;
    assert_eq!(crashing.process(&events, Some(ACCOUNT)).await, [0]);
    let record = p.enforced_record(&shop[0]).await.expect("the stored stop");
    assert_eq!(s(&record, "phase"), "acting");
    crash_in(&p, &record, "acting").await;

    let (r, _, stops) = blind_with(&p, Ecs::Forgotten, None, STOP_SEQUENCES, generous).await;
    let failed = r.process(&events, Some(ACCOUNT)).await;
    let record = p.enforced_record(&shop[0]).await.unwrap();
    assert!(
        failed == [0] || s(&record, "phase") == "complete",
        "the sequence was deleted with its stop `{}` (StopTask calls {})",
        s(&record, "phase"),
        stops.num_calls()
    );
    assert_eq!(
        s(&record, "phase"),
        "acting",
        "StopTask failed: the stop is not done"
    );
    assert_eq!(p.task_status(&shop[0]).await.1, "RUNNING");

    let real = p
        .remediate_with(STOP_SEQUENCES, RemediationMode::Enforce, generous)
        .await;
    p.emulator.reset_api_calls();
    assert!(real.process(&events, Some(ACCOUNT)).await.is_empty());
    assert!(
        real.process(&[with_id(&events[0], "seq-resume-again")], Some(ACCOUNT))
            .await
            .is_empty()
    );
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.stopped(&shop).await, 1);
    let record = p.enforced_record(&shop[0]).await.unwrap();
    assert_eq!(s(&record, "phase"), "complete");
    assert_eq!(p.executed.drain().await.len(), 1);
}

/// An approved stop was done and its attempt crashed before the announcement (enforced record
/// `acted`). The approval is delivered again under a throttled look, then again (a duplicate)
/// with the look throttled and the record complete. What must hold: the first redelivery
/// finishes the stored stop (complete, announced once) without a look; the duplicate decides
/// nothing (no claim, no aside, no second announcement) and, the look being throttled, goes back
/// to its queue rather than being taken for a task that is gone; with ECS answering it is a
/// duplicate.
#[tokio::test]
async fn an_approval_redelivered_under_a_throttled_look_finishes_its_stored_stop_once() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let events = alerts(&p, &tasks[..1], SHELL, "approve-throttled").await;
    let real = p
        .remediate_with(APPROVE_SHELLS, RemediationMode::Enforce, approver)
        .await;
    assert!(
        deliver(&real, "enriched-0", 1, REMEDIATE_QUEUE, &events[0])
            .await
            .is_empty()
    );
    let approval = approval_of("ap-throttled", &events[0]);
    assert!(
        deliver(&real, "approval-0", 1, APPROVALS_QUEUE, &approval)
            .await
            .is_empty()
    );
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
    let record = p
        .enforced_record(&tasks[0])
        .await
        .expect("the approved stop");
    assert_eq!(s(&record, "outcome"), "act");
    crash_in(&p, &record, "acted").await;
    p.executed.drain().await;

    let (throttled, _, stops) =
        blind_with(&p, Ecs::Throttled, None, APPROVE_SHELLS, approver).await;
    let failed = deliver(&throttled, "approval-0", 2, APPROVALS_QUEUE, &approval).await;
    assert!(failed.is_empty(), "{failed:?}");
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(s(&record, "phase"), "complete");
    assert_eq!(p.executed.drain().await.len(), 1);

    p.emulator.reset_api_calls();
    let again = deliver(&throttled, "approval-0", 3, APPROVALS_QUEUE, &approval).await;
    assert_eq!(
        again,
        ["approval-0"],
        "a throttled look on a finished record is retried"
    );
    assert_eq!(p.emulator.calls("dynamodb", "UpdateItem"), 0, "no claim");
    assert!(
        !p.record_keys(&tasks[0])
            .await
            .iter()
            .any(|k| k.starts_with("UNSEEN#")),
        "an approved stop recorded aside as unseen"
    );
    assert!(
        deliver(&real, "approval-0", 4, APPROVALS_QUEUE, &approval)
            .await
            .is_empty()
    );
    assert_eq!(stops.num_calls(), 0);
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 0);
    assert!(p.executed.drain().await.is_empty(), "announced twice");
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(s(&record, "phase"), "complete");
}

/// The task was found not running (a non-final decision) and the attempt crashed before its
/// announcement (record `acted`), for the stopped task `tasks[0]`. Returns the alert and the
/// remediate function that decided it.
async fn not_running_then_crashed(
    p: &Pipeline,
    tasks: &[String],
    tag: &str,
) -> (String, Remediate) {
    let alert = alerts(p, &tasks[..1], SHELL, tag).await.remove(0);
    p.emulator
        .ecs()
        .await
        .stop_task()
        .cluster(&p.cluster)
        .task(&tasks[0])
        .reason("operator")
        .send()
        .await
        .unwrap();
    let real = p.remediate(RemediationMode::Enforce, generous).await;
    assert!(
        real.process(std::slice::from_ref(&alert), Some(ACCOUNT))
            .await
            .is_empty()
    );
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(s(&record, "outcome"), "not_running");
    assert_eq!(record["is_final"].as_bool().ok(), Some(&false));
    crash_in(p, &record, "acted").await;
    p.executed.drain().await;
    (alert, real)
}

/// A genuine new arrival of the finding (a new event) meets a throttled look while a crashed
/// non-final decision waits (`acted`); it reads the record as unfinished, and before its claim the
/// redelivery of the decided event completes it. The new arrival has no look to decide with, but
/// it is a new event: it must not be dropped as a duplicate (its decision would be lost), nor
/// reopen the record blind. What must hold: it goes back to its queue with the completed decision
/// untouched, and its next delivery, with ECS answering, reopens and decides it (announced).
#[tokio::test]
async fn a_new_arrival_under_a_throttled_look_is_retried_when_the_record_completes_after_its_read()
{
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let (alert, real) = not_running_then_crashed(&p, &tasks, "arrival-between").await;
    let redelivery = alert.clone();
    let hook =
        Hook::record_reads().then(elsewhere(p.emulator.endpoint(), move |config| async move {
            assert!(
                genuine_on(&config)
                    .process(&[redelivery], Some(ACCOUNT))
                    .await
                    .is_empty()
            );
        }));
    let (r, _, stops) = blind(&p, Ecs::Throttled, Some(hook.clone())).await;
    let arrival = with_id(&alert, "arrival-between-new");
    let failed = r
        .process(std::slice::from_ref(&arrival), Some(ACCOUNT))
        .await;
    assert!(hook.ran());
    assert_eq!(failed, [0], "a new event dropped without a decision");
    assert_eq!(stops.num_calls(), 0);
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(s(&record, "phase"), "complete");
    assert!(record.contains_key("decision"), "{record:?}");
    assert_ne!(s(&record, "decided_event"), "arrival-between-new");
    assert_eq!(
        p.executed.drain().await.len(),
        1,
        "the completed decision, once"
    );

    assert!(real.process(&[arrival], Some(ACCOUNT)).await.is_empty());
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(s(&record, "phase"), "complete");
    assert_eq!(s(&record, "decided_event"), "arrival-between-new");
    assert_eq!(s(&record, "outcome"), "not_running");
    assert_eq!(
        p.executed.drain().await.len(),
        1,
        "the new arrival decided once"
    );
    assert_eq!(
        p.emulator.calls("ecs", "StopTask"),
        1,
        "only the operator's stop"
    );
}

/// Between a blind copy's read (record `acted`, a crashed non-final decision) and its claim, the
/// decision is completed and then reopened by a new arrival whose attempt crashed at once (record
/// `claimed`, no decision, lease run out). The copy's claim takes a record with nothing to resume.
/// What must hold: it decides nothing without a look (no StopTask, no decision written), gives the
/// lease back and returns to its queue; its retry (the look missing again) only records it aside;
/// the new arrival, delivered again with ECS answering, decides on the record once.
#[tokio::test]
async fn a_record_reopened_between_the_read_and_the_claim_is_not_decided_blind() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let (alert, real) = not_running_then_crashed(&p, &tasks, "reopened-between").await;
    let redelivery = alert.clone();
    let task = tasks[0].clone();
    let hook =
        Hook::record_reads().then(elsewhere(p.emulator.endpoint(), move |config| async move {
            assert!(
                genuine_on(&config)
                    .process(&[redelivery], Some(ACCOUNT))
                    .await
                    .is_empty()
            );
            let out = aws_sdk_dynamodb::Client::new(&config)
                .scan()
                .table_name(TABLE_NAME)
                .send()
                .await
                .unwrap();
            let record = out
                .items()
                .iter()
                .find(|r| s(r, "sk") == "ACTION#enforce" && s(r, "pk").ends_with(&task))
                .unwrap()
                .clone();
            assert_eq!(s(&record, "phase"), "complete");
            put_changed(
                &config,
                &record,
                &[
                    ("phase", st("claimed")),
                    ("lease_owner", st("new-arrival-attempt")),
                    ("lease_until", num(0)),
                    ("decision", None),
                    ("stop_response", None),
                ],
            )
            .await;
        }));
    let (r, _, stops) = blind(&p, Ecs::Forgotten, Some(hook.clone())).await;
    let decoy = decoy_of(&p, &alert, "reopened-between-decoy");
    let failed = r.process(std::slice::from_ref(&decoy), Some(ACCOUNT)).await;
    assert!(hook.ran());
    assert_eq!(failed, [0], "the copy is looked at again");
    assert_eq!(stops.num_calls(), 0);
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(s(&record, "phase"), "claimed");
    assert!(
        !record.contains_key("decision"),
        "decided blind: {record:?}"
    );
    assert_eq!(
        record["lease_until"].as_n().unwrap(),
        "0",
        "the lease given back"
    );
    assert_eq!(
        p.executed.drain().await.len(),
        1,
        "the completed decision only"
    );

    assert!(r.process(&[decoy], Some(ACCOUNT)).await.is_empty());
    let keys = p.record_keys(&tasks[0]).await;
    assert!(keys.iter().any(|k| k.starts_with("UNSEEN#")), "{keys:?}");
    assert!(p.executed.drain().await.is_empty());

    let arrival = with_id(&alert, "reopened-between-new");
    assert!(real.process(&[arrival], Some(ACCOUNT)).await.is_empty());
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(s(&record, "phase"), "complete");
    assert_eq!(s(&record, "decided_event"), "reopened-between-new");
    assert_eq!(p.executed.drain().await.len(), 1);
    assert_eq!(
        p.emulator.calls("ecs", "StopTask"),
        1,
        "only the operator's stop"
    );
}

/// A genuine remediate on the remediate queue (SQS deliveries), built on `config`.
fn genuine_on_queue(config: &aws_config::SdkConfig) -> Remediate {
    let mut settings = RemediateSettings::new(TABLE_NAME, BUS_NAME);
    settings.mode = RemediationMode::Enforce;
    on_queue(&mut settings);
    Remediate::from_env(PlaybookFile::parse(PLAYBOOKS).unwrap(), settings, config)
}

/// A copy of the genuine alert whose finding region was edited (with a claimed import: its note
/// could never be made) is delivered as message `m-copy`. Before ingest recorded the region it was
/// vouched for and claimed the record first; the genuine message `m-genuine`, arriving meanwhile
/// (the hook), found the record busy with another message's lease and was deleted, and the copy
/// then failed at its note every time: the stop stranded in `acted`, never noted or announced.
/// What must hold: the copy is refused before any claim (the hook never runs), and the genuine
/// message stops the task once, noted and announced once.
#[tokio::test]
async fn a_copy_holding_the_claim_cannot_strand_the_genuine_message() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 3).await;
    let genuine = alerts(&p, &tasks[..1], SHELL, "strand").await.remove(0);
    let mut copy: Value = serde_json::from_str(&genuine).unwrap();
    copy["detail"]["finding"]["region"] = json!("us-west-2");
    copy["detail"]["securityhub"]["imported"] = json!(true);
    let copy = copy.to_string();
    let body = genuine.clone();
    let genuine_failed = Arc::new(Mutex::new(None));
    let seen = genuine_failed.clone();
    let hook = Hook::new("UpdateItem", "if_not_exists(#phase").then(elsewhere(
        p.emulator.endpoint(),
        move |config| async move {
            let failed = deliver(
                &genuine_on_queue(&config),
                "m-genuine",
                1,
                REMEDIATE_QUEUE,
                &body,
            )
            .await;
            *seen.lock().unwrap() = Some(failed);
        },
    ));
    let config = p.emulator.sdk_config().await;
    let mut settings = RemediateSettings::new(TABLE_NAME, BUS_NAME);
    settings.mode = RemediationMode::Enforce;
    on_queue(&mut settings);
    let first = Remediate::new(
        aws_sdk_ecs::Client::new(&config),
        aws_sdk_securityhub::Client::new(&config),
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&config)
                .interceptor(hook.clone())
                .build(),
        ),
        aws_sdk_eventbridge::Client::new(&config),
        PlaybookFile::parse(PLAYBOOKS).unwrap(),
        settings,
    );
    let copy_failed = deliver(&first, "m-copy", 1, REMEDIATE_QUEUE, &copy).await;
    // The region is vouched for by the dedup record (`origin_region`): the copy is refused as
    // untrusted before any claim, so it never holds the claim the genuine message would find
    // busy (which had the genuine message deleted while the copy could never make its note).
    assert!(
        !hook.ran(),
        "the region-edited copy claimed the finding's record"
    );
    assert!(copy_failed.is_empty(), "{copy_failed:?}");
    let untrusted: Vec<String> = p
        .items("ACT#")
        .await
        .iter()
        .map(|r| s(r, "sk").to_owned())
        .filter(|k| k.starts_with("UNTRUSTED#"))
        .collect();
    assert_eq!(untrusted.len(), 1, "{untrusted:?}");
    assert!(genuine_failed.lock().unwrap().is_none());
    let real = p.remediate(RemediationMode::Enforce, on_queue).await;
    assert!(
        deliver(&real, "m-genuine", 1, REMEDIATE_QUEUE, &genuine)
            .await
            .is_empty()
    );
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(s(&record, "phase"), "complete", "{record:?}");
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.executed.drain().await.len(), 1);
}
