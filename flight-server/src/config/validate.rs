//! Checks of the resolved configuration that types cannot express: ranges,
//! settings that go together, and what one upload needs of the memory budget.

use std::time::Duration;

use crate::config::error::ConfigError;
use crate::config::server_config::ServerConfig;

impl ServerConfig {
    /// Checks values that flags and files cannot constrain by type.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |m: &str| Err(ConfigError(m.to_string()));
        if self.demo && !self.listen.ip().is_loopback() {
            return err(
                "--demo creates a well-known demo/demo account and is only allowed on a loopback address",
            );
        }
        if self.token_ttl.is_zero() || self.ticket_ttl.is_zero() {
            return err("token and ticket lifetimes must be at least one second");
        }
        if self.max_partitions == 0 || self.max_partitions > 1024 {
            return err("--max-partitions must be between 1 and 1024");
        }
        if self.sql_limits.memory_per_query < 2 * laker_query::memory::STREAM_BASE_BYTES {
            return err("--sql-query-memory-mb must be at least 32");
        }
        if self.sql_limits.concurrent_per_principal == 0 {
            return err("--sql-max-concurrent must be at least 1");
        }
        let streams = &self.stream_limits;
        if streams.memory_limit < 64 << 20 {
            return err("--memory-limit-mb must be at least 64");
        }
        if streams.stream_memory < laker_query::memory::STREAM_BASE_BYTES {
            return err("--stream-memory-mb must be at least 16");
        }
        if streams.streams_per_user == 0 {
            return err("--max-streams-per-user must be at least 1");
        }
        if streams.large_batch_rows > 1 << 20 {
            return err("--large-batch-size must be at most 1048576 (0 turns large batches off)");
        }
        // The cache (and recordings in flight, as much again) is held
        // besides the memory budget.
        if self.result_cache_bytes > streams.memory_limit / 2 {
            return err(&format!(
                "--result-cache-mb ({} MiB) must be at most half of --memory-limit-mb \
                 ({} MiB): the cache is held besides the memory downloads, uploads \
                 and queries may use",
                self.result_cache_bytes >> 20,
                streams.memory_limit >> 20
            ));
        }
        // One upload with its largest batch and dictionaries must fit in
        // the budget.
        let upload = self
            .upload_limits
            .target_file_bytes
            .saturating_add(laker_query::memory::STREAM_BASE_BYTES as u64)
            .saturating_add(self.upload_limits.decode.max_message_bytes as u64)
            .saturating_add(self.upload_limits.decode.max_dictionary_bytes as u64);
        if (streams.memory_limit as u64) < upload {
            return err(&format!(
                "--memory-limit-mb ({} MiB) is too small for one upload: it needs \
                 --upload-target-file-mb + --upload-max-batch-mb + 16 MiB + its dictionaries \
                 (as large as a batch, at most 64 MiB) ({} MiB)",
                streams.memory_limit >> 20,
                upload >> 20
            ));
        }
        if self.upload_limits.idle.is_zero() {
            return err("--upload-idle-secs must be at least 1");
        }
        if !(8..=10_000).contains(&self.expr_limits.max_depth) {
            return err("--max-expr-depth must be between 8 and 10000");
        }
        if self.expr_limits.max_nodes < 100 {
            return err("--max-expr-nodes must be at least 100");
        }
        if self.function_limits.max_call_bytes < 1 << 20
            || self.function_limits.max_batch_bytes < 1 << 20
        {
            return err("--max-function-output-mb and --max-batch-mb must be at least 1");
        }
        if self.upload_limits.decode.max_message_bytes < 1 << 20 {
            return err("--upload-max-batch-mb must be at least 1");
        }
        if self.retention_interval.is_some_and(|every| every.is_zero()) {
            return err(
                "the retention interval must not be zero (--retention-interval-secs 0 turns the clock off)",
            );
        }
        // A Delta checkpoint forgets files removed more than a week ago
        // (`delta.deletedFileRetentionDuration`): later they could not be found to delete.
        if self.retention_delete_after > Duration::from_secs(168 * 3600) {
            return err("--retention-delete-after-hours must be at most 168 (7 days)");
        }
        if self.notify.webhook_url.is_some() != self.notify.webhook_secret_file.is_some() {
            return err("--notify-webhook-url and --notify-webhook-secret-file go together");
        }
        if let Some(url) = &self.advertise_url {
            let parsed = url::Url::parse(url)
                .map_err(|e| ConfigError(format!("invalid --advertise-url {url}: {e}")))?;
            if !matches!(parsed.scheme(), "grpc" | "grpc+tls") || parsed.port().is_none() {
                return err("--advertise-url must be grpc://host:port or grpc+tls://host:port");
            }
        }
        for (name, value) in &self.parquet_options {
            laker_query::check_parquet_option(name, value).map_err(ConfigError)?;
        }
        if self.batch_size == 0 || self.batch_size > 1 << 20 {
            return err("--batch-size must be between 1 and 1048576");
        }
        if self.function_limits.max_batch_bytes / (self.batch_size as u64) < 256 {
            return err(
                "--max-batch-mb divided by --batch-size must leave at least 256 bytes per row \
                 (the largest constant a query may hold); raise --max-batch-mb",
            );
        }
        if self.login_limits.per_user == 0 || self.login_limits.per_address == 0 {
            return err(
                "--login-max-failures and --login-max-failures-per-address must be at least 1",
            );
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return err("--tls-cert and --tls-key go together");
        }
        if self.tls_client_ca.is_some() && self.tls_cert.is_none() {
            return err("--tls-client-ca needs TLS (--tls-cert and --tls-key)");
        }
        if self.audit_queue == 0 || self.audit_queue > 10_000_000 {
            return err("--audit-queue must be between 1 and 10000000");
        }
        if self.demo_rows == 0 {
            return err("--demo-rows must be at least 1");
        }
        if !(self.catalog_url.starts_with("sqlite:") || self.catalog_url.starts_with("postgres")) {
            return err("--catalog-url must start with 'sqlite:' or 'postgres:'");
        }
        Ok(())
    }
}
