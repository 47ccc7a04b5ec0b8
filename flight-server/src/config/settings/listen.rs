//! Where the server listens and how: the Flight address and its TLS, the
//! HTTP port, shutdown grace, keep-alive pings, the address advertised,
//! the proxies in front of it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use super::merge::set;
use crate::config::server_config::ServerConfig;
use crate::proxies::Cidr;

/// Listening settings.
#[derive(Debug, Default, Args, Deserialize)]
#[serde(default)]
pub struct Listen {
    /// Address to listen on [default: 127.0.0.1:50051].
    #[arg(long, env = "LAKER_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Address of the HTTP port serving /healthz, /readyz and /metrics
    /// [default: none, not served].
    #[arg(long, env = "LAKER_HTTP_LISTEN")]
    pub http_listen: Option<SocketAddr>,
    /// Seconds running calls may take to finish after SIGTERM before they
    /// are cut [default: 30].
    #[arg(long, env = "LAKER_SHUTDOWN_GRACE_SECS")]
    pub shutdown_grace_secs: Option<u64>,
    /// Seconds between HTTP/2 keep-alive pings on idle connections and
    /// long streams, so proxies do not cut them; 0 turns them off [default: 30].
    #[arg(long, env = "LAKER_KEEPALIVE_SECS")]
    pub keepalive_secs: Option<u64>,
    /// This replica's own address as clients reach it
    /// (`grpc://10.0.0.5:50051`; port 0: the port listened on). Replicas
    /// that advertise one share each download's endpoints among them
    /// [default: none].
    #[arg(long, env = "LAKER_ADVERTISE_URL")]
    pub advertise_url: Option<String>,
    /// PEM certificate chain: serve gRPC over TLS (with --tls-key).
    #[arg(long, env = "LAKER_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "LAKER_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificate(s): clients may authenticate with a certificate it signed; the certificate's common name is the user.
    #[arg(long, env = "LAKER_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// Address range (CIDR, or one address) of a proxy or load balancer in front of the server whose X-Forwarded-For / Forwarded header names the client (repeatable; comma-separated in the environment) [default: none: the TCP peer is the client].
    #[arg(
        long = "trusted-proxy",
        env = "LAKER_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = cidr
    )]
    pub trusted_proxies: Vec<Cidr>,
}

/// Parses an address range of `--trusted-proxy`.
fn cidr(s: &str) -> Result<Cidr, String> {
    s.parse()
}

impl Listen {
    pub(super) fn apply(self, c: &mut ServerConfig) {
        set(&mut c.listen, self.listen);
        c.http_listen = self.http_listen;
        let secs = Duration::from_secs;
        set(&mut c.shutdown_grace, self.shutdown_grace_secs.map(secs));
        set(
            &mut c.keepalive,
            self.keepalive_secs.map(|s| (s > 0).then(|| secs(s))),
        );
        c.advertise_url = self.advertise_url;
        c.tls_cert = self.tls_cert;
        c.tls_key = self.tls_key;
        c.tls_client_ca = self.tls_client_ca;
        c.trusted_proxies = self.trusted_proxies;
    }
}
