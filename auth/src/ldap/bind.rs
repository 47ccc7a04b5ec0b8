//! Simple binds: the service account's, and a user's (whose answer says
//! whether the password is right, or that the directory cannot tell now).

use std::time::Duration;

use ldap3::Ldap;

use super::error::DirectoryError;

/// Result codes meaning the directory cannot answer now, not that the
/// credentials are wrong: operationsError, protocolError, timeLimitExceeded,
/// adminLimitExceeded, busy, unavailable, other.
const NOT_NOW: [u32; 7] = [1, 2, 3, 11, 51, 52, 80];

/// Binds `ldap` as `dn` with `password`; the result code (0: bound, 49:
/// invalid credentials …).
pub(crate) async fn bind(
    ldap: &mut Ldap,
    dn: &str,
    password: &str,
    timeout: Duration,
) -> Result<u32, DirectoryError> {
    let result = ldap
        .with_timeout(timeout)
        .simple_bind(dn, password)
        .await
        .map_err(|e| DirectoryError::during("a bind", e))?;
    Ok(result.rc)
}

/// Binds as a user: whether the directory accepts the password. Codes that
/// say the directory cannot answer now are errors, not refusals. An empty
/// password is refused without asking: it would be an unauthenticated bind,
/// which many directories "accept".
pub(crate) async fn user_bind(
    ldap: &mut Ldap,
    dn: &str,
    password: &str,
    timeout: Duration,
) -> Result<bool, DirectoryError> {
    if password.is_empty() {
        return Ok(false);
    }
    match bind(ldap, dn, password, timeout).await? {
        0 => Ok(true),
        rc if NOT_NOW.contains(&rc) => Err(DirectoryError::Unreachable {
            tls: false,
            detail: format!("a user's bind answered result code {rc}"),
        }),
        rc => {
            tracing::debug!(rc, "the directory refused a user's bind");
            Ok(false)
        }
    }
}
