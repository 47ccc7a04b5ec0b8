//! What one stream of client Arrow data may hold (`--upload-max-batch-mb`
//! and fixed bounds).

/// What one stream of client Arrow data may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest IPC message header (flatbuffer).
    pub max_header_bytes: usize,
    /// Most bytes one message may decode to (compressed buffers count at
    /// their declared size): `--upload-max-batch-mb`.
    pub max_message_bytes: usize,
    /// Most rows in one batch.
    pub max_rows: usize,
    /// Most values (rows of every column and nested child) in one batch.
    pub max_values: usize,
    /// Most columns of a schema.
    pub max_columns: usize,
    /// Largest FixedSizeBinary width or FixedSizeList size.
    pub max_fixed_size: i32,
    /// Most bytes all dictionaries of a stream may decode to.
    pub max_dictionary_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_bytes: 4 << 20,
            max_message_bytes: 256 << 20,
            max_rows: 1 << 24,
            max_values: 1 << 26,
            max_columns: 10_000,
            max_fixed_size: 1 << 16,
            max_dictionary_bytes: 64 << 20,
        }
    }
}

impl Limits {
    /// The limits with every byte bound at `bytes` at most (bound
    /// parameters of prepared statements, say).
    pub fn capped(mut self, bytes: usize) -> Self {
        self.max_header_bytes = self.max_header_bytes.min(bytes);
        self.max_message_bytes = self.max_message_bytes.min(bytes);
        self.max_dictionary_bytes = self.max_dictionary_bytes.min(bytes);
        self
    }
}
