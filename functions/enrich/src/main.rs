use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use vigil_enrich::{Enrich, EnrichSettings};

#[tokio::main]
async fn main() -> Result<(), Error> {
    vigil_enrich::init_logging();
    let enrich = Enrich::from_env(
        EnrichSettings::from_env()?,
        &aws_config::load_from_env().await,
    );
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        enrich.handle(event.payload)
    }))
    .await
}
