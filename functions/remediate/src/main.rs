//! The remediate Lambda's entry point: reads the settings and playbooks (refusing to start on bad
//! ones), builds the clients once and serves SQS batches concurrently.

use lambda_runtime::{Error, run_concurrent, service_fn};
use std::sync::Arc;
use vigil_remediate::{Remediate, RemediateSettings};

#[tokio::main]
async fn main() -> Result<(), Error> {
    vigil_remediate::init_logging();
    let settings = RemediateSettings::from_env()?;
    // A bad playbook file stops the function here, with the line and the reason in the init error.
    let playbooks = Remediate::load_playbooks(&settings)?;
    let sdk = aws_config::load_from_env().await;
    let remediate = Arc::new(Remediate::from_env(playbooks, settings, &sdk));
    // Concurrent invocations on Lambda Managed Instances share the clients.
    run_concurrent(service_fn(move |event| {
        let remediate = Arc::clone(&remediate);
        async move { remediate.handle(event).await }
    }))
    .await
}
