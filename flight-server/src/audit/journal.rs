//! The audit journal: a local append-only file that makes each call's
//! audit record durable before the call's work starts, so a call that
//! takes the process down (or a record still queued when it dies) is
//! audited after all.
//!
//! Every process appends to its own file in `<data-dir>/audit-journal/`,
//! which it holds locked while it runs. Each line is one of
//!
//! ```text
//! S <id> <record JSON>   the call started (who, what, with what detail)
//! F <id> <record JSON>   the call finished (the final record)
//! W <id>                 the record is in the catalog
//! ```
//!
//! Lines are written with one `write` each, unbuffered: they survive the
//! process (not the machine) dying; a line cut short by a crash (no line
//! end) is ignored. At start-up, a server takes the files of processes
//! that are gone (their lock is free) and audits what they never wrote:
//! finished records as they were, started calls as `interrupted`. It
//! carries those into its own journal (as `F` lines) before it removes the
//! old files, so a second crash before they reach the catalog loses
//! nothing. A file grown by [`ROTATE_BYTES`] since it was opened is
//! replaced by one holding only the entries not yet written.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use laker_catalog::audit::AuditRecord;

/// A journal file past this size is rotated.
const ROTATE_BYTES: u64 = 16 << 20;

/// Outcome recorded for calls that were running when their server died.
pub const INTERRUPTED: &str = "interrupted";

/// One process's journal.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    file: File,
    path: PathBuf,
    written: u64,
    /// The file is rotated once `written` reaches this.
    rotate_at: u64,
    next_id: u64,
    /// The last line (S or F) of each entry not yet in the catalog.
    pending: HashMap<u64, String>,
}

impl Journal {
    /// Opens a new journal in `dir` for this process, and returns with it
    /// the records that the journals of dead processes hold but the
    /// catalog does not, each with its entry in the new journal (mark them
    /// [`written`](Self::written) once in the catalog).
    pub fn open(dir: &Path) -> std::io::Result<(Self, Vec<(u64, AuditRecord)>)> {
        std::fs::create_dir_all(dir)?;
        let (file, path) = new_file(dir)?;
        let journal = Self {
            dir: dir.to_path_buf(),
            inner: Mutex::new(Inner {
                file,
                path,
                written: 0,
                rotate_at: ROTATE_BYTES,
                next_id: 1,
                pending: HashMap::new(),
            }),
        };
        let recovered = journal.recover()?;
        Ok((journal, recovered))
    }

    /// Notes that a call described by `record` starts; returns its entry.
    pub fn started(&self, record: &AuditRecord) -> Option<u64> {
        self.add('S', record)
    }

    /// Notes entry `id`'s final record (queued for the catalog).
    pub fn finished(&self, id: u64, record: &AuditRecord) {
        if let Ok(mut inner) = self.inner.lock() {
            let line = format!("F {id} {}\n", json(record));
            inner.append(&line, &self.dir);
            inner.pending.insert(id, line);
        }
    }

    /// Notes that the records of `ids` are in the catalog.
    pub fn written(&self, ids: &[u64]) {
        if ids.is_empty() {
            return;
        }
        if let Ok(mut inner) = self.inner.lock() {
            let lines: String = ids.iter().map(|id| format!("W {id}\n")).collect();
            for id in ids {
                inner.pending.remove(id);
            }
            inner.append(&lines, &self.dir);
        }
    }

    /// A new entry whose last line is `kind` (S or F) with `record`.
    fn add(&self, kind: char, record: &AuditRecord) -> Option<u64> {
        let mut inner = self.inner.lock().ok()?;
        let id = inner.next_id;
        inner.next_id += 1;
        let line = format!("{kind} {id} {}\n", json(record));
        inner.append(&line, &self.dir);
        inner.pending.insert(id, line);
        Some(id)
    }

    /// Takes over the journals of processes that are gone: what they never
    /// wrote is journaled here as finished, then their files are removed.
    fn recover(&self) -> std::io::Result<Vec<(u64, AuditRecord)>> {
        let own = self.inner.lock().map(|i| i.path.clone()).ok();
        let mut recovered = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "tmp") {
                // A file a process died creating (it holds no records yet).
                if let Ok(file) = File::open(&path)
                    && file.try_lock().is_ok()
                {
                    let _ = std::fs::remove_file(&path);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "log") || Some(&path) == own.as_ref() {
                continue;
            }
            let Ok(file) = OpenOptions::new().read(true).write(true).open(&path) else {
                continue;
            };
            // Held by a running process: its own.
            if file.try_lock().is_err() {
                continue;
            }
            // Removed by its owner (rotated) between opening and locking:
            // its records are in the owner's new file.
            if removed(&file) {
                continue;
            }
            for record in unwritten(BufReader::new(&file)) {
                if let Some(id) = self.add('F', &record) {
                    recovered.push((id, record));
                }
            }
            // Removed while still locked: no other server reads it twice.
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(error = %e, file = %path.display(),
                    "cannot remove an audit journal taken over (its records may be audited twice)");
            }
        }
        Ok(recovered)
    }
}

impl Inner {
    fn append(&mut self, text: &str, dir: &Path) {
        if let Err(e) = self.file.write_all(text.as_bytes()) {
            tracing::error!(error = %e, "cannot write the audit journal");
            return;
        }
        self.written += text.len() as u64;
        if self.written >= self.rotate_at {
            self.rotate(dir);
        }
    }

    /// Moves the pending entries to a fresh file and drops the old one.
    fn rotate(&mut self, dir: &Path) {
        let (mut file, path) = match new_file(dir) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(error = %e, "cannot rotate the audit journal");
                self.rotate_at = self.written + ROTATE_BYTES;
                return;
            }
        };
        let carried: String = self.pending.values().map(String::as_str).collect();
        if let Err(e) = file.write_all(carried.as_bytes()) {
            tracing::error!(error = %e, "cannot rotate the audit journal");
            let _ = std::fs::remove_file(&path);
            self.rotate_at = self.written + ROTATE_BYTES;
            return;
        }
        // The old file goes while this process still holds its lock: no
        // server starting now can take it over.
        let _ = std::fs::remove_file(&self.path);
        self.path = path;
        self.file = file;
        self.written = carried.len() as u64;
        self.rotate_at = self.written + ROTATE_BYTES;
    }
}

/// Whether `file` no longer has a name (its owner removed it).
fn removed(file: &File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        file.metadata().is_ok_and(|m| m.nlink() == 0)
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        false
    }
}

fn json(record: &AuditRecord) -> String {
    serde_json::to_string(record).unwrap_or_else(|_| "{}".into())
}

/// A new journal file, locked before it takes its `.log` name (so no
/// starting server takes it for a dead process's).
fn new_file(dir: &Path) -> std::io::Result<(File, PathBuf)> {
    let name = uuid::Uuid::new_v4();
    let building = dir.join(format!("{name}.tmp"));
    let file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&building)?;
    file.try_lock().map_err(std::io::Error::other)?;
    let path = dir.join(format!("{name}.log"));
    std::fs::rename(&building, &path)?;
    Ok((file, path))
}

/// The entries of a journal that never reached the catalog.
fn unwritten(mut reader: impl BufRead) -> Vec<AuditRecord> {
    let mut entries: HashMap<u64, (bool, AuditRecord)> = HashMap::new();
    let mut order = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        // A line cut short by the crash is ignored.
        let Some(complete) = line.strip_suffix(b"\n") else {
            break;
        };
        let Ok(text) = std::str::from_utf8(complete) else {
            continue;
        };
        let mut parts = text.splitn(3, ' ');
        let (Some(kind), Some(id)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(id) = id.parse::<u64>() else {
            continue;
        };
        match (kind, parts.next()) {
            ("W", None) => {
                entries.remove(&id);
            }
            (kind @ ("S" | "F"), Some(body)) => {
                let Ok(record) = serde_json::from_str::<AuditRecord>(body) else {
                    continue;
                };
                if !entries.contains_key(&id) {
                    order.push(id);
                }
                entries.insert(id, (kind == "F", record));
            }
            _ => {}
        }
    }
    order
        .into_iter()
        .filter_map(|id| entries.remove(&id))
        .map(|(finished, mut record)| {
            if !finished {
                record.outcome = INTERRUPTED.into();
                record.message =
                    "the server stopped during this call (killed or crashed); see its log".into();
            }
            record
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(detail: &str) -> AuditRecord {
        AuditRecord {
            principal: "eve".into(),
            action: "DoGet".into(),
            detail: detail.into(),
            ..AuditRecord::default()
        }
    }

    #[test]
    fn a_dead_process_journal_yields_what_the_catalog_lacks() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, recovered) = Journal::open(dir.path()).unwrap();
        assert!(recovered.is_empty());
        let a = journal.started(&record("a")).unwrap();
        let b = journal.started(&record("b")).unwrap();
        let c = journal.started(&record("c")).unwrap();
        let mut done = record("b");
        done.outcome = "ok".into();
        done.rows = 7;
        journal.finished(b, &done);
        journal.finished(c, &record("c"));
        journal.written(&[c]);
        // While it runs, its file is its own.
        let (_other, seen) = Journal::open(dir.path()).unwrap();
        assert!(seen.is_empty());
        drop(journal);
        let (_next, recovered) = Journal::open(dir.path()).unwrap();
        let by_detail: HashMap<_, _> = recovered
            .iter()
            .map(|(_, r)| (r.detail.as_str(), (r.outcome.as_str(), r.rows)))
            .collect();
        assert_eq!(by_detail.len(), 2, "{recovered:?}");
        assert_eq!(by_detail["a"], (INTERRUPTED, 0));
        assert_eq!(by_detail["b"], ("ok", 7));
        let _ = a;
        // Read files are gone; the live journals remain.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_journal_rotated_away_is_not_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(dir.path()).unwrap();
        journal.started(&record("pending")).unwrap();
        let path = journal.inner.lock().unwrap().path.clone();
        // Opened just before its owner rotates it away.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        journal.inner.lock().unwrap().rotate(dir.path());
        assert!(file.try_lock().is_ok());
        assert!(removed(&file));
        // A stale file from a process that died creating one is removed.
        std::fs::write(dir.path().join("dead.tmp"), "").unwrap();
        let (_other, recovered) = Journal::open(dir.path()).unwrap();
        assert!(recovered.is_empty(), "the owner still holds the record");
        assert!(!dir.path().join("dead.tmp").exists());
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let text = format!(
            "S 1 {}\nS 2 {{\"principal\":\"ev",
            serde_json::to_string(&record("x")).unwrap()
        );
        let records = unwritten(std::io::Cursor::new(text));
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].detail, "x");
    }

    #[test]
    fn rotation_keeps_pending_entries() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(dir.path()).unwrap();
        let open = journal.started(&record("still running")).unwrap();
        let big = "x".repeat(64 << 10);
        for _ in 0..300 {
            let id = journal.started(&record(&big)).unwrap();
            journal.written(&[id]);
        }
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1, "the old file is removed");
        let size = std::fs::metadata(files[0].as_ref().unwrap().path())
            .unwrap()
            .len();
        assert!(size < ROTATE_BYTES, "{size}");
        drop(journal);
        let (_j, recovered) = Journal::open(dir.path()).unwrap();
        assert_eq!(recovered.len(), 1);
        assert_eq!(recovered[0].1.detail, "still running");
        let _ = open;
    }

    #[test]
    fn recovered_records_survive_a_second_crash_until_written() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(dir.path()).unwrap();
        journal.started(&record("first")).unwrap();
        drop(journal);
        // Recovered, but this server dies before the catalog has them.
        let (second, recovered) = Journal::open(dir.path()).unwrap();
        assert_eq!(recovered.len(), 1);
        drop(second);
        let (third, recovered) = Journal::open(dir.path()).unwrap();
        assert_eq!(recovered.len(), 1, "{recovered:?}");
        assert_eq!(recovered[0].1.outcome, INTERRUPTED);
        // Once written, they are gone for good.
        third.written(&[recovered[0].0]);
        drop(third);
        let (_fourth, recovered) = Journal::open(dir.path()).unwrap();
        assert!(recovered.is_empty(), "{recovered:?}");
    }

    #[test]
    fn a_torn_written_mark_is_ignored() {
        let text = format!(
            "S 1 {}\nS 12 {}\nW 1",
            serde_json::to_string(&record("one")).unwrap(),
            serde_json::to_string(&record("twelve")).unwrap()
        );
        let records = unwritten(std::io::Cursor::new(text));
        let details: Vec<_> = records.iter().map(|r| r.detail.as_str()).collect();
        assert_eq!(details, ["one", "twelve"], "`W 1` was cut from `W 12`");
    }

    #[test]
    fn many_pending_entries_do_not_rotate_on_every_write() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(dir.path()).unwrap();
        let big = "x".repeat(64 << 10);
        // More pending than one rotation's worth.
        for _ in 0..300 {
            journal.started(&record(&big)).unwrap();
        }
        let path = || {
            std::fs::read_dir(dir.path())
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path()
        };
        let before = path();
        for _ in 0..10 {
            let id = journal.started(&record("small")).unwrap();
            journal.written(&[id]);
        }
        assert_eq!(path(), before, "no rotation for a few small lines");
    }
}
