//! The injector in front of a fake service, driven by the DynamoDB SDK client with retries
//! disabled (one call is one attempt): what is sent on, what is answered instead, the rates, the
//! replay of a seed, and the stats.

mod common;

use aws_config::retry::RetryConfig;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use common::{injector, sdk_config};
use std::time::{Duration, Instant};
use vigil_fault_injection::{
    FAULT_HEADER, FaultInjector, FaultKind, FaultPlan, FaultRates, Service,
};

fn dynamodb(kind: FaultKind) -> FaultPlan {
    FaultPlan::none().service(Service::DynamoDb, FaultRates::always(kind))
}

/// One PutItem: `Some(status)` of the HTTP response, `None` when the attempt got no response.
async fn put(faults: &FaultInjector) -> Option<u16> {
    let config = sdk_config(RetryConfig::disabled()).await;
    let result = faults
        .dynamodb(&config)
        .put_item()
        .table_name("t")
        .item("pk", AttributeValue::S("a".into()))
        .send()
        .await;
    match result {
        Ok(_) => Some(200),
        Err(SdkError::DispatchFailure(e)) => {
            assert!(e.is_io(), "a dropped connection is an I/O error: {e:?}");
            None
        }
        Err(e) => Some(e.raw_response().expect("a response").status().as_u16()),
    }
}

async fn puts(faults: &FaultInjector, n: usize) -> Vec<Option<u16>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(put(faults).await);
    }
    out
}

#[tokio::test]
async fn without_faults_every_request_is_sent_and_answered() {
    let (upstream, faults) = injector(FaultPlan::none());
    assert_eq!(puts(&faults, 3).await, vec![Some(200); 3]);
    assert_eq!(upstream.count(), 3);
    let stats = faults.stats();
    assert_eq!(
        (
            stats.requests(Service::DynamoDb),
            stats.forwarded(Service::DynamoDb)
        ),
        (3, 3)
    );
    assert_eq!(stats.total_injected(), 0);
    assert_eq!(stats.operation(Service::DynamoDb, "PutItem"), 3);
}

#[tokio::test]
async fn before_apply_kinds_send_nothing_and_after_apply_kinds_send_once() {
    for (kind, outcome, sent) in [
        (FaultKind::DropBeforeApply, None, 0),
        (FaultKind::Throttle, Some(400), 0),
        (FaultKind::DropAfterApply, None, 1),
        (FaultKind::ServerErrorAfterApply, Some(500), 1),
    ] {
        let (upstream, faults) = injector(dynamodb(kind));
        assert_eq!(put(&faults).await, outcome, "{kind:?}");
        assert_eq!(upstream.count(), sent, "{kind:?}");
        let stats = faults.stats();
        assert_eq!(stats.injected(Service::DynamoDb, kind), 1);
        assert_eq!(stats.forwarded(Service::DynamoDb), sent as u64);
    }
}

#[tokio::test]
async fn injected_responses_are_marked_and_carry_a_request_id() {
    let (_upstream, faults) = injector(dynamodb(FaultKind::ServerErrorAfterApply));
    let config = sdk_config(RetryConfig::disabled()).await;
    let err = faults
        .dynamodb(&config)
        .get_item()
        .table_name("t")
        .key("pk", AttributeValue::S("a".into()))
        .send()
        .await
        .unwrap_err();
    let raw = err.raw_response().unwrap();
    assert_eq!(
        raw.headers().get(FAULT_HEADER),
        Some("ServerErrorAfterApply")
    );
    let id = raw.headers().get("x-amzn-requestid").unwrap();
    assert!(id.starts_with("vigil-fault-"), "{id}");
}

#[tokio::test]
async fn server_errors_are_500_or_503_and_other_services_are_untouched() {
    let plan = dynamodb(FaultKind::ServerError);
    let (upstream, faults) = injector(plan);
    let statuses = puts(&faults, 20).await;
    assert!(
        statuses.contains(&Some(500)) && statuses.contains(&Some(503)),
        "{statuses:?}"
    );
    assert!(statuses.iter().all(|s| matches!(s, Some(500 | 503))));
    let config = sdk_config(RetryConfig::disabled()).await;
    faults.ecs(&config).list_tasks().send().await.unwrap();
    assert_eq!(upstream.count(), 1, "only the ECS call was sent");
}

#[tokio::test]
async fn latency_delays_its_request_by_at_least_the_drawn_duration() {
    let slow = FaultRates::always(FaultKind::Latency)
        .with_latency(Duration::from_millis(150), Duration::from_millis(150));
    let (upstream, faults) = injector(FaultPlan::none().service(Service::DynamoDb, slow));
    let started = Instant::now();
    assert_eq!(put(&faults).await, Some(200));
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(upstream.count(), 1);
}

#[tokio::test]
async fn latency_on_one_request_does_not_hold_up_another() {
    let stuck = FaultRates::always(FaultKind::Latency)
        .with_latency(Duration::from_secs(600), Duration::from_secs(600));
    let (upstream, faults) = injector(FaultPlan::none().service(Service::Ecs, stuck));
    let config = sdk_config(RetryConfig::disabled()).await;
    let ecs = faults.ecs(&config);
    let slow = tokio::spawn(async move { ecs.list_tasks().send().await });
    // Wait (bounded) until the slow request was sent, so the fast one comes after it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while faults.stats().requests(Service::Ecs) == 0 {
        assert!(Instant::now() < deadline, "the slow request was never sent");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let fast = tokio::time::timeout(Duration::from_secs(30), put(&faults)).await;
    assert_eq!(fast.ok(), Some(Some(200)));
    assert!(!slow.is_finished(), "the 600 s request finished early");
    assert_eq!(upstream.count(), 1);
    slow.abort();
}

#[tokio::test]
async fn stats_account_for_every_request_at_the_planned_rate() {
    let rates = FaultRates::uniform(0.2).with_latency(Duration::ZERO, Duration::from_millis(1));
    let (upstream, faults) = injector(FaultPlan::new(rates, 2026));
    let outcomes = puts(&faults, 500).await;
    let stats = faults.stats();
    let s = stats.service(Service::DynamoDb).unwrap();
    println!("{}", serde_json::to_string(&stats).unwrap());
    assert_eq!(s.requests, 500);
    assert!((60..=140).contains(&s.total_injected()), "{s:?}");
    for &kind in FaultKind::ALL {
        assert!(s.injected_of(kind) > 0, "{kind:?} never injected: {s:?}");
    }
    let not_forwarded = s.injected_of(FaultKind::ServerError)
        + s.injected_of(FaultKind::Throttle)
        + s.injected_of(FaultKind::DropBeforeApply);
    assert_eq!(s.forwarded, 500 - not_forwarded);
    assert_eq!(s.forwarded as usize, upstream.count());
    let dropped = outcomes.iter().filter(|o| o.is_none()).count() as u64;
    assert_eq!(
        dropped,
        s.injected_of(FaultKind::DropBeforeApply) + s.injected_of(FaultKind::DropAfterApply)
    );
}

#[tokio::test]
async fn the_same_seed_replays_the_same_faults_and_set_plan_takes_effect_at_once() {
    let plan = FaultPlan::new(
        FaultRates::none()
            .with(FaultKind::ServerError, 0.2)
            .with(FaultKind::Throttle, 0.2)
            .with(FaultKind::DropBeforeApply, 0.2),
        77,
    );
    let (_upstream, faults) = injector(plan.clone());
    let first = puts(&faults, 60).await;
    faults.set_plan(plan.clone());
    assert_eq!(puts(&faults, 60).await, first);
    for outcome in [Some(200), Some(400), None] {
        assert!(
            first.contains(&outcome),
            "{outcome:?} missing from {first:?}"
        );
    }
    faults.set_plan(plan.with_seed(78));
    assert_ne!(puts(&faults, 60).await, first);
    assert_eq!(
        faults
            .plan()
            .rates_for(Service::DynamoDb)
            .rate(FaultKind::Throttle),
        0.2
    );

    faults.set_plan(FaultPlan::none());
    assert_eq!(put(&faults).await, Some(200));
    assert_eq!(faults.stats().requests(Service::DynamoDb), 181);
    faults.reset_stats();
    assert_eq!(faults.stats().total_requests(), 0);
}

#[tokio::test]
async fn clones_share_the_plan_and_the_stats() {
    let (_upstream, faults) = injector(FaultPlan::none());
    let clone = faults.clone();
    clone.set_plan(dynamodb(FaultKind::Throttle));
    assert_eq!(put(&faults).await, Some(400));
    assert_eq!(
        clone
            .stats()
            .injected(Service::DynamoDb, FaultKind::Throttle),
        1
    );
}
