"""JSON shapes for the webhooks (versioned: `API_VERSION`), built by the same models as the REST API
(`api.schemas`), so an endpoint and a webhook describe a signal identically."""

from __future__ import annotations

from typing import Any

from access import Tier, view_signal
from api.schemas import API_VERSION, Grade, Signal, iso
from engine.models import Grade as GradeRecord
from engine.models import Signal as SignalRecord

__all__ = ["API_VERSION", "grade_json", "iso", "signal_json"]


def signal_json(signal: SignalRecord) -> dict[str, Any]:
    """A signal as API keys see it (full diagnostics), as a JSON-ready dict."""
    return Signal.build(view_signal(signal, Tier.PRO)).as_json()


def grade_json(grade: GradeRecord) -> dict[str, Any]:
    return Grade.build(grade).as_json()
