//! The resume state of `laker get -o FILE`, kept next to the output as
//! `FILE.laker-resume` while the download runs and removed when it ends
//! well: the spec, the table version read, and how far each endpoint got
//! in the bytes of the data file that were flushed and synced.
//!
//! `laker get ... --resume` after a kill, crash or lost connection reads
//! it, asks the server for the same download again, refuses when the
//! table changed (another Delta version; for file datasets another catalog
//! revision — a refresh or change bumps it —, row count, endpoint count or
//! schema), cuts the data file back to its last synced batch, and fetches
//! each endpoint from the row it stopped at (`x-laker-skip-rows`).

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::datatypes::Schema;
use serde::{Deserialize, Serialize};

use crate::error::{Failure, Result};

/// Version of the state file's layout.
const LAYOUT: u32 = 2;

/// What a resumed download must match, and how far it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeState {
    /// Layout version ([`LAYOUT`]).
    pub layout: u32,
    /// The download spec as sent.
    pub spec: serde_json::Value,
    /// Output format name.
    pub format: String,
    /// Delta version read (`None` for file datasets).
    pub version: Option<u64>,
    /// The dataset's catalog revision when the download started (`None`
    /// from a server that does not say).
    #[serde(default)]
    pub revision: Option<i64>,
    /// Rows the server announced, when it knew.
    pub total_records: Option<u64>,
    /// `name: type` of each column.
    pub schema: Vec<String>,
    /// Endpoints (partitions) of the download.
    pub endpoints: usize,
    /// Bytes at the start of the data file that are not rows (the IPC
    /// schema of a staged download).
    pub header_bytes: u64,
    /// Bytes of the data file that hold whole, synced batches.
    pub bytes: u64,
    /// Rows of each endpoint in those bytes.
    pub rows: Vec<u64>,
    /// Endpoints whose stream ended.
    pub done: Vec<bool>,
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Where the resume state of a download to `output` lives.
pub fn state_path(output: &Path) -> PathBuf {
    with_suffix(output, ".laker-resume")
}

/// Where a Parquet or Arrow download to `output` is staged (Arrow IPC
/// stream, appendable) until it is complete.
pub fn staging_path(output: &Path) -> PathBuf {
    with_suffix(output, ".laker-partial")
}

/// `name: type` of each of `schema`'s columns.
pub fn schema_fingerprint(schema: &Schema) -> Vec<String> {
    schema
        .fields()
        .iter()
        .map(|f| format!("{}: {}", f.name(), f.data_type()))
        .collect()
}

impl ResumeState {
    /// The state of a download just started.
    pub fn new(
        spec: serde_json::Value,
        format: &str,
        version: Option<u64>,
        total_records: Option<u64>,
        schema: &Schema,
        endpoints: usize,
    ) -> Self {
        Self {
            layout: LAYOUT,
            spec,
            format: format.to_string(),
            version,
            revision: None,
            total_records,
            schema: schema_fingerprint(schema),
            endpoints,
            header_bytes: 0,
            bytes: 0,
            rows: vec![0; endpoints],
            done: vec![false; endpoints],
        }
    }

    /// The same, for the dataset at catalog revision `revision`.
    pub fn with_revision(self, revision: Option<i64>) -> Self {
        Self { revision, ..self }
    }

    /// The state stored at `path`, if there is one.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|_| {
                Failure::new(format!(
                    "{} is damaged: delete it and run without --resume to start over",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Failure::new(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// Stores the state at `path`: written beside it, synced, then renamed
    /// over it, so a kill leaves the old state or the new one.
    pub fn save(&self, path: &Path) -> Result<()> {
        let temporary = with_suffix(path, ".tmp");
        let fail =
            |e: std::io::Error| Failure::new(format!("cannot write {}: {e}", temporary.display()));
        let mut file = std::fs::File::create(&temporary).map_err(fail)?;
        file.write_all(&serde_json::to_vec(self)?).map_err(fail)?;
        file.sync_all().map_err(fail)?;
        std::fs::rename(&temporary, path)
            .map_err(|e| Failure::new(format!("cannot write {}: {e}", path.display())))
    }

    /// Rows in the synced part of the data file.
    pub fn rows_written(&self) -> u64 {
        self.rows.iter().sum()
    }

    /// Why the download `now` describes cannot continue this one, if it
    /// cannot.
    pub fn mismatch(&self, now: &Self, output: &Path) -> Option<String> {
        let dataset = now.spec["dataset"].as_str().unwrap_or("the dataset");
        let start_over = "run without --resume to start over";
        if self.layout != LAYOUT || self.rows.len() != self.endpoints {
            return Some(format!(
                "{} was written by another laker version: {start_over}",
                state_path(output).display()
            ));
        }
        if self.spec != now.spec || self.format != now.format {
            return Some(format!(
                "the interrupted download to {} asked for something else (dataset, columns, \
                 filter, order, limit, version or format): repeat its command with --resume, or \
                 {start_over}",
                output.display()
            ));
        }
        if self.version != now.version {
            let (was, is) = (version_text(self.version), version_text(now.version));
            return Some(format!(
                "{dataset} changed since the download started (table version {was}, now {is}); \
                 the rows would not fit together: {start_over}"
            ));
        }
        // A Delta version pins the rows; files have only the revision.
        if self.version.is_none() && self.revision != now.revision {
            let (was, is) = (revision_text(self.revision), revision_text(now.revision));
            return Some(format!(
                "{dataset} changed since the download started (catalog revision {was}, now \
                 {is}); its files may differ: {start_over}"
            ));
        }
        if self.schema != now.schema {
            return Some(format!(
                "the columns of {dataset} changed since the download started: {start_over}"
            ));
        }
        if self.endpoints != now.endpoints || self.total_records != now.total_records {
            return Some(format!(
                "{dataset} changed since the download started (its files differ): {start_over}"
            ));
        }
        None
    }
}

fn version_text(version: Option<u64>) -> String {
    version.map_or_else(|| "none".to_string(), |v| v.to_string())
}

fn revision_text(revision: Option<i64>) -> String {
    revision.map_or_else(|| "none".to_string(), |r| r.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field};

    fn state(version: Option<u64>) -> ResumeState {
        let schema = Schema::new(vec![Field::new("id", DataType::Int64, false)]);
        let spec = serde_json::json!({"dataset": "demo.items"});
        ResumeState::new(spec, "csv", version, Some(10), &schema, 2)
    }

    #[test]
    fn a_new_version_is_refused() {
        let out = Path::new("out.csv");
        assert_eq!(state(Some(1)).mismatch(&state(Some(1)), out), None);
        let changed = state(Some(1)).mismatch(&state(Some(2)), out);
        assert!(changed.is_some_and(|m| m.contains("version 1, now 2")));
        let mut other = state(Some(1));
        other.spec["limit"] = 5.into();
        assert!(state(Some(1)).mismatch(&other, out).is_some());
    }

    #[test]
    fn a_file_dataset_of_another_revision_is_refused() {
        let out = Path::new("out.csv");
        let files = |revision| state(None).with_revision(Some(revision));
        assert_eq!(files(3).mismatch(&files(3), out), None);
        let changed = files(3).mismatch(&files(4), out);
        assert!(
            changed.is_some_and(|m| m.contains("catalog revision 3, now 4")),
            "{:?}",
            files(3).mismatch(&files(4), out)
        );
        // A Delta version pins the rows whatever the revision.
        let delta = |revision| state(Some(1)).with_revision(Some(revision));
        assert_eq!(delta(3).mismatch(&delta(4), out), None);
    }

    #[test]
    fn a_state_of_the_first_layout_is_refused() {
        let mut old = serde_json::to_value(state(None)).unwrap();
        old["layout"] = 1.into();
        old.as_object_mut().unwrap().remove("revision");
        let old: ResumeState = serde_json::from_value(old).unwrap();
        let why = old.mismatch(&state(None), Path::new("out.csv"));
        assert!(why.is_some_and(|m| m.contains("another laker version")));
    }

    #[test]
    fn state_round_trips_through_its_file() {
        let dir = std::env::temp_dir().join(format!("laker-resume-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = state_path(&dir.join("out.csv"));
        let mut s = state(None).with_revision(Some(7));
        s.rows = vec![3, 4];
        s.save(&path).unwrap();
        assert_eq!(ResumeState::load(&path).unwrap(), Some(s));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
