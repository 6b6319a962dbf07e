//! The playbook file: its YAML form, loading and validation. Every value is checked while it is read,
//! so an error names the line and column of the offending value; a file that does not pass is refused
//! as a whole (the function will not start on it).

use crate::reason::ReasonTemplate;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use vigil_model::{SeverityLabel, Source};

/// The only file format version so far.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaybookFile {
    pub version: u32,
    /// The mode of playbooks that do not set one. Dry-run unless the file says otherwise.
    #[serde(default)]
    pub default_mode: Mode,
    pub playbooks: Vec<Playbook>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    DryRun,
    Enforce,
    /// Decide as `enforce` would, but where the decision is to act, propose it and wait for an
    /// analyst's approval (a Security Hub custom action) before acting.
    Approve,
}

impl Mode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::DryRun => "dry_run",
            Mode::Enforce => "enforce",
            Mode::Approve => "approve",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// ECS StopTask with the rendered reason.
    StopTask,
    /// Tag the task for forensics (`tag.key` = `tag.value`).
    TagTask,
    /// Only record the decision.
    Record,
}

impl Action {
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::StopTask => "stop_task",
            Action::TagTask => "tag_task",
            Action::Record => "record",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Playbook {
    pub name: PlaybookName,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(rename = "match")]
    pub conditions: Conditions,
    #[serde(deserialize_with = "actions")]
    pub actions: Vec<Action>,
    /// `None`: the file's `default_mode`.
    #[serde(default)]
    pub mode: Option<Mode>,
    #[serde(default)]
    pub reason: ReasonTemplate,
    /// Stopping the last running task of a service takes it down; refused unless this says so.
    /// `true` is the same as `min_healthy_tasks: 0`.
    #[serde(default)]
    pub allow_last_task: bool,
    /// How many of a service's tasks must stay running, not counting those Vigil has already
    /// stopped and ECS has not yet confirmed STOPPED. `None`: 1 (never the last task), or 0 with
    /// `allow_last_task: true`.
    #[serde(default)]
    pub min_healthy_tasks: Option<u32>,
    #[serde(default)]
    pub tag: TagSpec,
}

impl Playbook {
    pub fn mode(&self, default: Mode) -> Mode {
        self.mode.unwrap_or(default)
    }

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
#[serde(deny_unknown_fields)]
pub struct Conditions {
    #[serde(default)]
    pub sources: Vec<Source>,
    /// Rule names (Falco rule, Sysdig rule, GuardDuty finding type) or globs, case-insensitive.
    #[serde(default)]
    pub rules: Vec<Glob>,
    /// ASFF `Types` the finding maps to (e.g. `TTPs/Execution/*`) or the GuardDuty finding type.
    #[serde(default)]
    pub finding_types: Vec<Glob>,
    #[serde(default, deserialize_with = "severity")]
    pub min_severity: Option<SeverityLabel>,
    /// Cluster names or ARNs (globs).
    #[serde(default)]
    pub clusters: Vec<Glob>,
    #[serde(default)]
    pub services: Vec<Glob>,
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
#[serde(deny_unknown_fields)]
pub struct TagSpec {
    #[serde(default = "default_tag_key", deserialize_with = "tag_key")]
    pub key: String,
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

    pub fn matches(&self, value: &str) -> bool {
        const OPTIONS: glob::MatchOptions = glob::MatchOptions {
            case_sensitive: false,
            // `/` is an ordinary character in rule names, image references and ARNs.
            require_literal_separator: false,
            require_literal_leading_dot: false,
        };
        self.pattern.matches_with(value, OPTIONS)
    }

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
    pub line: Option<usize>,
    pub column: Option<usize>,
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
