"""Quality presets ("High Confidence", "Low Noise"): named filters over signals, defined in config.

A preset is defined from measured lift, not from the score alone: `class_lift = "proven"` keeps
only signals of classes whose lift interval over the matched null lies above zero, `"positive"`
those whose measured lift is above zero. No preset takes a signal of a refuted class
(`engine.alert_state`), and one defined from the audit never rests on a class with fewer than
`clv.preset_min_graded` graded. The same function serves the bot's one-click buttons, the
API's `preset` parameter and the per-preset audit rows, so a preset means one thing everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from config.settings import PresetSettings
from engine.alert_state import REFUTED
from engine.audit import TIER_ORDER, UNPROVEN
from engine.models import Signal, SignalType


class ClassStanding(Protocol):
    """What a preset needs to know of a class's audit row."""

    tier: str
    graded: int
    lift: float | None
    lift_low: float | None
    alert_state: str | None


def is_single_book(signal: Signal) -> bool:
    """A move only one book made: every DISLOCATION, and any signal carried by one book."""
    return signal.type == SignalType.DISLOCATION or len(signal.books) <= 1


def lift_allows(standing: ClassStanding | None, rule: str) -> bool:
    if not rule:
        return True
    if standing is None or standing.lift is None:
        return False
    if rule == "positive":
        return standing.lift > 0
    return standing.lift_low is not None and standing.lift_low > 0


def passes(
    signal: Signal,
    preset: PresetSettings,
    classes: Mapping[str, ClassStanding] | None = None,
    *,
    min_graded: int,
) -> bool:
    """`classes` maps a class name ("STEAM:totals") to its audit row; needed when the preset asks for a
    class tier or lift (a class absent from it has neither), and to leave out refuted classes (every
    preset does). A preset that asks for a class tier or lift never rests on a class with fewer than
    `min_graded` graded (`clv.preset_min_graded`): a lift interval over a handful of games proves nothing."""
    standing = (classes or {}).get(signal.signal_class)
    if standing is not None and standing.alert_state == REFUTED:
        return False
    if needs_audit(preset) and (standing is None or standing.graded < min_graded):
        return False
    if signal.score < preset.min_score:
        return False
    if len(signal.books) < preset.min_books:
        return False
    if preset.types and signal.type.value not in preset.types:
        return False
    if not preset.allow_single_book and is_single_book(signal):
        return False
    if preset.min_class_tier:
        tier = standing.tier if standing is not None else UNPROVEN
        if TIER_ORDER[tier] < TIER_ORDER[preset.min_class_tier]:
            return False
    return lift_allows(standing, preset.class_lift)


def needs_audit(preset: PresetSettings) -> bool:
    return bool(preset.min_class_tier or preset.class_lift)
