//! The ECS client of the functions. Each call is retried whole by the SDK: reads are reads, and
//! stopping or tagging a task again leaves it as it was; remediate's action record keeps a stop to
//! one decision across redeliveries.

/// The client of the functions, from `config` (e.g. `(&sdk_config).into()`) with
/// [`vigil_runtime::sdk_standard_retry`].
pub fn client(config: aws_sdk_ecs::config::Builder) -> aws_sdk_ecs::Client {
    aws_sdk_ecs::Client::from_conf(
        config
            .retry_config(vigil_runtime::sdk_standard_retry())
            .build(),
    )
}
