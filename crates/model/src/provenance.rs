//! Where a finding came from, decided by how it arrived, never by what its payload says.
//!
//! Anything on a bus or a queue may be forged, so the sender of an event is the account EventBridge
//! stamped on its envelope (or, for a direct invocation, the account the deployment configured for
//! that entry point), and an AWS service is recognised only by its exact, case-sensitive `aws.*`
//! source on the default-bus rules. Ingest records this once; it travels unchanged in `Finding
//! Accepted` and `Finding Enriched`, is stored on the dedup record, and is checked again by
//! remediation before any action.

use serde::{Deserialize, Serialize};

/// The entry point an event came through.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Arrival {
    /// An agent's event on the agent bus (any source but `aws.*` and `vigil`).
    AgentBus,
    /// An AWS service's event (`aws.guardduty`, `aws.ecs`) through a default-bus rule.
    AwsService,
    /// A direct invocation of the ingest function with a bare source payload (falcosidekick's
    /// Lambda output).
    DirectInvoke,
    /// Read locally (`vigil normalize`, tests): no trust is derived from it.
    #[default]
    Local,
}

impl Arrival {
    /// The arrival as records and ASFF product fields name it (`agent_bus`, `aws_service`, …).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether a deployed entry point stamped this arrival (a `Local` finding never acts).
    pub const fn is_deployed(self) -> bool {
        !matches!(self, Arrival::Local)
    }
}

/// The provenance record of one occurrence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// How the occurrence reached Vigil.
    pub arrival: Arrival,
    /// The EventBridge envelope's `source`, exactly as received (`None` for a bare payload).
    pub source: Option<String>,
    /// The EventBridge envelope's `detail-type`, exactly as received.
    pub detail_type: Option<String>,
    /// The account that sent the event: EventBridge's `account` stamp on the envelope, or the
    /// account configured for direct invocations. Never a payload field.
    pub sender_account: Option<String>,
    /// The EventBridge event id (one per put; a retry by the producer gets a new one).
    pub event_id: Option<String>,
    /// The producer's own id for the event (falcosidekick `uuid`, Sysdig event `id`), which stays
    /// the same when the producer sends the event again over another delivery.
    pub producer_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrival_names_are_stable() {
        for (a, s) in [
            (Arrival::AgentBus, "agent_bus"),
            (Arrival::AwsService, "aws_service"),
            (Arrival::DirectInvoke, "direct_invoke"),
            (Arrival::Local, "local"),
        ] {
            assert_eq!(a.as_str(), s);
            assert_eq!(serde_json::to_value(a).unwrap(), serde_json::json!(s));
        }
        assert!(!Arrival::Local.is_deployed() && Arrival::AgentBus.is_deployed());
    }
}
