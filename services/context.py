"""What every service needs, built once by the app factory and passed in (nothing global)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from config.settings import Settings
from engine.clock import utc_now
from engine.service import EngineService
from services.audit import AuditCache
from storage import Repositories


@dataclass(frozen=True, slots=True)
class DemoInfo:
    """The bot runs the demo: the bundled real tape, replayed with every timestamp moved by `offset`.

    Whatever the demo shows says so (`label`), with the real date its numbers are from: never live.
    """

    original_date: date  # the tape's first day (UTC)
    offset: timedelta  # added to every timestamp of the tape
    league: str = "WNBA"

    def label(self, at: datetime | None = None) -> str:
        """E.g. "Demo: real WNBA odds of 2026-08-05, replayed": the day of `at` (a shifted time) on the
        tape, else the tape's first day."""
        day = (at - self.offset).date() if at is not None else self.original_date
        return f"Demo: real {self.league} odds of {day:%Y-%m-%d}, replayed"


@dataclass(frozen=True, slots=True)
class ServiceContext:
    settings: Settings
    repos: Repositories
    engine: EngineService
    clock: Callable[[], datetime] = utc_now
    audits: AuditCache = field(default_factory=AuditCache)
    demo: DemoInfo | None = None  # the Discord demo: the bundled tape replayed, shifted in time
