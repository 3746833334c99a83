"""The services behind the bot (and later the API) on real data and a real SQLite file: the bundled tape
replayed up to the morning of 2026-08-05, with two games still to tip that evening."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

import access
from access import Tier, UpgradeRequired, UserError, Viewer
from app.bootstrap import BUNDLED_TAPE
from delivery.fanout import Fanout
from delivery.policy import RetryPolicy
from delivery.worker import DeliveryWorker
from engine.events import EventBus
from engine.models import BookLine, Market, Side, SignalType
from engine.providers.tape import read_tape
from engine.service import EngineService
from services import alerts, bets, downloads, odds, prices, signals, watchlist
from services.alerts import DeliveryFailed, DeliveryRetry
from services.context import ServiceContext
from storage import Repositories
from tests.engine_builders import Clock, settings
from tests.tape_games import ATLANTA, NEW_YORK, WASHINGTON

TAPE = list(read_tape(BUNDLED_TAPE))
CUT = datetime(2026, 8, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
async def world(db_url):
    config = settings()
    repos = await Repositories.open(db_url)
    service = await EngineService.restore(config, repos, EventBus(), source="test")
    for raw in TAPE:
        if raw.fetched_at > CUT:
            break
        await service.process(raw)
    clock = Clock(max(raw.fetched_at for raw in TAPE if raw.fetched_at <= CUT))
    yield ServiceContext(config, repos, service, clock), clock
    await repos.close()


COMMUNITY = Viewer(Tier.COMMUNITY, user_id=11, guild_id=1)
PRO = Viewer(Tier.PRO, user_id=22, guild_id=1)


async def test_community_odds_are_ten_minutes_old(world):
    ctx, clock = world
    now = clock()
    pro = await odds.odds_board(ctx, ATLANTA, PRO, now)
    community = await odds.odds_board(ctx, ATLANTA, COMMUNITY, now)
    assert pro.as_of == now and not pro.delayed
    assert community.as_of == now - timedelta(minutes=10) and community.delayed
    for board in (pro, community):
        assert {m.market for m in board.markets} == {Market.SPREADS, Market.TOTALS, Market.H2H}
        for market in board.markets:
            assert all(named.line.observed_at <= board.as_of for named in market.lines)
            assert market.consensus is None or market.consensus.at <= board.as_of
    assert all(m.lines == () for m in community.markets)  # no book names for Community
    assert any(m.distribution for m in community.markets)
    assert any(m.lines for m in pro.markets)
    spreads = next(m for m in pro.markets if m.market == Market.SPREADS)
    assert sum(c.books for c in spreads.distribution) == len(spreads.lines)
    # Pro reads display names (the feed's titles), alphabetically; the keys stay inside the lines.
    names = [named.name for named in spreads.lines]
    assert "Caesars" in names and "williamhill_us" not in names and names == sorted(names, key=str.casefold)
    # Each side's best quote: the most points, then the best price.
    home, away = spreads.best
    assert home == max(
        ((n.line.point, n.line.price_a) for n in spreads.lines), key=lambda q: (q[0], odds.american_to_decimal(q[1]))
    )
    assert away[0] == max(-n.line.point for n in spreads.lines)


def test_best_quotes_prefer_the_number_then_the_price():
    at = datetime(2026, 8, 5, tzinfo=UTC)

    def line(book, market, point, a, b):
        return BookLine("g", book, market, point, a, b, at, at)

    totals = [line("x", Market.TOTALS, 183.5, -110, -110), line("y", Market.TOTALS, 182.5, -115, -105)]
    assert odds.best_quotes(Market.TOTALS, totals) == ((182.5, -115), (183.5, -110))
    h2h = [line("x", Market.H2H, None, -205, 170), line("y", Market.H2H, None, -220, 185)]
    assert odds.best_quotes(Market.H2H, h2h) == ((None, -205), (None, 185))
    spreads = [line("x", Market.SPREADS, -5.5, -110, -110), line("y", Market.SPREADS, -5.5, -105, -115)]
    assert odds.best_quotes(Market.SPREADS, spreads) == ((-5.5, -105), (5.5, -110))
    assert odds.best_quotes(Market.SPREADS, []) is None


async def test_signals_respect_the_delay_and_redaction(world):
    ctx, clock = world
    now = clock()
    pro = await signals.recent_signals(ctx, PRO, now)
    community = await signals.recent_signals(ctx, COMMUNITY, now)
    assert pro and community
    assert all(not v.redacted for v in pro)
    horizon = now - timedelta(minutes=10)
    for view in community:
        assert view.redacted and view.created_at <= horizon
        assert view.velocity is None and view.books is None and view.breakdown is None and view.entry_book is None
    # A signal younger than ten minutes is answered to Community like an unknown id, shown to Pro.
    fresh = await ctx.repos.signals.list(since=horizon, limit=1)
    if fresh:
        with pytest.raises(access.NotFound, match=r"^No signal with id"):
            await signals.one_signal(ctx, fresh[0].id, COMMUNITY, now)
        assert (await signals.one_signal(ctx, fresh[0].id, PRO, now)).books
    with pytest.raises(access.NotFound):
        await signals.one_signal(ctx, "no-such-signal", PRO, now)


async def test_presets_are_pro_and_filter(world):
    ctx, clock = world
    with pytest.raises(UpgradeRequired):
        await signals.recent_signals(ctx, COMMUNITY, clock(), preset="low_noise")
    # Low Noise asks for a class with a positive lift: by this morning no class has the 30 graded a preset
    # must rest on (`clv.preset_min_graded`), so it shows nothing rather than a lift over a handful of games.
    assert await signals.recent_signals(ctx, PRO, clock(), preset="low_noise") == []
    ctx.settings.clv.preset_min_graded = 0
    low_noise = await signals.recent_signals(ctx, PRO, clock(), preset="low_noise")
    assert low_noise and all(v.type != SignalType.DISLOCATION and len(v.books) >= 3 for v in low_noise)
    with pytest.raises(UserError, match="Unknown preset"):
        await signals.recent_signals(ctx, PRO, clock(), preset="yolo")


async def test_community_watchlist_holds_three_upcoming_games(world):
    ctx, clock = world
    now = clock()
    game_ids = [g.game.id for g in await ctx.repos.games.list_open()]
    assert set(game_ids) == {ATLANTA, WASHINGTON}
    # Two more upcoming games, so that the fourth one can be refused.
    atlanta = (await ctx.repos.games.get(ATLANTA)).game
    async with ctx.repos.db.transaction():
        for n in (1, 2):
            extra = replace(atlanta, id=f"extra{n}", commence_time=now + timedelta(days=n))
            await ctx.repos.games.upsert(extra, seen_at=now)
    await watchlist.add(ctx, COMMUNITY, ATLANTA, now)
    await watchlist.add(ctx, COMMUNITY, WASHINGTON, now)
    await watchlist.add(ctx, COMMUNITY, "extra1", now)
    with pytest.raises(UserError, match=r"full \(3 upcoming games\).*upgrade"):
        await watchlist.add(ctx, COMMUNITY, "extra2", now)
    await watchlist.add(ctx, PRO, ATLANTA, now)
    with pytest.raises(UserError, match="already on your watchlist"):
        await watchlist.add(ctx, PRO, ATLANTA, now)
    with pytest.raises(UserError, match="already tipped off"):
        await watchlist.add(ctx, COMMUNITY, NEW_YORK, now)
    # Once the Atlanta game has started it stops counting.
    later = datetime(2026, 8, 5, 23, 5, tzinfo=UTC)
    await watchlist.add(ctx, COMMUNITY, "extra2", later)
    games, limit = await watchlist.listing(ctx, COMMUNITY, later)
    assert limit == 3 and len(games) == 4
    await watchlist.remove(ctx, COMMUNITY, ATLANTA, later)
    with pytest.raises(UserError, match="not on your watchlist"):
        await watchlist.remove(ctx, COMMUNITY, ATLANTA, later)


async def test_bets_are_pro_validated_and_graded_at_the_close(world):
    ctx, clock = world
    now = clock()
    with pytest.raises(UpgradeRequired):
        await bets.log_bet(
            ctx, COMMUNITY, game=ATLANTA, market="spreads", side="home", line="-4.5", price=-110, book=None, now=now
        )
    bad = [
        ({"market": "corners"}, "Market must be"),
        ({"side": "over"}, "Side must be"),
        ({"line": "four"}, "must be a number"),
        ({"line": "-99"}, "not a real line"),
        ({"price": 50}, "American odds"),
        ({"price": 0}, "American odds"),
        ({"game": NEW_YORK}, "already tipped off"),
        ({"game": "Nobody @ Nowhere"}, "No game matches"),
    ]
    base = {"game": ATLANTA, "market": "spreads", "side": "home", "line": "-4.5", "price": -110, "book": "fanduel"}
    for change, message in bad:
        with pytest.raises(UserError, match=message):
            await bets.log_bet(ctx, PRO, **{**base, **change}, now=now)
    assert await ctx.repos.bets.for_member(1, PRO.user_id) == []
    bet, game = await bets.log_bet(ctx, PRO, **{**base, "side": "Atlanta Dream"}, now=now)
    assert bet.side == Side.HOME and bet.point == -4.5 and game.home_team == "Atlanta Dream"
    total, _ = await bets.log_bet(ctx, PRO, **{**base, "market": "totals", "side": "over", "line": "183.5"}, now=now)
    # Play the rest of the tape: the games close and the bets are graded.
    for raw in TAPE:
        if raw.fetched_at > CUT:
            await ctx.engine.process(raw)
    await bets.grade_game(ctx, ATLANTA, clock())
    rows = {b.id: (b, g, grade) for b, g, grade in await bets.member_bets(ctx, PRO)}
    close = {c.market: c for c in await ctx.repos.closes.for_game(ATLANTA)}
    spread_grade = rows[bet.id][2]
    assert spread_grade.close_point == close[Market.SPREADS].side_point(Side.HOME)
    assert spread_grade.clv_points == pytest.approx(-4.5 - close[Market.SPREADS].point)
    total_grade = rows[total.id][2]
    assert total_grade.clv_points == pytest.approx(close[Market.TOTALS].point - 183.5)
    record = await bets.clv_record(ctx, PRO)
    assert record.bets == 2 and record.graded == 2


async def test_exports_are_pro_and_bounded(world):
    ctx, clock = world
    with pytest.raises(UpgradeRequired):
        await downloads.export_signals(ctx, COMMUNITY, 7, clock())
    with pytest.raises(UserError, match="between 1 and 90"):
        await downloads.export_signals(ctx, PRO, 365, clock())
    name, data = await downloads.export_signals(ctx, PRO, 7, clock())
    lines = data.decode().splitlines()
    assert name.endswith(".csv") and lines[0].startswith("id,created_at,type")
    assert len(lines) - 1 == len(await ctx.repos.signals.list(limit=10_000))


async def test_community_chart_is_delayed_and_has_no_book_lines(world, monkeypatch):
    ctx, clock = world
    seen = {}

    def fake_render(game, market, consensus, book_lines, marks, bets, *, until, footer, names, sharp):
        seen.update(consensus=consensus, book_lines=book_lines, marks=marks, until=until, footer=footer, names=names)
        return b"\x89PNG"

    monkeypatch.setattr(downloads, "render_line_chart", fake_render)
    now = clock()
    await downloads.line_chart(ctx, COMMUNITY, ATLANTA, "spreads", now)
    assert seen["book_lines"] is None and seen["until"] == now - timedelta(minutes=10) and seen["names"] == {}
    assert "to tip" in seen["footer"] and "Community" in seen["footer"]
    assert all(c.at <= seen["until"] for c in seen["consensus"])
    assert all(m.at <= seen["until"] for m in seen["marks"])
    await downloads.line_chart(ctx, PRO, ATLANTA, "spreads", now)
    assert seen["book_lines"] and seen["until"] == now and seen["names"]["williamhill_us"] == "Caesars"
    with pytest.raises(UserError, match="Market must be"):
        await downloads.line_chart(ctx, PRO, ATLANTA, "corners", now)


class RecordingDelivery:
    """A sender for the outbox worker that records what it was asked to send (or fails as told)."""

    kinds = frozenset({"alert", "watch_dm", "digest", "message", "dm"})
    policy = None

    def __init__(self, fail_with=None) -> None:
        self.sent = []
        self.fail_with = fail_with

    def ready(self) -> bool:
        return True

    async def send(self, item, now):
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append((item.kind, item.payload["target_id"], item.payload.get("signal_ids", [])))

    async def gave_up(self, item, reason, now, *, target_gone):
        pass


async def fan_out(ctx, signal, now) -> int:
    """What the engine's commit does for a new signal: the outbox rows it owes, in one transaction."""

    async def render(move, price, note, held, at):
        return [{"title": move.id}]

    fanout = Fanout(
        ctx.repos,
        ctx.settings,
        clock=lambda: now,
        webhooks=None,
        signal_json=dict,
        grade_json=dict,
        move_json=lambda move, price: {},
        price_now=partial(prices.price_now, ctx),
        render_move=render,
    )
    async with ctx.repos.db.transaction():
        return await fanout.poll_rows([signal], now)


async def deliver_due(ctx, sender, now) -> tuple[int, int]:
    """One round of the one worker with `sender`: (sent, failed for good)."""
    policy = RetryPolicy(base=30, rng=lambda: 1.0, max_attempts=12)
    done = await DeliveryWorker(ctx.repos, clock=lambda: now, policy=policy, senders=[sender]).deliver_due(None, now)
    return done.sent, done.failed


async def test_alerts_are_queued_before_delivery_and_survive_failures(world, tmp_path):
    ctx, clock = world
    now = clock()
    await alerts.set_route(ctx, 1, 500, frozenset({SignalType.STEAM}), by=9, now=now)
    await alerts.set_route(ctx, 1, 501, alerts.parse_types("all"), by=9, now=now)
    await watchlist.add(ctx, PRO, ATLANTA, now)
    await alerts.set_dm_alerts(ctx, PRO, True)
    with pytest.raises(UpgradeRequired):
        await alerts.set_dm_alerts(ctx, COMMUNITY, True)
    steam = next(
        s for s in await ctx.repos.signals.list(limit=500) if s.type == SignalType.STEAM and s.game_id == ATLANTA
    )
    steam = replace(steam, created_at=now)  # fresh, as if it had just fired
    assert await fan_out(ctx, steam, now) == 3  # two channels, one DM
    assert await fan_out(ctx, steam, now) == 0  # never queued twice
    # Discord is down: every delivery is kept for later with a backoff.
    assert await deliver_due(ctx, RecordingDelivery(DeliveryRetry("503")), now) == (0, 0)
    assert all(item.attempts == 1 and item.next_attempt_at > now for item in await ctx.repos.outbox.pending())
    # It comes back: everything owed goes out once.
    later = now + timedelta(minutes=5)
    delivery = RecordingDelivery()
    assert await deliver_due(ctx, delivery, later) == (3, 0)
    assert sorted(delivery.sent) == sorted(
        [("alert", 500, [steam.id]), ("alert", 501, [steam.id]), ("watch_dm", PRO.user_id, [steam.id])]
    )
    assert await deliver_due(ctx, delivery, later + timedelta(hours=2)) == (0, 0)
    # A permanent failure (the channel is gone, no permission) is recorded and not retried.
    await alerts.remove_route(ctx, 1, 501)
    await alerts.set_dm_alerts(ctx, PRO, False)
    other = next(s for s in await ctx.repos.signals.list(limit=500) if s.type == SignalType.STEAM and s.id != steam.id)
    assert await fan_out(ctx, replace(other, created_at=later), later) == 1
    assert await deliver_due(ctx, RecordingDelivery(DeliveryFailed("403 Missing Access")), later) == (0, 1)
    assert await ctx.repos.outbox.pending() == []
    assert await deliver_due(ctx, delivery, later + timedelta(hours=2)) == (0, 0)
    with pytest.raises(UserError, match="Unknown alert type"):
        alerts.parse_types("STEAM, SPAM")
    with pytest.raises(UserError, match="no alert route"):
        await alerts.remove_route(ctx, 1, 501)


async def test_alerts_owed_across_a_restart_and_the_community_digest(world, tmp_path):
    ctx, clock = world
    now = clock()
    config = ctx.settings
    config.discord.community_channels = [700]
    await alerts.set_route(ctx, 1, 500, frozenset(SignalType), by=9, now=now)
    fresh = [s for s in await ctx.repos.signals.list(limit=500)][:2]
    fresh = [replace(s, created_at=now - timedelta(minutes=m)) for s, m in zip(fresh, (1, 12), strict=True)]
    for signal in fresh:
        await fan_out(ctx, signal, now)
    # The process dies before delivering: a new context on the same database still owes both alerts.
    path = ctx.repos.db.target
    await ctx.repos.close()
    repos = await Repositories.open(path)
    try:
        ctx2 = ServiceContext(config, repos, ctx.engine, clock)
        assert len(await repos.outbox.pending()) == 2
        delivery = RecordingDelivery()
        assert await deliver_due(ctx2, delivery, now) == (2, 0)
        # The digest only carries signals at least ten minutes old: stored ones, per the Community horizon.
        assert await alerts.queue_digests(ctx2, now) >= 1
        await deliver_due(ctx2, delivery, now)
        digests = [ids for kind, target, ids in delivery.sent if kind == "digest"]
        horizon = now - timedelta(minutes=10)
        for ids in digests:
            for signal_id in ids:
                assert (await repos.signals.get(signal_id)).created_at <= horizon
        assert await alerts.queue_digests(ctx2, now) == 0  # nothing new since
    finally:
        await repos.close()
