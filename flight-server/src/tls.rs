//! TLS for the gRPC listener (rustls), and client certificates as a way to
//! authenticate: a certificate signed by the configured client CA names
//! the user in its subject's common name (CN).

use std::sync::Arc;

use laker_auth::Principal;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use x509_cert::Certificate as X509;
use x509_cert::der::Decode;

use crate::config::ServerConfig;

/// Object identifier of the X.520 common name attribute.
const COMMON_NAME: &str = "2.5.4.3";

/// The listener's TLS configuration, or `None` for plaintext.
pub fn server_tls(config: &ServerConfig) -> Result<Option<ServerTlsConfig>, String> {
    let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
        return Ok(None);
    };
    // Several crypto back ends are linked in; pick one for the process.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(read(cert)?, read(key)?));
    if let Some(ca) = &config.tls_client_ca {
        tls = tls
            .client_ca_root(Certificate::from_pem(read(ca)?))
            .client_auth_optional(true);
    }
    Ok(Some(tls))
}

/// The principal named by the verified client certificate of a request,
/// if the connection presented one.
pub fn certificate_principal(extensions: &http::Extensions) -> Option<Principal> {
    let info = extensions.get::<TlsConnectInfo<TcpConnectInfo>>()?;
    let certs = info.peer_certs()?;
    let leaf = certs.first()?;
    let cert = X509::from_der(leaf.as_ref()).ok()?;
    let name = common_name(&cert)?;
    Some(Principal::new(name.trim().to_ascii_lowercase()))
}

fn common_name(cert: &X509) -> Option<String> {
    cert.tbs_certificate
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid.to_string() == COMMON_NAME)
        .and_then(|atv| {
            atv.value.decode_as::<String>().ok().or_else(|| {
                std::str::from_utf8(atv.value.value())
                    .ok()
                    .map(str::to_string)
            })
        })
}

/// The authenticator the auth layer falls back to when a call carries no
/// bearer token.
pub fn certificate_authenticator() -> laker_auth::layer::Fallback {
    Arc::new(certificate_principal)
}
