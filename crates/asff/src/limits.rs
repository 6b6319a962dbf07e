//! Security Hub's documented ASFF limits (BatchImportFindings API reference and ASFF syntax page).

/// ASFF `SchemaVersion`: the only version Security Hub accepts.
pub const SCHEMA_VERSION: &str = "2018-10-08";
/// `Id`, in characters.
pub const MAX_ID: usize = 512;
/// `GeneratorId`, in characters.
pub const MAX_GENERATOR_ID: usize = 512;
/// `Title`, in characters.
pub const MAX_TITLE: usize = 256;
/// `Description`, in characters.
pub const MAX_DESCRIPTION: usize = 1024;
/// Entries of `Types`.
pub const MAX_TYPES: usize = 50;
/// One `Types` entry (`namespace/category/classifier`), in characters.
pub const MAX_TYPE: usize = 256;
/// Entries of `ProductFields`.
pub const MAX_PRODUCT_FIELDS: usize = 50;
/// A `ProductFields` key, in characters.
pub const MAX_PRODUCT_FIELD_KEY: usize = 128;
/// A `ProductFields` value, in characters.
pub const MAX_PRODUCT_FIELD_VALUE: usize = 2048;
/// Entries of `Resources`.
pub const MAX_RESOURCES: usize = 32;
/// `Resources[].Id`, in characters.
pub const MAX_RESOURCE_ID: usize = 512;
/// A `Resources[].Tags` value, in characters.
pub const MAX_RESOURCE_TAG_VALUE: usize = 256;
/// Entries of `Resources[].Tags`.
pub const MAX_RESOURCE_TAGS: usize = 50;
/// `Process.Name`, in characters.
pub const MAX_PROCESS_NAME: usize = 64;
/// `Process.Path`, in characters.
pub const MAX_PROCESS_PATH: usize = 512;
/// `Severity.Original`, in characters.
pub const MAX_SEVERITY_ORIGINAL: usize = 64;
/// `Network.Protocol`, in characters.
pub const MAX_NETWORK_PROTOCOL: usize = 16;
/// `Network.DestinationDomain`.
pub const MAX_NETWORK_DOMAIN: usize = 128;
/// Other strings in resource `Details`, in characters.
pub const MAX_GENERIC_STRING: usize = 256;
/// A value of a resource's `Details.Other` map.
pub const MAX_OTHER_DETAIL_VALUE: usize = 1024;
/// The largest single finding BatchImportFindings accepts.
pub const MAX_FINDING_BYTES: usize = 240 * 1024;
/// Findings per BatchImportFindings call.
pub const MAX_FINDINGS_PER_CALL: usize = 100;
