//! Writing record batches: to files (Parquet, CSV, Arrow IPC, JSON lines)
//! chosen by extension or `--format`, or to stdout as a table, CSV or JSON.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;

use crate::error::{Failure, Result};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people (stdout only).
    Table,
    /// CSV with a header row.
    Csv,
    /// One JSON object per line.
    Json,
    /// Parquet (a file).
    Parquet,
    /// Arrow IPC file format.
    Arrow,
}

impl Format {
    /// The format's name, as `--format` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Table => "table",
            Self::Csv => "csv",
            Self::Json => "json",
            Self::Parquet => "parquet",
            Self::Arrow => "arrow",
        }
    }

    /// The format a file's extension names.
    pub fn of_path(path: &Path) -> Result<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("parquet") => Ok(Self::Parquet),
            Some("csv") => Ok(Self::Csv),
            Some("arrow" | "feather" | "ipc") => Ok(Self::Arrow),
            Some("json" | "jsonl" | "ndjson") => Ok(Self::Json),
            _ => Err(Failure::new(format!(
                "cannot tell the format of '{}': use .parquet, .csv, .arrow or .json",
                path.display()
            ))),
        }
    }
}

enum Sink {
    Parquet(ArrowWriter<BufWriter<File>>),
    Csv(arrow::csv::Writer<Box<dyn Write + Send>>),
    Json(arrow::json::LineDelimitedWriter<Box<dyn Write + Send>>),
    Arrow(arrow::ipc::writer::FileWriter<BufWriter<File>>),
    Table(Vec<RecordBatch>),
}

/// Writes batches in one format; batches are fitted to the first one's
/// schema (endpoints may differ in schema metadata only).
pub struct Writer {
    sink: Sink,
    schema: SchemaRef,
}

impl Writer {
    /// A writer of `format` to `path` (stdout when `None`).
    pub fn create(format: Format, path: Option<&Path>, schema: SchemaRef) -> Result<Self> {
        let file = |p: &Path| -> Result<BufWriter<File>> {
            Ok(BufWriter::new(File::create(p).map_err(|e| {
                Failure::new(format!("cannot create {}: {e}", p.display()))
            })?))
        };
        let text = |p: Option<&Path>| -> Result<Box<dyn Write + Send>> {
            Ok(match p {
                Some(p) => Box::new(file(p)?),
                None => Box::new(BufWriter::new(std::io::stdout())),
            })
        };
        let sink = match (format, path) {
            (Format::Parquet, Some(p)) => {
                Sink::Parquet(ArrowWriter::try_new(file(p)?, Arc::clone(&schema), None)?)
            }
            (Format::Arrow, Some(p)) => {
                Sink::Arrow(arrow::ipc::writer::FileWriter::try_new(file(p)?, &schema)?)
            }
            (Format::Parquet | Format::Arrow, None) => {
                return Err(Failure::new(
                    "binary formats need an output file: -o out.parquet",
                ));
            }
            (Format::Csv, p) => Sink::Csv(arrow::csv::WriterBuilder::new().build(text(p)?)),
            (Format::Json, p) => Sink::Json(arrow::json::LineDelimitedWriter::new(text(p)?)),
            (Format::Table, None) => Sink::Table(Vec::new()),
            (Format::Table, Some(_)) => {
                return Err(Failure::new("a table is printed, not written to a file"));
            }
        };
        Ok(Self { sink, schema })
    }

    /// Writes one batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let batch = if batch.schema() == self.schema {
            batch.clone()
        } else {
            RecordBatch::try_new(Arc::clone(&self.schema), batch.columns().to_vec())?
        };
        match &mut self.sink {
            Sink::Parquet(w) => w.write(&batch)?,
            Sink::Csv(w) => w.write(&batch)?,
            Sink::Json(w) => w.write(&batch)?,
            Sink::Arrow(w) => w.write(&batch)?,
            Sink::Table(all) => all.push(batch),
        }
        Ok(())
    }

    /// Finishes the output (footers, flushing; prints a table).
    pub fn finish(self) -> Result<()> {
        match self.sink {
            Sink::Parquet(w) => {
                w.close()?;
            }
            Sink::Csv(w) => w.into_inner().flush()?,
            Sink::Json(mut w) => {
                w.finish()?;
                w.into_inner().flush()?;
            }
            Sink::Arrow(mut w) => {
                w.finish()?;
                w.into_inner()?.flush()?;
            }
            Sink::Table(all) => {
                println!("{}", arrow::util::pretty::pretty_format_batches(&all)?);
            }
        }
        Ok(())
    }
}
