-- 0014: the audit decides what pings (docs/signal-integrity.md §5-6).
--   * class_states: every change of a class's alert state (tiered / unproven / refuted) or tier, made by
--     the grades committed at `since` and written in their transaction, with the sample it rested on.
--     A class's state at an instant is its last change strictly before it.
--   * alert_routes.min_state: a route's bar, `/mod alerts set … minimum:` ('unproven': every class that
--     is not refuted pings; 'tiered': only S/A/B classes ping). A refuted class never pings.
--   * member_prefs.dm_min_state: a member's bar for watchlist DMs, `/alerts dm minimum:`.
CREATE TABLE class_states (
    class      TEXT NOT NULL,              -- "STEAM:totals"
    since      TEXT NOT NULL,              -- when the grades that made it were committed
    state      TEXT NOT NULL,              -- 'tiered', 'unproven', 'refuted'
    tier       TEXT NOT NULL,              -- 'S', 'A', 'B' or 'unproven'
    graded     INTEGER NOT NULL,
    beats      INTEGER NOT NULL,
    null_rate  DOUBLE PRECISION,
    lift       DOUBLE PRECISION,
    lift_low   DOUBLE PRECISION,
    lift_high  DOUBLE PRECISION,
    reason     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (class, since)
);

ALTER TABLE alert_routes ADD COLUMN min_state TEXT NOT NULL DEFAULT 'unproven';
ALTER TABLE member_prefs ADD COLUMN dm_min_state TEXT NOT NULL DEFAULT 'unproven';
