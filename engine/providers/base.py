"""What every odds source hands the engine, and how a source says it failed.

A source's only job is to fetch the provider's event array and say when it did; parsing happens
once, in `engine.providers.parse`, so live polling and replayed tapes cannot drift apart.
The error tree lets the scheduler choose between "try again later" (temporary), "stop and tell an
operator" (auth) and "this payload is useless, skip it" (data), as the design asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from engine.models import Quota

__all__ = [
    "FeedAuthError",
    "FeedDataError",
    "FeedError",
    "FeedTemporaryError",
    "FeedUnavailable",
    "OddsSource",
    "RawSnapshot",
]


@dataclass(frozen=True, slots=True)
class RawSnapshot:
    """The provider's payload exactly as received, stamped with when we received it.

    `data` is the API's event array, untouched (it may be anything JSON can hold; the parser copes).
    `fetched_at` must be timezone-aware; it is normalised to UTC so every downstream comparison is
    between UTC datetimes.
    """

    fetched_at: datetime
    data: Any
    quota: Quota | None = None

    def __post_init__(self) -> None:
        offset = self.fetched_at.utcoffset()
        if offset is None:
            raise ValueError(f"fetched_at must be timezone-aware, got {self.fetched_at!r}")
        if offset or self.fetched_at.tzinfo is not UTC:
            object.__setattr__(self, "fetched_at", self.fetched_at.astimezone(UTC))


class FeedError(Exception):
    """Base of every odds-feed failure."""


class FeedTemporaryError(FeedError):
    """Timeouts, 429, 5xx (after retries), other unexpected statuses: poll again later.

    `retry_after` is the provider's own hint in seconds when it gave one (429 `Retry-After`).
    """

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class FeedAuthError(FeedError):
    """401/403: the key is wrong, deactivated or out of credits. Retrying will not help."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class FeedDataError(FeedError):
    """The body was not JSON, or not the event array we asked for."""


class FeedUnavailable(FeedError):
    """The circuit breaker is open: we fail fast instead of hammering a broken feed."""

    def __init__(self, message: str, *, retry_in: float | None = None):
        super().__init__(message)
        self.retry_in = retry_in


@runtime_checkable
class OddsSource(Protocol):
    """Anything that can produce the next raw snapshot (the live API client, a replayed tape, a fake)."""

    async def fetch(self) -> RawSnapshot: ...
