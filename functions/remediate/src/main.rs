use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use vigil_remediate::{Remediate, RemediateSettings};

#[tokio::main]
async fn main() -> Result<(), Error> {
    vigil_remediate::init_logging();
    let settings = RemediateSettings::from_env()?;
    // A bad playbook file stops the function here, with the line and the reason in the init error.
    let playbooks = Remediate::load_playbooks(&settings)?;
    let remediate = Remediate::from_env(playbooks, settings, &aws_config::load_from_env().await);
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        remediate.handle(event.payload, Some(event.context.invoked_function_arn))
    }))
    .await
}
