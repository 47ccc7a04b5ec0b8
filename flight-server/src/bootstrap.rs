//! `laker-server catalog create-admin`: the first administrator of a fresh
//! deployment (or a reset of its password). Idempotent.

use laker_auth::password::hash_password;
use laker_catalog::Catalog;

use crate::config::ServerConfig;
use crate::error::{Error, Result};

/// Shortest accepted administrator password.
const MIN_PASSWORD_CHARS: usize = 12;

/// Creates (or updates the password of) user `name` with the `admin` and
/// `read` grants on everything.
pub async fn create_admin(config: &ServerConfig, name: &str, password: &str) -> Result<bool> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::InvalidArgument(format!(
            "the administrator password must be at least {MIN_PASSWORD_CHARS} characters long"
        )));
    }
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| Error::Internal(format!("cannot create the data directory: {e}")))?;
    let catalog = Catalog::connect(&config.catalog_url).await?;
    let hash = hash_password(password)?;
    let created = match catalog.user(name).await? {
        Some(_) => {
            catalog.set_password_hash(name, &hash).await?;
            catalog.set_user_disabled(name, false).await?;
            false
        }
        None => {
            catalog.create_user(name, &hash).await?;
            true
        }
    };
    catalog.grant(name, "*", "admin").await?;
    catalog.grant(name, "*", "read").await?;
    Ok(created)
}
