//! The playbook file: its YAML form, loading and validation. Every value is checked while it is read,
//! so an error names the line and column of the offending value; a file that does not pass is refused
//! as a whole (the function will not start on it).

use crate::reason::ReasonTemplate;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use vigil_model::{SeverityLabel, Source};

/// The only file format version so far.
pub const FORMAT_VERSION: u32 = 1;

/// The file the remediate function reads (`PLAYBOOKS_FILE`): a format version and the playbooks, in
/// the order they are tried.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(
        title = "Vigil remediation playbooks",
        description = "The file the remediate function reads (PLAYBOOKS_FILE). The first playbook whose match a finding meets decides. `vigil playbook check FILE` applies the same rules and more (patterns, template variables, unique names).",
        extend("$id" = "https://vigil.invalid/schemas/playbook.schema.json")
    )
)]
#[serde(deny_unknown_fields)]
pub struct PlaybookFile {
    /// The format version; this Vigil reads version 1 ([`FORMAT_VERSION`]).
    #[cfg_attr(feature = "schema", schemars(with = "crate::schema::FormatVersion"))]
    pub version: u32,
    /// The mode of playbooks that do not set one. Dry-run unless the file says otherwise.
    #[serde(default)]
    pub default_mode: Mode,
    /// Tried in file order; the first whose `match` a finding meets decides.
    pub playbooks: Vec<Playbook>,
}

/// How a playbook acts on its decision.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr,
)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Mode {
    /// Decide and record what would be done; act on nothing.
    #[default]
    DryRun,
    /// Act on the decision.
    Enforce,
    /// Decide as `enforce` would, but where the decision is to act, propose it and wait for an
    /// analyst's approval (a Security Hub custom action) before acting.
    Approve,
}

impl Mode {
    /// The name the file uses.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What a playbook does to the task a finding names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Action {
    /// ECS StopTask with the rendered reason.
    StopTask,
    /// Tag the task for forensics (`tag.key` = `tag.value`).
    TagTask,
    /// Only record the decision.
    Record,
}

impl Action {
    /// The name the file uses.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One playbook: which findings it applies to, what it does and under which limits.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Playbook {
    /// Unique in the file; it goes into decision records and notes.
    pub name: PlaybookName,
    /// Free text for people reading the file.
    #[serde(default)]
    pub description: Option<String>,
    /// The conditions a finding must meet.
    #[serde(rename = "match")]
    pub conditions: Conditions,
    /// What to do, at least one, each once.
    #[serde(deserialize_with = "actions")]
    #[cfg_attr(
        feature = "schema",
        schemars(length(min = 1), extend("uniqueItems" = true))
    )]
    pub actions: Vec<Action>,
    /// This playbook's mode; absent, the file's `default_mode`.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// ECS stoppedReason (cut to fit 255 characters with Vigil's marker).
    #[serde(default)]
    pub reason: ReasonTemplate,
    /// Stopping the last running task of a service takes it down; refused unless this says so.
    /// `true` is the same as `min_healthy_tasks: 0`.
    #[serde(default)]
    pub allow_last_task: bool,
    /// How many of a service's tasks must stay running, not counting those Vigil has already
    /// stopped and ECS has not yet confirmed STOPPED. Absent: 1 (never the last task), or 0 with
    /// `allow_last_task: true`.
    #[serde(default)]
    pub min_healthy_tasks: Option<u32>,
    /// The tag `tag_task` puts on the task.
    #[serde(default)]
    pub tag: TagSpec,
}

impl Playbook {
    /// This playbook's mode, or `default` (the file's `default_mode`) when it sets none.
    pub fn mode(&self, default: Mode) -> Mode {
        self.mode.unwrap_or(default)
    }

    /// True when the playbook stops tasks.
    pub fn stops(&self) -> bool {
        self.actions.contains(&Action::StopTask)
    }

    /// The running tasks a stop must leave in the task's service.
    pub fn min_healthy_tasks(&self) -> u32 {
        match (self.min_healthy_tasks, self.allow_last_task) {
            (Some(n), _) => n,
            (None, true) => 0,
            (None, false) => 1,
        }
    }
}

/// What a finding must have for a playbook to apply. Every list is "any of"; the conditions are "all
/// of"; an empty list does not constrain.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// Detectors the finding came from.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<crate::schema::SourceName>"))]
    pub sources: Vec<Source>,
    /// Rule names (Falco rule, Sysdig rule, GuardDuty finding type) or globs, case-insensitive.
    #[serde(default)]
    pub rules: Vec<Glob>,
    /// ASFF `Types` the finding maps to (e.g. `TTPs/Execution/*`) or the GuardDuty finding type.
    #[serde(default)]
    pub finding_types: Vec<Glob>,
    /// The lowest ASFF severity label that matches (case-insensitive).
    #[serde(default, deserialize_with = "severity")]
    #[cfg_attr(
        feature = "schema",
        schemars(with = "crate::schema::SeverityLabelName")
    )]
    pub min_severity: Option<SeverityLabel>,
    /// Cluster names or ARNs (globs).
    #[serde(default)]
    pub clusters: Vec<Glob>,
    /// ECS service names (globs).
    #[serde(default)]
    pub services: Vec<Glob>,
    /// Task definition families (globs).
    #[serde(default)]
    pub task_definition_families: Vec<Glob>,
    /// Container image references (`repository[:tag]` or `repository@digest`).
    #[serde(default)]
    pub images: Vec<Glob>,
    /// Task tags (service tags where the task lacks the key): key → value glob; all must match.
    #[serde(default)]
    pub tags: BTreeMap<String, Glob>,
}

impl Conditions {
    /// True when the conditions narrow the findings at all. A stop playbook must.
    pub fn constrains(&self) -> bool {
        !(self.sources.is_empty()
            && self.rules.is_empty()
            && self.finding_types.is_empty()
            && self.min_severity.is_none()
            && self.clusters.is_empty()
            && self.services.is_empty()
            && self.task_definition_families.is_empty()
            && self.images.is_empty()
            && self.tags.is_empty())
    }
}

/// The tag `tag_task` puts on the task.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TagSpec {
    /// An ECS tag key: 1-128 characters, not starting with `aws:`. Default `vigil:forensics`.
    #[serde(default = "default_tag_key", deserialize_with = "tag_key")]
    #[cfg_attr(
        feature = "schema",
        schemars(
            length(min = 1, max = 128),
            extend("not" = {"pattern": "^[aA][wW][sS]:"})
        )
    )]
    pub key: String,
    /// The tag value. Default `{fingerprint}`.
    #[serde(default = "default_tag_value")]
    pub value: ReasonTemplate,
}

impl Default for TagSpec {
    fn default() -> Self {
        TagSpec {
            key: default_tag_key(),
            value: default_tag_value(),
        }
    }
}

fn default_tag_key() -> String {
    "vigil:forensics".into()
}

fn default_tag_value() -> ReasonTemplate {
    ReasonTemplate::parse("{fingerprint}").expect("a valid template")
}

/// A playbook name: 1–64 characters of letters, digits, `-`, `_`, `.` (it goes into records and notes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlaybookName(String);

impl PlaybookName {
    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for PlaybookName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(PlaybookName(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "invalid playbook name {s:?}: use 1-64 letters, digits, '-', '_' or '.'"
            )))
        }
    }
}

/// A shell-style pattern (`*`, `?`, `[…]`), matched case-insensitively. A plain name is a pattern
/// that matches only itself.
#[derive(Debug, Clone)]
pub struct Glob {
    text: String,
    pattern: glob::Pattern,
}

impl Glob {
    /// Compiles a pattern; refuses an empty or malformed one.
    pub fn new(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("empty pattern".into());
        }
        let pattern = glob::Pattern::new(text).map_err(|e| format!("bad pattern {text:?}: {e}"))?;
        Ok(Glob {
            text: text.to_owned(),
            pattern,
        })
    }

    /// True when `value` matches, ignoring case.
    pub fn matches(&self, value: &str) -> bool {
        const OPTIONS: glob::MatchOptions = glob::MatchOptions {
            case_sensitive: false,
            // `/` is an ordinary character in rule names, image references and ARNs.
            require_literal_separator: false,
            require_literal_leading_dot: false,
        };
        self.pattern.matches_with(value, OPTIONS)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl<'de> Deserialize<'de> for Glob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Glob::new(&s).map_err(serde::de::Error::custom)
    }
}

fn severity<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SeverityLabel>, D::Error> {
    let s = String::deserialize(d)?;
    SeverityLabel::parse(&s).map(Some).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "min_severity: unknown severity {s:?}: expected INFORMATIONAL, LOW, MEDIUM, HIGH or CRITICAL"
        ))
    })
}

fn actions<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Action>, D::Error> {
    let list = Vec::<Action>::deserialize(d)?;
    if list.is_empty() {
        return Err(serde::de::Error::custom(
            "actions: at least one of stop_task, tag_task, record",
        ));
    }
    for (i, a) in list.iter().enumerate() {
        if list[..i].contains(a) {
            return Err(serde::de::Error::custom(format!(
                "action {} is listed twice",
                a.as_str()
            )));
        }
    }
    Ok(list)
}

fn tag_key<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let key = String::deserialize(d)?;
    // ECS tag keys: 1-128 characters, and the `aws:` prefix is reserved.
    if key.is_empty() || key.chars().count() > 128 || key.to_ascii_lowercase().starts_with("aws:") {
        return Err(serde::de::Error::custom(format!(
            "invalid tag key {key:?}: 1-128 characters, not starting with aws:"
        )));
    }
    Ok(key)
}

/// Why a playbook file was refused, with the position of the offending value when known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", position(*line, *column))]
pub struct PlaybookError {
    /// 1-based line of the offending value, when known.
    pub line: Option<usize>,
    /// 1-based column (characters) of the offending value, when known.
    pub column: Option<usize>,
    /// What is wrong, naming the field.
    pub message: String,
}

fn position(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("line {l}, column {c}: "),
        (Some(l), None) => format!("line {l}: "),
        _ => String::new(),
    }
}

impl PlaybookFile {
    /// Reads and validates a playbook file.
    pub fn parse(text: &str) -> Result<PlaybookFile, PlaybookError> {
        let file: PlaybookFile = serde_norway::from_str(text).map_err(|e| {
            let location = e.location();
            let mut message = e.to_string();
            // The YAML library appends " at line L column C"; the position is reported up front.
            if let Some(cut) = message.rfind(" at line ") {
                message.truncate(cut);
            }
            let (line, column) = refine(
                text,
                location.as_ref().map(|l| (l.line(), l.column())),
                &message,
            );
            PlaybookError {
                line,
                column,
                message,
            }
        })?;
        file.check(text)?;
        Ok(file)
    }

    /// Checks that span a whole playbook or the whole file (their line is the playbook's `name:`).
    fn check(&self, text: &str) -> Result<(), PlaybookError> {
        let at = |name: &PlaybookName, message: String| PlaybookError {
            line: line_of_name(text, name.as_str()),
            column: None,
            message,
        };
        if self.version != FORMAT_VERSION {
            return Err(PlaybookError {
                line: text
                    .lines()
                    .position(|l| l.trim_start().starts_with("version:"))
                    .map(|i| i + 1),
                column: None,
                message: format!(
                    "version: {} is not supported; this Vigil reads version {FORMAT_VERSION}",
                    self.version
                ),
            });
        }
        for (i, p) in self.playbooks.iter().enumerate() {
            let path = format!("playbooks[{i}] ({})", p.name.as_str());
            if self.playbooks[..i].iter().any(|q| q.name == p.name) {
                return Err(at(&p.name, format!("{path}: the name is used twice")));
            }
            if p.allow_last_task && p.min_healthy_tasks.is_some_and(|n| n > 0) {
                return Err(at(
                    &p.name,
                    format!(
                        "{path}: allow_last_task: true contradicts min_healthy_tasks > 0; keep one"
                    ),
                ));
            }
            if p.stops() && !p.conditions.constrains() {
                return Err(at(
                    &p.name,
                    format!(
                        "{path}: a stop_task playbook needs at least one match condition; an empty match would stop every task"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The first playbook whose conditions the finding meets, in file order.
    pub fn first_match<'a>(&'a self, subject: &crate::Subject<'_>) -> Option<&'a Playbook> {
        self.playbooks
            .iter()
            .find(|p| p.conditions.matches(subject))
    }
}

/// The YAML library places errors raised while checking a value at the start of the enclosing
/// mapping; when the message quotes the offending value, point at the line that holds it instead.
fn refine(text: &str, at: Option<(usize, usize)>, message: &str) -> (Option<usize>, Option<usize>) {
    let Some((line, column)) = at else {
        return (None, None);
    };
    let quoted = message
        .split_once('"')
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(value, _)| value)
        .filter(|v| !v.is_empty());
    if let Some(value) = quoted {
        for (i, l) in text.lines().enumerate().skip(line.saturating_sub(1)) {
            if let Some(c) = l.find(value) {
                return (Some(i + 1), Some(l[..c].chars().count() + 1));
            }
        }
    }
    (Some(line), Some(column))
}

fn line_of_name(text: &str, name: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches("- ").trim_start();
            l.strip_prefix("name:")
                .map(|v| v.trim().trim_matches(['"', '\'']) == name)
                .unwrap_or(false)
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
version: 1
default_mode: dry_run
playbooks:
  - name: shell-in-container
    match:
      sources: [falco, sysdig]
      rules: ["Terminal shell in container", "*shell*"]
      min_severity: notice-is-not-a-label
    actions: [stop_task]
"#;

    fn err(text: &str) -> PlaybookError {
        PlaybookFile::parse(text).expect_err("must be refused")
    }

    #[test]
    fn errors_name_the_line_and_field() {
        let e = err(GOOD);
        assert_eq!(e.line, Some(9), "{e}");
        assert!(e.message.contains("min_severity"), "{e}");
        assert!(e.message.contains("unknown severity"), "{e}");

        let e = err(
            "version: 1\nplaybooks:\n  - name: a\n    match: {rules: [x]}\n    actions: [stop]\n",
        );
        assert_eq!(e.line, Some(5));
        assert!(e.message.contains("unknown variant `stop`"), "{e}");

        let e =
            err("version: 1\nplaybooks:\n  - name: a\n    matches: {}\n    actions: [record]\n");
        assert!(e.message.contains("unknown field `matches`"), "{e}");

        let e = err(
            "version: 1\nplaybooks:\n  - name: a\n    match: {rules: ['[x']}\n    actions: [record]\n",
        );
        assert_eq!(e.line, Some(4));
        assert!(e.message.contains("bad pattern"), "{e}");
        assert!(e.to_string().starts_with("line 4, column "), "{e}");
    }

    #[test]
    fn whole_playbook_checks_point_at_its_name() {
        let e = err(
            "version: 1\nplaybooks:\n  - name: a\n    match: {rules: [x]}\n    actions: [record]\n  - name: everything\n    match: {}\n    actions: [stop_task]\n",
        );
        assert_eq!(e.line, Some(6));
        assert!(
            e.message.contains("needs at least one match condition"),
            "{e}"
        );

        let e = err(
            "version: 1\nplaybooks:\n  - name: a\n    match: {rules: [x]}\n    actions: [record]\n  - name: a\n    match: {rules: [y]}\n    actions: [record]\n",
        );
        assert!(e.message.contains("used twice"), "{e}");

        let e = err("version: 2\nplaybooks: []\n");
        assert_eq!(e.line, Some(1));
        assert!(e.message.contains("version: 2"), "{e}");
    }

    #[test]
    fn defaults_are_safe() {
        let f = PlaybookFile::parse(
            "version: 1\nplaybooks:\n  - name: a\n    match: {rules: [x]}\n    actions: [stop_task]\n",
        )
        .unwrap();
        assert_eq!(f.default_mode, Mode::DryRun);
        let p = &f.playbooks[0];
        assert_eq!(p.mode(f.default_mode), Mode::DryRun);
        assert!(!p.allow_last_task);
        assert_eq!(p.tag.key, "vigil:forensics");
    }

    #[test]
    fn globs_are_case_insensitive_and_cross_slashes() {
        let g = Glob::new("*/nginx:*").unwrap();
        assert!(g.matches("public.ecr.aws/NGINX:1.25"));
        assert!(!g.matches("nginx"));
        assert!(
            Glob::new("Terminal shell in container")
                .unwrap()
                .matches("terminal SHELL in container")
        );
        assert!(Glob::new("").is_err());
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            "",
            "[",
            "version: x",
            "playbooks: 7",
            "\u{0}\u{1}",
            "version: 1\nplaybooks:\n  - name: ''\n",
        ] {
            assert!(PlaybookFile::parse(text).is_err(), "{text:?}");
        }
    }
}
