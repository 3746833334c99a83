"""What every service needs, built once by the app factory and passed in (nothing global)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from config.settings import Settings
from engine.clock import utc_now
from engine.service import EngineService
from services.audit import AuditCache
from storage import Repositories


@dataclass(frozen=True, slots=True)
class ServiceContext:
    settings: Settings
    repos: Repositories
    engine: EngineService
    clock: Callable[[], datetime] = utc_now
    audits: AuditCache = field(default_factory=AuditCache)
