"""JSON shapes of the REST API and the webhooks (versioned: `API_VERSION`), in one place so an endpoint
and a webhook describe a signal identically. Times are ISO-8601 UTC with a "Z"."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from engine.audit import ClassAudit
from engine.models import BookLine, Close, Consensus, Game, Grade, Signal
from storage import StoredGame

API_VERSION = "2026-11-01"


def iso(at: datetime | None) -> str | None:
    if at is None:
        return None
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def game_json(stored: StoredGame) -> dict[str, Any]:
    game: Game = stored.game
    return {
        "id": game.id,
        "sport": game.sport_key,
        "home_team": game.home_team,
        "away_team": game.away_team,
        "commence_time": iso(game.commence_time),
        "scheduled_tip": iso(stored.scheduled_tip),
        "status": stored.status,
    }


def line_json(line: BookLine) -> dict[str, Any]:
    return {
        "book": line.book,
        "market": line.market.value,
        "point": line.point,
        "price_a": line.price_a,
        "price_b": line.price_b,
        "last_update": iso(line.last_update),
        "observed_at": iso(line.observed_at),
    }


def consensus_json(consensus: Consensus) -> dict[str, Any]:
    return {
        "market": consensus.market.value,
        "at": iso(consensus.at),
        "point": consensus.point,
        "prob_a": round(consensus.prob_a, 6),
        "books": consensus.books,
    }


def close_json(close: Close) -> dict[str, Any]:
    return {
        "market": close.market.value,
        "captured_at": iso(close.captured_at),
        "point": close.point,
        "prob_a": round(close.prob_a, 6),
        "books": close.books,
    }


def signal_json(signal: Signal) -> dict[str, Any]:
    return {
        "id": signal.id,
        "type": signal.type.value,
        "game_id": signal.game_id,
        "market": signal.market.value,
        "side": signal.side.value,
        "created_at": iso(signal.created_at),
        "commence_time": iso(signal.commence_time),
        "score": signal.score,
        "breakdown": signal.breakdown.as_dict(),
        "books": list(signal.books),
        "magnitude": signal.magnitude,
        "velocity": signal.velocity,
        "entry": {
            "book": signal.entry.book,
            "point": signal.entry.point,
            "price": signal.entry.price,
            "prob": round(signal.entry.prob, 6),
        },
        "consensus": {"point": signal.consensus_point, "prob": signal.consensus_prob},
        "details": dict(signal.details),
    }


def grade_json(grade: Grade) -> dict[str, Any]:
    return {
        "signal_id": grade.signal_id,
        "graded_at": iso(grade.graded_at),
        "close_point": grade.close_point,
        "close_prob": round(grade.close_prob, 6),
        "clv_points": grade.clv_points,
        "clv_prob": grade.clv_prob,
        "beat_close": grade.beat,
        "push": grade.push,
        "consensus_clv_points": grade.consensus_clv_points,
        "consensus_clv_prob": grade.consensus_clv_prob,
    }


def class_json(row: ClassAudit) -> dict[str, Any]:
    return row.as_dict()
