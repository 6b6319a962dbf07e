//! Stop counters: how many tasks Vigil stopped per service and per cluster in the last window.
//!
//! The window slides: a limit of 3 stops an hour means 3 in *any* hour. Fixed windows
//! (`start = now - now % window`) would let 3 stops at 13:59 and 3 more at 14:00 through. Each
//! scope has one DynamoDB item (`pk = RATE#<service|cluster>#<id>`, `sk = STOPS`) that lists the
//! epoch seconds of its stops still inside the window, with a version every change raises. A stop
//! is counted in the transaction that records its decision, on the condition that the version is
//! still the one read: two decisions made at once cannot both take the last stop, so the limit
//! holds exactly however many remediate instances run. The item expires (TTL) one window after its
//! newest stop.

use crate::action_record::RecordError;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use vigil_playbook::{CounterScope, StopCounter};

const SORT_KEY: &str = "STOPS";

/// One stop counter: a service's or a cluster's stops in a sliding window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateCounter {
    /// `service <cluster>/<name>` or `cluster <arn>`: for the decision's reason.
    scope: String,
    pk: String,
    limit: u32,
    window: i64,
}

/// A counter's stops as read: the version to write against and when each stop was counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountedStops {
    /// 0 when the counter has no item yet.
    pub version: i64,
    /// Epoch seconds of the stops written (some may have left the window since).
    pub at: Vec<i64>,
}

impl RateCounter {
    fn new(kind: &str, id: &str, limit: u32, window: u64) -> Self {
        RateCounter {
            scope: format!("{kind} {id}"),
            pk: format!("RATE#{kind}#{id}"),
            limit,
            window: i64::try_from(window).unwrap_or(i64::MAX).max(1),
        }
    }

    /// The counter of a service (`cluster_arn`, `service` name): at most `limit` stops in any
    /// `window` seconds.
    pub fn service(cluster_arn: &str, service: &str, limit: u32, window: u64) -> Self {
        Self::new(
            "service",
            &format!("{cluster_arn}/{service}"),
            limit,
            window,
        )
    }

    /// The counter of a cluster: at most `limit` stops in any `window` seconds.
    pub fn cluster(cluster_arn: &str, limit: u32, window: u64) -> Self {
        Self::new("cluster", cluster_arn, limit, window)
    }

    /// The counter the decision core asked for.
    pub fn of(counter: &StopCounter) -> Self {
        match &counter.scope {
            CounterScope::Service {
                cluster_arn,
                service,
            } => Self::service(cluster_arn, service, counter.limit, counter.window_seconds),
            CounterScope::Cluster { cluster_arn } => {
                Self::cluster(cluster_arn, counter.limit, counter.window_seconds)
            }
        }
    }

    /// The item's partition key.
    pub fn pk(&self) -> &str {
        &self.pk
    }

    /// Why a stop was refused on this counter, for the decision's reason.
    pub fn describe(&self) -> String {
        format!(
            "{}: {} stops already in the last {} s",
            self.scope, self.limit, self.window
        )
    }

    /// The stops of `read` still inside the window at `now`: a stop at `t` counts while
    /// `now - window < t`. A stop dated after `now` (another instance's clock ahead of ours)
    /// counts too.
    fn in_window(&self, read: &CountedStops, now: i64) -> Vec<i64> {
        let since = now.saturating_sub(self.window);
        read.at.iter().copied().filter(|&t| t > since).collect()
    }

    /// Whether one more stop at `now` stays within the limit.
    pub fn allows(&self, read: &CountedStops, now: i64) -> bool {
        self.in_window(read, now).len() < usize::try_from(self.limit).unwrap_or(usize::MAX)
    }

    /// The transaction item that counts a stop at `now` on top of `read` (dropping stops that
    /// left the window), refused if anyone counted a stop since `read` was read. `None` when the
    /// counter is at its limit.
    pub fn count(
        &self,
        table: &str,
        read: &CountedStops,
        now: i64,
    ) -> Result<Option<TransactWriteItem>, RecordError> {
        if !self.allows(read, now) {
            return Ok(None);
        }
        let error = |message: String| RecordError::Store {
            operation: "TransactWriteItems",
            pk: self.pk.clone(),
            message,
        };
        let next = read
            .version
            .checked_add(1)
            .ok_or_else(|| error("stop counter version overflow".into()))?;
        let mut at = self.in_window(read, now);
        at.push(now);
        let newest = at.iter().copied().max().unwrap_or(now);
        let mut update = Update::builder()
            .table_name(table)
            .key("pk", AttributeValue::S(self.pk.clone()))
            .key("sk", AttributeValue::S(SORT_KEY.into()))
            .update_expression("SET stops_at = :at, version = :next, expires_at = :expires")
            .expression_attribute_values(
                ":at",
                AttributeValue::L(
                    at.iter()
                        .map(|t| AttributeValue::N(t.to_string()))
                        .collect(),
                ),
            )
            .expression_attribute_values(":next", AttributeValue::N(next.to_string()))
            .expression_attribute_values(
                ":expires",
                AttributeValue::N(newest.saturating_add(self.window).to_string()),
            );
        update = if read.version == 0 {
            update.condition_expression("attribute_not_exists(version)")
        } else {
            update
                .condition_expression("version = :seen")
                .expression_attribute_values(":seen", AttributeValue::N(read.version.to_string()))
        };
        let update = update.build().map_err(|e| error(e.to_string()))?;
        Ok(Some(TransactWriteItem::builder().update(update).build()))
    }
}

/// The stop counters in the shared table.
#[derive(Clone)]
pub struct CounterStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl CounterStore {
    /// The counters in `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: String) -> Self {
        CounterStore { client, table }
    }

    /// The table the counters are in, for the transaction items [`RateCounter::count`] builds.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Reads a counter (strongly consistent: a stop counted a moment ago must count).
    pub async fn read(&self, counter: &RateCounter) -> Result<CountedStops, RecordError> {
        let error = |message: String| RecordError::Store {
            operation: "GetItem",
            pk: counter.pk.clone(),
            message,
        };
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(counter.pk.clone()))
            .key("sk", AttributeValue::S(SORT_KEY.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| error(DisplayErrorContext(&e).to_string()))?;
        let Some(item) = out.item() else {
            return Ok(CountedStops::default());
        };
        // An item Vigil could not have written is an error, not an empty counter: read as empty,
        // it would let stops through (or fail every condition without saying why).
        let number = |v: &AttributeValue| v.as_n().ok().and_then(|n| n.parse::<i64>().ok());
        let version = item
            .get("version")
            .and_then(number)
            .filter(|v| *v > 0)
            .ok_or_else(|| error("stop counter version is not a positive whole number".into()))?;
        let at = match item.get("stops_at") {
            None => Vec::new(),
            Some(v) => v
                .as_l()
                .ok()
                .and_then(|l| l.iter().map(number).collect::<Option<Vec<i64>>>())
                .ok_or_else(|| error("stop counter times are not a list of numbers".into()))?,
        };
        Ok(CountedStops { version, at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(version: i64, at: &[i64]) -> CountedStops {
        CountedStops {
            version,
            at: at.to_vec(),
        }
    }

    #[test]
    fn the_window_slides_across_clock_boundaries() {
        let c = RateCounter::service("arn:c", "shop", 3, 3600);
        // Three stops in the last minutes of one hour: none more in the first minutes of the next.
        let late = read(3, &[7200 - 30, 7200 - 20, 7200 - 10]);
        assert!(!c.allows(&late, 7200 + 5));
        assert!(!c.allows(&late, 7200 - 30 + 3599));
        // Once the first of them is an hour old, one more.
        assert!(c.allows(&late, 7200 - 30 + 3600));
        assert!(c.allows(&read(0, &[]), 0));
        assert!(c.allows(&read(2, &[7200, 7201]), 7202));
    }

    #[test]
    fn a_stop_is_counted_on_the_stops_still_in_the_window() {
        let c = RateCounter::cluster("arn:c", 2, 60);
        assert!(c.count("t", &read(4, &[100, 150]), 159).unwrap().is_none());
        let item = c.count("t", &read(4, &[100, 150]), 161).unwrap().unwrap();
        let update = item.update().unwrap();
        let values = update.expression_attribute_values().unwrap();
        let at: Vec<&str> = values[":at"]
            .as_l()
            .unwrap()
            .iter()
            .map(|v| v.as_n().unwrap().as_str())
            .collect();
        assert_eq!(at, ["150", "161"], "the stop at 100 left the window");
        assert_eq!(values[":next"].as_n().unwrap(), "5");
        assert_eq!(values[":seen"].as_n().unwrap(), "4");
        assert_eq!(values[":expires"].as_n().unwrap(), "221");
        assert_eq!(update.condition_expression(), Some("version = :seen"));
        let first = c.count("t", &read(0, &[]), 10).unwrap().unwrap();
        assert_eq!(
            first.update().unwrap().condition_expression(),
            Some("attribute_not_exists(version)")
        );
    }

    #[test]
    fn scopes_have_their_own_keys_and_a_zero_limit_allows_nothing() {
        let s = RateCounter::service("arn:c", "shop", 3, 3600);
        assert_ne!(s.pk(), RateCounter::cluster("arn:c", 3, 3600).pk());
        assert!(s.describe().contains("service arn:c/shop"));
        assert!(!RateCounter::cluster("arn:c", 0, 60).allows(&read(0, &[]), 5));
    }
}
