//! Which credentials call an (account, region): the function's own for the deploying account, the
//! member role's for a member account, none for any other account.

use crate::config::MemberAccounts;
use crate::credentials::MemberCredentials;
use aws_config::Region;
use aws_config::SdkConfig;
use aws_config::identity::IdentityCache;
use aws_credential_types::provider::SharedCredentialsProvider;

/// The SDK configuration to call one (account, region) with.
#[derive(Debug, Clone)]
pub enum Route {
    /// The deploying account: the function's own credentials, in the region asked for.
    Own(SdkConfig),
    /// A member account: the member role's credentials, in the region asked for.
    Member(SdkConfig),
}

impl Route {
    /// The configuration, whichever credentials it carries.
    pub fn config(&self) -> &SdkConfig {
        match self {
            Route::Own(c) | Route::Member(c) => c,
        }
    }
}

/// Why an (account, region) cannot be called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unroutable {
    /// The account is neither the deploying account nor in `MEMBER_ACCOUNTS`.
    #[error(
        "account {account} is not the deploying account and has no member role (MEMBER_ACCOUNTS)"
    )]
    NoMemberRole {
        /// The account named.
        account: String,
    },
    /// No region was named.
    #[error("no region to call account {account} in")]
    NoRegion {
        /// The account named.
        account: String,
    },
    /// The region named is not a region name (case, whitespace, other characters).
    #[error("{region:?} is not an AWS region name; account {account} not called")]
    BadRegion {
        /// The account named.
        account: String,
        /// The region named.
        region: String,
    },
    /// The deployment does not act in this region (remediate's `ALLOWED_REGIONS`, which scopes its
    /// role's `ecs:StopTask` too).
    #[error("region {region} is not in ALLOWED_REGIONS; nothing done in account {account} there")]
    RegionNotAllowed {
        /// The account named.
        account: String,
        /// The region named.
        region: String,
    },
    /// The region is in another partition than the function's: no credentials of this
    /// deployment are valid there.
    #[error(
        "region {region} is in partition {partition}, not this deployment's; account {account} not called"
    )]
    OtherPartition {
        /// The account named.
        account: String,
        /// The region named.
        region: String,
        /// The region's partition.
        partition: String,
    },
}

impl Unroutable {
    /// A short machine-readable reason (`no_member_role`, `no_region`, `bad_region`,
    /// `other_partition`, `region_not_allowed`).
    pub fn code(&self) -> &'static str {
        match self {
            Unroutable::NoMemberRole { .. } => "no_member_role",
            Unroutable::NoRegion { .. } => "no_region",
            Unroutable::BadRegion { .. } => "bad_region",
            Unroutable::OtherPartition { .. } => "other_partition",
            Unroutable::RegionNotAllowed { .. } => "region_not_allowed",
        }
    }
}

/// The deploying account, the member accounts and the credentials to call each.
#[derive(Debug, Clone)]
pub struct Accounts {
    base: SdkConfig,
    home_account: Option<String>,
    credentials: MemberCredentials,
}

impl Accounts {
    /// Calls from `base` (the function's own configuration: credentials, endpoint, retry) into
    /// `home_account` with its own credentials and into `members` through their role, assumed with
    /// an STS client built from `base`. With `home_account` unknown (`None`) every account not in
    /// `members` is called with the function's own credentials, as a single-account Vigil does.
    pub fn new(base: &SdkConfig, home_account: Option<String>, members: MemberAccounts) -> Self {
        let sts = aws_sdk_sts::Client::new(base);
        Accounts {
            base: base.clone(),
            home_account: home_account.filter(|a| !a.is_empty()),
            credentials: MemberCredentials::new(sts, members),
        }
    }

    /// The deploying account, when known.
    pub fn home_account(&self) -> Option<&str> {
        self.home_account.as_deref()
    }

    /// The region of the function's own configuration.
    pub fn home_region(&self) -> Option<&str> {
        self.base.region().map(Region::as_ref)
    }

    /// The member accounts.
    pub fn members(&self) -> &MemberAccounts {
        self.credentials.members()
    }

    /// Whether (`account`, `region`) is the function's own account and region.
    pub fn is_home(&self, account: &str, region: &str) -> bool {
        self.home_region() == Some(region) && self.is_own(account)
    }

    /// Whether `account` is called with the function's own credentials.
    fn is_own(&self, account: &str) -> bool {
        match self.home_account.as_deref() {
            Some(home) => home == account,
            None => !self.members().is_member(account),
        }
    }

    /// Whether calling `account` takes its member role (a member account, not the deploying one).
    pub fn is_member_call(&self, account: &str) -> bool {
        !self.is_own(account) && self.members().is_member(account)
    }

    /// The configuration to call `account` in `region` with, or why it cannot be called.
    pub fn route(&self, account: &str, region: &str) -> Result<Route, Unroutable> {
        if region.is_empty() {
            return Err(Unroutable::NoRegion {
                account: account.to_owned(),
            });
        }
        if !is_region(region) {
            return Err(Unroutable::BadRegion {
                account: account.to_owned(),
                region: region.to_owned(),
            });
        }
        let partition = vigil_model::partition_of(region);
        if self
            .home_region()
            .is_some_and(|home| vigil_model::partition_of(home) != partition)
        {
            return Err(Unroutable::OtherPartition {
                account: account.to_owned(),
                region: region.to_owned(),
                partition: partition.to_owned(),
            });
        }
        let in_region = self
            .base
            .to_builder()
            .region(Region::new(region.to_owned()));
        if self.is_own(account) {
            return Ok(Route::Own(in_region.build()));
        }
        if !self.members().is_member(account) {
            return Err(Unroutable::NoMemberRole {
                account: account.to_owned(),
            });
        }
        let provider = self.credentials.provider(partition, account);
        Ok(Route::Member(
            in_region
                .credentials_provider(SharedCredentialsProvider::new(provider))
                // The member credentials keep their own per-account cache (refreshed before
                // expiry); a second cache per client would only hold them longer.
                .identity_cache(IdentityCache::no_cache())
                .build(),
        ))
    }
}

/// Whether `s` is shaped as an AWS region name: lowercase words and a number joined by hyphens
/// (`us-east-1`, `us-gov-west-1`), at least three parts.
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let Some((number, words)) = parts.split_last() else {
        return false;
    };
    words.len() >= 2
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::BehaviorVersion;

    fn accounts(home: Option<&str>) -> Accounts {
        let base = SdkConfig::builder()
            .region(Region::new("us-east-1"))
            .behavior_version(BehaviorVersion::latest())
            .build();
        Accounts::new(
            &base,
            home.map(str::to_owned),
            MemberAccounts::new(["111111111111"], "VigilMember", Some("x".into())),
        )
    }

    #[test]
    fn own_member_or_refused() {
        let a = accounts(Some("123456789012"));
        assert!(a.is_home("123456789012", "us-east-1"));
        assert!(!a.is_home("123456789012", "eu-west-1"));
        assert!(!a.is_home("111111111111", "us-east-1"));
        let own = a.route("123456789012", "eu-west-1").unwrap();
        assert!(matches!(own, Route::Own(_)));
        assert_eq!(own.config().region().map(Region::as_ref), Some("eu-west-1"));
        let member = a.route("111111111111", "eu-west-1").unwrap();
        assert!(matches!(member, Route::Member(_)));
        assert_eq!(
            member.config().region().map(Region::as_ref),
            Some("eu-west-1")
        );
        let refused = a.route("222222222222", "us-east-1").unwrap_err();
        assert_eq!(refused.code(), "no_member_role");
        assert!(refused.to_string().contains("222222222222"));
        assert_eq!(a.route("123456789012", "").unwrap_err().code(), "no_region");
        for odd in [
            "EU-WEST-1",
            " us-east-1",
            "us-east-1 ",
            "us-east",
            "us--1",
            "eu-west-x",
        ] {
            assert_eq!(
                a.route("111111111111", odd).unwrap_err().code(),
                "bad_region",
                "{odd:?}"
            );
        }
        for other in ["cn-north-1", "us-gov-west-1"] {
            assert_eq!(
                a.route("111111111111", other).unwrap_err().code(),
                "other_partition"
            );
        }
        assert!(is_region("us-gov-west-1") && is_region("ap-southeast-2"));
    }

    #[test]
    fn unknown_home_calls_non_members_with_own_credentials() {
        let a = accounts(None);
        assert!(a.is_home("222222222222", "us-east-1"));
        assert!(!a.is_home("111111111111", "us-east-1"));
        assert!(matches!(
            a.route("222222222222", "us-east-1"),
            Ok(Route::Own(_))
        ));
        assert!(matches!(
            a.route("111111111111", "us-east-1"),
            Ok(Route::Member(_))
        ));
    }
}
