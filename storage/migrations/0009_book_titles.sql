-- 0009: each book's display name as the feed titles it ("williamhill_us" → "Caesars"), so what members read
-- names the book they know. Upserted with the quotes of the snapshot that carried it.
CREATE TABLE books (
    key        TEXT PRIMARY KEY,
    title      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
