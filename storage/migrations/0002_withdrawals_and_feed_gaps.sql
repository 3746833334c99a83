-- 0002: remember what the engine remembers, so a restart resumes exactly.
--   * quotes.withdrawn: a row copying a book's last line, marked 1, records that the book stopped
--     offering the market at observed_at; "latest" skips a key whose newest row is a withdrawal.
--   * feed_state.recent_gaps: the recent gaps between snapshots (JSON list of seconds), from which
--     the engine estimates the feed's poll interval (STEAM's window is never shorter than two polls).
ALTER TABLE quotes ADD COLUMN withdrawn INTEGER NOT NULL DEFAULT 0;
ALTER TABLE feed_state ADD COLUMN recent_gaps TEXT NOT NULL DEFAULT '[]';
