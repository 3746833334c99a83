"""The dashboard's signal feed, its live stream (Pro) and the signal page, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import replace
from datetime import timedelta
from html import escape

import httpx
import pytest

import access
from engine.events import SIGNAL_CREATED
from engine.models import Signal, SignalType
from services import prices
from services.odds_text import NO_PRICE_NOW, price_line
from tests.web_rig import WebRig, demo_sign_in, web_rig, web_settings
from web.routes import signals as signal_routes

SSE_TIMEOUT = 10.0


async def _as(http: httpx.AsyncClient, tier: str) -> None:
    """Signed in afresh as a demo member of `tier` (the previous session's cookie dropped first)."""
    http.cookies.clear()
    await demo_sign_in(http, tier)


def _main(page: httpx.Response) -> str:
    """The page's own content (the nav and banners aside)."""
    return page.text.split("<main>", 1)[1].split("</main>", 1)[0]


def _rows(page: httpx.Response) -> list[str]:
    return re.findall(r'<tr class="signal[^"]*" data-signal="([^"]+)"', page.text)


async def _stored(rig: WebRig) -> list[Signal]:
    return await rig.app.ctx.repos.signals.list(limit=500)


async def _book_names(rig: WebRig, signals: list[Signal]) -> set[str]:
    titles = await rig.app.ctx.repos.books.titles()
    return {titles.get(book, book) for s in signals for book in (*s.books, s.entry.book)}


async def _insert(rig: WebRig, *signals: Signal) -> None:
    async with rig.app.ctx.repos.db.transaction():
        for signal in signals:
            assert await rig.app.ctx.repos.signals.insert(signal)


async def _publish(rig: WebRig, signal: Signal) -> None:
    """As the engine does (`EngineService._publish`): committed first, then published on the bus."""
    await _insert(rig, signal)
    assert await rig.app.bus.publish(SIGNAL_CREATED, signal) == 0


def _steam(stored: list[Signal]) -> Signal:
    return next(s for s in stored if s.type == SignalType.STEAM and len(s.books) >= 2)


async def _events(response: httpx.Response):
    """Server-sent events as (event, id, data) as they arrive; comments are skipped."""
    event, event_id, data = "message", "", []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield event, event_id, "\n".join(data)
            event, event_id, data = "message", "", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


async def _next_event(response: httpx.Response) -> tuple[str, str, str]:
    async def first():
        async for item in _events(response):
            return item
        raise AssertionError("the stream ended without an event")

    return await asyncio.wait_for(first(), SSE_TIMEOUT)


async def test_community_feed_is_delayed_and_redacted_and_pro_sees_the_fresh_signal(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        stored = await _stored(rig)
        fresh = replace(_steam(stored), id="fresh-web-signal", created_at=rig.now - timedelta(minutes=2))
        await _insert(rig, fresh)
        books = await _book_names(rig, [*stored, fresh])

        for signed in ("signed out", "community"):
            if signed == "community":
                await _as(http, "community")
            page = await http.get("/signals")
            assert page.status_code == 200
            main = _main(page)
            rows = _rows(page)
            assert rows and "fresh-web-signal" not in page.text
            visible = {s.id: s for s in stored}
            assert all(visible[i].created_at <= rig.now - timedelta(minutes=10) for i in rows)
            assert not [name for name in books if name in main], signed
            assert "Velocity" not in main and "breakdown" not in main.lower() and "Min score" not in main
            assert "minutes after it fires" in main and 'href="/signals"' in main  # the note and a manual refresh
            assert "/static/live.js" not in page.text and "data-live" not in page.text  # no live stream offered
            assert "<script>" not in page.text and " style=" not in page.text

        await _as(http, "pro")
        pro = await http.get("/signals")
        assert pro.status_code == 200
        assert _rows(pro)[0] == "fresh-web-signal"  # newest first, in real time
        titles = await rig.app.ctx.repos.books.titles()
        assert f"first {titles.get(fresh.books[0], fresh.books[0])}" in _main(pro)
        assert 'data-live="/signals/live"' in pro.text and '<script src="/static/live.js" defer>' in pro.text
        assert 'href="/signals/fresh-web-signal"' in pro.text  # each row links to its page
        script = await http.get("/static/live.js")
        assert script.status_code == 200 and "EventSource" in script.text


async def test_filters_narrow_the_feed_and_bad_values_are_a_400_that_says_why(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        stored = {s.id: s for s in await _stored(rig)}
        await _as(http, "pro")
        game = next(iter(stored.values())).game_id
        for query, keep in (
            ({"type": "KEY_CROSS"}, lambda s: s.type == SignalType.KEY_CROSS),
            ({"type": "dislocation"}, lambda s: s.type == SignalType.DISLOCATION),
            ({"market": "totals"}, lambda s: s.market.value == "totals"),
            ({"game": game}, lambda s: s.game_id == game),
            ({"min_score": "55"}, lambda s: s.score >= 55),
            ({"type": "", "market": "", "game": "", "min_score": ""}, lambda s: True),  # an empty form
        ):
            page = await http.get("/signals", params=query)
            assert page.status_code == 200, query
            rows = _rows(page)
            assert rows and all(keep(stored[i]) for i in rows), query
        everything = _rows(await http.get("/signals"))
        assert len(_rows(await http.get("/signals", params={"type": "KEY_CROSS"}))) < len(everything)

        for query, says in (
            ({"type": "SHARP"}, "Type must be one of STEAM, DISLOCATION, KEY_CROSS."),
            ({"market": "props"}, "Market must be spreads, totals or h2h."),
            ({"min_score": "101"}, "Minimum score must be a whole number from 0 to 100."),
            ({"min_score": "-1"}, "Minimum score must be a whole number from 0 to 100."),
            ({"min_score": "5e1"}, "Minimum score must be a whole number from 0 to 100."),
            ({"game": "Chicago Sky @ Nowhere"}, "No game matches"),
            ({"preset": "sharpest"}, "Unknown preset"),
        ):
            page = await http.get("/signals", params=query)
            assert page.status_code == 400, query
            assert says in page.text and 'role="alert"' in page.text, query
            live = await http.get("/signals/live", params=query)
            assert live.status_code == 400 and says in live.text, query


async def test_presets_are_pro_and_community_gets_the_upgrade_message(template_db, tmp_path):
    # By the template's morning no class has the 30 graded a preset resting on the audit needs (the floor is
    # tested in tests/integration/test_alert_state.py): lift it, to see the preset filter the page.
    config = web_settings()
    config.clv.preset_min_graded = 0
    async with web_rig(template_db, tmp_path, config) as rig, rig.client() as http:
        stored = {s.id: s for s in await _stored(rig)}
        await _as(http, "pro")
        page = await http.get("/signals")
        assert 'href="/signals?preset=high_confidence"' in page.text and 'href="/signals?preset=low_noise"' in page.text
        low_noise = await http.get("/signals", params={"preset": "low_noise"})
        assert low_noise.status_code == 200 and "<h1>Signals · Low Noise</h1>" in low_noise.text
        rows = _rows(low_noise)
        rules = rig.app.settings.presets["low_noise"]
        assert rows and all(
            len(stored[i].books) >= rules.min_books and stored[i].score >= rules.min_score for i in rows
        )
        assert len(rows) < len(_rows(page))  # it filters something out
        high = await http.get("/signals", params={"preset": "high_confidence"})
        assert high.status_code == 200 and "Signals · High Confidence" in high.text

        await _as(http, "community")
        page = await http.get("/signals")
        assert "preset=" not in page.text and 'name="preset"' not in page.text  # none offered
        for query in ({"preset": "high_confidence"}, {"preset": "low_noise"}):
            refused = await http.get("/signals", params=query)
            assert refused.status_code == 403
            assert "Quality presets is a Pro feature. Upgrade to Pro" in refused.text
            assert not _rows(refused)
        refused = await http.get("/signals", params={"min_score": "60"})  # exact scores are diagnostics
        assert refused.status_code == 403 and "Full signal diagnostics is a Pro feature" in refused.text


async def test_pro_sees_a_new_signal_arrive_on_the_live_stream_without_a_reload(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client(timeout=SSE_TIMEOUT) as http:
        stored = await _stored(rig)
        steam = _steam(stored)
        dislocation = next(s for s in stored if s.type == SignalType.DISLOCATION)
        titles = await rig.app.ctx.repos.books.titles()
        await _as(http, "pro")
        handlers = rig.app.bus._handlers[SIGNAL_CREATED]
        before = len(handlers)

        async with http.stream("GET", "/signals/live") as live:
            assert live.status_code == 200 and live.headers["content-type"].startswith("text/event-stream")
            assert (
                live.headers["cache-control"] == "private, no-store"
                and live.headers["vary"] == "Cookie"
                and live.headers["x-frame-options"] == "DENY"
                and "script-src 'self'" in (live.headers["content-security-policy"])
            )
            assert len(handlers) == before + 1  # subscribed to the engine's bus
            new = replace(steam, id="live-web-signal", created_at=rig.now)
            await _publish(rig, new)
            event, event_id, data = await _next_event(live)
        assert (event, event_id) == ("signal", "live-web-signal")
        assert 'data-signal="live-web-signal"' in data and data.lstrip().startswith("<tr")
        assert f"first {titles.get(new.books[0], new.books[0])}" in data and f">{new.score}<" in data

        for _ in range(int(SSE_TIMEOUT / 0.1)):  # the client went away: the subscription ends
            if len(handlers) == before:
                break
            await asyncio.sleep(0.1)
        assert len(handlers) == before

        # The stream keeps the feed's filters: a STEAM-only stream skips a DISLOCATION.
        async with http.stream("GET", "/signals/live", params={"type": "STEAM"}) as live:
            await _publish(rig, replace(dislocation, id="live-dislocation", created_at=rig.now))
            await _publish(rig, replace(steam, id="live-steam", created_at=rig.now))
            event, event_id, _ = await _next_event(live)
        assert event_id == "live-steam"


async def test_a_reconnecting_stream_catches_up_and_sends_heartbeats(template_db, tmp_path, monkeypatch):
    monkeypatch.setattr(signal_routes, "HEARTBEAT_SECONDS", 0.2)
    async with web_rig(template_db, tmp_path) as rig, rig.client(timeout=SSE_TIMEOUT) as http:
        stored = await _stored(rig)
        await _as(http, "pro")
        last = stored[1]  # the browser saw the second newest; the newest fired while it was away
        async with http.stream("GET", "/signals/live", headers={"Last-Event-ID": last.id}) as live:
            lines = live.aiter_lines()

            async def until(wanted: str) -> None:
                while (await anext(lines)) != wanted:
                    pass

            await asyncio.wait_for(until(f"id: {stored[0].id}"), SSE_TIMEOUT)
            await asyncio.wait_for(until(": keepalive"), SSE_TIMEOUT)


async def test_community_and_signed_out_cannot_open_the_live_stream_by_url(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        handlers = rig.app.bus._handlers[SIGNAL_CREATED]
        before = len(handlers)
        for who in ("signed out", "community"):
            if who == "community":
                await _as(http, "community")
            for url in ("/signals/live", "/signals/live?type=STEAM"):
                refused = await http.get(url, headers={"Accept": "text/event-stream"})
                assert refused.status_code == 403, (who, url)
                assert refused.headers["content-type"].startswith("text/html")
                assert "Signals the moment they fire are a Pro feature" in refused.text
        assert len(handlers) == before  # nothing subscribed


async def test_an_open_stream_does_not_hold_up_the_server_shutdown(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client(timeout=SSE_TIMEOUT) as http:
        await _as(http, "pro")
        async with http.stream("GET", "/signals/live") as live:
            assert live.status_code == 200
            await asyncio.wait_for(rig.app.web.stop(), 5)  # aiohttp would wait 60 s for a stream left open
            assert not rig.app.bus._handlers[SIGNAL_CREATED]


async def test_the_signal_page_is_full_for_pro_redacted_for_community_and_hides_a_young_signal(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        stored = await _stored(rig)
        old = next(s for s in stored if s.type == SignalType.STEAM and s.created_at <= rig.now - timedelta(minutes=10))
        fresh = replace(old, id="fresh-page-signal", created_at=rig.now - timedelta(minutes=2))
        await _insert(rig, fresh)
        titles = await rig.app.ctx.repos.books.titles()
        books = await _book_names(rig, [old])

        await _as(http, "community")
        page = await http.get(f"/signals/{old.id}")
        assert page.status_code == 200
        main = _main(page)
        assert "Score band" in main and f"{old.score}/100" not in main
        assert "Velocity" not in main and "Magnitude" not in main and "Score breakdown" not in main
        assert not [name for name in books if name in main]
        assert "Community view" in main
        young = await http.get("/signals/fresh-page-signal")
        unknown = await http.get("/signals/no-such-signal")
        assert young.status_code == unknown.status_code == 404
        assert young.content == unknown.content  # byte for byte: nothing says the young one exists
        assert "fresh-page-signal" not in young.text and "No signal with that id." in young.text

        await _as(http, "pro")
        page = await http.get(f"/signals/{old.id}")
        main = _main(page)
        assert page.status_code == 200 and f"{old.score}/100" in main
        assert "Velocity" in main and "Magnitude" in main and "Score breakdown" in main
        listed = re.findall(r"<li>([^<]+)</li>", main.split('<ol class="books">', 1)[1].split("</ol>", 1)[0])
        assert listed == [titles.get(book, book) for book in old.books]  # in the order they moved, by name
        assert f"at {titles.get(old.entry.book, old.entry.book)}" in main
        assert (await http.get("/signals/fresh-page-signal")).status_code == 200


async def test_a_dislocation_shows_the_ev_it_fired_on_to_pro_in_the_feed_and_on_its_page(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        old = [s for s in await _stored(rig) if s.created_at <= rig.now - timedelta(minutes=10)]
        dislocation = next(s for s in old if s.type == SignalType.DISLOCATION)
        shown = f"EV at fire {100 * dislocation.ev_at_fire:+.1f}%".replace("-", "\u2212")
        await _as(http, "pro")
        feed = await http.get("/signals", params={"type": "DISLOCATION"})
        row = feed.text.split(f'data-signal="{dislocation.id}"', 1)[1].split("</tr>", 1)[0]
        assert shown in row
        page = await http.get(f"/signals/{dislocation.id}")
        assert shown in _main(page) and "against the no-vig consensus" in _main(page)
        await _as(http, "community")
        assert "EV at fire" not in (await http.get("/signals")).text
        assert "EV at fire" not in (await http.get(f"/signals/{dislocation.id}")).text


async def test_a_graded_signal_shows_how_it_did_against_the_close(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        [(signal, grade)] = await rig.app.ctx.repos.grades.list(limit=1)
        verdict = "Beat the close" if grade.beat else ("Push" if grade.push else "Missed the close")
        for tier in ("community", "pro"):
            await _as(http, tier)
            page = await http.get(f"/signals/{signal.id}")
            assert page.status_code == 200
            assert "Against the close" in page.text and verdict in page.text
            assert f"{100 * grade.clv_ev:+.1f}%" in page.text
        ungraded = next(s for s in await _stored(rig) if s.game_id != signal.game_id)
        assert "Against the close" not in (await http.get(f"/signals/{ungraded.id}")).text


# ---------------------------------------------------------------------- live streams cannot stall the server


async def test_a_members_fourth_stream_closes_their_oldest_with_a_final_event(template_db, tmp_path):
    assert web_settings().web.live_streams_per_member == 3  # the documented default (config.toml)
    async with (
        web_rig(template_db, tmp_path) as rig,
        rig.client(timeout=SSE_TIMEOUT) as http,
        contextlib.AsyncExitStack() as streams,
    ):
        steam = _steam(await _stored(rig))
        await _as(http, "pro")
        opened = [await streams.enter_async_context(http.stream("GET", "/signals/live")) for _ in range(3)]
        assert all(live.status_code == 200 for live in opened)
        fourth = await streams.enter_async_context(http.stream("GET", "/signals/live"))
        assert fourth.status_code == 200

        events = _events(opened[0])
        event, _, reason = await asyncio.wait_for(anext(events), SSE_TIMEOUT)
        assert event == "closed" and "3 live streams" in reason  # says why, so the page can say it too
        with pytest.raises(StopAsyncIteration):  # and then the stream ends
            await asyncio.wait_for(anext(events), SSE_TIMEOUT)

        await _publish(rig, replace(steam, id="after-the-cap", created_at=rig.now))
        for live in (*opened[1:], fourth):  # the newest three stay open and live
            assert (await _next_event(live))[:2] == ("signal", "after-the-cap")


async def test_the_server_refuses_streams_past_its_cap_with_a_503_and_retry_after(template_db, tmp_path):
    config = web_settings()
    config.web.live_streams_per_member, config.web.live_streams_max = 10, 2
    async with (
        web_rig(template_db, tmp_path, config) as rig,
        rig.client(timeout=SSE_TIMEOUT) as http,
        contextlib.AsyncExitStack() as streams,
    ):
        await _as(http, "pro")
        first = await streams.enter_async_context(http.stream("GET", "/signals/live"))
        await streams.enter_async_context(http.stream("GET", "/signals/live"))
        busy = await http.get("/signals/live")
        assert busy.status_code == 503 and int(busy.headers["retry-after"]) > 0
        assert busy.headers["content-type"].startswith("text/html") and "Too many live streams" in busy.text
        await first.aclose()  # one goes away: its place is free again once the server notices
        for _ in range(int(SSE_TIMEOUT / 0.1)):
            async with http.stream("GET", "/signals/live") as again:
                if again.status_code == 200:
                    break
            await asyncio.sleep(0.1)
        assert again.status_code == 200

    config.web.live_streams_per_member = 2  # a member at their own cap replaces their oldest, even when full
    (tmp_path / "full").mkdir()
    async with (
        web_rig(template_db, tmp_path / "full", config) as rig,
        rig.client(timeout=SSE_TIMEOUT) as http,
        contextlib.AsyncExitStack() as streams,
    ):
        await _as(http, "pro")
        oldest = await streams.enter_async_context(http.stream("GET", "/signals/live"))
        await streams.enter_async_context(http.stream("GET", "/signals/live"))
        third = await streams.enter_async_context(http.stream("GET", "/signals/live"))
        assert third.status_code == 200 and (await _next_event(oldest))[0] == "closed"


class _Cost:
    """What one signal costs the server: the SQL statements it runs and the signal views it shapes."""

    def __init__(self, rig: WebRig, monkeypatch) -> None:
        self.statements: list[str] = []
        self.shaped = 0
        shape = access.view_signal

        def counted(*args, **kwargs):
            self.shaped += 1
            return shape(*args, **kwargs)

        monkeypatch.setattr(access, "view_signal", counted)
        self.rig = rig

    async def __aenter__(self) -> _Cost:
        self._stop = self.rig.app.repos.db.watch(lambda sent: self.statements.append(sent.sql))
        return self

    async def __aexit__(self, *exc) -> None:
        self._stop()

    def reset(self) -> None:
        self.statements.clear()
        self.shaped = 0


async def test_a_signals_cost_does_not_grow_with_the_number_of_open_streams(template_db, tmp_path, monkeypatch):
    config = web_settings()
    config.web.live_streams_per_member = config.web.live_streams_max = 1000
    config.delivery.poll_seconds = 3600.0  # the outbox worker's sweep would add statements of its own
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with (
        web_rig(template_db, tmp_path, config) as rig,
        rig.client(timeout=SSE_TIMEOUT * 3, limits=limits) as http,
        contextlib.AsyncExitStack() as streams,
        _Cost(rig, monkeypatch) as cost,
    ):
        steam = _steam(await _stored(rig))
        await _as(http, "pro")
        opened = []  # each open stream's events, as they arrive

        async def open_stream() -> None:
            opened.append(_events(await streams.enter_async_context(http.stream("GET", "/signals/live"))))

        async def one_signal(name: str) -> tuple[int, int]:
            """Publish one signal, wait until every open stream has it; (statements, views shaped)."""
            cost.reset()
            await _publish(rig, replace(steam, id=name, created_at=rig.now))
            got = await asyncio.gather(*(asyncio.wait_for(anext(events), SSE_TIMEOUT * 3) for events in opened))
            assert {event[:2] for event in got} == {("signal", name)}
            return len(cost.statements), cost.shaped

        await open_stream()
        await one_signal("warm-up")
        alone = await one_signal("one-stream")
        while len(opened) < 200:
            await open_stream()
        crowded = await one_signal("two-hundred-streams")
        assert alone[1] >= 1 and crowded == alone, (alone, crowded)


async def test_the_signal_page_shows_the_best_price_now_as_the_viewer_may_see_it(template_db, tmp_path):
    """The same "Best price now" as `/signal` in Discord (`services.prices.signal_with_price`): Pro with the
    book's name, Community as of its delay and without a book."""
    async with web_rig(template_db, tmp_path) as rig, rig.client() as http:
        ctx = rig.app.ctx
        stored = await _stored(rig)
        shown = {}
        for signal in stored:
            if signal.created_at > rig.now - timedelta(minutes=10):
                continue
            for tier in ("pro", "community"):
                viewer = access.Viewer(tier=access.Tier.PRO if tier == "pro" else access.Tier.COMMUNITY)
                *_, price = await prices.signal_with_price(ctx, signal.id, viewer, ctx.clock())
                shown[tier] = price
            if shown["pro"] is not None and shown["community"] is not None:
                break
        else:
            pytest.fail("no signal of the template has a price to take now for both tiers")
        assert shown["pro"].book is not None and shown["community"].book is None  # the book is Pro's

        for tier, price in shown.items():
            await _as(http, tier)
            main = _main(await http.get(f"/signals/{signal.id}"))
            assert "Best price now" in main
            assert escape(price_line(signal.market, price)) in main, tier
            assert NO_PRICE_NOW not in main
