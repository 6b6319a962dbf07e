//! The SQS batch edge: which records are ours, what each message is, which go back to the queue.

use crate::action_record::Delivery;
use crate::{FindingEnriched, Remediate, Retry};
use serde_json::Value;
use tracing::warn;
use vigil_adapters::{SourceEvent, TaskStateChange};
use vigil_lambda::{Error, LambdaEvent, SqsBatchResponse, SqsEvent, SqsMessage, emf, sqs};

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
pub(crate) fn delivery(record: &SqsMessage) -> Option<Delivery> {
    let message_id = record.message_id.as_deref().filter(|id| !id.is_empty())?;
    Some(Delivery {
        message_id: message_id.to_owned(),
        receive_count: sqs::receive_count(record)?,
    })
}

impl Remediate {
    /// The Lambda handler for the remediate queue's SQS batches: the messages that failed go back
    /// to their queue (`batchItemFailures`). Approvals come from their own queue only (see
    /// [`crate::approval`]). Otherwise only the event source mapping of our own queue delivers to
    /// this function; a record naming another source was sent by someone invoking it directly and
    /// is not processed. The invoked function's ARN names the deploying account, which is always
    /// trusted.
    pub async fn handle(&self, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
        let account = vigil_lambda::account_of_function_arn(&event.context.invoked_function_arn);
        let mut payload = event.payload;
        let approvals_failed = self
            .take_approvals(&mut payload.records, account.as_deref())
            .await;
        let records = sqs::own_records(payload, &self.settings.queue_arns, "remediate");
        let messages: Vec<(String, Option<Delivery>)> = records
            .iter()
            .map(|r| (sqs::body(r).to_owned(), delivery(r)))
            .collect();
        let failed = Box::pin(self.process_batch(&messages, account.as_deref())).await;
        let mut response = sqs::failures(&records, failed);
        for id in approvals_failed {
            response.add_failure(id);
        }
        Ok(response)
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
        let mut counts = Counts::default();
        let mut guardrails = self.settings.guardrails.clone();
        guardrails
            .trusted_accounts
            .extend(deploying_account.map(str::to_owned));
        for (i, (body, delivery)) in messages.iter().enumerate() {
            let result = match classify(body) {
                Message::Enriched { detail, event_id } => {
                    counts.enriched += 1;
                    self.remediate(&detail, event_id.as_deref(), delivery.as_ref(), &guardrails)
                        .await
                }
                Message::TaskStopped(t) => {
                    counts.task_stopped += 1;
                    self.confirm(&t, &guardrails).await
                }
                Message::Ignored => {
                    counts.ignored += 1;
                    Ok(())
                }
                Message::Invalid(reason) => {
                    counts.invalid += 1;
                    Err(Retry::Other(format!("not a remediation input: {reason}")))
                }
            };
            if let Err(e) = result {
                warn!(message = i, error = %e, "message returned to the queue");
                failed.push(i);
            }
        }
        counts.failed = failed.len() as u64;
        if self.emit_metrics {
            emf::emit("remediate", &counts, (self.clock)().timestamp_millis());
        }
        failed
    }
}

/// What became of one batch's messages; each field is a CloudWatch metric of its PascalCase name.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct Counts {
    /// `Finding Enriched` messages decided.
    enriched: u64,
    /// STOPPED task changes read (confirming stops, releasing holds).
    task_stopped: u64,
    /// Task changes to other states.
    ignored: u64,
    /// Messages that were not a remediation input.
    invalid: u64,
    /// Messages returned to the queue.
    failed: u64,
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
        let mut record = SqsMessage::default();
        record.message_id = Some("m1".into());
        assert_eq!(delivery(&record), None);
        record
            .attributes
            .insert("ApproximateReceiveCount".into(), "2".into());
        assert_eq!(
            delivery(&record),
            Some(Delivery {
                message_id: "m1".into(),
                receive_count: 2
            })
        );
    }
}
