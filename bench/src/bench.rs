//! What the scenarios of one layout share.

use std::path::PathBuf;

use arrow_flight::FlightDescriptor;

use crate::Args;
use crate::client::Target;
use crate::procs::Proc;
use crate::py::PyServer;

/// What the scenarios of one layout share: the files and the servers.
pub struct Bench<'a> {
    /// The command line.
    pub args: &'a Args,
    /// The directory of the Parquet files.
    pub files: PathBuf,
    /// The laker-server, with the dataset registered.
    pub laker: Proc,
    /// Laker for the Rust client (signed in as the admin).
    pub laker_rust: Target,
    /// Laker for the Python client.
    pub laker_py: PyServer,
    /// The whole dataset on Laker, as a path descriptor.
    pub laker_full: FlightDescriptor,
    /// The pyarrow.flight baseline server.
    pub pyarrow: Proc,
    /// The pyarrow server for the Rust client.
    pub pyarrow_rust: Target,
    /// The pyarrow server for the Python client.
    pub pyarrow_py: PyServer,
    /// The whole dataset on the pyarrow server.
    pub pyarrow_full: FlightDescriptor,
    /// roapi, serving the files as the table `lineitem` over Flight SQL.
    pub roapi: Proc,
    /// roapi for the Python (ADBC) client.
    pub roapi_py: PyServer,
}
