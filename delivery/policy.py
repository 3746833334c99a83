"""The one retry policy of every delivery, and the two kinds of failure a sender reports."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

__all__ = ["PermanentFailure", "RetryPolicy", "TemporaryFailure"]


class TemporaryFailure(Exception):
    """Try again later: a rate limit, a 5xx, a timeout, the network. `retry_after` is the receiver's wish."""

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class PermanentFailure(Exception):
    """Never retry this row. With `target_gone` (a 410, a deleted endpoint) nothing more is owed to the target:
    every row still queued for it is given up too, and the sender's `target_failed` tells the owner."""

    def __init__(self, message: str, *, status: int | None = None, target_gone: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.target_gone = target_gone


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter: the n-th retry waits ``rng() × min(cap, base × 2ⁿ)``, so
    receivers coming back from an outage are not hit by every sender at once; a larger ``Retry-After`` wins
    (capped too, so a receiver cannot park its messages past `max_age`). A row is given up once it has been
    failing for `max_age`, or after `max_attempts` attempts when that is set (0: the age alone decides)."""

    base: float = 5.0
    cap: float = 3600.0
    max_age: timedelta = timedelta(days=1)
    max_attempts: int = 0
    rng: Callable[[], float] = field(default=random.random)

    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds until the next try after `attempts` failed ones."""
        delay = self.rng() * min(self.cap, self.base * 2 ** min(attempts, 30))
        if retry_after is not None and retry_after > delay:
            delay = min(retry_after, self.cap)
        return delay

    def gives_up(self, attempts: int, age: timedelta) -> bool:
        """After `attempts` failed attempts of a row this old: stop?"""
        return age >= self.max_age or (self.max_attempts > 0 and attempts >= self.max_attempts)
