"""Alembic's environment and revisions for the schema (see `storage.migrations`, which drives them)."""
