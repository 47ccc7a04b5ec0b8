-- Laker catalog schema (SQLite). Timestamps are Unix epoch milliseconds.
CREATE TABLE namespaces (
    name        TEXT PRIMARY KEY NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);

CREATE TABLE datasets (
    namespace   TEXT NOT NULL REFERENCES namespaces(name) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    tags        TEXT NOT NULL DEFAULT '[]',
    format      TEXT NOT NULL,
    location    TEXT NOT NULL,
    options     TEXT NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    revision    BIGINT NOT NULL DEFAULT 1,
    PRIMARY KEY (namespace, name)
);

CREATE TABLE users (
    name          TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    disabled      BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);

CREATE TABLE grants (
    principal TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    pattern   TEXT NOT NULL,
    action    TEXT NOT NULL,
    PRIMARY KEY (principal, pattern, action)
);
