-- 0004: Stripe billing. A member ↔ customer link (one member per customer), every webhook event stored
-- before it is acted on (id = Stripe's event id, so a replay changes nothing), and the subscriptions
-- as last seen, with when each was first seen past due (the grace period counts from then).
CREATE TABLE billing_links (
    guild_id    TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    customer_id TEXT NOT NULL UNIQUE,
    linked_by   TEXT NOT NULL,
    linked_at   TEXT NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE stripe_events (
    id           TEXT PRIMARY KEY,
    type         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    processed_at TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT
);
CREATE INDEX stripe_events_pending ON stripe_events (processed_at, received_at);

CREATE TABLE subscriptions (
    id                   TEXT PRIMARY KEY,
    customer_id          TEXT NOT NULL,
    status               TEXT NOT NULL,
    current_period_end   TEXT,
    price_ids            TEXT NOT NULL,
    past_due_since       TEXT,
    cancel_at_period_end INTEGER NOT NULL DEFAULT 0,
    updated_at           TEXT NOT NULL
);
CREATE INDEX subscriptions_customer ON subscriptions (customer_id);
