//! Settings from the function's environment (set by `infra/template.yaml`).

use std::time::Duration;
use vigil_ecs::EnrichConfig;

#[derive(Debug, Clone)]
pub struct EnrichSettings {
    pub table_name: String,
    pub event_bus_name: String,
    /// GuardDuty already sends its findings to Security Hub; import them again only when asked.
    pub import_guardduty: bool,
    pub ecs: EnrichConfig,
    /// BatchImportFindings calls per second from one instance (Security Hub allows 10 per account;
    /// the template's maximum concurrency on the queue keeps the sum under it).
    pub securityhub_calls_per_second: u32,
}

#[derive(Debug)]
pub struct SettingsError(pub String);

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SettingsError {}

impl EnrichSettings {
    pub fn new(table_name: impl Into<String>, event_bus_name: impl Into<String>) -> Self {
        EnrichSettings {
            table_name: table_name.into(),
            event_bus_name: event_bus_name.into(),
            import_guardduty: false,
            ecs: EnrichConfig::default(),
            securityhub_calls_per_second: 10,
        }
    }

    /// `TABLE_NAME`, `EVENT_BUS_NAME` required; `IMPORT_GUARDDUTY` (false), `DESCRIBE_SERVICES` (true),
    /// `TASK_CACHE_SECONDS` (300), `SECURITYHUB_CALLS_PER_SECOND` (10) optional.
    pub fn from_env() -> Result<Self, SettingsError> {
        let var = |k: &str| std::env::var(k).map_err(|_| SettingsError(format!("{k} is not set")));
        let flag = |k: &str, default: bool| -> Result<bool, SettingsError> {
            match std::env::var(k) {
                Err(_) => Ok(default),
                Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" => Ok(true),
                    "false" | "0" | "no" | "" => Ok(false),
                    _ => Err(SettingsError(format!("{k}={v:?} is not true or false"))),
                },
            }
        };
        let number =
            |k: &str, default: u64| -> Result<u64, SettingsError> {
                match std::env::var(k) {
                    Err(_) => Ok(default),
                    Ok(v) => v.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        SettingsError(format!("{k}={v:?} is not a positive number"))
                    }),
                }
            };
        let mut s = EnrichSettings::new(var("TABLE_NAME")?, var("EVENT_BUS_NAME")?);
        s.import_guardduty = flag("IMPORT_GUARDDUTY", false)?;
        s.ecs.describe_services = flag("DESCRIBE_SERVICES", true)?;
        s.ecs.task_ttl = Duration::from_secs(number("TASK_CACHE_SECONDS", 300)?);
        s.securityhub_calls_per_second =
            u32::try_from(number("SECURITYHUB_CALLS_PER_SECOND", 10)?).unwrap_or(10);
        Ok(s)
    }
}
