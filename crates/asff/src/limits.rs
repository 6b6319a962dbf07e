//! Security Hub's documented ASFF limits (BatchImportFindings API reference and ASFF syntax page).

pub const SCHEMA_VERSION: &str = "2018-10-08";
pub const MAX_ID: usize = 512;
pub const MAX_GENERATOR_ID: usize = 512;
pub const MAX_TITLE: usize = 256;
pub const MAX_DESCRIPTION: usize = 1024;
pub const MAX_TYPES: usize = 50;
pub const MAX_TYPE: usize = 256;
pub const MAX_PRODUCT_FIELDS: usize = 50;
pub const MAX_PRODUCT_FIELD_KEY: usize = 128;
pub const MAX_PRODUCT_FIELD_VALUE: usize = 2048;
pub const MAX_RESOURCES: usize = 32;
pub const MAX_RESOURCE_ID: usize = 512;
pub const MAX_RESOURCE_TAG_VALUE: usize = 256;
pub const MAX_RESOURCE_TAGS: usize = 50;
pub const MAX_PROCESS_NAME: usize = 64;
pub const MAX_PROCESS_PATH: usize = 512;
pub const MAX_SEVERITY_ORIGINAL: usize = 64;
pub const MAX_NETWORK_PROTOCOL: usize = 16;
/// `Network.DestinationDomain`.
pub const MAX_NETWORK_DOMAIN: usize = 128;
pub const MAX_GENERIC_STRING: usize = 256;
/// A value of a resource's `Details.Other` map.
pub const MAX_OTHER_DETAIL_VALUE: usize = 1024;
/// The largest single finding BatchImportFindings accepts.
pub const MAX_FINDING_BYTES: usize = 240 * 1024;
/// Findings per BatchImportFindings call.
pub const MAX_FINDINGS_PER_CALL: usize = 100;
