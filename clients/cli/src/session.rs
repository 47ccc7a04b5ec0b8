//! Connecting and authenticating: `--user`/`--password` (Basic, exchanged
//! for a bearer token), `LAKER_TOKEN`, the token `laker login` stored in
//! the user's config directory (`credentials.json`, mode 0600) — sent only
//! to the server it was stored for —, or a TLS client certificate alone
//! (the server names the user by its CN).

use std::path::PathBuf;

use arrow_flight::FlightClient;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use tonic::transport::Channel;

use crate::error::{Failure, Result};
use crate::tls::{self, TlsFiles};

/// Server URL used when none is given or stored.
pub const DEFAULT_URL: &str = "http://127.0.0.1:50051";

/// What `laker login` stores.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    /// Server URL.
    pub url: String,
    /// Who logged in.
    pub user: String,
    /// Bearer token.
    pub token: String,
    /// TLS settings given at login (CA, client certificate).
    #[serde(default, skip_serializing_if = "TlsFiles::is_empty")]
    pub tls: TlsFiles,
}

/// Where the credentials live: `$LAKER_CONFIG_DIR`, else
/// `$XDG_CONFIG_HOME/laker`, else `~/.config/laker`.
pub fn config_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("LAKER_CONFIG_DIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME") {
        return Ok(PathBuf::from(dir).join("laker"));
    }
    std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".config").join("laker"))
        .ok_or_else(|| Failure::new("cannot find a config directory: set LAKER_CONFIG_DIR"))
}

fn credentials_file() -> Result<PathBuf> {
    Ok(config_dir()?.join("credentials.json"))
}

/// The stored login, if any.
pub fn stored() -> Result<Option<Stored>> {
    let path = credentials_file()?;
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Failure::new(format!(
                "{} is not valid ({e}); run `laker login` again",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::new(format!("cannot read {}: {e}", path.display()))),
    }
}

/// Stores a login, readable by the user only.
pub fn store(login: &Stored) -> Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let dir = config_dir()?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    let path = credentials_file()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    // An existing file keeps its mode on open: make sure.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(serde_json::to_string_pretty(login)?.as_bytes())?;
    Ok(path)
}

/// Opens a channel to `url` (`http://`, `grpc://`; `https://`,
/// `grpc+tls://` with `files`' TLS settings).
pub async fn channel(url: &str, files: &TlsFiles) -> Result<Channel> {
    let (target, secure) = tls::endpoint_url(url)?;
    let mut endpoint = Channel::from_shared(target)
        .map_err(|e| Failure::new(format!("invalid server URL '{url}': {e}")))?
        // A connection that silently dies mid-download is noticed (and the
        // download resumed) instead of waited on forever.
        .http2_keep_alive_interval(std::time::Duration::from_secs(30))
        .keep_alive_timeout(std::time::Duration::from_secs(20));
    if secure {
        endpoint = endpoint
            .tls_config(tls::client_config(files)?)
            .map_err(|e| Failure::new(format!("TLS settings for {url}: {}", chain(&e))))?;
    } else if !files.is_empty() {
        return Err(Failure::new(format!(
            "--ca-cert, --client-cert and --tls-name need a TLS URL: use https:// or \
             grpc+tls:// instead of '{url}'"
        )));
    }
    endpoint.connect().await.map_err(|e| {
        let chain = chain(&e);
        match tls::explain(&chain, url, files) {
            Some(message) => Failure::new(message),
            None => Failure::new(format!("cannot connect to {url}: {chain}")),
        }
    })
}

/// An error and its sources, `: `-separated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(&format!(": {text}"));
        }
        source = cause.source();
    }
    message
}

/// Exchanges a user name and password for a bearer token.
pub async fn login(channel: Channel, user: &str, password: &str) -> Result<String> {
    let mut client = FlightClient::new(channel);
    let basic = STANDARD.encode(format!("{user}:{password}"));
    client.add_header("authorization", &format!("Basic {basic}"))?;
    let token = client.handshake(Vec::<u8>::new()).await?;
    Ok(String::from_utf8_lossy(&token).into_owned())
}

/// How a command authenticates.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `--url`, if given.
    pub url: Option<String>,
    /// `--user`, if given.
    pub user: Option<String>,
    /// `--password`, if given.
    pub password: Option<String>,
    /// `LAKER_TOKEN`, if set.
    pub token: Option<String>,
    /// `--ca-cert`, `--client-cert`, `--client-key`, `--tls-name`.
    pub tls: TlsFiles,
}

fn not_logged_in() -> Failure {
    Failure::new(
        "not logged in: run `laker login URL --as NAME`, pass --user and --password, or a \
         client certificate (--client-cert, --client-key)",
    )
}

fn stored_elsewhere(stored: &str, url: &str) -> Failure {
    Failure::new(format!(
        "the stored login is for {stored}, not {url}, and is sent only to its own server: \
         run `laker login {url} --as NAME`, or pass --user and --password"
    ))
}

/// Whether URLs `a` and `b` name the same server (`https://` and
/// `grpc+tls://` are one; so are `http://` and `grpc://`).
fn same_server(a: &str, b: &str) -> bool {
    let target = |url: &str| {
        tls::endpoint_url(url)
            .ok()
            .map(|(target, _)| target.trim_end_matches('/').to_ascii_lowercase())
    };
    matches!((target(a), target(b)), (Some(a), Some(b)) if a == b)
}

/// A connected, authenticated session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The channel (shared by all clients of the session).
    pub channel: Channel,
    /// The bearer token; `None` when a client certificate authenticates.
    pub token: Option<String>,
}

impl Session {
    /// Connects with the given credentials, else `LAKER_TOKEN`, else the
    /// stored login, else a client certificate alone.
    pub async fn open(creds: &Credentials) -> Result<Self> {
        creds.tls.check()?;
        let stored = stored()?;
        let certificate = creds.tls.has_identity();
        if creds.user.is_none() && creds.token.is_none() && stored.is_none() && !certificate {
            return Err(not_logged_in());
        }
        // The stored login (its token and TLS settings) is for its own
        // server: it applies when no other server is named.
        let (stored, elsewhere) = match stored {
            Some(s)
                if creds
                    .url
                    .as_ref()
                    .is_some_and(|url| !same_server(url, &s.url)) =>
            {
                (None, Some(s.url))
            }
            other => (other, None),
        };
        let stored_tls = stored.as_ref().map(|s| s.tls.clone()).unwrap_or_default();
        let url = creds
            .url
            .clone()
            .or_else(|| stored.as_ref().map(|s| s.url.clone()))
            .unwrap_or_else(|| DEFAULT_URL.to_string());
        let files = creds.tls.clone().or(stored_tls);
        let channel = channel(&url, &files).await?;
        let token = match (&creds.user, &creds.password, &creds.token, stored) {
            (Some(user), Some(password), _, _) => {
                Some(login(channel.clone(), user, password).await?)
            }
            (Some(_), None, _, _) => {
                return Err(Failure::new("--user needs --password (or LAKER_PASSWORD)"));
            }
            (None, _, Some(token), _) => Some(token.clone()),
            (None, _, None, Some(stored)) => Some(stored.token),
            (None, _, None, None) if files.has_identity() => None,
            (None, _, None, None) => {
                return Err(match elsewhere {
                    Some(stored) => stored_elsewhere(&stored, &url),
                    None => not_logged_in(),
                });
            }
        };
        Ok(Self { channel, token })
    }

    /// A Flight client carrying the session's token.
    pub fn client(&self) -> Result<FlightClient> {
        let mut client = FlightClient::new(self.channel.clone());
        if let Some(token) = &self.token {
            client.add_header("authorization", &format!("Bearer {token}"))?;
        }
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_compared_by_where_they_are() {
        assert!(same_server("http://lake:50051", "http://lake:50051"));
        assert!(same_server("grpc://LAKE:50051/", "http://lake:50051"));
        assert!(same_server("https://lake:443", "grpc+tls://lake:443"));
        assert!(!same_server("http://lake:50051", "https://lake:50051"));
        assert!(!same_server("http://lake:50051", "http://proxy:50051"));
        assert!(!same_server("http://lake:50051", "http://lake:50052"));
        assert!(!same_server("lake:50051", "lake:50051"), "not URLs");
    }

    #[test]
    fn a_login_stored_for_another_server_says_so_in_one_line() {
        let message = stored_elsewhere("http://lake:50051", "http://other:50051").to_string();
        assert!(!message.contains('\n'), "{message}");
        assert!(
            message.contains("is for http://lake:50051, not http://other:50051"),
            "{message}"
        );
    }
}
