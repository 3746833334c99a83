"""poll_interval: band choice, idle, credit-budget stretch and month-end arithmetic, by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from config.settings import CadenceBand, CadenceSettings
from engine.cadence import estimated_cost, next_month_start, poll_interval

NOW = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
# Bands 1h→60s, 3h→300s, 24h→900s; idle 3600s; 500 credits a day (the config defaults).
CADENCE = CadenceSettings()


def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


def interval(tips: list[datetime], *, cost: int = 0, remaining: int | None = None, now: datetime = NOW) -> float:
    return poll_interval(tips, now, CADENCE, cost_per_poll=cost, remaining=remaining)


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        (0.25, 60),
        (1.0, 60),  # band edges are inclusive
        (1.01, 300),
        (3.0, 300),
        (10, 900),
        (24, 900),
        (24.5, 3600),  # beyond every band: idle
        (200, 3600),
    ],
)
def test_band_of_the_nearest_future_tip(hours: float, expected: float) -> None:
    assert interval([at(hours), at(hours + 30)]) == expected


def test_past_tips_are_ignored() -> None:
    assert interval([at(-0.5), at(-3), at(5)]) == 900
    assert interval([at(-0.5), NOW]) == 3600  # a tip exactly now is live, not upcoming
    assert interval([]) == 3600


def test_bands_are_sorted_before_use() -> None:
    unsorted = CadenceSettings.model_construct(
        bands=[
            CadenceBand(within_hours=24, interval_seconds=900),
            CadenceBand(within_hours=2, interval_seconds=120),
        ],
        idle_interval_seconds=3600,
        daily_credit_budget=10_000,
        tick_seconds=30,
    )
    assert poll_interval([at(1)], NOW, unsorted, cost_per_poll=0, remaining=None) == 120


def test_budget_stretches_the_interval() -> None:
    # 60 s polling at 3 credits = 1440 polls × 3 = 4320 credits/day > 500: 86400 × 3 / 500 = 518.4 s
    assert interval([at(0.5)], cost=3) == pytest.approx(518.4)
    # 900 s polling = 96 polls × 3 = 288 credits/day ≤ 500: unchanged
    assert interval([at(10)], cost=3) == 900
    # 1 credit a poll at 60 s = 1440/day > 500: 86400 / 500 = 172.8 s
    assert interval([at(0.5)], cost=1) == pytest.approx(172.8)


def test_remaining_credits_cap_the_daily_budget() -> None:
    # 2025-01-10 12:00 → 2025-02-01 00:00 is 21.5 days; 2150 credits left → 100 a day.
    # 900 s polling at 3 credits = 288/day > 100 → 86400 × 3 / 100 = 2592 s
    assert interval([at(10)], cost=3, remaining=2150) == pytest.approx(2592.0)
    # Plenty left: the configured 500/day stays the cap → the band's 900 s stands.
    assert interval([at(10)], cost=3, remaining=1_000_000) == 900


def test_month_end_remaining() -> None:
    # 6 hours before the reset (0.25 day) with 30 credits left → 120 a day (< 500 configured).
    now = datetime(2025, 1, 31, 18, 0, tzinfo=UTC)
    tip = now + timedelta(minutes=30)
    # 60 s at 3 credits = 4320/day > 120 → 86400 × 3 / 120 = 2160 s
    assert interval([tip], cost=3, remaining=30, now=now) == pytest.approx(2160.0)
    # December rolls over to January of the next year.
    assert next_month_start(datetime(2025, 12, 31, 23, 0, tzinfo=UTC)) == datetime(2026, 1, 1, tzinfo=UTC)
    assert next_month_start(datetime(2025, 2, 1, 0, 0, tzinfo=UTC)) == datetime(2025, 3, 1, tzinfo=UTC)


def test_no_credits_left_waits_idle_or_until_the_reset() -> None:
    # Mid-month: wait at least the idle interval even with a game about to tip.
    assert interval([at(0.5)], cost=3, remaining=0) == 3600
    # 20 minutes before the reset: wait until the reset, not a whole idle hour.
    now = datetime(2025, 1, 31, 23, 40, tzinfo=UTC)
    assert interval([now + timedelta(minutes=30)], cost=3, remaining=0, now=now) == pytest.approx(1200.0)
    # Negative balances (the API can overdraw) count as none.
    assert interval([at(0.5)], cost=3, remaining=-5) == 3600


def test_zero_cost_never_stretches() -> None:
    assert interval([at(0.5)], cost=0, remaining=1) == 60


def test_naive_now_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        poll_interval([], datetime(2025, 1, 1), CADENCE, cost_per_poll=1, remaining=None)  # noqa: DTZ001


def test_estimated_cost() -> None:
    assert estimated_cost(3, 1) == 3
    assert estimated_cost(3, 2) == 6
    assert estimated_cost(0, 4) == 0
    with pytest.raises(ValueError):
        estimated_cost(-1, 1)
