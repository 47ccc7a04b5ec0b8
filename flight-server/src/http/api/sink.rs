//! Where an encoder writes: a shared buffer the download takes its bytes
//! from, chunk by chunk.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Bytes written by an encoder, taken out chunk by chunk.
#[derive(Clone, Default)]
pub struct Sink(Arc<Mutex<Vec<u8>>>);

impl Sink {
    /// The bytes written since the last call.
    pub fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .map(|mut buffer| std::mem::take(&mut *buffer))
            .unwrap_or_default()
    }

    /// Makes room for `additional` more bytes (a column chunk about to be
    /// copied in), so the buffer does not grow by doubling.
    pub fn reserve(&self, additional: usize) {
        if let Ok(mut buffer) = self.0.lock() {
            buffer.reserve(additional);
        }
    }
}

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("encoder buffer poisoned"))?
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
