"""Times as a bettor reads them in a picker: "in 3 h 20 min", "12 min ago" — relative to the clock the
caller passes (the demo runs on a shifted clock), never a UTC clock time a member must convert.

Pure functions. Every span is rounded down, so "tips in 45 min" never promises more time than is left."""

from __future__ import annotations

from datetime import datetime, timedelta

#: Below this, hours keep their minutes ("3 h 20 min"): near tip-off the minutes matter.
_MINUTES_SHOWN = timedelta(hours=10)
#: From this on, whole days ("3 days"); before it, whole hours ("30 h"), which need no time zone.
_DAYS_SHOWN = timedelta(hours=48)


def span(delta: timedelta) -> str:
    """A non-negative duration, rounded down: "45 min", "3 h", "3 h 20 min", "30 h", "3 days".
    Anything under a minute is "0 min" (callers word that case themselves)."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if delta < _MINUTES_SHOWN:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    if delta < _DAYS_SHOWN:
        return f"{hours} h"
    return f"{hours // 24} days"


def ago(at: datetime, now: datetime) -> str:
    """How long before `now` something happened: "just now" (under a minute, or in the future), "12 min ago"."""
    delta = now - at
    return "just now" if delta < timedelta(minutes=1) else f"{span(delta)} ago"
