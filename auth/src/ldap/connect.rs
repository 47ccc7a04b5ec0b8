//! Opening a connection to the directory: `ldaps://`, or `ldap://` upgraded
//! with StartTLS, the certificate checked against the configured CA (or the
//! system's roots) with rustls, within the connect timeout.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::config::LdapConfig;
use super::error::DirectoryError;

/// Opens connections to one directory.
pub(crate) struct Connector {
    url: String,
    settings: LdapConnSettings,
    timeout: Duration,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// A connector for `config`'s directory; fails if the CA file cannot be
    /// read or holds no certificate.
    pub(crate) fn new(config: &LdapConfig) -> Result<Self, String> {
        let tls = tls_config(config.ca_cert.as_deref())?;
        let settings = LdapConnSettings::new()
            .set_conn_timeout(config.connect_timeout)
            .set_starttls(config.starttls)
            .set_config(tls);
        Ok(Self {
            url: config.url.clone(),
            settings,
            timeout: config.timeout,
        })
    }

    /// The longest wait for one operation.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A new, unbound connection, driven by a task of its own until the
    /// last handle to it is dropped.
    pub(crate) async fn open(&self) -> Result<Ldap, DirectoryError> {
        let (conn, ldap) = LdapConnAsync::with_settings(self.settings.clone(), &self.url)
            .await
            .map_err(DirectoryError::connecting)?;
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(error = %e, "directory connection ended");
            }
        });
        Ok(ldap)
    }
}

/// The TLS client configuration: aws-lc-rs (the process may link several
/// crypto back ends, so none is left to chance), TLS 1.2 and 1.3, trusting
/// the certificates of `ca` or else the system's roots.
fn tls_config(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| format!("invalid CA certificate in {}: {e}", path.display()))?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            for e in &native.errors {
                tracing::warn!(error = %e, "could not load some of the system's trusted roots");
            }
            roots.add_parsable_certificates(native.certs);
        }
    }
    if roots.is_empty() {
        return Err(match ca {
            Some(path) => format!("the CA file {} holds no certificate", path.display()),
            None => {
                "no trusted root certificates found on this system; give --ldap-ca-cert".to_string()
            }
        });
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS for the directory: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = tls_config(Some(empty.as_path())).unwrap_err();
        assert!(err.contains("holds no certificate"), "{err}");
        let missing = dir.path().join("missing.pem");
        let err = tls_config(Some(missing.as_path())).unwrap_err();
        assert!(err.contains("cannot read the CA file"), "{err}");
    }
}
