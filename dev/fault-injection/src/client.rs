//! The decorator: an [`HttpClient`] per service that wraps the SDK's own client, draws each
//! attempt's fault from the shared plan, and answers, delays, forwards or fails the attempt.

use crate::Service;
use crate::plan::{FaultKind, FaultPlan, FaultSampler};
use crate::service;
use crate::stats::FaultStats;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse, Metadata};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_runtime_api::shared::IntoShared;
use aws_smithy_types::byte_stream::ByteStream;
use aws_smithy_types::config_bag::ConfigBag;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Marks an injected response (its value is the [`FaultKind`]), for people reading a capture; the
/// SDK ignores it. A forwarded response (no fault, or [`FaultKind::Latency`]) never has it.
pub const FAULT_HEADER: &str = "x-vigil-fault";

/// The plan, the random sequence and the stats, shared by the HTTP clients it hands out: one per
/// service client, all drawing from one sequence. Cloning shares them.
#[derive(Debug, Clone)]
pub struct FaultInjector {
    shared: Arc<Shared>,
    inner: SharedHttpClient,
}

#[derive(Debug)]
struct Shared {
    sampler: Mutex<FaultSampler>,
    stats: Mutex<FaultStats>,
    next_request_id: AtomicU64,
}

impl FaultInjector {
    /// Wraps the SDK's default HTTPS client (hyper 1.x, rustls with aws-lc), as a service client
    /// built with `default-https-client` and no client of its own would use, except that it
    /// ignores `HTTP(S)_PROXY` (the SDK's default reads them): the tests talk to loopback only.
    pub fn new(plan: FaultPlan) -> FaultInjector {
        let default = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .build_https();
        FaultInjector::wrapping(default, plan)
    }

    /// Wraps `inner` instead (e.g. `SdkConfig::http_client()`, or a fake in a test).
    pub fn wrapping(inner: impl HttpClient + 'static, plan: FaultPlan) -> FaultInjector {
        FaultInjector {
            shared: Arc::new(Shared {
                sampler: Mutex::new(plan.sampler()),
                stats: Mutex::default(),
                next_request_id: AtomicU64::new(1),
            }),
            inner: inner.into_shared(),
        }
    }

    /// The HTTP client for `service`'s SDK client (`aws_sdk_dynamodb::config::Builder::http_client`).
    pub fn http_client(&self, service: Service) -> SharedHttpClient {
        FaultyClient {
            service,
            injector: self.clone(),
        }
        .into_shared()
    }

    /// Names each request's operation (`PutItem`) for [`FaultStats`], from the SDK's own operation
    /// metadata; install it beside [`Self::http_client`] (`config::Builder::interceptor`), as the
    /// client constructors below do. Without it requests are counted as `METHOD URI`.
    pub fn operation_names(&self) -> OperationNames {
        OperationNames
    }

    /// Replaces the plan for the requests that follow (e.g. no faults for a final drain); the
    /// random sequence restarts from the new plan's seed.
    pub fn set_plan(&self, plan: FaultPlan) {
        *lock(&self.shared.sampler) = plan.sampler();
    }

    /// The plan in force.
    pub fn plan(&self) -> FaultPlan {
        lock(&self.shared.sampler).plan().clone()
    }

    /// What was injected and requested so far, every client of this injector together.
    pub fn stats(&self) -> FaultStats {
        lock(&self.shared.stats).clone()
    }

    /// Starts the counts again from zero.
    pub fn reset_stats(&self) {
        *lock(&self.shared.stats) = FaultStats::default();
    }
}

/// `FaultInjector::$method(&sdk_config)`: the service's SDK client with the decorator and the
/// operation names installed, everything else from `sdk_config`. `FaultInjector::$config(&sdk_config)`:
/// the same before it is built, for the constructor that sets the rest (as the functions' clients
/// set their SDK retry).
macro_rules! service_clients {
    ($($method:ident, $config:ident: $sdk:ident, $service:expr;)*) => {
        impl FaultInjector {
            $(
                #[doc = concat!(
                    "The `", stringify!($sdk), "` client configuration on `sdk_config`, with this \
                     injector's faults, before it is built."
                )]
                pub fn $config(&self, sdk_config: &aws_config::SdkConfig) -> $sdk::config::Builder {
                    $sdk::config::Builder::from(sdk_config)
                        .http_client(self.http_client($service))
                        .interceptor(self.operation_names())
                }

                #[doc = concat!(
                    "An `", stringify!($sdk), "` client on `sdk_config`, with this injector's faults."
                )]
                pub fn $method(&self, sdk_config: &aws_config::SdkConfig) -> $sdk::Client {
                    $sdk::Client::from_conf(self.$config(sdk_config).build())
                }
            )*
        }
    };
}

service_clients! {
    dynamodb, dynamodb_config: aws_sdk_dynamodb, Service::DynamoDb;
    ecs, ecs_config: aws_sdk_ecs, Service::Ecs;
    eventbridge, eventbridge_config: aws_sdk_eventbridge, Service::EventBridge;
    securityhub, securityhub_config: aws_sdk_securityhub, Service::SecurityHub;
    sqs, sqs_config: aws_sdk_sqs, Service::Sqs;
}

/// A poisoned lock only means another request panicked mid-update of plain counters or an RNG;
/// carrying on beats failing every later request.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The [`HttpClient`] of one service's SDK client.
#[derive(Debug)]
struct FaultyClient {
    service: Service,
    injector: FaultInjector,
}

impl HttpClient for FaultyClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(FaultyConnector {
            service: self.service,
            shared: Arc::clone(&self.injector.shared),
            inner: self.injector.inner.http_connector(settings, components),
        })
    }

    fn validate_base_client_config(
        &self,
        components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.injector
            .inner
            .validate_base_client_config(components, cfg)
    }

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.injector.inner.validate_final_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.injector.inner.connector_metadata()
    }
}

#[derive(Debug)]
struct FaultyConnector {
    service: Service,
    shared: Arc<Shared>,
    inner: SharedHttpConnector,
}

/// The operation's name, put on the request by [`OperationNames`].
#[derive(Debug, Clone)]
struct OperationName(String);

/// See [`FaultInjector::operation_names`].
#[derive(Debug, Clone, Copy)]
pub struct OperationNames;

impl Intercept for OperationNames {
    fn name(&self) -> &'static str {
        "vigil-fault-injection operation names"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>() {
            let name = OperationName(metadata.name().to_owned());
            context.request_mut().add_extension(name);
        }
        Ok(())
    }
}

impl HttpConnector for FaultyConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let operation = match request.extension::<OperationName>() {
            Some(OperationName(name)) => name.clone(),
            None => format!("{} {}", request.method(), request.uri()),
        };
        // Drawn when the attempt is sent, so the sequence follows the order of sends.
        let fault = lock(&self.shared.sampler).draw(self.service);
        lock(&self.shared.stats).record_request(self.service, &operation, fault.map(|f| f.kind));
        let (service, shared, inner) = (self.service, Arc::clone(&self.shared), self.inner.clone());
        HttpConnectorFuture::new(async move {
            let Some(fault) = fault else {
                return shared.forward(service, &inner, request).await;
            };
            let request_id = format!(
                "vigil-fault-{}",
                shared.next_request_id.fetch_add(1, Ordering::Relaxed)
            );
            let mut response = match fault.kind {
                FaultKind::Latency => {
                    tokio::time::sleep(fault.delay).await;
                    return shared.forward(service, &inner, request).await;
                }
                FaultKind::ServerError => {
                    service::server_error(service, fault.alternate, &request_id)
                }
                FaultKind::Throttle => service::throttle(service, fault.alternate, &request_id),
                FaultKind::DropBeforeApply => return Err(dropped(fault.kind)),
                FaultKind::ServerErrorAfterApply => {
                    shared.apply(service, &inner, request).await;
                    service::server_error(service, false, &request_id)
                }
                FaultKind::DropAfterApply => {
                    shared.apply(service, &inner, request).await;
                    return Err(dropped(fault.kind));
                }
            };
            response
                .headers_mut()
                .insert(FAULT_HEADER, fault.kind.as_str());
            Ok(response)
        })
    }
}

/// What the SDK sees when a connection closes without a response: an I/O error, which its retry
/// strategy treats as transient.
fn dropped(kind: FaultKind) -> ConnectorError {
    let reason = format!("connection closed without a response (injected {kind:?})");
    ConnectorError::io(io::Error::new(io::ErrorKind::ConnectionReset, reason).into())
}

impl Shared {
    async fn forward(
        &self,
        service: Service,
        inner: &SharedHttpConnector,
        request: HttpRequest,
    ) -> Result<HttpResponse, ConnectorError> {
        let result = inner.call(request).await;
        let mut stats = lock(&self.stats);
        match &result {
            Ok(_) => stats.record_forwarded(service),
            Err(_) => stats.record_upstream_error(service),
        }
        result
    }

    /// Forwards and reads the whole response, so the request has been applied when this returns;
    /// the response itself is discarded.
    async fn apply(&self, service: Service, inner: &SharedHttpConnector, request: HttpRequest) {
        if let Ok(response) = self.forward(service, inner, request).await {
            let _ = ByteStream::new(response.into_body()).collect().await;
        }
    }
}
