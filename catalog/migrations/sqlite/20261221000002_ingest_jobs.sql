-- Ingest jobs (admin actions create_ingest_job, …): the job's
-- specification as JSON (source, target dataset, schedule, mode, limits;
-- the ingest crate reads it), who created it and when, and when the
-- scheduler runs it next (NULL: only when asked). Times are Unix epoch ms.
CREATE TABLE ingest_jobs (
    name        TEXT PRIMARY KEY NOT NULL,
    spec        TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    next_run_at BIGINT
);
CREATE INDEX ingest_jobs_next_run_at ON ingest_jobs (next_run_at);

-- Which replica runs a job now: the holder's token, until expires_at. A run
-- starts only with the lease and renews it while it runs.
CREATE TABLE ingest_job_leases (
    job        TEXT PRIMARY KEY NOT NULL,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- One row per run of a job: what started it (schedule, manual, backfill),
-- files, rows and bytes imported, files rejected and re-imported, the Delta
-- version committed, and how it ended: running (or died running), ok,
-- failed, recovered (committed, finished by a later run), abandoned (died
-- before its commit). The id is also the run's Delta transaction version.
CREATE TABLE ingest_runs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    job            TEXT NOT NULL,
    cause          TEXT NOT NULL,
    started_at     BIGINT NOT NULL,
    finished_at    BIGINT,
    file_count     BIGINT NOT NULL DEFAULT 0,
    row_count      BIGINT NOT NULL DEFAULT 0,
    byte_count     BIGINT NOT NULL DEFAULT 0,
    reject_count   BIGINT NOT NULL DEFAULT 0,
    reimport_count BIGINT NOT NULL DEFAULT 0,
    delta_version  BIGINT,
    outcome        TEXT NOT NULL,
    message        TEXT
);
CREATE INDEX ingest_runs_job ON ingest_runs (job, id);

-- Every file a job has taken: its object path, size and version (ETag,
-- object version or size and modification time), the run, imported or
-- rejected (with the reason), whether an earlier version of that path was
-- imported before, and pending (1) until its run has committed. A file is
-- taken once per job and version.
CREATE TABLE ingest_manifest (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    job            TEXT NOT NULL,
    path           TEXT NOT NULL,
    size           BIGINT NOT NULL,
    object_version TEXT NOT NULL,
    run_id         BIGINT NOT NULL,
    outcome        TEXT NOT NULL,
    row_count      BIGINT NOT NULL,
    reason         TEXT,
    reimport       BIGINT NOT NULL DEFAULT 0,
    pending        BIGINT NOT NULL DEFAULT 1,
    taken_at       BIGINT NOT NULL
);
CREATE UNIQUE INDEX ingest_manifest_file ON ingest_manifest (job, path, object_version);
CREATE INDEX ingest_manifest_run ON ingest_manifest (run_id);
