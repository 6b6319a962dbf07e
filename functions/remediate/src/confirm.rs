//! ECS's `Task State Change` to STOPPED for a task Vigil stopped (its `stoppedReason` carries
//! Vigil's marker): stamp the action record, note it on the Security Hub finding, and release the
//! stop's hold on its service.

use crate::action_record::ActionKey;
use crate::decision::Decision;
use crate::{Remediate, Retry, ecs};
use aws_sdk_securityhub::types::WorkflowStatus;
use tracing::{info, warn};
use vigil_adapters::TaskStateChange;
use vigil_playbook::{Guardrails, Mode};

impl Remediate {
    /// ECS says a task we stopped is STOPPED: stamp the record and the finding's note.
    pub(crate) async fn confirm(
        &self,
        change: &TaskStateChange,
        guardrails: &Guardrails,
    ) -> Result<(), Retry> {
        let Some(fingerprint) = change
            .stopped_reason
            .as_deref()
            .and_then(vigil_playbook::marker)
        else {
            return Ok(());
        };
        if !change
            .account
            .as_deref()
            .is_some_and(|a| guardrails.trusted_accounts.contains(a))
        {
            warn!(
                task = change.task_arn,
                "task state change from an untrusted account ignored"
            );
            return Ok(());
        }
        // ECS must stand behind the change: a STOPPED change for a task ECS still runs (or one it
        // does not know in that cluster) would release a hold whose StopTask is yet to be made,
        // and let a concurrent decision count the task as healthy and stop another.
        // Asked in the task's own account and region, which must be the account the change came
        // from: a trusted account's change cannot make Vigil look into another account.
        let task_account = vigil_accounts::place_of_arn(&change.task_arn).map(|(a, _)| a);
        if task_account != change.account.as_deref() {
            warn!(
                task = change.task_arn,
                "a task state change about another account's task ignored"
            );
            return Ok(());
        }
        let client = match self.ecs_for(&change.task_arn) {
            Ok(client) => client,
            Err(e) => {
                warn!(task = change.task_arn, error = %e, "a stopped task Vigil cannot look at ignored");
                return Ok(());
            }
        };
        let Some((cluster_arn, service)) =
            ecs::stopped_task(&client, &change.cluster_arn, &change.task_arn).await?
        else {
            warn!(
                task = change.task_arn,
                "a STOPPED state change for a task ECS does not show stopped ignored"
            );
            return Ok(());
        };
        // The stop is done: the service's count (the service ECS names) no longer needs to hold it;
        // a task of no service is held under its cluster, as service `""`.
        self.holds
            .release(
                &cluster_arn,
                service.as_deref().unwrap_or_default(),
                &change.task_arn,
            )
            .await?;
        let key = ActionKey {
            fingerprint: fingerprint.to_owned(),
            task_arn: change.task_arn.clone(),
            mode: Mode::Enforce,
        };
        let stopped_at = change
            .stopped_at
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| (self.clock)().to_rfc3339());
        let Some(record) = self
            .records
            .confirm_stop(
                &key,
                &stopped_at,
                change.stop_code.as_deref().unwrap_or("UNKNOWN"),
            )
            .await?
        else {
            info!(
                task = change.task_arn,
                "stopped with our marker but no action record"
            );
            return Ok(());
        };
        self.note_confirmed(record.decision.as_deref(), change, &stopped_at)
            .await?;
        info!(task = change.task_arn, fingerprint, "stop confirmed");
        Ok(())
    }

    /// Notes the confirmed stop on the Security Hub finding the stored decision names.
    async fn note_confirmed(
        &self,
        stored: Option<&str>,
        change: &TaskStateChange,
        stopped_at: &str,
    ) -> Result<(), Retry> {
        let decision: Option<Decision> = stored.and_then(|d| serde_json::from_str(d).ok());
        let Some((d, target)) = decision.as_ref().and_then(|d| Some((d, d.note_target()?))) else {
            return Ok(());
        };
        let text = format!(
            "Vigil: task {} confirmed STOPPED by ECS at {stopped_at} (playbook {}).",
            change.task_arn, d.playbook
        );
        let hub = match self.securityhub_for(&target.id, &target.product_arn) {
            Ok(hub) => hub,
            Err(e) => {
                warn!(finding = target.id, error = %e, "the confirmed stop is not noted");
                return Ok(());
            }
        };
        match vigil_securityhub::workflow::annotate(
            &hub,
            &target.id,
            &target.product_arn,
            &text,
            Some(WorkflowStatus::Resolved),
        )
        .await
        {
            Ok(()) => Ok(()),
            // GuardDuty's own finding: best effort (see `announce`). So is Vigil's own here: the
            // stored decision's note target may be a copy's (another region, see `finish`), and
            // ECS's change has done its work (hold released, stop stamped); retrying it for a
            // note Security Hub cannot take would only dead-letter it.
            Err(e) if e.is_permanent() => {
                warn!(finding = target.id, error = %e, "the confirmed stop is not noted");
                Ok(())
            }
            Err(e) => Err(Retry::Other(e.to_string())),
        }
    }
}
