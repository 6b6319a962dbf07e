//! The DynamoDB client of the functions. Each call is one item and is retried whole by the SDK: a
//! write applied whose response was lost is recognised when sent again by its condition (counted
//! event ids, the lease holder).

/// The client of the functions, from `config` (e.g. `(&sdk_config).into()`) with
/// [`vigil_runtime::sdk_standard_retry`].
pub fn client(config: aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        config
            .retry_config(vigil_runtime::sdk_standard_retry())
            .build(),
    )
}
