//! The EventBridge client Vigil publishes through, and the SDK retry of its calls.

use aws_sdk_eventbridge::config::retry::RetryConfig;

/// The SDK's retry of `PutEvents`: none. [`EventPublisher`](crate::EventPublisher) is its only
/// retry layer: it sends again only the entries that failed, and a call that failed whole
/// (throttling, 5xx, a timeout, a lost connection) whole, with the jittered backoff of its
/// [`RetryPolicy`](crate::RetryPolicy). Under the SDK's standard retry (3 attempts) each of its 4
/// attempts could be 3 sends: up to 12 sends of one batch, retries the SDK makes without knowing
/// which entries already got through. The publisher sets it on every `PutEvents` it sends, whatever
/// client it was given.
pub fn sdk_retry() -> RetryConfig {
    RetryConfig::disabled()
}

/// The EventBridge client of the functions, from `config` (e.g. `(&sdk_config).into()`) with
/// [`sdk_retry`]: `PutEvents` is the only call they make on it.
pub fn client(config: aws_sdk_eventbridge::config::Builder) -> aws_sdk_eventbridge::Client {
    aws_sdk_eventbridge::Client::from_conf(config.retry_config(sdk_retry()).build())
}
