//! Remediation playbooks, without AWS: the file ([`file`](mod@file)), what a playbook is matched
//! against ([`subject`]), reason templates ([`reason`]), the guardrail verdicts ([`guardrails`])
//! and the one decision both the remediate function and `vigil playbook test` make
//! ([`decide`](mod@decide)), so what the CLI shows is what the function would decide.

#![warn(missing_docs)]

pub mod decide;
pub mod file;
pub mod guardrails;
pub mod reason;
#[cfg(feature = "schema")]
pub mod schema;
pub mod subject;

pub use decide::{
    CounterScope, DecisionInput, PlaybookDecision, ServiceHold, StopCounter, decide, marker,
};
pub use file::{Action, Glob, Mode, Playbook, PlaybookError, PlaybookFile};
pub use guardrails::{
    Approval, Check, Evaluation, Guardrail, Guardrails, LiveService, LiveTask, Origin, Outcome,
    Verdict, Vouch,
};
pub use reason::ReasonTemplate;
#[cfg(feature = "schema")]
pub use schema::{playbook_schema, playbook_schema_text};
pub use subject::Subject;

/// ECS limits `stoppedReason` to 255 characters.
pub const MAX_STOP_REASON: usize = 255;
