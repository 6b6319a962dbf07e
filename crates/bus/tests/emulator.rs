//! PutEvents sends counted against the AWS API emulator, through the fault injector in front of
//! the functions' EventBridge client: a throttled attempt costs one send, so a call throttled once
//! and then answered is sent twice, and one throttled for good is sent `max_attempts` times.

use serde_json::json;
use vigil_bus::{EventPublisher, RetryPolicy, VigilEvent};
use vigil_fault_injection::{FaultInjector, FaultKind, FaultPlan, FaultRates, Service};
use vigil_testkit::{BUS_NAME, Emulator};

fn events(n: usize) -> Vec<VigilEvent> {
    (0..n)
        .map(|i| VigilEvent::new("Finding Accepted", &json!({ "n": i })).unwrap())
        .collect()
}

/// The functions' client (`vigil_bus::client`) through `faults`, on a fresh emulator with the bus.
async fn publisher(faults: &FaultInjector) -> (Emulator, EventPublisher) {
    let emulator = Emulator::start();
    emulator.create_bus().await;
    let client = vigil_bus::client(faults.eventbridge_config(&emulator.sdk_config().await));
    let publisher = EventPublisher::new(client, BUS_NAME, RetryPolicy::immediate(4));
    (emulator, publisher)
}

#[tokio::test]
async fn a_call_throttled_then_answered_is_sent_twice() {
    let faults = FaultInjector::new(FaultPlan::none().first_requests(
        Service::EventBridge,
        1,
        FaultKind::Throttle,
    ));
    let (emulator, publisher) = publisher(&faults).await;
    let results = publisher.publish(&events(3)).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let stats = faults.stats();
    assert_eq!(
        stats.operation(Service::EventBridge, "PutEvents"),
        2,
        "{stats:?}"
    );
    assert_eq!(stats.injected(Service::EventBridge, FaultKind::Throttle), 1);
    assert_eq!(
        emulator.calls("events", "PutEvents"),
        1,
        "one send reached it"
    );
}

#[tokio::test]
async fn a_call_throttled_for_good_is_sent_max_attempts_times() {
    let faults = FaultInjector::new(FaultPlan::none().service(
        Service::EventBridge,
        FaultRates::always(FaultKind::Throttle),
    ));
    let (emulator, publisher) = publisher(&faults).await;
    let results = publisher.publish(&events(3)).await;
    assert!(results.iter().all(Result::is_err), "{results:?}");
    let stats = faults.stats();
    assert_eq!(
        stats.operation(Service::EventBridge, "PutEvents"),
        4,
        "not 12: {stats:?}"
    );
    assert_eq!(emulator.calls("events", "PutEvents"), 0);
}
