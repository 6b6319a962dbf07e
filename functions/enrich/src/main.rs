//! The enrich function's Lambda entry point: builds the [`vigil_enrich::Enrich`] handler once
//! from the environment and serves invocations concurrently.

use lambda_runtime::{Error, run_concurrent, service_fn};
use std::sync::Arc;
use vigil_enrich::{Enrich, EnrichSettings};

#[tokio::main]
async fn main() -> Result<(), Error> {
    vigil_enrich::init_logging();
    let sdk = aws_config::load_from_env().await;
    let enrich = Arc::new(Enrich::from_env(EnrichSettings::from_env()?, &sdk));
    // Concurrent invocations on Lambda Managed Instances share the clients and the caches.
    run_concurrent(service_fn(move |event| {
        let enrich = Arc::clone(&enrich);
        async move { enrich.handle(event).await }
    }))
    .await
}
