//! Every setting, declared once. Each area is one struct that is at the same
//! time its flags (each with a `LAKER_*` variable) and its keys in the TOML
//! file. Every field is optional, so "not given" differs from every value:
//! the file is read first, flags and variables are applied over it (only
//! those given), and what is still unset keeps its default.

pub mod audit;
pub mod auth;
pub mod catalog;
pub mod downloads;
pub mod identity;
pub mod ldap;
pub mod limits;
pub mod listen;
pub mod logging;
mod merge;
pub mod notify;
mod pairs;
pub mod retention;
pub mod uploads;

use std::path::Path;

use clap::Args;

use crate::config::error::ConfigError;
use crate::config::file::Document;
use crate::config::server_config::ServerConfig;

/// All settings, area by area (the TOML file keeps them at its top level).
#[derive(Debug, Default, Args)]
pub struct Settings {
    #[command(flatten)]
    pub listen: listen::Listen,
    #[command(flatten)]
    pub logging: logging::Logging,
    #[command(flatten)]
    pub catalog: catalog::Catalog,
    #[command(flatten)]
    pub auth: auth::Auth,
    #[command(flatten)]
    pub audit: audit::Audit,
    #[command(flatten)]
    pub downloads: downloads::Downloads,
    #[command(flatten)]
    pub limits: limits::Limits,
    #[command(flatten)]
    pub uploads: uploads::Uploads,
    #[command(flatten)]
    pub notify: notify::Notify,
    #[command(flatten)]
    pub retention: retention::Retention,
}

impl Settings {
    /// The settings of the TOML file at `path`.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
        Self::from_toml(&text)
            .map_err(|e| ConfigError(format!("invalid config file {}: {e}", path.display())))
    }

    /// The settings of a TOML document; a top-level key no area reads is
    /// refused.
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        let mut doc = Document::new(text);
        let settings = Self {
            listen: doc.area()?,
            logging: doc.area()?,
            catalog: doc.area()?,
            auth: doc.area()?,
            audit: doc.area()?,
            downloads: doc.area()?,
            limits: doc.area()?,
            uploads: doc.area()?,
            notify: doc.area()?,
            retention: doc.area()?,
        };
        doc.finish()?;
        Ok(settings)
    }

    /// The configuration: what was given, defaults for the rest; checked.
    pub fn resolve(self) -> Result<ServerConfig, ConfigError> {
        let mut c = self.catalog.base();
        self.listen.apply(&mut c);
        self.logging.apply(&mut c);
        self.auth.apply(&mut c)?;
        self.audit.apply(&mut c);
        self.downloads.apply(&mut c);
        self.limits.apply(&mut c);
        self.uploads.apply(&mut c);
        self.notify.apply(&mut c);
        self.retention.apply(&mut c);
        c.validate()?;
        Ok(c)
    }
}
