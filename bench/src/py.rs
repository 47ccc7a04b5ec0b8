//! Jobs for the Python client (`bench/python/py_client.py`): downloads
//! with pyarrow.flight, Flight SQL queries through ADBC, and the local
//! `pyarrow.parquet.read_table` baseline; and reading its results.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::procs;
use crate::result::Result;

/// The Python client, run once per job.
#[derive(Debug, Clone)]
pub struct PyClient {
    python: PathBuf,
    script: PathBuf,
    /// Runs of each job.
    pub runs: usize,
}

/// A server as the Python client reaches it.
#[derive(Debug, Clone)]
pub struct PyServer {
    /// `grpc://host:port`.
    pub url: String,
    /// User and password (Laker), or none (the baselines).
    pub login: Option<(String, String)>,
    /// Headers sent with every call.
    pub headers: Vec<(String, String)>,
}

impl PyServer {
    /// The laker-server at `addr`, as the bench's admin, sending `headers`.
    pub fn laker(addr: &str, headers: &[(String, String)]) -> Self {
        Self {
            url: format!("grpc://{addr}"),
            login: Some(("admin".into(), crate::ADMIN_PASSWORD.into())),
            headers: headers.to_vec(),
        }
    }

    /// A baseline server at `addr` (no login, no headers).
    pub fn baseline(addr: &str) -> Self {
        Self {
            url: format!("grpc://{addr}"),
            login: None,
            headers: Vec::new(),
        }
    }
}

impl PyClient {
    /// The client `bench/python/py_client.py` run by `python`, `runs` runs a job.
    pub fn new(python: &Path, runs: usize) -> Self {
        Self {
            python: python.to_path_buf(),
            script: crate::bench_dir().join("py_client.py"),
            runs,
        }
    }

    /// The same client, `runs` runs a job.
    pub fn with_runs(&self, runs: usize) -> Self {
        Self {
            runs,
            ..self.clone()
        }
    }

    fn run(&self, kind: &str, server: Option<&PyServer>, what: Value) -> Result<Value> {
        let mut job = json!({"kind": kind, "runs": self.runs});
        if let (Some(job), Some(server)) = (job.as_object_mut(), server) {
            let (user, password) = server.login.clone().unwrap_or_default();
            job.insert("url".into(), server.url.clone().into());
            job.insert("user".into(), user.into());
            job.insert("password".into(), password.into());
            job.insert("headers".into(), json!(server.headers));
        }
        if let (Some(job), Value::Object(what)) = (job.as_object_mut(), what) {
            job.extend(what);
        }
        procs::python_job(&self.python, &self.script, &job)
    }

    /// A pyarrow.flight download: `what` is `{"path": [..]}` or
    /// `{"command": spec}` (GetFlightInfo, then every endpoint on its own
    /// thread; `"ticket_extra"` is merged into each ticket), or
    /// `{"ticket": spec}` (one DoGet: the whole result in one stream).
    pub fn flight(&self, server: &PyServer, what: Value) -> Result<Value> {
        self.run("flight", Some(server), what)
    }

    /// A Flight SQL query through ADBC, its result read batch by batch.
    pub fn sql(&self, server: &PyServer, query: &str) -> Result<Value> {
        self.run("adbc", Some(server), json!({"query": query}))
    }

    /// `pyarrow.parquet.read_table` of the files in `dir`.
    pub fn local(&self, dir: &Path) -> Result<Value> {
        self.run("local", None, json!({"dir": dir}))
    }
}

/// The seconds of each run of a job.
pub fn secs(v: &Value) -> Vec<Duration> {
    v["seconds"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_f64())
                .map(Duration::from_secs_f64)
                .collect()
        })
        .unwrap_or_default()
}

/// Rows a job received.
pub fn rows(v: &Value) -> u64 {
    v["rows"].as_u64().unwrap_or(0)
}

/// Arrow bytes a job received.
pub fn bytes(v: &Value) -> u64 {
    v["bytes"].as_u64().unwrap_or(0)
}

/// Fails unless Laker's result (`laker`) has the rows `other`'s has.
pub fn same_rows(what: &str, laker: &Value, baseline: &str, other: &Value) -> Result<()> {
    if rows(laker) != rows(other) {
        return Err(format!(
            "{what}: Laker sent {} rows, {baseline} {}",
            rows(laker),
            rows(other)
        )
        .into());
    }
    Ok(())
}
