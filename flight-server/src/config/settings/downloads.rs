//! How downloads read and send data: partitions, batch size, the DoGet
//! writer, the result cache and DataFusion's Parquet reader options.

use clap::Args;
use serde::Deserialize;

use super::merge::{mib, set};
use super::pairs::{key_value_table, parquet_option};
use crate::config::server_config::ServerConfig;

/// Download settings.
#[derive(Debug, Default, Args, Deserialize)]
#[serde(default)]
pub struct Downloads {
    /// Most partitions (parallel endpoints) a download is split into [default: 8].
    #[arg(long, env = "LAKER_MAX_PARTITIONS")]
    pub max_partitions: Option<usize>,
    /// Rows per record batch [default: 8192].
    #[arg(long, env = "LAKER_BATCH_SIZE")]
    pub batch_size: Option<usize>,
    /// Most rows per batch of a download that reads large batches (about
    /// 8 MiB each by the row width its statistics give); 0 turns large
    /// batches off [default: 65536].
    #[arg(long, env = "LAKER_LARGE_BATCH_SIZE")]
    pub large_batch_size: Option<usize>,
    /// Download streams that may read large batches at once, each holding
    /// 48 MiB more of the memory budget [default: the number of cores].
    #[arg(long, env = "LAKER_LARGE_BATCH_STREAMS")]
    pub large_batch_streams: Option<usize>,
    /// Write DoGet responses straight from the record batches' buffers
    /// (true), or through the generic gRPC encoder, which copies every
    /// buffer twice (false) [default: true].
    #[arg(long, env = "LAKER_DIRECT_DO_GET")]
    pub direct_do_get: Option<bool>,
    /// Memory for the cache of encoded DoGet results, in MiB: a result is
    /// kept the second time it is asked for, the least recently used
    /// evicted; 0 turns it off [default: 0].
    #[arg(long, env = "LAKER_RESULT_CACHE_MB")]
    pub result_cache_mb: Option<usize>,
    /// Decode Parquet string and binary columns straight into plain
    /// strings and binaries, even where a file's Arrow schema asks for
    /// string or binary views (true), or into the views, cast to plain
    /// arrays before they are sent (false); no effect with the Parquet
    /// option `schema_force_view_types=true`, nor on Delta tables
    /// [default: true].
    #[arg(long, env = "LAKER_PARQUET_PLAIN_STRINGS")]
    pub parquet_plain_strings: Option<bool>,
    /// A DataFusion Parquet reader option, `name=value`, e.g.
    /// `enable_page_index=false` (any `datafusion.execution.parquet.*`;
    /// repeatable; comma-separated in the environment).
    #[arg(
        long = "parquet-option",
        env = "LAKER_PARQUET_OPTIONS",
        value_delimiter = ',',
        value_parser = parquet_option
    )]
    #[serde(deserialize_with = "key_value_table")]
    pub parquet_options: Vec<(String, String)>,
}

impl Downloads {
    pub(super) fn apply(self, c: &mut ServerConfig) {
        set(&mut c.max_partitions, self.max_partitions);
        set(&mut c.batch_size, self.batch_size);
        set(&mut c.stream_limits.large_batch_rows, self.large_batch_size);
        set(
            &mut c.stream_limits.large_batch_streams,
            self.large_batch_streams,
        );
        set(&mut c.direct_do_get, self.direct_do_get);
        set(&mut c.result_cache_bytes, self.result_cache_mb.map(mib));
        set(&mut c.parquet_plain_strings, self.parquet_plain_strings);
        c.parquet_options = self.parquet_options;
    }
}
