//! `vigil replay --aws --stack NAME` against a "deployment" in the emulator: a stack provisioned from
//! the template, its functions played by the local relay, and a CloudFormation stack whose outputs
//! name its bus, queues and table as SAM's would. The replay itself provisions and runs nothing.

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use vigil_local::{ENRICH, INGEST, LocalPipeline, REMEDIATE, RunOptions, deployed, scenario};
use vigil_playbook::PlaybookFile;
use vigil_remediate::RemediationMode;
use vigil_testkit::Emulator;

/// The template's outputs, for a stack provisioned into the emulator.
async fn register_outputs(p: &LocalPipeline, name: &str) {
    let stack = p.stack();
    let bus = &stack.bus_name;
    let mut outputs = json!({
        "EventBusName": bus,
        "EventBusArn": format!("arn:aws:events:us-east-1:{}:event-bus/{bus}", vigil_local::ACCOUNT),
        "TableName": stack.table_name,
        "IngestQueueUrl": p.feed(INGEST).unwrap().url,
        "EnrichQueueUrl": p.feed(ENRICH).unwrap().url,
        "RemediateQueueUrl": p.feed(REMEDIATE).unwrap().url,
    });
    for (f, key) in [
        (INGEST, "IngestDeadLetterQueueUrl"),
        (ENRICH, "EnrichDeadLetterQueueUrl"),
        (REMEDIATE, "RemediateDeadLetterQueueUrl"),
    ] {
        outputs[key] = json!(p.dead_letter_queue(f).unwrap());
    }
    let outputs: serde_json::Map<String, Value> = outputs
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), json!({"Value": v})))
        .collect();
    let template = json!({
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": outputs,
    });
    aws_sdk_cloudformation::Client::new(p.sdk())
        .create_stack()
        .stack_name(name)
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_into_a_deployed_stack_reads_back_what_became_of_its_events() {
    let emulator = Emulator::start();
    let playbooks = PlaybookFile::parse(scenario::SHIPPED_PLAYBOOKS).unwrap();
    let mut p = LocalPipeline::connect(
        emulator.endpoint(),
        RunOptions::new(RemediationMode::DryRun, playbooks),
    )
    .await
    .unwrap();
    register_outputs(&p, "vigil-prod").await;
    let sdk = p.sdk().clone();

    // 30 alerts about 3 threats (tasks that do not exist), a GuardDuty finding (sent as AWS would
    // deliver it: onto the ingest queue), and junk.
    let cluster = "arn:aws:ecs:us-east-1:123456789012:cluster/prod";
    let mut events: Vec<Value> = (0..30)
        .map(|i| {
            let task = format!(
                "arn:aws:ecs:us-east-1:123456789012:task/prod/{:032x}",
                i % 3
            );
            scenario::falco(cluster, &task, "Terminal shell in container", "Error", i)
        })
        .collect();
    let mut gd: Value =
        serde_json::from_str(include_str!("../../samples/guardduty-ecs-runtime.json")).unwrap();
    gd["detail"]["accountId"] = json!(vigil_local::ACCOUNT);
    events.push(gd);
    events.push(json!({"source": "falco", "detail-type": "Falco Alert", "detail": {"rule": "x"}}));

    // The deployment's functions, played by the relay until the replay has read back.
    let done = Arc::new(AtomicBool::new(false));
    let functions = {
        let done = done.clone();
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                p.run_until_quiet(Duration::from_millis(200), |_| {})
                    .await
                    .unwrap();
            }
            p
        })
    };
    let stack = deployed::DeployedStack::describe(&sdk, "vigil-prod")
        .await
        .unwrap();
    let summary = deployed::replay(
        &sdk,
        &stack,
        &events,
        Duration::from_secs(2),
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    done.store(true, Ordering::Relaxed);
    let p = functions.await.unwrap();

    assert_eq!(summary.events, 32);
    assert_eq!(summary.accepted, 4, "3 shells and the GuardDuty finding");
    assert_eq!(summary.duplicates, 27);
    assert_eq!(summary.rejected, 1);
    assert!(
        summary.rejected_reasons[0].contains("priority"),
        "{summary:?}"
    );
    assert_eq!(
        summary.securityhub.findings, 3,
        "GuardDuty's own finding is not imported again"
    );
    assert_eq!(
        summary.remediation.refused, 3,
        "the shell playbook matched; the tasks do not exist"
    );
    assert!(summary.dead_letter.is_empty(), "{:?}", summary.dead_letter);
    assert!(summary.api_calls.is_empty(), "AWS does not say");
    // The replay read back without consuming: the rejected queue still holds the rejection.
    let rejected = p.stack().queue("RejectedQueue").unwrap().url.clone();
    let depth = vigil_local::relay::depth(&aws_sdk_sqs::Client::new(&sdk), &rejected)
        .await
        .unwrap();
    assert_eq!(depth, 1);

    // A stack that is not Vigil's is refused with the output it lacks.
    let err = deployed::DeployedStack::describe(&sdk, "nothing-here")
        .await
        .unwrap_err();
    assert!(err.contains("nothing-here"), "{err}");
}
