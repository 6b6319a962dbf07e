//! Injected errors as the real SDK clients see them: parsed as each service's own error, with the
//! right code, and classified retryable by the SDK's default retry strategy.

mod common;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::RequestId;
use aws_sdk_dynamodb::types::AttributeValue;
use common::{Upstream, injector, sdk_config};
use std::collections::BTreeSet;
use std::time::Duration;
use vigil_fault_injection::{FaultInjector, FaultKind, FaultPlan, FaultRates, Service};

/// An injector whose every service answers with `kind`, in front of an upstream that would say 200.
fn always(kind: FaultKind) -> (Upstream, FaultInjector) {
    injector(FaultPlan::new(FaultRates::always(kind), 5))
}

/// One call per service; returns (service, HTTP status, error code) for each.
async fn call_each_service(
    faults: &FaultInjector,
    config: &SdkConfig,
) -> Vec<(Service, u16, String)> {
    fn outcome<E: ProvideErrorMetadata, R: std::fmt::Debug>(
        service: Service,
        result: Result<
            R,
            aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
        >,
    ) -> (Service, u16, String) {
        let err = result.expect_err("a fault is injected on every request");
        let status = err.raw_response().map_or(0, |r| r.status().as_u16());
        let code = err
            .as_service_error()
            .and_then(|e| e.code())
            .unwrap_or("-")
            .to_owned();
        (service, status, code)
    }
    let dynamodb = faults.dynamodb(config);
    let ecs = faults.ecs(config);
    let events = faults.eventbridge(config);
    let securityhub = faults.securityhub(config);
    let sqs = faults.sqs(config);
    vec![
        outcome(
            Service::DynamoDb,
            dynamodb
                .get_item()
                .table_name("t")
                .key("pk", AttributeValue::S("a".into()))
                .send()
                .await,
        ),
        outcome(Service::Ecs, ecs.list_tasks().cluster("c").send().await),
        outcome(
            Service::EventBridge,
            events
                .put_events()
                .entries(
                    aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                        .source("vigil.test")
                        .detail_type("t")
                        .detail("{}")
                        .build(),
                )
                .send()
                .await,
        ),
        outcome(
            Service::SecurityHub,
            securityhub.get_findings().send().await,
        ),
        outcome(
            Service::Sqs,
            sqs.send_message()
                .queue_url("http://127.0.0.1/123456789012/q")
                .message_body("m")
                .send()
                .await,
        ),
    ]
}

/// Asserts that the SDK parsed `err` as the modeled error `variant`, not `Unhandled`.
macro_rules! assert_modeled {
    ($err:expr, $variant:pat) => {
        assert!(
            matches!($err.as_service_error(), Some($variant)),
            "{:?}",
            $err
        )
    };
}

#[tokio::test]
async fn throttles_parse_as_each_services_throttling_error() {
    let (upstream, faults) = always(FaultKind::Throttle);
    let config = sdk_config(RetryConfig::disabled()).await;
    let outcomes = call_each_service(&faults, &config).await;
    let expected = [
        (Service::Ecs, 400, "ThrottlingException"),
        (Service::EventBridge, 400, "ThrottlingException"),
        (Service::SecurityHub, 429, "TooManyRequestsException"),
        (Service::Sqs, 400, "RequestThrottled"),
    ];
    for (service, status, code) in expected {
        let got = outcomes.iter().find(|o| o.0 == service).unwrap();
        assert_eq!((got.1, got.2.as_str()), (status, code), "{service}");
    }
    assert_eq!(outcomes[0].1, 400);
    assert_eq!(upstream.count(), 0);
    // Retries disabled: exactly one attempt each.
    for &service in Service::ALL {
        assert_eq!(faults.stats().requests(service), 1, "{service}");
    }
}

#[tokio::test]
async fn throttles_are_the_modeled_variants_where_the_model_has_them() {
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_sdk_sqs::operation::send_message::SendMessageError;
    let (_upstream, faults) = always(FaultKind::Throttle);
    let config = sdk_config(RetryConfig::disabled()).await;

    let dynamodb = faults.dynamodb(&config);
    let mut seen = BTreeSet::new();
    for _ in 0..16 {
        let err = dynamodb
            .get_item()
            .table_name("t")
            .key("pk", AttributeValue::S("a".into()))
            .send()
            .await
            .unwrap_err();
        assert!(
            err.request_id()
                .is_some_and(|id| id.starts_with("vigil-fault-")),
            "{err:?}"
        );
        match err.as_service_error() {
            Some(GetItemError::ProvisionedThroughputExceededException(_)) => seen.insert("pte"),
            Some(GetItemError::ThrottlingException(_)) => seen.insert("throttling"),
            other => panic!("not a modeled DynamoDB throttle: {other:?}"),
        };
    }
    assert_eq!(seen, BTreeSet::from(["pte", "throttling"]));

    let err = faults
        .sqs(&config)
        .send_message()
        .queue_url("http://127.0.0.1/123456789012/q")
        .message_body("m")
        .send()
        .await
        .unwrap_err();
    assert_modeled!(err, SendMessageError::RequestThrottled(_));
}

#[tokio::test]
async fn server_errors_parse_as_each_services_internal_error() {
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_sdk_ecs::operation::list_tasks::ListTasksError;
    use aws_sdk_eventbridge::operation::put_events::PutEventsError;
    use aws_sdk_securityhub::operation::get_findings::GetFindingsError;
    // After-apply always answers 500 (plain ServerError picks 500 or 503).
    let (upstream, faults) = always(FaultKind::ServerErrorAfterApply);
    let config = sdk_config(RetryConfig::disabled()).await;
    let outcomes = call_each_service(&faults, &config).await;
    let expected = [
        (Service::DynamoDb, 500, "InternalServerError"),
        (Service::Ecs, 500, "ServerException"),
        (Service::EventBridge, 500, "InternalException"),
        (Service::SecurityHub, 500, "InternalException"),
        (Service::Sqs, 500, "InternalError"),
    ];
    for ((service, status, code), got) in expected.into_iter().zip(&outcomes) {
        assert_eq!((got.0, got.1, got.2.as_str()), (service, status, code));
    }
    assert_eq!(upstream.count(), 5, "after-apply faults forward");

    // And they are the modeled variants, not `Unhandled`.
    let key = AttributeValue::S("a".into());
    let err = faults
        .dynamodb(&config)
        .get_item()
        .table_name("t")
        .key("pk", key)
        .send()
        .await
        .unwrap_err();
    assert_modeled!(err, GetItemError::InternalServerError(_));
    let err = faults.ecs(&config).list_tasks().send().await.unwrap_err();
    assert_modeled!(err, ListTasksError::ServerException(_));
    let err = faults
        .eventbridge(&config)
        .put_events()
        .send()
        .await
        .unwrap_err();
    assert_modeled!(err, PutEventsError::InternalException(_));
    let err = faults
        .securityhub(&config)
        .get_findings()
        .send()
        .await
        .unwrap_err();
    assert_modeled!(err, GetFindingsError::InternalException(_));
}

#[tokio::test]
async fn unavailable_is_a_503_service_unavailable() {
    let (_upstream, faults) = always(FaultKind::ServerError);
    let config = sdk_config(RetryConfig::disabled()).await;
    let mut seen = BTreeSet::new();
    for _ in 0..4 {
        for (service, status, code) in call_each_service(&faults, &config).await {
            if status == 503 {
                assert_eq!(code, "ServiceUnavailable", "{service}");
            }
            seen.insert(status);
        }
    }
    assert_eq!(seen, BTreeSet::from([500, 503]));
}

fn standard_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5))
}

#[tokio::test]
async fn the_sdk_retries_injected_throttles_and_server_errors() {
    for kind in [FaultKind::Throttle, FaultKind::ServerError] {
        let (upstream, faults) = always(kind);
        let config = sdk_config(standard_retries()).await;
        let outcomes = call_each_service(&faults, &config).await;
        let stats = faults.stats();
        for (service, status, _) in outcomes {
            assert_ne!(status, 0, "{service}: no HTTP response");
            assert_eq!(stats.requests(service), 3, "{kind:?} {service}: {stats:?}");
            assert_eq!(stats.injected(service, kind), 3, "{kind:?} {service}");
        }
        // Every send of one call is counted under its operation's name.
        assert_eq!(stats.operation(Service::DynamoDb, "GetItem"), 3);
        assert_eq!(stats.operation(Service::SecurityHub, "GetFindings"), 3);
        assert_eq!(upstream.count(), 0, "{kind:?} is answered without sending");
    }
}

#[tokio::test]
async fn the_sdk_retries_a_dropped_connection() {
    // Why after-apply drops are dangerous: the SDK sends the applied write again.
    let (upstream, faults) = always(FaultKind::DropAfterApply);
    let config = sdk_config(standard_retries()).await;
    let err = faults
        .dynamodb(&config)
        .put_item()
        .table_name("t")
        .item("pk", AttributeValue::S("a".into()))
        .send()
        .await
        .unwrap_err();
    assert!(err.raw_response().is_none(), "{err:?}");
    assert_eq!(faults.stats().operation(Service::DynamoDb, "PutItem"), 3);
    assert_eq!(upstream.count(), 3, "each attempt reached the upstream");
}
