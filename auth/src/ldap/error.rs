//! What can go wrong talking to the directory (as opposed to a user's
//! wrong password), and how callers are told: always as the directory being
//! unavailable, with the detail in the log.

use ldap3::LdapError;

use crate::error::AuthError;

/// A failure of the directory or of the way to it.
#[derive(Debug)]
pub(crate) enum DirectoryError {
    /// No connection: refused, timed out, lost, or TLS failed (`tls`).
    Unreachable {
        /// The TLS handshake failed (e.g. the certificate is not trusted).
        tls: bool,
        /// What happened, for the log.
        detail: String,
    },
    /// Every connection stayed in use for the whole wait.
    Busy {
        /// The configured bound.
        connections: usize,
    },
    /// The directory answered one of Laker's own operations (the service
    /// account's bind, a search) with an error.
    Refused {
        /// Which operation.
        what: &'static str,
        /// The result code and text, for the log.
        detail: String,
    },
}

impl DirectoryError {
    /// A failure to open a connection.
    pub(crate) fn connecting(e: LdapError) -> Self {
        Self::Unreachable {
            tls: is_tls(&e),
            detail: format!("cannot connect: {e}"),
        }
    }

    /// A failure of operation `what` on an open connection: an error
    /// result is the directory's answer; anything else, the connection's.
    pub(crate) fn during(what: &'static str, e: LdapError) -> Self {
        match e {
            LdapError::LdapResult { result } => Self::Refused {
                what,
                detail: result.to_string(),
            },
            e => Self::Unreachable {
                tls: is_tls(&e),
                detail: format!("{what} failed: {e}"),
            },
        }
    }

    /// Whether the connection itself failed (another may work).
    pub(crate) fn is_connection(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }

    /// The error a client sees (`Unavailable`, naming the directory), the
    /// detail logged.
    pub(crate) fn into_auth(self) -> AuthError {
        let message = match &self {
            Self::Unreachable { tls: true, detail } => {
                tracing::warn!(detail = %detail, "directory TLS failed");
                "the directory (LDAP) is unavailable: its TLS certificate was not accepted; \
                 ask an administrator (local accounts can still log in)"
                    .to_string()
            }
            Self::Unreachable { tls: false, detail } => {
                tracing::warn!(detail = %detail, "directory unreachable");
                "the directory (LDAP) is unavailable; try again later \
                 (local accounts can still log in)"
                    .to_string()
            }
            Self::Busy { connections } => {
                tracing::warn!(connections, "all directory connections busy");
                format!(
                    "the directory (LDAP) is busy: all {connections} connections are in use; \
                     try again"
                )
            }
            Self::Refused { what, detail } => {
                tracing::warn!(operation = %what, detail = %detail, "directory refused an operation");
                format!("the directory (LDAP) refused {what}; ask an administrator")
            }
        };
        AuthError::Unavailable(message)
    }
}

/// Whether `e` is (or wraps) a TLS failure.
fn is_tls(e: &LdapError) -> bool {
    match e {
        LdapError::Rustls { .. } | LdapError::DNSName { .. } => true,
        LdapError::Io { source } => source
            .get_ref()
            .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_failures_are_told_apart() {
        let bad_cert = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let e = DirectoryError::connecting(LdapError::from(bad_cert));
        assert!(matches!(e, DirectoryError::Unreachable { tls: true, .. }));
        let message = e.into_auth().to_string();
        assert!(message.contains("TLS certificate"), "{message}");
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let e = DirectoryError::connecting(LdapError::from(refused));
        assert!(matches!(e, DirectoryError::Unreachable { tls: false, .. }));
        let message = e.into_auth().to_string();
        assert!(
            message.contains("directory (LDAP) is unavailable"),
            "{message}"
        );
        assert!(matches!(
            DirectoryError::Busy { connections: 2 }.into_auth(),
            AuthError::Unavailable(_)
        ));
    }
}
