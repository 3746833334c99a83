"""The schema's revisions, oldest first: ``0014`` is the baseline (the schema of the last numbered SQL file)."""
