//! The subset of `AwsSecurityFinding` Vigil writes, with Security Hub's JSON field names.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffFinding {
    pub schema_version: String,
    pub id: String,
    pub product_arn: String,
    pub product_name: String,
    pub company_name: String,
    pub region: String,
    pub generator_id: String,
    pub aws_account_id: String,
    pub types: Vec<String>,
    pub first_observed_at: String,
    pub last_observed_at: String,
    pub created_at: String,
    pub updated_at: String,
    pub severity: AsffSeverity,
    pub title: String,
    pub description: String,
    pub product_fields: BTreeMap<String, String>,
    pub resources: Vec<AsffResource>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub process: Option<AsffProcess>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub network: Option<AsffNetwork>,
    pub record_state: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffSeverity {
    pub label: String,
    pub normalized: u8,
    pub original: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffResource {
    #[serde(rename = "Type")]
    pub resource_type: String,
    pub id: String,
    pub partition: String,
    pub region: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub tags: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub details: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffProcess {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pid: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub parent_pid: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffNetwork {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub direction: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub protocol: Option<String>,
    #[serde(
        rename = "SourceIpV4",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub source_ip_v4: Option<String>,
    #[serde(
        rename = "SourceIpV6",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub source_ip_v6: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source_port: Option<u16>,
    #[serde(
        rename = "DestinationIpV4",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub destination_ip_v4: Option<String>,
    #[serde(
        rename = "DestinationIpV6",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub destination_ip_v6: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub destination_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub destination_domain: Option<String>,
}
