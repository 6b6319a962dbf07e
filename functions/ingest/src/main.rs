//! The ingest function's Lambda entry point: builds the [`vigil_ingest::Ingest`] handler once
//! from the environment and serves invocations concurrently.

use lambda_runtime::{Error, run_concurrent, service_fn};
use std::sync::Arc;
use vigil_ingest::{Ingest, IngestConfig};

#[tokio::main]
async fn main() -> Result<(), Error> {
    vigil_ingest::init_logging();
    let sdk = aws_config::load_from_env().await;
    let ingest = Arc::new(Ingest::from_env(IngestConfig::from_env()?, &sdk));
    // Concurrent invocations on Lambda Managed Instances share the clients.
    run_concurrent(service_fn(move |event| {
        let ingest = Arc::clone(&ingest);
        async move { ingest.handle(event).await }
    }))
    .await
}
