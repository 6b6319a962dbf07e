//! Maps a canonical Finding to an AWS Security Finding Format record for `BatchImportFindings`.
//!
//! - [`model`]: the ASFF record as Security Hub's JSON names it (what `vigil asff` prints).
//! - [`limits`]: Security Hub's documented field limits.
//! - [`mapping`]: Finding → record, every string capped on a UTF-8 boundary, the 240 KB limit enforced.

#![warn(missing_docs)]

pub mod limits;
mod mapping;
pub mod model;

pub use mapping::{
    AsffError, History, MappingContext, finding_id, finding_types, guardduty_finding_ref,
    guardduty_ref, product_arn, securityhub_ref, sequence_resources, to_asff, to_asff_enriched,
    to_asff_with_history,
};
pub use model::{AsffFinding, ProductFieldMap};
