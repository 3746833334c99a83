"""Alerts that carry the number: titles with side, number and price; the heat `/signal` shows; the age and
no ping when late; one message per poll and channel; watchlist DM filters.

Driven like tests/integration/test_bot.py: the real bot through discord.py against the fake Discord on loopback, the
database holding the bundled tape replayed to the morning of 2026-08-05."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import discord
import pytest

from bot import render
from engine.models import Entry, Market, Side, SignalType
from tests.bot_rig import bot_on_fake, final
from tests.fake_discord import FakeDiscord
from tests.tape_games import ATLANTA, BOOKS, WASHINGTON

COMMUNITY = FakeDiscord.COMMUNITY_USER_ID
PRO = FakeDiscord.PRO_USER_ID
MOD = FakeDiscord.MOD_USER_ID
PING = f"<@&{FakeDiscord.PRO_ROLE_ID}>"


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


async def _copies(bot, clock, count: int, *, at=None, prefix="poll"):
    """`count` distinct signals of one poll (copies of stored ones, renamed, all created at `at`)."""
    stored = await bot.ctx.repos.signals.list(limit=500)
    at = at or clock()
    return [replace(stored[i % len(stored)], id=f"{prefix}-{i:02d}", created_at=at) for i in range(count)]


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
    assert len(message.get("content") or "") <= 2000


def _signal_id(embed) -> str:
    return embed["footer"]["text"].split("id ", 1)[1].split(" ", 1)[0]


# ------------------------------------------------------------------ titles


async def test_titles_carry_side_number_and_price(stack):
    fake, bot, clock = stack
    channel = await _route_all(fake)
    under = await _stored(bot, SignalType.DISLOCATION, Market.TOTALS, ATLANTA)
    spread = await _stored(bot, SignalType.DISLOCATION, Market.SPREADS, WASHINGTON)
    over = await _stored(bot, SignalType.STEAM, Market.TOTALS, WASHINGTON)
    # The entries as stored (the tape's numbers), checked by hand against the titles below.
    assert (under.side, under.entry.point, under.entry.price) == (Side.UNDER, 184.5, -110)
    assert (spread.side, spread.entry.point, spread.entry.price) == (Side.AWAY, -2.5, -110)
    assert (over.side, over.entry.point, over.entry.price) == (Side.OVER, 165.5, -110)
    moneyline = replace(
        under,
        type=SignalType.DISLOCATION,
        market=Market.H2H,
        side=Side.HOME,
        entry=Entry(book="fanduel", point=None, price=150, prob=0.4),
        consensus_point=None,
    )
    signals = [
        replace(under, id="t-under", created_at=clock()),
        replace(spread, id="t-spread", created_at=clock()),
        replace(over, id="t-over", created_at=clock()),
        replace(moneyline, id="t-moneyline", created_at=clock()),
    ]
    await _poll(bot, signals)
    assert await bot.deliver_outbox() == (4, 0)
    [message] = fake.channel_messages[channel]
    titles = [e["title"] for e in message["embeds"]]
    assert titles == [
        "DISLOCATION · Under 184.5 (\u2212110) · Mercury @ Dream",
        "DISLOCATION · Dallas Wings \u22122.5 (\u2212110) · Wings @ Mystics",
        "STEAM · Over 165.5 (\u2212110) · Wings @ Mystics",
        "DISLOCATION · Atlanta Dream +150 · Mercury @ Dream",
    ]
    # Pro: the entry's book is named beside the number, by the feed's title; the movers too.
    assert _fields(message["embeds"][0])["Best number"].endswith("at Bovada")
    steam = _fields(message["embeds"][2])["Books (first mover first)"]
    assert steam and not any(book in steam for book in BOOKS if "_" in book or book.endswith("ag"))


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
    assert _fields(message["embeds"][0])["Value"].startswith(f"{shown} against the no-vig consensus")
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
    dm_signal = replace(base, id="hot-steam-2", created_at=clock(), score=90)
    await _poll(bot, [dm_signal])
    assert await bot.deliver_outbox() == (3, 0)

    shown = await final(await fake.invoke_slash("signal", {"id": "hot-steam"}, user_id=PRO))
    heat = _fields(shown.embeds[0])["Heat"]
    assert heat != render.HEAT[0]  # a game with a score-90 steam now is hot: "·" would be the old bug
    alert = next(e for m in fake.channel_messages[channel] for e in m["embeds"] if _signal_id(e) == "hot-steam")
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
    await _poll(bot, [fresh])
    assert await bot.deliver_outbox() == (1, 0)
    ping = fake.channel_messages[channel][-1]
    assert ping["content"] == PING
    assert ping["message"]["mention_roles"] == [str(FakeDiscord.PRO_ROLE_ID)]
    assert f"<t:{int(fresh.created_at.timestamp())}:R>" in ping["embeds"][0]["description"]


# ------------------------------------------------------------------ grouping


async def test_five_signals_of_one_poll_are_one_message(stack):
    fake, bot, clock = stack
    channel = await _route_all(fake)
    signals = await _copies(bot, clock, 5)
    assert await _poll(bot, signals) >= 5
    assert await bot.deliver_outbox() == (5, 0)
    [message] = fake.channel_messages[channel]
    _within_discord_limits(message)
    assert [_signal_id(e) for e in message["embeds"]] == [s.id for s in signals]
    assert message["content"] == PING  # one ping for the poll
    # Every row is sent; a repeated fan-out owes nothing new and posts nothing.
    rows = [r for r in await bot.ctx.repos.outbox.for_target(f"channel:{channel}")]
    assert [r.key for r in rows] == [f"signal.created:{s.id}:channel:{channel}" for s in signals]
    assert all(r.sent_at is not None for r in rows)
    async with bot.ctx.repos.db.transaction():
        assert await bot.app.fanout.on_commit(SimpleNamespace(signals=signals, grades=[])) == 0
    assert await bot.deliver_outbox() == (0, 0)
    assert len(fake.channel_messages[channel]) == 1


async def test_twelve_signals_are_two_messages_in_order(stack):
    fake, bot, clock = stack
    channel = await _route_all(fake)
    signals = await _copies(bot, clock, 12)
    await _poll(bot, signals)
    assert await bot.deliver_outbox() == (12, 0)
    messages = fake.channel_messages[channel]
    assert [len(m["embeds"]) for m in messages] == [10, 2]
    for message in messages:
        _within_discord_limits(message)
    assert [_signal_id(e) for m in messages for e in m["embeds"]] == [s.id for s in signals]
    assert len({m["nonce"] for m in messages if m.get("nonce")}) == len(messages)


async def test_two_polls_are_two_messages(stack):
    fake, bot, clock = stack
    channel = await _route_all(fake)
    first = await _copies(bot, clock, 2, prefix="first")
    await _poll(bot, first)
    clock.advance(seconds=60)
    second = await _copies(bot, clock, 3, prefix="second")
    await _poll(bot, second)
    assert await bot.deliver_outbox() == (5, 0)
    messages = fake.channel_messages[channel]
    assert [[_signal_id(e) for e in m["embeds"]] for m in messages] == [
        [s.id for s in first],
        [s.id for s in second],
    ]


async def test_a_failed_group_is_retried_whole(stack, monkeypatch):
    """A post that fails carries nobody: its rows wait behind the first one and go again as one message."""
    fake, bot, clock = stack
    channel = await _route_all(fake)
    signals = await _copies(bot, clock, 3)
    await _poll(bot, signals)
    real_send = discord.abc.Messageable.send
    calls = []

    async def flaky(self, *args, **kwargs):
        calls.append(kwargs.get("nonce"))
        if len(calls) == 1:
            raise OSError("connection reset")
        return await real_send(self, *args, **kwargs)

    monkeypatch.setattr(discord.abc.Messageable, "send", flaky)
    assert await bot.deliver_outbox() == (0, 0)  # the first row waits for its retry, the others behind it
    assert fake.channel_messages.get(channel, []) == []
    assert len(await bot.ctx.repos.outbox.pending()) == 3
    clock.advance(seconds=30)  # past the first retry's backoff (≤ 5 s), well within the ping age
    assert await bot.deliver_outbox() == (3, 0)
    [message] = fake.channel_messages[channel]
    assert [_signal_id(e) for e in message["embeds"]] == [s.id for s in signals]
    assert message["content"] == PING
    assert calls[0] == calls[1]  # the same message, the same nonce


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
    signals = [
        replace(cross, id="cross-65", created_at=at, score=65),
        replace(cross, id="cross-59", created_at=at, score=59),
        replace(steam, id="steam-90", created_at=at, score=90),
        replace(dislocation, id="disl-80", created_at=at, score=80),
        replace(cross, id="cross-60", created_at=at, score=60),
    ]
    await _poll(bot, signals)
    assert await bot.deliver_outbox() == (2, 0)
    got = [_signal_id(e) for dm in fake.dms[PRO] for e in dm["embeds"]]
    assert got == ["cross-65", "cross-60"]

    # "all" and 0 lift the filters again; turning DMs off keeps them off.
    await final(await fake.invoke_slash("alerts dm", {"enabled": "on", "types": "all", "min_score": 0}, user_id=PRO))
    prefs = await bot.ctx.repos.members.dm_prefs(FakeDiscord.DEFAULT_GUILD_ID, PRO)
    assert prefs.types is None and prefs.min_score == 0
    await _poll(bot, [replace(steam, id="steam-later", created_at=clock(), score=40)])
    assert await bot.deliver_outbox() == (1, 0)
    off = await final(await fake.invoke_slash("alerts dm", {"enabled": "off"}, user_id=PRO))
    assert "off" in off.content
    await _poll(bot, [replace(cross, id="cross-off", created_at=clock(), score=99)])
    assert await bot.deliver_outbox() == (0, 0)
    assert [_signal_id(e) for dm in fake.dms[PRO] for e in dm["embeds"]][-1] == "steam-later"


async def test_dm_types_are_checked(stack):
    fake, _, _ = stack
    answer = await final(await fake.invoke_slash("alerts dm", {"enabled": "on", "types": "SPAM"}, user_id=PRO))
    assert answer.ephemeral and "Unknown alert type" in answer.content
