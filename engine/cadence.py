"""How long to wait before the next poll: fast near tip-off, slow when idle, never over budget.

Pure: the caller passes the tips, the time and the last known credit balance. The Odds API charges
per call `markets × regions` credits and resets the monthly quota; we assume the reset happens at the
start of the next UTC month (the usual billing cycle; a later reset only makes us more frugal than needed).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from config.settings import CadenceSettings

__all__ = ["estimated_cost", "next_month_start", "poll_interval"]

SECONDS_PER_DAY = 86_400.0


def estimated_cost(markets: int, regions: int) -> int:
    """Credits one `/odds` call costs: The Odds API charges markets × regions per call.

    (Naming bookmakers instead of regions counts every group of up to 10 books as one region.)
    """
    if markets < 0 or regions < 0:
        raise ValueError("markets and regions must be >= 0")
    return markets * regions


def next_month_start(now: datetime) -> datetime:
    """00:00 UTC on the first day of the month after `now` (when we assume the quota resets)."""
    now = now.astimezone(UTC)
    if now.month == 12:
        return datetime(now.year + 1, 1, 1, tzinfo=UTC)
    return datetime(now.year, now.month + 1, 1, tzinfo=UTC)


def poll_interval(
    tips: Iterable[datetime],
    now: datetime,
    cadence: CadenceSettings,
    *,
    cost_per_poll: int,
    remaining: int | None,
) -> float:
    """Seconds until the next poll.

    1. Base interval: take the nearest tip after `now` (tips at or before `now` are ignored, those
       games are live or over); the first band (by `within_hours`, ascending) with
       `hours_to_tip <= within_hours` gives `interval_seconds`. No such tip → `idle_interval_seconds`.
    2. Budget: `daily_budget = daily_credit_budget`, or, when `remaining` is known,
       `min(daily_credit_budget, remaining / days_to_reset)` with `days_to_reset` the (fractional)
       days until the start of the next UTC month. Polling every `interval` costs
       `86400 / interval × cost_per_poll` a day; when that exceeds the budget the interval stretches
       to `86400 × cost_per_poll / daily_budget`, which spends exactly the budget.
    3. `remaining <= 0`: polling now would only be refused, so wait at least the idle interval (or
       the stretched base, if longer), but not past the reset (minimum 1 s).
    """
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if cost_per_poll < 0:
        raise ValueError("cost_per_poll must be >= 0")

    future = [tip for tip in tips if tip > now]
    interval = cadence.idle_interval_seconds
    if future:
        hours_to_tip = (min(future) - now).total_seconds() / 3600.0
        for band in sorted(cadence.bands, key=lambda b: b.within_hours):
            if hours_to_tip <= band.within_hours:
                interval = band.interval_seconds
                break

    to_reset = (next_month_start(now) - now).total_seconds()
    if remaining is not None and remaining <= 0:
        return max(1.0, min(max(interval, cadence.idle_interval_seconds), to_reset))

    daily_budget = float(cadence.daily_credit_budget)
    if remaining is not None:
        daily_budget = min(daily_budget, remaining / (to_reset / SECONDS_PER_DAY))
    if cost_per_poll > 0 and SECONDS_PER_DAY / interval * cost_per_poll > daily_budget:
        interval = SECONDS_PER_DAY * cost_per_poll / daily_budget
    return interval
