//! A bounded set of directory connections. Each open connection holds one
//! of `max_connections` permits; connections bound as the service account
//! are kept for reuse, a connection a user binds on is used once. A caller
//! waits at most the connect timeout for a permit, then hears the
//! directory is busy.

use std::future::Future;
use std::sync::{Arc, Mutex};

use ldap3::Ldap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::bind::bind;
use super::config::{LdapConfig, ServiceAccount};
use super::connect::Connector;
use super::error::DirectoryError;

/// An open connection and its permit.
pub(crate) struct Conn {
    /// The connection.
    pub(crate) ldap: Ldap,
    _permit: OwnedSemaphorePermit,
}

/// Connections to one directory; see the module documentation.
pub(crate) struct Pool {
    connector: Connector,
    service: Option<ServiceAccount>,
    permits: Arc<Semaphore>,
    max: usize,
    wait: std::time::Duration,
    /// Connections bound as the service account, not in use.
    idle: Mutex<Vec<Conn>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("connector", &self.connector)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool for `config`'s directory (no connection is opened yet).
    pub(crate) fn new(config: &LdapConfig) -> Result<Self, String> {
        Ok(Self {
            connector: Connector::new(config)?,
            service: config.service.clone(),
            permits: Arc::new(Semaphore::new(config.max_connections)),
            max: config.max_connections,
            wait: config.connect_timeout,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The longest wait for one operation.
    pub(crate) fn timeout(&self) -> std::time::Duration {
        self.connector.timeout()
    }

    /// Whether a service account is configured.
    pub(crate) fn has_service(&self) -> bool {
        self.service.is_some()
    }

    /// A new, unbound connection (for a user's bind).
    pub(crate) async fn fresh(&self) -> Result<Conn, DirectoryError> {
        let permit = self.permit().await?;
        let ldap = self.connector.open().await?;
        Ok(Conn {
            ldap,
            _permit: permit,
        })
    }

    /// Runs `op` on a connection bound as the service account: a kept one
    /// if there is one (and again on a new connection if the kept one turns
    /// out to be broken, e.g. after the directory restarted).
    pub(crate) async fn with_service<T, F, Fut>(&self, op: F) -> Result<T, DirectoryError>
    where
        F: Fn(Ldap) -> Fut,
        Fut: Future<Output = Result<T, DirectoryError>>,
    {
        if let Some(conn) = self.take_idle() {
            match op(conn.ldap.clone()).await {
                Ok(value) => {
                    self.keep(conn);
                    return Ok(value);
                }
                Err(e) if e.is_connection() => {
                    tracing::debug!(error = ?e, "kept directory connection failed; opening another");
                }
                Err(e) => {
                    self.keep(conn);
                    return Err(e);
                }
            }
        }
        let conn = self.service_conn().await?;
        let result = op(conn.ldap.clone()).await;
        if !matches!(&result, Err(e) if e.is_connection()) {
            self.keep(conn);
        }
        result
    }

    /// A new connection bound as the service account.
    async fn service_conn(&self) -> Result<Conn, DirectoryError> {
        let Some(service) = &self.service else {
            return Err(DirectoryError::Refused {
                what: "a search",
                detail: "no service account is configured".into(),
            });
        };
        let mut conn = self.fresh().await?;
        let rc = bind(
            &mut conn.ldap,
            &service.dn,
            service.password.expose(),
            self.timeout(),
        )
        .await?;
        if rc != 0 {
            return Err(DirectoryError::Refused {
                what: "Laker's service account",
                detail: format!("bind as {} answered result code {rc}", service.dn),
            });
        }
        Ok(conn)
    }

    /// A kept connection that is still open, if any.
    fn take_idle(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(mut conn) = idle.pop() {
            if !conn.ldap.is_closed() {
                return Some(conn);
            }
        }
        None
    }

    /// Keeps a service connection for reuse.
    fn keep(&self, mut conn: Conn) {
        if conn.ldap.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.max
        {
            idle.push(conn);
        }
    }

    /// A permit for one more connection: a free one, else one a kept
    /// connection gives up, else the first freed within the wait.
    async fn permit(&self) -> Result<OwnedSemaphorePermit, DirectoryError> {
        if let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() {
            return Ok(permit);
        }
        let kept = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        if let Some(conn) = kept {
            let Conn {
                ldap,
                _permit: permit,
            } = conn;
            drop(ldap);
            return Ok(permit);
        }
        let busy = || DirectoryError::Busy {
            connections: self.max,
        };
        tokio::time::timeout(self.wait, Arc::clone(&self.permits).acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())
    }
}
