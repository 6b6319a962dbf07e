//! `infra/template.yaml` as a typed model, and the same resources provisioned through the AWS SDK.
//!
//! [`Stack::load`] reads the SAM template (short-form intrinsic tags included), resolves the intrinsics
//! the routing depends on against parameter values (the template's defaults, overridable), and keeps:
//! the event rules (bus, pattern, target queues), the queues (visibility timeout, redrive), the
//! functions (binary, timeout, memory, environment) with their SQS event source mappings, and the table.
//!
//! [`provision`] creates that table, the custom bus, the queues and dead-letter queues, and the rules
//! with the template's own patterns targeting the queues, then enables Security Hub. Lambda functions
//! and their event source mappings are not created (the emulator cannot run them): the returned
//! [`ProvisionedStack`] hands out each function's queue and mapping settings so a harness can relay
//! batches to a handler the way Lambda would.

#![warn(missing_docs)]

mod model;
mod provision;
mod template;

pub use model::{
    Bus, FunctionSpec, MappingSpec, Options, QueueSpec, Redrive, RuleSpec, Stack, TableSpec,
    TargetSpec,
};
pub use provision::{ProvisionedStack, QueueHandle, provision};

/// A template as JSON, every intrinsic in long form (`{"Fn::GetAtt": ["R", "Arn"]}`), unresolved:
/// for checks of what the model does not keep (IAM and bus policies).
pub fn template_document(text: &str) -> Result<serde_json::Value, Error> {
    template::to_json(text)
}

/// Reading the template or provisioning it failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The template file could not be read.
    #[error("cannot read the template {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not YAML, or not a template's shape.
    #[error("the template is not valid YAML: {0}")]
    Parse(String),
    /// A construct the model does not resolve (an intrinsic or a resource property).
    #[error("unsupported in the template: {0}")]
    Unsupported(String),
    /// The template refers to what it does not define (a queue, a function, a bus).
    #[error("the template is inconsistent: {0}")]
    Invalid(String),
    /// An AWS (emulator) call failed while provisioning.
    #[error("{operation} failed: {message}")]
    Aws {
        /// The API operation (`CreateQueue`, `PutRule`, …).
        operation: String,
        /// The SDK's error.
        message: String,
    },
}

impl Error {
    pub(crate) fn aws(operation: &str, e: impl std::fmt::Display) -> Error {
        Error::Aws {
            operation: operation.to_owned(),
            message: e.to_string(),
        }
    }
}
