//! The AWS API emulator for integration tests and local runs: `moto_server` started through the
//! project's launcher (`python/vigil_emulator.py`, which patches the gaps listed in its header) on a free
//! loopback port, with SDK configuration pointing at it and resources provisioned under the names and
//! key schema that `infra/template.yaml` uses.
//!
//! A missing Python or moto is a loud failure naming the install command, never a skip.

#![warn(missing_docs)]

mod ecs;
mod emulator;
pub mod events;
mod provision;

pub use emulator::{ApiCalls, Emulator};
pub use provision::{BUS_NAME, BusTap, TABLE_NAME};
