//! What the proxy did, per service: so a test can check that faults really were injected (a
//! reliability test that saw no fault proves nothing) and count the SDK's attempts.

use crate::plan::FaultKind;
use serde::Serialize;
use std::collections::BTreeMap;

/// Per-service counters, keyed by the service's signing name; serializes as
/// `{"dynamodb": {"requests": 3, ...}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct FaultStats {
    pub services: BTreeMap<String, ServiceStats>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceStats {
    /// Requests received (each SDK attempt is one).
    pub requests: u64,
    /// Requests the upstream answered (including those whose answer was then replaced or dropped).
    pub forwarded: u64,
    /// Forwarding attempts that failed (upstream unreachable or broke off): real faults, not injected.
    pub upstream_errors: u64,
    pub injected: BTreeMap<FaultKind, u64>,
    /// Requests per operation (`PutItem`, `POST /findings/import`).
    pub operations: BTreeMap<String, u64>,
}

impl FaultStats {
    pub fn service(&self, name: &str) -> Option<&ServiceStats> {
        self.services.get(name)
    }

    pub fn requests(&self, service: &str) -> u64 {
        self.service(service).map_or(0, |s| s.requests)
    }

    pub fn forwarded(&self, service: &str) -> u64 {
        self.service(service).map_or(0, |s| s.forwarded)
    }

    pub fn injected(&self, service: &str, kind: FaultKind) -> u64 {
        self.service(service).map_or(0, |s| s.injected_of(kind))
    }

    /// All faults injected, over every service and kind.
    pub fn total_injected(&self) -> u64 {
        self.services
            .values()
            .map(ServiceStats::total_injected)
            .sum()
    }

    pub fn total_requests(&self) -> u64 {
        self.services.values().map(|s| s.requests).sum()
    }

    pub(crate) fn record_request(
        &mut self,
        service: &str,
        operation: &str,
        fault: Option<FaultKind>,
    ) {
        let s = self.entry(service);
        s.requests += 1;
        *s.operations.entry(operation.to_owned()).or_default() += 1;
        if let Some(kind) = fault {
            *s.injected.entry(kind).or_default() += 1;
        }
    }

    pub(crate) fn record_forwarded(&mut self, service: &str) {
        self.entry(service).forwarded += 1;
    }

    pub(crate) fn record_upstream_error(&mut self, service: &str) {
        self.entry(service).upstream_errors += 1;
    }

    fn entry(&mut self, service: &str) -> &mut ServiceStats {
        self.services.entry(service.to_owned()).or_default()
    }
}

impl ServiceStats {
    pub fn injected_of(&self, kind: FaultKind) -> u64 {
        self.injected.get(&kind).copied().unwrap_or(0)
    }

    pub fn total_injected(&self) -> u64 {
        self.injected.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_service_kind_and_operation_and_serializes() {
        let mut stats = FaultStats::default();
        stats.record_request("dynamodb", "PutItem", None);
        stats.record_forwarded("dynamodb");
        stats.record_request("dynamodb", "PutItem", Some(FaultKind::Throttle));
        stats.record_request("ecs", "ListTasks", Some(FaultKind::DropAfterApply));
        stats.record_upstream_error("ecs");

        assert_eq!(stats.requests("dynamodb"), 2);
        assert_eq!(stats.forwarded("dynamodb"), 1);
        assert_eq!(stats.injected("dynamodb", FaultKind::Throttle), 1);
        assert_eq!(stats.injected("dynamodb", FaultKind::ServerError), 0);
        assert_eq!(stats.requests("securityhub"), 0);
        assert_eq!((stats.total_requests(), stats.total_injected()), (3, 2));

        let json = serde_json::to_value(&stats).unwrap();
        assert_eq!(json["dynamodb"]["operations"]["PutItem"], 2);
        assert_eq!(json["dynamodb"]["injected"]["Throttle"], 1);
        assert_eq!(json["ecs"]["upstream_errors"], 1);
    }
}
