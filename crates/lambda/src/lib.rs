//! What the three functions' Lambda edges share, so each function's edge reads in a few typed lines:
//!
//! - [`sqs`]: the event source mapping's batch in ([`SqsEvent`]), the partial-failure answer out
//!   ([`SqsBatchResponse`]), which records a function's own queues delivered, and the batches the
//!   local pipeline and the tests deliver the same way.
//! - [`settings`]: one reader of settings from the environment, with one error type.
//! - [`emf`]: CloudWatch embedded-metric lines, one per invocation, with no API call.

#![warn(missing_docs)]

pub mod emf;
pub mod settings;
pub mod sqs;

pub use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
pub use lambda_runtime::{Context, Error, LambdaEvent};

/// Runs `handler` on `payload` as the Lambda runtime does: the JSON read into the handler's typed
/// event (invoked as `function_arn`), its typed answer written back as JSON. The local pipeline and
/// the tests invoke the functions through it, so they exercise the same (de)serialization.
pub async fn invoke_json<T, R, Fut>(
    handler: impl FnOnce(LambdaEvent<T>) -> Fut,
    payload: serde_json::Value,
    function_arn: &str,
) -> Result<serde_json::Value, Error>
where
    T: serde::de::DeserializeOwned,
    R: serde::Serialize,
    Fut: std::future::Future<Output = Result<R, Error>>,
{
    let mut context = Context::default();
    context.invoked_function_arn = function_arn.to_owned();
    let event = LambdaEvent::new(serde_json::from_value(payload)?, context);
    Ok(serde_json::to_value(handler(event).await?)?)
}

/// Structured JSON logs for CloudWatch; the level comes from `RUST_LOG` or `LOG_LEVEL` (default
/// `info`).
pub fn init_logging() {
    let level = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("LOG_LEVEL"))
        .unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_current_span(false)
        .without_time()
        .with_target(false)
        .init();
}

/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]` → ACCOUNT (12 digits): the account a
/// function is deployed in, the one Vigil always trusts.
pub fn account_of_function_arn(arn: &str) -> Option<String> {
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then(|| account.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_from_function_arn() {
        assert_eq!(
            account_of_function_arn("arn:aws:lambda:us-east-1:123456789012:function:ingest")
                .as_deref(),
            Some("123456789012")
        );
        assert_eq!(
            account_of_function_arn("arn:aws:lambda:us-east-1:1234:function:x"),
            None
        );
        assert_eq!(account_of_function_arn("nonsense"), None);
    }
}
