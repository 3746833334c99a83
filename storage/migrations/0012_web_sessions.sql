-- 0012: dashboard sessions on the server. The signed cookie names its session (`id`, random); a request is
-- signed in only while the row exists, so signing out (the row deleted) ends every copy of the cookie, and
-- a tier change found by the role re-check ends the member's sessions that hold another `tier`.
-- `renewed_at` moves with each re-check that rewrites the cookie; rows older than the session lifetime are
-- deleted when a new session starts.
CREATE TABLE web_sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    tier       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    renewed_at TEXT NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_renewed ON web_sessions (renewed_at);
