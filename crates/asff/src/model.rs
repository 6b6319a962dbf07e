//! The subset of `AwsSecurityFinding` Vigil writes, with Security Hub's JSON field names.
//!
//! Resource details are typed ([`AsffDetails`]): each serializes exactly as the JSON object Security
//! Hub documents for it, fields in name order. Constant values (the schema version, names, labels,
//! resource types, partitions, product field keys) are [`Text`] that borrows them, so a record costs
//! no allocation for what it always says.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::{Borrow, Cow};
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;

/// A string of the record: borrowed when it is one of Vigil's constants, owned otherwise.
/// Serializes as a plain JSON string and reads like a `&str` (`as_str`, `==`, `Deref`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Text(Cow<'static, str>);

impl Text {
    /// A constant, borrowed.
    pub const fn constant(s: &'static str) -> Self {
        Text(Cow::Borrowed(s))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text as an owned `String` (a copy when borrowed).
    pub fn into_string(self) -> String {
        self.0.into_owned()
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&'static str> for Text {
    fn from(s: &'static str) -> Self {
        Text(Cow::Borrowed(s))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(Cow::Owned(s))
    }
}

impl From<&Text> for String {
    fn from(t: &Text) -> Self {
        t.0.clone().into_owned()
    }
}

impl From<Text> for String {
    fn from(t: Text) -> Self {
        t.into_string()
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Text::from)
    }
}

/// One ASFF finding (`AwsSecurityFinding`), serialized with Security Hub's PascalCase names.
/// Times are RFC 3339 UTC strings with milliseconds (`2026-01-01T00:00:00.000Z`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffFinding {
    /// `SchemaVersion`: always [`crate::limits::SCHEMA_VERSION`].
    pub schema_version: Text,
    /// `Id`: `vigil-<fingerprint>`, unique per product and region.
    pub id: String,
    /// `ProductArn`: `arn:<partition>:securityhub:<region>:<account>:product/<account>/default`.
    pub product_arn: String,
    /// `ProductName`: `Vigil`.
    pub product_name: Text,
    /// `CompanyName`: `Vigil`.
    pub company_name: Text,
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
    pub product_fields: BTreeMap<Text, String>,
    /// `Resources`: the workload's cluster, task, containers (and service, task definition when enriched).
    pub resources: Vec<AsffResource>,
    /// `Process`, when the finding names one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub process: Option<AsffProcess>,
    /// `Network`, when the finding names a connection.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub network: Option<AsffNetwork>,
    /// `RecordState`: `ACTIVE`.
    pub record_state: Text,
}

/// ASFF `Severity`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffSeverity {
    /// `Label`: `INFORMATIONAL`, `LOW`, `MEDIUM`, `HIGH` or `CRITICAL`.
    pub label: Text,
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
    pub resource_type: Text,
    /// `Id`: the resource's ARN, or another identifier where it has none (a container).
    pub id: String,
    /// `Partition`: `aws`, `aws-cn` or `aws-us-gov`.
    pub partition: Text,
    /// `Region`.
    pub region: String,
    /// `Tags`, key → value; omitted when empty.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub tags: BTreeMap<String, String>,
    /// `Details`: an object keyed by the details type (e.g. `{"AwsEcsTask": {…}}`, `{"Other": {…}}`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub details: Option<AsffDetails>,
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
    pub direction: Option<Text>,
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

/// A resource's `Details`: one key, the details type, holding its object. Vigil writes the typed
/// variants; a record read back from JSON keeps its details as they were written
/// ([`AsffDetails::Json`]), whatever their shape.
///
/// Every typed object serializes its fields in name order, absent ones omitted: the same bytes as
/// the JSON object built field by field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum AsffDetails {
    /// `{"AwsEcsTask": {…}}`.
    AwsEcsTask(EcsTaskDetails),
    /// `{"AwsEcsCluster": {…}}`.
    AwsEcsCluster(EcsClusterDetails),
    /// `{"AwsEcsService": {…}}`.
    AwsEcsService(EcsServiceDetails),
    /// `{"AwsEcsTaskDefinition": {…}}`.
    AwsEcsTaskDefinition(EcsTaskDefinitionDetails),
    /// `{"Container": {…}}`.
    Container(ContainerDetails),
    /// `{"AwsIamUser": {…}}`.
    AwsIamUser(IamUserDetails),
    /// `{"Other": {…}}`: Security Hub's free-form string map.
    Other(BTreeMap<Text, String>),
    /// Details as read from JSON (a record not built by the mapping), kept verbatim.
    #[serde(untagged)]
    Json(serde_json::Value),
}

impl<'de> Deserialize<'de> for AsffDetails {
    /// Keeps whatever JSON was written as [`AsffDetails::Json`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(deserializer).map(AsffDetails::Json)
    }
}

impl AsffDetails {
    /// The details as a JSON value, as they serialize.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// `AwsEcsTaskDetails`, the fields Vigil writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EcsTaskDetails {
    /// `ClusterArn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    /// `Group` (`service:<name>`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `StartedBy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    /// `TaskDefinitionArn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
}

/// `AwsEcsClusterDetails`, the fields Vigil writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EcsClusterDetails {
    /// `ClusterArn`.
    pub cluster_arn: String,
    /// `ClusterName`.
    pub cluster_name: String,
}

/// `AwsEcsServiceDetails`, the fields Vigil writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EcsServiceDetails {
    /// `Cluster`: the cluster's ARN.
    pub cluster: String,
    /// `Name`.
    pub name: String,
    /// `ServiceArn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_arn: Option<String>,
    /// `TaskDefinition`: the task definition's ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
}

/// `AwsEcsTaskDefinitionDetails`, the fields Vigil writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EcsTaskDefinitionDetails {
    /// `ContainerDefinitions`.
    pub container_definitions: Vec<EcsContainerDefinition>,
    /// `Family`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// `TaskRoleArn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
}

/// One of `AwsEcsTaskDefinitionDetails.ContainerDefinitions`, the fields Vigil writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EcsContainerDefinition {
    /// `Image`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `Name`.
    pub name: String,
    /// `Privileged`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// `ReadonlyRootFilesystem`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readonly_root_filesystem: Option<bool>,
    /// `User`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// `ContainerDetails`, the fields Vigil writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerDetails {
    /// `ImageId`: the image digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// `ImageName`: the image reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_name: Option<String>,
    /// `Name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `Privileged`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
}

/// `AwsIamUserDetails`, the fields Vigil writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IamUserDetails {
    /// `UserName`.
    pub user_name: String,
}
