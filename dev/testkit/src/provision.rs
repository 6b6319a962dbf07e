use crate::Emulator;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};

/// Resource names shared with `infra/template.yaml`'s defaults.
/// The table's name.
pub const TABLE_NAME: &str = "vigil";
/// The custom (agent) bus's name.
pub const BUS_NAME: &str = "vigil";

impl Emulator {
    /// The Vigil table: partition key `pk`, sort key `sk` (strings), TTL on `expires_at`, on demand.
    pub async fn create_table(&self) {
        let ddb = aws_sdk_dynamodb::Client::new(&self.sdk_config().await);
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .unwrap()
        };
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap()
        };
        ddb.create_table()
            .table_name(TABLE_NAME)
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .attribute_definitions(attr("pk"))
            .attribute_definitions(attr("sk"))
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .expect("create table");
        ddb.update_time_to_live()
            .table_name(TABLE_NAME)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("expires_at")
                    .enabled(true)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("enable TTL");
    }

    /// Every item of the Vigil table (a scan: for assertions, not for anything large).
    pub async fn table_items(
        &self,
    ) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        let ddb = aws_sdk_dynamodb::Client::new(&self.sdk_config().await);
        ddb.scan()
            .table_name(TABLE_NAME)
            .send()
            .await
            .expect("scan")
            .items
            .unwrap_or_default()
    }

    /// The Vigil event bus.
    pub async fn create_bus(&self) {
        let events = aws_sdk_eventbridge::Client::new(&self.sdk_config().await);
        events
            .create_event_bus()
            .name(BUS_NAME)
            .send()
            .await
            .expect("create bus");
    }

    /// A queue `name` receiving every event Vigil puts on the bus with detail-type `detail_type`
    /// (`Finding Accepted`, `Event Rejected`, `Finding Enriched`, `Remediation Executed`).
    pub async fn tap_vigil(&self, name: &str, detail_type: &str) -> BusTap {
        self.tap_bus(
            name,
            serde_json::json!({"source": ["vigil"], "detail-type": [detail_type]}),
        )
        .await
    }

    /// A queue receiving every event on the bus that matches `pattern`, so a test can read what was
    /// published (EventBridge → SQS, as the deployed rules do).
    pub async fn tap_bus(&self, name: &str, pattern: serde_json::Value) -> BusTap {
        let config = self.sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let events = aws_sdk_eventbridge::Client::new(&config);
        let queue_url = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("create queue")
            .queue_url
            .unwrap();
        let queue_arn = format!(
            "arn:aws:sqs:{}:{}:{name}",
            Emulator::REGION,
            Emulator::ACCOUNT
        );
        events
            .put_rule()
            .name(name)
            .event_bus_name(BUS_NAME)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .expect("put rule");
        events
            .put_targets()
            .rule(name)
            .event_bus_name(BUS_NAME)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("tap")
                    .arn(queue_arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("put targets");
        BusTap { sqs, queue_url }
    }
}

/// The events a bus rule delivered to its queue.
pub struct BusTap {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl BusTap {
    /// Everything delivered so far (reads until the queue is empty), as parsed EventBridge events.
    pub async fn drain(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        loop {
            let resp = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            let messages = resp.messages.unwrap_or_default();
            if messages.is_empty() {
                return out;
            }
            for m in messages {
                out.push(
                    serde_json::from_str(m.body.as_deref().unwrap_or("null")).expect("event JSON"),
                );
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle.unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }
}
