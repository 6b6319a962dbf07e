//! Fault injection for reliability tests, as an HTTP client of the AWS SDK.
//!
//! [`FaultInjector::http_client`] wraps the SDK's own HTTP client for one service's SDK client
//! (`aws_sdk_dynamodb::config::Builder::from(&sdk_config).http_client(...)`), so the service of
//! every request is known. Per service and at a chosen rate it answers with a 500/503 or the
//! service's own throttling error, adds latency, or fails the attempt as a dropped connection:
//! before the request is sent, or after it was sent and applied and only its response is lost.
//!
//! Why: the functions must finish their job exactly once when a downstream call fails, and the
//! hardest case, a write that was applied but whose response never arrived, cannot be produced by
//! the emulator alone. Injected errors use each service's wire protocol, so the SDK parses and
//! retries them as it would AWS's. Faults come from a seeded random sequence, so a failing run can
//! be replayed, and [`FaultStats`] shows what was injected and counts every attempt per operation.
//!
//! ```no_run
//! # async fn example(sdk_config: &aws_config::SdkConfig) {
//! use vigil_fault_injection::{FaultInjector, FaultKind, FaultPlan, FaultRates, Service};
//!
//! let plan = FaultPlan::uniform(0.2, 42)
//!     .service(Service::SecurityHub, FaultRates::always(FaultKind::ServerError));
//! let faults = FaultInjector::new(plan);
//! // What `faults.dynamodb(sdk_config)` builds:
//! let dynamodb = aws_sdk_dynamodb::Client::from_conf(
//!     aws_sdk_dynamodb::config::Builder::from(sdk_config)
//!         .http_client(faults.http_client(Service::DynamoDb))
//!         .interceptor(faults.operation_names())
//!         .build(),
//! );
//! // ... run the handlers with such clients ...
//! faults.set_plan(FaultPlan::none()); // drain without faults
//! println!("{}", serde_json::to_string(&faults.stats()).unwrap_or_default());
//! # }
//! ```

#![warn(missing_docs)]

mod client;
mod plan;
mod service;
mod stats;

pub use client::{FAULT_HEADER, FaultInjector, OperationNames};
pub use plan::{Fault, FaultKind, FaultPlan, FaultRates, FaultSampler};
pub use service::Service;
pub use stats::{FaultStats, ServiceStats};
