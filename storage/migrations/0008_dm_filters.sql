-- 0008: watchlist DM filters per member (`/alerts dm types:… min_score:…`). `dm_types` is a JSON list of
-- signal types, NULL for every type; `dm_min_score` is the lowest score (0-100) that still gets a DM.
ALTER TABLE member_prefs ADD COLUMN dm_types TEXT;
ALTER TABLE member_prefs ADD COLUMN dm_min_score INTEGER NOT NULL DEFAULT 0;
