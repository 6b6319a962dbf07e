//! A fake AWS behind the injector: an HTTP client that answers every request `200 {}` and counts
//! them, so a test sees what reached "the service" and what the injector answered itself.

#![allow(dead_code)]

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use vigil_fault_injection::{FaultInjector, FaultPlan};

#[derive(Debug, Clone, Default)]
pub struct Upstream {
    received: Arc<AtomicUsize>,
}

impl Upstream {
    pub fn count(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }
}

impl HttpClient for Upstream {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl HttpConnector for Upstream {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        self.received.fetch_add(1, Ordering::SeqCst);
        let ok = 200.try_into().expect("a status");
        let mut response = HttpResponse::new(ok, SdkBody::from("{}"));
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        HttpConnectorFuture::ready(Ok(response))
    }
}

/// An injector with `plan` in front of a fresh [`Upstream`].
pub fn injector(plan: FaultPlan) -> (Upstream, FaultInjector) {
    let upstream = Upstream::default();
    let faults = FaultInjector::wrapping(upstream.clone(), plan);
    (upstream, faults)
}

/// Static credentials and region; the endpoint is never dialled (the [`Upstream`] answers).
pub async fn sdk_config(retry: RetryConfig) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url("http://127.0.0.1:9")
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "fault-injection-test",
        ))
        .retry_config(retry)
        .load()
        .await
}
