//! One SDK client per (account, region) a function calls: the function's own client for its home
//! account and region, any other built on first use from [`Accounts::route`] and kept for the warm
//! instance (member clients share their account's assumed credentials).

use crate::route::{Accounts, Unroutable};
use aws_config::SdkConfig;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// The clients of type `C` of every (account, region) called so far. `C` is an SDK client:
/// cheap to clone, clones share their connection pool and configuration.
#[derive(Debug)]
pub struct RoutedClients<C> {
    home: C,
    accounts: Option<Accounts>,
    build: fn(&SdkConfig) -> C,
    others: Mutex<HashMap<(String, String), C>>,
}

impl<C: Clone> RoutedClients<C> {
    /// Every call through `home` (a single-account Vigil, or tests).
    pub fn single(home: C, build: fn(&SdkConfig) -> C) -> Self {
        RoutedClients {
            home,
            accounts: None,
            build,
            others: Mutex::new(HashMap::new()),
        }
    }

    /// `home` for the deploying account's home region; every other (account, region) through a
    /// client `build` makes from its route.
    pub fn routed(home: C, accounts: Accounts, build: fn(&SdkConfig) -> C) -> Self {
        RoutedClients {
            accounts: Some(accounts),
            ..Self::single(home, build)
        }
    }

    /// The client of the function's own account and region.
    pub fn home(&self) -> &C {
        &self.home
    }

    /// How accounts are routed, when they are.
    pub fn accounts(&self) -> Option<&Accounts> {
        self.accounts.as_ref()
    }

    /// The client to call `account` in `region` with, or why there is none. Without routing, or
    /// for an empty account or region (nothing to route by), the home client.
    pub fn get(&self, account: &str, region: &str) -> Result<C, Unroutable> {
        let Some(accounts) = &self.accounts else {
            return Ok(self.home.clone());
        };
        if account.is_empty() || region.is_empty() || accounts.is_home(account, region) {
            return Ok(self.home.clone());
        }
        let key = (account.to_owned(), region.to_owned());
        let mut others = self.others.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = others.get(&key) {
            return Ok(client.clone());
        }
        let client = (self.build)(accounts.route(account, region)?.config());
        others.insert(key, client.clone());
        Ok(client)
    }

    /// The client for the resource `arn` names: its account and region (see [`place_of_arn`]),
    /// else the home client.
    pub fn for_arn(&self, arn: &str) -> Result<C, Unroutable> {
        let (account, region) = place_of_arn(arn).unwrap_or_default();
        self.get(account, region)
    }
}

/// The (account, region) of an ARN, `arn:<partition>:<service>:<region>:<account>:<resource>`,
/// when it names both.
pub fn place_of_arn(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (prefix, _partition, _service, region, account, _resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (prefix == "arn" && !region.is_empty() && !account.is_empty()).then_some((account, region))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemberAccounts;
    use aws_config::{BehaviorVersion, Region};

    fn base() -> SdkConfig {
        SdkConfig::builder()
            .region(Region::new("us-east-1"))
            .behavior_version(BehaviorVersion::latest())
            .build()
    }

    /// A "client" that is its configuration's region, to see which one was built.
    fn region_of(c: &SdkConfig) -> String {
        c.region().map(|r| r.to_string()).unwrap_or_default()
    }

    #[test]
    fn home_member_or_why_not() {
        let accounts = Accounts::new(
            &base(),
            Some("123456789012".into()),
            MemberAccounts::new(["111111111111"], "VigilMember", None),
        );
        let clients = RoutedClients::routed("home".to_owned(), accounts, region_of);
        assert_eq!(clients.get("123456789012", "us-east-1").unwrap(), "home");
        assert_eq!(
            clients.get("123456789012", "eu-west-1").unwrap(),
            "eu-west-1"
        );
        assert_eq!(
            clients.get("111111111111", "eu-west-1").unwrap(),
            "eu-west-1"
        );
        assert_eq!(
            clients.get("333333333333", "us-east-1").unwrap_err().code(),
            "no_member_role"
        );
        assert_eq!(
            clients
                .for_arn("arn:aws:ecs:ap-south-1:111111111111:task/prod/abc")
                .unwrap(),
            "ap-south-1"
        );
        assert_eq!(clients.for_arn("not-an-arn").unwrap(), "home");
        // Built once, then kept.
        assert_eq!(clients.others.lock().unwrap().len(), 3);
        let single = RoutedClients::single("home".to_owned(), region_of);
        assert_eq!(single.get("333333333333", "eu-west-1").unwrap(), "home");
    }

    #[test]
    fn the_place_of_an_arn() {
        assert_eq!(
            place_of_arn("arn:aws:ecs:eu-west-1:111111111111:task/prod/abc"),
            Some(("111111111111", "eu-west-1"))
        );
        assert_eq!(
            place_of_arn("arn:aws:guardduty:us-east-1:111111111111:detector/d/finding/f"),
            Some(("111111111111", "us-east-1"))
        );
        assert_eq!(
            place_of_arn("arn:aws:securityhub:us-east-1::product/aws/guardduty"),
            None
        );
        assert_eq!(place_of_arn("arn:aws:iam::111111111111:role/x"), None);
        assert_eq!(place_of_arn("nope:aws:ecs:r:a:x"), None);
        assert_eq!(place_of_arn(""), None);
    }
}
