//! Injected errors as the real SDK clients see them: parsed as each service's own error, with the
//! right code, and classified retryable by the SDK's default retry strategy.

mod common;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::RequestId;
use aws_sdk_dynamodb::types::AttributeValue;
use common::{RawUpstream, UPSTREAM_OK};
use std::collections::BTreeSet;
use std::time::Duration;
use vigil_fault_proxy::{FaultKind, FaultPlan, FaultProxy, FaultRates};

const SERVICES: [&str; 5] = ["dynamodb", "ecs", "events", "securityhub", "sqs"];

async fn sdk_config(proxy: &FaultProxy, retry: RetryConfig) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(proxy.endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "fault-proxy-test",
        ))
        .retry_config(retry)
        .load()
        .await
}

/// A proxy whose every service answers with `kind`, in front of an upstream that would say 200.
async fn proxy_always(kind: FaultKind) -> (RawUpstream, FaultProxy) {
    let upstream = RawUpstream::start(UPSTREAM_OK).await;
    let plan = FaultPlan::new(FaultRates::always(kind), 5);
    let proxy = FaultProxy::start(&upstream.endpoint(), plan).unwrap();
    (upstream, proxy)
}

/// One call per service; returns (service, HTTP status, error code) for each.
async fn call_each_service(config: &SdkConfig) -> Vec<(&'static str, u16, String)> {
    fn outcome<E: ProvideErrorMetadata, R: std::fmt::Debug>(
        service: &'static str,
        result: Result<
            R,
            aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
        >,
    ) -> (&'static str, u16, String) {
        let err = result.expect_err("the proxy injects a fault on every request");
        let status = err.raw_response().map_or(0, |r| r.status().as_u16());
        let code = err
            .as_service_error()
            .and_then(|e| e.code())
            .unwrap_or("-")
            .to_owned();
        (service, status, code)
    }
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    let ecs = aws_sdk_ecs::Client::new(config);
    let events = aws_sdk_eventbridge::Client::new(config);
    let securityhub = aws_sdk_securityhub::Client::new(config);
    let sqs = aws_sdk_sqs::Client::new(config);
    vec![
        outcome(
            "dynamodb",
            dynamodb
                .get_item()
                .table_name("t")
                .key("pk", AttributeValue::S("a".into()))
                .send()
                .await,
        ),
        outcome("ecs", ecs.list_tasks().cluster("c").send().await),
        outcome(
            "events",
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
        outcome("securityhub", securityhub.get_findings().send().await),
        outcome(
            "sqs",
            sqs.send_message()
                .queue_url("http://127.0.0.1/123456789012/q")
                .message_body("m")
                .send()
                .await,
        ),
    ]
}

#[tokio::test]
async fn throttles_parse_as_each_services_throttling_error() {
    let (upstream, proxy) = proxy_always(FaultKind::Throttle).await;
    let config = sdk_config(&proxy, RetryConfig::disabled()).await;
    let outcomes = call_each_service(&config).await;
    let expected = [
        ("ecs", 400, "ThrottlingException"),
        ("events", 400, "ThrottlingException"),
        ("securityhub", 429, "TooManyRequestsException"),
        ("sqs", 400, "RequestThrottled"),
    ];
    for (service, status, code) in expected {
        let got = outcomes.iter().find(|o| o.0 == service).unwrap();
        assert_eq!((got.1, got.2.as_str()), (status, code), "{service}");
    }
    assert_eq!(outcomes[0].1, 400);
    assert_eq!(upstream.count(), 0);
    // Retries disabled: exactly one attempt each.
    for service in SERVICES {
        assert_eq!(proxy.stats().requests(service), 1, "{service}");
    }
}

#[tokio::test]
async fn throttles_are_the_modeled_variants_where_the_model_has_them() {
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_sdk_sqs::operation::send_message::SendMessageError;
    let (_upstream, proxy) = proxy_always(FaultKind::Throttle).await;
    let config = sdk_config(&proxy, RetryConfig::disabled()).await;

    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
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

    let err = aws_sdk_sqs::Client::new(&config)
        .send_message()
        .queue_url("http://127.0.0.1/123456789012/q")
        .message_body("m")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.as_service_error(),
            Some(SendMessageError::RequestThrottled(_))
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn server_errors_parse_as_each_services_internal_error() {
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_sdk_ecs::operation::list_tasks::ListTasksError;
    use aws_sdk_eventbridge::operation::put_events::PutEventsError;
    use aws_sdk_securityhub::operation::get_findings::GetFindingsError;
    // After-apply always answers 500 (plain ServerError picks 500 or 503).
    let (upstream, proxy) = proxy_always(FaultKind::ServerErrorAfterApply).await;
    let config = sdk_config(&proxy, RetryConfig::disabled()).await;
    let outcomes = call_each_service(&config).await;
    let expected = [
        ("dynamodb", 500, "InternalServerError"),
        ("ecs", 500, "ServerException"),
        ("events", 500, "InternalException"),
        ("securityhub", 500, "InternalException"),
        ("sqs", 500, "InternalError"),
    ];
    for ((service, status, code), got) in expected.into_iter().zip(&outcomes) {
        assert_eq!((got.0, got.1, got.2.as_str()), (service, status, code));
    }
    assert_eq!(upstream.count(), 5, "after-apply faults forward");

    // And they are the modeled variants, not `Unhandled`.
    let key = AttributeValue::S("a".into());
    let err = aws_sdk_dynamodb::Client::new(&config)
        .get_item()
        .table_name("t")
        .key("pk", key)
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.as_service_error(),
            Some(GetItemError::InternalServerError(_))
        ),
        "{err:?}"
    );
    let err = aws_sdk_ecs::Client::new(&config)
        .list_tasks()
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.as_service_error(),
            Some(ListTasksError::ServerException(_))
        ),
        "{err:?}"
    );
    let err = aws_sdk_eventbridge::Client::new(&config)
        .put_events()
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.as_service_error(),
            Some(PutEventsError::InternalException(_))
        ),
        "{err:?}"
    );
    let err = aws_sdk_securityhub::Client::new(&config)
        .get_findings()
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.as_service_error(),
            Some(GetFindingsError::InternalException(_))
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn unavailable_is_a_503_service_unavailable() {
    let (_upstream, proxy) = proxy_always(FaultKind::ServerError).await;
    let config = sdk_config(&proxy, RetryConfig::disabled()).await;
    let mut seen = BTreeSet::new();
    for _ in 0..4 {
        for (service, status, code) in call_each_service(&config).await {
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
        let (_upstream, proxy) = proxy_always(kind).await;
        let config = sdk_config(&proxy, standard_retries()).await;
        let outcomes = call_each_service(&config).await;
        let stats = proxy.stats();
        for (service, status, _) in outcomes {
            assert_ne!(status, 0, "{service}: no HTTP response");
            assert_eq!(stats.requests(service), 3, "{kind:?} {service}: {stats:?}");
            assert_eq!(stats.injected(service, kind), 3, "{kind:?} {service}");
        }
    }
}

#[tokio::test]
async fn the_sdk_retries_a_dropped_connection() {
    // Why after-apply drops are dangerous: the SDK sends the applied write again.
    let (upstream, proxy) = proxy_always(FaultKind::DropAfterApply).await;
    let config = sdk_config(&proxy, standard_retries()).await;
    let err = aws_sdk_dynamodb::Client::new(&config)
        .put_item()
        .table_name("t")
        .item("pk", AttributeValue::S("a".into()))
        .send()
        .await
        .unwrap_err();
    assert!(err.raw_response().is_none(), "{err:?}");
    assert_eq!(proxy.stats().requests("dynamodb"), 3);
    assert_eq!(upstream.count(), 3, "each attempt reached the upstream");
}
