"""Signals, newest first, as API keys see them (access.ApiAudience: real time, full diagnostics)."""

from __future__ import annotations

from api.http import (
    LIMIT,
    Call,
    ChoiceParam,
    CursorParam,
    EnumParam,
    IntParam,
    InvalidParameter,
    Operation,
    PathParam,
    StrParam,
    TimeParam,
    cursor_time,
    page,
)
from api.schemas import SCORE_MAX, SCORE_MIN, Grade, Signal, SignalDetail, SignalPage
from engine.models import Market, SignalType
from services import signals as signal_service

AUDIENCE = (
    "Every API plan sees signals in real time with full diagnostics (exact score and breakdown, velocity, "
    "magnitude, books, details) and the entry — the book, point and price to take. A signal is derived data "
    "and is always served, whatever the operator's raw-odds licence."
)


async def list_signals(call: Call) -> SignalPage:
    p = call.params
    if p["since"] is not None and p["until"] is not None and p["until"] <= p["since"]:
        raise InvalidParameter("until", "“until” must be later than “since”.")
    c = p["cursor"]
    views = await signal_service.api_signals(
        call.ctx,
        call.audience,
        since=p["since"],
        until=p["until"],
        game_id=p["game"],
        kind=p["type"],
        market=p["market"],
        preset=p["preset"],
        min_score=p["min_score"],
        limit=p["limit"] + 1,
        before=(cursor_time(c[0]), c[1]) if c else None,
    )
    return page(SignalPage, views, p["limit"], "signals", lambda v: [v.created_at.isoformat(), v.id], Signal.build)


async def get_signal(call: Call) -> SignalDetail:
    view, grade = await signal_service.api_signal(call.ctx, call.audience, call.path("signal_id"))
    return SignalDetail(**dict(Signal.build(view)), grade=Grade.build(grade) if grade else None)


ROUTES = (
    Operation(
        "GET",
        "/signals",
        list_signals,
        "listSignals",
        "Signals, newest first, with full diagnostics",
        SignalPage,
        "signals",
        params=(
            TimeParam("since", "Only signals created at or after this instant (RFC 3339, with Z or an offset)."),
            TimeParam("until", "Only signals created before this instant (RFC 3339, with Z or an offset)."),
            EnumParam("type", "Only this type.", kind=SignalType),
            StrParam("game", "Only this game's signals."),
            EnumParam("market", "Only this market.", kind=Market),
            ChoiceParam(
                "preset", "Only signals passing this quality preset.", choices=lambda settings: list(settings.presets)
            ),
            IntParam("min_score", "Only signals scoring at least this.", low=SCORE_MIN, high=SCORE_MAX),
            LIMIT,
            CursorParam("cursor", "Opaque cursor from the previous page's `next_cursor`.", kind="signals", size=2),
        ),
        errors=(400,),
        description=AUDIENCE,
        cached=True,
    ),
    Operation(
        "GET",
        "/signals/{signal_id}",
        get_signal,
        "getSignal",
        "One signal with its CLV grade once graded",
        SignalDetail,
        "signals",
        params=(PathParam("signal_id", "A signal id."),),
        errors=(400, 404),
        description=AUDIENCE,
        cached=True,
    ),
)
