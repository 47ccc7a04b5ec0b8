//! The data file of `laker get -o FILE`, written so that a download can be
//! continued from its last synced batch after the process died.
//!
//! CSV and JSON lines are appended to FILE itself. Parquet and Arrow files
//! end with a footer, so an unfinished one cannot be continued: those
//! downloads are staged as an Arrow IPC stream in `FILE.laker-partial`,
//! converted into FILE once every row is there, and the stage removed.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;

use crate::error::{Failure, Result};
use crate::output::{Format, Writer};
use crate::resume::{ResumeState, staging_path};

/// A writer that counts the bytes it passes on, after discarding the
/// first `skip` (the IPC schema that a resumed stage already holds).
struct Tally {
    inner: BufWriter<File>,
    written: Arc<AtomicU64>,
    skip: u64,
}

impl Write for Tally {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.skip > 0 {
            let n = usize::try_from(self.skip)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            self.skip -= n as u64;
            return Ok(n);
        }
        let n = self.inner.write(buf)?;
        self.written.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

enum Kind {
    Csv(Box<arrow::csv::Writer<Tally>>),
    Json(arrow::json::LineDelimitedWriter<Tally>),
    Staged(StreamWriter<Tally>),
}

/// The data file of a download to a file.
pub struct PartialFile {
    kind: Kind,
    /// A handle on the data file, to sync it.
    file: File,
    /// Where the data file lives (FILE, or the stage).
    path: PathBuf,
    /// Bytes of the data file before this process wrote to it.
    base: u64,
    written: Arc<AtomicU64>,
    schema: SchemaRef,
}

impl PartialFile {
    /// Opens the data file of a download of `format` to `output`: anew, or
    /// cut back to `state.bytes` to continue it (`resume`). Sets the
    /// state's byte counts for a new file.
    pub fn open(
        format: Format,
        output: &Path,
        schema: SchemaRef,
        state: &mut ResumeState,
        resume: bool,
    ) -> Result<Self> {
        if format == Format::Table {
            return Err(Failure::new("a table is printed, not written to a file"));
        }
        let staged = matches!(format, Format::Parquet | Format::Arrow);
        let path = if staged {
            staging_path(output)
        } else {
            output.to_path_buf()
        };
        let cannot =
            |e: std::io::Error| Failure::new(format!("cannot write {}: {e}", path.display()));
        let file = if resume {
            let mut file = OpenOptions::new().write(true).open(&path).map_err(|e| {
                Failure::new(format!(
                    "cannot continue the download: {} is gone ({e}); run without --resume",
                    path.display()
                ))
            })?;
            let length = file.metadata().map_err(cannot)?.len();
            if length < state.bytes {
                return Err(Failure::new(format!(
                    "cannot continue the download: {} is shorter than when it stopped; run \
                     without --resume",
                    path.display()
                )));
            }
            // Whatever follows the last synced batch is cut off.
            file.set_len(state.bytes).map_err(cannot)?;
            file.seek(SeekFrom::Start(state.bytes)).map_err(cannot)?;
            file
        } else {
            File::create(&path).map_err(cannot)?
        };
        let base = if resume { state.bytes } else { 0 };
        let written = Arc::new(AtomicU64::new(0));
        let tally = Tally {
            inner: BufWriter::new(file.try_clone().map_err(cannot)?),
            written: Arc::clone(&written),
            skip: if resume && staged {
                state.header_bytes
            } else {
                0
            },
        };
        let kind = match format {
            Format::Csv => Kind::Csv(Box::new(
                arrow::csv::WriterBuilder::new()
                    // A file cut back to nothing needs its header again.
                    .with_header(base == 0)
                    .build(tally),
            )),
            Format::Json => Kind::Json(arrow::json::LineDelimitedWriter::new(tally)),
            Format::Parquet | Format::Arrow => {
                let mut writer = StreamWriter::try_new(tally, &schema)?;
                writer.flush()?;
                if resume && (writer.get_ref().skip > 0 || written.load(Ordering::Relaxed) > 0) {
                    return Err(Failure::new(format!(
                        "cannot continue the download: {} was written for other columns; run \
                         without --resume",
                        path.display()
                    )));
                }
                Kind::Staged(writer)
            }
            Format::Table => return Err(Failure::new("a table is printed, not written to a file")),
        };
        let partial = Self {
            kind,
            file,
            path,
            base,
            written,
            schema,
        };
        if !resume {
            state.header_bytes = partial.offset();
            state.bytes = partial.offset();
        }
        Ok(partial)
    }

    /// Bytes of the data file written so far.
    fn offset(&self) -> u64 {
        self.base + self.written.load(Ordering::Relaxed)
    }

    /// Writes one batch (fitted to the download's schema).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let batch = if batch.schema() == self.schema {
            batch.clone()
        } else {
            RecordBatch::try_new(Arc::clone(&self.schema), batch.columns().to_vec())?
        };
        match &mut self.kind {
            Kind::Csv(w) => w.write(&batch)?,
            Kind::Json(w) => w.write(&batch)?,
            Kind::Staged(w) => w.write(&batch)?,
        }
        Ok(())
    }

    /// Flushes every whole batch written so far to the file and syncs it;
    /// returns the file's length then (what the resume state may record).
    pub fn commit(&mut self) -> Result<u64> {
        let flushed = match &mut self.kind {
            // The CSV writer flushes after every batch.
            Kind::Csv(_) => Ok(()),
            Kind::Json(w) => w.get_mut().flush(),
            Kind::Staged(w) => w.get_mut().flush(),
        };
        flushed
            .and_then(|()| self.file.sync_data())
            .map_err(|e| Failure::new(format!("cannot write {}: {e}", self.path.display())))?;
        Ok(self.offset())
    }

    /// Completes the output: flushes CSV and JSON; converts a stage into
    /// the Parquet or Arrow file `output` and removes it.
    pub fn finish(self, format: Format, output: &Path) -> Result<()> {
        match self.kind {
            Kind::Csv(w) => (*w).into_inner().flush()?,
            Kind::Json(mut w) => {
                w.finish()?;
                w.into_inner().flush()?;
            }
            Kind::Staged(mut w) => {
                w.finish()?;
                drop(w);
                convert(&self.path, format, output)?;
                std::fs::remove_file(&self.path)?;
            }
        }
        Ok(())
    }
}

/// Writes the batches of the IPC stream at `stage` into `output`.
fn convert(stage: &Path, format: Format, output: &Path) -> Result<()> {
    let file = File::open(stage)
        .map_err(|e| Failure::new(format!("cannot read {}: {e}", stage.display())))?;
    let reader = StreamReader::try_new(BufReader::new(file), None)?;
    let mut writer = Writer::create(format, Some(output), reader.schema())?;
    for batch in reader {
        writer.write(&batch?)?;
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Int64Array};
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch(schema: &SchemaRef, from: i64, n: i64) -> RecordBatch {
        let ids = Int64Array::from_iter_values(from..from + n);
        RecordBatch::try_new(Arc::clone(schema), vec![Arc::new(ids)]).unwrap()
    }

    /// A staged download cut after its first synced batch continues into
    /// one Arrow file holding every row once.
    #[test]
    fn a_stage_continues_after_its_last_synced_batch() {
        let dir = std::env::temp_dir().join(format!("laker-partial-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out.arrow");
        let schema: SchemaRef =
            Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let spec = serde_json::json!({"dataset": "a.b"});
        let mut state = ResumeState::new(spec, "arrow", None, None, &schema, 1);

        let mut first =
            PartialFile::open(Format::Arrow, &out, Arc::clone(&schema), &mut state, false).unwrap();
        first.write(&batch(&schema, 0, 10)).unwrap();
        state.bytes = first.commit().unwrap();
        state.rows[0] = 10;
        // Written but never committed: cut off on resume.
        first.write(&batch(&schema, 10, 10)).unwrap();
        first.commit().unwrap();
        drop(first);

        let mut again =
            PartialFile::open(Format::Arrow, &out, Arc::clone(&schema), &mut state, true).unwrap();
        again.write(&batch(&schema, 10, 5)).unwrap();
        again.finish(Format::Arrow, &out).unwrap();

        let reader =
            arrow::ipc::reader::FileReader::try_new(File::open(&out).unwrap(), None).unwrap();
        let ids: Vec<i64> = reader
            .flat_map(|b| {
                let b = b.unwrap();
                let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                ids.values().to_vec()
            })
            .collect();
        assert_eq!(ids, (0..15).collect::<Vec<i64>>());
        assert!(!staging_path(&out).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
