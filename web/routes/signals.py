"""The signal feed (`/signals`), its live stream for Pro (`/signals/live`), and one signal (`/signals/{id}`).

Routes parse the query, call the service the bot's `/signals` and `/signal` call (`services.signals`), and
render what it returns: the tier rules (the delay, the redaction, the Pro filters, who may have the live
stream) are `access.py`'s, applied by the service.

The live stream is server-sent events (sse-starlette's `EventSourceResponse`) fed by the live hub
(`web.live`): it holds the one subscription to the engine's event bus (`engine.events.SIGNAL_CREATED`,
published after the signal is committed) and shapes and renders each new signal once per audience
(`signals.live_views`, the feed's own autoescaped row), then hands the same bytes to every open stream
whose filters (`signals.live_filter`) want it; sse-starlette writes them unchanged. A member keeps at most
`web.live_streams_per_member` streams (a new one closes their oldest with a final `closed` event), the
server at most `web.live_streams_max` (then 503 with Retry-After). A comment every `HEARTBEAT_SECONDS`
(sse-starlette's ping) keeps proxies from closing a stream; a stream idle that long also checks that its
session is still signed in. It ends when the client goes away (sse-starlette notices the disconnect and
the hub forgets the stream), when the server shuts down (`LiveHub.close_all`, run as the server starts
to drain), when it falls too far behind, and (for a Discord member whose roles must be re-read) when the
tier read at connect is due a re-check: the browser reconnects, with `Last-Event-ID`, and is sent what it
missed.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from access import NotFound, UserError, Viewer
from engine.models import Market, SignalType
from services import games, prices, signals, web_sessions
from services.signals import SignalFilter
from web.context import GET, WebContext, web_context
from web.live import LiveHub, LiveStreamsFull, Stream, sse_event
from web.members import signed_in, viewer
from web.templating import render

#: A comment line this often keeps an idle stream open through proxies; a stream idle this long also checks
#: that its member is still signed in.
HEARTBEAT_SECONDS = 15.0
#: The heartbeat's bytes (sse-starlette's ping, in our separator: the same `\n` as every event).
HEARTBEAT = ": keepalive"
#: The final event of a stream whose session was signed out (checked at each heartbeat).
SIGNED_OUT = "You signed out, so this live feed has stopped. Sign in again to follow signals live."
#: A stream that must re-check its member's tier lives at least this long.
MIN_STREAM_SECONDS = 30.0
#: What the browser waits before reconnecting a dropped stream (milliseconds).
RETRY_MS = 5000
#: The one answer for a signal that is unknown or not visible to the viewer yet: it echoes nothing.
NO_SIGNAL = "No signal with that id."
MIN_SCORE = re.compile(r"[0-9]{1,3}")
TYPES = ", ".join(t.value for t in SignalType)

#: What a live stream refused because the server is full is told to wait before trying again (seconds).
BUSY_RETRY_SECONDS = 60
BUSY = (
    "Too many live streams are open on this server right now. The feed still works: refresh the page to see "
    "new signals, or try the live feed again in a minute."
)

router = APIRouter(include_in_schema=False)


def _text(request: Request, name: str) -> str:
    return request.query_params.get(name, "").strip()


async def parse_filter(request: Request, web_ctx: WebContext) -> SignalFilter:
    """The feed's filters from the query string; an unusable value is a 400 that says what is wrong."""
    ctx = web_ctx.ctx
    game_id = None
    if game := _text(request, "game"):
        try:
            game_id = (await games.find_game(ctx, game, ctx.clock())).game.id
        except NotFound as missing:
            raise UserError(str(missing)) from None
    kind = None
    if text := _text(request, "type"):
        try:
            kind = SignalType(text.upper())
        except ValueError:
            raise UserError(f"Type must be one of {TYPES}.") from None
    market = games.parse_market(text.lower()) if (text := _text(request, "market")) else None
    min_score = None
    if text := _text(request, "min_score"):
        if not MIN_SCORE.fullmatch(text) or int(text) > 100:
            raise UserError("Minimum score must be a whole number from 0 to 100.")
        min_score = int(text)
    return SignalFilter(game_id, kind, market, min_score, _text(request, "preset")[:64] or None)


def _query(wanted: SignalFilter) -> dict[str, str]:
    shown = {
        "game": wanted.game_id,
        "type": wanted.kind.value if wanted.kind else None,
        "market": wanted.market.value if wanted.market else None,
        "min_score": str(wanted.min_score) if wanted.min_score is not None else None,
        "preset": wanted.preset,
    }
    return {key: value for key, value in shown.items() if value}


@router.api_route("/signals", methods=GET, name="signals")
async def feed_page(request: Request) -> Response:
    web_ctx = web_context(request)
    ctx = web_ctx.ctx
    member = await signed_in(request)
    who = viewer(member)
    now = ctx.clock()
    wanted = await parse_filter(request, web_ctx)
    shown = await signals.recent_signals(
        ctx,
        who,
        now,
        game_id=wanted.game_id,
        kind=wanted.kind,
        market=wanted.market,
        min_score=wanted.min_score,
        preset=wanted.preset,
    )
    options = signals.feed_options(ctx, who)
    query = _query(wanted)
    live_url = ""
    if options.live:
        live_url = request.app.url_path_for("signals_live") + (f"?{urlencode(query, quote_via=quote)}" if query else "")
    return render(
        request,
        "signals.html",
        member=member,
        rows=await signals.with_games(ctx, shown),
        wanted=wanted,
        options=options,
        preset_label=signals.preset_names(ctx).get(wanted.preset or "", ""),
        games=await games.suggest_games(ctx, "", now, limit=50),
        types=list(SignalType),
        markets=list(Market),
        live_url=live_url,
        refresh_url=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    )


# ---------------------------------------------------------------------- the live stream


async def _catch_up(hub: LiveHub, stream: Stream, who: Viewer, wanted: SignalFilter, last_id: str) -> bytes:
    """After a reconnect: what fired since the last signal the browser got, oldest first (one read for
    this stream alone, at connect: never per published signal)."""
    ctx = hub.ctx
    now = ctx.clock()
    try:
        last = await signals.one_signal(ctx, last_id, who, now)
    except NotFound:
        return b""
    w = wanted
    newer = await signals.recent_signals(
        ctx, who, now, game_id=w.game_id, kind=w.kind, market=w.market, min_score=w.min_score, preset=w.preset
    )
    stream.sent.add(last.id)
    return stream.fresh(await hub.render([v for v in reversed(newer) if v.created_at >= last.created_at]))


def _stream_deadline(web_ctx: WebContext, member: Any) -> float | None:
    """When a stream must end so its member's tier is read again (None: never, e.g. a demo member)."""
    if member is None or member.demo or web_ctx.auth is None:
        return None
    due = member.checked_at + web_ctx.settings.web.tier_recheck_seconds - web_ctx.ctx.clock().timestamp()
    return asyncio.get_running_loop().time() + max(due, MIN_STREAM_SECONDS)


@router.api_route("/signals/live", methods=GET, name="signals_live")
async def live_stream(request: Request) -> Response:
    web_ctx = web_context(request)
    member = await signed_in(request)
    who = viewer(member)
    wanted = await parse_filter(request, web_ctx)
    live_filter = signals.live_filter(web_ctx.ctx, who, wanted)  # refuses Community (403), bad filters (400)
    hub = web_ctx.live
    assert hub is not None  # noqa: S101 - built by install_web with the routes
    try:
        stream = hub.open((member.guild_id, member.user_id) if member is not None else None, who.tier, live_filter)
    except LiveStreamsFull:
        raise HTTPException(503, BUSY, headers={"Retry-After": str(BUSY_RETRY_SECONDS)}) from None
    last_id = request.headers.get("Last-Event-ID", "").strip()[:64]
    return LiveResponse(hub, stream, _events(web_ctx, hub, stream, member, who, wanted, last_id))


class LiveResponse(EventSourceResponse):
    """A live stream's answer (sse-starlette: its pings, the client's disconnect, `X-Accel-Buffering: no`
    for nginx). Whatever ends it, the client gone before its first byte included, the hub forgets it."""

    def __init__(self, hub: LiveHub, stream: Stream, events: AsyncIterator[bytes]) -> None:
        super().__init__(events, ping=HEARTBEAT_SECONDS, ping_message_factory=_heartbeat, sep="\n")
        self.hub, self.stream = hub, stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.hub.leave(self.stream)


def _heartbeat() -> ServerSentEvent:
    """The comment line sse-starlette pings with (its own carries the time, which says nothing to anyone)."""
    return ServerSentEvent(comment=HEARTBEAT.removeprefix(": "), sep="\n")


async def _events(
    web_ctx: WebContext, hub: LiveHub, stream: Stream, member: Any, who: Viewer, wanted: SignalFilter, last_id: str
) -> AsyncIterator[bytes]:
    """One stream's bytes, each written as it is (sse-starlette passes bytes through): the reconnect delay,
    what it missed, then what the hub hands it, until it ends (sse-starlette cancels it when the client goes
    away). Idle for `HEARTBEAT_SECONDS`, it checks that its member is still signed in."""
    deadline = _stream_deadline(web_ctx, member)
    loop = asyncio.get_running_loop()
    yield f"retry: {RETRY_MS}\n: live signals\n\n".encode()
    if last_id and (caught_up := await _catch_up(hub, stream, who, wanted, last_id)):
        yield caught_up
    while deadline is None or loop.time() < deadline:
        within = HEARTBEAT_SECONDS if deadline is None else min(HEARTBEAT_SECONDS, deadline - loop.time())
        out, ended = await stream.next(max(within, 0.0))
        if out:
            yield out
        elif (
            not ended
            and member is not None
            and not await web_sessions.is_live(web_ctx.ctx, member.session, member.user_id)
        ):
            yield sse_event("closed", SIGNED_OUT)  # signed out in any browser
            return
        if ended:  # the server is shutting down, the member opened too many, or it fell too far behind
            return


# after `/signals/live`, which it would match
@router.api_route("/signals/{signal_id}", methods=GET, name="signal")
async def signal_page(request: Request, signal_id: str) -> Response:
    web_ctx = web_context(request)
    ctx = web_ctx.ctx
    member = await signed_in(request)
    try:
        view, game, grade, price = await prices.signal_with_price(ctx, signal_id, viewer(member), ctx.clock())
    except NotFound:  # unknown, or younger than the viewer's delay: the same page, and no id echoed
        raise NotFound(NO_SIGNAL) from None
    return render(request, "signal.html", member=member, view=view, game=game, grade=grade, price=price)
