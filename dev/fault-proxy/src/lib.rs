//! A fault-injecting HTTP proxy for reliability tests.
//!
//! It sits on loopback between the AWS SDK clients of the Lambda handlers and the AWS API emulator
//! (`endpoint_url(proxy.endpoint())`) and, per service and at a chosen rate, answers with a 500/503
//! or the service's own throttling error, adds latency, or drops the connection: before the request
//! reaches the emulator, or after it was applied there and only its response is lost.
//!
//! Why: the functions must finish their job exactly once when a downstream call fails, and the
//! hardest case, a write that was applied but whose response never arrived, cannot be produced by
//! the emulator alone. Injected errors use each service's wire protocol, so the SDK parses and
//! retries them as it would AWS's. Faults come from a seeded random sequence, so a failing run can
//! be replayed, and [`FaultStats`] shows what was injected.
//!
//! ```no_run
//! # async fn example(emulator_endpoint: &str) -> std::io::Result<()> {
//! use vigil_fault_proxy::{FaultKind, FaultPlan, FaultProxy, FaultRates};
//!
//! let plan = FaultPlan::uniform(0.2, 42)
//!     .service("securityhub", FaultRates::always(FaultKind::ServerError));
//! let proxy = FaultProxy::start(emulator_endpoint, plan)?;
//! // ... point the SDK clients at proxy.endpoint() and run the handlers ...
//! proxy.set_plan(FaultPlan::none()); // drain without faults
//! println!("{}", serde_json::to_string(&proxy.stats()).unwrap_or_default());
//! # Ok(()) }
//! ```

mod classify;
mod plan;
mod proxy;
mod response;
mod stats;

pub use classify::{Target, UNKNOWN_SERVICE, classify};
pub use plan::{Fault, FaultKind, FaultPlan, FaultRates, FaultSampler};
pub use proxy::{FAULT_HEADER, FaultProxy};
pub use stats::{FaultStats, ServiceStats};
