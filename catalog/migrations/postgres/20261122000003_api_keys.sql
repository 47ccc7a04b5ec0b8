-- Service accounts are users of kind 'service' (no password); they, and
-- users, authenticate with API keys. Only an argon2 hash of each key's
-- secret is stored. Times are Unix epoch milliseconds; 0 means never.
ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'user';

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY NOT NULL,
    principal   TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL DEFAULT 0,
    revoked_at  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_principal ON api_keys (principal);
