//! Connecting to the catalog database and migrating it.

use std::str::FromStr;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};

use crate::error::{CatalogError, Result};

/// Which database holds the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file (the default).
    Sqlite,
    /// PostgreSQL server (shared, for production).
    Postgres,
}

impl Backend {
    /// Picks the backend from a catalog URL's scheme.
    pub fn from_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Self::Postgres)
        } else {
            Err(CatalogError::invalid(
                "catalog URL must start with 'sqlite:' or 'postgres:'",
            ))
        }
    }
}

/// Opens a pool on `url` and applies the embedded migrations for its backend.
pub(crate) async fn connect(url: &str) -> Result<(AnyPool, Backend)> {
    sqlx::any::install_default_drivers();
    let backend = Backend::from_url(url)?;
    if backend == Backend::Sqlite {
        private_sqlite_file(url)?;
    }
    let options = AnyConnectOptions::from_str(url)
        .map_err(|e| CatalogError::invalid(format!("invalid catalog URL: {e}")))?;
    let pool = AnyPoolOptions::new()
        .max_connections(match backend {
            Backend::Sqlite => 4,
            Backend::Postgres => 16,
        })
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await?;
    if backend == Backend::Sqlite {
        // Readers never block the writer, and the writer never blocks readers.
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&pool)
            .await?;
    }
    match backend {
        Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
        Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
    }
    Ok((pool, backend))
}

/// Creates the SQLite catalog file readable by its owner only (it holds
/// password hashes and the audit), or tightens an existing one. SQLite
/// gives its WAL and shared-memory files the database file's permissions.
fn private_sqlite_file(url: &str) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let Ok(options) = sqlx::sqlite::SqliteConnectOptions::from_str(url) else {
            return Ok(());
        };
        let path = options.get_filename();
        if path.as_os_str().is_empty() || path.to_str() == Some(":memory:") {
            return Ok(());
        }
        // Created here only where the URL lets the driver create it.
        if url.contains("mode=rwc") {
            let created = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path);
            match created {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                // A missing directory and the like: the driver reports it.
                Err(_) => return Ok(()),
            }
        }
        let wide = std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0);
        if wide {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
                |e| {
                    CatalogError::invalid(format!(
                        "cannot make the catalog file readable by its owner only: {e}"
                    ))
                },
            )?;
            tracing::warn!("the catalog file was readable by others; its mode is now 0600");
        }
    }
    Ok(())
}

/// Current time as Unix epoch milliseconds.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// True when a database error is a unique/primary-key violation.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Maps a unique-key violation to `AlreadyExists { kind, name }`, other errors as they are.
pub(crate) fn or_already_exists(
    kind: &'static str,
    name: &str,
) -> impl FnOnce(sqlx::Error) -> CatalogError {
    let name = name.to_string();
    move |e| {
        if is_unique_violation(&e) {
            CatalogError::AlreadyExists { kind, name }
        } else {
            e.into()
        }
    }
}
