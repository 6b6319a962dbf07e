//! What the hold attack tests share: enforcing instances on a stopped clock (one whose every
//! StopTask fails, as an attempt that crashed before the call), and the state they leave: the stop
//! counters, the action records and their decisions.
#![allow(dead_code)] // each test file that includes this uses part of it

use super::blind::NoStops;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use vigil_e2e::{ACCOUNT, Pipeline, s};
use vigil_remediate::{Clock, Remediate, RemediateSettings, RemediationMode};
use vigil_testkit::{BUS_NAME, TABLE_NAME};

pub const SHELL: &str = "Terminal shell in container";
pub const SECOND: &str = "Terminal shell in container (second rule)";
/// `STOP_HOLD_SECONDS` on every instance here. Not the default (an hour): a finding arriving
/// again after the default hold has lapsed would be past `max_finding_age_seconds` (also an hour)
/// and refused as stale, whatever the hold.
pub const HOLD: i64 = 600;

pub type Item = HashMap<String, AttributeValue>;

/// Proposes to stop shells for approval; stops the second rule's findings at once.
pub const APPROVE_FIRST: &str = "version: 1\nplaybooks:\n  - name: second\n    match: {rules: [\"Terminal shell in container (second rule)\"]}\n    actions: [stop_task]\n    mode: enforce\n  - name: shell-approve\n    match: {rules: [\"Terminal shell*\"]}\n    actions: [stop_task]\n    mode: approve\n";

/// The second rule may stop a service's last task; every other shell rule keeps one running.
pub const LAST_TASK_SECOND: &str = "version: 1\nplaybooks:\n  - name: last-task\n    match: {rules: [\"Terminal shell in container (second rule)\"]}\n    actions: [stop_task]\n    mode: enforce\n    allow_last_task: true\n  - name: shell\n    match: {rules: [\"Terminal shell*\"]}\n    actions: [stop_task]\n    mode: enforce\n";

/// A clock stopped at `t` (Unix epoch seconds).
pub fn clock(t: i64) -> Clock {
    Arc::new(move || chrono::DateTime::from_timestamp(t, 0).unwrap())
}

/// Now, to the second.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Delivers `body` to `r` and expects it taken (not returned to the queue).
pub async fn taken(r: &Remediate, body: &str) {
    assert_eq!(
        r.process(&[body.to_owned()], Some(ACCOUNT)).await,
        Vec::<usize>::new(),
        "message returned"
    );
}

/// Settings for an enforcing instance: `HOLD`, then `adjust`.
pub fn settings(adjust: fn(&mut RemediateSettings)) -> RemediateSettings {
    let mut settings = RemediateSettings::new(TABLE_NAME, BUS_NAME);
    settings.mode = RemediationMode::Enforce;
    settings.hold_seconds = HOLD;
    adjust(&mut settings);
    settings
}

/// An enforcing instance with `playbooks` at `t`, whose every StopTask fails: it decides, counts
/// and holds, and its attempt ends before the stop, leaving the record `acting`.
pub async fn crashing(
    p: &Pipeline,
    playbooks: &str,
    t: i64,
    adjust: fn(&mut RemediateSettings),
) -> Remediate {
    let config = &p.emulator.sdk_config().await;
    Remediate::new(
        aws_sdk_ecs::Client::from_conf(
            aws_sdk_ecs::config::Builder::from(config)
                .interceptor(NoStops)
                .build(),
        ),
        aws_sdk_securityhub::Client::new(config),
        aws_sdk_dynamodb::Client::new(config),
        aws_sdk_eventbridge::Client::new(config),
        vigil_playbook::PlaybookFile::parse(playbooks).unwrap(),
        settings(adjust),
    )
    .with_clock(clock(t))
}

/// An enforcing instance with `playbooks` at `t`.
pub async fn at(
    p: &Pipeline,
    playbooks: &str,
    t: i64,
    adjust: fn(&mut RemediateSettings),
) -> Remediate {
    p.remediate_with(playbooks, RemediationMode::Enforce, |s| {
        *s = settings(adjust)
    })
    .await
    .with_clock(clock(t))
}

/// The stop times the counter of `scope` (`service#<cluster>/<name>` or `cluster#<arn>`) lists.
pub async fn stops_at(p: &Pipeline, scope: &str) -> Vec<i64> {
    let pk = format!("RATE#{scope}");
    let mut at: Vec<i64> = p
        .items(&pk)
        .await
        .into_iter()
        .filter(|i| s(i, "pk") == pk && s(i, "sk") == "STOPS")
        .flat_map(|c| {
            c["stops_at"]
                .as_l()
                .unwrap()
                .iter()
                .map(|v| v.as_n().unwrap().parse::<i64>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    at.sort_unstable();
    at
}

pub fn service_scope(p: &Pipeline, service: &str) -> String {
    format!("service#{}/{service}", p.cluster)
}

/// `outcome phase` of every action record (any mode) of `task`, sorted.
pub async fn records_of(p: &Pipeline, task: &str) -> Vec<String> {
    let mut r: Vec<String> = p
        .action_records()
        .await
        .iter()
        .filter(|r| s(r, "pk").ends_with(task))
        .map(|r| format!("{} {} {}", s(r, "sk"), s(r, "outcome"), s(r, "phase")))
        .collect();
    r.sort();
    r
}

/// The record's decision, parsed.
pub fn decision(record: &Item) -> Value {
    serde_json::from_str(s(record, "decision")).unwrap_or_default()
}

pub fn reason(record: &Item) -> String {
    decision(record)["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// StopTask calls made so far.
pub fn stop_calls(p: &Pipeline) -> u64 {
    p.emulator.calls("ecs", "StopTask")
}
