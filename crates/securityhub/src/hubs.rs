//! Imports into each finding's own account and region. Security Hub refuses a whole
//! `BatchImportFindings` call (`AccessDeniedException`) when one finding names another account or
//! region than the caller's, so findings are grouped by (`AwsAccountId`, `Region`) and each group is
//! imported apart: the deploying account's home region with the function's own importer, any other
//! (account, region) through an importer of its own (own credentials for the deploying account,
//! the member role's for a member account; see [`vigil_accounts`]). A group that cannot be routed
//! is not sent and fails no other group.

use crate::client::client;
use crate::retry::RetryPolicy;
use crate::service::{ImportError, SecurityHubImporter};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use vigil_accounts::{Accounts, Route};
use vigil_asff::AsffFinding;

/// (account, region)
type HubKey = (String, String);

/// The Security Hub importers of every (account, region) Vigil imports into, built on first use
/// and kept for the warm instance: each has its own rate limiter, as Security Hub's quota is per
/// account and region.
#[derive(Debug)]
pub struct SecurityHubs {
    home: Arc<SecurityHubImporter>,
    accounts: Option<Accounts>,
    retry: RetryPolicy,
    calls_per_second: u32,
    others: Mutex<HashMap<HubKey, Arc<SecurityHubImporter>>>,
}

impl SecurityHubs {
    /// Every finding imported through `home` (a single-account Vigil), still one call per
    /// (account, region) group so a refused group fails no other.
    pub fn single(home: SecurityHubImporter) -> Self {
        let (retry, calls_per_second) = (home.retry().clone(), home.calls_per_second());
        SecurityHubs {
            home: Arc::new(home),
            accounts: None,
            retry,
            calls_per_second,
            others: Mutex::new(HashMap::new()),
        }
    }

    /// `home` for the deploying account's home region, `accounts` routing every other group.
    pub fn new(home: SecurityHubImporter, accounts: Accounts) -> Self {
        SecurityHubs {
            accounts: Some(accounts),
            ..Self::single(home)
        }
    }

    /// The same home importer, routing every other group with `accounts` (importers built
    /// before are dropped).
    pub fn with_accounts(self, accounts: Accounts) -> Self {
        SecurityHubs {
            accounts: Some(accounts),
            others: Mutex::new(HashMap::new()),
            ..self
        }
    }

    /// The importer of the function's own account and region.
    pub fn home(&self) -> &SecurityHubImporter {
        &self.home
    }

    /// Imports `findings`, each group of one (account, region) into that account's hub in that
    /// region; result `i` belongs to finding `i`.
    pub async fn import(&self, findings: &[AsffFinding<'_>]) -> Vec<Result<(), ImportError>> {
        let mut results: Vec<Result<(), ImportError>> = vec![Ok(()); findings.len()];
        for ((account, region), members) in groups(findings) {
            let batch: Vec<AsffFinding> = members.iter().map(|&i| findings[i].clone()).collect();
            let outcome = match self.importer(&account, &region) {
                Ok(importer) => importer.import(&batch).await,
                Err(e) => {
                    tracing::warn!(account, region, findings = batch.len(), reason = %e, "findings not imported");
                    vec![Err(e); batch.len()]
                }
            };
            for (i, r) in members.into_iter().zip(outcome) {
                results[i] = r;
            }
        }
        results
    }

    /// The importer for (`account`, `region`), or why there is none.
    fn importer(
        &self,
        account: &str,
        region: &str,
    ) -> Result<Arc<SecurityHubImporter>, ImportError> {
        let Some(accounts) = &self.accounts else {
            return Ok(Arc::clone(&self.home));
        };
        if accounts.is_home(account, region) {
            return Ok(Arc::clone(&self.home));
        }
        let key = (account.to_owned(), region.to_owned());
        let mut others = self
            .others
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(importer) = others.get(&key) {
            return Ok(Arc::clone(importer));
        }
        let route = accounts
            .route(account, region)
            .map_err(|e| ImportError::NotRouted {
                account: account.to_owned(),
                region: region.to_owned(),
                reason: e.to_string(),
            })?;
        if let Route::Member(_) = route {
            tracing::info!(account, region, "importing through the member role");
        }
        let importer = Arc::new(SecurityHubImporter::new(
            client(route.config().into()),
            self.retry.clone(),
            self.calls_per_second,
        ));
        others.insert(key, Arc::clone(&importer));
        Ok(importer)
    }
}

/// The findings' indexes grouped by (`AwsAccountId`, `Region`), groups in order of first appearance.
pub fn groups(findings: &[AsffFinding<'_>]) -> Vec<(HubKey, Vec<usize>)> {
    let mut out: Vec<(HubKey, Vec<usize>)> = Vec::new();
    for (i, f) in findings.iter().enumerate() {
        let key = (f.aws_account_id.to_string(), f.region.to_string());
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

    fn finding(id: &str, account: &str, region: &str) -> AsffFinding<'static> {
        let json = serde_json::json!({
            "SchemaVersion": "2018-10-08", "Id": id, "ProductArn": "p", "ProductName": "Vigil",
            "CompanyName": "Vigil", "Region": region, "GeneratorId": "g", "AwsAccountId": account,
            "Types": ["t"], "FirstObservedAt": "a", "LastObservedAt": "a", "CreatedAt": "a", "UpdatedAt": "a",
            "Severity": { "Label": "LOW", "Normalized": 1, "Original": "LOW" }, "Title": "t", "Description": "d",
            "ProductFields": {}, "Resources": [], "RecordState": "ACTIVE"
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn grouped_by_account_and_region_in_order_of_first_appearance() {
        let f = [
            finding("0", "111111111111", "us-east-1"),
            finding("1", "222222222222", "us-east-1"),
            finding("2", "111111111111", "eu-west-1"),
            finding("3", "111111111111", "us-east-1"),
        ];
        let g = groups(&f);
        let key = |a: &str, r: &str| (a.to_owned(), r.to_owned());
        assert_eq!(
            g,
            vec![
                (key("111111111111", "us-east-1"), vec![0, 3]),
                (key("222222222222", "us-east-1"), vec![1]),
                (key("111111111111", "eu-west-1"), vec![2]),
            ]
        );
        assert!(groups(&[]).is_empty());
    }
}
