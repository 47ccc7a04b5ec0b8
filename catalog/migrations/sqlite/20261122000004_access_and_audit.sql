-- Roles, grants with row filters and column masks, principal attributes,
-- and the audit log. Times are Unix epoch milliseconds.

-- Free-form attributes of a principal (JSON object of strings), usable in
-- row filters through principal_attribute('name').
ALTER TABLE users ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
-- Tokens issued before this time are revoked.
ALTER TABLE users ADD COLUMN tokens_not_before BIGINT NOT NULL DEFAULT 0;

CREATE TABLE roles (
    name        TEXT PRIMARY KEY NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);

CREATE TABLE role_members (
    role      TEXT NOT NULL REFERENCES roles(name) ON DELETE CASCADE,
    principal TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    PRIMARY KEY (role, principal)
);
CREATE INDEX role_members_principal ON role_members (principal);

-- A grant belongs to a user or to a role (grantee_kind 'user' | 'role').
-- row_filter is a SQL boolean expression ('' = every row); column_masks a
-- JSON object column -> mask.
CREATE TABLE access_grants (
    grantee_kind TEXT NOT NULL,
    grantee      TEXT NOT NULL,
    pattern      TEXT NOT NULL,
    action       TEXT NOT NULL,
    row_filter   TEXT NOT NULL DEFAULT '',
    column_masks TEXT NOT NULL DEFAULT '{}',
    created_at   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (grantee_kind, grantee, pattern, action)
);
INSERT INTO access_grants (grantee_kind, grantee, pattern, action)
    SELECT 'user', principal, pattern, action FROM grants;
DROP TABLE grants;

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time        BIGINT NOT NULL,
    principal   TEXT NOT NULL,
    source      TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL,
    dataset     TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    row_count   BIGINT NOT NULL DEFAULT 0,
    byte_count  BIGINT NOT NULL DEFAULT 0,
    duration_ms BIGINT NOT NULL DEFAULT 0,
    outcome     TEXT NOT NULL,
    message     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_time ON audit_log (time);
