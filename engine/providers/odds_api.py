"""The Odds API v4 client: one `fetch()` = one `GET /v4/sports/{sport}/odds`, made robust.

Failures are sorted the way the scheduler needs them (see `engine.providers.base`): transient ones
(timeouts, transport errors, 429, 5xx) are retried here by tenacity, with exponential backoff and jitter
or the server's `Retry-After`, then surface as `FeedTemporaryError`; a refused key (401/403) is
`FeedAuthError` at once; a body that is not the event array is `FeedDataError`. A `CircuitBreaker` stops
us hammering a feed that keeps failing. The API key travels as a query parameter (the API's only way), so
it is kept out of every log line and error message we produce, and redacted from httpx's own request log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential

from config.settings import FeedSettings
from engine.cadence import estimated_cost
from engine.clock import utc_now
from engine.models import Quota
from engine.providers.base import (
    FeedAuthError,
    FeedDataError,
    FeedError,
    FeedTemporaryError,
    FeedUnavailable,
    RawSnapshot,
)
from engine.providers.tape import TapeRecorder

__all__ = ["MAX_RETRY_AFTER_SECONDS", "CircuitBreaker", "OddsApiClient", "parse_quota"]

logger = logging.getLogger(__name__)

#: A `Retry-After` longer than this is not slept through inside one fetch: the error carries it
#: (`FeedTemporaryError.retry_after`) and the scheduler decides.
MAX_RETRY_AFTER_SECONDS = 60.0

_JITTER = 0.1  # up to +10% on each backoff delay, so restarted clients do not retry in lockstep


class CircuitBreaker:
    """Closed → (N consecutive failures) → open for `cooldown` seconds → half-open: one trial call.

    The trial's success closes the breaker; its failure opens it for another cooldown. While open
    (or while the trial is in flight) `before_call` raises `FeedUnavailable` without any I/O.
    `clock` returns seconds on any monotonic scale (`time.monotonic` by default).

    Kept by hand: tenacity and stamina retry one call but keep no state between calls, and for one poller
    a breaker library is not worth a dependency (aiobreaker has had no release since 2021; purgatory brings
    its own clock and errors, where the scheduler reads `FeedUnavailable.retry_in` and tests set `clock`).
    """

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"

    def __init__(self, failures: int, cooldown_seconds: float, *, clock: Callable[[], float] = time.monotonic):
        if failures < 1:
            raise ValueError("failures must be >= 1")
        self.failures = failures
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return self.CLOSED
        if self._trial_in_flight or self._clock() - self._opened_at >= self.cooldown_seconds:
            return self.HALF_OPEN
        return self.OPEN

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive

    def before_call(self) -> None:
        """Let a call through, or raise `FeedUnavailable` while the breaker is open."""
        if self._opened_at is None:
            return
        waited = self._clock() - self._opened_at
        if self._trial_in_flight:
            raise FeedUnavailable("odds feed circuit half-open: a trial request is already in flight")
        if waited < self.cooldown_seconds:
            retry_in = self.cooldown_seconds - waited
            raise FeedUnavailable(
                f"odds feed circuit open after {self._consecutive} consecutive failures; next trial in {retry_in:.0f}s",
                retry_in=retry_in,
            )
        self._trial_in_flight = True

    def record_success(self) -> None:
        self._consecutive = 0
        self._opened_at = None
        self._trial_in_flight = False

    def record_failure(self) -> None:
        self._consecutive += 1
        was_trial = self._trial_in_flight
        self._trial_in_flight = False
        if was_trial or self._consecutive >= self.failures:
            self._opened_at = self._clock()
            logger.warning(
                "odds feed circuit open after %d consecutive failures (cooldown %.0fs)",
                self._consecutive,
                self.cooldown_seconds,
            )

    def release(self) -> None:
        """A call ended with neither verdict (cancelled): free the half-open trial slot."""
        self._trial_in_flight = False


def _header_int(headers: httpx.Headers, name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return int(number)


def parse_quota(headers: httpx.Headers) -> Quota | None:
    """`x-requests-remaining/used/last` as a `Quota` (None when the response carried none of them).

    The API sometimes sends them as floats ("499.0"); anything non-numeric counts as missing.
    """
    quota = Quota(
        remaining=_header_int(headers, "x-requests-remaining"),
        used=_header_int(headers, "x-requests-used"),
        last=_header_int(headers, "x-requests-last"),
    )
    if quota.remaining is None and quota.used is None and quota.last is None:
        return None
    return quota


class _Answer(Exception):
    """A non-2xx answer, raised so that tenacity's `retry` predicate sorts it along with transport errors."""

    def __init__(self, response: httpx.Response, retry_after: float | None) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
        self.status = response.status_code
        self.retry_after = retry_after


def _retryable(exc: BaseException) -> bool:
    """Worth another try inside this fetch: a timeout or transport error, a 429 or a 5xx — unless the
    server asks for a longer pause than one fetch sleeps through (`MAX_RETRY_AFTER_SECONDS`)."""
    if isinstance(exc, httpx.TransportError):  # timeouts included
        return True
    if isinstance(exc, _Answer) and (exc.status == 429 or exc.status >= 500):
        return exc.retry_after is None or exc.retry_after <= MAX_RETRY_AFTER_SECONDS
    return False


def _retry_after(headers: httpx.Headers, now: datetime) -> float | None:
    """`Retry-After` as seconds: a number, or an HTTP date (RFC 9110 allows both)."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


class _RedactSecrets(logging.Filter):
    """Replaces registered secrets in records of the logger it is attached to (httpx's own)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            if any(secret in message for secret in self.secrets):
                for secret in self.secrets:
                    message = message.replace(secret, "***")
                record.msg = message
                record.args = None
        return True


_REDACTOR = _RedactSecrets()


def _register_secret(secret: str) -> None:
    """httpx logs every request URL at INFO, and our key is in that URL's query: redact it there."""
    _REDACTOR.secrets.add(secret)
    httpx_logger = logging.getLogger("httpx")
    if _REDACTOR not in httpx_logger.filters:
        httpx_logger.addFilter(_REDACTOR)


class OddsApiClient:
    """`OddsSource` over The Odds API v4 (`GET {base_url}/v4/sports/{sport}/odds`).

    `http` is the app's shared `httpx.AsyncClient` (the app factory owns and closes it). `clock` is
    the aware-UTC wall clock that stamps snapshots and drives the circuit breaker; `sleep` (tenacity's,
    between attempts) and `rng` (the backoff's jitter) are injectable so tests run instantly and
    deterministically.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        feed: FeedSettings,
        api_key: str,
        *,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        recorder: TapeRecorder | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("an Odds API key is required")
        self._http = http
        self._feed = feed
        self._api_key = api_key
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._recorder = recorder
        self._backoff = wait_exponential(multiplier=feed.backoff_seconds, exp_base=2)
        self.breaker = breaker or CircuitBreaker(
            feed.breaker_failures,
            feed.breaker_cooldown_seconds,
            clock=lambda: self._clock().timestamp(),
        )
        self.url = f"{feed.base_url.rstrip('/')}/v4/sports/{feed.sport}/odds"
        self.last_quota: Quota | None = None
        _register_secret(api_key)

    @property
    def cost_per_poll(self) -> int:
        """Credits one poll costs: markets × regions (see `engine.cadence.estimated_cost`)."""
        regions = [r for r in self._feed.regions.split(",") if r.strip()]
        return estimated_cost(len(self._feed.markets), max(1, len(regions)))

    def _params(self) -> dict[str, str]:
        params = {
            "apiKey": self._api_key,
            "regions": self._feed.regions,
            "markets": ",".join(self._feed.markets),
            "oddsFormat": "american",
            "dateFormat": "iso",
        }
        if self._feed.bookmakers:
            params["bookmakers"] = ",".join(self._feed.bookmakers)
        return params

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***")

    async def fetch(self) -> RawSnapshot:
        """Poll once (with retries). Raises a `FeedError`; never returns a partial snapshot."""
        self.breaker.before_call()
        try:
            snapshot = self._snapshot(await self._get_with_retries())
        except FeedError:
            self.breaker.record_failure()
            raise
        except BaseException:
            self.breaker.release()
            raise
        self.breaker.record_success()
        self.last_quota = snapshot.quota
        if self._recorder is not None:
            try:
                self._recorder.append(snapshot)
            except (OSError, TypeError, ValueError):
                logger.exception("could not append the snapshot to the tape %s", self._recorder.path)
        return snapshot

    async def _get_with_retries(self) -> httpx.Response:
        """The 2xx response, after up to `feed.max_retries` retries of what `_retryable` allows."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._feed.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(_retryable),
            before_sleep=self._log_retry,
            sleep=self._sleep,
            reraise=True,  # the last attempt's own error, sorted into a `FeedError` below
        )
        try:
            return await retrying(self._get)
        except (httpx.HTTPError, _Answer) as exc:
            raise self._feed_error(exc, retrying.statistics["attempt_number"]) from None

    async def _get(self) -> httpx.Response:
        """One GET: the response if 2xx, else `_Answer`; httpx's own errors pass through."""
        timeout = httpx.Timeout(self._feed.timeout_seconds)
        response = await self._http.get(self.url, params=self._params(), timeout=timeout)
        status = response.status_code
        if 200 <= status < 300:
            return response
        retry_after = _retry_after(response.headers, self._clock()) if status in (429, 503) else None
        raise _Answer(response, retry_after)

    def _wait(self, state: RetryCallState) -> float:
        """The server's `Retry-After` when it sent one (429, 503); else exponential backoff plus up to 10%."""
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _Answer) and exc.retry_after is not None:
            return exc.retry_after
        return self._backoff(state) * (1.0 + _JITTER * self._rng())

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        logger.warning(
            "GET %s attempt %d/%d: %s; retrying in %.1fs",
            self.url,
            state.attempt_number,
            self._feed.max_retries + 1,
            self._problem(exc),
            state.upcoming_sleep,
        )

    def _problem(self, exc: BaseException | None) -> str:
        if isinstance(exc, httpx.TimeoutException):
            return f"timed out after {self._feed.timeout_seconds}s ({type(exc).__name__})"
        if isinstance(exc, httpx.TransportError):
            return f"transport error: {type(exc).__name__}: {self._redact(str(exc))}"
        return str(exc)  # an `_Answer`: "HTTP 503"

    def _feed_error(self, exc: httpx.HTTPError | _Answer, attempts: int) -> FeedError:
        """What a fetch raises once tenacity has stopped: retries used up, or an error not worth one."""
        status = exc.status if isinstance(exc, _Answer) else None
        retry_after = exc.retry_after if isinstance(exc, _Answer) else None
        if _retryable(exc):
            return FeedTemporaryError(
                f"GET {self.url} failed after {attempts} attempts: {self._problem(exc)}",
                status=status,
                retry_after=retry_after,
            )
        if not isinstance(exc, _Answer):  # e.g. too many redirects: not worth a retry
            return FeedTemporaryError(f"GET {self.url} failed: {type(exc).__name__}: {self._redact(str(exc))}")
        if exc.status in (401, 403):
            return FeedAuthError(
                f"GET {self.url} refused the API key: HTTP {exc.status} {self._body_hint(exc.response)}",
                status=exc.status,
            )
        if retry_after is not None:  # a 429 or 503 asking for more than MAX_RETRY_AFTER_SECONDS
            return FeedTemporaryError(
                f"GET {self.url}: HTTP {exc.status}, Retry-After {retry_after:.0f}s",
                status=exc.status,
                retry_after=retry_after,
            )
        return FeedTemporaryError(
            f"GET {self.url} returned HTTP {exc.status} {self._body_hint(exc.response)}", status=exc.status
        )

    def _body_hint(self, response: httpx.Response) -> str:
        """The start of an error body (The Odds API explains refusals there), secrets removed."""
        with contextlib.suppress(Exception):
            text = response.text.strip()
            if text:
                return self._redact(text[:200])
        return ""

    def _snapshot(self, response: httpx.Response) -> RawSnapshot:
        fetched_at = self._clock()
        quota = parse_quota(response.headers)
        try:
            data = response.json()
        except (ValueError, UnicodeDecodeError):
            raise FeedDataError(f"GET {self.url}: body is not JSON ({len(response.content)} bytes)") from None
        if not isinstance(data, list):
            raise FeedDataError(f"GET {self.url}: body is a JSON {type(data).__name__}, not the event array")
        logger.debug("GET %s: %d events, credits remaining %s", self.url, len(data), quota.remaining if quota else "?")
        return RawSnapshot(fetched_at=fetched_at, data=data, quota=quota)
