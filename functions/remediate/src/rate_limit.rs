//! Stop counters: how many tasks Vigil stopped per service and per cluster in the current window.
//! Fixed windows (`window_start = now - now % window`), one DynamoDB item each, counted inside the
//! action record's transaction so a limit of 3 means 3 even under concurrent invocations. Items
//! expire (TTL) one window after their window ends.

use crate::action_record::RecordError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use vigil_playbook::{CounterScope, StopCounter};

/// One stop counter in one window: `pk = RATE#<service|cluster>#<id>`, `sk = WINDOW#<start>`
/// (`start` in Unix epoch seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateCounter {
    /// `service <cluster>/<name>` or `cluster <arn>`: for the decision's reason.
    scope: String,
    pk: String,
    sk: String,
    limit: u32,
    expires_at: i64,
}

impl RateCounter {
    fn new(kind: &str, id: &str, limit: u32, window: u64, now: i64) -> Self {
        let window = i64::try_from(window).unwrap_or(i64::MAX).max(1);
        let start = now - now.rem_euclid(window);
        RateCounter {
            scope: format!("{kind} {id}"),
            pk: format!("RATE#{kind}#{id}"),
            sk: format!("WINDOW#{start}"),
            limit,
            expires_at: start.saturating_add(window.saturating_mul(2)),
        }
    }

    /// The counter of a service (`cluster_arn`, `service` name) for the `window` (seconds) that `now`
    /// (Unix epoch seconds) falls in, at most `limit` stops.
    pub fn service(cluster_arn: &str, service: &str, limit: u32, window: u64, now: i64) -> Self {
        Self::new(
            "service",
            &format!("{cluster_arn}/{service}"),
            limit,
            window,
            now,
        )
    }

    /// The counter of a cluster for the `window` (seconds) that `now` (Unix epoch seconds) falls in,
    /// at most `limit` stops.
    pub fn cluster(cluster_arn: &str, limit: u32, window: u64, now: i64) -> Self {
        Self::new("cluster", cluster_arn, limit, window, now)
    }

    /// The counter the decision core asked for, in the window `now` falls in.
    pub fn of(counter: &StopCounter, now: i64) -> Self {
        match &counter.scope {
            CounterScope::Service {
                cluster_arn,
                service,
            } => Self::service(
                cluster_arn,
                service,
                counter.limit,
                counter.window_seconds,
                now,
            ),
            CounterScope::Cluster { cluster_arn } => {
                Self::cluster(cluster_arn, counter.limit, counter.window_seconds, now)
            }
        }
    }

    /// Why a stop was refused on this counter, for the decision's reason.
    pub fn describe(&self) -> String {
        format!(
            "{}: {} stops already in this window",
            self.scope, self.limit
        )
    }

    /// `stops + 1`, refused when the counter is already at its limit.
    pub fn increment(&self, table: &str) -> Result<TransactWriteItem, RecordError> {
        let update = Update::builder()
            .table_name(table)
            .key("pk", AttributeValue::S(self.pk.clone()))
            .key("sk", AttributeValue::S(self.sk.clone()))
            .update_expression("ADD stops :one SET expires_at = :expires")
            .condition_expression("attribute_not_exists(stops) OR stops < :limit")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(self.limit.to_string()))
            .expression_attribute_values(":expires", AttributeValue::N(self.expires_at.to_string()))
            .build()
            .map_err(|e| RecordError::Store {
                operation: "TransactWriteItems",
                pk: self.pk.clone(),
                message: e.to_string(),
            })?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_fixed_and_keys_separate_scopes() {
        let a = RateCounter::service("arn:c", "shop", 3, 3600, 7200 + 5);
        let b = RateCounter::service("arn:c", "shop", 3, 3600, 7200 + 3599);
        let c = RateCounter::service("arn:c", "shop", 3, 3600, 7200 + 3600);
        assert_eq!(a, b);
        assert_ne!(a.sk, c.sk);
        assert_eq!(a.expires_at, 7200 + 7200);
        assert_ne!(a.pk, RateCounter::cluster("arn:c", 3, 3600, 7200).pk);
        assert!(a.describe().contains("service arn:c/shop"));
    }
}
