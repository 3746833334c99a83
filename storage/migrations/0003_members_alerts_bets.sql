-- 0003: what the Discord surface keeps: watchlists, alert routes, member preferences, the alert
-- outbox (every owed delivery is written before it is attempted), logged bets and their grades, and
-- named cursors for jobs that must resume where they stopped.
CREATE TABLE watchlist (
    guild_id  TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    game_id   TEXT NOT NULL,
    added_at  TEXT NOT NULL,
    PRIMARY KEY (guild_id, user_id, game_id)
);
CREATE INDEX watchlist_game ON watchlist (game_id);

CREATE TABLE alert_routes (
    guild_id   TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    types      TEXT NOT NULL,           -- JSON list of signal types
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);

CREATE TABLE member_prefs (
    guild_id  TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    dm_alerts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    dedupe_key      TEXT NOT NULL UNIQUE,  -- what makes a delivery "the same one" across restarts
    kind            TEXT NOT NULL,         -- 'channel', 'dm', 'digest'
    guild_id        TEXT NOT NULL,
    target_id       TEXT NOT NULL,         -- channel id, or user id for a DM
    payload         TEXT NOT NULL,         -- JSON: what to send (signal ids, ...)
    created_at      TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    sent_at         TEXT,
    failed_at       TEXT,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox (sent_at, failed_at, next_attempt_at);

CREATE TABLE bets (
    id        INTEGER PRIMARY KEY,
    guild_id  TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    game_id   TEXT NOT NULL,
    market    TEXT NOT NULL CHECK (market IN ('h2h', 'spreads', 'totals')),
    side      TEXT NOT NULL CHECK (side IN ('home', 'away', 'over', 'under')),
    point     DOUBLE PRECISION,
    price     INTEGER NOT NULL,
    book      TEXT,
    placed_at TEXT NOT NULL
);
CREATE INDEX bets_member ON bets (guild_id, user_id, placed_at);
CREATE INDEX bets_game ON bets (game_id);

CREATE TABLE bet_grades (
    bet_id      INTEGER PRIMARY KEY REFERENCES bets (id),
    graded_at   TEXT NOT NULL,
    close_point DOUBLE PRECISION,
    close_prob  DOUBLE PRECISION NOT NULL,
    clv_points  DOUBLE PRECISION,
    clv_prob    DOUBLE PRECISION NOT NULL,
    beat        INTEGER NOT NULL,
    push        INTEGER NOT NULL
);

CREATE TABLE cursors (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
