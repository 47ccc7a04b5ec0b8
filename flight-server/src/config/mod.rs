//! Server configuration: command-line flags (each with a `LAKER_*`
//! environment variable), an optional TOML file, and defaults, merged in that
//! order of precedence into one [`ServerConfig`]. Every setting is declared
//! once, in its area of [`settings`].

mod cli;
mod error;
mod file;
mod retried;
mod server_config;
pub mod settings;
pub mod stores;
mod validate;

#[cfg(test)]
mod tests;

pub use cli::{CatalogCommand, Cli, Command, CreateAdminArgs, SeedArgs, load};
pub use error::ConfigError;
pub use server_config::{DEFAULT_DEMO_ROWS, ServerConfig};
