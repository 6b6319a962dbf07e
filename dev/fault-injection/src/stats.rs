//! What the injector did, per service: so a test can check that faults really were injected (a
//! reliability test that saw no fault proves nothing) and count the SDK's attempts.

use crate::Service;
use crate::plan::FaultKind;
use serde::Serialize;
use std::collections::BTreeMap;

/// Per-service counters; serializes as `{"dynamodb": {"requests": 3, ...}}` (signing names).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct FaultStats {
    /// Each service's counters; a service with no request is absent.
    pub services: BTreeMap<Service, ServiceStats>,
}

/// One service's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceStats {
    /// Requests sent (each SDK attempt is one).
    pub requests: u64,
    /// Requests the wrapped client answered (including those whose answer was then replaced or
    /// dropped).
    pub forwarded: u64,
    /// Requests the wrapped client failed (endpoint unreachable, connection broken): real faults,
    /// not injected.
    pub upstream_errors: u64,
    /// Faults injected, by kind.
    pub injected: BTreeMap<FaultKind, u64>,
    /// Requests per operation (`PutItem`, `BatchImportFindings`): the sends of one call, retries
    /// included.
    pub operations: BTreeMap<String, u64>,
}

impl FaultStats {
    /// One service's counters; `None` before its first request.
    pub fn service(&self, service: Service) -> Option<&ServiceStats> {
        self.services.get(&service)
    }

    /// Requests sent to `service` (every SDK attempt).
    pub fn requests(&self, service: Service) -> u64 {
        self.service(service).map_or(0, |s| s.requests)
    }

    /// Requests to `service` the wrapped client answered.
    pub fn forwarded(&self, service: Service) -> u64 {
        self.service(service).map_or(0, |s| s.forwarded)
    }

    /// Faults of `kind` injected into `service`'s requests.
    pub fn injected(&self, service: Service, kind: FaultKind) -> u64 {
        self.service(service).map_or(0, |s| s.injected_of(kind))
    }

    /// All faults injected, over every service and kind.
    pub fn total_injected(&self) -> u64 {
        self.services
            .values()
            .map(ServiceStats::total_injected)
            .sum()
    }

    /// Requests sent, over every service.
    pub fn total_requests(&self) -> u64 {
        self.services.values().map(|s| s.requests).sum()
    }

    /// Requests of one operation, over its attempts.
    pub fn operation(&self, service: Service, operation: &str) -> u64 {
        self.service(service)
            .and_then(|s| s.operations.get(operation))
            .copied()
            .unwrap_or(0)
    }

    pub(crate) fn record_request(
        &mut self,
        service: Service,
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

    pub(crate) fn record_forwarded(&mut self, service: Service) {
        self.entry(service).forwarded += 1;
    }

    pub(crate) fn record_upstream_error(&mut self, service: Service) {
        self.entry(service).upstream_errors += 1;
    }

    fn entry(&mut self, service: Service) -> &mut ServiceStats {
        self.services.entry(service).or_default()
    }
}

impl ServiceStats {
    /// Faults of `kind` injected.
    pub fn injected_of(&self, kind: FaultKind) -> u64 {
        self.injected.get(&kind).copied().unwrap_or(0)
    }

    /// Faults injected, every kind.
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
        stats.record_request(Service::DynamoDb, "PutItem", None);
        stats.record_forwarded(Service::DynamoDb);
        stats.record_request(Service::DynamoDb, "PutItem", Some(FaultKind::Throttle));
        stats.record_request(Service::Ecs, "ListTasks", Some(FaultKind::DropAfterApply));
        stats.record_upstream_error(Service::Ecs);

        assert_eq!(stats.requests(Service::DynamoDb), 2);
        assert_eq!(stats.forwarded(Service::DynamoDb), 1);
        assert_eq!(stats.injected(Service::DynamoDb, FaultKind::Throttle), 1);
        assert_eq!(stats.injected(Service::DynamoDb, FaultKind::ServerError), 0);
        assert_eq!(stats.requests(Service::SecurityHub), 0);
        assert_eq!(stats.operation(Service::DynamoDb, "PutItem"), 2);
        assert_eq!((stats.total_requests(), stats.total_injected()), (3, 2));

        let json = serde_json::to_value(&stats).unwrap();
        assert_eq!(json["dynamodb"]["operations"]["PutItem"], 2);
        assert_eq!(json["dynamodb"]["injected"]["Throttle"], 1);
        assert_eq!(json["ecs"]["upstream_errors"], 1);
    }
}
