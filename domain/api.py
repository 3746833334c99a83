"""Values of the infrastructure tier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str  # the visible prefix; the secret part is only ever shown once
    owner: str
    plan: str
    created_at: datetime
    revoked_at: datetime | None = None
    rpm_override: int | None = None
    webhooks_override: int | None = None
    monthly_override: int | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    id: str
    key_id: str
    url: str
    events: tuple[str, ...]
    secret: str
    created_at: datetime
    old_secret: str | None = None
    old_secret_until: datetime | None = None
    disabled_at: datetime | None = None
    disabled_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    endpoint_id: str
    event_type: str
    payload: dict[str, Any]
    queue: str
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None = None
    failed_at: datetime | None = None
    last_status: int | None = None
