//! The typed floor: serde_json into `#[derive(Deserialize)]` structs that borrow, covering the fields
#![allow(dead_code)] // the fields are parsed, not read: this is a parsing floor
//! each adapter reads (unknown fields skipped, as serde does). Values a source sends as number or
//! string, and Falco-style field maps, are borrowed `RawValue`s: no conversion at all.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::HashMap;
use std::hint::black_box;

type Raw<'a> = &'a RawValue;
type Text<'a> = Option<Cow<'a, str>>;

#[derive(Deserialize)]
pub struct Envelope<'a, D> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow)]
    pub source: Text<'a>,
    #[serde(borrow, rename = "detail-type")]
    pub detail_type: Text<'a>,
    #[serde(borrow)]
    pub account: Text<'a>,
    #[serde(borrow)]
    pub region: Text<'a>,
    #[serde(borrow)]
    pub time: Text<'a>,
    pub detail: D,
}

#[derive(Deserialize)]
pub struct FalcoAlert<'a> {
    #[serde(borrow)]
    pub rule: Text<'a>,
    #[serde(borrow)]
    pub priority: Text<'a>,
    #[serde(borrow)]
    pub output: Text<'a>,
    #[serde(borrow)]
    pub time: Text<'a>,
    #[serde(borrow)]
    pub hostname: Text<'a>,
    #[serde(borrow)]
    pub uuid: Text<'a>,
    #[serde(borrow, default)]
    pub tags: Vec<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub output_fields: HashMap<Cow<'a, str>, Raw<'a>>,
}

#[derive(Deserialize)]
pub struct GdContainer<'a> {
    #[serde(borrow)]
    pub name: Text<'a>,
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow)]
    pub image: Text<'a>,
    #[serde(borrow, rename = "securityContext")]
    pub security_context: Option<Raw<'a>>,
}

#[derive(Deserialize)]
pub struct GdTask<'a> {
    #[serde(borrow)]
    pub arn: Text<'a>,
    #[serde(borrow, rename = "definitionArn")]
    pub definition_arn: Text<'a>,
    #[serde(borrow)]
    pub group: Text<'a>,
    #[serde(borrow, rename = "launchType")]
    pub launch_type: Text<'a>,
    #[serde(borrow, default)]
    pub containers: Vec<GdContainer<'a>>,
}

#[derive(Deserialize)]
pub struct GdEcs<'a> {
    #[serde(borrow)]
    pub arn: Text<'a>,
    #[serde(borrow)]
    pub name: Text<'a>,
    #[serde(borrow, rename = "taskDetails")]
    pub task_details: Option<GdTask<'a>>,
}

#[derive(Deserialize)]
pub struct GdResource<'a> {
    #[serde(borrow, rename = "resourceType")]
    pub resource_type: Text<'a>,
    #[serde(borrow, rename = "ecsClusterDetails")]
    pub ecs: Option<GdEcs<'a>>,
    #[serde(borrow, rename = "containerDetails")]
    pub container: Option<GdContainer<'a>>,
}

#[derive(Deserialize)]
pub struct GdLineage<'a> {
    #[serde(borrow)]
    pub name: Text<'a>,
    #[serde(borrow)]
    pub pid: Option<Raw<'a>>,
}

#[derive(Deserialize)]
pub struct GdProcess<'a> {
    #[serde(borrow)]
    pub name: Text<'a>,
    #[serde(borrow, rename = "executablePath")]
    pub executable_path: Text<'a>,
    #[serde(borrow, rename = "executableSha256")]
    pub executable_sha256: Text<'a>,
    #[serde(borrow)]
    pub pid: Option<Raw<'a>>,
    #[serde(borrow)]
    pub user: Option<Raw<'a>>,
    #[serde(borrow, rename = "userId")]
    pub user_id: Option<Raw<'a>>,
    #[serde(borrow, default)]
    pub lineage: Vec<GdLineage<'a>>,
}

#[derive(Deserialize)]
pub struct GdContext<'a> {
    #[serde(borrow, rename = "commandLineExample")]
    pub command_line: Text<'a>,
}

#[derive(Deserialize)]
pub struct GdRuntime<'a> {
    #[serde(borrow)]
    pub process: Option<GdProcess<'a>>,
    #[serde(borrow)]
    pub context: Option<GdContext<'a>>,
}

#[derive(Deserialize)]
pub struct GdService<'a> {
    #[serde(borrow)]
    pub count: Option<Raw<'a>>,
    #[serde(borrow, rename = "eventFirstSeen")]
    pub first: Option<Raw<'a>>,
    #[serde(borrow, rename = "eventLastSeen")]
    pub last: Option<Raw<'a>>,
    #[serde(borrow, rename = "runtimeDetails")]
    pub runtime: Option<GdRuntime<'a>>,
    #[serde(borrow)]
    pub action: Option<Raw<'a>>,
}

#[derive(Deserialize)]
pub struct GuardDuty<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow, rename = "type")]
    pub kind: Text<'a>,
    #[serde(borrow)]
    pub severity: Option<Raw<'a>>,
    #[serde(borrow)]
    pub title: Text<'a>,
    #[serde(borrow)]
    pub description: Text<'a>,
    #[serde(borrow, rename = "accountId")]
    pub account_id: Option<Raw<'a>>,
    #[serde(borrow)]
    pub region: Text<'a>,
    #[serde(borrow, rename = "createdAt")]
    pub created_at: Option<Raw<'a>>,
    #[serde(borrow, rename = "updatedAt")]
    pub updated_at: Option<Raw<'a>>,
    #[serde(borrow)]
    pub resource: Option<GdResource<'a>>,
    #[serde(borrow)]
    pub service: Option<GdService<'a>>,
}

#[derive(Deserialize)]
pub struct SysdigContent<'a> {
    #[serde(borrow, rename = "ruleName")]
    pub rule_name: Text<'a>,
    #[serde(borrow)]
    pub output: Text<'a>,
    #[serde(borrow, default, rename = "ruleTags")]
    pub rule_tags: Vec<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub fields: HashMap<Cow<'a, str>, Raw<'a>>,
}

#[derive(Deserialize)]
pub struct Sysdig<'a> {
    #[serde(borrow)]
    pub id: Option<Raw<'a>>,
    #[serde(borrow)]
    pub name: Text<'a>,
    #[serde(borrow)]
    pub description: Text<'a>,
    #[serde(borrow)]
    pub severity: Option<Raw<'a>>,
    #[serde(borrow)]
    pub timestamp: Option<Raw<'a>>,
    #[serde(borrow, rename = "timestampRFC3339Nano")]
    pub timestamp_rfc3339: Text<'a>,
    #[serde(borrow, rename = "containerId")]
    pub container_id: Option<Raw<'a>>,
    #[serde(borrow)]
    pub content: Option<SysdigContent<'a>>,
    #[serde(borrow, default)]
    pub labels: HashMap<Cow<'a, str>, Raw<'a>>,
}

/// The typed parse of a sample, by file name.
pub fn parser_for(name: &str) -> fn(&[u8]) {
    if name.starts_with("guardduty") {
        |b| {
            black_box(serde_json::from_slice::<Envelope<GuardDuty>>(b).unwrap());
        }
    } else if name.starts_with("sysdig") {
        |b| {
            black_box(serde_json::from_slice::<Envelope<Sysdig>>(b).unwrap());
        }
    } else if name.contains("eventbridge") {
        |b| {
            black_box(serde_json::from_slice::<Envelope<FalcoAlert>>(b).unwrap());
        }
    } else {
        |b| {
            black_box(serde_json::from_slice::<FalcoAlert>(b).unwrap());
        }
    }
}
