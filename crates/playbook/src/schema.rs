//! The playbook file's JSON Schema, generated from the types that read it, so the schema editors
//! validate with (`playbooks/playbook.schema.json`) cannot drift from what the function accepts.
//! A test compares the committed file with [`playbook_schema`]; `vigil playbook schema` prints it.
//!
//! The schema checks shapes only; `vigil playbook check` also checks patterns, template variables
//! and unique names.

use crate::file::{Glob, PlaybookFile, PlaybookName};
use crate::reason::{ReasonTemplate, VARIABLES};
use schemars::{JsonSchema, Schema, SchemaGenerator, generate::SchemaSettings, json_schema};
use std::borrow::Cow;
use vigil_model::{SeverityLabel, Source};

/// The playbook file's schema (JSON Schema draft 2020-12), as committed in
/// `playbooks/playbook.schema.json`.
pub fn playbook_schema() -> serde_json::Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let schema = generator.into_root_schema_for::<PlaybookFile>();
    schema.to_value()
}

/// The committed file's text: [`playbook_schema`] with its keys sorted (whether or not a build
/// turns on serde_json's `preserve_order`), pretty-printed with a final newline.
pub fn playbook_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&sorted(playbook_schema()))
        .unwrap_or_else(|e| unreachable!("a JSON value always serializes: {e}"));
    text.push('\n');
    text
}

/// `value` with every object's keys in order.
fn sorted(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// `version`: the only format there is.
pub(crate) struct FormatVersion;

impl JsonSchema for FormatVersion {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "FormatVersion".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "const": crate::file::FORMAT_VERSION })
    }
}

/// A detector name in `match.sources`, from [`Source`]'s own names.
pub(crate) struct SourceName;

impl JsonSchema for SourceName {
    fn schema_name() -> Cow<'static, str> {
        "Source".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&'static str> = <Source as strum::VariantArray>::VARIANTS
            .iter()
            .map(|s| s.into())
            .collect();
        json_schema!({ "description": "The detector a finding came from.", "enum": names })
    }
}

/// `match.min_severity`: an ASFF severity label in any letter case, as the reader accepts it.
pub(crate) struct SeverityLabelName;

impl JsonSchema for SeverityLabelName {
    fn schema_name() -> Cow<'static, str> {
        "SeverityLabel".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let any_case = |label: &SeverityLabel| {
            let name: &'static str = label.into();
            name.chars()
                .map(|c| format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase()))
                .collect::<String>()
        };
        let labels: Vec<String> = SeverityLabel::ALL.iter().map(any_case).collect();
        json_schema!({
            "description": "An ASFF severity label (INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL), any letter case.",
            "type": "string",
            "pattern": format!("^({})$", labels.join("|")),
        })
    }
}

impl JsonSchema for Glob {
    fn schema_name() -> Cow<'static, str> {
        "Pattern".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A name, or a shell-style pattern (*, ?, [...]), matched case-insensitively.",
            "type": "string",
            "minLength": 1,
        })
    }
}

impl JsonSchema for PlaybookName {
    fn schema_name() -> Cow<'static, str> {
        "PlaybookName".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$" })
    }
}

impl JsonSchema for ReasonTemplate {
    fn schema_name() -> Cow<'static, str> {
        "Template".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": format!(
                "Text with {{variables}}: {}. {{{{ and }}}} are literal braces.",
                VARIABLES.join(", ")
            ),
        })
    }
}
