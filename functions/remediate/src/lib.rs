//! The remediate function: `Finding Enriched` → playbooks → guardrails → ECS StopTask (exactly
//! once) → audit record → Security Hub note → `Remediation Executed`. `ECS Task State Change`
//! events to STOPPED that carry our reason confirm a stop on its record and release its hold.
//!
//! Safety first, in this order: the global mode caps every playbook (`dry_run` unless deployed
//! otherwise); an event that is not from Vigil, or that Vigil's dedup record does not vouch for, or
//! whose event, finding or task account is not trusted, or whose cluster is not allowed, never
//! touches a task or the finding's record; a task ECS does not know is recorded aside, so a decoy
//! cannot decide for the genuine alert; the task is looked at afresh (never the enrichment cache)
//! and must be RUNNING, unprotected (task, service or cluster) and leave its service
//! `min_healthy_tasks`, counting the stops Vigil holds; and the stop counters and the hold are
//! taken in the same transaction that records the decision.
//!
//! The decision itself is `vigil_playbook::decide`, shared with `vigil playbook test`. Here:
//! - [`handler`]: the SQS batch edge.
//! - [`decision`]: gathering the facts, deciding, writing the decision.
//! - [`job`]: the claimed job: act, announce, complete.
//! - [`confirm`]: ECS's STOPPED confirmations.
//! - [`approval`], [`proposal`]: `mode: approve`: proposals filed by Security Hub finding, and the
//!   analyst's approval from Security Hub, through a queue of its own.
//! - [`action_record`], [`stop_hold`], [`rate_limit`]: the conditional writes behind each of them.
//! - [`ecs`]: the fresh DescribeTasks / DescribeServices / DescribeClusters / ListTasks, StopTask,
//!   TagResource.
//! - [`settings`]: the environment.

#![warn(missing_docs)]

pub mod action_record;
pub mod approval;
pub mod confirm;
pub mod decision;
pub mod ecs;
pub mod handler;
pub mod job;
pub mod proposal;
pub mod rate_limit;
pub mod settings;
pub mod stop_hold;

pub use decision::Decision;
pub use settings::{DEFAULT_HOLD_SECONDS, RemediateSettings, RemediationMode};
pub use vigil_contract::{FindingEnriched, REMEDIATION_EXECUTED, SecurityHubRef};
pub use vigil_lambda::init_logging;
pub use vigil_runtime::Clock;

use action_record::{ActionStore, RecordError};
use stop_hold::HoldStore;
use vigil_accounts::{Accounts, RoutedClients, Unroutable};
use vigil_bus::EventPublisher;
use vigil_dedup::{DedupConfig, DedupStore};
use vigil_playbook::PlaybookFile;

/// Why a message goes back to SQS.
#[derive(Debug, thiserror::Error)]
pub enum Retry {
    /// A write to the action record, a proposal, a hold or a stop counter failed, or the lease
    /// was lost.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// An ECS call failed.
    #[error(transparent)]
    Ecs(#[from] vigil_ecs::describe::EcsError),
    /// Anything else (the dedup record's read, Security Hub, EventBridge, an unreadable message or
    /// stored decision), as text.
    #[error("{0}")]
    Other(String),
}

/// The remediate function: its clients, stores, playbooks and settings. Shared by concurrent
/// invocations (`Arc`).
pub struct Remediate {
    /// ECS in each task's own account and region (a member's through its role).
    ecs: RoutedClients<aws_sdk_ecs::Client>,
    /// Reads what ingest recorded of each finding's origin (never writes it).
    dedup: DedupStore,
    /// Security Hub in each finding's own account and region, where its notes go.
    securityhub: RoutedClients<aws_sdk_securityhub::Client>,
    records: ActionStore,
    holds: HoldStore,
    counters: rate_limit::CounterStore,
    /// Decisions awaiting an analyst's approval, by Security Hub finding.
    proposals: proposal::ProposalStore,
    publisher: EventPublisher,
    playbooks: PlaybookFile,
    settings: RemediateSettings,
    clock: Clock,
    /// CloudWatch embedded-metric lines on stdout (Lambda); off where stdout is someone's output.
    emit_metrics: bool,
}

impl Remediate {
    /// The function over these clients (no retry is set here: see [`Remediate::from_env`]), on the
    /// system clock, emitting metrics.
    pub fn new(
        ecs: aws_sdk_ecs::Client,
        securityhub: aws_sdk_securityhub::Client,
        dynamodb: aws_sdk_dynamodb::Client,
        eventbridge: aws_sdk_eventbridge::Client,
        playbooks: PlaybookFile,
        settings: RemediateSettings,
    ) -> Self {
        let table = settings.table_name.clone();
        Remediate {
            ecs: RoutedClients::single(ecs, ecs_client),
            dedup: DedupStore::new(dynamodb.clone(), DedupConfig::new(table.clone())),
            securityhub: RoutedClients::single(securityhub, securityhub_client),
            records: ActionStore::new(
                dynamodb.clone(),
                table.clone(),
                settings.lease_seconds,
                settings.retention_seconds,
            ),
            proposals: proposal::ProposalStore::new(
                dynamodb.clone(),
                table.clone(),
                settings.retention_seconds,
            ),
            holds: HoldStore::new(dynamodb.clone(), table.clone(), settings.hold_seconds),
            counters: rate_limit::CounterStore::new(dynamodb, table),
            publisher: EventPublisher::new(
                eventbridge,
                settings.event_bus_name.clone(),
                vigil_bus::RetryPolicy::default(),
            ),
            playbooks,
            settings,
            clock: vigil_runtime::system_clock(),
            emit_metrics: true,
        }
    }

    /// Builds the clients once, from the Lambda environment, each with its SDK retry as the crate
    /// owning its calls sets it (`vigil_ecs::client`, `vigil_securityhub::client`, …). Tasks and
    /// findings of other accounts and regions are reached as the settings' `account_id` and
    /// `members` say.
    pub fn from_env(
        playbooks: PlaybookFile,
        settings: RemediateSettings,
        sdk: &aws_config::SdkConfig,
    ) -> Self {
        let accounts = Accounts::new(sdk, settings.account_id.clone(), settings.members.clone());
        Self::new(
            ecs_client(sdk),
            securityhub_client(sdk),
            vigil_dedup::client(sdk.into()),
            vigil_bus::client(sdk.into()),
            playbooks,
            settings,
        )
        .with_accounts(accounts)
    }

    /// The same function reaching tasks and findings of other accounts and regions as `accounts`
    /// routes them (the deploying account's home region keeps the clients it has).
    pub fn with_accounts(mut self, accounts: Accounts) -> Self {
        let (ecs, securityhub) = (self.ecs.home().clone(), self.securityhub.home().clone());
        self.ecs = RoutedClients::routed(ecs, accounts.clone(), ecs_client);
        self.securityhub = RoutedClients::routed(securityhub, accounts, securityhub_client);
        self
    }

    /// Reads and checks the playbook file named in the settings; the function refuses to start on
    /// a bad one.
    pub fn load_playbooks(settings: &RemediateSettings) -> Result<PlaybookFile, String> {
        let path = &settings.playbooks_file;
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read playbooks {}: {e}", path.display()))?;
        PlaybookFile::parse(&text).map_err(|e| format!("playbooks {}: {e}", path.display()))
    }

    /// Decides at `clock`'s time instead of the system's (tests, demos).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// ECS in the account and region of `arn` (a task's or a cluster's), or why it cannot be
    /// called.
    pub(crate) fn ecs_for(&self, arn: &str) -> Result<aws_sdk_ecs::Client, Unroutable> {
        if let Some((account, region)) = vigil_accounts::place_of_arn(arn)
            && !self
                .settings
                .allowed_regions
                .iter()
                .any(|g| g.matches(region))
        {
            return Err(Unroutable::RegionNotAllowed {
                account: account.to_owned(),
                region: region.to_owned(),
            });
        }
        self.ecs.for_arn(arn)
    }

    /// Security Hub where the finding (`id`, `product_arn`) is: the account and region of its
    /// product ARN (Vigil's own findings), else of its `Id` (GuardDuty's, whose product ARN names
    /// no account: its `Id` is the GuardDuty finding's ARN).
    pub(crate) fn securityhub_for(
        &self,
        id: &str,
        product_arn: &str,
    ) -> Result<aws_sdk_securityhub::Client, Unroutable> {
        match vigil_accounts::place_of_arn(product_arn) {
            Some((account, region)) => self.securityhub.get(account, region),
            // A product ARN naming an account but no region (Vigil's own, from a finding whose
            // region was emptied) says which account, not where: never the home client by way of
            // the `Id`, which names no place either.
            None if product_arn.split(':').nth(4).is_some_and(|a| !a.is_empty()) => {
                Err(Unroutable::NoRegion {
                    account: product_arn.split(':').nth(4).unwrap_or_default().to_owned(),
                })
            }
            None => self.securityhub.for_arn(id),
        }
    }

    /// No embedded-metric lines on stdout (`vigil demo --json` owns stdout).
    pub fn without_metrics(mut self) -> Self {
        self.emit_metrics = false;
        self
    }
}

fn ecs_client(sdk: &aws_config::SdkConfig) -> aws_sdk_ecs::Client {
    vigil_ecs::client(sdk.into())
}

fn securityhub_client(sdk: &aws_config::SdkConfig) -> aws_sdk_securityhub::Client {
    vigil_securityhub::client(sdk.into())
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::config::retry::{RetryConfig, RetryMode};

    fn retry(config: Option<&RetryConfig>) -> Option<(RetryMode, u32)> {
        config.map(|r| (r.mode(), r.max_attempts()))
    }

    /// One retry layer per call: the SDK's standard retry where a call is retried whole (DynamoDB,
    /// ECS, Security Hub's BatchUpdateFindings), none under Vigil's per-entry loop (PutEvents).
    #[test]
    fn the_clients_from_env_builds_retry_as_stated_once() {
        let standard = Some((RetryMode::Standard, vigil_runtime::SDK_STANDARD_ATTEMPTS));
        let dynamodb = vigil_dedup::client(aws_sdk_dynamodb::Config::builder());
        assert_eq!(retry(dynamodb.config().retry_config()), standard);
        let ecs = vigil_ecs::client(aws_sdk_ecs::Config::builder());
        assert_eq!(retry(ecs.config().retry_config()), standard);
        let securityhub = vigil_securityhub::client(aws_sdk_securityhub::Config::builder());
        assert_eq!(retry(securityhub.config().retry_config()), standard);
        let events = vigil_bus::client(aws_sdk_eventbridge::Config::builder());
        assert_eq!(
            retry(events.config().retry_config()),
            Some((RetryMode::Standard, 1)),
            "disabled: one attempt"
        );
    }
}
