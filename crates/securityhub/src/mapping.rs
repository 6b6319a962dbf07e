//! Our ASFF model → the SDK's `AwsSecurityFinding`.
//!
//! Enum-valued strings (`Severity.Label`, `Resources[].Partition`, `Network.Direction`,
//! `RecordState`) are parsed strictly: a value the SDK does not know is a [`MappingError`] naming
//! the field, never a panic and never an `Unknown` variant sent on to Security Hub.
//!
//! Resource `Details` keys with a typed SDK counterpart (`AwsEcsTask`, `AwsEcsCluster`,
//! `AwsEcsService`, `AwsEcsTaskDefinition`, `Container`) map to it when their shape is exactly the
//! one we know (known field names, expected JSON types); anything else is kept, flattened and
//! stringified, in `Details.Other` rather than dropped.

use aws_sdk_securityhub::types::{
    AwsEcsClusterDetails, AwsEcsServiceDetails, AwsEcsTaskDefinitionContainerDefinitionsDetails,
    AwsEcsTaskDefinitionDetails, AwsEcsTaskDetails, AwsSecurityFinding, ContainerDetails, Network,
    NetworkDirection, Partition, ProcessDetails, RecordState, Resource, ResourceDetails, Severity,
    SeverityLabel,
};
use serde_json::{Map, Value};
use vigil_asff::AsffFinding;
use vigil_asff::model::{
    AsffDetails, AsffNetwork, AsffProcess, AsffResource, ContainerDetails as AsffContainer,
    EcsClusterDetails, EcsServiceDetails, EcsTaskDefinitionDetails, EcsTaskDetails, Text,
};

/// `Details.Other`: at most 50 entries, keys ≤ 128 characters, values ≤ 1024 characters.
pub const MAX_OTHER_ENTRIES: usize = 50;
/// Most characters of a `Details.Other` key; longer keys are cut.
pub const MAX_OTHER_KEY: usize = 128;
/// Most characters of a `Details.Other` value; longer values are cut.
pub const MAX_OTHER_VALUE: usize = 1024;

/// Why a finding cannot become the SDK's `AwsSecurityFinding`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// An enum-valued ASFF field holds a value the SDK's enum does not list.
    #[error("{field}: {value:?} is not one of {allowed:?}")]
    UnknownEnumValue {
        /// The ASFF field, as a path (`Severity.Label`, `Resources[0].Partition`, …).
        field: String,
        /// The value found.
        value: String,
        /// The values the SDK accepts for it.
        allowed: &'static [&'static str],
    },
}

/// Converts one finding. Fails only on enum values the SDK does not know.
pub fn to_sdk(f: &AsffFinding<'_>) -> Result<AwsSecurityFinding, MappingError> {
    let severity = Severity::builder()
        .label(parse_enum(
            "Severity.Label",
            &f.severity.label,
            SeverityLabel::try_parse,
            SeverityLabel::values(),
        )?)
        .normalized(i32::from(f.severity.normalized))
        .original(&f.severity.original)
        .build();
    let resources = f
        .resources
        .iter()
        .enumerate()
        .map(|(i, r)| resource(i, r))
        .collect::<Result<Vec<_>, _>>()?;
    let network = f.network.as_ref().map(network).transpose()?;
    let record_state = parse_enum(
        "RecordState",
        &f.record_state,
        RecordState::try_parse,
        RecordState::values(),
    )?;
    Ok(AwsSecurityFinding::builder()
        .schema_version(&f.schema_version)
        .id(&f.id)
        .product_arn(&f.product_arn)
        .product_name(&f.product_name)
        .company_name(&f.company_name)
        .region(&f.region)
        .generator_id(&f.generator_id)
        .aws_account_id(&f.aws_account_id)
        .set_types(Some(f.types.iter().map(String::from).collect()))
        .first_observed_at(&f.first_observed_at)
        .last_observed_at(&f.last_observed_at)
        .created_at(&f.created_at)
        .updated_at(&f.updated_at)
        .severity(severity)
        .title(&f.title)
        .description(&f.description)
        .set_product_fields((!f.product_fields.is_empty()).then(|| {
            f.product_fields
                .iter()
                .map(|(k, v)| (String::from(k), String::from(v)))
                .collect()
        }))
        .set_resources(Some(resources))
        .set_process(f.process.as_ref().map(process))
        .set_network(network)
        .record_state(record_state)
        .build())
}

/// An optional string of the record, owned for the SDK.
fn owned(t: &Option<Text<'_>>) -> Option<String> {
    t.as_deref().map(str::to_owned)
}

fn parse_enum<T, E>(
    field: &str,
    value: &str,
    parse: fn(&str) -> Result<T, E>,
    allowed: &'static [&'static str],
) -> Result<T, MappingError> {
    parse(value).map_err(|_| MappingError::UnknownEnumValue {
        field: field.to_owned(),
        value: value.to_owned(),
        allowed,
    })
}

fn resource(index: usize, r: &AsffResource<'_>) -> Result<Resource, MappingError> {
    let partition = parse_enum(
        &format!("Resources[{index}].Partition"),
        &r.partition,
        Partition::try_parse,
        Partition::values(),
    )?;
    Ok(Resource::builder()
        .r#type(&r.resource_type)
        .id(&r.id)
        .partition(partition)
        .region(&r.region)
        .set_tags((!r.tags.is_empty()).then(|| r.tags.clone().into_iter().collect()))
        .set_details(r.details.as_ref().map(resource_details))
        .build())
}

fn process(p: &AsffProcess<'_>) -> ProcessDetails {
    ProcessDetails::builder()
        .set_name(owned(&p.name))
        .set_path(owned(&p.path))
        .set_pid(p.pid)
        .set_parent_pid(p.parent_pid)
        .build()
}

fn network(n: &AsffNetwork<'_>) -> Result<Network, MappingError> {
    let direction = n
        .direction
        .as_deref()
        .map(|d| {
            parse_enum(
                "Network.Direction",
                d,
                NetworkDirection::try_parse,
                NetworkDirection::values(),
            )
        })
        .transpose()?;
    Ok(Network::builder()
        .set_direction(direction)
        .set_protocol(owned(&n.protocol))
        .set_source_ipv4(owned(&n.source_ip_v4))
        .set_source_ipv6(owned(&n.source_ip_v6))
        .set_source_port(n.source_port.map(i32::from))
        .set_destination_ipv4(owned(&n.destination_ip_v4))
        .set_destination_ipv6(owned(&n.destination_ip_v6))
        .set_destination_port(n.destination_port.map(i32::from))
        .set_destination_domain(owned(&n.destination_domain))
        .build())
}

/// A record's `Details` → `ResourceDetails`: what [`details`] makes of their JSON, built from the
/// typed details without going through JSON.
pub fn resource_details(d: &AsffDetails<'_>) -> ResourceDetails {
    let out = ResourceDetails::builder();
    match d {
        AsffDetails::AwsEcsTask(t) => out.aws_ecs_task(sdk_ecs_task(t)).build(),
        AsffDetails::AwsEcsCluster(c) => out.aws_ecs_cluster(sdk_ecs_cluster(c)).build(),
        AsffDetails::AwsEcsService(s) => out.aws_ecs_service(sdk_ecs_service(s)).build(),
        AsffDetails::AwsEcsTaskDefinition(t) => out
            .aws_ecs_task_definition(sdk_ecs_task_definition(t))
            .build(),
        AsffDetails::Container(c) => out.container(sdk_container(c)).build(),
        // No typed counterpart is mapped for these: flattened into `Other`, as their JSON is.
        AsffDetails::AwsIamUser(u) => {
            let mut other = Vec::new();
            push_other_str(&mut other, "AwsIamUser.UserName".to_owned(), &u.user_name);
            with_other(out, other)
        }
        AsffDetails::Other(map) => {
            let mut other = Vec::new();
            if map.is_empty() {
                push_other_str(&mut other, "Other".to_owned(), "{}");
            }
            for (k, v) in map {
                push_other_str(&mut other, format!("Other.{k}"), v);
            }
            with_other(out, other)
        }
        AsffDetails::Json(v) => details(v),
    }
}

fn sdk_ecs_task(t: &EcsTaskDetails<'_>) -> AwsEcsTaskDetails {
    AwsEcsTaskDetails::builder()
        .set_cluster_arn(owned(&t.cluster_arn))
        .set_task_definition_arn(owned(&t.task_definition_arn))
        .set_group(owned(&t.group))
        .set_started_by(owned(&t.started_by))
        .build()
}

fn sdk_ecs_cluster(c: &EcsClusterDetails<'_>) -> AwsEcsClusterDetails {
    AwsEcsClusterDetails::builder()
        .cluster_name(&c.cluster_name)
        .cluster_arn(&c.cluster_arn)
        .build()
}

fn sdk_ecs_service(s: &EcsServiceDetails<'_>) -> AwsEcsServiceDetails {
    AwsEcsServiceDetails::builder()
        .name(&s.name)
        .set_service_arn(owned(&s.service_arn))
        .cluster(&s.cluster)
        .set_task_definition(owned(&s.task_definition))
        .build()
}

fn sdk_ecs_task_definition(t: &EcsTaskDefinitionDetails<'_>) -> AwsEcsTaskDefinitionDetails {
    let mut b = AwsEcsTaskDefinitionDetails::builder()
        .set_family(owned(&t.family))
        .set_task_role_arn(owned(&t.task_role_arn));
    for c in &t.container_definitions {
        b = b.container_definitions(
            AwsEcsTaskDefinitionContainerDefinitionsDetails::builder()
                .name(&c.name)
                .set_image(owned(&c.image))
                .set_privileged(c.privileged)
                .set_readonly_root_filesystem(c.readonly_root_filesystem)
                .set_user(owned(&c.user))
                .build(),
        );
    }
    b.build()
}

fn sdk_container(c: &AsffContainer<'_>) -> ContainerDetails {
    ContainerDetails::builder()
        .set_name(owned(&c.name))
        .set_image_id(owned(&c.image_id))
        .set_image_name(owned(&c.image_name))
        .set_privileged(c.privileged)
        .build()
}

/// `Details` JSON → `ResourceDetails`: typed where the key and shape are known, `Other` otherwise.
pub fn details(value: &Value) -> ResourceDetails {
    let mut out = ResourceDetails::builder();
    let mut other: Vec<(String, String)> = Vec::new();
    let Some(obj) = value.as_object() else {
        push_other(&mut other, "Value".to_owned(), value);
        return with_other(out, other);
    };
    for (key, inner) in obj {
        let typed = inner.as_object().and_then(|o| {
            let o = Shape(o);
            match key.as_str() {
                "AwsEcsTask" => ecs_task(o).map(|d| out.clone().aws_ecs_task(d)),
                "AwsEcsCluster" => ecs_cluster(o).map(|d| out.clone().aws_ecs_cluster(d)),
                "AwsEcsService" => ecs_service(o).map(|d| out.clone().aws_ecs_service(d)),
                "AwsEcsTaskDefinition" => {
                    ecs_task_definition(o).map(|d| out.clone().aws_ecs_task_definition(d))
                }
                "Container" => container(o).map(|d| out.clone().container(d)),
                _ => None,
            }
        });
        match typed {
            Some(b) => out = b,
            None => flatten(&mut other, key, inner),
        }
    }
    with_other(out, other)
}

fn with_other(
    mut out: aws_sdk_securityhub::types::builders::ResourceDetailsBuilder,
    other: Vec<(String, String)>,
) -> ResourceDetails {
    for (k, v) in other.into_iter().take(MAX_OTHER_ENTRIES) {
        out = out.other(k, v);
    }
    out.build()
}

/// `{"Key": {"A": 1, "B": {..}}}` → `Key.A = "1"`, `Key.B = "{..}"`; scalars and arrays as `Key`.
fn flatten(other: &mut Vec<(String, String)>, key: &str, value: &Value) {
    match value.as_object() {
        Some(o) if !o.is_empty() => {
            for (k, v) in o {
                push_other(other, format!("{key}.{k}"), v);
            }
        }
        _ => push_other(other, key.to_owned(), value),
    }
}

fn push_other(other: &mut Vec<(String, String)>, key: String, value: &Value) {
    match value {
        Value::String(s) => push_other_str(other, key, s),
        v => push_other_str(other, key, &v.to_string()),
    }
}

fn push_other_str(other: &mut Vec<(String, String)>, key: String, value: &str) {
    if other.len() >= MAX_OTHER_ENTRIES {
        return;
    }
    other.push((
        truncate(&key, MAX_OTHER_KEY),
        truncate(value, MAX_OTHER_VALUE),
    ));
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// A details object checked field by field: `None` means "not the shape we know".
#[derive(Clone, Copy)]
struct Shape<'a>(&'a Map<String, Value>);

impl<'a> Shape<'a> {
    /// Only these keys may be present.
    fn only(self, keys: &[&str]) -> Option<Self> {
        self.0
            .keys()
            .all(|k| keys.contains(&k.as_str()))
            .then_some(self)
    }

    /// `Ok(None)` when absent or null; `Err` (as `None` of the outer option) when another type.
    fn str(self, key: &str) -> Option<Option<String>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(s.clone())),
            Some(_) => None,
        }
    }

    fn bool(self, key: &str) -> Option<Option<bool>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Some(None),
            Some(Value::Bool(b)) => Some(Some(*b)),
            Some(_) => None,
        }
    }

    fn array(self, key: &str) -> Option<&'a [Value]> {
        match self.0.get(key) {
            None | Some(Value::Null) => Some(&[]),
            Some(Value::Array(a)) => Some(a),
            Some(_) => None,
        }
    }
}

fn ecs_task(o: Shape) -> Option<AwsEcsTaskDetails> {
    let o = o.only(&[
        "ClusterArn",
        "TaskDefinitionArn",
        "Group",
        "Version",
        "CreatedAt",
        "StartedAt",
        "StartedBy",
    ])?;
    Some(
        AwsEcsTaskDetails::builder()
            .set_cluster_arn(o.str("ClusterArn")?)
            .set_task_definition_arn(o.str("TaskDefinitionArn")?)
            .set_group(o.str("Group")?)
            .set_version(o.str("Version")?)
            .set_created_at(o.str("CreatedAt")?)
            .set_started_at(o.str("StartedAt")?)
            .set_started_by(o.str("StartedBy")?)
            .build(),
    )
}

fn ecs_cluster(o: Shape) -> Option<AwsEcsClusterDetails> {
    let o = o.only(&["ClusterName", "ClusterArn", "Status"])?;
    Some(
        AwsEcsClusterDetails::builder()
            .set_cluster_name(o.str("ClusterName")?)
            .set_cluster_arn(o.str("ClusterArn")?)
            .set_status(o.str("Status")?)
            .build(),
    )
}

fn ecs_service(o: Shape) -> Option<AwsEcsServiceDetails> {
    let o = o.only(&["Name", "ServiceArn", "Cluster", "TaskDefinition"])?;
    Some(
        AwsEcsServiceDetails::builder()
            .set_name(o.str("Name")?)
            .set_service_arn(o.str("ServiceArn")?)
            .set_cluster(o.str("Cluster")?)
            .set_task_definition(o.str("TaskDefinition")?)
            .build(),
    )
}

fn ecs_task_definition(o: Shape) -> Option<AwsEcsTaskDefinitionDetails> {
    let o = o.only(&["Family", "TaskRoleArn", "ContainerDefinitions"])?;
    let mut b = AwsEcsTaskDefinitionDetails::builder()
        .set_family(o.str("Family")?)
        .set_task_role_arn(o.str("TaskRoleArn")?);
    for c in o.array("ContainerDefinitions")? {
        let c = Shape(c.as_object()?).only(&[
            "Name",
            "Image",
            "Privileged",
            "ReadonlyRootFilesystem",
            "User",
        ])?;
        b = b.container_definitions(
            AwsEcsTaskDefinitionContainerDefinitionsDetails::builder()
                .set_name(c.str("Name")?)
                .set_image(c.str("Image")?)
                .set_privileged(c.bool("Privileged")?)
                .set_readonly_root_filesystem(c.bool("ReadonlyRootFilesystem")?)
                .set_user(c.str("User")?)
                .build(),
        );
    }
    Some(b.build())
}

fn container(o: Shape) -> Option<ContainerDetails> {
    let o = o.only(&["Name", "ImageId", "ImageName", "Privileged", "LaunchedAt"])?;
    Some(
        ContainerDetails::builder()
            .set_name(o.str("Name")?)
            .set_image_id(o.str("ImageId")?)
            .set_image_name(o.str("ImageName")?)
            .set_privileged(o.bool("Privileged")?)
            .set_launched_at(o.str("LaunchedAt")?)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::json;
    use vigil_asff::{MappingContext, to_asff};
    use vigil_model::NetworkDirection as Dir;

    fn sample() -> AsffFinding<'static> {
        let mut f = vigil_model::fixtures::terminal_shell("111122223333", "us-west-2");
        f.resource.task_arn =
            Some("arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b".into());
        f.resource.cluster_arn =
            Some("arn:aws:ecs:us-west-2:111122223333:cluster/FargateCluster".into());
        f.resource.task_definition_family = Some("sample-fargate".into());
        f.resource.task_definition_revision = Some("1".into());
        f.resource.service_name = Some("web".into());
        f.resource.container.id = Some("ad64cbc71c7f".into());
        f.resource.container.name = Some("FargateApp".into());
        f.resource.container.image = Some("nginx:1.25".into());
        f.resource.container.privileged = Some(true);
        f.mitre = vec!["execution".into()];
        f.process = Some(vigil_model::Process {
            name: Some("bash".into()),
            executable_path: Some("/bin/bash".into()),
            pid: Some(42),
            parent_pid: Some(1),
            ..Default::default()
        });
        f.network = Some(vigil_model::Network {
            direction: Some(Dir::Outbound),
            protocol: Some("TCP".into()),
            local_ip: Some("10.0.0.5".into()),
            local_port: Some(40000),
            remote_ip: Some("203.0.113.9".into()),
            remote_port: Some(443),
            domain: Some("api.example.com".into()),
            ..Default::default()
        });
        let f = f.seal();
        let ctx = MappingContext {
            now: Utc.with_ymd_and_hms(2020, 1, 23, 18, 0, 0).unwrap(),
        };
        to_asff(&f, &ctx).unwrap().into_owned()
    }

    #[test]
    fn a_vigil_finding_maps_field_by_field() {
        let a = sample();
        let s = to_sdk(&a).unwrap();
        assert_eq!(s.schema_version(), Some("2018-10-08"));
        assert_eq!(s.id(), Some(a.id.as_str()));
        assert_eq!(
            s.product_arn(),
            Some("arn:aws:securityhub:us-west-2:111122223333:product/111122223333/default")
        );
        assert_eq!(s.product_name(), Some("Vigil"));
        assert_eq!(s.company_name(), Some("Vigil"));
        assert_eq!(s.region(), Some("us-west-2"));
        assert_eq!(s.generator_id(), Some(a.generator_id.as_str()));
        assert_eq!(s.aws_account_id(), Some("111122223333"));
        assert_eq!(s.types(), a.types.as_slice());
        assert_eq!(s.first_observed_at(), Some("2020-01-23T17:58:20.000Z"));
        assert_eq!(s.last_observed_at(), Some("2020-01-23T17:58:20.000Z"));
        assert_eq!(s.created_at(), Some("2020-01-23T17:58:20.000Z"));
        assert_eq!(s.updated_at(), Some("2020-01-23T18:00:00.000Z"));
        let sev = s.severity().unwrap();
        assert_eq!(sev.label(), Some(&SeverityLabel::Low));
        assert_eq!(sev.normalized(), Some(i32::from(a.severity.normalized)));
        assert_eq!(sev.original(), Some("Notice"));
        assert_eq!(s.title(), Some("Terminal shell in container"));
        assert_eq!(s.description(), Some(a.description.as_str()));
        let pf = s.product_fields().unwrap();
        assert_eq!(pf.len(), a.product_fields.len());
        assert_eq!(
            pf["vigil/Fingerprint"],
            a.product_fields["vigil/Fingerprint"]
        );
        assert_eq!(s.record_state(), Some(&RecordState::Active));

        let types: Vec<_> = s.resources().iter().filter_map(Resource::r#type).collect();
        assert_eq!(types, ["AwsEcsTask", "AwsEcsCluster", "Container"]);
        let task = &s.resources()[0];
        assert_eq!(task.partition(), Some(&Partition::Aws));
        assert_eq!(task.region(), Some("us-west-2"));
        assert_eq!(
            task.id(),
            Some("arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b")
        );
        let td = task.details().unwrap().aws_ecs_task().unwrap();
        assert_eq!(
            td.cluster_arn(),
            Some("arn:aws:ecs:us-west-2:111122223333:cluster/FargateCluster")
        );
        assert_eq!(
            td.task_definition_arn(),
            Some("arn:aws:ecs:us-west-2:111122223333:task-definition/sample-fargate:1")
        );
        assert_eq!(td.group(), Some("service:web"));
        assert!(task.details().unwrap().other().is_none());
        let cluster = s.resources()[1]
            .details()
            .unwrap()
            .aws_ecs_cluster()
            .unwrap();
        assert_eq!(cluster.cluster_name(), Some("FargateCluster"));
        let c = s.resources()[2].details().unwrap().container().unwrap();
        assert_eq!(c.name(), Some("FargateApp"));
        assert_eq!(c.image_name(), Some("nginx:1.25"));
        assert_eq!(c.privileged(), Some(true));

        let p = s.process().unwrap();
        assert_eq!(p.name(), Some("bash"));
        assert_eq!(p.path(), Some("/bin/bash"));
        assert_eq!(p.pid(), Some(42));
        assert_eq!(p.parent_pid(), Some(1));
        let n = s.network().unwrap();
        assert_eq!(n.direction(), Some(&NetworkDirection::Out));
        assert_eq!(n.protocol(), Some("TCP"));
        assert_eq!(n.source_ipv4(), Some("10.0.0.5"));
        assert_eq!(n.source_port(), Some(40000));
        assert_eq!(n.destination_ipv4(), Some("203.0.113.9"));
        assert_eq!(n.destination_port(), Some(443));
        assert_eq!(n.destination_domain(), Some("api.example.com"));
    }

    #[test]
    fn unknown_enum_values_name_the_field() {
        let mut a = sample();
        a.severity.label = "SEVERE".into();
        assert!(matches!(
            to_sdk(&a),
            Err(MappingError::UnknownEnumValue { field, value, .. })
                if field == "Severity.Label" && value == "SEVERE"
        ));

        let mut a = sample();
        a.resources[1].partition = "mars".into();
        let e = to_sdk(&a).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("Resources[1].Partition: \"mars\""),
            "{e}"
        );

        let mut a = sample();
        a.network.as_mut().unwrap().direction = Some("SIDEWAYS".into());
        assert!(
            to_sdk(&a)
                .unwrap_err()
                .to_string()
                .starts_with("Network.Direction")
        );

        let mut a = sample();
        a.record_state = "DELETED".into();
        assert!(
            to_sdk(&a)
                .unwrap_err()
                .to_string()
                .starts_with("RecordState")
        );
    }

    #[test]
    fn known_detail_shapes_are_typed() {
        let d = details(&json!({ "AwsEcsTask": {
            "ClusterArn": "c", "TaskDefinitionArn": "td", "Group": "g", "Version": "3",
            "CreatedAt": "2020-01-01T00:00:00Z", "StartedAt": "2020-01-01T00:00:01Z", "StartedBy": "ecs-svc"
        }}));
        let t = d.aws_ecs_task().unwrap();
        assert_eq!(t.version(), Some("3"));
        assert_eq!(t.started_by(), Some("ecs-svc"));
        assert_eq!(t.started_at(), Some("2020-01-01T00:00:01Z"));

        let d = details(
            &json!({ "AwsEcsCluster": { "ClusterName": "n", "ClusterArn": "a", "Status": "ACTIVE" } }),
        );
        assert_eq!(d.aws_ecs_cluster().unwrap().status(), Some("ACTIVE"));

        let d = details(&json!({ "AwsEcsService": {
            "Name": "web", "ServiceArn": "sa", "Cluster": "c", "TaskDefinition": "td"
        }}));
        let s = d.aws_ecs_service().unwrap();
        assert_eq!((s.name(), s.service_arn()), (Some("web"), Some("sa")));
        assert_eq!((s.cluster(), s.task_definition()), (Some("c"), Some("td")));

        let d = details(&json!({ "AwsEcsTaskDefinition": {
            "Family": "fam", "TaskRoleArn": "role",
            "ContainerDefinitions": [{ "Name": "app", "Image": "img", "Privileged": false,
                                        "ReadonlyRootFilesystem": true, "User": "1000" }]
        }}));
        let td = d.aws_ecs_task_definition().unwrap();
        assert_eq!(td.family(), Some("fam"));
        assert_eq!(td.task_role_arn(), Some("role"));
        let c = &td.container_definitions()[0];
        assert_eq!(c.readonly_root_filesystem(), Some(true));
        assert_eq!(c.user(), Some("1000"));

        let d = details(&json!({ "Container": {
            "Name": "app", "ImageId": "sha256:ab", "ImageName": "img", "Privileged": true,
            "LaunchedAt": "2020-01-01T00:00:00Z"
        }}));
        let c = d.container().unwrap();
        assert_eq!(c.image_id(), Some("sha256:ab"));
        assert_eq!(c.launched_at(), Some("2020-01-01T00:00:00Z"));
        assert!(d.other().is_none());
    }

    /// Typed details convert to what their JSON converts to, for every shape the mapping writes.
    #[test]
    fn typed_details_convert_as_their_json() {
        use vigil_asff::model::{EcsContainerDefinition, IamUserDetails, Text};
        let all = [
            AsffDetails::AwsEcsTask(EcsTaskDetails::default()),
            AsffDetails::AwsEcsTask(EcsTaskDetails {
                cluster_arn: Some("c".into()),
                group: Some("service:web".into()),
                started_by: Some("ecs-svc".into()),
                task_definition_arn: Some("td".into()),
            }),
            AsffDetails::AwsEcsCluster(EcsClusterDetails {
                cluster_arn: "arn".into(),
                cluster_name: "n".into(),
            }),
            AsffDetails::AwsEcsService(EcsServiceDetails {
                cluster: "c".into(),
                name: "web".into(),
                service_arn: Some("sa".into()),
                task_definition: None,
            }),
            AsffDetails::AwsEcsTaskDefinition(EcsTaskDefinitionDetails::default()),
            AsffDetails::AwsEcsTaskDefinition(EcsTaskDefinitionDetails {
                container_definitions: vec![
                    EcsContainerDefinition {
                        image: Some("img".into()),
                        name: "app".into(),
                        privileged: Some(false),
                        readonly_root_filesystem: Some(true),
                        user: Some("1000".into()),
                    },
                    EcsContainerDefinition::default(),
                ],
                family: Some("fam".into()),
                task_role_arn: None,
            }),
            AsffDetails::Container(AsffContainer::default()),
            AsffDetails::Container(AsffContainer {
                image_id: Some("sha256:ab".into()),
                image_name: Some("img".into()),
                name: Some("app".into()),
                privileged: Some(true),
            }),
            AsffDetails::AwsIamUser(IamUserDetails {
                user_name: "u".repeat(2000).into(),
            }),
            AsffDetails::Other(Default::default()),
            AsffDetails::Other(
                (0..60)
                    .map(|i| (Text::from(format!("k{i:02}")), "v".repeat(1100).into()))
                    .collect(),
            ),
            AsffDetails::Json(json!({ "AwsLambdaFunction": { "FunctionName": "f" } })),
        ];
        for d in all {
            assert_eq!(resource_details(&d), details(&d.to_json()), "{d:?}");
        }
        for a in [sample()] {
            for r in &a.resources {
                let d = r.details.as_ref().unwrap();
                assert_eq!(resource_details(d), details(&d.to_json()));
            }
        }
    }

    #[test]
    fn other_keys_and_shapes_go_to_other() {
        // Unknown key.
        let d = details(&json!({ "AwsLambdaFunction": { "FunctionName": "f", "Timeout": 3 } }));
        let o = d.other().unwrap();
        assert_eq!(o["AwsLambdaFunction.FunctionName"], "f");
        assert_eq!(o["AwsLambdaFunction.Timeout"], "3");
        // Known key, unexpected field or type: kept as Other rather than half-typed.
        let d = details(&json!({ "Container": { "Name": "app", "Privileged": "yes" } }));
        assert!(d.container().is_none());
        assert_eq!(d.other().unwrap()["Container.Privileged"], "yes");
        let d = details(&json!({ "AwsEcsTask": { "ClusterArn": "c", "Containers": [1] } }));
        assert!(d.aws_ecs_task().is_none());
        assert_eq!(d.other().unwrap()["AwsEcsTask.Containers"], "[1]");
        // Not an object at all.
        let d = details(&json!("just text"));
        assert_eq!(d.other().unwrap()["Value"], "just text");
        // At most 50 entries, values capped.
        let many: Map<String, Value> = (0..80)
            .map(|i| (format!("k{i}"), Value::String("v".repeat(2000))))
            .collect();
        let d = details(&json!({ "Big": many }));
        let o = d.other().unwrap();
        assert_eq!(o.len(), MAX_OTHER_ENTRIES);
        assert!(o.values().all(|v| v.chars().count() == MAX_OTHER_VALUE));
    }
}
