"""The wall clock, in one place: aware UTC. Everything that reads the time takes a `clock` argument
defaulting to this, so tests and replays can supply their own time."""

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)
