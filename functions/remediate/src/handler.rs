//! The SQS batch edge: which records are ours, what each message is, which go back to the queue.

use crate::action_record::Delivery;
use crate::{FindingEnriched, Remediate, Retry};
use serde_json::{Value, json};
use tracing::warn;
use vigil_adapters::{SourceEvent, TaskStateChange};

/// A message on the remediate queue.
enum Message {
    Enriched {
        detail: Box<FindingEnriched<'static>>,
        event_id: Option<String>,
    },
    TaskStopped(Box<TaskStateChange>),
    Ignored,
    Invalid(String),
}

/// The SQS message id and receive count of a record, when it has both.
pub(crate) fn delivery(record: &Value) -> Option<Delivery> {
    let message_id = record.get("messageId")?.as_str()?;
    let receive_count = record
        .get("attributes")?
        .get("ApproximateReceiveCount")?
        .as_str()?
        .parse()
        .ok()?;
    (!message_id.is_empty()).then(|| Delivery {
        message_id: message_id.to_owned(),
        receive_count,
    })
}

impl Remediate {
    /// The Lambda handler for the remediate queue's SQS batches. `invoked_function_arn` names the
    /// deploying account, which is always trusted.
    pub async fn handle(
        &self,
        payload: Value,
        invoked_function_arn: Option<String>,
    ) -> Result<Value, lambda_runtime::Error> {
        let mut records = payload
            .get("Records")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let account = invoked_function_arn
            .as_deref()
            .and_then(vigil_runtime::account_of_function_arn);
        // Approvals come from their own queue only (see `approval`).
        let approvals_failed = self.take_approvals(&mut records, account.as_deref()).await;
        // Only the event source mapping of our own queue delivers to this function; a record
        // naming another source was sent by someone invoking it directly.
        let queues = &self.settings.queue_arns;
        records.retain(|r| {
            let source = r.get("eventSourceARN").and_then(Value::as_str);
            let ours = queues.is_empty() || source.is_some_and(|s| queues.iter().any(|q| q == s));
            if !ours {
                warn!(
                    event_source = source,
                    "a record from outside the remediate queue ignored"
                );
            }
            ours
        });
        let field = |r: &Value, k: &str| {
            r.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let messages: Vec<(String, Option<Delivery>)> = records
            .iter()
            .map(|r| (field(r, "body"), delivery(r)))
            .collect();
        let failed = Box::pin(self.process_batch(&messages, account.as_deref())).await;
        let failures: Vec<Value> = failed
            .into_iter()
            .map(|i| field(&records[i], "messageId"))
            .chain(approvals_failed)
            .map(|id| json!({ "itemIdentifier": id }))
            .collect();
        Ok(json!({ "batchItemFailures": failures }))
    }

    /// Processes message bodies one at a time, as if none had been received before; returns the
    /// indexes SQS must deliver again.
    pub async fn process(&self, bodies: &[String], deploying_account: Option<&str>) -> Vec<usize> {
        let messages: Vec<(String, Option<Delivery>)> =
            bodies.iter().map(|b| (b.clone(), None)).collect();
        Box::pin(self.process_batch(&messages, deploying_account)).await
    }

    async fn process_batch(
        &self,
        messages: &[(String, Option<Delivery>)],
        deploying_account: Option<&str>,
    ) -> Vec<usize> {
        let mut failed = Vec::new();
        let mut guardrails = self.settings.guardrails.clone();
        guardrails
            .trusted_accounts
            .extend(deploying_account.map(str::to_owned));
        for (i, (body, delivery)) in messages.iter().enumerate() {
            let result = match classify(body) {
                Message::Enriched { detail, event_id } => {
                    self.remediate(&detail, event_id.as_deref(), delivery.as_ref(), &guardrails)
                        .await
                }
                Message::TaskStopped(t) => self.confirm(&t, &guardrails).await,
                Message::Ignored => Ok(()),
                Message::Invalid(reason) => {
                    Err(Retry::Other(format!("not a remediation input: {reason}")))
                }
            };
            if let Err(e) = result {
                warn!(message = i, error = %e, "message returned to the queue");
                failed.push(i);
            }
        }
        failed
    }
}

fn classify(body: &str) -> Message {
    let Ok(event) = serde_json::from_str::<Value>(body) else {
        return Message::Invalid("body is not JSON".into());
    };
    let text = |k: &str| event.get(k).and_then(Value::as_str).unwrap_or_default();
    match (text("source"), text("detail-type")) {
        (vigil_contract::SOURCE, vigil_contract::FINDING_ENRICHED) => {
            match serde_json::from_value::<FindingEnriched<'static>>(event["detail"].clone()) {
                Ok(detail) => Message::Enriched {
                    detail: Box::new(detail),
                    event_id: event.get("id").and_then(Value::as_str).map(str::to_owned),
                },
                Err(e) => Message::Invalid(format!("detail: {e}")),
            }
        }
        (vigil_adapters::ECS_SOURCE, vigil_adapters::ECS_TASK_DETAIL_TYPE) => {
            match vigil_adapters::parse_event(body.as_bytes(), &Default::default()) {
                Ok(SourceEvent::TaskStateChange(t)) if t.is_stopped() => {
                    Message::TaskStopped(Box::new(t))
                }
                Ok(_) => Message::Ignored,
                Err(e) => Message::Invalid(e.to_string()),
            }
        }
        (source, detail_type) => {
            Message::Invalid(format!("unexpected event {source:?} / {detail_type:?}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_is_invalid_not_a_panic() {
        for body in [
            "",
            "nope",
            "{}",
            r#"{"source":"vigil","detail-type":"Finding Enriched","detail":{}}"#,
        ] {
            assert!(matches!(classify(body), Message::Invalid(_)), "{body}");
        }
    }

    #[test]
    fn a_delivery_needs_an_id_and_a_receive_count() {
        let record = json!({"messageId": "m1", "attributes": {"ApproximateReceiveCount": "2"}});
        assert_eq!(
            delivery(&record),
            Some(Delivery {
                message_id: "m1".into(),
                receive_count: 2
            })
        );
        assert_eq!(delivery(&json!({"messageId": "m1"})), None);
    }
}
