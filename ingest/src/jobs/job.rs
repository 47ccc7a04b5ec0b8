//! An ingest job's specification — where clients drop files (a configured
//! store, a prefix, a file name pattern, a format), the Delta dataset they
//! land in, when the job runs and what a bad file does to a run — and its
//! checks. It is the body of `create_ingest_job` and is stored as JSON in
//! the catalog.

use laker_catalog::store::validate_location;
use laker_catalog::system::is_system;
use laker_catalog::{CsvOptions, DatasetName};
use serde::{Deserialize, Serialize};
use url::Url;

use super::pattern::Pattern;
use super::schedule::Schedule;
use crate::error::{IngestError, Result};
use crate::locations::LocationPolicy;

/// Files one run takes at most, unless the job says otherwise.
pub const DEFAULT_MAX_FILES_PER_RUN: usize = 10_000;
/// The most a job may let one run take.
pub const MAX_FILES_PER_RUN: usize = 100_000;
/// Longest prefix or pattern, in characters.
const MAX_PATH_CHARS: usize = 1024;

/// What a rejected file does to its run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The file is quarantined with its reason; the others are imported.
    #[default]
    PerFile,
    /// The run fails and imports nothing; it is tried again next time.
    AllOrNothing,
}

/// The format of the dropped files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    /// Delimited text (see [`Source::csv`]).
    Csv,
    /// Newline-delimited JSON.
    #[serde(alias = "jsonl", alias = "ndjson")]
    Json,
    /// Apache Parquet.
    Parquet,
}

/// Where the files come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// A configured store (`[stores.<name>]`, or `data-dir`).
    pub store: String,
    /// Folder under the store's prefix ("": the whole prefix); files in
    /// its sub-folders are taken too.
    #[serde(default)]
    pub prefix: String,
    /// Names taken (`*` any characters, `?` one); default `*`.
    #[serde(default = "any_name")]
    pub pattern: String,
    /// The files' format.
    pub format: SourceFormat,
    /// CSV layout (csv only; default: a header row, commas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<CsvOptions>,
}

fn any_name() -> String {
    "*".into()
}

fn default_max_files() -> usize {
    DEFAULT_MAX_FILES_PER_RUN
}

/// An ingest job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// The job's name (an identifier).
    pub name: String,
    /// Where the files come from.
    pub source: Source,
    /// The Delta dataset they land in (`namespace.dataset`).
    pub target: String,
    /// `every <N>s|m|h|d`, a five-field cron expression (UTC), `@hourly`
    /// or `@daily`; absent: the job runs only when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// What a rejected file does to its run.
    #[serde(default)]
    pub mode: Mode,
    /// Files one run takes at most (the rest wait for the next run).
    #[serde(default = "default_max_files")]
    pub max_files_per_run: usize,
    /// Folder under the store's prefix rejected files are copied to, each
    /// with its reason beside it [default: `_quarantine/<job>/`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine_prefix: Option<String>,
}

impl JobSpec {
    /// Parses a stored specification.
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json)
            .map_err(|e| IngestError::Internal(format!("a stored ingest job is unreadable: {e}")))
    }

    /// The specification as stored.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self)
            .map_err(|e| IngestError::Internal(format!("an ingest job cannot be stored: {e}")))
    }

    /// Checks everything that can be checked without the catalog; names
    /// the first problem.
    pub fn validate(&self, locations: &LocationPolicy) -> Result<()> {
        laker_catalog::names::validate_ident("ingest job", &self.name)?;
        self.target_name()?;
        self.schedule()?;
        self.pattern()?;
        self.source_url(locations)?;
        self.quarantine_url(locations)?;
        if !(1..=MAX_FILES_PER_RUN).contains(&self.max_files_per_run) {
            return Err(invalid(format!(
                "'max_files_per_run' must be between 1 and {MAX_FILES_PER_RUN}"
            )));
        }
        match (&self.source.csv, self.source.format) {
            (Some(csv), SourceFormat::Csv) => {
                csv.delimiter_byte()?;
            }
            (Some(_), _) => return Err(invalid("'source.csv' applies to the csv format")),
            (None, _) => {}
        }
        Ok(())
    }

    /// The dataset the files land in.
    pub fn target_name(&self) -> Result<DatasetName> {
        let name = DatasetName::parse(&self.target)?;
        if is_system(&name) {
            return Err(invalid(
                "an ingest job cannot write to the system namespace",
            ));
        }
        Ok(name)
    }

    /// When the job runs by itself.
    pub fn schedule(&self) -> Result<Option<Schedule>> {
        self.schedule.as_deref().map(Schedule::parse).transpose()
    }

    /// The names taken.
    pub fn pattern(&self) -> Result<Pattern> {
        Pattern::parse(&self.source.pattern)
    }

    /// The folder files are taken from (ends in `/`).
    pub fn source_url(&self, locations: &LocationPolicy) -> Result<Url> {
        folder(
            locations,
            &self.source.store,
            "source.prefix",
            &self.source.prefix,
        )
    }

    /// The folder rejected files are copied to (ends in `/`).
    pub fn quarantine_url(&self, locations: &LocationPolicy) -> Result<Url> {
        let default = format!("_quarantine/{}/", self.name);
        let prefix = self.quarantine_prefix.as_deref().unwrap_or(&default);
        if prefix.trim_matches('/').is_empty() {
            return Err(invalid("'quarantine_prefix' must name a folder"));
        }
        folder(locations, &self.source.store, "quarantine_prefix", prefix)
    }

    /// The CSV layout (defaults when none is given).
    pub fn csv(&self) -> CsvOptions {
        self.source.csv.clone().unwrap_or_default()
    }
}

/// `prefix` (the field `field`) under the prefix of store `store`, as a
/// folder URL inside it.
fn folder(locations: &LocationPolicy, store: &str, field: &str, prefix: &str) -> Result<Url> {
    let root = locations.prefix(store).ok_or_else(|| {
        let known: Vec<&str> = locations.prefixes().map(|(n, _)| n).collect();
        invalid(format!(
            "'source.store' names no configured store: '{}' (configured: {})",
            store.chars().take(100).collect::<String>(),
            known.join(", ")
        ))
    })?;
    if prefix.chars().count() > MAX_PATH_CHARS {
        return Err(invalid(format!(
            "'{field}' is longer than {MAX_PATH_CHARS} characters"
        )));
    }
    let trimmed = prefix.trim_matches('/');
    let bad = trimmed
        .split('/')
        .any(|s| (s.is_empty() && !trimmed.is_empty()) || s == "." || s == "..");
    if bad || prefix.contains(['\\', '?', '#', '%']) || prefix.chars().any(char::is_control) {
        return Err(invalid(format!(
            "'{field}' must be a relative folder such as 'incoming/acme/' \
             (no '.', '..' or empty segments, no '\\', '?', '#' or '%')"
        )));
    }
    let relative = if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    };
    let url = root
        .join(&relative)
        .map_err(|e| invalid(format!("'{field}' is not a valid folder: {e}")))?;
    validate_location(url.as_str())?;
    if !url.as_str().starts_with(root.as_str()) {
        return Err(invalid(format!("'{field}' leaves the store's prefix")));
    }
    Ok(url)
}

fn invalid(message: impl Into<String>) -> IngestError {
    IngestError::InvalidArgument(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> LocationPolicy {
        let mut p = LocationPolicy::new();
        p.allow("drop", Url::parse("s3://drop/clients/").unwrap());
        p
    }

    fn spec(json: serde_json::Value) -> Result<JobSpec> {
        serde_json::from_value(json).map_err(|e| invalid(e.to_string()))
    }

    #[test]
    fn a_job_names_its_folders_under_the_store() {
        let job = spec(serde_json::json!({
            "name": "acme_drop",
            "source": {"store": "drop", "prefix": "acme/in", "pattern": "*.csv", "format": "csv"},
            "target": "acme.landing",
            "schedule": "every 5m"
        }))
        .unwrap();
        job.validate(&policy()).unwrap();
        assert_eq!(job.mode, Mode::PerFile);
        assert_eq!(job.max_files_per_run, DEFAULT_MAX_FILES_PER_RUN);
        assert_eq!(
            job.source_url(&policy()).unwrap().as_str(),
            "s3://drop/clients/acme/in/"
        );
        assert_eq!(
            job.quarantine_url(&policy()).unwrap().as_str(),
            "s3://drop/clients/_quarantine/acme_drop/"
        );
        let back = JobSpec::from_json(&job.to_json().unwrap()).unwrap();
        assert_eq!(back, job);
    }

    #[test]
    fn bad_jobs_are_named() {
        let base = serde_json::json!({
            "name": "j",
            "source": {"store": "drop", "format": "parquet"},
            "target": "acme.landing"
        });
        let with = |path: &[&str], value: serde_json::Value| {
            let mut v = base.clone();
            let mut slot = &mut v;
            for p in &path[..path.len() - 1] {
                slot = &mut slot[*p];
            }
            slot[path[path.len() - 1]] = value;
            spec(v).and_then(|s| s.validate(&policy()).map(|_| s))
        };
        let cases: Vec<(Result<JobSpec>, &str)> = vec![
            (
                with(&["source", "store"], "nope".into()),
                "names no configured store: 'nope' (configured: drop)",
            ),
            (
                with(&["source", "prefix"], "../other".into()),
                "'source.prefix' must be a relative folder",
            ),
            (with(&["source", "pattern"], "a/*.csv".into()), "pattern"),
            (with(&["target"], "system.audit".into()), "system namespace"),
            (with(&["schedule"], "every day".into()), "schedule"),
            (
                with(&["max_files_per_run"], 0.into()),
                "'max_files_per_run' must be between 1 and 100000",
            ),
            (
                with(&["source", "csv"], serde_json::json!({"delimiter": ";"})),
                "'source.csv' applies to the csv format",
            ),
            (with(&["mode"], "sometimes".into()), "unknown variant"),
            (with(&["colour"], "red".into()), "unknown field `colour`"),
        ];
        for (got, expected) in cases {
            let e = got.unwrap_err().to_string();
            assert!(e.contains(expected), "{expected}: {e}");
        }
    }
}
