//! Stop counters: how many tasks Vigil stopped per service and per cluster in the last window.
//!
//! The window slides: a limit of 3 stops an hour means 3 in *any* hour. Fixed windows
//! (`start = now - now % window`) would let 3 stops at 13:59 and 3 more at 14:00 through. Each
//! scope has one DynamoDB item (`pk = RATE#<service|cluster>#<id>`, `sk = STOPS`) that lists the
//! epoch seconds of its newest stops (as many as the limit), with a version every change raises. A
//! stop is counted in the transaction that records its decision, on the condition that the version
//! is still the one read: two decisions made at once cannot both take the last stop, so the limit
//! holds exactly however many remediate instances run. The item expires (TTL) one window after its
//! newest stop.
//!
//! The list keeps the newest stops, not the ones inside the writer's window: an instance whose
//! clock runs ahead sees the others' recent stops as old, and dropping them would let every
//! instance with a right clock stop again. Whether a stop still counts is each reader's judgement.
//!
//! Counters from before the window slid (`sk = WINDOW#<start>`, `stops` in the fixed window from
//! `start`) are read beside it and count for as long as their stops could be inside the window (as
//! if made in the fixed window's last second), so a deployment in the middle of a burst does not
//! give every service its limit again. Nothing writes them any more; their TTL removes them.

use crate::action_record::RecordError;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use vigil_playbook::{CounterScope, StopCounter};

const SORT_KEY: &str = "STOPS";
/// The sort key prefix of a fixed-window counter from before the window slid.
const LEGACY_PREFIX: &str = "WINDOW#";

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
    /// Stops of fixed-window counters from before the window slid, each dated the last second of
    /// its window: they count, but are not carried into the list.
    pub legacy: Vec<i64>,
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
    fn in_window(&self, read: &CountedStops, now: i64) -> usize {
        read.at
            .iter()
            .chain(&read.legacy)
            .filter(|&&t| self.still_counts(t, now))
            .count()
    }

    /// Whether a stop counted at `at` is still inside the window at `now`.
    pub fn still_counts(&self, at: i64, now: i64) -> bool {
        at > now.saturating_sub(self.window)
    }

    /// Whether one more stop at `now` stays within the limit.
    pub fn allows(&self, read: &CountedStops, now: i64) -> bool {
        self.in_window(read, now) < usize::try_from(self.limit).unwrap_or(usize::MAX)
    }

    /// The transaction item that counts a stop at `now` on top of `read` (keeping the newest
    /// `limit` stops: whichever of them are still in the window, by any reader's clock, are among
    /// them), refused if anyone counted a stop since `read` was read. `None` when the counter is
    /// at its limit.
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
        let mut at = read.at.clone();
        at.push(now);
        at.sort_unstable();
        let keep = usize::try_from(self.limit).unwrap_or(usize::MAX);
        at.drain(..at.len().saturating_sub(keep));
        let newest = at.last().copied().unwrap_or(now);
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

    /// Reads a counter (strongly consistent: a stop counted a moment ago must count), with the
    /// fixed-window counters from before the window slid that share its key: one `Query`.
    pub async fn read(&self, counter: &RateCounter) -> Result<CountedStops, RecordError> {
        let error = |message: String| RecordError::Store {
            operation: "Query",
            pk: counter.pk.clone(),
            message,
        };
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(counter.pk.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| error(DisplayErrorContext(&e).to_string()))?;
        // A counter and at most a few fixed-window items: never a page of them.
        if out.last_evaluated_key().is_some() {
            return Err(error(
                "more items under the counter's key than one page".into(),
            ));
        }
        let items = out.items();
        // An item Vigil could not have written is an error, not an empty counter: read as empty,
        // it would let stops through (or fail every condition without saying why).
        let number = |v: &AttributeValue| v.as_n().ok().and_then(|n| n.parse::<i64>().ok());
        let mut read = CountedStops::default();
        for item in items {
            let sk = item
                .get("sk")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str);
            if sk == Some(SORT_KEY) {
                read.version = item
                    .get("version")
                    .and_then(number)
                    .filter(|v| *v > 0)
                    .ok_or_else(|| {
                        error("stop counter version is not a positive whole number".into())
                    })?;
                read.at = match item.get("stops_at") {
                    None => Vec::new(),
                    Some(v) => v
                        .as_l()
                        .ok()
                        .and_then(|l| l.iter().map(number).collect::<Option<Vec<i64>>>())
                        .ok_or_else(|| {
                            error("stop counter times are not a list of numbers".into())
                        })?,
                };
            } else if let Some(start) = sk.and_then(|k| k.strip_prefix(LEGACY_PREFIX)) {
                let start = start
                    .parse::<i64>()
                    .map_err(|_| error(format!("fixed-window counter {sk:?}: no start")))?;
                let stops = item
                    .get("stops")
                    .and_then(number)
                    .ok_or_else(|| error(format!("fixed-window counter {sk:?}: no stops")))?;
                // It expired two of its windows after its start.
                let window = item
                    .get("expires_at")
                    .and_then(number)
                    .map(|e| e.saturating_sub(start) / 2)
                    .filter(|w| *w > 0)
                    .unwrap_or(counter.window);
                let last_second = start.saturating_add(window).saturating_sub(1);
                let copies = stops.clamp(0, i64::from(counter.limit));
                read.legacy.extend((0..copies).map(|_| last_second));
            }
        }
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(version: i64, at: &[i64]) -> CountedStops {
        CountedStops {
            version,
            at: at.to_vec(),
            legacy: Vec::new(),
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
    fn the_list_keeps_the_newest_stops_whatever_the_writers_clock() {
        let c = RateCounter::service("arn:c", "shop", 3, 600);
        // A writer 500 s ahead: two of the three stops are out of its window, but stay listed.
        let item = c.count("t", &read(3, &[1000, 1100, 1200]), 1700).unwrap();
        let update = item.unwrap().update().cloned().unwrap();
        let at: Vec<&str> = update.expression_attribute_values().unwrap()[":at"]
            .as_l()
            .unwrap()
            .iter()
            .map(|v| v.as_n().unwrap().as_str())
            .collect();
        assert_eq!(at, ["1100", "1200", "1700"]);
        // A right clock right after still sees its three stops.
        assert!(!c.allows(&read(4, &[1100, 1200, 1700]), 1201));
    }

    #[test]
    fn fixed_window_stops_count_until_a_window_after_that_windows_last_second() {
        let c = RateCounter::service("arn:c", "shop", 3, 3600);
        let legacy = CountedStops {
            version: 0,
            at: Vec::new(),
            legacy: vec![7199; 3],
        };
        assert!(!c.allows(&legacy, 7199 + 3599));
        assert!(c.allows(&legacy, 7199 + 3600));
        // They are not written into the list.
        let item = c.count("t", &legacy, 7199 + 3600).unwrap().unwrap();
        let values = item
            .update()
            .unwrap()
            .expression_attribute_values()
            .unwrap();
        assert_eq!(values[":at"].as_l().unwrap().len(), 1);
    }

    #[test]
    fn scopes_have_their_own_keys_and_a_zero_limit_allows_nothing() {
        let s = RateCounter::service("arn:c", "shop", 3, 3600);
        assert_ne!(s.pk(), RateCounter::cluster("arn:c", 3, 3600).pk());
        assert!(s.describe().contains("service arn:c/shop"));
        assert!(!RateCounter::cluster("arn:c", 0, 60).allows(&read(0, &[]), 5));
    }
}
