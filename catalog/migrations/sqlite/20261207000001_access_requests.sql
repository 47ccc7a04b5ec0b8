-- Requests for access: read access to a dataset (dataset set) or a
-- description of data no dataset meets (need set), with the requester's
-- reason; an admin approves or rejects each. status is 'pending',
-- 'approved' or 'rejected'. Times are Unix epoch milliseconds.
CREATE TABLE access_requests (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    requester   TEXT NOT NULL,
    dataset     TEXT,
    need        TEXT,
    reason      TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    decided_by  TEXT,
    decided_at  BIGINT,
    note        TEXT
);
CREATE INDEX access_requests_requester ON access_requests (requester);
CREATE INDEX access_requests_status ON access_requests (status);
-- One pending request per requester and dataset (NULLs, the need form,
-- never collide).
CREATE UNIQUE INDEX access_requests_one_pending ON access_requests (requester, dataset)
    WHERE status = 'pending';
