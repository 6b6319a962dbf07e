//! Stops held per service: the tasks Vigil decided to stop that ECS has not yet confirmed STOPPED.
//! One DynamoDB item per service (`pk = HOLD#<cluster ARN>/<service>`, `sk = STOPS`; a cluster's tasks
//! of no service under service `""`, `HOLD#<cluster ARN>/`) maps each held
//! task to when its hold lapses, with a version that every change raises. A stop is reserved in
//! the transaction that records the decision, on the condition that the version is still the one
//! read before the service's tasks were listed: two decisions made at once cannot both count the
//! same healthy task, so `min_healthy_tasks` holds however many remediate instances run.
//!
//! Holds are released by the task's STOPPED state change or lapse after `hold_seconds`; a held
//! task that has already stopped is harmless (only listed, running tasks are counted).

use crate::action_record::RecordError;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use vigil_playbook::ServiceHold;

const SORT_KEY: &str = "STOPS";

/// The held stops of one service, as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holds {
    /// 0 when the service has no item yet.
    pub version: i64,
    /// Task ARN → epoch second its hold lapses.
    pub tasks: BTreeMap<String, i64>,
}

impl Holds {
    /// When the hold of `task` lapses (or lapsed), if the item holds it.
    pub fn until(&self, task: &str) -> Option<i64> {
        self.tasks.get(task).copied()
    }

    /// The tasks still held at `now`.
    pub fn active(&self, now: i64) -> BTreeSet<String> {
        self.tasks
            .iter()
            .filter(|(_, until)| **until > now)
            .map(|(t, _)| t.clone())
            .collect()
    }
}

/// The services' held stops in the shared table.
#[derive(Clone)]
pub struct HoldStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    hold_seconds: i64,
}

fn pk(cluster_arn: &str, service: &str) -> String {
    format!("HOLD#{cluster_arn}/{service}")
}

fn store_error(operation: &'static str, pk: String, e: impl std::fmt::Display) -> RecordError {
    RecordError::Store {
        operation,
        pk,
        message: e.to_string(),
    }
}

impl HoldStore {
    /// A store over `table`; a hold lapses `hold_seconds` after it is reserved.
    pub fn new(client: aws_sdk_dynamodb::Client, table: String, hold_seconds: i64) -> Self {
        HoldStore {
            client,
            table,
            hold_seconds,
        }
    }

    /// Reads the service's holds (strongly consistent: a hold written a moment ago must count).
    pub async fn read(&self, cluster_arn: &str, service: &str) -> Result<Holds, RecordError> {
        let pk = pk(cluster_arn, service);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.clone()))
            .key("sk", AttributeValue::S(SORT_KEY.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("GetItem", pk.clone(), DisplayErrorContext(&e)))?;
        let Some(item) = out.item() else {
            return Ok(Holds::default());
        };
        // A version that is not a whole number Vigil could have written is an error, not 0: read
        // as 0, it would make every reservation fail its condition without saying why.
        let version = match item.get("version").map(|v| v.as_n()) {
            None => 0,
            Some(Ok(n)) => n.parse().map_err(|_| {
                store_error(
                    "GetItem",
                    pk.clone(),
                    format!("hold version {n} is not a whole number"),
                )
            })?,
            Some(Err(_)) => {
                return Err(store_error("GetItem", pk, "hold version is not a number"));
            }
        };
        let tasks = item
            .get("tasks")
            .and_then(|v| v.as_m().ok())
            .map(|m| {
                m.iter()
                    .filter_map(|(t, v)| Some((t.clone(), v.as_n().ok()?.parse().ok()?)))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Holds { version, tasks })
    }

    /// The transaction item that adds `hold` to `read` (dropping lapsed holds), refused if anyone
    /// changed the service's holds since they were read.
    pub fn reserve(
        &self,
        hold: &ServiceHold,
        read: &Holds,
        now: i64,
    ) -> Result<TransactWriteItem, RecordError> {
        let pk = pk(&hold.cluster_arn, &hold.service);
        let next = read.version.checked_add(1).ok_or_else(|| {
            store_error("TransactWriteItems", pk.clone(), "hold version overflow")
        })?;
        let mut tasks: HashMap<String, AttributeValue> = read
            .tasks
            .iter()
            .filter(|(_, until)| **until > now)
            .map(|(t, until)| (t.clone(), AttributeValue::N(until.to_string())))
            .collect();
        let until = now + self.hold_seconds;
        tasks.insert(hold.task_arn.clone(), AttributeValue::N(until.to_string()));
        let lapses = read
            .tasks
            .values()
            .copied()
            .chain([until])
            .max()
            .unwrap_or(until);
        let mut put = Put::builder()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(pk.clone()))
            .item("sk", AttributeValue::S(SORT_KEY.into()))
            .item("tasks", AttributeValue::M(tasks))
            .item("version", AttributeValue::N(next.to_string()))
            .item("expires_at", AttributeValue::N(lapses.to_string()));
        put = if read.version == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :read")
                .expression_attribute_values(":read", AttributeValue::N(read.version.to_string()))
        };
        let put = put
            .build()
            .map_err(|e| store_error("TransactWriteItems", pk, e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// ECS confirmed the task STOPPED: its hold is no longer needed.
    pub async fn release(
        &self,
        cluster_arn: &str,
        service: &str,
        task_arn: &str,
    ) -> Result<(), RecordError> {
        let pk = pk(cluster_arn, service);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.clone()))
            .key("sk", AttributeValue::S(SORT_KEY.into()))
            .update_expression("REMOVE #tasks.#task ADD version :one")
            .condition_expression("attribute_exists(#tasks.#task)")
            .expression_attribute_names("#tasks", "tasks")
            .expression_attribute_names("#task", task_arn)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(aws_sdk_dynamodb::error::SdkError::ServiceError(ctx))
                if ctx.err().is_conditional_check_failed_exception() =>
            {
                Ok(())
            }
            Err(e) => Err(store_error("UpdateItem", pk, DisplayErrorContext(&e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_version_is_an_error_not_a_panic() {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .build();
        let store = HoldStore::new(aws_sdk_dynamodb::Client::from_conf(config), "t".into(), 60);
        let hold = ServiceHold {
            cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/c".into(),
            service: "s".into(),
            task_arn: "arn:aws:ecs:us-east-1:123456789012:task/c/1".into(),
        };
        let at_max = Holds {
            version: i64::MAX,
            tasks: BTreeMap::new(),
        };
        assert!(store.reserve(&hold, &at_max, 0).is_err());
        let read = Holds {
            version: 7,
            tasks: BTreeMap::new(),
        };
        let item = store.reserve(&hold, &read, 0).unwrap();
        let put = item.put().unwrap();
        assert_eq!(put.item()["version"], AttributeValue::N("8".into()));
    }

    #[test]
    fn only_holds_that_have_not_lapsed_are_active() {
        let holds = Holds {
            version: 3,
            tasks: [("a".to_owned(), 100), ("b".to_owned(), 200)].into(),
        };
        assert_eq!(holds.active(150), BTreeSet::from(["b".to_owned()]));
        assert!(holds.active(200).is_empty());
    }
}
