-- 0001: the initial schema.
--
-- Conventions (see storage/codec.py):
--   * datetimes are ISO-8601 UTC text in one fixed width ("2024-05-01T18:30:00.000000Z"), so text
--     order is time order and range/keyset queries need no date functions;
--   * floats are DOUBLE PRECISION (REAL affinity in SQLite; in PostgreSQL plain REAL would be float4);
--   * tuples and mappings are JSON text;
--   * quotes.id is SQLite's rowid alias; a PostgreSQL port declares it an identity column.

CREATE TABLE games (
    id            TEXT PRIMARY KEY,
    sport_key     TEXT NOT NULL,
    home_team     TEXT NOT NULL,
    away_team     TEXT NOT NULL,
    commence_time TEXT NOT NULL,
    scheduled_tip TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'closed')),
    first_seen    TEXT NOT NULL,
    last_seen     TEXT NOT NULL
);
CREATE INDEX games_commence ON games (commence_time, id);
CREATE INDEX games_status ON games (status);

-- Every distinct quote we observed (the engine only stores changes).
CREATE TABLE quotes (
    id          INTEGER PRIMARY KEY,
    game_id     TEXT NOT NULL,
    book        TEXT NOT NULL,
    market      TEXT NOT NULL CHECK (market IN ('h2h', 'spreads', 'totals')),
    point       DOUBLE PRECISION,
    price_a     INTEGER NOT NULL,
    price_b     INTEGER NOT NULL,
    last_update TEXT NOT NULL,
    observed_at TEXT NOT NULL
);
-- "Latest per (game, book, market)": one index seek per key, also used by retention.
CREATE INDEX quotes_latest ON quotes (game_id, book, market, observed_at, id);
-- Retention scans old rows by time.
CREATE INDEX quotes_observed ON quotes (observed_at);

CREATE TABLE consensus (
    game_id    TEXT NOT NULL,
    market     TEXT NOT NULL CHECK (market IN ('h2h', 'spreads', 'totals')),
    at         TEXT NOT NULL,
    point      DOUBLE PRECISION,
    prob_a     DOUBLE PRECISION NOT NULL,
    books      INTEGER NOT NULL,
    components TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (game_id, market, at)
);

CREATE TABLE signals (
    id              TEXT PRIMARY KEY,
    type            TEXT NOT NULL,
    game_id         TEXT NOT NULL,
    market          TEXT NOT NULL CHECK (market IN ('h2h', 'spreads', 'totals')),
    side            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    commence_time   TEXT NOT NULL,
    score           INTEGER NOT NULL,
    breakdown       TEXT NOT NULL,
    books           TEXT NOT NULL,
    magnitude       DOUBLE PRECISION NOT NULL,
    velocity        DOUBLE PRECISION,
    entry_book      TEXT NOT NULL,
    entry_point     DOUBLE PRECISION,
    entry_price     INTEGER NOT NULL,
    entry_prob      DOUBLE PRECISION NOT NULL,
    consensus_point DOUBLE PRECISION,
    consensus_prob  DOUBLE PRECISION NOT NULL,
    details         TEXT NOT NULL DEFAULT '{}'
);
-- Newest-first listing with keyset pagination on (created_at, id).
CREATE INDEX signals_created ON signals (created_at, id);
CREATE INDEX signals_game ON signals (game_id, created_at);

-- The first captured close of a (game, market) is final.
CREATE TABLE closes (
    game_id     TEXT NOT NULL,
    market      TEXT NOT NULL CHECK (market IN ('h2h', 'spreads', 'totals')),
    captured_at TEXT NOT NULL,
    at          TEXT NOT NULL,
    point       DOUBLE PRECISION,
    prob_a      DOUBLE PRECISION NOT NULL,
    books       INTEGER NOT NULL,
    PRIMARY KEY (game_id, market)
);

CREATE TABLE grades (
    signal_id            TEXT PRIMARY KEY REFERENCES signals (id),
    graded_at            TEXT NOT NULL,
    close_point          DOUBLE PRECISION,
    close_prob           DOUBLE PRECISION NOT NULL,
    clv_points           DOUBLE PRECISION,
    clv_prob             DOUBLE PRECISION NOT NULL,
    beat                 INTEGER NOT NULL CHECK (beat IN (0, 1)),
    push                 INTEGER NOT NULL CHECK (push IN (0, 1)),
    consensus_clv_points DOUBLE PRECISION,
    consensus_clv_prob   DOUBLE PRECISION NOT NULL
);
CREATE INDEX grades_graded ON grades (graded_at, signal_id);

-- Where each odds source stands: the last snapshot time and the provider's credit headers.
CREATE TABLE feed_state (
    source          TEXT PRIMARY KEY,
    cursor          TEXT,
    quota_remaining INTEGER,
    quota_used      INTEGER,
    quota_last      INTEGER,
    updated_at      TEXT NOT NULL
);
