use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use vigil_ingest::{Ingest, IngestConfig};

#[tokio::main]
async fn main() -> Result<(), Error> {
    vigil_ingest::init_logging();
    let ingest = Ingest::from_env(
        IngestConfig::from_env()?,
        &aws_config::load_from_env().await,
    );
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        ingest.handle(event.payload, Some(event.context.invoked_function_arn))
    }))
    .await
}
