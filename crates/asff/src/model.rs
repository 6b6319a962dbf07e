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

/// A string of the record: borrowed from the finding it was mapped from (or one of Vigil's
/// constants) when it needed no change, owned otherwise. Serializes as a plain JSON string and
/// reads like a `&str` (`as_str`, `==`, `Deref`). [`AsffFinding::into_owned`] detaches a record
/// from its finding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Text<'a>(Cow<'a, str>);

impl<'a> Text<'a> {
    /// A constant, borrowed.
    pub const fn constant(s: &'static str) -> Self {
        Text(Cow::Borrowed(s))
    }

    /// Borrows `s`.
    pub const fn borrowed(s: &'a str) -> Self {
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

    /// The same text, owned (a copy when borrowed, except for constants' borrows, which are
    /// copied too: a `Text` does not know where it borrows from).
    pub fn into_owned(self) -> Text<'static> {
        Text(Cow::Owned(self.0.into_owned()))
    }
}

impl<'a> From<Cow<'a, str>> for Text<'a> {
    fn from(s: Cow<'a, str>) -> Self {
        Text(s)
    }
}

impl Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Text<'_> {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(s: &'a str) -> Self {
        Text(Cow::Borrowed(s))
    }
}

impl From<String> for Text<'_> {
    fn from(s: String) -> Self {
        Text(Cow::Owned(s))
    }
}

impl From<&Text<'_>> for String {
    fn from(t: &Text<'_>) -> Self {
        t.0.clone().into_owned()
    }
}

impl From<Text<'_>> for String {
    fn from(t: Text<'_>) -> Self {
        t.into_string()
    }
}

impl PartialEq<str> for Text<'_> {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Text<'_> {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for Text<'_> {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<Text<'_>> for String {
    fn eq(&self, other: &Text<'_>) -> bool {
        **self == *other.0
    }
}

impl PartialEq<Text<'_>> for &str {
    fn eq(&self, other: &Text<'_>) -> bool {
        **self == *other.0
    }
}

impl Serialize for Text<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Text<'_> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Text::from)
    }
}

/// `ProductFields`: key → value, sorted by key with each key once, as a JSON object. A sorted
/// list, not a `BTreeMap`: the mapping writes its fixed keys in order, so the record costs one
/// allocation for them instead of a tree built by sorting them again.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProductFieldMap<'a>(Vec<(Text<'a>, Text<'a>)>);

impl<'a> ProductFieldMap<'a> {
    /// The map of `entries`, sorted by key; of entries with one key, the last is kept (as
    /// collecting them into a map would).
    pub fn from_entries(mut entries: Vec<(Text<'a>, Text<'a>)>) -> Self {
        // Stable, so that equal keys keep their order and the last of them can be kept.
        if !entries.is_sorted_by(|a, b| a.0 < b.0) {
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut kept: Vec<(Text<'a>, Text<'a>)> = Vec::with_capacity(entries.len());
            for e in entries {
                match kept.last_mut() {
                    Some(last) if last.0 == e.0 => *last = e,
                    _ => kept.push(e),
                }
            }
            entries = kept;
        }
        ProductFieldMap(entries)
    }

    /// The map of `entries` already sorted by key, each key once (the mapping's fixed keys).
    pub(crate) fn from_sorted(entries: Vec<(Text<'a>, Text<'a>)>) -> Self {
        debug_assert!(entries.is_sorted_by(|a, b| a.0 < b.0));
        ProductFieldMap(entries)
    }

    /// How many fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Text<'a>> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| &self.0[i].1)
    }

    /// Whether `key` has a value.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The fields in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&Text<'a>, &Text<'a>)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// The values in key order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &Text<'a>> {
        self.0.iter().map(|(_, v)| v)
    }

    /// Sets `key` to `value`, in its place; the value it had, if any.
    pub fn insert(&mut self, key: Text<'a>, value: Text<'a>) -> Option<Text<'a>> {
        match self.0.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    /// Keeps only the fields `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&Text<'a>, &Text<'a>) -> bool) {
        self.0.retain(|(k, v)| keep(k, v));
    }

    /// The same fields, owned.
    pub fn into_owned(self) -> ProductFieldMap<'static> {
        ProductFieldMap(
            self.0
                .into_iter()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }
}

impl<'a> std::ops::Index<&str> for ProductFieldMap<'a> {
    type Output = Text<'a>;
    /// The value of `key`; panics when there is none, as a map's index does.
    fn index(&self, key: &str) -> &Text<'a> {
        self.get(key)
            .unwrap_or_else(|| panic!("no product field {key}"))
    }
}

impl<'m, 'a> IntoIterator for &'m ProductFieldMap<'a> {
    type Item = (&'m Text<'a>, &'m Text<'a>);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'m, (Text<'a>, Text<'a>)>,
        fn(&'m (Text<'a>, Text<'a>)) -> (&'m Text<'a>, &'m Text<'a>),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<'a> FromIterator<(Text<'a>, Text<'a>)> for ProductFieldMap<'a> {
    fn from_iter<I: IntoIterator<Item = (Text<'a>, Text<'a>)>>(iter: I) -> Self {
        Self::from_entries(iter.into_iter().collect())
    }
}

impl Serialize for ProductFieldMap<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de> Deserialize<'de> for ProductFieldMap<'_> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<Text<'static>, Text<'static>>::deserialize(deserializer)?;
        Ok(ProductFieldMap(map.into_iter().collect()))
    }
}

fn owned_opt(t: Option<Text<'_>>) -> Option<Text<'static>> {
    t.map(Text::into_owned)
}

/// One ASFF finding (`AwsSecurityFinding`), serialized with Security Hub's PascalCase names.
/// Times are RFC 3339 UTC strings with milliseconds (`2026-01-01T00:00:00.000Z`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffFinding<'a> {
    /// `SchemaVersion`: always [`crate::limits::SCHEMA_VERSION`].
    pub schema_version: Text<'a>,
    /// `Id`: `vigil-<fingerprint>`, unique per product and region.
    pub id: Text<'a>,
    /// `ProductArn`: `arn:<partition>:securityhub:<region>:<account>:product/<account>/default`.
    pub product_arn: Text<'a>,
    /// `ProductName`: `Vigil`.
    pub product_name: Text<'a>,
    /// `CompanyName`: `Vigil`.
    pub company_name: Text<'a>,
    /// `Region`: the finding's AWS region.
    pub region: Text<'a>,
    /// `GeneratorId`: `vigil/<source>/<rule>`.
    pub generator_id: Text<'a>,
    /// `AwsAccountId`: the 12-digit account the workload runs in.
    pub aws_account_id: Text<'a>,
    /// `Types`: `namespace/category/classifier` paths (e.g. `TTPs/Execution/…`).
    pub types: Vec<Text<'a>>,
    /// `FirstObservedAt`.
    pub first_observed_at: Text<'a>,
    /// `LastObservedAt`.
    pub last_observed_at: Text<'a>,
    /// `CreatedAt`: equal to `FirstObservedAt`.
    pub created_at: Text<'a>,
    /// `UpdatedAt`: never earlier than `LastObservedAt` nor the last confirmed import's.
    pub updated_at: Text<'a>,
    /// `Severity`.
    pub severity: AsffSeverity<'a>,
    /// `Title`.
    pub title: Text<'a>,
    /// `Description`.
    pub description: Text<'a>,
    /// `ProductFields`: Vigil's own fields (source, rule, provenance, …), string → string.
    pub product_fields: ProductFieldMap<'a>,
    /// `Resources`: the workload's cluster, task, containers (and service, task definition when enriched).
    pub resources: Vec<AsffResource<'a>>,
    /// `Process`, when the finding names one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub process: Option<AsffProcess<'a>>,
    /// `Network`, when the finding names a connection.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub network: Option<AsffNetwork<'a>>,
    /// `RecordState`: `ACTIVE`.
    pub record_state: Text<'a>,
}

/// ASFF `Severity`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffSeverity<'a> {
    /// `Label`: `INFORMATIONAL`, `LOW`, `MEDIUM`, `HIGH` or `CRITICAL`.
    pub label: Text<'a>,
    /// `Normalized`: 0–100, inside the label's band.
    pub normalized: u8,
    /// `Original`: the source's own value; the label when the source gave none.
    pub original: Text<'a>,
}

/// One ASFF `Resources[]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffResource<'a> {
    /// `Type` (`AwsEcsCluster`, `AwsEcsTask`, `Container`, `AwsEcsService`, …).
    #[serde(rename = "Type")]
    pub resource_type: Text<'a>,
    /// `Id`: the resource's ARN, or another identifier where it has none (a container).
    pub id: Text<'a>,
    /// `Partition`: `aws`, `aws-cn` or `aws-us-gov`.
    pub partition: Text<'a>,
    /// `Region`.
    pub region: Text<'a>,
    /// `Tags`, key → value; omitted when empty.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub tags: BTreeMap<String, String>,
    /// `Details`: an object keyed by the details type (e.g. `{"AwsEcsTask": {…}}`, `{"Other": {…}}`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub details: Option<AsffDetails<'a>>,
}

/// ASFF `Process`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffProcess<'a> {
    /// `Name`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<Text<'a>>,
    /// `Path`: the executable's path.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub path: Option<Text<'a>>,
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
pub struct AsffNetwork<'a> {
    /// `Direction`: `IN` or `OUT`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub direction: Option<Text<'a>>,
    /// `Protocol` (e.g. `tcp`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub protocol: Option<Text<'a>>,
    /// `SourceIpV4`.
    #[serde(rename = "SourceIpV4")]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source_ip_v4: Option<Text<'a>>,
    /// `SourceIpV6`.
    #[serde(rename = "SourceIpV6")]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source_ip_v6: Option<Text<'a>>,
    /// `SourcePort`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source_port: Option<u16>,
    /// `DestinationIpV4`.
    #[serde(rename = "DestinationIpV4")]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub destination_ip_v4: Option<Text<'a>>,
    /// `DestinationIpV6`.
    #[serde(rename = "DestinationIpV6")]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub destination_ip_v6: Option<Text<'a>>,
    /// `DestinationPort`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub destination_port: Option<u16>,
    /// `DestinationDomain`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub destination_domain: Option<Text<'a>>,
}

/// A resource's `Details`: one key, the details type, holding its object. Vigil writes the typed
/// variants; a record read back from JSON keeps its details as they were written
/// ([`AsffDetails::Json`]), whatever their shape.
///
/// Every typed object serializes its fields in name order, absent ones omitted: the same bytes as
/// the JSON object built field by field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum AsffDetails<'a> {
    /// `{"AwsEcsTask": {…}}`.
    AwsEcsTask(EcsTaskDetails<'a>),
    /// `{"AwsEcsCluster": {…}}`.
    AwsEcsCluster(EcsClusterDetails<'a>),
    /// `{"AwsEcsService": {…}}`.
    AwsEcsService(EcsServiceDetails<'a>),
    /// `{"AwsEcsTaskDefinition": {…}}`.
    AwsEcsTaskDefinition(EcsTaskDefinitionDetails<'a>),
    /// `{"Container": {…}}`.
    Container(ContainerDetails<'a>),
    /// `{"AwsIamUser": {…}}`.
    AwsIamUser(IamUserDetails<'a>),
    /// `{"Other": {…}}`: Security Hub's free-form string map.
    Other(BTreeMap<Text<'a>, Text<'a>>),
    /// Details as read from JSON (a record not built by the mapping), kept verbatim.
    #[serde(untagged)]
    Json(serde_json::Value),
}

impl<'de> Deserialize<'de> for AsffDetails<'_> {
    /// Keeps whatever JSON was written as [`AsffDetails::Json`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(deserializer).map(AsffDetails::Json)
    }
}

impl AsffDetails<'_> {
    /// The details as a JSON value, as they serialize.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// `AwsEcsTaskDetails`, the fields Vigil writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EcsTaskDetails<'a> {
    /// `ClusterArn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<Text<'a>>,
    /// `Group` (`service:<name>`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<Text<'a>>,
    /// `StartedBy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_by: Option<Text<'a>>,
    /// `TaskDefinitionArn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<Text<'a>>,
}

/// `AwsEcsClusterDetails`, the fields Vigil writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EcsClusterDetails<'a> {
    /// `ClusterArn`.
    pub cluster_arn: Text<'a>,
    /// `ClusterName`.
    pub cluster_name: Text<'a>,
}

/// `AwsEcsServiceDetails`, the fields Vigil writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EcsServiceDetails<'a> {
    /// `Cluster`: the cluster's ARN.
    pub cluster: Text<'a>,
    /// `Name`.
    pub name: Text<'a>,
    /// `ServiceArn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_arn: Option<Text<'a>>,
    /// `TaskDefinition`: the task definition's ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<Text<'a>>,
}

/// `AwsEcsTaskDefinitionDetails`, the fields Vigil writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EcsTaskDefinitionDetails<'a> {
    /// `ContainerDefinitions`.
    pub container_definitions: Vec<EcsContainerDefinition<'a>>,
    /// `Family`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<Text<'a>>,
    /// `TaskRoleArn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<Text<'a>>,
}

/// One of `AwsEcsTaskDefinitionDetails.ContainerDefinitions`, the fields Vigil writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EcsContainerDefinition<'a> {
    /// `Image`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<Text<'a>>,
    /// `Name`.
    pub name: Text<'a>,
    /// `Privileged`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// `ReadonlyRootFilesystem`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readonly_root_filesystem: Option<bool>,
    /// `User`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Text<'a>>,
}

/// `ContainerDetails`, the fields Vigil writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerDetails<'a> {
    /// `ImageId`: the image digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<Text<'a>>,
    /// `ImageName`: the image reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_name: Option<Text<'a>>,
    /// `Name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Text<'a>>,
    /// `Privileged`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
}

/// `AwsIamUserDetails`, the fields Vigil writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IamUserDetails<'a> {
    /// `UserName`.
    pub user_name: Text<'a>,
}

impl AsffFinding<'_> {
    /// The same record, owning every string: detached from the finding it was mapped from.
    pub fn into_owned(self) -> AsffFinding<'static> {
        AsffFinding {
            schema_version: self.schema_version.into_owned(),
            id: self.id.into_owned(),
            product_arn: self.product_arn.into_owned(),
            product_name: self.product_name.into_owned(),
            company_name: self.company_name.into_owned(),
            region: self.region.into_owned(),
            generator_id: self.generator_id.into_owned(),
            aws_account_id: self.aws_account_id.into_owned(),
            types: self.types.into_iter().map(Text::into_owned).collect(),
            first_observed_at: self.first_observed_at.into_owned(),
            last_observed_at: self.last_observed_at.into_owned(),
            created_at: self.created_at.into_owned(),
            updated_at: self.updated_at.into_owned(),
            severity: AsffSeverity {
                label: self.severity.label.into_owned(),
                normalized: self.severity.normalized,
                original: self.severity.original.into_owned(),
            },
            title: self.title.into_owned(),
            description: self.description.into_owned(),
            product_fields: self.product_fields.into_owned(),
            resources: self
                .resources
                .into_iter()
                .map(AsffResource::into_owned)
                .collect(),
            process: self.process.map(|p| AsffProcess {
                name: owned_opt(p.name),
                path: owned_opt(p.path),
                pid: p.pid,
                parent_pid: p.parent_pid,
            }),
            network: self.network.map(|n| AsffNetwork {
                direction: owned_opt(n.direction),
                protocol: owned_opt(n.protocol),
                source_ip_v4: owned_opt(n.source_ip_v4),
                source_ip_v6: owned_opt(n.source_ip_v6),
                source_port: n.source_port,
                destination_ip_v4: owned_opt(n.destination_ip_v4),
                destination_ip_v6: owned_opt(n.destination_ip_v6),
                destination_port: n.destination_port,
                destination_domain: owned_opt(n.destination_domain),
            }),
            record_state: self.record_state.into_owned(),
        }
    }
}

impl AsffResource<'_> {
    /// The same resource, owning every string.
    pub fn into_owned(self) -> AsffResource<'static> {
        AsffResource {
            resource_type: self.resource_type.into_owned(),
            id: self.id.into_owned(),
            partition: self.partition.into_owned(),
            region: self.region.into_owned(),
            tags: self.tags,
            details: self.details.map(AsffDetails::into_owned),
        }
    }
}

impl AsffDetails<'_> {
    /// The same details, owning every string.
    pub fn into_owned(self) -> AsffDetails<'static> {
        match self {
            AsffDetails::AwsEcsTask(t) => AsffDetails::AwsEcsTask(EcsTaskDetails {
                cluster_arn: owned_opt(t.cluster_arn),
                group: owned_opt(t.group),
                started_by: owned_opt(t.started_by),
                task_definition_arn: owned_opt(t.task_definition_arn),
            }),
            AsffDetails::AwsEcsCluster(c) => AsffDetails::AwsEcsCluster(EcsClusterDetails {
                cluster_arn: c.cluster_arn.into_owned(),
                cluster_name: c.cluster_name.into_owned(),
            }),
            AsffDetails::AwsEcsService(s) => AsffDetails::AwsEcsService(EcsServiceDetails {
                cluster: s.cluster.into_owned(),
                name: s.name.into_owned(),
                service_arn: owned_opt(s.service_arn),
                task_definition: owned_opt(s.task_definition),
            }),
            AsffDetails::AwsEcsTaskDefinition(t) => {
                AsffDetails::AwsEcsTaskDefinition(EcsTaskDefinitionDetails {
                    container_definitions: t
                        .container_definitions
                        .into_iter()
                        .map(|c| EcsContainerDefinition {
                            image: owned_opt(c.image),
                            name: c.name.into_owned(),
                            privileged: c.privileged,
                            readonly_root_filesystem: c.readonly_root_filesystem,
                            user: owned_opt(c.user),
                        })
                        .collect(),
                    family: owned_opt(t.family),
                    task_role_arn: owned_opt(t.task_role_arn),
                })
            }
            AsffDetails::Container(c) => AsffDetails::Container(ContainerDetails {
                image_id: owned_opt(c.image_id),
                image_name: owned_opt(c.image_name),
                name: owned_opt(c.name),
                privileged: c.privileged,
            }),
            AsffDetails::AwsIamUser(u) => AsffDetails::AwsIamUser(IamUserDetails {
                user_name: u.user_name.into_owned(),
            }),
            AsffDetails::Other(map) => AsffDetails::Other(
                map.into_iter()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect(),
            ),
            AsffDetails::Json(v) => AsffDetails::Json(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(k: &'static str, v: &'static str) -> (Text<'static>, Text<'static>) {
        (Text::constant(k), Text::constant(v))
    }

    #[test]
    fn product_fields_are_sorted_once_per_key_and_serialize_as_an_object() {
        let map = ProductFieldMap::from_entries(vec![
            entry("vigil/Rule", "r1"),
            entry("vigil/Count", "1"),
            entry("vigil/Rule", "r2"),
            entry("vigil/Arrival", "bus"),
        ]);
        let keys: Vec<&str> = map.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["vigil/Arrival", "vigil/Count", "vigil/Rule"]);
        assert_eq!(map["vigil/Rule"], "r2", "the last value of a key is kept");
        assert!(map.contains_key("vigil/Count") && !map.contains_key("vigil/Host"));
        let json = serde_json::to_string(&map).unwrap();
        assert_eq!(
            json,
            r#"{"vigil/Arrival":"bus","vigil/Count":"1","vigil/Rule":"r2"}"#
        );
        let back: ProductFieldMap = serde_json::from_str(&json).unwrap();
        assert_eq!(back, map);
        let mut kept = back.into_owned();
        assert_eq!(kept.insert("vigil/Rule".into(), "r3".into()).unwrap(), "r2");
        assert!(kept.insert("vigil/Host".into(), "h".into()).is_none());
        assert_eq!(kept.iter().nth(2).unwrap().0, "vigil/Host");
        kept.retain(|k, _| k.as_str() != "vigil/Host");
        kept.retain(|k, _| k.as_str() != "vigil/Count");
        assert_eq!(kept.len(), 2);
        assert_eq!(
            kept.values().map(Text::as_str).collect::<Vec<_>>(),
            ["bus", "r3"]
        );
    }
}
