//! The member role's credentials: one STS `AssumeRole` per account, shared by every client of that
//! account (each region's), kept until [`REFRESH_BEFORE`] their expiry and then assumed again.
//! Concurrent callers of one account wait for a single `AssumeRole`.

use crate::config::MemberAccounts;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials, error::CredentialsError};
use aws_sdk_sts::error::DisplayErrorContext;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// How long before their expiry cached credentials are replaced: a call signed with them still
/// has this long to finish.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

/// How long assumed credentials are asked to last (the STS default, and every role's minimum maximum).
pub const SESSION_SECONDS: i32 = 3600;

/// The session name on every assumed session: CloudTrail in the member account shows it.
pub const SESSION_NAME: &str = "vigil";

/// Why the member role could not be assumed.
#[derive(Debug, thiserror::Error)]
#[error("cannot assume {role_arn}: {message}")]
pub struct AssumeRoleError {
    /// The role asked for.
    pub role_arn: String,
    /// What STS (or the transport) said.
    pub message: String,
}

type Slot = Arc<tokio::sync::Mutex<Option<Credentials>>>;

/// Assumed-role credentials per member account. Cheap to clone: clones share the cache.
#[derive(Debug, Clone)]
pub struct MemberCredentials {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    sts: aws_sdk_sts::Client,
    members: MemberAccounts,
    slots: Mutex<HashMap<String, Slot>>,
}

impl MemberCredentials {
    /// Assumes `members`' role through `sts` (a client with the function's own credentials).
    pub fn new(sts: aws_sdk_sts::Client, members: MemberAccounts) -> Self {
        MemberCredentials {
            inner: Arc::new(Inner {
                sts,
                members,
                slots: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The member accounts these credentials are for.
    pub fn members(&self) -> &MemberAccounts {
        &self.inner.members
    }

    /// A credentials provider for `account` in `partition`, for an SDK client; every provider of
    /// one account shares its cached credentials.
    pub fn provider(&self, partition: &str, account: &str) -> AccountCredentials {
        AccountCredentials {
            credentials: self.clone(),
            role_arn: self.inner.members.role_arn(partition, account),
            account: account.to_owned(),
        }
    }

    /// `account`'s credentials: the cached ones while they stay valid for [`REFRESH_BEFORE`] more,
    /// else new ones from `AssumeRole` on `role_arn`.
    pub async fn get(&self, account: &str, role_arn: &str) -> Result<Credentials, AssumeRoleError> {
        let slot = {
            // A poisoned map only means another caller panicked while inserting: the map is intact.
            let mut slots = self
                .inner
                .slots
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(slots.entry(account.to_owned()).or_default())
        };
        let mut cached = slot.lock().await;
        if let Some(c) = cached
            .as_ref()
            .filter(|c| is_fresh(c.expiry(), SystemTime::now()))
        {
            return Ok(c.clone());
        }
        let fresh = self.assume(role_arn).await?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    async fn assume(&self, role_arn: &str) -> Result<Credentials, AssumeRoleError> {
        let error = |message: String| AssumeRoleError {
            role_arn: role_arn.to_owned(),
            message,
        };
        let out = self
            .inner
            .sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(SESSION_NAME)
            .set_external_id(self.inner.members.external_id.clone())
            .duration_seconds(SESSION_SECONDS)
            .send()
            .await
            .map_err(|e| error(DisplayErrorContext(&e).to_string()))?;
        let c = out
            .credentials()
            .ok_or_else(|| error("AssumeRole returned no credentials".into()))?;
        let expiry = SystemTime::try_from(*c.expiration())
            .map_err(|e| error(format!("AssumeRole returned an unusable expiration: {e}")))?;
        tracing::info!(role = role_arn, "assumed the member role");
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            Some(expiry),
            "vigil-member-role",
        ))
    }
}

/// Whether credentials expiring at `expiry` may still be handed out at `now`.
pub fn is_fresh(expiry: Option<SystemTime>, now: SystemTime) -> bool {
    expiry.is_none_or(|e| {
        e.duration_since(now)
            .is_ok_and(|left| left > REFRESH_BEFORE)
    })
}

/// One member account's credentials provider, for SDK clients of that account.
#[derive(Debug, Clone)]
pub struct AccountCredentials {
    credentials: MemberCredentials,
    role_arn: String,
    account: String,
}

impl ProvideCredentials for AccountCredentials {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            self.credentials
                .get(&self.account, &self.role_arn)
                .await
                .map_err(CredentialsError::provider_error)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshed_shortly_before_expiry() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert!(is_fresh(None, now));
        assert!(is_fresh(Some(now + Duration::from_secs(3600)), now));
        assert!(!is_fresh(Some(now + REFRESH_BEFORE), now));
        assert!(!is_fresh(Some(now - Duration::from_secs(1)), now));
    }
}
