-- Failed logins counted for every replica on this catalog: subject is 'u:'
-- and a SHA-256 of the login name tried (never the name itself: people type
-- passwords into the user field), or 'a:' and a source address; failures
-- counted in the window that began at window_start (Unix epoch ms).
CREATE TABLE login_failures (
    subject      TEXT PRIMARY KEY NOT NULL,
    window_start BIGINT NOT NULL,
    failures     BIGINT NOT NULL
);
CREATE INDEX login_failures_window_start ON login_failures (window_start);

-- Bearer tokens revoked one by one (revoke_token), by their id (jti): who
-- revoked each and when, and when the entry may be forgotten (no token the
-- server issued before revoked_at lives past expires_at). Unix epoch ms.
CREATE TABLE revoked_tokens (
    token_id   TEXT PRIMARY KEY NOT NULL,
    revoked_by TEXT NOT NULL,
    revoked_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);
