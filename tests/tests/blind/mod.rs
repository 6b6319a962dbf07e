//! What the attack tests on resumed decisions share: a remediate function whose ECS misses or is
//! throttled on the look (mocked), records left as a crashed attempt leaves them, and an ECS
//! client whose StopTask never leaves.
#![allow(dead_code)] // each test file that includes this uses part of it

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_ecs::operation::describe_tasks::{DescribeTasksError, DescribeTasksOutput};
use aws_sdk_ecs::operation::stop_task::StopTaskError;
use aws_sdk_ecs::types::Failure;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use std::collections::HashMap;
use vigil_e2e::{ACCOUNT, Pipeline, alerts, generous, s};
use vigil_playbook::PlaybookFile;
use vigil_remediate::{Remediate, RemediateSettings, RemediationMode};
use vigil_testkit::{BUS_NAME, TABLE_NAME};

/// An item of the table, as read.
pub type Item = HashMap<String, AttributeValue>;

/// Leaves `record` as a crashed attempt would: in `phase`, with its lease run out.
pub async fn crash_in(p: &Pipeline, record: &Item, phase: &str) {
    let mut next = record.clone();
    next.insert("phase".into(), AttributeValue::S(phase.into()));
    next.insert("lease_until".into(), AttributeValue::N("0".into()));
    aws_sdk_dynamodb::Client::new(&p.emulator.sdk_config().await)
        .put_item()
        .table_name(TABLE_NAME)
        .set_item(Some(next))
        .send()
        .await
        .unwrap();
}

/// What ECS is made to answer to the look.
#[derive(Clone, Copy)]
pub enum Ecs {
    /// DescribeTasks: the task is MISSING (it stopped long ago and ECS forgot it).
    Forgotten,
    /// DescribeTasks is throttled.
    Throttled,
}

/// A remediate function on the emulator, in enforce mode, whose ECS answers as `ecs` says
/// (StopTask fails as it does for a task ECS no longer knows), over `dynamodb`. Returns it with the
/// DescribeTasks and StopTask rules (to count calls).
pub async fn blind_remediate(
    p: &Pipeline,
    ecs: Ecs,
    dynamodb: aws_sdk_dynamodb::Client,
    playbooks: &str,
    adjust: fn(&mut RemediateSettings),
) -> (Remediate, Rule, Rule) {
    let describe = match ecs {
        Ecs::Forgotten => mock!(aws_sdk_ecs::Client::describe_tasks).then_output(|| {
            DescribeTasksOutput::builder()
                .failures(Failure::builder().reason("MISSING").build())
                .build()
        }),
        Ecs::Throttled => mock!(aws_sdk_ecs::Client::describe_tasks)
            .then_error(|| DescribeTasksError::unhandled("ThrottlingException: Rate exceeded")),
    };
    let stop = mock!(aws_sdk_ecs::Client::stop_task).then_error(|| {
        StopTaskError::unhandled("InvalidParameterException: The referenced task was not found.")
    });
    let client = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe, &stop]);
    let config = p.emulator.sdk_config().await;
    let mut settings = RemediateSettings::new(TABLE_NAME, BUS_NAME);
    settings.mode = RemediationMode::Enforce;
    adjust(&mut settings);
    let remediate = Remediate::new(
        client,
        aws_sdk_securityhub::Client::new(&config),
        dynamodb,
        aws_sdk_eventbridge::Client::new(&config),
        PlaybookFile::parse(playbooks).unwrap(),
        settings,
    );
    (remediate, describe, stop)
}

/// The genuine alert (a shell, `tag`) stopped `tasks[0]`; its record is then left as an attempt
/// that crashed in `phase` would have left it, and the `Remediation Executed` tap is emptied.
/// Returns the alert.
pub async fn stopped_then_crashed(
    p: &Pipeline,
    tasks: &[String],
    phase: &str,
    tag: &str,
) -> String {
    let events = alerts(p, &tasks[..1], "Terminal shell in container", tag).await;
    let r = p.remediate(RemediationMode::Enforce, generous).await;
    assert!(r.process(&events, Some(ACCOUNT)).await.is_empty());
    assert_eq!(p.stopped(tasks).await, 1);
    let record = p.enforced_record(&tasks[0]).await.expect("the record");
    assert_eq!(s(&record, "outcome"), "act");
    crash_in(p, &record, phase).await;
    p.executed.drain().await;
    events[0].clone()
}

/// Fails every ECS `StopTask` before it is sent (an interceptor on the ECS client): the attempt that
/// decided and counted a stop ends there, as one that crashed before the call would.
#[derive(Debug)]
pub struct NoStops;

impl Intercept for NoStops {
    fn name(&self) -> &'static str {
        "NoStops"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or_default();
        if target.ends_with(".StopTask") {
            return Err("StopTask failed (injected)".into());
        }
        Ok(())
    }
}
