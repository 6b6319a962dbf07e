//! The coverage function's Lambda entry point: builds the [`vigil_coverage::Coverage`] handler
//! once from the environment and serves invocations (heartbeat batches, the schedule's check).

use lambda_runtime::{Error, run, service_fn};
use std::sync::Arc;
use vigil_coverage::{Coverage, CoverageSettings};

#[tokio::main]
async fn main() -> Result<(), Error> {
    vigil_coverage::init_logging();
    let sdk = aws_config::load_from_env().await;
    let coverage = Arc::new(Coverage::from_env(CoverageSettings::from_env()?, &sdk));
    run(service_fn(move |event| {
        let coverage = Arc::clone(&coverage);
        async move { coverage.handle(event).await }
    }))
    .await
}
