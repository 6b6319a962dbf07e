//! Remediation playbooks, without AWS: the file ([`file`]), what a playbook is matched against
//! ([`subject`]), reason templates ([`reason`]) and the guardrail verdicts ([`guardrails`]). The
//! remediate function and `vigil playbook test` share all of it, so what the CLI shows is what the
//! function would decide.

pub mod file;
pub mod guardrails;
pub mod reason;
pub mod subject;

pub use file::{Action, Glob, Mode, Playbook, PlaybookError, PlaybookFile};
pub use guardrails::{
    Check, Evaluation, Guardrails, LiveService, LiveTask, Origin, Outcome, Verdict,
};
pub use reason::ReasonTemplate;
pub use subject::Subject;

/// ECS limits `stoppedReason` to 255 characters.
pub const MAX_STOP_REASON: usize = 255;
