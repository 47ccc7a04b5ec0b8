//! Parquet string and binary columns decoded straight into plain arrays.
//!
//! Files written by tools such as `tpchgen-cli` carry an Arrow schema hint
//! (`ARROW:schema`) that asks for `Utf8View`/`BinaryView`. DataFusion keeps
//! the hint's types, so the Parquet reader builds views that Laker then casts
//! back to plain arrays before sending them. With the engine's
//! `plain_strings` setting, Parquet file datasets read through a format
//! whose table schema has no views ([`types`]) and whose file readers
//! rewrite the hint in each file's metadata ([`hint`], [`reader`]), so the
//! reader decodes plain `Utf8`/`Binary` (or `LargeUtf8`/`LargeBinary`) and
//! nothing casts them later ([`format`]).
//!
//! Not for Delta tables: deltalake builds its Parquet scans, and their file
//! readers, itself.

mod format;
mod hint;
mod reader;
#[cfg(test)]
mod tests;
mod types;

use std::sync::Arc;

use datafusion::catalog::Session;
use datafusion::config::TableParquetOptions;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::prelude::SessionConfig;

/// The engine's `plain_strings` setting, carried in its session config.
#[derive(Debug, Clone, Copy)]
struct PlainStrings(bool);

/// `config` carrying the `plain_strings` setting, for the Parquet tables
/// built in sessions made from it.
pub(crate) fn with_setting(config: SessionConfig, on: bool) -> SessionConfig {
    config.with_extension(Arc::new(PlainStrings(on)))
}

/// The format Parquet datasets are read with in `session`: DataFusion's,
/// with the session's Parquet options, wrapped to decode plain strings
/// when the session's setting is on (off when it is missing), view types
/// were not asked for, and no files are decrypted.
pub(crate) fn parquet_format(session: &dyn Session) -> Arc<dyn FileFormat> {
    let parquet = ParquetFormat::default().with_options(session.table_options().parquet.clone());
    let on = session
        .config()
        .get_extension::<PlainStrings>()
        .is_some_and(|setting| setting.0);
    if on && applies(parquet.options()) {
        Arc::new(format::PlainStringsFormat::new(parquet))
    } else {
        Arc::new(parquet)
    }
}

/// Whether plain strings may replace what `options` read: not when they
/// force view types (`schema_force_view_types`), nor when they decrypt
/// files (the rewritten metadata would lose its decryptor).
fn applies(options: &TableParquetOptions) -> bool {
    !options.global.schema_force_view_types
        && options.crypto.file_decryption.is_none()
        && options.crypto.factory_id.is_none()
}
