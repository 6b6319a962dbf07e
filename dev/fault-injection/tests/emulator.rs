//! The injector around the SDK's default HTTP client, in front of the real emulator, driven by the
//! DynamoDB SDK client: what passes through works, and "applied or not" is what each fault kind
//! says it is (checked on the emulator directly).

use aws_config::retry::RetryConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use vigil_fault_injection::{FaultInjector, FaultKind, FaultPlan, FaultRates, Service};
use vigil_testkit::Emulator;

const TABLE: &str = "fault-injection-test";

struct Setup {
    emulator: Emulator,
    faults: FaultInjector,
    /// Through the injector, retries disabled: one request is one attempt.
    faulty: Client,
    /// Straight to the emulator, to see what was applied.
    direct: Client,
}

async fn setup() -> Setup {
    let emulator = Emulator::start();
    let faults = FaultInjector::new(FaultPlan::none());
    let config = emulator.sdk_config().await;
    let direct = Client::new(&config);
    let no_retries = config
        .to_builder()
        .retry_config(RetryConfig::disabled())
        .build();
    Setup {
        emulator,
        faulty: faults.dynamodb(&no_retries),
        faults,
        direct,
    }
}

async fn create_table(client: &Client) {
    client
        .create_table()
        .table_name(TABLE)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

async fn put(
    client: &Client,
    pk: &str,
) -> Result<(), SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError>> {
    client
        .put_item()
        .table_name(TABLE)
        .item("pk", AttributeValue::S(pk.into()))
        .item("payload", AttributeValue::S(format!("payload of {pk} ✓")))
        .send()
        .await
        .map(drop)
}

async fn stored(client: &Client, pk: &str) -> Option<String> {
    let item = client
        .get_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S(pk.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item?;
    item.get("payload").and_then(|v| v.as_s().ok()).cloned()
}

#[tokio::test]
async fn without_faults_the_sdk_round_trips_through_the_injector() {
    let s = setup().await;
    create_table(&s.faulty).await;
    put(&s.faulty, "a").await.unwrap();
    assert_eq!(
        stored(&s.faulty, "a").await.as_deref(),
        Some("payload of a ✓")
    );
    // The write reached the emulator.
    assert_eq!(
        stored(&s.direct, "a").await.as_deref(),
        Some("payload of a ✓")
    );
    assert_eq!(s.emulator.calls("dynamodb", "PutItem"), 1);

    let stats = s.faults.stats();
    let d = stats.service(Service::DynamoDb).unwrap();
    assert_eq!((d.requests, d.forwarded, d.total_injected()), (3, 3, 0));
    for op in ["CreateTable", "PutItem", "GetItem"] {
        assert_eq!(d.operations.get(op), Some(&1), "{op}: {stats:?}");
    }
}

#[tokio::test]
async fn drop_after_apply_fails_the_call_but_the_write_is_applied() {
    let s = setup().await;
    create_table(&s.direct).await;
    s.faults.set_plan(FaultPlan::none().service(
        Service::DynamoDb,
        FaultRates::always(FaultKind::DropAfterApply),
    ));
    let err = put(&s.faulty, "lost-response").await.unwrap_err();
    assert!(matches!(err, SdkError::DispatchFailure(_)), "{err:?}");
    assert_eq!(
        stored(&s.direct, "lost-response").await.as_deref(),
        Some("payload of lost-response ✓")
    );
    assert_eq!(
        s.faults
            .stats()
            .injected(Service::DynamoDb, FaultKind::DropAfterApply),
        1
    );
}

#[tokio::test]
async fn drop_before_apply_fails_the_call_and_nothing_is_written() {
    let s = setup().await;
    create_table(&s.direct).await;
    s.faults.set_plan(FaultPlan::none().service(
        Service::DynamoDb,
        FaultRates::always(FaultKind::DropBeforeApply),
    ));
    let err = put(&s.faulty, "never").await.unwrap_err();
    assert!(matches!(err, SdkError::DispatchFailure(_)), "{err:?}");
    assert_eq!(stored(&s.direct, "never").await, None);
    assert_eq!(s.emulator.calls("dynamodb", "PutItem"), 0);
}

#[tokio::test]
async fn server_error_after_apply_answers_500_but_the_write_is_applied() {
    let s = setup().await;
    create_table(&s.direct).await;
    s.faults.set_plan(FaultPlan::none().service(
        Service::DynamoDb,
        FaultRates::always(FaultKind::ServerErrorAfterApply),
    ));
    let err = put(&s.faulty, "applied").await.unwrap_err();
    assert_eq!(
        err.raw_response().map(|r| r.status().as_u16()),
        Some(500),
        "{err:?}"
    );
    assert!(
        matches!(
            err.as_service_error(),
            Some(aws_sdk_dynamodb::operation::put_item::PutItemError::InternalServerError(_))
        ),
        "{err:?}"
    );
    assert_eq!(
        stored(&s.direct, "applied").await.as_deref(),
        Some("payload of applied ✓")
    );

    // Faults off again (the final drain): the same client works.
    s.faults.set_plan(FaultPlan::none());
    put(&s.faulty, "after").await.unwrap();
    assert_eq!(
        stored(&s.direct, "after").await.as_deref(),
        Some("payload of after ✓")
    );
}
