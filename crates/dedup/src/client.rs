//! The DynamoDB client of the functions and the SDK retry of its calls.

use aws_sdk_dynamodb::config::retry::RetryConfig;

/// The SDK's retry of Vigil's DynamoDB calls (the dedup record; remediate's action records, holds
/// and proposals): the standard retry, 3 attempts, stated rather than inherited. Each call is one
/// item and is retried whole: a write applied whose response was lost is recognised when sent again
/// by its condition (counted event ids, the lease holder). Vigil has no loop of its own that sends
/// a failed call again (its loops decide again when a condition refuses); past these attempts the
/// message goes back to SQS.
pub fn sdk_retry() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(3)
}

/// The DynamoDB client of the functions, from `config` (e.g. `(&sdk_config).into()`) with
/// [`sdk_retry`].
pub fn client(config: aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(config.retry_config(sdk_retry()).build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::config::retry::RetryMode;

    #[test]
    fn the_functions_client_has_the_sdk_standard_retry_of_three_attempts() {
        let client = client(aws_sdk_dynamodb::Config::builder());
        let retry = client.config().retry_config().cloned();
        assert_eq!(
            retry.map(|r| (r.mode(), r.max_attempts())),
            Some((RetryMode::Standard, 3))
        );
    }
}
