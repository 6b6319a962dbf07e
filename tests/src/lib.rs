//! The tests of the whole pipeline live in `tests/`; this library is what they share: one
//! test-pipeline builder ([`Pipeline`]: the emulator, the three functions' handlers, taps on the bus)
//! and its helpers; [`accounts`]: a central Vigil and its member accounts on one emulator. Events come from the one event builder, [`vigil_testkit::events::FalcoAlert`].

#![warn(missing_docs)]

pub mod accounts;
pub mod pipeline;
pub mod queue;
pub mod sequence;

pub use pipeline::*;
pub use sequence::AttackSequence;
