-- 0006: the signal-integrity audit.
--   * grades.clv_ev: expected value of the entry's own price (vig included) at the no-vig close, the
--     verdict of "beat the close". Rows graded before this version have NULL and are regraded at start.
--   * bet_grades.clv_ev: the same for members' bets.
--   * closes.source: "consensus" (our last pre-tip snapshot) or "external" (a closes file).
--   * ungraded_signals: a signal that could not be graded, with why ("no close after the signal", ...).
--   * game_results: final scores, where a closes file carries them.
ALTER TABLE grades ADD COLUMN clv_ev DOUBLE PRECISION;
ALTER TABLE bet_grades ADD COLUMN clv_ev DOUBLE PRECISION;
ALTER TABLE closes ADD COLUMN source TEXT NOT NULL DEFAULT 'consensus';

CREATE TABLE ungraded_signals (
    signal_id  TEXT PRIMARY KEY REFERENCES signals (id),
    decided_at TEXT NOT NULL,
    reason     TEXT NOT NULL
);

CREATE TABLE game_results (
    game_id    TEXT PRIMARY KEY,
    home_score INTEGER NOT NULL,
    away_score INTEGER NOT NULL,
    source     TEXT NOT NULL
);
