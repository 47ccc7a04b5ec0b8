//! Planning a run's files: each file's schema is inferred (several at
//! once), then the files are folded in path order into the schema the run
//! writes — the table's, plus the nullable columns files add, as an upload
//! would. A file that cannot be read or does not fit is rejected with the
//! reason; the others go on to be checked.

use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use futures::StreamExt;

use super::blame::{Blame, blame, blame_datafusion};
use super::listing::Candidate;
use super::read::Reader;
use crate::error::Result;
use crate::upload::schema::Conformer;

/// Files read at once while planning and checking.
pub const PARALLEL: usize = 8;

/// A file to be checked and written, and the schema it is read in.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The file.
    pub candidate: Candidate,
    /// The schema it is read in.
    pub read_schema: SchemaRef,
}

/// A file rejected, and why.
#[derive(Debug, Clone)]
pub struct Rejected {
    /// The file.
    pub candidate: Candidate,
    /// Why.
    pub reason: String,
}

/// The files of a run, planned.
#[derive(Debug, Default)]
pub struct Plan {
    /// Files that fit, in path order.
    pub files: Vec<Planned>,
    /// Files that do not.
    pub rejected: Vec<Rejected>,
    /// The schema the planned files are checked in (none: no file and no
    /// table).
    pub target: Option<SchemaRef>,
}

/// Plans `candidates` for dataset `dataset`, whose table (if any) has
/// schema `table`; files over `max_bytes` are rejected unread.
pub async fn plan(
    reader: &Reader,
    dataset: &str,
    table: Option<&Schema>,
    candidates: Vec<Candidate>,
    max_bytes: u64,
) -> Result<Plan> {
    let inferred: Vec<_> = futures::stream::iter(candidates)
        .map(|candidate| async move {
            let schema = if candidate.meta.size == 0 || candidate.meta.size > max_bytes {
                None
            } else {
                Some(reader.infer(&candidate.meta).await)
            };
            (candidate, schema)
        })
        .buffered(PARALLEL)
        .collect()
        .await;
    let mut plan = Plan {
        target: table.map(|t| Arc::new(t.clone())),
        ..Plan::default()
    };
    for (candidate, schema) in inferred {
        let schema = match schema {
            Some(Ok(schema)) => schema,
            Some(Err(e)) => match blame_datafusion(e) {
                Blame::File(reason) => {
                    plan.rejected.push(Rejected { candidate, reason });
                    continue;
                }
                Blame::Run(e) => return Err(e),
            },
            None => {
                let reason = if candidate.meta.size == 0 {
                    "the file is empty".to_string()
                } else {
                    format!(
                        "the file is {} bytes; files over {max_bytes} bytes are not imported \
                         (--upload-max-bytes)",
                        candidate.meta.size
                    )
                };
                plan.rejected.push(Rejected { candidate, reason });
                continue;
            }
        };
        let read_schema = reader.read_schema(&schema, plan.target.as_deref());
        match Conformer::new(dataset, plan.target.as_deref(), &read_schema) {
            Ok(fitted) => {
                plan.target = Some(fitted.target);
                plan.files.push(Planned {
                    candidate,
                    read_schema,
                });
            }
            Err(e) => match blame(e) {
                Blame::File(reason) => plan.rejected.push(Rejected { candidate, reason }),
                Blame::Run(e) => return Err(e),
            },
        }
    }
    Ok(plan)
}

/// The schema `files` are written in: the table's (`table`), plus the
/// columns they add; and whether that adds columns to the table.
pub fn written_schema(
    dataset: &str,
    table: Option<&Schema>,
    files: &[&Planned],
) -> Result<Option<(SchemaRef, bool)>> {
    let mut target: Option<SchemaRef> = table.map(|t| Arc::new(t.clone()));
    for file in files {
        target = Some(Conformer::new(dataset, target.as_deref(), &file.read_schema)?.target);
    }
    Ok(target.map(|t| {
        let evolves = table.is_some_and(|table| t.fields().len() > table.fields().len());
        (t, evolves)
    }))
}
