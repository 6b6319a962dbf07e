//! ECS enrichment in each task's own account and region: ECS describes a task only to its own
//! account, in its region. Findings are grouped by the (account, region) of their task (its ARN,
//! else its cluster's, else the finding's own account and region); the deploying account's home
//! region is described with the function's own enricher, any other (account, region) with an
//! enricher of its own, built on first use and kept with its caches (own credentials for the
//! deploying account, the member role's for a member account). A group that cannot be routed
//! (an account without a member role) is not described: its findings flow on unenriched, with the
//! reason.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use vigil_accounts::Accounts;
use vigil_ecs::{EcsEnricher, EnrichConfig};
use vigil_model::{Enrichment, Finding};

/// (account, region)
type Key = (String, String);

/// The ECS enrichers of every (account, region) the findings' tasks are in.
pub struct Enrichers {
    home: Arc<EcsEnricher>,
    config: EnrichConfig,
    accounts: Option<Accounts>,
    others: Mutex<HashMap<Key, Arc<EcsEnricher>>>,
}

impl Enrichers {
    /// Every task described through `home` (a single-account Vigil).
    pub fn single(home: EcsEnricher, config: EnrichConfig) -> Self {
        Enrichers {
            home: Arc::new(home),
            config,
            accounts: None,
            others: Mutex::new(HashMap::new()),
        }
    }

    /// The same home enricher, routing every other (account, region) with `accounts`.
    pub fn with_accounts(self, accounts: Accounts) -> Self {
        Enrichers {
            accounts: Some(accounts),
            others: Mutex::new(HashMap::new()),
            ..self
        }
    }

    /// One enrichment per finding, in order; never fails as a whole.
    pub async fn enrich(&self, findings: &[Finding]) -> Vec<Enrichment> {
        let mut out: Vec<Option<Enrichment>> = vec![None; findings.len()];
        for (key, members) in groups(findings) {
            // A task is described only for its own account's finding: another account's task
            // (a label naming it) is not described into this account's finding and hub.
            let (members, foreign): (Vec<usize>, Vec<usize>) =
                members.into_iter().partition(|&i| {
                    self.accounts.is_none()
                        || findings[i]
                            .account
                            .as_deref()
                            .is_none_or(|a| a.is_empty() || a == key.0)
                });
            for i in foreign {
                let reason = format!(
                    "ECS not called: the task is in account {}, the finding is of account {}",
                    key.0,
                    findings[i].account.as_deref().unwrap_or_default()
                );
                tracing::warn!(account = key.0, reason, "task not described");
                out[i] = Some(Enrichment::unenriched(reason));
            }
            if members.is_empty() {
                continue;
            }
            let batch: Vec<Finding> = members.iter().map(|&i| findings[i].clone()).collect();
            let enriched = match self.enricher(&key) {
                Ok(enricher) => enricher.enrich(&batch).await,
                Err(reason) => {
                    tracing::warn!(
                        account = key.0,
                        region = key.1,
                        reason,
                        "tasks not described"
                    );
                    vec![Enrichment::unenriched(reason); batch.len()]
                }
            };
            for (i, e) in members.into_iter().zip(enriched) {
                out[i] = Some(e);
            }
        }
        out.into_iter()
            .map(|e| e.unwrap_or_else(|| Enrichment::unenriched("not described".to_owned())))
            .collect()
    }

    /// Drops a stopped task from the cache of whichever enricher holds it.
    pub fn evict_task(&self, task_arn: &str) {
        self.home.evict_task(task_arn);
        let others = self.others.lock().unwrap_or_else(PoisonError::into_inner);
        for enricher in others.values() {
            enricher.evict_task(task_arn);
        }
    }

    fn enricher(&self, (account, region): &Key) -> Result<Arc<EcsEnricher>, String> {
        let Some(accounts) = &self.accounts else {
            return Ok(Arc::clone(&self.home));
        };
        if account.is_empty() || region.is_empty() || accounts.is_home(account, region) {
            return Ok(Arc::clone(&self.home));
        }
        let mut others = self.others.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = others.get(&(account.clone(), region.clone())) {
            return Ok(Arc::clone(e));
        }
        let route = accounts
            .route(account, region)
            .map_err(|e| format!("ECS not called: {e}"))?;
        let enricher = Arc::new(EcsEnricher::new(
            vigil_ecs::client(route.config().into()),
            self.config.clone(),
        ));
        others.insert((account.clone(), region.clone()), Arc::clone(&enricher));
        Ok(enricher)
    }
}

/// The (account, region) of an ECS ARN (`arn:<partition>:ecs:<region>:<account>:…`).
fn arn_account_region(arn: &str) -> Option<Key> {
    let mut parts = arn.splitn(6, ':');
    let (_, _, service, region, account) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (service == "ecs" && !region.is_empty() && !account.is_empty())
        .then(|| (account.to_owned(), region.to_owned()))
}

/// Where a finding's task is: its task ARN's (account, region), else its cluster ARN's, else the
/// finding's own account and region.
pub(crate) fn task_place(f: &Finding) -> Key {
    let r = &f.resource;
    r.task_arn
        .as_deref()
        .and_then(arn_account_region)
        .or_else(|| r.cluster_arn.as_deref().and_then(arn_account_region))
        .unwrap_or_else(|| {
            (
                f.account.clone().unwrap_or_default(),
                f.region.clone().unwrap_or_default(),
            )
        })
}

/// The findings' indexes grouped by where their task is, groups in order of first appearance.
fn groups(findings: &[Finding]) -> Vec<(Key, Vec<usize>)> {
    let mut out: Vec<(Key, Vec<usize>)> = Vec::new();
    for (i, f) in findings.iter().enumerate() {
        let key = task_place(f);
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(i),
            None => out.push((key, vec![i])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_place_of_an_ecs_arn() {
        assert_eq!(
            arn_account_region("arn:aws:ecs:eu-west-1:111111111111:task/prod/abc"),
            Some(("111111111111".into(), "eu-west-1".into()))
        );
        assert_eq!(arn_account_region("arn:aws:iam::111111111111:role/x"), None);
        assert_eq!(arn_account_region("not an arn"), None);
        assert_eq!(arn_account_region(""), None);
    }
}
