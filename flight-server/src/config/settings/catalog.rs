//! What the server keeps and where: the data directory, the catalog
//! database, the named object stores (`[stores.<name>]`, file only) and the
//! demo datasets.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;

use super::merge::set;
use crate::config::server_config::ServerConfig;
use crate::config::stores::StoreConfig;

/// Data directory, catalog, store and demo settings.
#[derive(Debug, Default, Args, Deserialize)]
#[serde(default)]
pub struct Catalog {
    /// Data directory: SQLite catalog, signing secret and the local lake [default: ./laker-data].
    #[arg(long, env = "LAKER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Catalog database URL, `sqlite:…` or `postgres:…` [default: SQLite file in the data directory].
    #[arg(long, env = "LAKER_CATALOG_URL")]
    pub catalog_url: Option<String>,
    /// Named object stores, only in the file.
    #[arg(skip)]
    pub stores: BTreeMap<String, StoreConfig>,
    /// Create the demo namespace, sample datasets and the demo/demo account (loopback only).
    #[arg(
        long,
        env = "LAKER_DEMO",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub demo: Option<bool>,
    /// Rows of demo.trips to generate [default: 2000000].
    #[arg(long, env = "LAKER_DEMO_ROWS")]
    pub demo_rows: Option<usize>,
}

impl Catalog {
    /// Every setting's default for the data directory, with these set.
    pub(super) fn base(self) -> ServerConfig {
        let data_dir = self.data_dir.unwrap_or_else(|| "laker-data".into());
        let mut c = ServerConfig::with_data_dir(data_dir);
        set(&mut c.catalog_url, self.catalog_url);
        c.stores = self.stores;
        set(&mut c.demo, self.demo);
        set(&mut c.demo_rows, self.demo_rows);
        c
    }
}
