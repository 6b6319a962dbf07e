//! The ECS client of the functions and the SDK retry of its calls.

use aws_sdk_ecs::config::retry::RetryConfig;

/// The SDK's retry of Vigil's ECS calls (enrich's Describe* and ListTasks; remediate's StopTask and
/// TagResource): the standard retry, 3 attempts, stated rather than inherited. Each call is retried
/// whole: reads are reads, and stopping or tagging a task again leaves it as it was. Vigil has no
/// loop of its own over them; past these attempts the message goes back to SQS, where remediate's
/// action record keeps a stop to one decision.
pub fn sdk_retry() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(3)
}

/// The ECS client of the functions, from `config` (e.g. `(&sdk_config).into()`) with
/// [`sdk_retry`].
pub fn client(config: aws_sdk_ecs::config::Builder) -> aws_sdk_ecs::Client {
    aws_sdk_ecs::Client::from_conf(config.retry_config(sdk_retry()).build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::config::retry::RetryMode;

    #[test]
    fn the_functions_client_has_the_sdk_standard_retry_of_three_attempts() {
        let client = client(aws_sdk_ecs::Config::builder());
        let retry = client.config().retry_config().cloned();
        assert_eq!(
            retry.map(|r| (r.mode(), r.max_attempts())),
            Some((RetryMode::Standard, 3))
        );
    }
}
