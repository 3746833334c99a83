"""Per-key request limits: a fixed window per UTC minute, pure and in memory, with an injectable clock.

The same limiter also holds one bucket per client address (`addr:…`, see `api.deps.client_address`)
for requests without a valid key: the server `peek`s it before any key lookup and `hit`s it for each
401, so an address sending made-up keys is answered 429 after its allowance, at the cost of a dictionary
read, while valid keys (their own buckets) are untouched.

Why a fixed window aligned to the UTC minute rather than a sliding log or a token bucket:

- The usage counters (`api_usage`, one row per key and "YYYY-MM-DDTHH:MM") are per calendar minute, so
  the limit a key hits and the count `GET /v1/usage` shows for "this minute" are the same number.
- `X-RateLimit-Reset` is then exact and easy to act on: the seconds until the next minute starts, the
  same for every key, and `Retry-After` on a 429 is that figure rounded up.
- The cost is O(1) memory per active key (a minute stamp and a count), no per-request log.

The known trade-off: a client may send its whole allowance at the end of one minute and again at the
start of the next (up to twice the limit across a boundary). The limit exists for fairness between
keys, not to protect a resource from a 2× burst, so that is accepted.

Rejected requests do not consume the allowance (a client retrying in a loop does not push its own reset
further away). The state lives in this process: with several API processes behind a balancer each
would enforce the limit separately; a shared store (Redis INCR with expiry) would take this class's
place behind the same `hit` method.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from engine.clock import utc_now as _utc_now

__all__ = ["RateDecision", "RateLimiter"]

WINDOW_SECONDS = 60


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The limiter's answer for one request, with what the client is told in headers."""

    allowed: bool
    limit: int
    remaining: int
    reset: int  # whole seconds until the window resets (at least 1)

    @property
    def retry_after(self) -> int:
        """Seconds to wait before a retry can succeed (only meaningful when not allowed)."""
        return self.reset

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """`X-RateLimit-*` as an ASGI answer carries them (the hot path's form of `headers`)."""
        return [
            (b"x-ratelimit-limit", b"%d" % self.limit),
            (b"x-ratelimit-remaining", b"%d" % self.remaining),
            (b"x-ratelimit-reset", b"%d" % self.reset),
        ]

    def headers(self) -> dict[str, str]:
        """`X-RateLimit-*` on every authenticated response, and `Retry-After` when refused."""
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class RateLimiter:
    """`hit(key_id, limit)` counts one request against the key's current minute, unless it is over.

    Pure apart from its own dictionary: the time comes from `clock` (aware UTC datetimes), so tests move
    to the next minute by moving the clock, not by sleeping.
    """

    def __init__(self, clock: Callable[[], datetime] = _utc_now, window_seconds: int = WINDOW_SECONDS) -> None:
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self._clock = clock
        self._window = window_seconds
        self._counts: dict[str, tuple[int, int]] = {}  # key id -> (window number, requests allowed in it)
        self._current_window = -1

    def _window_of(self, now: datetime) -> tuple[int, float]:
        """(window number, seconds until it ends) for an aware datetime."""
        stamp = now.timestamp()
        number = math.floor(stamp / self._window)
        return number, (number + 1) * self._window - stamp

    def hit(self, key_id: str, limit: int) -> RateDecision:
        """Count a request if the key has allowance left in this window; refuse it (uncounted) if not."""
        window, left = self._window_of(self._clock())
        if window != self._current_window:
            # A new window: forget keys last seen in older ones, so memory follows the active keys only.
            self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
            self._current_window = window
        seen_window, used = self._counts.get(key_id, (window, 0))
        if seen_window != window:
            used = 0
        reset = max(1, math.ceil(left))
        limit = max(0, int(limit))
        if used >= limit:
            return RateDecision(allowed=False, limit=limit, remaining=0, reset=reset)
        used += 1
        self._counts[key_id] = (window, used)
        return RateDecision(allowed=True, limit=limit, remaining=limit - used, reset=reset)

    def peek(self, key_id: str, limit: int) -> RateDecision:
        """The key's standing in this window without counting a request (for `GET /v1/usage`)."""
        window, left = self._window_of(self._clock())
        seen_window, used = self._counts.get(key_id, (window, 0))
        if seen_window != window:
            used = 0
        limit = max(0, int(limit))
        return RateDecision(
            allowed=used < limit, limit=limit, remaining=max(0, limit - used), reset=max(1, math.ceil(left))
        )
