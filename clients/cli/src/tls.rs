//! TLS for `https://` and `grpc+tls://` servers: the system's trusted roots
//! (or only `--ca-cert`), a client certificate for mTLS, and one-line
//! explanations of the usual handshake failures.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use crate::error::{Failure, Result};

/// TLS settings of a connection (stored by `laker login` as given).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsFiles {
    /// PEM CA certificate(s) trusted instead of the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    /// PEM client certificate (mTLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
    /// Name the server's certificate is checked against (default: the URL's host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl TlsFiles {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `self`, with the settings it leaves unset taken from `fallback`.
    pub fn or(self, fallback: Self) -> Self {
        Self {
            ca_cert: self.ca_cert.or(fallback.ca_cert),
            client_cert: self.client_cert.or(fallback.client_cert),
            client_key: self.client_key.or(fallback.client_key),
            name: self.name.or(fallback.name),
        }
    }

    /// The same settings with absolute paths (so a stored login works from
    /// any directory).
    pub fn absolute(self) -> Self {
        let abs = |p: Option<PathBuf>| p.map(|p| std::path::absolute(&p).unwrap_or(p));
        Self {
            ca_cert: abs(self.ca_cert),
            client_cert: abs(self.client_cert),
            client_key: abs(self.client_key),
            name: self.name,
        }
    }

    /// Refuses a client certificate without its key, or a key without its
    /// certificate.
    pub fn check(&self) -> Result<()> {
        if self.client_cert.is_some() != self.client_key.is_some() {
            return Err(Failure::new("--client-cert and --client-key go together"));
        }
        Ok(())
    }

    /// Whether a client certificate is configured.
    pub fn has_identity(&self) -> bool {
        self.client_cert.is_some()
    }
}

/// The URL tonic connects to (`http://` or `https://`), and whether it is TLS.
///
/// `grpc://` and `grpc+tcp://` are plaintext, `grpc+tls://` is TLS, as in
/// other Arrow Flight clients.
pub fn endpoint_url(url: &str) -> Result<(String, bool)> {
    let invalid = || {
        Failure::new(format!(
            "invalid server URL '{url}': use http://HOST:PORT, or https://HOST:PORT for TLS"
        ))
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(invalid)?;
    if rest.is_empty() {
        return Err(invalid());
    }
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "grpc" | "grpc+tcp" => Ok((format!("http://{rest}"), false)),
        "https" | "grpc+tls" => Ok((format!("https://{rest}"), true)),
        _ => Err(invalid()),
    }
}

fn read(path: &Path, option: &str) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Failure::new(format!("cannot read {option} {}: {e}", path.display())))
}

/// The client TLS configuration for `files`.
pub fn client_config(files: &TlsFiles) -> Result<ClientTlsConfig> {
    // Several crypto back ends may be linked in; pick one for the process.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut config = ClientTlsConfig::new();
    config = match &files.ca_cert {
        Some(path) => {
            let pem = read(path, "--ca-cert")?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                return Err(Failure::new(format!(
                    "--ca-cert {} holds no PEM certificate",
                    path.display()
                )));
            }
            config.ca_certificate(Certificate::from_pem(pem))
        }
        None => config.trust_anchors(system_roots()?),
    };
    config = match (&files.client_cert, &files.client_key) {
        (Some(cert), Some(key)) => config.identity(Identity::from_pem(
            read(cert, "--client-cert")?,
            read(key, "--client-key")?,
        )),
        (None, None) => config,
        _ => return Err(Failure::new("--client-cert and --client-key go together")),
    };
    if let Some(name) = &files.name {
        config = config.domain_name(name.clone());
    }
    Ok(config)
}

/// The certificate authorities this system trusts.
fn system_roots() -> Result<Vec<rustls::pki_types::TrustAnchor<'static>>> {
    let found = rustls_native_certs::load_native_certs();
    let mut store = rustls::RootCertStore::empty();
    let (added, _) = store.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(Failure::new(
            "this system has no trusted CA certificates: pass the server's CA with --ca-cert FILE",
        ));
    }
    Ok(store.roots)
}

/// What a failed connection's error chain says, as one line that says what
/// to do — or `None` when it is not a TLS failure.
pub fn explain(chain: &str, url: &str, files: &TlsFiles) -> Option<String> {
    let trusted_by = match &files.ca_cert {
        Some(ca) => format!("--ca-cert {}", ca.display()),
        None => "this system's CAs".to_string(),
    };
    if chain.contains("UnknownIssuer") || chain.contains("BadSignature") {
        let hint = match files.ca_cert {
            Some(_) => "check that --ca-cert is the CA that signed the server's certificate",
            None => "pass the server's CA with --ca-cert FILE",
        };
        return Some(format!(
            "the certificate of {url} is not trusted by {trusted_by}: {hint}"
        ));
    }
    if let Some(at) = chain.find("certificate not valid for name") {
        let detail = chain[at..].split(": ").next().unwrap_or_default().trim();
        return Some(format!(
            "the certificate of {url} is for another name ({detail}): connect by a name it \
             lists, or pass --tls-name NAME"
        ));
    }
    if chain.contains("NotValidForName") {
        return Some(format!(
            "the certificate of {url} is for another name: connect by a name it lists, or \
             pass --tls-name NAME"
        ));
    }
    if chain.contains("certificate expired") || chain.contains("Expired") {
        return Some(format!(
            "the certificate of {url} has expired: ask its operator to renew it"
        ));
    }
    if chain.contains("NotValidYet") || chain.contains("not valid yet") {
        return Some(format!(
            "the certificate of {url} is not valid yet: check this machine's clock"
        ));
    }
    if chain.contains("received fatal alert") {
        let hint = if files.has_identity() {
            "check that --client-cert is signed by a CA the server trusts"
        } else {
            "the server may require a client certificate: pass --client-cert and --client-key"
        };
        return Some(format!("{url} refused the TLS handshake: {hint}"));
    }
    if chain.contains("corrupt message") || chain.contains("InvalidContentType") {
        return Some(format!(
            "{url} does not speak TLS: use http:// (or grpc://) for a plaintext server"
        ));
    }
    if chain.contains("HTTP/2 was not negotiated") {
        return Some(format!("{url} does not serve gRPC over TLS (no HTTP/2)"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_map_to_http_or_https() {
        let url = |u: &str| endpoint_url(u).map_err(|e| e.to_string());
        assert_eq!(url("grpc+tls://h:1"), Ok(("https://h:1".into(), true)));
        assert_eq!(url("https://h:1"), Ok(("https://h:1".into(), true)));
        assert_eq!(url("grpc://h:1"), Ok(("http://h:1".into(), false)));
        assert_eq!(url("http://h:1"), Ok(("http://h:1".into(), false)));
        assert!(url("h:1").is_err());
        assert!(url("ftp://h:1").is_err());
    }

    #[test]
    fn handshake_failures_are_explained() {
        let files = TlsFiles::default();
        let ca = explain(
            "invalid peer certificate: UnknownIssuer",
            "https://h:1",
            &files,
        );
        assert!(ca.is_some_and(|m| m.contains("not trusted") && m.contains("--ca-cert")));
        let name = explain(
            "transport error: invalid peer certificate: certificate not valid for name \
             \"x\"; certificate is only valid for DnsName(\"localhost\")",
            "https://x:1",
            &files,
        );
        assert!(name.is_some_and(|m| m.contains("another name") && m.contains("--tls-name")));
        assert_eq!(explain("connection refused", "https://h:1", &files), None);
    }
}
