"""Alerts that carry the number: the title names the side, the entry's number and price; heat is what
`/signal` shows; a late alert shows its age and pings nobody; one poll's alerts to one channel go out as one
message (up to 10 embeds). Driven through the real bot and discord.py against the fake Discord."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import timedelta

import pytest

from access import Tier, Viewer
from app.bootstrap import build_app, build_bot
from engine.models import Entry, Market, Side, SignalType
from services import signals as signal_service
from tests.engine_builders import Clock, settings
from tests.fake_discord import FakeDiscord, running_bot
from tests.test_bot import ATLANTA, MOD, PRO, _final


@pytest.fixture
async def stack(template_db, tmp_path, monkeypatch):
    source, now = template_db
    db = tmp_path / "stratum.db"
    shutil.copy(source, db)
    config = settings()
    config.discord.guild_id = FakeDiscord.DEFAULT_GUILD_ID
    fake = FakeDiscord()
    config.discord.community_channels = [fake.channels["general"]]
    clock = Clock(now)
    app = await build_app(config, db_path=db, source="test", clock=clock)
    bot = build_bot(app)
    bot.app = app
    async with fake.serve(monkeypatch), running_bot(fake, bot):
        yield fake, bot, clock
    await app.close()
    assert fake.unhandled == []


async def _route_all(fake, channel) -> None:
    await _final(await fake.invoke_slash("alerts set", {"channel": channel, "types": "all"}, user_id=MOD))


async def _stored(bot, **match):
    for signal in await bot.ctx.repos.signals.list(limit=1000):
        if all(getattr(signal, key) == value for key, value in match.items()):
            return signal
    raise AssertionError(f"no stored signal with {match}")


async def _live(bot, base, suffix: str, created_at):
    fresh = replace(base, id=f"live-{suffix}", created_at=created_at)
    async with bot.ctx.repos.db.transaction():
        await bot.ctx.repos.signals.insert(fresh)
        await bot.app.fanout.signal_rows(fresh, bot.ctx.clock())
    return fresh


def _field(embed: dict, name: str) -> str:
    return next(f["value"] for f in embed["fields"] if f["name"] == name)


async def test_title_carries_side_number_and_price(stack):
    fake, bot, clock = stack
    channel = fake.channels["steam-alerts"]
    await _route_all(fake, channel)
    total = await _stored(bot, market=Market.TOTALS, game_id=ATLANTA)
    # Hand-checked against the stored signal: Under at 184.5, price -110 (the entry as the Under sees it).
    assert (total.side.value, total.entry.point, total.entry.price) == ("under", 184.5, -110)
    # The tape has no moneyline signal on this game: one made by hand, Atlanta Dream at +150.
    moneyline = replace(
        total,
        type=SignalType.DISLOCATION,
        market=Market.H2H,
        side=Side.HOME,
        consensus_point=None,
        entry=Entry(book="fanduel", point=None, price=150, prob=0.41),
    )
    await _live(bot, total, "total", clock())
    await _live(bot, moneyline, "h2h", clock())
    assert await bot.deliver_outbox() == (2, 0)
    [message] = fake.channel_messages[channel]
    titles = [embed["title"] for embed in message["embeds"]]
    assert titles[0] == f"{total.type.value} · Under 184.5 (\u2212110) · Mercury @ Dream"
    assert titles[1] == "DISLOCATION · Atlanta Dream +150 · Mercury @ Dream"
    assert "-" not in titles[0] + titles[1]  # real minus signs only


async def test_community_title_names_no_book(stack):
    fake, bot, clock = stack
    await _live(bot, await _stored(bot, market=Market.TOTALS, game_id=ATLANTA), "old", clock() - timedelta(hours=1))
    assert await bot.queue_digests() >= 1
    await bot.deliver_outbox()
    text = json.dumps([m["embeds"] for m in fake.channel_messages[fake.channels["general"]]])
    assert "Under 184.5 (\\u2212110)" in text and "bovada" not in text


async def test_alert_heat_is_the_heat_signal_shows(stack):
    fake, bot, clock = stack
    channel = fake.channels["steam-alerts"]
    await _route_all(fake, channel)
    base = await _stored(bot, type=SignalType.STEAM, game_id=ATLANTA)
    signals = [await _live(bot, base, f"heat{i}", clock()) for i in range(3)]
    assert await bot.deliver_outbox() == (3, 0)
    [message] = fake.channel_messages[channel]
    alert_heat = _field(message["embeds"][-1], "Heat")
    shown = await _final(await fake.invoke_slash("signal", {"id": signals[-1].id}, user_id=PRO))
    assert alert_heat == _field(shown.embeds[0], "Heat")
    heat = await signal_service.game_heat(bot.ctx, ATLANTA, Viewer(Tier.PRO), clock())
    assert heat > 0 and alert_heat == ("·", "🔥", "🔥🔥", "🔥🔥🔥")[heat]


async def test_an_old_alert_shows_its_age_and_pings_nobody(stack):
    fake, bot, clock = stack
    channel = fake.channels["steam-alerts"]
    await _route_all(fake, channel)
    assert bot.ctx.settings.discord.alert_ping_max_age_seconds == 300
    base = await _stored(bot, type=SignalType.STEAM, game_id=ATLANTA)
    old = await _live(bot, base, "old", clock() - timedelta(minutes=10))
    assert await bot.deliver_outbox() == (1, 0)
    [message] = fake.channel_messages[channel]
    assert f"<@&{FakeDiscord.PRO_ROLE_ID}>" not in (message["content"] or "")
    assert message["allowed_mentions"].get("roles", []) == [] and message["allowed_mentions"].get("parse", []) == []
    assert message["message"]["mention_roles"] == []
    stamp = f"<t:{int(old.created_at.timestamp())}:R>"
    assert stamp in message["content"] and stamp in message["embeds"][0]["description"]

    fresh = await _live(bot, base, "fresh", clock())
    assert await bot.deliver_outbox() == (1, 0)
    newer = fake.channel_messages[channel][-1]
    assert newer["content"] == f"<@&{FakeDiscord.PRO_ROLE_ID}>"
    assert f"<t:{int(fresh.created_at.timestamp())}:R>" in newer["embeds"][0]["description"]


@pytest.mark.parametrize(("count", "sizes"), [(5, [5]), (12, [10, 2])])
async def test_one_channel_gets_one_message_of_up_to_ten_embeds(stack, count, sizes):
    fake, bot, clock = stack
    channel = fake.channels["steam-alerts"]
    await _route_all(fake, channel)
    base = await _stored(bot, type=SignalType.STEAM, game_id=ATLANTA)
    signals = [await _live(bot, base, f"group{i:02d}", clock()) for i in range(count)]
    assert await bot.deliver_outbox() == (count, 0)  # every row marked sent
    messages = fake.channel_messages[channel]
    assert [len(m["embeds"]) for m in messages] == sizes
    assert all(len(json.dumps(m["embeds"])) > 0 for m in messages)
    footers = [e["footer"]["text"] for m in messages for e in m["embeds"]]
    assert footers == [f"id {s.id}" for s in signals]  # the target's order kept
    assert all(m["content"] == f"<@&{FakeDiscord.PRO_ROLE_ID}>" for m in messages)
    assert len({m["nonce"] for m in messages}) == len(messages)
    assert [item for item in await bot.ctx.repos.outbox.pending()] == []
    assert await bot.deliver_outbox() == (0, 0)
    assert len(fake.channel_messages[channel]) == len(sizes)
