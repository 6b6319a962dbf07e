//! The subset of `AwsSecurityFinding` Vigil writes, with Security Hub's JSON field names.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One ASFF finding (`AwsSecurityFinding`), serialized with Security Hub's PascalCase names.
/// Times are RFC 3339 UTC strings with milliseconds (`2026-01-01T00:00:00.000Z`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffFinding {
    /// `SchemaVersion`: always [`crate::limits::SCHEMA_VERSION`].
    pub schema_version: String,
    /// `Id`: `vigil-<fingerprint>`, unique per product and region.
    pub id: String,
    /// `ProductArn`: `arn:<partition>:securityhub:<region>:<account>:product/<account>/default`.
    pub product_arn: String,
    /// `ProductName`: `Vigil`.
    pub product_name: String,
    /// `CompanyName`: `Vigil`.
    pub company_name: String,
    /// `Region`: the finding's AWS region.
    pub region: String,
    /// `GeneratorId`: `vigil/<source>/<rule>`.
    pub generator_id: String,
    /// `AwsAccountId`: the 12-digit account the workload runs in.
    pub aws_account_id: String,
    /// `Types`: `namespace/category/classifier` paths (e.g. `TTPs/Execution/…`).
    pub types: Vec<String>,
    /// `FirstObservedAt`.
    pub first_observed_at: String,
    /// `LastObservedAt`.
    pub last_observed_at: String,
    /// `CreatedAt`: equal to `FirstObservedAt`.
    pub created_at: String,
    /// `UpdatedAt`: never earlier than `LastObservedAt` nor the last confirmed import's.
    pub updated_at: String,
    /// `Severity`.
    pub severity: AsffSeverity,
    /// `Title`.
    pub title: String,
    /// `Description`.
    pub description: String,
    /// `ProductFields`: Vigil's own fields (source, rule, provenance, …), string → string.
    pub product_fields: BTreeMap<String, String>,
    /// `Resources`: the workload's cluster, task, containers (and service, task definition when enriched).
    pub resources: Vec<AsffResource>,
    /// `Process`, when the finding names one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub process: Option<AsffProcess>,
    /// `Network`, when the finding names a connection.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub network: Option<AsffNetwork>,
    /// `RecordState`: `ACTIVE`.
    pub record_state: String,
}

/// ASFF `Severity`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffSeverity {
    /// `Label`: `INFORMATIONAL`, `LOW`, `MEDIUM`, `HIGH` or `CRITICAL`.
    pub label: String,
    /// `Normalized`: 0–100, inside the label's band.
    pub normalized: u8,
    /// `Original`: the source's own value; the label when the source gave none.
    pub original: String,
}

/// One ASFF `Resources[]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffResource {
    /// `Type` (`AwsEcsCluster`, `AwsEcsTask`, `Container`, `AwsEcsService`, …).
    #[serde(rename = "Type")]
    pub resource_type: String,
    /// `Id`: the resource's ARN, or another identifier where it has none (a container).
    pub id: String,
    /// `Partition`: `aws`, `aws-cn` or `aws-us-gov`.
    pub partition: String,
    /// `Region`.
    pub region: String,
    /// `Tags`, key → value; omitted when empty.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub tags: BTreeMap<String, String>,
    /// `Details`: a JSON object keyed by the details type (e.g. `{"AwsEcsTask": {…}}`, `{"Other": {…}}`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub details: Option<serde_json::Value>,
}

/// ASFF `Process`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffProcess {
    /// `Name`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    /// `Path`: the executable's path.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub path: Option<String>,
    /// `Pid`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pid: Option<i32>,
    /// `ParentPid`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub parent_pid: Option<i32>,
}

/// ASFF `Network`: source is the peer that opened the connection, destination the one it reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffNetwork {
    /// `Direction`: `IN` or `OUT`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub direction: Option<String>,
    /// `Protocol` (e.g. `tcp`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub protocol: Option<String>,
    #[serde(
        rename = "SourceIpV4",
        skip_serializing_if = "Option::is_none",
        default
    )]
    /// `SourceIpV4`.
    pub source_ip_v4: Option<String>,
    #[serde(
        rename = "SourceIpV6",
        skip_serializing_if = "Option::is_none",
        default
    )]
    /// `SourceIpV6`.
    pub source_ip_v6: Option<String>,
    /// `SourcePort`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source_port: Option<u16>,
    #[serde(
        rename = "DestinationIpV4",
        skip_serializing_if = "Option::is_none",
        default
    )]
    /// `DestinationIpV4`.
    pub destination_ip_v4: Option<String>,
    #[serde(
        rename = "DestinationIpV6",
        skip_serializing_if = "Option::is_none",
        default
    )]
    /// `DestinationIpV6`.
    pub destination_ip_v6: Option<String>,
    /// `DestinationPort`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub destination_port: Option<u16>,
    /// `DestinationDomain`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub destination_domain: Option<String>,
}
