-- 0005: the infrastructure tier. API keys are stored only as a SHA-256 hash with a short visible prefix;
-- usage is counted per key and minute; webhook endpoints belong to a key; every owed delivery is written
-- to webhook_deliveries before it is attempted (a durable outbox), and anomalies are recorded.
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,           -- the visible prefix, e.g. "sk_live_ab12cd34"
    key_hash      TEXT NOT NULL UNIQUE,
    owner         TEXT NOT NULL,              -- a name, or a Discord user id ("discord:<id>")
    plan          TEXT NOT NULL,
    rpm_override  INTEGER,                    -- Enterprise: custom per-key limits
    webhooks_override INTEGER,
    monthly_override  INTEGER,
    created_at    TEXT NOT NULL,
    revoked_at    TEXT,
    replaced_by   TEXT                        -- rotation: the key that replaced this one
);

CREATE TABLE api_usage (
    key_id  TEXT NOT NULL,
    minute  TEXT NOT NULL,                    -- "YYYY-MM-DDTHH:MM"
    requests INTEGER NOT NULL DEFAULT 0,
    errors   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, minute)
);

CREATE TABLE api_anomalies (
    id       INTEGER PRIMARY KEY,
    key_id   TEXT NOT NULL,
    kind     TEXT NOT NULL,                   -- 'rate_spike', 'error_spike', 'soft_limit_80', 'soft_limit_100'
    detail   TEXT NOT NULL,
    at       TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE
);

CREATE TABLE webhook_endpoints (
    id          TEXT PRIMARY KEY,             -- "we_..."
    key_id      TEXT NOT NULL,
    url         TEXT NOT NULL,
    events      TEXT NOT NULL,                -- JSON list
    secret      TEXT NOT NULL,                -- "whsec_..." (needed to sign; never returned after creation)
    old_secret  TEXT,                         -- rotation: still signs until old_secret_until
    old_secret_until TEXT,
    created_at  TEXT NOT NULL,
    disabled_at TEXT,
    disabled_reason TEXT
);
CREATE INDEX webhook_endpoints_key ON webhook_endpoints (key_id);

CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,         -- the webhook-id header: the same on every retry
    endpoint_id     TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    queue           TEXT NOT NULL,            -- 'shared', or the Enterprise key's own queue
    created_at      TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    delivered_at    TEXT,
    failed_at       TEXT,
    last_status     INTEGER,
    last_error      TEXT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (queue, delivered_at, failed_at, next_attempt_at);
