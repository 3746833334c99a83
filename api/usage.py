"""Usage accounting and anomaly rules for API keys.

What is counted (decided here, documented in the OpenAPI description of `GET /v1/usage`):

- Every request that reached a handler with a valid key counts as one request of that key, in the UTC
  minute it was answered ("YYYY-MM-DDTHH:MM", the `api_usage` row).
- 401s are never counted: there is no key to count them against.
- 429s are not counted either (neither request nor error): they did no work, and counting them would
  let a client stuck in a retry loop eat its own monthly allowance and raise spikes the limiter already
  deals with.
- An error is any other 4xx or 5xx answer. Client errors count because a burst of them (a broken
  integration) is exactly what the `error_spike` anomaly should tell the owner about; 5xx count because
  the owner's integration sees them as failures too (operators get the same anomaly).

Rules (pure functions below, so they are tested without a database):

- Monthly soft limit (0 = none): crossing 80% and 100% of it records `soft_limit_80` / `soft_limit_100`
  once per key and calendar month (UTC); requests beyond the limit still succeed but carry
  `X-Usage-Warning`.
- `rate_spike`: the current minute's count exceeds max(3 × baseline, baseline + 30), where the baseline
  is the mean count of the 60 minutes before it (quiet minutes count as 0), and only with enough
  history: requests in at least 10 of those 60 minutes (a new or idle key has no baseline to compare).
- `error_spike`: in the current minute, at least 20 requests and more than half of them errors.

Each anomaly is recorded with a dedupe key (per month for the soft limits, per minute for spikes), so a
restart or a second process cannot record it twice, and only a newly recorded anomaly reaches the
injected `on_anomaly(key, kind, detail)` callback (the app wires it to webhooks, a DM to the owner and
the operators' channel; it should enqueue, not deliver, since it runs before the response is sent).

The recorder keeps each active key's recent minutes and month total in memory (seeded from the
database the first time it sees a key, and again each new month) and counts a request in memory only:
no database work per request. The counts are written in batches (one transaction per flush) every
`flush_seconds` (default 2 s) and when the server stops. **Crash loss is bounded**: a crash (not a clean
stop) loses at most the last `flush_seconds` of counts; a failed flush keeps its counts for the next one.
`GET /v1/usage` reads the database counters plus this process's unflushed counts, so it is exact for one
process; several API processes would each see only their own share in memory for the anomaly rules,
while the database counters converge within one flush interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from access import PlanLimits
from domain.api import ApiKey
from services import usage as usage_store

if TYPE_CHECKING:
    from storage import Repositories

__all__ = [
    "BASELINE_MINUTES",
    "Anomaly",
    "AnomalyCallback",
    "UsageOutcome",
    "UsageRecorder",
    "UsageReport",
    "counts_as_request",
    "day_range",
    "error_spike",
    "is_error",
    "minute_key",
    "month_range",
    "rate_spike_threshold",
    "soft_limit_crossed",
    "soft_limit_thresholds",
    "usage_warning",
]

log = logging.getLogger(__name__)

BASELINE_MINUTES = 60
SPIKE_FACTOR = 3.0
SPIKE_MARGIN = 30
MIN_ACTIVE_MINUTES = 10
ERROR_SPIKE_MIN_REQUESTS = 20
ERROR_SPIKE_SHARE = 0.5
SOFT_LIMIT_LEVELS = (("soft_limit_80", 0.8), ("soft_limit_100", 1.0))

#: Answers that are not counted at all (see the module docstring).
UNCOUNTED = frozenset({401, 429})

AnomalyCallback = Callable[[ApiKey, str, str], Awaitable[None]]


# ---------------------------------------------------------------------- pure rules


def minute_key(at: datetime) -> str:
    """The `api_usage.minute` of an instant: "YYYY-MM-DDTHH:MM" in UTC (text order is time order)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def day_range(at: datetime) -> tuple[str, str]:
    """Minute-key bounds [from, to) of the UTC day holding `at`, for `ApiRepository.requests_in`."""
    day = at.astimezone(UTC).date()
    return day.isoformat(), (day + timedelta(days=1)).isoformat()


def month_range(at: datetime) -> tuple[str, str]:
    """Minute-key bounds [from, to) of the UTC calendar month holding `at` ("2026-11", "2026-12")."""
    utc = at.astimezone(UTC)
    year, month = (utc.year + 1, 1) if utc.month == 12 else (utc.year, utc.month + 1)
    return f"{utc.year:04d}-{utc.month:02d}", f"{year:04d}-{month:02d}"


def counts_as_request(status: int) -> bool:
    return status not in UNCOUNTED


def is_error(status: int) -> bool:
    """4xx/5xx other than 401 and 429 (those are not counted at all)."""
    return status >= 400 and status not in UNCOUNTED


def soft_limit_thresholds(limit: int) -> dict[str, int]:
    """Request counts at which each soft-limit anomaly fires (80% rounded up, 100%); none for no limit."""
    if limit <= 0:
        return {}
    return {kind: max(1, math.ceil(share * limit)) for kind, share in SOFT_LIMIT_LEVELS}


def soft_limit_crossed(total: int, limit: int) -> list[str]:
    """The soft-limit levels a month total has reached (the recorder dedupes them per month)."""
    return [kind for kind, threshold in soft_limit_thresholds(limit).items() if total >= threshold]


def usage_warning(total: int, limit: int) -> str | None:
    """The `X-Usage-Warning` text for a request beyond the monthly soft limit, else None."""
    if limit <= 0 or total <= limit:
        return None
    return f"monthly soft limit exceeded: {total} of {limit} requests this month; requests still succeed"


def rate_spike_threshold(previous: Sequence[int]) -> float | None:
    """The count the current minute must exceed to be a spike, given the previous minutes' counts
    (quiet minutes as 0); None without enough history (fewer than 10 active minutes)."""
    if sum(1 for n in previous if n > 0) < MIN_ACTIVE_MINUTES:
        return None
    baseline = sum(previous) / max(1, len(previous))
    return max(SPIKE_FACTOR * baseline, baseline + SPIKE_MARGIN)


def error_spike(requests: int, errors: int) -> bool:
    """More than half of at least 20 requests in the minute were errors."""
    return requests >= ERROR_SPIKE_MIN_REQUESTS and errors > ERROR_SPIKE_SHARE * requests


# ---------------------------------------------------------------------- the recorder


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: str
    detail: str
    at: datetime


@dataclass(frozen=True, slots=True)
class UsageOutcome:
    """What counting one request found: the counts after it, a warning header, new anomalies."""

    minute_requests: int
    minute_errors: int
    month_requests: int
    warning: str | None = None
    anomalies: tuple[Anomaly, ...] = ()


@dataclass(frozen=True, slots=True)
class UsageReport:
    """A key's usage as `GET /v1/usage` shows it, read from the database counters."""

    minute: str
    minute_requests: int
    minute_errors: int
    today: int
    month: int
    monthly_soft_limit: int
    anomalies: tuple[Anomaly, ...]

    @property
    def monthly_remaining(self) -> int | None:
        if self.monthly_soft_limit <= 0:
            return None
        return max(0, self.monthly_soft_limit - self.month)


@dataclass(slots=True)
class _KeyState:
    month: str
    month_total: int
    minutes: dict[str, list[int]] = field(default_factory=dict)  # minute -> [requests, errors]
    last_minute: str = ""
    flagged: set[str] = field(default_factory=set)  # dedupe keys already recorded by this process
    baseline: tuple[str, float | None, float] | None = None  # (minute, spike threshold, baseline) of that minute


#: Seconds between two writes of the counts (the most a crash can lose).
FLUSH_SECONDS = 2.0


class UsageRecorder:
    """Counts requests per key and minute in memory, applies the anomaly rules, and writes the counts in
    batches (one instance per app)."""

    def __init__(
        self, repos: Repositories, on_anomaly: AnomalyCallback | None = None, flush_seconds: float = FLUSH_SECONDS
    ) -> None:
        self._repos = repos
        self._on_anomaly = on_anomaly
        self._states: dict[str, _KeyState] = {}
        self._seed_lock = asyncio.Lock()
        self._pending: dict[tuple[str, str], list[int]] = {}  # (key id, minute) -> [requests, errors]
        self._flush_lock = asyncio.Lock()
        self._flush_seconds = flush_seconds
        self._last_flush = time.monotonic()
        self._task: asyncio.Task | None = None
        self._flusher: asyncio.Task | None = None
        self._minute_memo: tuple[int, str] = (-1, "")

    # ------------------------------------------------------------------ batching

    @property
    def pending(self) -> int:
        """Requests counted but not yet written."""
        return sum(c[0] for c in self._pending.values())

    async def flush(self) -> int:
        """Write the pending counts in one transaction; on failure they stay pending. Returns rows written."""
        async with self._flush_lock:
            batch, self._pending = self._pending, {}
            self._last_flush = time.monotonic()
            if not batch:
                return 0
            try:
                await usage_store.add_counts(self._repos, ((k, m, c[0], c[1]) for (k, m), c in batch.items()))
            except BaseException:
                for slot, counts in batch.items():  # keep them for the next flush
                    mine = self._pending.setdefault(slot, [0, 0])
                    mine[0] += counts[0]
                    mine[1] += counts[1]
                raise
            return len(batch)

    def maybe_flush(self) -> None:
        """Start a flush in the background when the last one is `flush_seconds` old (called per request)."""
        due = self._pending and time.monotonic() - self._last_flush >= self._flush_seconds
        if due and (self._flusher is None or self._flusher.done()):
            self._last_flush = time.monotonic()
            self._flusher = asyncio.create_task(self._guarded_flush())

    async def _guarded_flush(self) -> None:
        try:
            await self.flush()
        except Exception:
            log.exception("usage flush failed; the counts stay pending")

    async def start(self) -> None:
        """Flush every `flush_seconds` until `close` (the server's startup hook)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_seconds)
            await self._guarded_flush()

    async def close(self) -> None:
        """Stop the periodic flush and write what is pending (the server's cleanup hook)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await self._flusher
        await self._guarded_flush()

    def _pending_for(self, key_id: str, start: str, end: str) -> int:
        return sum(c[0] for (k, m), c in self._pending.items() if k == key_id and start <= m < end)

    # ------------------------------------------------------------------ counting

    async def _state(self, key_id: str, now: datetime) -> _KeyState:
        state = self._states.get(key_id)
        if state is not None and state.month == self._minute(now)[:7]:  # "YYYY-MM", as `month_range` writes it
            return state
        month = month_range(now)
        # Seeding awaits the database; the lock keeps two first requests of a key from both seeding.
        async with self._seed_lock:
            state = self._states.get(key_id)
            if state is not None and state.month == month[0]:
                return state
            since = minute_key(now - timedelta(minutes=BASELINE_MINUTES))
            rows = await usage_store.recent_minutes(self._repos, key_id, since)
            total = await usage_store.requests_in(self._repos, key_id, *month) + self._pending_for(key_id, *month)
            minutes = {m: [r, e] for m, r, e in rows}
            for (k, m), c in self._pending.items():
                if k == key_id and m >= since:
                    slot = minutes.setdefault(m, [0, 0])
                    slot[0] += c[0]
                    slot[1] += c[1]
            state = _KeyState(month=month[0], month_total=total, minutes=minutes)
            self._states[key_id] = state
            return state

    def _minute(self, now: datetime) -> str:
        """`minute_key(now)`, worked out once a minute (this runs on every request)."""
        number = int(now.timestamp() // 60)
        if number != self._minute_memo[0]:
            self._minute_memo = (number, minute_key(now))
        return self._minute_memo[1]

    async def record(self, key: ApiKey, limits: PlanLimits, status: int, now: datetime) -> UsageOutcome | None:
        """Count one answered request (None if its status is not counted) and raise any anomaly."""
        if not counts_as_request(status):
            return None
        error = is_error(status)
        minute = self._minute(now)
        state = await self._state(key.id, now)
        if minute != state.last_minute:
            oldest = minute_key(now - timedelta(minutes=BASELINE_MINUTES))
            state.minutes = {m: c for m, c in state.minutes.items() if m >= oldest}
            # Spike dedupe keys are per minute and can never match again; the month's soft-limit ones stay.
            state.flagged = {f for f in state.flagged if ":soft_limit_" in f}
            state.last_minute = minute
        counts = state.minutes.setdefault(minute, [0, 0])
        counts[0] += 1
        counts[1] += int(error)
        state.month_total += 1
        pending = self._pending.setdefault((key.id, minute), [0, 0])
        pending[0] += 1
        pending[1] += int(error)

        found: list[tuple[str, str, str]] = []  # (kind, detail, dedupe key)
        for kind in soft_limit_crossed(state.month_total, limits.monthly_soft_limit):
            dedupe = f"{key.id}:{kind}:{state.month}"
            if dedupe not in state.flagged:
                detail = f"{state.month_total} of {limits.monthly_soft_limit} monthly requests used ({state.month})"
                found.append((kind, detail, dedupe))
        if counts[0] > SPIKE_MARGIN and f"{key.id}:rate_spike:{minute}" not in state.flagged:
            if state.baseline is None or state.baseline[0] != minute:
                # The previous 60 minutes do not change within this one: work the threshold out once.
                previous = [
                    state.minutes.get(minute_key(now - timedelta(minutes=i)), [0, 0])[0]
                    for i in range(1, BASELINE_MINUTES + 1)
                ]
                state.baseline = (minute, rate_spike_threshold(previous), sum(previous) / len(previous))
            _, threshold, baseline = state.baseline
            if threshold is not None and counts[0] > threshold:
                detail = f"{counts[0]} requests in {minute} against a baseline of {baseline:.1f}/min"
                found.append(("rate_spike", detail, f"{key.id}:rate_spike:{minute}"))
        if error_spike(counts[0], counts[1]):
            detail = f"{counts[1]} of {counts[0]} requests in {minute} were errors"
            found.append(("error_spike", detail, f"{key.id}:error_spike:{minute}"))

        anomalies = []
        for kind, detail, dedupe in found:
            if dedupe in state.flagged:
                continue
            state.flagged.add(dedupe)
            anomaly = await self._raise(key, kind, detail, now, dedupe)
            if anomaly is not None:
                anomalies.append(anomaly)
        return UsageOutcome(
            minute_requests=counts[0],
            minute_errors=counts[1],
            month_requests=state.month_total,
            warning=usage_warning(state.month_total, limits.monthly_soft_limit),
            anomalies=tuple(anomalies),
        )

    async def _raise(self, key: ApiKey, kind: str, detail: str, now: datetime, dedupe: str) -> Anomaly | None:
        """Record an anomaly once (dedupe key) and tell the callback; a failing callback is logged only."""
        new = await usage_store.record_anomaly(self._repos, key.id, kind, detail, now, dedupe)
        if not new:
            return None
        log.info("API key %s anomaly %s: %s", key.id, kind, detail)
        if self._on_anomaly is not None:
            try:
                await self._on_anomaly(key, kind, detail)
            except Exception:
                log.exception("on_anomaly callback failed for key %s (%s)", key.id, kind)
        return Anomaly(kind=kind, detail=detail, at=now)

    async def report(self, key: ApiKey, limits: PlanLimits, now: datetime, anomalies: int = 20) -> UsageReport:
        """The key's counters from the database plus this process's unflushed counts, with its recent anomalies."""
        minute = minute_key(now)
        rows = await usage_store.recent_minutes(self._repos, key.id, minute)
        stored = next(((r, e) for m, r, e in rows if m == minute), (0, 0))
        extra = self._pending.get((key.id, minute), [0, 0])
        recent: list[dict[str, Any]] = await usage_store.anomalies(self._repos, key.id, limit=anomalies)
        day, month = day_range(now), month_range(now)
        return UsageReport(
            minute=minute,
            minute_requests=stored[0] + extra[0],
            minute_errors=stored[1] + extra[1],
            today=await usage_store.requests_in(self._repos, key.id, *day) + self._pending_for(key.id, *day),
            month=await usage_store.requests_in(self._repos, key.id, *month) + self._pending_for(key.id, *month),
            monthly_soft_limit=limits.monthly_soft_limit,
            anomalies=tuple(Anomaly(kind=a["kind"], detail=a["detail"], at=a["at"]) for a in recent),
        )
