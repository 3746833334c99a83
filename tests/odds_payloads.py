"""The Christmas 2024 Odds API v4 payload (`fixtures/nba_odds_2024-12-25_featured.json`) and the small
helpers that load, edit and parse it: shared by the parser's unit tests and the feed bounds' integration
tests, so neither imports the other's test module."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

from engine.models import Snapshot
from engine.providers.base import RawSnapshot
from engine.providers.parse import parse_snapshot
from tests.paths import FIXTURES

XMAS = "nba_odds_2024-12-25_featured.json"
KNICKS_SPURS = "973a6ea86af7d9e2bf4c52509822f5bf"
#: The quotes the Christmas payload parses to: 30 + 30 + 27 + 12 over its four games.
XMAS_LINES = 30 + 30 + 27 + 12


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def total_lines(snapshot: Snapshot) -> int:
    return sum(len(event.lines) for event in snapshot.events)


def xmas_data() -> list[Any]:
    """A fresh copy of the Christmas events, for a test to break."""
    return copy.deepcopy(load(XMAS)["data"])


def parse_data(data: Any) -> Snapshot:
    return parse_snapshot(RawSnapshot(fetched_at=datetime(2024, 12, 25, 11, 55, 38, tzinfo=UTC), data=data))


def book_of(event: dict[str, Any], key: str) -> dict[str, Any]:
    return next(b for b in event["bookmakers"] if b["key"] == key)


def market_of(event: dict[str, Any], book: str, key: str) -> dict[str, Any]:
    return next(m for m in book_of(event, book)["markets"] if m["key"] == key)
