"""The signal feed (`/signals`), its live stream for Pro (`/signals/live`), and one signal (`/signals/{id}`).

Routes parse the query, call the service the bot's `/signals` and `/signal` call (`services.signals`), and
render what it returns: the tier rules (the delay, the redaction, the Pro filters, who may have the live
stream) are `access.py`'s, applied by the service.

The live stream is server-sent events fed by the live hub (`web.live`): it holds the one subscription to
the engine's event bus (`engine.events.SIGNAL_CREATED`, published after the signal is committed) and shapes
and renders each new signal once per audience (`signals.live_views`, the feed's own autoescaped row), then
hands the same bytes to every open stream whose filters (`signals.live_filter`) want it. A member keeps at
most `web.live_streams_per_member` streams (a new one closes their oldest with a final `closed` event), the
server at most `web.live_streams_max` (then 503 with Retry-After). A comment every `HEARTBEAT_SECONDS` keeps
proxies from closing a stream; it ends when the client goes away, when the server shuts down, when it falls
too far behind, and (for a Discord member whose roles must be re-read) when the tier read at connect is due
a re-check: the browser reconnects, with `Last-Event-ID`, and is sent what it missed.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web

from access import NotFound, UserError, Viewer
from engine.models import Market, SignalType
from services import games, prices, signals, web_sessions
from services.signals import SignalFilter
from web.context import WEB_CONTEXT, WebContext, web_context
from web.live import LiveHub, LiveStreamsFull, Stream, sse_event
from web.members import signed_in, viewer
from web.templating import render

#: A comment line this often keeps an idle stream open through proxies.
HEARTBEAT_SECONDS = 15.0
#: How often a stream waiting for signals checks that its client is still there.
POLL_SECONDS = 1.0
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

#: The open live streams and their publishers (`web.live`), so a shutdown can end them.
LIVE_HUB: web.AppKey[LiveHub] = web.AppKey("stratum_live_hub", LiveHub)


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
        view, game, grade, price = await prices.signal_with_price(
            ctx, request.match_info["id"], viewer(member), ctx.clock()
        )
    except NotFound:  # unknown, or younger than the viewer's delay: the same page, and no id echoed
        raise NotFound(NO_SIGNAL) from None
    return render(request, "signal.html", member=member, view=view, game=game, grade=grade, price=price)


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


async def live_stream(request: web.Request) -> web.StreamResponse:
    web_ctx = web_context(request)
    member = await signed_in(request)
    who = viewer(member)
    wanted = await parse_filter(request, web_ctx)
    live_filter = signals.live_filter(web_ctx.ctx, who, wanted)  # refuses Community (403), bad filters (400)
    hub = request.app[LIVE_HUB]
    try:
        stream = hub.open((member.guild_id, member.user_id) if member is not None else None, who.tier, live_filter)
    except LiveStreamsFull:
        raise web.HTTPServiceUnavailable(
            text="Too many live streams are open on this server right now. The feed still works: refresh the "
            "page to see new signals, or try the live feed again in a minute.",
            headers={"Retry-After": str(BUSY_RETRY_SECONDS)},
        ) from None

    response = web.StreamResponse(  # the security headers are set as it is prepared, like any page's (`web.security`)
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "X-Accel-Buffering": "no",  # nginx: pass each event on at once
        }
    )
    deadline = _stream_deadline(web_ctx, member)
    loop = asyncio.get_running_loop()
    try:
        await response.prepare(request)
        await response.write(f"retry: {RETRY_MS}\n: live signals\n\n".encode())
        last_id = request.headers.get("Last-Event-ID", "").strip()
        if last_id and (caught_up := await _catch_up(hub, stream, who, wanted, last_id[:64])):
            await response.write(caught_up)
        idle = 0.0
        while deadline is None or loop.time() < deadline:
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            out, ended = await stream.next(POLL_SECONDS)
            if out:
                idle = 0.0
                await response.write(out)
            elif not ended:
                idle += POLL_SECONDS
                if idle >= HEARTBEAT_SECONDS:
                    idle = 0.0
                    if member is not None and not await web_sessions.is_live(
                        web_ctx.ctx, member.session, member.user_id
                    ):
                        await response.write(sse_event("closed", SIGNED_OUT))  # signed out in any browser
                        break
                    await response.write(b": keepalive\n\n")
            if ended:  # the server is shutting down, the member opened too many, or it fell too far behind
                break
    except ConnectionError:
        pass  # the client went away: nothing more to send
    finally:
        hub.leave(stream)
    return response


async def _end_streams(app: web.Application) -> None:
    """On shutdown: every live stream ends now, so the server does not wait out its timeout for them."""
    app[LIVE_HUB].close_all()


def add_routes(app: web.Application) -> None:
    """The feed's routes; the live hub is built from the app's `WebContext` (set by `install_web` first)."""
    web_ctx = app[WEB_CONTEXT]
    config = web_ctx.settings.web
    app[LIVE_HUB] = LiveHub(
        web_ctx.ctx,
        web_ctx.bus,
        web_ctx.templates,
        per_member=config.live_streams_per_member,
        max_streams=config.live_streams_max,
    )
    app.on_shutdown.append(_end_streams)
    app.router.add_get("/signals", feed_page, name="signals")
    app.router.add_get("/signals/live", live_stream, name="signals_live")
    app.router.add_get("/signals/{id}", signal_page, name="signal")
