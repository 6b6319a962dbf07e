//! The one builder of source events the tests, the demo and the benchmarks send: the Falco alert of
//! `samples/falco-ecs-eventbridge.json` (an EventBridge event of falcosidekick's, ECS labels in its
//! `output_fields`), changed only where a test says so.

use serde_json::{Value, json};

/// The sample Falco alert, as EventBridge delivers it from the agent bus.
const FALCO_SAMPLE: &str = include_str!("../../../samples/falco-ecs-eventbridge.json");

/// A Falco alert under construction; [`FalcoAlert::event`] gives the EventBridge event.
#[derive(Debug, Clone)]
pub struct FalcoAlert {
    event: Value,
}

impl Default for FalcoAlert {
    fn default() -> Self {
        FalcoAlert::sample()
    }
}

impl FalcoAlert {
    /// The sample, unchanged.
    pub fn sample() -> Self {
        FalcoAlert {
            event: serde_json::from_str(FALCO_SAMPLE).expect("the Falco sample is JSON"),
        }
    }

    /// The EventBridge event id (`id`): a redelivery repeats it.
    pub fn id(mut self, id: &str) -> Self {
        self.event["id"] = json!(id);
        self
    }

    /// The sender account and region EventBridge stamps (`account`, `region`).
    pub fn from_account(mut self, account: &str, region: &str) -> Self {
        self.event["account"] = json!(account);
        self.event["region"] = json!(region);
        self
    }

    /// The Falco rule name (`detail.rule`).
    pub fn rule(mut self, rule: &str) -> Self {
        self.event["detail"]["rule"] = json!(rule);
        self
    }

    /// The Falco priority (`detail.priority`: `Notice`, `Warning`, `Error`, `Critical`, ...).
    pub fn priority(mut self, priority: &str) -> Self {
        self.event["detail"]["priority"] = json!(priority);
        self
    }

    /// falcosidekick's own id of the alert (`detail.uuid`): a copy with the same uuid is a
    /// redelivery of it, whatever its EventBridge id.
    pub fn uuid(mut self, uuid: &str) -> Self {
        self.event["detail"]["uuid"] = json!(uuid);
        self
    }

    /// Seen just now (`detail.time`): remediation refuses findings older than its age limit.
    pub fn seen_now(mut self) -> Self {
        self.event["detail"]["time"] =
            json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true));
        self
    }

    /// From the `app` container of `task` in `cluster` (the ECS agent's Docker labels). The
    /// sample's container id belongs to no emulated task, and remediation checks that an alert's
    /// container is one of its task's, so the alert names none.
    pub fn on_task(mut self, cluster: &str, task: &str) -> Self {
        let fields = self.fields();
        fields.remove("container.id");
        fields.insert(
            "container.label.com.amazonaws.ecs.task-arn".into(),
            json!(task),
        );
        fields.insert(
            "container.label.com.amazonaws.ecs.cluster".into(),
            json!(cluster),
        );
        fields.insert(
            "container.label.com.amazonaws.ecs.container-name".into(),
            json!("app"),
        );
        self
    }

    /// The process id (`output_fields."proc.pid"`): a field outside the fingerprint.
    pub fn pid(mut self, pid: u64) -> Self {
        self.fields().insert("proc.pid".into(), json!(pid));
        self
    }

    /// The EventBridge event.
    pub fn event(self) -> Value {
        self.event
    }

    /// What a sender puts on the bus (`source`, `detail-type`, `detail`): EventBridge adds the
    /// id, account, region and time.
    pub fn entry(self) -> Value {
        let v = self.event;
        json!({"source": v["source"], "detail-type": v["detail-type"], "detail": v["detail"]})
    }

    fn fields(&mut self) -> &mut serde_json::Map<String, Value> {
        self.event["detail"]["output_fields"]
            .as_object_mut()
            .expect("the sample has output_fields")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_setter_changes_its_field_only() {
        let sample = FalcoAlert::sample().event();
        let alert = FalcoAlert::sample()
            .id("e1")
            .from_account("111122223333", "eu-west-1")
            .rule("Terminal shell in container")
            .priority("Critical")
            .uuid("u1")
            .on_task("c", "arn:aws:ecs:eu-west-1:111122223333:task/c/t")
            .pid(7)
            .event();
        assert_eq!(alert["id"], "e1");
        assert_eq!(alert["account"], "111122223333");
        assert_eq!(alert["detail"]["priority"], "Critical");
        assert_eq!(alert["detail"]["uuid"], "u1");
        let fields = &alert["detail"]["output_fields"];
        assert!(fields.get("container.id").is_none());
        assert_eq!(fields["container.label.com.amazonaws.ecs.cluster"], "c");
        assert_eq!(fields["proc.pid"], 7);
        assert_eq!(alert["source"], sample["source"]);
        assert_eq!(alert["detail"]["output"], sample["detail"]["output"]);
        let entry = FalcoAlert::sample().entry();
        assert!(entry.get("id").is_none() && entry.get("account").is_none());
        assert_eq!(entry["detail"], sample["detail"]);
    }
}
