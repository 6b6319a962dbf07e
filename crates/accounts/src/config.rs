//! The member accounts and the role Vigil assumes in them (`MEMBER_ACCOUNTS`, `MEMBER_ROLE_NAME`,
//! `MEMBER_EXTERNAL_ID`, set by `infra/template.yaml`).

use std::collections::BTreeSet;

/// The default name of the member role (`infra/member-role.yaml`'s `RoleName` default).
pub const DEFAULT_ROLE_NAME: &str = "VigilMember";

/// Which accounts Vigil may call through their member role, and how it assumes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberAccounts {
    /// The 12-digit account ids with a member role (`MEMBER_ACCOUNTS`, comma-separated).
    pub accounts: BTreeSet<String>,
    /// The role's name in every member account (`MEMBER_ROLE_NAME`).
    pub role_name: String,
    /// The external id the role's trust policy requires (`MEMBER_EXTERNAL_ID`); `None` sends none.
    pub external_id: Option<String>,
}

impl MemberAccounts {
    /// No member accounts: only the deploying account is called.
    pub fn none() -> Self {
        MemberAccounts {
            accounts: BTreeSet::new(),
            role_name: DEFAULT_ROLE_NAME.to_owned(),
            external_id: None,
        }
    }

    /// These accounts through `role_name`, with `external_id`. Entries that are not 12-digit
    /// account ids are left out (and logged): they could never be a finding's `AwsAccountId`.
    pub fn new<I, S>(accounts: I, role_name: impl Into<String>, external_id: Option<String>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let accounts = accounts
            .into_iter()
            .map(|a| a.as_ref().trim().to_owned())
            .filter(|a| !a.is_empty())
            .filter(|a| {
                let ok = is_account_id(a);
                if !ok {
                    tracing::warn!(
                        account = a.as_str(),
                        "MEMBER_ACCOUNTS entry is not a 12-digit account id; ignored"
                    );
                }
                ok
            })
            .collect();
        let role_name = role_name.into();
        MemberAccounts {
            accounts,
            role_name: if role_name.trim().is_empty() {
                DEFAULT_ROLE_NAME.to_owned()
            } else {
                role_name.trim().to_owned()
            },
            external_id: external_id.filter(|e| !e.is_empty()),
        }
    }

    /// From the environment as `get` reads it: `MEMBER_ACCOUNTS` (comma-separated, default none),
    /// `MEMBER_ROLE_NAME` (default [`DEFAULT_ROLE_NAME`]), `MEMBER_EXTERNAL_ID` (default none).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let accounts = get("MEMBER_ACCOUNTS").unwrap_or_default();
        MemberAccounts::new(
            accounts.split(','),
            get("MEMBER_ROLE_NAME").unwrap_or_default(),
            get("MEMBER_EXTERNAL_ID"),
        )
    }

    /// Whether `account` has a member role Vigil may assume.
    pub fn is_member(&self, account: &str) -> bool {
        self.accounts.contains(account)
    }

    /// The member role's ARN in `account`, in `partition` (`aws`, `aws-cn`, `aws-us-gov`).
    pub fn role_arn(&self, partition: &str, account: &str) -> String {
        format!("arn:{partition}:iam::{account}:role/{}", self.role_name)
    }
}

/// Whether `s` is a 12-digit AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_environment() {
        let m = MemberAccounts::from_lookup(|k| match k {
            "MEMBER_ACCOUNTS" => Some(" 111111111111, 222222222222,,not-an-id,12345".into()),
            "MEMBER_ROLE_NAME" => Some("VigilMemberRole".into()),
            "MEMBER_EXTERNAL_ID" => Some("ext".into()),
            _ => None,
        });
        assert_eq!(
            m.accounts.iter().map(String::as_str).collect::<Vec<_>>(),
            ["111111111111", "222222222222"]
        );
        assert!(m.is_member("111111111111") && !m.is_member("333333333333"));
        assert_eq!(
            m.role_arn("aws", "111111111111"),
            "arn:aws:iam::111111111111:role/VigilMemberRole"
        );
        assert_eq!(m.external_id.as_deref(), Some("ext"));
    }

    #[test]
    fn defaults() {
        let m = MemberAccounts::from_lookup(|_| None);
        assert!(m.accounts.is_empty());
        assert_eq!(m.role_name, DEFAULT_ROLE_NAME);
        assert_eq!(m.external_id, None);
        assert_eq!(
            MemberAccounts::from_lookup(|k| (k == "MEMBER_EXTERNAL_ID").then(String::new))
                .external_id,
            None
        );
    }
}
