"""JSON shapes for the webhooks (versioned: `API_VERSION`), built by the same models as the REST API
(`api.schemas`), so an endpoint and a webhook describe a signal identically (the document's `webhooks`
section, `api.events`, describes the envelopes)."""

from __future__ import annotations

from typing import Any

from access import Tier, view_signal
from api.schemas import API_VERSION, BestPrice, Grade, Move, Signal, iso
from engine.models import Grade as GradeRecord
from engine.models import Signal as SignalRecord
from engine.poll_moves import PollMove
from engine.price_now import PriceNow

__all__ = ["API_VERSION", "grade_json", "iso", "move_json", "signal_json"]


def signal_json(signal: SignalRecord) -> dict[str, Any]:
    """A signal as API keys see it (full diagnostics), as a JSON-ready dict."""
    return Signal.model_validate(view_signal(signal, Tier.PRO)).as_json()


def grade_json(grade: GradeRecord) -> dict[str, Any]:
    return Grade.model_validate(grade).as_json()


def move_json(move: PollMove, price: PriceNow | None) -> dict[str, Any]:
    """The `move.created` webhook's data: the move, its best price then, and its signals as `signal_json`."""
    return Move(
        id=move.id,
        game_id=move.game_id,
        market=move.market,
        side=move.side,
        created_at=move.at,
        types=list(move.types),
        score=move.score,
        best_price=None if price is None else BestPrice.model_validate(price),
        signals=[Signal.model_validate(view_signal(s, Tier.PRO)) for s in move.signals],
    ).as_json()
