"""Alerts that carry the number: one alert per move (one poll's signals on one game × market × side), headed
by the best price now and its EV against the fair price; the heat `/signal` shows; the age and no ping when
late or already −EV; watchlist DMs per move with their filters.

Driven like tests/integration/test_bot.py: the real bot through discord.py against the fake Discord on loopback, the
database holding the bundled tape replayed to the morning of 2026-08-05. Where a test needs the price now to
be a known number it writes the books' lines and the consensus of that moment itself, and the EVs below are
worked by hand: at a fair −4.5 / 50% (a half-point number: no push) the home side at decimal d is worth
0.5 × d − 1 — +110 is +5.0%, +120 is +10.0%, −130 is 0.5 × 1.769231 − 1 = −11.5%."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import discord
import pytest

from bot import render
from engine.models import Market, Side, SignalType
from engine.poll_moves import group_moves, move_id
from tests.bot_rig import bot_on_fake, final, price_market
from tests.fake_discord import FakeDiscord
from tests.tape_games import ATLANTA, BOOKS, WASHINGTON

COMMUNITY = FakeDiscord.COMMUNITY_USER_ID
PRO = FakeDiscord.PRO_USER_ID
MOD = FakeDiscord.MOD_USER_ID
PING = f"<@&{FakeDiscord.PRO_ROLE_ID}>"
#: Discord's SUPPRESS_NOTIFICATIONS message flag: how a DM goes out "without a ping".
SILENT = 1 << 12
FIELD_ID = re.compile(r"id `([^`]+)`$")


@pytest.fixture
async def stack(template_db, tmp_path, monkeypatch):  # template_db: tests/conftest.py
    async with bot_on_fake(template_db, tmp_path, monkeypatch) as rig:
        yield rig.fake, rig.bot, rig.clock


async def _route_all(fake) -> int:
    channel = fake.channels["steam-alerts"]
    await final(await fake.invoke_slash("mod alerts set", {"channel": channel, "types": "all"}, user_id=MOD))
    return channel


async def _stored(bot, kind: SignalType, market: Market, game_id: str):
    return next(
        s
        for s in await bot.ctx.repos.signals.list(limit=500)
        if s.type == kind and s.market == market and s.game_id == game_id
    )


async def _poll(bot, signals) -> int:
    """What the engine's commit does for one poll: insert its signals and write the rows they owe, in one
    transaction (`Fanout.on_commit`)."""
    async with bot.ctx.repos.db.transaction():
        for signal in signals:
            await bot.ctx.repos.signals.insert(signal)
        return await bot.app.fanout.on_commit(SimpleNamespace(signals=list(signals), grades=[]))


async def _move(bot, at, count: int, *, prefix="poll", side=Side.HOME):
    """`count` distinct signals of one move: copies of Atlanta's stored spread signals (STEAM, KEY_CROSS and
    DISLOCATIONs), renamed, on `side`, all created at `at`."""
    stored = [s for s in await bot.ctx.repos.signals.list(limit=500) if s.game_id == ATLANTA and s.market == "spreads"]
    return [replace(stored[i % len(stored)], id=f"{prefix}-{i:02d}", side=side, created_at=at) for i in range(count)]


async def _price_the_market(bot, at, price_a: int, price_b: int, *, best: tuple[str, int] | None = None) -> None:
    """Atlanta's spreads at `at`: every book at home −4.5 (`price_a` / `price_b`), the consensus −4.5, 50/50."""
    await price_market(bot.ctx.repos, ATLANTA, Market.SPREADS, at, price_a, price_b, best=best)


def _fields(embed) -> dict[str, str]:
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


def _embed_chars(embed) -> int:
    """Discord's count towards 6000: title, description, field names and values, footer, author."""
    return (
        len(embed.get("title", ""))
        + len(embed.get("description", ""))
        + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
        + len(embed.get("footer", {}).get("text", ""))
        + len(embed.get("author", {}).get("name", ""))
    )


def _within_discord_limits(message) -> None:
    embeds = message["embeds"]
    assert 1 <= len(embeds) <= 10
    assert sum(_embed_chars(e) for e in embeds) <= 6000
    assert all(len(e.get("title", "")) <= 256 and len(e.get("fields", [])) <= 25 for e in embeds)
    assert all(len(f["value"]) <= 1024 for e in embeds for f in e.get("fields", []))
    assert len(message.get("content") or "") <= 2000


def _signal_id(embed) -> str:
    """The id of a one-signal embed (`/signal`, the digest): the footer's."""
    return embed["footer"]["text"].split("id ", 1)[1].split(" ", 1)[0]


def _in_move_order(signals) -> list[str]:
    """The ids of one move's signals as it lists them (by type: STEAM, KEY_CROSS, DISLOCATION; then id)."""
    [move] = group_moves(signals)
    return [s.id for s in move.signals]


def _move_ids(embed) -> list[str]:
    """The signal ids a move's embed lists, in its order (each signal's field ends with its id)."""
    return [m.group(1) for f in embed.get("fields", []) if (m := FIELD_ID.search(f["value"]))]


# ------------------------------------------------------------------ one move, one alert


async def test_one_move_is_one_alert_headed_by_the_best_price_now_and_its_ev(stack):
    fake, bot, clock = stack
    channel = await _route_all(fake)
    clock.advance(minutes=1)
    at = clock()
    # Home −4.5 at +110 everywhere, +120 at Bovada; away +4.5 at +100 (the fair price: EV 0).
    await _price_the_market(bot, at, 110, 100, best=("bovada", 120))
    steam = await _stored(bot, SignalType.STEAM, Market.SPREADS, ATLANTA)
    cross = await _stored(bot, SignalType.KEY_CROSS, Market.SPREADS, ATLANTA)
    dislocation = await _stored(bot, SignalType.DISLOCATION, Market.SPREADS, ATLANTA)
    # One poll: four signals on Atlanta's home spread (STEAM, KEY_CROSS, two DISLOCATIONs: one move), and
    # one on the away side (another move).
    signals = [
        replace(dislocation, id="m-disl-b", side=Side.HOME, created_at=at),
        replace(steam, id="m-steam", side=Side.HOME, created_at=at),
        replace(dislocation, id="m-away", side=Side.AWAY, created_at=at),
        replace(cross, id="m-cross", side=Side.HOME, created_at=at),
        replace(dislocation, id="m-disl-a", side=Side.HOME, created_at=at),
    ]
    assert await _poll(bot, signals) == 2  # one row per move and channel
    assert await bot.deliver_outbox() == (2, 0)
    spread, away = fake.channel_messages[channel]
    for message in (spread, away):
        assert len(message["embeds"]) == 1 and message["content"] == PING  # one embed, one ping, per move
        _within_discord_limits(message)
    [embed] = spread["embeds"]
    assert _move_ids(embed) == ["m-steam", "m-cross", "m-disl-a", "m-disl-b"]
    assert _move_ids(away["embeds"][0]) == ["m-away"]
    assert (
        "+4.5 (+100) at " in away["embeds"][0]["description"]
        and "EV +0.0% against the fair +4.5 (\u2212100)" in (away["embeds"][0]["description"])
    )
    # Headed by the move: the types that fired, the side with the best price now, the game.
    assert embed["title"] == "STEAM + KEY_CROSS + DISLOCATION · Atlanta Dream \u22124.5 (+120) · Mercury @ Dream"
    assert (
        "**Best price now** \u22124.5 (+120) at Bovada · EV +10.0% against the fair \u22124.5 (\u2212100)"
        in embed["description"]
    )
    fields = _fields(embed)
    assert fields["Signals"] == "4" and fields["Heat"] in render.HEAT
    assert fields["Score"].startswith(f"{max(s.score for s in signals[:2] + signals[3:])}/100")
    # Each signal with its own diagnostics (Pro): the STEAM's velocity and movers, the dislocation's gap.
    steam_field = next(f["value"] for f in embed["fields"] if f["name"].startswith("STEAM · "))
    assert "Velocity: " in steam_field and "Books (first mover first): " in steam_field
    disl_field = next(f["value"] for f in embed["fields"] if f["name"].startswith("DISLOCATION · "))
    assert "Dislocation: gap " in disl_field and "Fired at " in disl_field
    assert embed["footer"]["text"].endswith(f"move {move_id(ATLANTA, Market.SPREADS, Side.HOME, at)}")

    # The rows are per move × target, keyed by the move's id, and carry exactly what was posted.
    rows = await bot.ctx.repos.outbox.for_target(f"channel:{channel}")
    spread_id = move_id(ATLANTA, Market.SPREADS, Side.HOME, at)
    away_id = move_id(ATLANTA, Market.SPREADS, Side.AWAY, at)
    assert [r.key for r in rows] == [
        f"move.created:{spread_id}:channel:{channel}",
        f"move.created:{away_id}:channel:{channel}",
    ]
    assert rows[0].payload["embeds"] == spread["embeds"] and rows[0].payload["ping"] is True
    assert rows[0].payload["signal_ids"] == ["m-steam", "m-cross", "m-disl-a", "m-disl-b"]
    # The same poll again (a re-fan-out, a replay): the same ids, nothing new owed, nothing posted twice.
    async with bot.ctx.repos.db.transaction():
        assert await bot.app.fanout.on_commit(SimpleNamespace(signals=list(reversed(signals)), grades=[])) == 0
    assert await bot.deliver_outbox() == (0, 0)
    assert len(fake.channel_messages[channel]) == 2


async def test_a_move_already_negative_ev_goes_out_without_a_ping_and_says_so(stack):
    fake, bot, clock = stack
    channel = await _route_all(fake)
    await final(await fake.invoke_slash("watch add", {"game": ATLANTA}, user_id=PRO))
    await final(await fake.invoke_slash("alerts dm", {"enabled": "on"}, user_id=PRO))
    assert bot.ctx.settings.alerts.max_negative_ev == 0.01
    clock.advance(minutes=1)
    at = clock()
    await _price_the_market(bot, at, -130, -130)  # home −4.5 (−130) at every book: −11.5%
    minus = await _move(bot, at, 2, prefix="minus")
    await _poll(bot, minus)
    assert await bot.deliver_outbox() == (2, 0)  # the channel's alert and the watcher's DM
    note = (
        "No ping: the best price now is already \u221211.5% EV against the fair price (alerts ping down to \u22121.0%)."
    )
    [message] = fake.channel_messages[channel]
    assert message["content"] == note and PING not in json.dumps(message)
    assert message["message"]["mention_roles"] == []
    assert message["allowed_mentions"].get("roles", []) == [] and message["allowed_mentions"].get("parse", []) == []
    assert "EV \u221211.5% against the fair \u22124.5 (\u2212100)" in message["embeds"][0]["description"]
    assert note in message["embeds"][0]["description"]
    [dm] = fake.dms[PRO]
    assert dm["content"] == note and int(dm.get("flags") or 0) & SILENT  # the DM comes without a notification
    assert _move_ids(dm["embeds"][0]) == _in_move_order(minus)

    # A minute later the books pay +110 (+5.0%): the next move pings, and its DM notifies.
    clock.advance(minutes=1)
    at = clock()
    await _price_the_market(bot, at, 110, -130)
    await _poll(bot, await _move(bot, at, 1, prefix="plus"))
    assert await bot.deliver_outbox() == (2, 0)
    ping = fake.channel_messages[channel][-1]
    assert ping["content"] == PING and ping["message"]["mention_roles"] == [str(FakeDiscord.PRO_ROLE_ID)]
    assert "EV +5.0% against the fair" in ping["embeds"][0]["description"]
    assert not int(fake.dms[PRO][-1].get("flags") or 0) & SILENT and fake.dms[PRO][-1].get("content") is None


async def test_signal_shows_the_best_price_now_and_its_ev(stack):
    fake, bot, clock = stack
    steam = next(
        s
        for s in await bot.ctx.repos.signals.list(limit=500)
        if (s.type, s.game_id, s.market, s.side) == (SignalType.STEAM, ATLANTA, Market.SPREADS, Side.HOME)
    )
    assert clock() - steam.created_at > timedelta(minutes=10)  # fired before: the price now is another
    clock.advance(minutes=1)
    await _price_the_market(bot, clock(), 110, -130, best=("bovada", 120))
    pro = await final(await fake.invoke_slash("signal", {"id": steam.id}, user_id=PRO))
    assert _fields(pro.embeds[0])["Best price now"].startswith(
        "\u22124.5 (+120) at Bovada · EV +10.0% against the fair \u22124.5 (\u2212100) · fair as of <t:"
    )
    # Community sees the price of its horizon (ten minutes ago: the tape's own lines), without the book.
    community = await final(await fake.invoke_slash("signal", {"id": steam.id}, user_id=COMMUNITY))
    shown = _fields(community.embeds[0])["Best price now"]
    assert " at " not in shown and "EV " in shown and "against the fair" in shown
    for book in BOOKS:
        assert book not in json.dumps(community.embeds), book


async def test_community_titles_keep_the_number_but_name_no_book(stack):
    fake, bot, _ = stack
    general = fake.channels["general"]
    spread = await _stored(bot, SignalType.DISLOCATION, Market.SPREADS, WASHINGTON)  # 25 minutes old
    assert (spread.side, spread.entry.point, spread.entry.price) == (Side.AWAY, -2.5, -110)
    assert spread.entry.book == "betus"
    assert await bot.queue_digests() >= 1
    await bot.deliver_outbox()
    embeds = [e for m in fake.channel_messages[general] for e in m["embeds"]]
    mine = next(e for e in embeds if _signal_id(e) == spread.id)
    assert mine["title"] == "DISLOCATION · Dallas Wings \u22122.5 (\u2212110) · Wings @ Mystics"
    assert "Best number" in _fields(mine) and " at " not in _fields(mine)["Best number"]
    text = json.dumps(embeds)
    for book in BOOKS:
        assert book not in text, book


async def test_a_dislocation_alert_and_signal_show_the_ev_it_fired_on(stack):
    fake, bot, clock = stack
    channel = await _route_all(fake)
    under = await _stored(bot, SignalType.DISLOCATION, Market.TOTALS, ATLANTA)
    shown = f"EV at fire {100 * under.ev_at_fire:+.1f}%".replace("-", "\u2212")
    await _poll(bot, [replace(under, id="ev-under", created_at=clock())])
    assert await bot.deliver_outbox() == (1, 0)
    [message] = fake.channel_messages[channel]
    # In the move's alert, the signal's own lines carry it (one field per signal).
    [field] = [f["value"] for f in message["embeds"][0]["fields"] if f["name"].startswith("DISLOCATION · ")]
    assert f"Value: {shown} against the no-vig consensus" in field
    pro = await final(await fake.invoke_slash("signal", {"id": under.id}, user_id=PRO))
    assert _fields(pro.embeds[0])["Value"].startswith(shown)
    listed = await final(await fake.invoke_slash("signals", {"type": "DISLOCATION"}, user_id=PRO))
    assert shown in json.dumps(listed.embeds, ensure_ascii=False)
    community = await final(await fake.invoke_slash("signal", {"id": under.id}, user_id=COMMUNITY))
    assert "EV at fire" not in json.dumps(community.embeds, ensure_ascii=False)


# ------------------------------------------------------------------ heat


async def test_alert_heat_is_the_heat_signal_shows(stack):
    fake, bot, clock = stack
    channel = await _route_all(fake)
    base = await _stored(bot, SignalType.STEAM, Market.SPREADS, ATLANTA)
    fresh = replace(base, id="hot-steam", created_at=clock(), score=90)
    await _poll(bot, [fresh])
    # The watcher's DM too.
    await final(await fake.invoke_slash("watch add", {"game": ATLANTA}, user_id=PRO))
    await final(await fake.invoke_slash("alerts dm", {"enabled": "on"}, user_id=PRO))
    clock.advance(seconds=1)  # the next poll
    dm_signal = replace(base, id="hot-steam-2", created_at=clock(), score=90)
    await _poll(bot, [dm_signal])
    assert await bot.deliver_outbox() == (3, 0)

    shown = await final(await fake.invoke_slash("signal", {"id": "hot-steam"}, user_id=PRO))
    heat = _fields(shown.embeds[0])["Heat"]
    assert heat != render.HEAT[0]  # a game with a score-90 steam now is hot: "·" would be the old bug
    alert = next(e for m in fake.channel_messages[channel] for e in m["embeds"] if _move_ids(e) == ["hot-steam"])
    assert _fields(alert)["Heat"] == heat
    shown = await final(await fake.invoke_slash("signal", {"id": "hot-steam-2"}, user_id=PRO))
    [dm] = fake.dms[PRO]
    assert _fields(dm["embeds"][0])["Heat"] == _fields(shown.embeds[0])["Heat"] != render.HEAT[0]


async def test_digest_heat_is_the_heat_signal_shows_to_community(stack):
    fake, bot, _ = stack
    general = fake.channels["general"]
    assert await bot.queue_digests() >= 1
    await bot.deliver_outbox()
    embeds = [e for m in fake.channel_messages[general] for e in m["embeds"]]
    assert embeds
    heats = set()
    for embed in embeds:
        shown = await final(await fake.invoke_slash("signal", {"id": _signal_id(embed)}, user_id=COMMUNITY))
        assert _fields(embed)["Heat"] == _fields(shown.embeds[0])["Heat"]
        heats.add(_fields(embed)["Heat"])
    assert heats - {render.HEAT[0]}  # the tape's busiest game is warm for Community too


# ------------------------------------------------------------------ age and ping


async def test_a_late_alert_posts_without_the_ping_and_says_its_age(stack):
    fake, bot, clock = stack
    channel = await _route_all(fake)
    assert bot.ctx.settings.discord.alert_ping_max_age_seconds == 300
    base = await _stored(bot, SignalType.STEAM, Market.SPREADS, ATLANTA)
    late = replace(base, id="late-steam", created_at=clock() - timedelta(minutes=6))
    await _price_the_market(bot, late.created_at, 110, 110)  # worth taking (+5.0%): only the age stops the ping
    await _poll(bot, [late])
    assert await bot.deliver_outbox() == (1, 0)
    [message] = fake.channel_messages[channel]
    stamp = f"<t:{int(late.created_at.timestamp())}:R>"
    assert PING not in (message["content"] or "")
    assert stamp in message["content"] and "no ping" in message["content"]
    assert message["message"]["mention_roles"] == []
    assert message["allowed_mentions"].get("roles", []) == [] and message["allowed_mentions"].get("parse", []) == []
    assert stamp in message["embeds"][0]["description"]

    # A fresh one (four minutes old: within the age) still pings the Pro role, and shows its age too.
    fresh = replace(base, id="fresh-steam", created_at=clock() - timedelta(minutes=4))
    await _price_the_market(bot, fresh.created_at, 110, 110)
    await _poll(bot, [fresh])
    assert await bot.deliver_outbox() == (1, 0)
    ping = fake.channel_messages[channel][-1]
    assert ping["content"] == PING
    assert ping["message"]["mention_roles"] == [str(FakeDiscord.PRO_ROLE_ID)]
    assert f"<t:{int(fresh.created_at.timestamp())}:R>" in ping["embeds"][0]["description"]


# ------------------------------------------------------------------ moves and messages


async def test_twelve_signals_of_one_move_are_one_embed_within_discords_limits(stack):
    fake, bot, clock = stack
    channel = await _route_all(fake)
    signals = await _move(bot, clock(), 12)
    assert await _poll(bot, signals) == 1
    assert await bot.deliver_outbox() == (1, 0)
    [message] = fake.channel_messages[channel]
    _within_discord_limits(message)
    [embed] = message["embeds"]
    listed = _move_ids(embed)
    more = _fields(embed).get("More", "0 more")
    assert listed == _in_move_order(signals)[: len(listed)]
    assert len(listed) + int(more.split()[0]) == 12 and _fields(embed)["Signals"] == "12"


async def test_two_polls_are_two_moves_and_two_messages(stack):
    fake, bot, clock = stack
    channel = await _route_all(fake)
    first = await _move(bot, clock(), 2, prefix="first")
    await _poll(bot, first)
    clock.advance(seconds=60)
    second = await _move(bot, clock(), 3, prefix="second")
    await _poll(bot, second)
    assert await bot.deliver_outbox() == (2, 0)
    messages = fake.channel_messages[channel]
    assert [[_move_ids(e) for e in m["embeds"]] for m in messages] == [
        [_in_move_order(first)],
        [_in_move_order(second)],
    ]


async def test_a_failed_alert_is_retried_whole_under_the_same_nonce(stack, monkeypatch):
    fake, bot, clock = stack
    channel = await _route_all(fake)
    clock.advance(minutes=1)  # past the tape's last poll: an instant of its own
    await _price_the_market(bot, clock(), 110, 110)  # worth taking: it pings
    signals = await _move(bot, clock(), 3)
    await _poll(bot, signals)
    real_send = discord.abc.Messageable.send
    calls = []

    async def flaky(self, *args, **kwargs):
        calls.append(kwargs.get("nonce"))
        if len(calls) == 1:
            raise OSError("connection reset")
        return await real_send(self, *args, **kwargs)

    monkeypatch.setattr(discord.abc.Messageable, "send", flaky)
    assert await bot.deliver_outbox() == (0, 0)  # the row waits for its retry
    assert fake.channel_messages.get(channel, []) == []
    assert len(await bot.ctx.repos.outbox.pending()) == 1
    clock.advance(seconds=30)  # past the first retry's backoff (≤ 5 s), well within the ping age
    assert await bot.deliver_outbox() == (1, 0)
    [message] = fake.channel_messages[channel]
    assert _move_ids(message["embeds"][0]) == _in_move_order(signals)
    assert message["content"] == PING
    assert calls[0] == calls[1]  # the same message, the same nonce


async def test_a_fan_out_that_dies_half_way_leaves_no_part_of_a_move_and_the_retry_writes_each_once(stack, monkeypatch):
    """The fan-out runs inside the poll's transaction: a failure after the first move's row rolls back the
    poll with it, and the poll processed again writes every move once, whole, under the same keys."""
    fake, bot, clock = stack
    channel = await _route_all(fake)
    at = clock()
    spread = await _move(bot, at, 3, prefix="home")
    other = await _move(bot, at, 2, prefix="away", side=Side.AWAY)
    fanout = bot.app.fanout
    real = fanout.move_rows
    calls = []

    async def dies_after_the_first_move(move, now, routes, states=None):
        calls.append(move.id)
        if len(calls) == 2:
            raise RuntimeError("killed mid-fan-out")
        return await real(move, now, routes, states)

    monkeypatch.setattr(fanout, "move_rows", dies_after_the_first_move)
    with pytest.raises(RuntimeError):
        await _poll(bot, spread + other)
    assert await bot.ctx.repos.outbox.pending() == [] and await bot.ctx.repos.signals.get("home-00") is None
    monkeypatch.setattr(fanout, "move_rows", real)
    assert await _poll(bot, spread + other) == 2
    assert await _poll(bot, spread + other) == 0
    assert await bot.deliver_outbox() == (2, 0)
    keys = [r.key for r in await bot.ctx.repos.outbox.for_target(f"channel:{channel}")]
    assert keys == [
        f"move.created:{move_id(ATLANTA, Market.SPREADS, Side.HOME, at)}:channel:{channel}",
        f"move.created:{move_id(ATLANTA, Market.SPREADS, Side.AWAY, at)}:channel:{channel}",
    ]
    assert [_move_ids(m["embeds"][0]) for m in fake.channel_messages[channel]] == [
        _in_move_order(spread),
        _in_move_order(other),
    ]


async def test_a_row_written_before_moves_is_still_sent_once(stack):
    """A per-signal row still owed when the bot is upgraded (it holds only `signal_ids`) goes out as one
    message, rendered at send time, as before."""
    fake, bot, clock = stack
    channel = await _route_all(fake)
    steam = replace(await _stored(bot, SignalType.STEAM, Market.SPREADS, ATLANTA), id="legacy", created_at=clock())
    payload = {"signal_ids": [steam.id], "guild_id": FakeDiscord.DEFAULT_GUILD_ID, "target_id": channel}
    async with bot.ctx.repos.db.transaction():
        await bot.ctx.repos.signals.insert(steam)
        await bot.ctx.repos.outbox.enqueue(
            f"signal.created:{steam.id}:channel:{channel}", "alert", f"channel:{channel}", payload, clock()
        )
    assert await bot.deliver_outbox() == (1, 0)
    assert await bot.deliver_outbox() == (0, 0)
    [message] = fake.channel_messages[channel]
    assert [_signal_id(e) for e in message["embeds"]] == ["legacy"] and message["content"] == PING


def test_packing_respects_the_character_limit():
    big = []
    for index in range(3):
        embed = discord.Embed(title=f"#{index}", description="x" * 2500)
        big.append(embed)
    packed = render.pack_embeds(big)
    assert [len(part) for part in packed] == [2, 1]
    assert all(sum(render.embed_size(e) for e in part) <= 6000 for part in packed)
    small = [discord.Embed(title=str(i)) for i in range(23)]
    assert [len(part) for part in render.pack_embeds(small)] == [10, 10, 3]


# ------------------------------------------------------------------ DM filters


async def test_dm_filters_by_type_and_minimum_score(stack):
    fake, bot, clock = stack
    await final(await fake.invoke_slash("watch add", {"game": ATLANTA}, user_id=PRO))
    answer = await final(
        await fake.invoke_slash("alerts dm", {"enabled": "on", "types": "KEY_CROSS", "min_score": 60}, user_id=PRO)
    )
    assert answer.ephemeral and "KEY_CROSS" in answer.content and "60" in answer.content
    prefs = await bot.ctx.repos.members.dm_prefs(FakeDiscord.DEFAULT_GUILD_ID, PRO)
    assert prefs.enabled and prefs.types == frozenset({SignalType.KEY_CROSS}) and prefs.min_score == 60

    cross = await _stored(bot, SignalType.KEY_CROSS, Market.SPREADS, ATLANTA)
    steam = await _stored(bot, SignalType.STEAM, Market.SPREADS, ATLANTA)
    dislocation = await _stored(bot, SignalType.DISLOCATION, Market.SPREADS, ATLANTA)
    at = clock()
    # One move (Atlanta's home spread, one poll): the member's DM lists only what their filters take.
    signals = [
        replace(cross, id="cross-65", created_at=at, score=65),
        replace(cross, id="cross-59", created_at=at, score=59),
        replace(steam, id="steam-90", created_at=at, score=90),
        replace(dislocation, id="disl-80", created_at=at, score=80),
        replace(cross, id="cross-60", created_at=at, score=60),
    ]
    signals = [replace(s, side=Side.HOME) for s in signals]
    await _poll(bot, signals)
    assert await bot.deliver_outbox() == (1, 0)
    [dm] = fake.dms[PRO]
    assert len(dm["embeds"]) == 1 and _move_ids(dm["embeds"][0]) == ["cross-60", "cross-65"]
    row = (await bot.ctx.repos.outbox.for_target(f"user:{PRO}"))[0]
    assert row.key == f"move.created:{move_id(ATLANTA, Market.SPREADS, Side.HOME, at)}:dm:{dm_guild()}:{PRO}"

    # "all" and 0 lift the filters again; turning DMs off keeps them off.
    await final(await fake.invoke_slash("alerts dm", {"enabled": "on", "types": "all", "min_score": 0}, user_id=PRO))
    prefs = await bot.ctx.repos.members.dm_prefs(FakeDiscord.DEFAULT_GUILD_ID, PRO)
    assert prefs.types is None and prefs.min_score == 0
    clock.advance(seconds=1)  # the next polls
    await _poll(bot, [replace(steam, id="steam-later", created_at=clock(), score=40)])
    assert await bot.deliver_outbox() == (1, 0)
    off = await final(await fake.invoke_slash("alerts dm", {"enabled": "off"}, user_id=PRO))
    assert "off" in off.content
    clock.advance(seconds=1)
    await _poll(bot, [replace(cross, id="cross-off", created_at=clock(), score=99)])
    assert await bot.deliver_outbox() == (0, 0)
    assert [_move_ids(dm["embeds"][0]) for dm in fake.dms[PRO]][-1] == ["steam-later"]


def dm_guild() -> int:
    return FakeDiscord.DEFAULT_GUILD_ID


async def test_dm_types_are_checked(stack):
    fake, _, _ = stack
    answer = await final(await fake.invoke_slash("alerts dm", {"enabled": "on", "types": "SPAM"}, user_id=PRO))
    assert answer.ephemeral and "Unknown alert type" in answer.content


async def test_a_polls_moves_read_the_class_states_once_for_watchlist_dms_alone(stack, monkeypatch):
    """The alert states a poll's moves are gated by are the same for every move of that poll (the last change
    before its instant): read once per poll, whether the targets are channels or only watchers' DMs."""
    fake, bot, clock = stack
    await final(await fake.invoke_slash("watch add", {"game": ATLANTA}, user_id=PRO))
    await final(await fake.invoke_slash("alerts dm", {"enabled": "on"}, user_id=PRO))
    repo = bot.ctx.repos.class_states
    real, reads = repo.before, []

    async def counted(at):
        reads.append(at)
        return await real(at)

    monkeypatch.setattr(repo, "before", counted)
    at = clock()
    home = await _move(bot, at, 2, prefix="home")
    away = await _move(bot, at, 2, prefix="away", side=Side.AWAY)
    assert len(group_moves(home + away)) == 2
    assert await _poll(bot, home + away) == 2  # a DM per move, no channel routed
    assert reads == [at]
    assert await bot.deliver_outbox() == (2, 0)
