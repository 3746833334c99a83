"""The signal feed (`/signals`), its live stream for Pro (`/signals/live`), and one signal (`/signals/{id}`).

Routes parse the query, call the service the bot's `/signals` and `/signal` call (`services.signals`), and
render what it returns: the tier rules (the delay, the redaction, the Pro filters, who may have the live
stream) are `access.py`'s, applied by the service.

The live stream is server-sent events: each connection subscribes to the engine's event bus
(`engine.events.SIGNAL_CREATED`, published after the signal is committed), shapes every new signal through
`signals.live_signals` (the viewer's view, the feed's filters) and pushes it as the feed's own row, rendered
by the same autoescaped template. A comment every `HEARTBEAT_SECONDS` keeps proxies from closing it; the
subscription ends when the client goes away, when the server shuts down, and (for a Discord member whose
roles must be re-read) when the tier read at connect is due a re-check: the browser reconnects, with
`Last-Event-ID`, and is sent what it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

from aiohttp import web

import access
from access import NotFound, UserError, Viewer
from engine.events import SIGNAL_CREATED
from engine.models import Market, Signal, SignalType
from services import games, signals
from services.signals import SignalFilter
from web.context import WebContext, web_context
from web.members import signed_in, viewer
from web.security import CSP, HEADERS
from web.templating import render

#: A comment line this often keeps an idle stream open through proxies.
HEARTBEAT_SECONDS = 15.0
#: How often a stream waiting for signals checks that its client is still there.
POLL_SECONDS = 1.0
#: New signals queued for one slow client before its stream is ended (it reconnects and catches up).
QUEUE_MAX = 256
#: A stream that must re-check its member's tier lives at least this long.
MIN_STREAM_SECONDS = 30.0
#: What the browser waits before reconnecting a dropped stream (milliseconds).
RETRY_MS = 5000
#: The one answer for a signal that is unknown or not visible to the viewer yet: it echoes nothing.
NO_SIGNAL = "No signal with that id."
MIN_SCORE = re.compile(r"[0-9]{1,3}")
TYPES = ", ".join(t.value for t in SignalType)

#: The open live streams' queues, so a shutdown can end them (else the server waits for them).
LIVE_STREAMS: web.AppKey[set[asyncio.Queue[Signal | None]]] = web.AppKey("stratum_live_streams", set)


def _text(request: web.Request, name: str) -> str:
    return request.query.get(name, "").strip()


async def parse_filter(request: web.Request, web_ctx: WebContext) -> SignalFilter:
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


async def feed_page(request: web.Request) -> web.Response:
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
    live_url = str(request.app.router["signals_live"].url_for().with_query(query)) if options.live else ""
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
        refresh_url=str(request.rel_url),
    )


async def signal_page(request: web.Request) -> web.Response:
    web_ctx = web_context(request)
    ctx = web_ctx.ctx
    member = await signed_in(request)
    try:
        view, game, grade = await signals.signal_detail(ctx, request.match_info["id"], viewer(member), ctx.clock())
    except NotFound:  # unknown, or younger than the viewer's delay: the same page, and no id echoed
        raise NotFound(NO_SIGNAL) from None
    return render(request, "signal.html", member=member, view=view, game=game, grade=grade)


# ---------------------------------------------------------------------- the live stream


def _event(html: str, event_id: str) -> bytes:
    data = "".join(f"data: {line}\n" for line in html.splitlines() or [""])
    return f"event: signal\nid: {event_id}\n{data}\n".encode()


class _Stream:
    """One client's live stream: the viewer and filters it was opened with, and what it already sent."""

    def __init__(self, web_ctx: WebContext, who: Viewer, wanted: SignalFilter) -> None:
        self.web_ctx, self.who, self.wanted = web_ctx, who, wanted
        self.row = web_ctx.templates.get_template("signal_row.html")
        self.sent: set[str] = set()

    async def send(self, response: web.StreamResponse, views: list[access.SignalView]) -> None:
        for view, game in await signals.with_games(self.web_ctx.ctx, views):
            if view.id in self.sent:
                continue
            self.sent.add(view.id)
            await response.write(_event(self.row.render(view=view, game=game, fresh=True), view.id))

    async def catch_up(self, response: web.StreamResponse, last_id: str) -> None:
        """After a reconnect: what fired since the last signal the browser got, oldest first."""
        ctx, now = self.web_ctx.ctx, self.web_ctx.ctx.clock()
        try:
            last = await signals.one_signal(ctx, last_id, self.who, now)
        except NotFound:
            return
        w = self.wanted
        newer = await signals.recent_signals(
            ctx, self.who, now, game_id=w.game_id, kind=w.kind, market=w.market, min_score=w.min_score, preset=w.preset
        )
        self.sent.add(last.id)
        await self.send(response, [v for v in reversed(newer) if v.created_at >= last.created_at])


def _stream_deadline(web_ctx: WebContext, member: Any) -> float | None:
    """When a stream must end so its member's tier is read again (None: never, e.g. a demo member)."""
    if member is None or member.demo or web_ctx.auth is None:
        return None
    due = member.checked_at + web_ctx.settings.web.tier_recheck_seconds - web_ctx.ctx.clock().timestamp()
    return asyncio.get_running_loop().time() + max(due, MIN_STREAM_SECONDS)


async def live_stream(request: web.Request) -> web.StreamResponse:
    web_ctx = web_context(request)
    ctx = web_ctx.ctx
    member = await signed_in(request)
    who = viewer(member)
    wanted = await parse_filter(request, web_ctx)
    await signals.live_signals(ctx, who, ctx.clock(), [], wanted)  # refuses Community (403), bad filters (400)

    queue: asyncio.Queue[Signal | None] = asyncio.Queue(maxsize=QUEUE_MAX)
    streams = request.app[LIVE_STREAMS]

    async def on_signal(signal: Signal) -> None:  # called by the engine's publish: never blocks it
        try:
            queue.put_nowait(signal)
        except asyncio.QueueFull:  # a client this far behind is ended; it reconnects and catches up
            web_ctx.bus.unsubscribe(SIGNAL_CREATED, on_signal)
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
            queue.put_nowait(None)

    stream = _Stream(web_ctx, who, wanted)
    response = web.StreamResponse(
        headers={
            **HEADERS,
            "Content-Security-Policy": CSP,
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "private, no-store",
            "Vary": "Cookie",
            "X-Accel-Buffering": "no",  # nginx: pass each event on at once
        }
    )
    deadline = _stream_deadline(web_ctx, member)
    loop = asyncio.get_running_loop()
    web_ctx.bus.subscribe(SIGNAL_CREATED, on_signal)
    streams.add(queue)
    try:
        await response.prepare(request)
        await response.write(f"retry: {RETRY_MS}\n: live signals\n\n".encode())
        if last_id := request.headers.get("Last-Event-ID", "").strip():
            await stream.catch_up(response, last_id[:64])
        idle = 0.0
        while deadline is None or loop.time() < deadline:
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            try:
                signal = await asyncio.wait_for(queue.get(), POLL_SECONDS)
            except TimeoutError:
                idle += POLL_SECONDS
                if idle >= HEARTBEAT_SECONDS:
                    idle = 0.0
                    await response.write(b": keepalive\n\n")
                continue
            if signal is None:  # the server is shutting down, or this client fell too far behind
                break
            batch = [signal]
            while not queue.empty() and (more := queue.get_nowait()) is not None:
                batch.append(more)
            await stream.send(response, await signals.live_signals(ctx, who, ctx.clock(), batch, wanted))
    except ConnectionError:
        pass  # the client went away: nothing more to send
    finally:
        web_ctx.bus.unsubscribe(SIGNAL_CREATED, on_signal)
        streams.discard(queue)
    return response


async def _end_streams(app: web.Application) -> None:
    """On shutdown: every live stream ends now, so the server does not wait out its timeout for them."""
    for queue in list(app[LIVE_STREAMS]):
        with contextlib.suppress(asyncio.QueueEmpty):
            while queue.full():
                queue.get_nowait()
        queue.put_nowait(None)


def add_routes(app: web.Application) -> None:
    app[LIVE_STREAMS] = set()
    app.on_shutdown.append(_end_streams)
    app.router.add_get("/signals", feed_page, name="signals")
    app.router.add_get("/signals/live", live_stream, name="signals_live")
    app.router.add_get("/signals/{id}", signal_page, name="signal")
