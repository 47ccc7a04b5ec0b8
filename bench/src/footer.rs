//! The row count of a Parquet file streamed past: only the last bytes are
//! kept (the footer is at the end), then the footer is decoded.

use std::collections::VecDeque;

use bytes::Bytes;
use parquet::file::metadata::ParquetMetaDataReader;

use crate::result::Result;

/// Bytes kept from the end of the stream: the footer, when it fits.
const KEEP: usize = 16 << 20;

/// The last chunks of a stream, at least [`KEEP`] bytes of them when the
/// stream is that long.
#[derive(Debug, Default)]
pub struct Tail {
    chunks: VecDeque<Bytes>,
    len: usize,
    /// Whether chunks were dropped (the tail is not the whole stream).
    dropped: bool,
}

impl Tail {
    /// Adds the next chunk, dropping chunks no longer needed.
    pub fn push(&mut self, chunk: Bytes) {
        self.len += chunk.len();
        self.chunks.push_back(chunk);
        while let Some(front) = self.chunks.front() {
            if self.len - front.len() < KEEP {
                break;
            }
            self.len -= front.len();
            self.chunks.pop_front();
            self.dropped = true;
        }
    }

    /// The rows the footer counts; `None` when the footer is longer than
    /// the bytes kept; an error when the stream does not end as a Parquet
    /// file does.
    pub fn rows(&self) -> Result<Option<u64>> {
        let mut tail = Vec::with_capacity(self.len);
        for chunk in &self.chunks {
            tail.extend_from_slice(chunk);
        }
        let n = tail.len();
        if n < 12 || !tail.ends_with(b"PAR1") {
            return Err("the Parquet download does not end with a Parquet footer".into());
        }
        let length: [u8; 4] = tail[n - 8..n - 4].try_into()?;
        let Some(start) = (n - 8).checked_sub(u32::from_le_bytes(length) as usize) else {
            if self.dropped {
                return Ok(None);
            }
            return Err("the Parquet footer is longer than the download".into());
        };
        let metadata = ParquetMetaDataReader::decode_metadata(&tail[start..n - 8])?;
        Ok(Some(u64::try_from(metadata.file_metadata().num_rows())?))
    }
}
