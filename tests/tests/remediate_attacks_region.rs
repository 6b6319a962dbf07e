//! Attacks on the region ingest records on the dedup record (`origin_region`) and the check
//! remediate makes against it before any claim: region values that compare unequal but mean the
//! same, none against empty, records written before the attribute existed, genuine and edited
//! copies racing on two instances, attack sequences, and copies that only claim Vigil's import.
//! What must hold throughout: no forged copy makes Vigil act or holds the claim, each refusal is
//! recorded aside where it can be seen, the genuine message stops its task exactly once, noted and
//! announced once, and no decision is left unfinished.

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use vigil_e2e::queue::{REMEDIATE_QUEUE, deliver, on_queue};
use vigil_e2e::{AttackSequence, PLAYBOOKS, Pipeline, alerts, s};
use vigil_playbook::PlaybookFile;
use vigil_remediate::{Remediate, RemediateSettings, RemediationMode};
use vigil_testkit::{BUS_NAME, Emulator, TABLE_NAME};

const SHELL: &str = "Terminal shell in container";

const STOP_SEQUENCES: &str = "version: 1\nplaybooks:\n  - name: sequence\n    match: {finding_types: [\"AttackSequence:*\"]}\n    actions: [stop_task]\n    mode: enforce\n";

/// A copy of the `Finding Enriched` event `event` under EventBridge id `id`, changed by `change`.
fn copy(event: &str, id: &str, change: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(event).unwrap();
    v["id"] = json!(id);
    change(&mut v);
    v.to_string()
}

/// The sort keys of the records set aside as untrusted.
async fn untrusted(p: &Pipeline) -> Vec<String> {
    p.items("ACT#")
        .await
        .iter()
        .map(|r| format!("{} {}", s(r, "pk"), s(r, "sk")))
        .filter(|k| k.contains(" UNTRUSTED#"))
        .collect()
}

/// Region values that are not the recorded `us-east-1` but could be read as it (case,
/// whitespace, invisible characters, empty, none, the `NONE` marker itself), each on a copy of a
/// genuine message that also claims the import, under its own message id. What must hold: none
/// is acted on or retried for ever (each is deleted), the refusal is recorded aside, no StopTask;
/// then the genuine message stops the task once, noted and announced once.
#[tokio::test]
async fn region_variants_of_a_genuine_message_are_refused_aside_before_any_claim() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 2).await;
    let genuine = alerts(&p, &tasks[..1], SHELL, "variants").await.remove(0);
    let remediate = p.remediate(RemediationMode::Enforce, on_queue).await;
    let variants = [
        json!("US-EAST-1"),
        json!(" us-east-1"),
        json!("us-east-1 "),
        json!("us-east-1\u{200b}"),
        json!("\u{feff}us-east-1"),
        json!(""),
        json!("NONE"),
        json!("none"),
        Value::Null,
    ];
    for (n, region) in variants.iter().enumerate() {
        let forged = copy(&genuine, &format!("variant-{n}"), |v| {
            v["detail"]["finding"]["region"] = region.clone();
            v["detail"]["securityhub"]["imported"] = json!(true);
        });
        let failed = deliver(&remediate, &format!("m-{n}"), 1, REMEDIATE_QUEUE, &forged).await;
        assert!(failed.is_empty(), "{region:?} kept for retry: {failed:?}");
        assert_eq!(
            p.emulator.calls("ecs", "StopTask"),
            0,
            "{region:?} stopped the task"
        );
        assert!(
            p.enforced_record(&tasks[0]).await.is_none(),
            "{region:?} claimed the finding's record"
        );
        assert!(
            !untrusted(&p).await.is_empty(),
            "{region:?}: no refusal recorded aside"
        );
    }
    assert!(
        deliver(&remediate, "m-genuine", 1, REMEDIATE_QUEUE, &genuine)
            .await
            .is_empty()
    );
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(s(&record, "phase"), "complete", "{record:?}");
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.executed.drain().await.len(), 1);
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
}

/// A record written before ingest kept the region (no `origin_region`: removed here, as an old
/// version wrote it) vouches for no region, so a copy naming another region (claiming the
/// import, so that its note can never be made) is not refused. Sent first, it claims the record,
/// stops the task and fails at its note; the genuine message arrives while the copy holds the
/// claim. What must hold: the decision is not stranded: once the messages SQS still holds are
/// redelivered, the record is complete, the task stopped once, the stop announced once.
#[tokio::test]
async fn a_region_edited_copy_on_a_legacy_record_cannot_strand_the_genuine_stop() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 2).await;
    let genuine = alerts(&p, &tasks[..1], SHELL, "legacy").await.remove(0);
    let v: Value = serde_json::from_str(&genuine).unwrap();
    let fingerprint = v["detail"]["finding"]["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    aws_sdk_dynamodb::Client::new(&p.emulator.sdk_config().await)
        .update_item()
        .table_name(TABLE_NAME)
        .key("pk", AttributeValue::S(format!("FP#{fingerprint}")))
        .key("sk", AttributeValue::S("DEDUP".into()))
        .update_expression("REMOVE origin_region")
        .condition_expression("attribute_exists(origin_region)")
        .send()
        .await
        .expect("the dedup record holds the region");
    let forged = copy(&genuine, "legacy-copy", |v| {
        v["detail"]["finding"]["region"] = json!("us-west-2");
        v["detail"]["securityhub"]["imported"] = json!(true);
    });
    let remediate = p.remediate(RemediationMode::Enforce, on_queue).await;
    copy_then_genuine_finish_once(&p, &remediate, &forged, &genuine, &tasks[0]).await;
}

/// The genuine message and region-edited copies (recased, another region, none) delivered at
/// once on two instances. What must hold: the task is stopped exactly once, the record complete,
/// the stop announced once, and every copy refused aside rather than claimed.
#[tokio::test]
async fn genuine_and_region_edited_copies_racing_on_two_instances_stop_once() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 2).await;
    let genuine = alerts(&p, &tasks[..1], SHELL, "race").await.remove(0);
    let a = p.remediate(RemediationMode::Enforce, on_queue).await;
    let b = p.remediate(RemediationMode::Enforce, on_queue).await;
    let copies: Vec<String> = [json!("US-EAST-1"), json!("us-west-2"), Value::Null]
        .iter()
        .enumerate()
        .map(|(n, r)| {
            copy(&genuine, &format!("race-{n}"), |v| {
                v["detail"]["finding"]["region"] = r.clone();
                v["detail"]["securityhub"]["imported"] = json!(true);
            })
        })
        .collect();
    let (g, c0, c1, c2) = tokio::join!(
        deliver(&a, "m-genuine", 1, REMEDIATE_QUEUE, &genuine),
        deliver(&b, "m-c0", 1, REMEDIATE_QUEUE, &copies[0]),
        deliver(&a, "m-c1", 1, REMEDIATE_QUEUE, &copies[1]),
        deliver(&b, "m-c2", 1, REMEDIATE_QUEUE, &copies[2]),
    );
    assert!(
        c0.is_empty() && c1.is_empty() && c2.is_empty(),
        "{c0:?} {c1:?} {c2:?}"
    );
    if !g.is_empty() {
        assert!(
            deliver(&b, "m-genuine", 2, REMEDIATE_QUEUE, &genuine)
                .await
                .is_empty()
        );
    }
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(s(&record, "phase"), "complete", "{record:?}");
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.executed.drain().await.len(), 1);
    assert!(!untrusted(&p).await.is_empty());
}

/// A GuardDuty attack sequence: Vigil imports nothing (the note goes to GuardDuty's own finding,
/// best effort). A vouched copy that only says Vigil's finding was imported (it never was) is
/// delivered first: its note targets a finding that does not exist and, being "ours", is never
/// optional. The genuine message follows while the copy holds the claim. What must hold: the stop
/// is not stranded: after redeliveries the record is complete and the stop announced once.
#[tokio::test]
async fn a_sequence_copy_only_claiming_the_import_cannot_strand_the_stop() {
    let p = Pipeline::start().await;
    let tasks = p.service("prod-api", 2).await;
    let body = AttackSequence::new("seq-import")
        .naming(&tasks[..1])
        .build(&p)
        .await;
    let genuine = p.through_ingest_and_enrich(&[body]).await;
    assert_eq!(genuine.len(), 1);
    let genuine = genuine[0].clone();
    let forged = copy(&genuine, "seq-import-copy", |v| {
        v["detail"]["securityhub"]["imported"] = json!(true);
    });
    let remediate = p
        .remediate_with(STOP_SEQUENCES, RemediationMode::Enforce, on_queue)
        .await;
    copy_then_genuine_finish_once(&p, &remediate, &forged, &genuine, &tasks[0]).await;
}

/// A GuardDuty attack sequence copied with its region recased or cleared (the note goes to
/// GuardDuty's own finding in that region). What must hold: each copy is refused aside without a
/// StopTask; the genuine message then stops the task once.
#[tokio::test]
async fn region_edited_sequence_copies_are_refused_and_the_genuine_stops_once() {
    let p = Pipeline::start().await;
    let tasks = p.service("prod-api", 2).await;
    let body = AttackSequence::new("seq-region")
        .naming(&tasks[..1])
        .build(&p)
        .await;
    let genuine = p.through_ingest_and_enrich(&[body]).await;
    assert_eq!(genuine.len(), 1);
    let genuine = genuine[0].clone();
    let remediate = p
        .remediate_with(STOP_SEQUENCES, RemediationMode::Enforce, on_queue)
        .await;
    for (n, region) in [
        json!("US-EAST-1"),
        json!("us-west-2"),
        json!(""),
        Value::Null,
    ]
    .iter()
    .enumerate()
    {
        let forged = copy(&genuine, &format!("seq-region-{n}"), |v| {
            v["detail"]["finding"]["region"] = region.clone();
        });
        let failed = deliver(&remediate, &format!("m-{n}"), 1, REMEDIATE_QUEUE, &forged).await;
        assert!(failed.is_empty(), "{region:?}: {failed:?}");
        assert_eq!(p.emulator.calls("ecs", "StopTask"), 0, "{region:?}");
        assert!(!untrusted(&p).await.is_empty(), "{region:?}");
    }
    assert!(
        deliver(&remediate, "m-genuine", 1, REMEDIATE_QUEUE, &genuine)
            .await
            .is_empty()
    );
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.task_status(&tasks[0]).await.1, "STOPPED");
}

/// Something another instance does while the hooked call waits.
type Elsewhere = Box<dyn FnOnce() + Send>;

/// Runs one [`Elsewhere`] right after the first DynamoDB `UpdateItem` that claims an action
/// record (`if_not_exists(#phase`) was answered, before its caller sees the answer: another
/// message arriving while this one holds the claim.
#[derive(Clone)]
struct OnClaim(Arc<(AtomicBool, Mutex<Option<Elsewhere>>)>);

impl std::fmt::Debug for OnClaim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnClaim")
    }
}

impl OnClaim {
    fn ran(&self) -> bool {
        self.0.1.lock().unwrap().is_none()
    }
}

impl Intercept for OnClaim {
    fn name(&self) -> &'static str {
        "OnClaim"
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
        if target.ends_with(".UpdateItem")
            && String::from_utf8_lossy(body).contains("if_not_exists(#phase")
        {
            self.0.0.store(true, Ordering::SeqCst);
        }
        Ok(())
    }

    fn read_after_transmit(
        &self,
        _: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.0.0.swap(false, Ordering::SeqCst) {
            let elsewhere = self.0.1.lock().unwrap().take();
            if let Some(f) = elsewhere {
                f();
            }
        }
        Ok(())
    }
}

fn settings() -> RemediateSettings {
    let mut settings = RemediateSettings::new(TABLE_NAME, BUS_NAME);
    settings.mode = RemediationMode::Enforce;
    on_queue(&mut settings);
    settings
}

/// `copy` delivered first on an instance whose claim lets `genuine` be delivered (on a fresh
/// instance, its own thread) while the copy holds the claim; then both redelivered while SQS
/// still holds them (four more receives each). Returns whether the genuine message came during
/// the copy's claim, and what each final delivery left (kept for retry or not).
async fn copy_holding_the_claim(
    p: &Pipeline,
    playbooks: &'static str,
    copy: &str,
    genuine: &str,
) -> (bool, bool, bool) {
    let endpoint = p.emulator.endpoint().to_owned();
    let body = genuine.to_owned();
    let genuine_kept = Arc::new(Mutex::new(None));
    let seen = genuine_kept.clone();
    let elsewhere: Elsewhere = Box::new(move || {
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let emulator = Emulator::connect(&endpoint).unwrap();
                    let config = emulator.sdk_config().await;
                    let r = Remediate::from_env(
                        PlaybookFile::parse(playbooks).unwrap(),
                        settings(),
                        &config,
                    );
                    let failed = deliver(&r, "m-genuine", 1, REMEDIATE_QUEUE, &body).await;
                    *seen.lock().unwrap() = Some(!failed.is_empty());
                });
        })
        .join()
        .unwrap();
    });
    let hook = OnClaim(Arc::new((
        AtomicBool::new(false),
        Mutex::new(Some(elsewhere)),
    )));
    let config = p.emulator.sdk_config().await;
    let first = Remediate::new(
        aws_sdk_ecs::Client::new(&config),
        aws_sdk_securityhub::Client::new(&config),
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&config)
                .interceptor(hook.clone())
                .build(),
        ),
        aws_sdk_eventbridge::Client::new(&config),
        PlaybookFile::parse(playbooks).unwrap(),
        settings(),
    );
    let mut copy_kept = !deliver(&first, "m-copy", 1, REMEDIATE_QUEUE, copy)
        .await
        .is_empty();
    let raced = hook.ran();
    let mut genuine_kept = genuine_kept.lock().unwrap().take().unwrap_or(true);
    let real = p
        .remediate_with(playbooks, RemediationMode::Enforce, on_queue)
        .await;
    for receive in 2..6 {
        if copy_kept {
            copy_kept = !deliver(&real, "m-copy", receive, REMEDIATE_QUEUE, copy)
                .await
                .is_empty();
        }
        if genuine_kept {
            genuine_kept = !deliver(&real, "m-genuine", receive, REMEDIATE_QUEUE, genuine)
                .await
                .is_empty();
        }
    }
    (raced, copy_kept, genuine_kept)
}

/// [`a_region_edited_copy_on_a_legacy_record_cannot_strand_the_genuine_stop`], with the genuine
/// message arriving while the copy holds the claim (the race the region check closed for records
/// that hold a region). What must hold: the decision is finished (noted, announced once), not
/// stranded in `acted` with only the copy, which can never make its note, left to carry it.
#[tokio::test]
async fn a_region_edited_copy_holding_the_claim_on_a_legacy_record_cannot_strand_the_stop() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 2).await;
    let genuine = alerts(&p, &tasks[..1], SHELL, "legacy-race")
        .await
        .remove(0);
    let v: Value = serde_json::from_str(&genuine).unwrap();
    let fingerprint = v["detail"]["finding"]["fingerprint"].as_str().unwrap();
    aws_sdk_dynamodb::Client::new(&p.emulator.sdk_config().await)
        .update_item()
        .table_name(TABLE_NAME)
        .key("pk", AttributeValue::S(format!("FP#{fingerprint}")))
        .key("sk", AttributeValue::S("DEDUP".into()))
        .update_expression("REMOVE origin_region")
        .condition_expression("attribute_exists(origin_region)")
        .send()
        .await
        .expect("the dedup record holds the region");
    let forged = copy(&genuine, "legacy-race-copy", |v| {
        v["detail"]["finding"]["region"] = json!("us-west-2");
        v["detail"]["securityhub"]["imported"] = json!(true);
    });
    let (raced, copy_kept, genuine_kept) =
        copy_holding_the_claim(&p, PLAYBOOKS, &forged, &genuine).await;
    assert!(raced, "the copy never claimed the legacy record");
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(
        s(&record, "phase"),
        "complete",
        "stranded (copy kept: {copy_kept}, genuine kept: {genuine_kept}): {record:?}"
    );
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.executed.drain().await.len(), 1);
}

/// The remaining known gap: a vouched copy of a GuardDuty attack sequence (region and all fields
/// as recorded) that only says Vigil's finding was imported (Vigil never imports GuardDuty's
/// findings, so its note target does not exist and, "ours", is never optional) claims the record
/// first; the genuine message arrives while it holds the claim. What must hold: the stop is not
/// stranded: after the redeliveries SQS makes, the record is complete and the stop announced once.
#[tokio::test]
async fn a_sequence_copy_only_claiming_the_import_holding_the_claim_cannot_strand_the_stop() {
    let p = Pipeline::start().await;
    let tasks = p.service("prod-api", 2).await;
    let body = AttackSequence::new("seq-import-race")
        .naming(&tasks[..1])
        .build(&p)
        .await;
    let genuine = p.through_ingest_and_enrich(&[body]).await.remove(0);
    let forged = copy(&genuine, "seq-import-race-copy", |v| {
        v["detail"]["securityhub"]["imported"] = json!(true);
    });
    let (raced, copy_kept, genuine_kept) =
        copy_holding_the_claim(&p, STOP_SEQUENCES, &forged, &genuine).await;
    assert!(raced, "the copy never claimed the record");
    let record = p.enforced_record(&tasks[0]).await.unwrap();
    assert_eq!(
        s(&record, "phase"),
        "complete",
        "stranded (copy kept: {copy_kept}, genuine kept: {genuine_kept}): {record:?}"
    );
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.executed.drain().await.len(), 1);
}

/// A forged first occurrence on ingest's bus, from the genuine sender account, naming the genuine
/// task and rule but sent from another region (`us-west-2`, where the task is not): it records
/// that region on the dedup record (`if_not_exists`), so the genuine alert that follows (from
/// `us-east-1`, the same fingerprint) disagrees with the record. What must hold: the task is
/// stopped at most once, no decision is left unfinished, and if a message is refused the refusal
/// is recorded aside (visible), never silently dropped.
#[tokio::test]
async fn a_forged_first_occurrence_from_another_region_cannot_strand_or_silently_drop() {
    let p = Pipeline::start().await;
    let tasks = p.service("shop", 2).await;
    let forged = vigil_testkit::events::FalcoAlert::sample()
        .id("poison")
        .from_account(vigil_e2e::ACCOUNT, "us-west-2")
        .rule(SHELL)
        .seen_now()
        .on_task(&p.cluster, &tasks[0])
        .event();
    let genuine = vigil_e2e::falco("genuine", &p.cluster, &tasks[0], SHELL);
    let mut accepted = p.ingest(&[forged]).await;
    let poisoned = accepted.len();
    accepted.extend(p.ingest(&[genuine]).await);
    assert!(p.enrich.process(&accepted).await.is_empty());
    let enriched: Vec<String> = p
        .enriched
        .drain()
        .await
        .iter()
        .map(Value::to_string)
        .collect();
    let remediate = p.remediate(RemediationMode::Enforce, on_queue).await;
    let mut kept = Vec::new();
    for (n, body) in enriched.iter().enumerate() {
        let id = format!("m-{n}");
        let mut k = true;
        for receive in 1..6 {
            if k {
                k = !deliver(&remediate, &id, receive, REMEDIATE_QUEUE, body)
                    .await
                    .is_empty();
            }
        }
        kept.push(k);
    }
    let what = format!(
        "accepted {} (forged first: {poisoned}), enriched {}, kept {kept:?}, records {:?}",
        accepted.len(),
        enriched.len(),
        p.record_keys(&tasks[0]).await
    );
    assert!(p.emulator.calls("ecs", "StopTask") <= 1, "{what}");
    if let Some(record) = p.enforced_record(&tasks[0]).await {
        assert_eq!(s(&record, "phase"), "complete", "{what}: {record:?}");
        assert_eq!(p.executed.drain().await.len(), 1, "{what}");
    } else if enriched.len() > 1 {
        // A message that did not claim the record was refused: the refusal is on record.
        assert!(!untrusted(&p).await.is_empty(), "{what}");
    }
    assert!(kept.iter().all(|k| !k), "{what}");
}

/// Delivers the copy `forged` (message `m-copy`), then the genuine message (`m-genuine`), then
/// each again while SQS would still hold it (up to five receives). What must hold: the decision
/// on `task` is complete, the task stopped once and the stop announced once.
async fn copy_then_genuine_finish_once(
    p: &Pipeline,
    remediate: &Remediate,
    forged: &str,
    genuine: &str,
    task: &str,
) {
    let mut copy_kept = !deliver(remediate, "m-copy", 1, REMEDIATE_QUEUE, forged)
        .await
        .is_empty();
    let mut genuine_kept = !deliver(remediate, "m-genuine", 1, REMEDIATE_QUEUE, genuine)
        .await
        .is_empty();
    for receive in 2..6 {
        if copy_kept {
            copy_kept = !deliver(remediate, "m-copy", receive, REMEDIATE_QUEUE, forged)
                .await
                .is_empty();
        }
        if genuine_kept {
            genuine_kept = !deliver(remediate, "m-genuine", receive, REMEDIATE_QUEUE, genuine)
                .await
                .is_empty();
        }
    }
    let record = p.enforced_record(task).await.unwrap();
    assert_eq!(
        s(&record, "phase"),
        "complete",
        "stranded (copy kept: {copy_kept}, genuine kept: {genuine_kept}): {record:?}"
    );
    assert_eq!(p.emulator.calls("ecs", "StopTask"), 1);
    assert_eq!(p.executed.drain().await.len(), 1);
}
