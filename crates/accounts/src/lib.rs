//! Calls in a finding's own account and region.
//!
//! Security Hub imports a finding only from the account it names and only in its region, and ECS
//! describes and stops a task only for its own account. A central Vigil therefore calls a member
//! account through a role deployed there (`infra/member-role.yaml`), and its own account with its
//! own role.
//!
//! - [`config`]: which accounts are members, the role's name and external id ([`MemberAccounts`]).
//! - [`credentials`]: the role's credentials, one STS `AssumeRole` per account, cached until shortly
//!   before they expire ([`MemberCredentials`]).
//! - [`route`]: the SDK configuration to call an (account, region) with, or why there is none
//!   ([`Accounts`], [`Route`]).
//! - [`clients`]: one SDK client per (account, region), built on first use ([`RoutedClients`]).

#![warn(missing_docs)]

pub mod clients;
pub mod config;
pub mod credentials;
pub mod route;

pub use clients::{RoutedClients, place_of_arn};
pub use config::MemberAccounts;
pub use credentials::{AssumeRoleError, MemberCredentials};
pub use route::{Accounts, Route, Unroutable};
