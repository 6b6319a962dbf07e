//! Restarting the emulator mid-run: requests fail while it is down, then it serves again on the same
//! endpoint with its state (here a DynamoDB table and its items) and the API-call counts kept.

use aws_config::retry::RetryConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use std::net::TcpStream;
use std::time::{Duration, Instant};
use vigil_testkit::{Emulator, TABLE_NAME};

fn key(pk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk.to_owned())),
        ("sk".to_owned(), AttributeValue::S("item".to_owned())),
    ])
}

async fn put(ddb: &aws_sdk_dynamodb::Client, pk: &str, value: &str) {
    ddb.put_item()
        .table_name(TABLE_NAME)
        .set_item(Some(key(pk)))
        .item("value", AttributeValue::S(value.to_owned()))
        .send()
        .await
        .expect("put item");
}

async fn value(ddb: &aws_sdk_dynamodb::Client, pk: &str) -> Option<String> {
    let item = ddb
        .get_item()
        .table_name(TABLE_NAME)
        .set_key(Some(key(pk)))
        .send()
        .await
        .expect("get item")
        .item?;
    item.get("value")
        .and_then(|v| v.as_s().ok())
        .map(String::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_the_state_and_the_endpoint() {
    let mut emulator = Emulator::start();
    emulator.create_table().await;
    let config = emulator.sdk_config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    // Without retries, so a request made while the emulator is down fails instead of waiting for it.
    let no_retries = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    put(&ddb, "before", "1").await;
    let endpoint = emulator.endpoint().to_owned();
    let addr = endpoint.trim_start_matches("http://").to_owned();
    let puts_before = emulator.calls("dynamodb", "PutItem");
    assert_eq!(puts_before, 1);

    let restarting = std::thread::spawn(move || {
        emulator.restart(Duration::from_millis(500));
        emulator
    });
    // Down: the port refuses connections (from the shutdown until the new launcher binds, which is
    // at least the 500 ms of downtime plus its start-up), and a request fails.
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(&addr).is_ok() {
        assert!(Instant::now() < deadline, "the emulator never went down");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let during = no_retries
        .get_item()
        .table_name(TABLE_NAME)
        .set_key(Some(key("before")))
        .send()
        .await;
    assert!(
        during.is_err(),
        "a request while the emulator is down must fail: {during:?}"
    );
    let mut emulator = tokio::task::spawn_blocking(move || restarting.join())
        .await
        .expect("join")
        .expect("restart");

    assert_eq!(emulator.endpoint(), endpoint);
    assert!(emulator.state_file().is_file());
    assert_eq!(value(&ddb, "before").await.as_deref(), Some("1"));
    put(&ddb, "after", "2").await;
    assert_eq!(value(&ddb, "after").await.as_deref(), Some("2"));
    assert_eq!(emulator.table_items().await.len(), 2);
    // The counts continued: the put before the restart and the one after (the failed request never
    // reached the emulator).
    assert_eq!(emulator.calls("dynamodb", "PutItem"), puts_before + 1);

    // Again, with no downtime: the state saved by the second launcher includes the later write.
    emulator.restart(Duration::ZERO);
    assert_eq!(emulator.endpoint(), endpoint);
    assert_eq!(value(&ddb, "before").await.as_deref(), Some("1"));
    assert_eq!(value(&ddb, "after").await.as_deref(), Some("2"));
}
