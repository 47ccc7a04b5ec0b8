//! The command line of `laker-server`: `--config`, every setting (see
//! [`Settings`]) and the subcommands; and loading the configuration from it.

use std::path::PathBuf;

use clap::{ArgMatches, Args, FromArgMatches, Parser, Subcommand};

use crate::config::error::ConfigError;
use crate::config::server_config::ServerConfig;
use crate::config::settings::Settings;

/// `laker-server`: an Arrow Flight data service over your data lake.
#[derive(Debug, Parser)]
#[command(name = "laker-server", version, about)]
pub struct Cli {
    /// TOML configuration file; flags and LAKER_* variables override its settings.
    #[arg(long, env = "LAKER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Every setting.
    #[command(flatten)]
    pub settings: Settings,
    /// What to do instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommand of a parsed command line and the configuration: flags and
/// `LAKER_*` variables over the `--config` file over defaults.
pub fn load(matches: &ArgMatches) -> Result<(Option<Command>, ServerConfig), ConfigError> {
    let clap_error = |e: clap::Error| ConfigError(e.to_string());
    let cli = Cli::from_arg_matches(matches).map_err(clap_error)?;
    let mut settings = match &cli.config {
        Some(path) => Settings::read(path)?,
        None => Settings::default(),
    };
    // Only what was given on the command line or in the environment.
    settings
        .update_from_arg_matches(matches)
        .map_err(clap_error)?;
    Ok((cli.command, settings.resolve()?))
}

/// `laker-server` subcommands (without one, the server runs).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Catalog maintenance.
    #[command(subcommand)]
    Catalog(CatalogCommand),
}

/// `laker-server catalog …`.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Registers the sample datasets (demo.trips, demo.zones) on a configured
    /// store: generates them, uploads them under the store's prefix and
    /// registers them. Idempotent.
    Seed(SeedArgs),
    /// Creates the first administrator (admin and read on everything), or
    /// resets its password. The password is read from the
    /// LAKER_ADMIN_PASSWORD environment variable. Idempotent.
    CreateAdmin(CreateAdminArgs),
}

/// Options of `laker-server catalog create-admin`.
#[derive(Debug, Args, Clone)]
pub struct CreateAdminArgs {
    /// User name of the administrator.
    #[arg(long, default_value = "admin")]
    pub name: String,
}

/// Options of `laker-server catalog seed`.
#[derive(Debug, Args, Clone)]
pub struct SeedArgs {
    /// Configured store to put the data on (a `[stores.<name>]`), or
    /// `data-dir` for the data directory's lake.
    #[arg(long, default_value = "data-dir")]
    pub store: String,
    /// Folder under the store's prefix to upload into.
    #[arg(long, default_value = "laker-demo")]
    pub prefix: String,
    /// Also create the demo/demo account with read access to demo.* (never on a shared deployment).
    #[arg(long)]
    pub with_demo_user: bool,
}
