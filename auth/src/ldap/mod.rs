//! Directory sign-in: users of an LDAP directory (OpenLDAP, Active
//! Directory, 389-ds …) log in with their directory password through the
//! same Basic handshake, Flight SQL login and console login as catalog
//! users.
//!
//! A password login that names no catalog user is checked by binding to the
//! directory as the user: at the DN a template gives, or at the entry a
//! search (as a service account) finds. The user's groups (`memberOf`, or a
//! search of group entries; optionally groups of groups) map to Laker
//! roles, and configured attributes become the principal's attributes for
//! row filters. The principal is named with a prefix (`ldap:alice`) and is
//! not a catalog user: only the roles its groups map to grant it anything.
//!
//! Memberships are looked up at every login and held for a bounded time;
//! once that has passed, the next call looks them up again (with the service
//! account) or asks the user to log in again. A directory that cannot be
//! reached is reported as unavailable, never as a wrong password.
//!
//! [`escape`] makes user input inert in filters and DNs; [`config`] holds
//! the settings and their checks; `connect` and `pool` open and bound the
//! connections; `bind`, `entry` and `groups` are the directory operations;
//! [`Directory`] puts them together.

mod bind;
mod cache;
pub mod config;
mod connect;
mod entry;
mod error;
pub mod escape;
mod groups;
mod identity;
mod pool;
mod provider;

pub use config::{GroupLookup, LdapConfig, Secret, ServiceAccount, UserLookup};
pub use provider::Directory;

/// The issuer of directory principals (`Principal::issuer`), also carried
/// in the tokens this server issues them.
pub const ISSUER: &str = "ldap";
