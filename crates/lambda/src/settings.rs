//! One reader of a function's settings, from its environment (set by `infra/template.yaml`), with
//! one error type that names the setting and says what is wrong with it.

use std::str::FromStr;
use std::time::Duration;

/// A setting that is missing or cannot be read. A function fails its init with it, so the message
/// shows in the Lambda console and the init log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting {name}: {reason}")]
pub struct SettingsError {
    /// The environment variable's name (e.g. `TABLE_NAME`).
    pub name: String,
    /// What is wrong with its value (e.g. `is not set`).
    pub reason: String,
}

impl SettingsError {
    /// The error for setting `name`, with `reason` as its message.
    pub fn new(name: &str, reason: impl Into<String>) -> Self {
        SettingsError {
            name: name.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Settings read through a lookup: the process environment in Lambda ([`Settings::from_env`]), a
/// map in tests ([`Settings::new`]).
pub struct Settings<F> {
    get: F,
}

/// The process environment.
pub fn environment(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Settings<fn(&str) -> Option<String>> {
    /// Settings read from the process environment ([`environment`]).
    pub fn from_env() -> Self {
        Settings { get: environment }
    }
}

impl<F: Fn(&str) -> Option<String>> Settings<F> {
    /// Settings read through `get`, which maps a name to its value (`None` when unset).
    pub fn new(get: F) -> Self {
        Settings { get }
    }

    /// The raw value, when set.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.get)(name)
    }

    /// A setting the function cannot run without.
    pub fn required(&self, name: &str) -> Result<String, SettingsError> {
        self.get(name)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| SettingsError::new(name, "is not set"))
    }

    /// A comma-separated list (`A, B,,C`) as its non-empty, trimmed items; unset is empty.
    pub fn list(&self, name: &str) -> Vec<String> {
        comma_list(self.get(name).as_deref())
    }

    /// `true`/`1`/`yes` or `false`/`0`/`no`/empty (any case); `default` when unset.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, SettingsError> {
        let Some(v) = self.get(name) else {
            return Ok(default);
        };
        match v.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" | "" => Ok(false),
            _ => Err(SettingsError::new(
                name,
                format!("{v:?} is not true or false"),
            )),
        }
    }

    /// A whole number; `default` when unset.
    pub fn number<T: FromStr>(&self, name: &str, default: T) -> Result<T, SettingsError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| SettingsError::new(name, format!("{v:?} is not a whole number"))),
        }
    }

    /// A whole number above zero; `default` when unset.
    pub fn positive(&self, name: &str, default: u64) -> Result<u64, SettingsError> {
        let n: u64 = self.number(name, default)?;
        if n == 0 {
            return Err(SettingsError::new(name, "must be above zero"));
        }
        Ok(n)
    }

    /// A number of seconds above zero; `default_seconds` when unset.
    pub fn seconds(&self, name: &str, default_seconds: u64) -> Result<Duration, SettingsError> {
        self.positive(name, default_seconds)
            .map(Duration::from_secs)
    }

    /// A setting read by `parse` (its error is the reason); `None` when unset.
    pub fn parsed<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, SettingsError> {
        self.get(name)
            .map(|v| parse(v.trim()).map_err(|reason| SettingsError::new(name, reason)))
            .transpose()
    }

    /// Each item of a comma-separated list read by `parse`.
    pub fn list_of<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, SettingsError> {
        self.list(name)
            .iter()
            .map(|item| parse(item).map_err(|reason| SettingsError::new(name, reason)))
            .collect()
    }
}

/// A comma-separated value (`A, B,,C`) as its non-empty, trimmed items; `None` is empty.
pub fn comma_list(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Settings<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::new(move |k: &str| map.get(k).cloned())
    }

    #[test]
    fn each_kind_reads_its_default_its_value_and_refuses_junk() {
        let s = settings(&[
            ("NAME", "t"),
            ("BLANK", " "),
            ("LIST", " a, b,,c "),
            ("FLAG", "Yes"),
            ("BAD_FLAG", "maybe"),
            ("N", "7"),
            ("ZERO", "0"),
            ("NEG", "-1"),
        ]);
        assert_eq!(s.required("NAME").unwrap(), "t");
        assert_eq!(
            s.required("BLANK").unwrap_err(),
            SettingsError::new("BLANK", "is not set")
        );
        assert!(s.required("UNSET").is_err());
        assert_eq!(s.list("LIST"), ["a", "b", "c"]);
        assert!(s.list("UNSET").is_empty());
        assert!(s.flag("FLAG", false).unwrap());
        assert!(s.flag("UNSET", true).unwrap());
        assert!(s.flag("BAD_FLAG", true).is_err());
        assert_eq!(s.number("N", 3u32).unwrap(), 7);
        assert_eq!(s.number("UNSET", 3u32).unwrap(), 3);
        assert!(s.number::<u64>("NEG", 3).is_err());
        assert_eq!(s.number("ZERO", 3u64).unwrap(), 0);
        assert!(s.positive("ZERO", 3).is_err());
        assert_eq!(s.seconds("N", 1).unwrap(), Duration::from_secs(7));
        let err = s.number::<u8>("NEG", 1).unwrap_err().to_string();
        assert!(err.contains("NEG") && err.contains("-1"), "{err}");
        assert_eq!(
            s.list_of("LIST", |v| if v == "c" {
                Err("no c".into())
            } else {
                Ok(v.len())
            }),
            Err(SettingsError::new("LIST", "no c"))
        );
        assert_eq!(s.parsed("N", |v| Ok(v.len())).unwrap(), Some(1));
        assert_eq!(s.parsed("UNSET", |v| Ok(v.len())).unwrap(), None);
    }
}
