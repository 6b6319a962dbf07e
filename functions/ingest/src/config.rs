//! Settings from the function's environment (set by `infra/template.yaml`).

use std::time::Duration;
use vigil_dedup::DedupConfig;

#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub dedup: DedupConfig,
    pub event_bus_name: String,
    /// Records processed at once within a batch (each is one DynamoDB call).
    pub concurrency: usize,
}

#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl IngestConfig {
    pub fn new(table_name: impl Into<String>, event_bus_name: impl Into<String>) -> Self {
        IngestConfig {
            dedup: DedupConfig::new(table_name),
            event_bus_name: event_bus_name.into(),
            concurrency: 16,
        }
    }

    /// `TABLE_NAME` and `EVENT_BUS_NAME` are required; `DEDUP_WINDOW_SECONDS` (86400),
    /// `DEDUP_LEASE_SECONDS` (120) and `UPDATE_INTERVAL_SECONDS` (900) are optional.
    pub fn from_env() -> Result<Self, ConfigError> {
        let var = |k: &str| std::env::var(k).map_err(|_| ConfigError(format!("{k} is not set")));
        let secs = |k: &str, default: u64| -> Result<Duration, ConfigError> {
            match std::env::var(k) {
                Ok(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|s| *s > 0)
                    .map(Duration::from_secs)
                    .ok_or_else(|| {
                        ConfigError(format!("{k}={v:?} is not a positive number of seconds"))
                    }),
                Err(_) => Ok(Duration::from_secs(default)),
            }
        };
        let mut config = IngestConfig::new(var("TABLE_NAME")?, var("EVENT_BUS_NAME")?);
        config.dedup.window = secs("DEDUP_WINDOW_SECONDS", 86_400)?;
        config.dedup.lease = secs("DEDUP_LEASE_SECONDS", 120)?;
        config.dedup.update_interval = secs("UPDATE_INTERVAL_SECONDS", 900)?;
        Ok(config)
    }
}

impl std::error::Error for ConfigError {}
