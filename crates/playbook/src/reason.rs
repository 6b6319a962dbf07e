//! Reason templates: `{variable}` placeholders filled from the finding, for ECS `stoppedReason`
//! (255 characters at most), Security Hub notes and forensics tag values. Unknown variables are
//! refused when the file is read, not when a task is about to be stopped.

use serde::{Deserialize, Deserializer};

/// The variables a template may use.
pub const VARIABLES: [&str; 12] = [
    "playbook",
    "rule",
    "severity",
    "source",
    "fingerprint",
    "account",
    "cluster",
    "service",
    "task_id",
    "task_arn",
    "container",
    "image",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(&'static str),
}

/// A parsed template: literal text with `{variable}` placeholders (`{{` and `}}` are literal
/// braces). The default names the playbook, rule, severity and container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonTemplate {
    source: String,
    pieces: Vec<Piece>,
}

impl Default for ReasonTemplate {
    fn default() -> Self {
        ReasonTemplate::parse(
            "Vigil playbook {playbook}: {rule} ({severity}) in container {container}",
        )
        .expect("the default template is valid")
    }
}

impl ReasonTemplate {
    /// Parses `text`.
    ///
    /// # Errors
    /// A variable not in [`VARIABLES`] or an unmatched `}`, with a message for the file's author.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    let var = VARIABLES
                        .iter()
                        .find(|v| **v == name.trim())
                        .ok_or_else(|| {
                            format!(
                                "unknown template variable {{{name}}}; known: {}",
                                VARIABLES.join(", ")
                            )
                        })?;
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Var(var));
                }
                '}' => return Err("unmatched '}' (write '}}' for a literal brace)".into()),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(ReasonTemplate {
            source: text.to_owned(),
            pieces,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Fills the template; `value` answers each variable (`None` renders as `-`). Control characters
    /// are removed and the result is cut to `max_chars` on a character boundary.
    pub fn render(&self, value: impl Fn(&str) -> Option<String>, max_chars: usize) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => out.push_str(value(v).as_deref().unwrap_or("-")),
            }
        }
        vigil_model::text::clean(&out, max_chars, false)
    }
}

impl<'de> Deserialize<'de> for ReasonTemplate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        // The template is quoted so the error can point at its line.
        ReasonTemplate::parse(&s)
            .map_err(|e| serde::de::Error::custom(format!("template {s:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_variables_and_escapes() {
        let t = ReasonTemplate::parse("{{vigil}} {rule} on {task_id}: {service}").unwrap();
        let out = t.render(
            |v| match v {
                "rule" => Some("Terminal shell".into()),
                "task_id" => Some("abc".into()),
                _ => None,
            },
            255,
        );
        assert_eq!(out, "{vigil} Terminal shell on abc: -");
    }

    #[test]
    fn refuses_unknown_variables_and_stray_braces() {
        assert!(
            ReasonTemplate::parse("{rul}")
                .unwrap_err()
                .contains("unknown template variable {rul}")
        );
        assert!(ReasonTemplate::parse("a } b").is_err());
    }

    #[test]
    fn output_is_capped_and_clean() {
        let t = ReasonTemplate::parse("{rule}").unwrap();
        let out = t.render(|_| Some(format!("\u{1b}[31mred{}", "é".repeat(400))), 255);
        assert_eq!(out.chars().count(), 255);
        assert!(!out.contains('\u{1b}'));
    }
}
