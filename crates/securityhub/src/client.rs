//! The Security Hub client Vigil imports and annotates through, and the SDK retry of its calls.

use aws_sdk_securityhub::config::retry::RetryConfig;

/// The SDK's retry of `BatchImportFindings`: none. [`SecurityHubImporter`](crate::SecurityHubImporter)
/// is its only retry layer: it sends again only the findings that failed, and a call that failed
/// whole (throttling, 5xx, a timeout, a lost connection) whole, with the jittered backoff of its
/// [`RetryPolicy`](crate::RetryPolicy), and every send waits for the [`RateLimiter`](crate::RateLimiter).
/// Under the SDK's standard retry (3 attempts) each of its 4 attempts could be 3 sends, up to 12
/// for one batch, and the SDK's own resends would not wait for the limiter. The importer sets it on
/// every `BatchImportFindings` it sends, whatever client it was given.
pub fn import_sdk_retry() -> RetryConfig {
    RetryConfig::disabled()
}

/// The SDK's retry of the client's other calls (remediate's `BatchUpdateFindings` note and workflow
/// status): the standard retry, 3 attempts, stated rather than inherited. Such a call is retried
/// whole (setting the same note and status again changes nothing), Vigil has no loop of its own
/// over it, and past these attempts SQS delivers the message again.
pub fn sdk_retry() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(3)
}

/// The Security Hub client of the functions, from `config` (e.g. `(&sdk_config).into()`) with
/// [`sdk_retry`]; imports through it go out with [`import_sdk_retry`].
pub fn client(config: aws_sdk_securityhub::config::Builder) -> aws_sdk_securityhub::Client {
    aws_sdk_securityhub::Client::from_conf(config.retry_config(sdk_retry()).build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_securityhub::config::retry::RetryMode;

    #[test]
    fn imports_have_no_sdk_retry_and_the_rest_the_standard_retry() {
        assert_eq!(import_sdk_retry().max_attempts(), 1);
        let client = client(aws_sdk_securityhub::Config::builder());
        let retry = client.config().retry_config().cloned();
        assert_eq!(
            retry.map(|r| (r.mode(), r.max_attempts())),
            Some((RetryMode::Standard, 3))
        );
    }
}
