"""Quality presets ("High Confidence", "Low Noise"): named filters over signals, defined in config.

The same function serves the bot's one-click buttons, the API's `preset` parameter and the
per-preset CLV records, so a preset means one thing everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.settings import PresetSettings
from engine.audit import TIER_ORDER
from engine.models import Signal, SignalType


def is_single_book(signal: Signal) -> bool:
    """A move only one book made: every DISLOCATION, and any signal carried by one book."""
    return signal.type == SignalType.DISLOCATION or len(signal.books) <= 1


def passes(signal: Signal, preset: PresetSettings, class_tiers: Mapping[str, str] | None = None) -> bool:
    if signal.score < preset.min_score:
        return False
    if len(signal.books) < preset.min_books:
        return False
    if preset.types and signal.type.value not in preset.types:
        return False
    if not preset.allow_single_book and is_single_book(signal):
        return False
    if preset.min_class_tier:
        tier = (class_tiers or {}).get(signal.signal_class, "unrated")
        if TIER_ORDER[tier] < TIER_ORDER[preset.min_class_tier]:
            return False
    return True
