"""The tier promise, property-tested (issue #11).

Community sees odds and signals `tiers.community_delay_seconds` late, with no book name, no velocity, no
score breakdown, no mover list and no exact score; Pro sees everything at once; every API plan gets full
diagnostics in real time, and per-book odds only where the operator's licence allows (`[api]
redistribute_raw_odds`). A grade and a close are data like any other (issue #16): shown to a viewer only
once made at or before their horizon (Community: the delay before now; Pro and every plan: now). Random
signals (every type and market, books drawn from real keys and titles, created either side of the delay
and exactly on it), graded and closed at moments drawn the same way, against every surface:

1. pure and service layer (many examples): `access.view_signal` and everything rendered from a Community
   view; the services over a real SQLite file (the bundled tape, plus the drawn signals) — signal lists,
   one signal with its grade, heat, the odds board, a game's page (its closes and grades), the line
   chart's data, CSV exports (grades included), the Community digest's rows;
2. the real transports (fewer examples): the bot through the loopback fake Discord, with random Community
   commands and button clicks and the digest it posts, and the REST API over loopback HTTP for each plan.

Each payload is serialised and scanned by `tests.strategies.assert_community_clean`. Written against
invariants (no name, no key, nothing young), not exact text, so render changes do not break it.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import Phase, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import access
from access import NotFound, Tier, UpgradeRequired, Viewer
from bot import render
from engine.events import EventBus
from engine.models import Close, Grade, Market, Signal, SignalType
from engine.service import EngineService
from services import alerts, dashboard, downloads, odds, signals
from services.books import book_names, display_name
from services.charts import chart_data
from services.context import ServiceContext
from storage import Repositories
from tests.api_rig import serve_api
from tests.backends import copy_database
from tests.bot_rig import bot_on_fake
from tests.engine_builders import Clock, settings
from tests.fake_discord import FakeDiscord
from tests.strategies import (
    BOOK_NAMES,
    PROFILE,
    _book_pattern,
    assert_community_clean,
    created_offsets,
    games,
    heats,
    payload_text,
    tiers,
)
from tests.strategies import closes as close_strategy
from tests.strategies import grades as grade_strategy
from tests.strategies import signals as signal_strategy

COMMUNITY = Viewer(Tier.COMMUNITY, user_id=11, guild_id=1)
PRO = Viewer(Tier.PRO, user_id=22, guild_id=1)
DELAY = timedelta(seconds=settings().tiers.community_delay_seconds)
DIGEST_CHANNEL = 4242
EARLIEST, LATEST = datetime(2020, 1, 1), datetime(2030, 1, 1)  # noqa: DTZ001 - naive bounds, UTC drawn
#: Ids unique across examples: the examples of one test share its database.
SERIAL = itertools.count(1)


def fresh_at(signal: Signal, now) -> bool:
    """Younger than the delay at `now`: Community may not see it yet."""
    return not access.can_see(signal, Tier.COMMUNITY, now, settings().tiers)


# ---------------------------------------------------------------------- 1. pure: the view and its renders


@hsettings(PROFILE, max_examples=300)
@given(data=st.data(), heat=heats)
def test_a_community_view_and_everything_rendered_from_it_hold_no_diagnostics(data, heat):
    game = data.draw(games())
    now = game.commence_time - timedelta(hours=2)
    signal = data.draw(signal_strategy(now, delay=DELAY, game=game))
    view = access.view_signal(signal, Tier.COMMUNITY, heat)
    assert view.redacted
    for field in ("score", "breakdown", "books", "velocity", "magnitude", "entry_book", "entry_prob"):
        assert getattr(view, field) is None, field
    assert set(view.details or {}) <= {"key_number", "keys_crossed", "from", "to", "unit"}
    others = data.draw(st.lists(signal_strategy(now, delay=DELAY, game=game), max_size=4))
    views = [view, *(access.view_signal(s, Tier.COMMUNITY, heat) for s in others)]
    books = {b for s in [signal, *others] for b in (*s.books, s.entry.book)}
    rendered = [
        view,
        render.signal_embed(view, game).to_dict(),
        render.signal_embed(view, None).to_dict(),
        render.signal_line(view, game),
        render.alert_title(view, game),
        render.signals_page_embed(views, {game.id: game}, 0, 1, "Recent signals", True).to_dict(),
    ]
    for payload in rendered:
        assert_community_clean(payload_text(payload), books)
    # The scan sees what a Pro view shows: the same signal, unredacted, names its first mover.
    pro = payload_text(render.signal_embed(access.view_signal(signal, Tier.PRO, heat), game).to_dict())
    assert _book_pattern(signal.books[0]).search(pro)


@hsettings(PROFILE, max_examples=150)
@given(data=st.data(), tier=tiers)
def test_can_see_is_the_delay_to_the_microsecond(data, tier):
    now = data.draw(st.datetimes(min_value=EARLIEST, max_value=LATEST, timezones=st.just(UTC)))
    signal = data.draw(signal_strategy(now, delay=DELAY))
    age = now - signal.created_at
    wanted = age >= (DELAY if tier == Tier.COMMUNITY else timedelta(0))
    assert access.can_see(signal, tier, now, settings().tiers) == wanted
    assert access.visible_signals([signal], tier, now, settings().tiers) == ([signal] if wanted else [])


@hsettings(PROFILE, max_examples=150)
@given(
    now=st.datetimes(min_value=EARLIEST, max_value=LATEST, timezones=st.just(UTC)),
    offsets=st.lists(created_offsets(DELAY), min_size=2, max_size=2),
    tier=tiers,
    plan=st.sampled_from(sorted(settings().plans)),
)
def test_a_grade_and_a_close_are_seen_from_the_moment_they_were_fixed(now, offsets, tier, plan):
    """Data like any other: the same rule as a signal's, at the moment the grade was made and the close
    captured (`access.visible_grade`, `access.visible_closes`), for a tier and for every API plan."""
    graded_at, captured_at = (now + offset for offset in offsets)
    grade = Grade("s1", graded_at, -3.5, 0.5, 0.5, 0.01, True, False, None, 0.0, 0.02)
    close = Close(game_id="g1", market=Market.SPREADS, captured_at=captured_at, at=captured_at, point=-3.5,
                  prob_a=0.5, books=5)  # fmt: skip
    late = DELAY if tier == Tier.COMMUNITY else timedelta(0)
    horizon = access.horizon(tier, now, settings().tiers)
    assert (access.visible_grade(grade, horizon) is grade) == (now - graded_at >= late)
    assert access.visible_closes([close], horizon) == ([close] if now - captured_at >= late else [])
    # Every API plan: no delay, so nothing fixed after now.
    api = access.api_horizon(access.api_audience(plan, redistribute_raw_odds=False), now)
    assert (access.visible_grade(grade, api) is grade) == (graded_at <= now)
    assert access.visible_closes([close], api) == ([close] if captured_at <= now else [])


# ---------------------------------------------------------------------- 1. services on a real database


@pytest.fixture
async def world(template_db, tmp_path):
    source, now = template_db
    path = copy_database(source, tmp_path)
    config = settings()
    config.discord.community_channels = [DIGEST_CHANNEL]
    repos = await Repositories.open(path)
    engine = await EngineService.restore(config, repos, EventBus(), source="test")
    clock = Clock(now)
    stored = await repos.games.list(limit=1000)
    tape_books = {row.book for row in await repos.db.fetch_all("SELECT DISTINCT book FROM quotes")}
    yield ServiceContext(config, repos, engine, clock), stored, {*BOOK_NAMES, *tape_books}, now
    await repos.close()


def _tips(stored) -> list:
    return [t for g in stored for t in (g.game.commence_time, g.scheduled_tip)]


@st.composite
def scenes(draw, base, stored, max_signals: int = 6, span: timedelta = timedelta(hours=2)):
    """A moment within `span` of `base` (4 h before at most) and signals of the stored games drawn around it."""
    now = base + draw(st.timedeltas(min_value=-min(span * 2, timedelta(hours=4)), max_value=span))
    game = st.sampled_from([g.game for g in stored])
    drawn = draw(st.lists(signal_strategy(now, delay=DELAY, game=game), min_size=1, max_size=max_signals))
    return now, [replace(s, id=f"p{next(SERIAL):06d}-{s.id}") for s in drawn]


async def _insert(ctx: ServiceContext, drawn: list[Signal]) -> None:
    async with ctx.repos.db.transaction():
        for signal in drawn:
            assert await ctx.repos.signals.insert(signal)


async def _grade_all(ctx: ServiceContext, drawn: list[Signal], data) -> dict[str, Grade]:
    """A grade for each stored signal, made either side of the delay, on it, or a microsecond after now."""
    graded = {s.id: data.draw(grade_strategy(s, ctx.clock(), delay=DELAY)) for s in drawn}
    async with ctx.repos.db.transaction():
        for grade in graded.values():
            assert await ctx.repos.grades.insert(grade)
    return graded


def _shown(grade: Grade, horizon) -> Grade | None:
    """What a viewer with this horizon is shown of a grade: all of it once made at or before it, else nothing."""
    return grade if grade.graded_at <= horizon else None


def _unknown_message(signal_id: str) -> str:
    return f"No signal with id “{signal_id}”."


@hsettings(PROFILE, max_examples=60)
@given(filters=st.data())
async def test_signal_services_never_show_community_a_young_signal_or_a_diagnostic(world, filters):
    ctx, stored, books, base = world
    now, drawn = filters.draw(scenes(base, stored))
    old = [s for s in drawn if not fresh_at(s, now)]
    young = [s for s in drawn if fresh_at(s, now)]
    await _insert(ctx, old)
    heat_before = await signals.heat_board(ctx, COMMUNITY, now)
    await _insert(ctx, young)
    fresh = [s.id for s in young]
    horizon = now - DELAY
    # Heat is derived from signals: what Community gets must not move with a young one.
    heat_after = await signals.heat_board(ctx, COMMUNITY, now)
    assert [(g.game.id, h) for g, h in heat_after] == [(g.game.id, h) for g, h in heat_before]
    assert_community_clean(payload_text(heat_after), books, now, tips=_tips(stored), fresh_ids=fresh)
    ctx.clock.now = now
    graded = await _grade_all(ctx, drawn, filters)

    game_id = filters.draw(st.sampled_from([None, *(s.game_id for s in drawn)]))
    kind = filters.draw(st.sampled_from([None, *(s.type for s in drawn)]))
    listed = await signals.recent_signals(ctx, COMMUNITY, now, game_id=game_id, kind=kind)
    assert all(v.redacted and v.created_at <= horizon for v in listed)
    assert_community_clean(payload_text(listed), books, now, tips=_tips(stored), fresh_ids=fresh)
    for signal in old:
        if game_id in (None, signal.game_id) and kind in (None, signal.type):
            assert signal.id in {v.id for v in listed} or len(listed) == signals.MAX_LIST

    for signal in drawn:
        if signal in young:
            with pytest.raises(NotFound) as refused:
                await signals.one_signal(ctx, signal.id, COMMUNITY, now)
            # Answered exactly like an id that does not exist: it never confirms the signal.
            assert str(refused.value) == _unknown_message(signal.id)
            if signal.created_at <= now:  # Pro sees it at once
                names = await book_names(ctx)  # Pro reads each book under the feed's title
                shown = (await signals.one_signal(ctx, signal.id, PRO, now)).books
                assert shown == tuple(display_name(names, book) for book in signal.books)
        else:
            view, _, grade = await signals.signal_detail(ctx, signal.id, COMMUNITY, now)
            assert view.redacted and view.created_at <= horizon
            assert grade == _shown(graded[signal.id], horizon)  # the close stays Pro's until the delay passed
            assert_community_clean(payload_text(view, grade), books, now, tips=_tips(stored), fresh_ids=fresh)
        if signal.created_at <= now:
            assert (await signals.signal_detail(ctx, signal.id, PRO, now))[2] == _shown(graded[signal.id], now)
    with pytest.raises(NotFound) as unknown:
        await signals.one_signal(ctx, "no-such-signal", COMMUNITY, now)
    assert str(unknown.value) == _unknown_message("no-such-signal")


@hsettings(PROFILE, max_examples=40)
@given(pick=st.data())
async def test_odds_and_charts_for_community_are_pros_as_of_the_delay_without_names(world, monkeypatch, pick):
    ctx, stored, books, base = world
    drawn_charts: list[dict] = []

    def capture(game, market, consensus, book_lines, marks, bets, *, until, footer="", names=None, sharp=()):
        drawn_charts.append({"args": (game, market, consensus, book_lines, marks, bets), "until": until,
                             "footer": footer, "names": names, "sharp": sharp})  # fmt: skip
        return b"\x89PNG"

    monkeypatch.setattr(downloads, "render_line_chart", capture)
    now, drawn = pick.draw(scenes(base, stored, max_signals=3))
    await _insert(ctx, drawn)
    fresh = [s.id for s in drawn if fresh_at(s, now)]
    horizon = now - DELAY
    game = pick.draw(st.sampled_from([g.game for g in stored]))
    community = await odds.odds_board(ctx, game.id, COMMUNITY, now)
    assert community.delayed and community.as_of == horizon
    assert all(m.lines == () for m in community.markets)
    assert_community_clean(payload_text(community), books, now, tips=_tips(stored), fresh_ids=fresh)
    assert_community_clean(
        payload_text(render.odds_embed(community).to_dict()), books, now, tips=_tips(stored), fresh_ids=fresh
    )
    # The same numbers Pro saw `delay` ago: only the names are gone.
    earlier = await odds.odds_board(ctx, game.id, PRO, horizon)
    assert community.heat == earlier.heat
    for mine, theirs in zip(community.markets, earlier.markets, strict=True):
        assert mine.distribution == theirs.distribution == odds.distribution([named.line for named in theirs.lines])
        if theirs.consensus is None:
            assert mine.consensus is None
        else:
            assert mine.consensus == replace(theirs.consensus, components=())

    # The game's page: its closes and its signals' grades, each only once fixed at or before the horizon.
    ctx.clock.now = now
    graded = await _grade_all(ctx, drawn, pick)
    fixed = pick.draw(close_strategy(game.id, now, delay=DELAY))
    async with ctx.repos.db.transaction():
        await ctx.repos.db.execute("DELETE FROM closes WHERE game_id = :game", {"game": game.id})
        for close in fixed:
            assert await ctx.repos.closes.insert(close)
    for viewer, seen_until in ((COMMUNITY, horizon), (PRO, now)):
        page = await dashboard.game_page(ctx, viewer, game.id, now)
        assert {c.market for c in page.closes} == {c.market for c in fixed if c.captured_at <= seen_until}
        for row in page.signals:
            assert row.grade is None or row.grade.graded_at <= seen_until
            if row.view.id in graded:
                assert row.grade == _shown(graded[row.view.id], seen_until)
        if viewer == COMMUNITY:
            assert_community_clean(payload_text(page), books, now, tips=_tips(stored), fresh_ids=fresh)

    market = pick.draw(st.sampled_from(["spreads", "totals", "h2h"]))
    name, _ = await downloads.line_chart(ctx, COMMUNITY, game.id, market, now)
    chart = drawn_charts.pop()
    game_, market_, consensus, book_lines, marks, bets = chart["args"]
    assert book_lines is None and bets == [] and chart["until"] == horizon and not chart["names"]
    assert all(c.at <= horizon for c in consensus) and all(m.at <= horizon for m in marks)
    data = chart_data(
        game_,
        market_,
        consensus,
        book_lines,
        marks,
        bets,
        until=chart["until"],
        names=chart["names"],
        sharp=chart["sharp"],
    )
    assert list(data.legend) in ([], ["consensus"])
    assert_community_clean(
        payload_text(name, chart["footer"], data),
        books,
        now,
        tips=_tips(stored),
        fresh_ids=fresh,
    )


@hsettings(PROFILE, max_examples=40)
@given(data=st.data(), step=st.timedeltas(min_value=timedelta(0), max_value=timedelta(minutes=20)))
async def test_exports_are_pro_and_the_digest_holds_only_old_enough_signals(world, data, step):
    ctx, stored, books, _ = world
    # The digest job runs forward in time: each example a little later than the one before.
    now = ctx.clock() + step
    ctx.clock.now = now
    drawn = data.draw(scenes(now, stored, span=timedelta(0)))[1]
    await _insert(ctx, drawn)
    with pytest.raises(UpgradeRequired):
        await downloads.export_signals(ctx, COMMUNITY, 7, now)
    with pytest.raises(UpgradeRequired):
        await downloads.export_bets(ctx, COMMUNITY, 7, now)
    # The same export for Pro does carry the names (so the Community refusal is what keeps them out).
    graded = await _grade_all(ctx, drawn, data)
    _, csv_bytes = await downloads.export_signals(ctx, PRO, 1, now)
    recent = [s for s in drawn if s.created_at >= now - timedelta(days=1) and s.created_at <= now]
    assert all(s.id in csv_bytes.decode() and _book_pattern(s.books[0]).search(csv_bytes.decode()) for s in recent)
    # Each with its grade only once made at or before now (Pro's horizon).
    rows = {row["id"]: row for row in csv.DictReader(io.StringIO(csv_bytes.decode()))}
    for signal in recent:
        assert rows[signal.id]["graded"] == ("yes" if graded[signal.id].graded_at <= now else "no")

    await alerts.queue_digests(ctx, now)
    # This run's rows (queued at `now`): each signal in them was old enough at `now`.
    rows = [r for r in await ctx.repos.outbox.all() if r.kind == "digest" and r.created_at == now]
    for row in rows:
        assert row.target == f"channel:{DIGEST_CHANNEL}"
        for signal_id in row.payload["signal_ids"]:
            signal = await ctx.repos.signals.get(signal_id)
            assert access.can_see(signal, Tier.COMMUNITY, now, ctx.settings.tiers), signal_id
        assert_community_clean(json.dumps(row.payload), books)


# ---------------------------------------------------------------------- 2. the bot, through the fake Discord

COMMUNITY_USER = FakeDiscord.COMMUNITY_USER_ID
#: Through a real transport an example costs a second or so: no shrinking (the failing example is printed).
SURFACE_PHASES = (Phase.explicit, Phase.reuse, Phase.generate)


@pytest.fixture
async def stack(template_db, tmp_path, monkeypatch):
    async with bot_on_fake(template_db, tmp_path, monkeypatch) as rig:
        app = rig.app
        stored = await app.ctx.repos.games.list(limit=1000)
        tape_books = {row.book for row in await app.ctx.repos.db.fetch_all("SELECT DISTINCT book FROM quotes")}
        yield rig.fake, rig.bot, app, rig.clock, stored, {*BOOK_NAMES, *tape_books}


def _said(record) -> str:
    """Everything the bot sent for one interaction: contents, embeds, button labels, files (CSV text too)."""
    parts = []
    for response in record.responses:
        parts.append(json.dumps({"content": response.content, "embeds": response.embeds,
                                 "components": response.components}))  # fmt: skip
        for file in response.attachments:
            parts.append(file.filename)
            if not file.data.startswith(b"\x89PNG"):
                parts.append(file.data.decode("utf-8", "replace"))
    return "\n".join(parts)


async def _answer(record):
    first = await record.response()
    if first.type == 5:
        await record.wait_followups(1)
    return record


def commands(game_ids: list[str], signal_ids: list[str]) -> st.SearchStrategy[tuple[str, dict]]:
    game = st.sampled_from(game_ids)
    kinds = st.sampled_from([t.value for t in SignalType])
    return st.one_of(
        st.builds(lambda g: ("odds", {"game": g}), game),
        st.builds(lambda o: ("signals", o), st.fixed_dictionaries({}, optional={"game": game, "type": kinds})),
        st.builds(lambda i: ("signal", {"id": i}), st.sampled_from([*signal_ids, "no-such-signal"])),
        st.just(("heat", {})),
        st.builds(
            lambda g, m: ("chart", {"game": g, "market": m}), game, st.sampled_from(["spreads", "totals", "h2h"])
        ),
        st.builds(lambda w: ("export", {"what": w}), st.sampled_from(["signals", "bets"])),
        st.builds(lambda g: ("watch add", {"game": g}), game),
        st.just(("watch list", {})),
        st.just(("digest", {})),
    )


@hsettings(PROFILE, max_examples=25, phases=SURFACE_PHASES)
@given(data=st.data())
async def test_nothing_the_bot_sends_a_community_member_holds_a_book_a_diagnostic_or_a_young_signal(stack, data):
    fake, bot, app, clock, stored, books = stack
    clock.now += data.draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(minutes=30)))
    now = clock()
    game = st.sampled_from([g.game for g in stored])
    drawn = data.draw(st.lists(signal_strategy(now, delay=DELAY, game=game), min_size=1, max_size=5))
    drawn = [replace(s, id=f"b{next(SERIAL):06d}-{s.id}") for s in drawn]
    async with app.ctx.repos.db.transaction():
        for signal in drawn:
            await app.ctx.repos.signals.insert(signal)
        await app.fanout.poll_rows(drawn, now)  # the alerts and watchlist DMs they owe
    graded = await _grade_all(app.ctx, drawn, data)
    every = await app.ctx.repos.signals.list(since=now - timedelta(hours=4), limit=10_000)
    fresh = [s.id for s in every if fresh_at(s, now)]
    tips = _tips(stored)
    general = fake.channels["general"]
    posted = len(fake.channel_messages.get(general, []))

    script = data.draw(st.lists(commands([g.game.id for g in stored], [s.id for s in drawn]), min_size=2, max_size=5))
    for name, options in script:
        if name == "digest":
            await bot.queue_digests()
            await bot.deliver_outbox()
            continue
        record = await _answer(await fake.invoke_slash(name, options, user_id=COMMUNITY_USER))
        said = _said(record)
        typed = {options.get("id")}  # the refusal of /signal repeats the id the member typed, as for any id
        assert_community_clean(said, books, now, tips=tips, fresh_ids=[i for i in fresh if i not in typed])
        if name == "signal" and options["id"] in fresh:
            unknown = await _answer(await fake.invoke_slash("signal", {"id": "no-such-signal"}, user_id=COMMUNITY_USER))
            assert said == _said(unknown).replace("no-such-signal", options["id"])
        elif name == "signal" and options["id"] in graded:  # its grade, once made at or before the horizon
            assert ("Against the close" in said) == (_shown(graded[options["id"]], now - DELAY) is not None)
        if name == "signals":  # and every button on the list, clicked
            message_id = (await record.response()).message_id or record.original_message_id
            for label, custom_id in fake.custom_ids(message_id).items() if message_id in fake.messages else ():
                click = await fake.invoke_component(custom_id, message_id, user_id=COMMUNITY_USER)
                await click.response()
                assert_community_clean(_said(click), books, now, tips=tips, fresh_ids=fresh), label

    # Alerts and watchlist DMs are Pro's: a Community member is sent none, and the digest is clean.
    await bot.deliver_outbox()
    assert fake.dms.get(COMMUNITY_USER, []) == []
    for message in fake.channel_messages.get(general, [])[posted:]:
        assert_community_clean(json.dumps(message["embeds"]) + (message.get("content") or ""), books, now,
                               tips=tips, fresh_ids=fresh)  # fmt: skip


# ---------------------------------------------------------------------- 2. the REST API, each plan

PLANS = ("builder", "pro_plain", "enterprise")  # tests/integration/test_api.py's keys: one per configured plan


@pytest.fixture(params=[True, False], ids=["raw-odds-licensed", "raw-odds-not-licensed"])
async def api_world(request, template_db, tmp_path):
    source, _ = template_db
    async for world in serve_api(source, tmp_path, raw_odds=request.param):
        tape_books = {row.book for row in await world.repos.db.fetch_all("SELECT DISTINCT book FROM quotes")}
        yield world, request.param, {*BOOK_NAMES, *tape_books}


@hsettings(PROFILE, max_examples=20, phases=SURFACE_PHASES)
@given(data=st.data())
async def test_every_api_plan_gets_full_diagnostics_in_real_time_and_book_odds_only_where_licensed(api_world, data):
    world, licensed, books = api_world
    world.clock.advance(seconds=61)  # a new minute: the plans' rate limits never decide here
    now = world.clock()
    stored = await world.repos.games.list(limit=1000)
    game = st.sampled_from([g.game for g in stored])
    drawn = data.draw(st.lists(signal_strategy(now, delay=DELAY, game=game), min_size=1, max_size=4))
    drawn = [replace(s, id=f"a{next(SERIAL):06d}-{s.id}") for s in drawn]
    async with world.repos.db.transaction():
        for signal in drawn:
            await world.repos.signals.insert(signal)
    graded = await _grade_all(world.ctx, drawn, data)
    plan = data.draw(st.sampled_from(PLANS))
    for signal in drawn:
        response = await world.get(f"/v1/signals/{signal.id}", plan)
        if signal.created_at > now:
            assert response.status_code == 404
            continue
        # No delay for any plan, and every diagnostic: score, breakdown, velocity, books, the entry's book.
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["books"] == list(signal.books) and body["score"] == signal.score
        assert set(body["breakdown"]) >= {"magnitude", "velocity", "breadth", "sharp", "time_to_tip"}
        assert (body["velocity"] is None) == (signal.velocity is None) and body["entry"]["book"] == signal.entry.book
        # Its grade in real time too, but nothing made after now.
        assert (body["grade"] is None) == (_shown(graded[signal.id], now) is None)
    listed = (await world.get("/v1/signals", plan, limit=50)).json()["data"]
    assert all(item["books"] and "breakdown" in item for item in listed)

    game_id = data.draw(game).id
    for path in (f"/v1/games/{game_id}/odds", f"/v1/games/{game_id}/odds/history"):
        response = await world.get(path, plan)
        if licensed:
            assert response.status_code == 200
            lines = response.json().get("lines", response.json().get("data"))
            assert all(line["book"] for line in lines)
        else:
            assert response.status_code == 403 and response.json()["error"]["code"] == "raw_odds_not_licensed"
            assert_community_clean(response.text, books)
    # Derived data is served to every plan and names no book.
    for path in (f"/v1/games/{game_id}/consensus", f"/v1/games/{game_id}", "/v1/games"):
        response = await world.get(path, plan)
        assert response.status_code == 200
        assert_community_clean(response.text, books)
