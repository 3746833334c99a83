-- 0007: one outbox for every outgoing delivery (Discord alerts, DMs, digests, mod-log and operator posts,
-- partner webhooks). A row is keyed for idempotency as "event:subject:target" (UNIQUE, written with
-- INSERT ... ON CONFLICT DO NOTHING), carries its target (the unit of ordering: a channel, a member's DMs,
-- a webhook endpoint) and its queue (the unit of isolation: 'discord', 'shared', or an Enterprise key's own
-- 'key:<id>'). `msg_id` is what the receiver sees (the webhook-id header, the Discord nonce): derived from
-- the key, or kept from the row this one was migrated from, so a repeat always carries the same id.
ALTER TABLE outbox RENAME TO outbox_0003;

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    key             TEXT NOT NULL UNIQUE,
    msg_id          TEXT NOT NULL,
    kind            TEXT NOT NULL,   -- 'alert', 'watch_dm', 'digest', 'message', 'dm', 'webhook'
    target          TEXT NOT NULL,   -- 'channel:<id>', 'user:<id>', 'webhook:<endpoint id>'
    queue           TEXT NOT NULL,   -- 'discord', 'shared', 'key:<api key id>'
    payload         TEXT NOT NULL,   -- JSON: what to send
    created_at      TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    sent_at         TEXT,
    failed_at       TEXT,
    last_status     INTEGER,
    last_error      TEXT
);
CREATE INDEX outbox_pending ON outbox (queue, next_attempt_at, id) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_target ON outbox (target, id);

-- Discord rows of 0003: kept with their keys, in the new key shape for signal alerts
-- ("alert:<signal>:channel:<id>" -> "signal.created:<signal>:channel:<id>"), so nothing is queued twice.
INSERT INTO outbox (key, msg_id, kind, target, queue, payload, created_at, attempts, next_attempt_at, sent_at,
                    failed_at, last_error)
SELECT
    CASE WHEN dedupe_key LIKE 'alert:%' THEN 'signal.created:' || substr(dedupe_key, 7) ELSE dedupe_key END,
    'm_' || id,
    CASE kind WHEN 'channel' THEN 'alert' WHEN 'dm' THEN 'watch_dm' ELSE kind END,
    CASE kind WHEN 'dm' THEN 'user:' || target_id ELSE 'channel:' || target_id END,
    'discord',
    json_set(payload, '$.guild_id', CAST(guild_id AS INTEGER), '$.target_id', CAST(target_id AS INTEGER)),
    created_at, attempts, next_attempt_at, sent_at, failed_at, last_error
FROM outbox_0003 ORDER BY id
ON CONFLICT (key) DO NOTHING;

-- Webhook rows of 0005: their id stays the webhook-id (a receiver may have seen it already); signal and
-- grade events get the key the new fan-out writes, so a catch-up cannot queue them again.
INSERT INTO outbox (key, msg_id, kind, target, queue, payload, created_at, attempts, next_attempt_at, sent_at,
                    failed_at, last_status, last_error)
SELECT
    CASE
        WHEN event_type = 'signal.created' AND json_extract(payload, '$.data.id') IS NOT NULL
            THEN 'signal.created:' || json_extract(payload, '$.data.id') || ':webhook:' || endpoint_id
        WHEN event_type = 'clv.graded' AND json_extract(payload, '$.data.signal.id') IS NOT NULL
            THEN 'clv.graded:' || json_extract(payload, '$.data.signal.id') || ':webhook:' || endpoint_id
        ELSE event_type || ':' || id || ':webhook:' || endpoint_id
    END,
    id, 'webhook', 'webhook:' || endpoint_id, queue,
    json_object('event_type', event_type, 'endpoint_id', endpoint_id, 'body', json(payload)),
    created_at, attempts, next_attempt_at, delivered_at, failed_at, last_status, last_error
FROM webhook_deliveries ORDER BY created_at, id
ON CONFLICT (key) DO NOTHING;

DROP TABLE outbox_0003;
DROP TABLE webhook_deliveries;
