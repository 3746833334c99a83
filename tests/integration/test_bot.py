"""The real Stratum bot, driven through the real discord.py by a fake Discord on loopback.

The database holds the bundled real tape replayed up to the morning of 2026-08-05 (two games still to
tip that evening); the bot's clock stands at that moment. Each test checks the exact payloads the bot
sends: embeds, ephemeral flags, files, allowed mentions and role pings, DMs."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import discord
import pytest

from app.bootstrap import build_app, build_bot
from engine.models import SignalType
from engine.poll_moves import move_id
from services import signals as signal_service
from storage import Repositories
from tests.backends import copy_database
from tests.bot_rig import bot_on_fake, final, price_market
from tests.engine_builders import Clock, settings
from tests.fake_discord import FakeDiscord, running_bot
from tests.tape_games import ATLANTA, BOOKS, NEW_YORK, WASHINGTON

CUT = datetime(2026, 8, 5, 12, 0, tzinfo=UTC)
#: The feed's titles of those books (the tape's `title`): what Pro reads instead of the keys.
TITLES = (
    "FanDuel",
    "DraftKings",
    "Caesars",
    "BetRivers",
    "Fanatics",
    "LowVig.ag",
    "BetOnline.ag",
    "BetMGM",
    "Bovada",
    "BetUS",
    "MyBookie.ag",
)
COMMUNITY = FakeDiscord.COMMUNITY_USER_ID
PRO = FakeDiscord.PRO_USER_ID
MOD = FakeDiscord.MOD_USER_ID


@pytest.fixture
async def stack(template_db, tmp_path, monkeypatch):  # template_db: tests/conftest.py
    async with bot_on_fake(template_db, tmp_path, monkeypatch) as rig:
        yield rig.fake, rig.bot, rig.clock


def _text(response) -> str:
    return json.dumps({"content": response.content, "embeds": response.embeds})


def _no_books(text: str) -> None:
    """Neither a book's key nor its display name, in any case."""
    lowered = text.casefold()
    for book in (*BOOKS, *TITLES):
        assert book.casefold() not in lowered, book


# ------------------------------------------------------------------ commands, both tiers


async def test_commands_are_synced_to_the_guild(stack):
    fake, _, _ = stack
    assert {
        "odds",
        "chart",
        "signals",
        "signal",
        "heat",
        "watch",
        "alerts",
        "bet",
        "clv",
        "integrity",
        "export",
    } <= set(fake.commands)


def _synced_leaves(definition: dict, prefix: str = "") -> set[str]:
    path = f"{prefix}{definition['name']}"
    children = [o for o in definition.get("options", []) if o["type"] in (1, 2)]
    if not children:
        return {path}
    return {leaf for child in children for leaf in _synced_leaves(child, f"{path} ")}


async def test_moderator_commands_sit_under_mod_which_members_do_not_see(stack):
    """Discord hides a command by its top-level `default_member_permissions`: /mod carries Manage Server,
    and no member-facing command holds a moderator subcommand (which it would show to everyone)."""
    fake, _, _ = stack
    mod = fake.commands["mod"]
    assert int(mod["default_member_permissions"]) == discord.Permissions(manage_guild=True).value
    assert mod["dm_permission"] is False
    moderator = {leaf.removeprefix("mod ") for leaf in _synced_leaves(mod)}
    assert moderator == {
        "alerts set",
        "alerts remove",
        "billing status",
        "billing link",
        "billing unlink",
        "billing sync",
        "apikey create",
        "apikey revoke",
        "apikey list",
    }
    members = {name: d for name, d in fake.commands.items() if name != "mod"}
    assert "apikey" not in members
    for name, definition in members.items():
        assert definition["default_member_permissions"] is None, name
        leaves = _synced_leaves(definition)
        assert not leaves & (moderator - {"billing status"}), leaves
        assert "moderator" not in json.dumps(definition).lower(), name
    # /billing status is the member's own: no member option to look at someone else's.
    [status] = [o for o in members["billing"]["options"] if o["name"] == "status"]
    assert status.get("options", []) == []
    assert {o["name"] for o in members["alerts"]["options"]} == {"list", "dm"}


async def test_help_shows_the_commands_of_the_viewers_tier(stack):
    fake, _, _ = stack
    community = await final(await fake.invoke_slash("help", {}, user_id=COMMUNITY))
    pro = await final(await fake.invoke_slash("help", {}, user_id=PRO))
    moderator = await final(await fake.invoke_slash("help", {}, user_id=MOD))  # Manage Server, not Pro
    assert community.ephemeral and pro.ephemeral and moderator.ephemeral
    [c], [p], [m] = community.embeds, pro.embeds, moderator.embeds
    assert c["title"] == "Stratum commands · Community" and p["title"] == "Stratum commands · Pro"
    assert "10 minutes delayed" in c["description"] and "up to 3 upcoming games" in c["description"]
    assert "`/integrity`" in c["description"] and "`/upgrade`" in c["description"]
    for pro_only in ("/bet log", "/export", "/alerts dm", "/mod"):
        assert pro_only not in json.dumps(c["description"]), pro_only
    [adds] = c["fields"]
    assert adds["name"] == "Pro" and "/upgrade" in adds["value"] and "CSV export" in adds["value"]
    assert "up to 50 upcoming games" in p["description"] and "delayed" not in p["description"]
    for pro_has in ("/bet log", "/export", "/alerts dm", "presets"):
        assert pro_has in p["description"], pro_has
    assert "/upgrade" not in json.dumps(p) and "/mod" not in json.dumps(p)
    assert m["description"] == c["description"]
    [_, mod_field] = m["fields"]
    assert mod_field["name"].startswith("Moderators")
    for command in ("/mod alerts set", "/mod billing link", "/mod apikey create"):
        assert command in mod_field["value"], command


async def test_odds_pro_real_time_community_delayed(stack):
    fake, _, clock = stack
    pro = await final(await fake.invoke_slash("odds", {"game": ATLANTA}, user_id=PRO))
    community = await final(await fake.invoke_slash("odds", {"game": ATLANTA}, user_id=COMMUNITY))
    assert pro.ephemeral and community.ephemeral
    embed, redacted = pro.embeds[0], community.embeds[0]
    assert embed["title"] == "Phoenix Mercury @ Atlanta Dream"
    # "As of" is a Discord timestamp in the description (a footer cannot render one): no UTC clock time.
    assert f"As of <t:{int(clock().timestamp())}:f>" in embed["description"]
    assert "footer" not in embed
    assert f"As of <t:{int((clock() - timedelta(minutes=10)).timestamp())}:f>" in redacted["description"]
    assert "10 minutes delayed" in redacted["footer"]["text"]
    for answer in (pro, community):
        assert "UTC" not in _text(answer) and f"{clock():%H:%M}" not in _text(answer)
    assert [f["name"] for f in embed["fields"]] == ["Spread", "Total", "Moneyline"]
    # Pro: every book under its display name, never its feed key.
    spread = embed["fields"][0]["value"].split("\n")
    assert "`Caesars" in embed["fields"][0]["value"] and "williamhill_us" not in _text(pro)
    assert all(f"`{title}" in _text(pro) for title in TITLES)
    # Both sides of every row, with real minus signs; the fair (no-vig) price of both sides first.
    assert spread[0].startswith("**Fair** Dream −") and " · Mercury +" in spread[0]
    assert all(" · Mercury " in row and row.count("(") == 2 for row in spread[1:])
    assert "-1" not in _text(pro)
    # Each side's best quote is starred, in both views.
    for answer in (pro, community):
        for field in answer.embeds[0]["fields"]:
            rows = field["value"].split("\n")[1:]
            assert any(row.split(" · ")[0].endswith("★") for row in rows), field
            assert any(row.split(" · ")[1].endswith("★") for row in rows), field
    _no_books(_text(community))  # every book's number, no book's name
    assert " books: Dream " in _text(community) or " book: Dream " in _text(community)


async def test_signals_redacted_and_delayed_for_community_full_for_pro(stack):
    fake, _, _ = stack
    community = await final(await fake.invoke_slash("signals", {}, user_id=COMMUNITY))
    pro = await final(await fake.invoke_slash("signals", {}, user_id=PRO))
    assert community.ephemeral and pro.ephemeral
    text = _text(community)
    _no_books(text)
    assert "Velocity" not in text and "Community view" in text
    assert any(title in _text(pro) for title in TITLES) and not any(
        book in _text(pro) for book in BOOKS if book.islower() and "_" in book
    )
    # Pro gets the preset buttons; Community does not.
    labels = lambda r: [c.get("label") for row in r.components for c in row["components"]]  # noqa: E731
    assert "High Confidence" in labels(pro) and "Low Noise" in labels(pro)
    assert "High Confidence" not in labels(community)
    # One click on "Low Noise" re-filters the list in place.
    record = await fake.click(pro.message_id, "Low Noise", user_id=PRO)
    edited = await record.response()
    assert edited.type == 7 and "Low Noise" in edited.embeds[0]["title"]
    assert "DISLOCATION" not in _text(edited)


async def test_signal_detail_and_the_ten_minute_rule(stack):
    fake, bot, clock = stack
    now = clock()
    stored = await bot.ctx.repos.signals.list(limit=500)
    old = next(s for s in stored if s.type == SignalType.STEAM and s.created_at <= now - timedelta(minutes=10))
    community = await final(await fake.invoke_slash("signal", {"id": old.id}, user_id=COMMUNITY))
    pro = await final(await fake.invoke_slash("signal", {"id": old.id}, user_id=PRO))
    _no_books(_text(community))
    fields = {f["name"]: f["value"] for f in pro.embeds[0]["fields"]}
    titles = await bot.ctx.repos.books.titles()
    assert fields["Books (first mover first)"] == ", ".join(titles.get(b, b) for b in old.books)
    assert "williamhill_us" not in fields["Books (first mover first)"]
    assert "Velocity" in fields and "Score breakdown" in fields
    # A signal that just fired: Pro sees it; Community is answered exactly as for an unknown id.
    fresh = replace(old, id="fresh-signal", created_at=now - timedelta(minutes=2))
    async with bot.ctx.repos.db.transaction():
        await bot.ctx.repos.signals.insert(fresh)
    refused = await final(await fake.invoke_slash("signal", {"id": "fresh-signal"}, user_id=COMMUNITY))
    unknown = await final(await fake.invoke_slash("signal", {"id": "no-such-signal"}, user_id=COMMUNITY))
    assert refused.ephemeral and refused.content == unknown.content.replace("no-such-signal", "fresh-signal")
    listed = await final(await fake.invoke_slash("signals", {}, user_id=COMMUNITY))
    assert "fresh-signal" not in _text(listed)
    assert "fresh-signal" in _text(await final(await fake.invoke_slash("signal", {"id": "fresh-signal"}, user_id=PRO)))


async def test_heat_integrity_and_autocomplete(stack):
    fake, _, _ = stack
    heat = await final(await fake.invoke_slash("heat", {}, user_id=COMMUNITY))
    assert "Atlanta Dream" in heat.embeds[0]["description"]
    integrity = await final(await fake.invoke_slash("integrity", {}, user_id=COMMUNITY))
    [embed] = integrity.embeds
    assert embed["title"] == "Signal integrity: every signal graded against the close"
    assert "matched null" in embed["description"] and "Guide: " in embed["description"]
    fields = embed["fields"]
    assert 0 < len(fields) <= 25 and any("STEAM" in f["name"] for f in fields)
    graded = [f["value"] for f in fields if "graded ·" in f["value"]]
    verdicts = ("**unproven**", "**S**", "**A**", "**B**")
    assert graded and all("beat (Wilson" in v and any(t in v for t in verdicts) for v in graded)
    assert embed["footer"]["text"].startswith("Close: ")
    # The chart rides along as an attachment the embed shows as its image.
    [png] = integrity.attachments
    assert png.filename == "integrity.png" and png.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert embed["image"]["url"] == "attachment://integrity.png"
    choices = (await (await fake.invoke_autocomplete("odds", {"game": "atlan"})).response()).choices
    assert [c["value"] for c in choices] == [ATLANTA]


async def _choices(fake, command: str, options: dict, user_id: int = PRO) -> list[dict]:
    """The choices of one autocomplete answer (type 8), as Discord received them."""
    record = await fake.invoke_autocomplete(command, options, user_id=user_id)
    answer = await record.response()
    assert answer.type == 8
    return answer.choices


async def test_game_autocomplete_says_where_each_game_stands_on_the_bots_clock(stack):
    fake, _, clock = stack
    choices = await _choices(fake, "odds", {"game": ""})
    assert choices == [
        {"name": "Phoenix Mercury @ Atlanta Dream · tips in 11 h", "value": ATLANTA},
        {"name": "Dallas Wings @ Washington Mystics · tips in 11 h", "value": WASHINGTON},
        {"name": "Seattle Storm @ New York Liberty · final", "value": NEW_YORK},
    ]
    # The bot's clock (the demo's is shifted) moves: Atlanta tipped, Washington is next, finished games last.
    clock.now = datetime(2026, 8, 5, 23, 20, tzinfo=UTC)
    choices = await _choices(fake, "signals", {"game": ""}, user_id=COMMUNITY)
    assert [c["name"] for c in choices] == [
        "Dallas Wings @ Washington Mystics · tips in 10 min",
        "Phoenix Mercury @ Atlanta Dream · live · tipped 20 min ago",
        "Seattle Storm @ New York Liberty · final",
    ]
    assert all(len(c["name"]) <= 100 and "UTC" not in c["name"] and "Z" not in c["name"] for c in choices)


SIGNAL_NAME = re.compile(
    r"^(STEAM|DISLOCATION|KEY_CROSS) · .+ · \S+ @ \S+ · (just now|\d+ (min|h|days)( \d+ min)? ago)$"
)


async def test_signal_autocomplete_offers_only_what_the_viewer_may_see(stack):
    fake, bot, clock = stack
    now = clock()
    stored = await bot.ctx.repos.signals.list(limit=500)
    old = next(s for s in stored if s.type == SignalType.STEAM and s.created_at <= now - timedelta(minutes=10))
    fresh = replace(old, id="fresh-signal", created_at=now - timedelta(minutes=2, seconds=30))
    async with bot.ctx.repos.db.transaction():
        await bot.ctx.repos.signals.insert(fresh)
    game = (await bot.ctx.repos.games.get(fresh.game_id)).game
    side = game.side_label(fresh.market, fresh.side)

    pro = await _choices(fake, "signal", {"id": ""}, user_id=PRO)
    assert 0 < len(pro) <= 25 and pro[0]["value"] == "fresh-signal"
    assert pro[0]["name"].startswith(f"STEAM · {side} ") and pro[0]["name"].endswith(" · 2 min ago")
    assert f" at {fresh.entry.book} · " in pro[0]["name"].casefold()  # Pro: the entry's book, by its title
    assert all(SIGNAL_NAME.match(c["name"]) and len(c["name"]) <= 100 for c in pro), pro
    # Community: the same list as /signals gives them — nothing younger than the delay, no book names.
    community = await _choices(fake, "signal", {"id": ""}, user_id=COMMUNITY)
    assert community and "fresh-signal" not in {c["value"] for c in community}
    by_id = {s.id: s for s in stored}
    assert all(by_id[c["value"]].created_at <= now - timedelta(minutes=10) for c in community)
    assert all(SIGNAL_NAME.match(c["name"]) for c in community), community
    _no_books(json.dumps(community))
    # Typing filters by id prefix or text; a fresh id typed in full is still not offered to Community.
    assert [c["value"] for c in await _choices(fake, "signal", {"id": "FRESH"}, user_id=PRO)] == ["fresh-signal"]
    assert await _choices(fake, "signal", {"id": "fresh-signal"}, user_id=COMMUNITY) == []
    assert await _choices(fake, "signal", {"id": old.id[:8]}, user_id=COMMUNITY) == [
        c for c in community if c["value"].startswith(old.id[:8])
    ]
    mystics = await _choices(fake, "signal", {"id": "mystics"}, user_id=COMMUNITY)
    assert mystics and all("Mystics" in c["name"] for c in mystics)


async def test_preset_autocomplete_is_empty_for_community_and_full_for_pro(stack):
    fake, _, _ = stack
    pro = await _choices(fake, "signals", {"preset": ""}, user_id=PRO)
    assert pro == [
        {"name": "High Confidence", "value": "high_confidence"},
        {"name": "Low Noise", "value": "low_noise"},
    ]
    assert await _choices(fake, "signals", {"preset": ""}, user_id=COMMUNITY) == []
    assert await _choices(fake, "signals", {"preset": "high"}, user_id=COMMUNITY) == []
    # A preset sent by hand still gets the upgrade message.
    typed = await final(await fake.invoke_slash("signals", {"preset": "high_confidence"}, user_id=COMMUNITY))
    assert typed.ephemeral
    assert typed.content == "Quality presets is a Pro feature. Upgrade to Pro with `/upgrade` to unlock it."


async def test_chart_attaches_a_png_for_both_tiers(stack):
    fake, _, _ = stack
    for user in (PRO, COMMUNITY):
        answer = await final(await fake.invoke_slash("chart", {"game": ATLANTA, "market": "spreads"}, user_id=user))
        [png] = answer.attachments
        assert png.filename == f"{ATLANTA}-spreads.png" and png.data.startswith(b"\x89PNG\r\n\x1a\n")


async def test_watchlist_limit_for_community(stack):
    fake, bot, clock = stack
    atlanta = (await bot.ctx.repos.games.get(ATLANTA)).game
    async with bot.ctx.repos.db.transaction():
        for n in (1, 2):
            await bot.ctx.repos.games.upsert(
                replace(atlanta, id=f"extra{n}", commence_time=clock() + timedelta(days=n)), seen_at=clock()
            )
    for game in (ATLANTA, WASHINGTON, "extra1"):
        answer = await final(await fake.invoke_slash("watch add", {"game": game}, user_id=COMMUNITY))
        assert answer.ephemeral and answer.content.startswith("Watching")
    refused = await final(await fake.invoke_slash("watch add", {"game": "extra2"}, user_id=COMMUNITY))
    assert refused.ephemeral and "watchlist is full (3 upcoming games)" in refused.content
    assert "/upgrade" in refused.content
    listed = await final(await fake.invoke_slash("watch list", {}, user_id=COMMUNITY))
    assert listed.embeds[0]["description"].count("\n") == 2
    removed = await final(await fake.invoke_slash("watch remove", {"game": ATLANTA}, user_id=COMMUNITY))
    assert removed.content.startswith("Removed")


async def test_bets_clv_and_export_are_pro(stack):
    fake, _, _ = stack
    options = {"game": ATLANTA, "market": "spreads", "side": "home", "line": "-4.5", "price": -110, "book": "fanduel"}
    refused = await final(await fake.invoke_slash("bet log", options, user_id=COMMUNITY))
    assert refused.ephemeral and "Pro feature" in refused.content and "/upgrade" in refused.content
    logged = await final(await fake.invoke_slash("bet log", options, user_id=PRO))
    assert logged.ephemeral and logged.content.startswith("Logged bet #1")
    bad = await final(await fake.invoke_slash("bet log", {**options, "price": -50}, user_id=PRO))
    assert bad.ephemeral and "American odds" in bad.content
    bad_line = await final(await fake.invoke_slash("bet log", {**options, "line": "four"}, user_id=PRO))
    assert "must be a number" in bad_line.content
    listed = await final(await fake.invoke_slash("bet list", {}, user_id=PRO))
    assert "awaiting the close" in listed.embeds[0]["description"]
    clv = await final(await fake.invoke_slash("clv", {}, user_id=PRO))
    assert {f["name"]: f["value"] for f in clv.embeds[0]["fields"]}["Bets"] == "1"
    export = await final(await fake.invoke_slash("export", {"what": "bets", "days": 7}, user_id=PRO))
    [file] = export.attachments
    rows = list(csv.DictReader(io.StringIO(file.data.decode())))
    assert rows[0]["point"] == "-4.5" and rows[0]["price"] == "-110" and rows[0]["book"] == "fanduel"
    signals_csv = await final(await fake.invoke_slash("export", {"what": "signals", "days": 7}, user_id=PRO))
    assert signals_csv.attachments[0].data.decode().startswith("id,created_at,type")
    community_export = await final(await fake.invoke_slash("export", {"what": "signals"}, user_id=COMMUNITY))
    assert community_export.ephemeral and "CSV export is a Pro feature" in community_export.content
    assert community_export.attachments == []
    too_long = await final(await fake.invoke_slash("export", {"what": "signals", "days": 400}, user_id=PRO))
    assert "between 1 and 90" in too_long.content


async def test_input_errors_and_unexpected_failures(stack, monkeypatch, caplog):
    fake, _, _ = stack
    unknown = await final(await fake.invoke_slash("odds", {"game": "Nobody @ Nowhere"}, user_id=PRO))
    assert unknown.ephemeral and "No game matches" in unknown.content

    async def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(signal_service, "heat_board", broken)
    apology = await final(await fake.invoke_slash("heat", {}, user_id=PRO))
    assert apology.ephemeral and apology.content.startswith("Sorry")
    assert "database on fire" not in apology.content
    assert "database on fire" in caplog.text


# ------------------------------------------------------------------ alerts


async def _fresh_signal(bot, clock, kind=SignalType.STEAM, game_id=ATLANTA):
    stored = await bot.ctx.repos.signals.list(limit=500)
    base = next(s for s in stored if s.type == kind and s.game_id == game_id)
    fresh = replace(base, id=f"live-{kind.value}", created_at=clock())
    async with bot.ctx.repos.db.transaction():
        await bot.ctx.repos.signals.insert(fresh)
    return fresh


async def _fan_out(bot, signal) -> None:
    """What the engine's commit does for a new signal: write the outbox rows it owes, in one transaction."""
    async with bot.ctx.repos.db.transaction():
        await bot.app.fanout.poll_rows([signal], bot.ctx.clock())


async def test_alert_routes_are_for_moderators_and_ping_only_the_pro_role(stack):
    fake, bot, clock = stack
    channel = fake.channels["steam-alerts"]
    denied = await final(await fake.invoke_slash("mod alerts set", {"channel": channel, "types": "STEAM"}, user_id=PRO))
    assert denied.ephemeral and "Manage Server" in denied.content
    assert await bot.ctx.repos.members.routes() == []
    ok = await final(
        await fake.invoke_slash("mod alerts set", {"channel": channel, "types": "STEAM, KEY_CROSS"}, user_id=MOD)
    )
    assert ok.ephemeral and "KEY_CROSS, STEAM" in ok.content
    listed = await final(await fake.invoke_slash("alerts list", {}, user_id=MOD))
    assert f"<#{channel}>" in listed.embeds[0]["description"]
    bad = await final(await fake.invoke_slash("mod alerts set", {"channel": channel, "types": "SPAM"}, user_id=MOD))
    assert "Unknown alert type" in bad.content

    clock.advance(minutes=1)  # past the tape's last poll: an instant of its own
    steam = await _fresh_signal(bot, clock)
    # Its best price now is worth taking (every book at +110 against a 50/50 fair price: +5%), so it pings.
    await price_market(bot.ctx.repos, steam.game_id, steam.market, steam.created_at, 110, 110)
    dislocation = await _fresh_signal(bot, clock, SignalType.DISLOCATION)
    await _fan_out(bot, steam)
    await _fan_out(bot, dislocation)  # not routed to this channel
    assert await bot.deliver_outbox() == (1, 0)
    [message] = fake.channel_messages[channel]
    assert message["content"] == f"<@&{FakeDiscord.PRO_ROLE_ID}>"
    assert [str(role) for role in message["allowed_mentions"]["roles"]] == [str(FakeDiscord.PRO_ROLE_ID)]
    assert message["allowed_mentions"].get("parse", []) == []
    assert message["message"]["mention_roles"] == [str(FakeDiscord.PRO_ROLE_ID)]
    assert "everyone" not in json.dumps(message["allowed_mentions"].get("parse", []))
    embed_text = json.dumps(message["embeds"])
    assert (await bot.ctx.repos.books.titles())[steam.books[0]] in embed_text and "Velocity" in embed_text
    assert await bot.deliver_outbox() == (0, 0)  # sent once
    removed = await final(await fake.invoke_slash("mod alerts remove", {"channel": channel}, user_id=MOD))
    assert "no longer receives" in removed.content


async def test_watchlist_dms_for_pro_members_only(stack):
    fake, bot, clock = stack
    for user in (PRO, COMMUNITY):
        await final(await fake.invoke_slash("watch add", {"game": ATLANTA}, user_id=user))
    on = await final(await fake.invoke_slash("alerts dm", {"enabled": "on"}, user_id=PRO))
    assert on.ephemeral and "DM" in on.content
    refused = await final(await fake.invoke_slash("alerts dm", {"enabled": "on"}, user_id=COMMUNITY))
    assert "Discord alerts is a Pro feature" in refused.content
    steam = await _fresh_signal(bot, clock)
    await _fan_out(bot, steam)
    assert await bot.deliver_outbox() == (1, 0)
    [dm] = fake.dms[PRO]
    assert (await bot.ctx.repos.books.titles())[steam.books[0]] in json.dumps(dm["embeds"])
    assert COMMUNITY not in fake.dms or fake.dms[COMMUNITY] == []


async def test_discord_errors_are_handled_and_retried(stack):
    fake, bot, clock = stack
    channel = fake.channels["steam-alerts"]
    await final(await fake.invoke_slash("mod alerts set", {"channel": channel, "types": "all"}, user_id=MOD))
    fake.forbidden_channels.add(channel)
    await _fan_out(bot, await _fresh_signal(bot, clock))
    assert await bot.deliver_outbox() == (0, 1)  # 403: recorded, not retried
    fake.forbidden_channels.discard(channel)
    fake.rate_limit_next("POST", f"/channels/{channel}/messages", 0.05)
    await _fan_out(bot, await _fresh_signal(bot, clock, SignalType.DISLOCATION))
    assert await bot.deliver_outbox() == (1, 0)  # a 429 is waited out by discord.py and sent


async def test_community_digest_is_redacted_and_ten_minutes_old(stack):
    fake, bot, clock = stack
    general = fake.channels["general"]
    # A signal that fired two minutes ago must not be in the digest yet.
    await _fresh_signal(bot, clock)
    assert await bot.queue_digests() >= 1
    await bot.deliver_outbox()
    messages = fake.channel_messages[general]
    assert messages and "10 minutes delayed" in messages[0]["content"]
    text = json.dumps([m["embeds"] for m in messages])
    _no_books(text)
    assert "Velocity" not in text and "live-STEAM" not in text
    assert all(m["allowed_mentions"].get("parse", []) == [] for m in messages)


async def test_an_alert_owed_across_a_restart_is_sent_once(template_db, tmp_path, monkeypatch):
    source, now = template_db
    db = copy_database(source, tmp_path)
    config = settings()
    config.discord.guild_id = FakeDiscord.DEFAULT_GUILD_ID
    fake = FakeDiscord()
    channel = fake.channels["steam-alerts"]
    clock = Clock(now)
    async with fake.serve(monkeypatch):
        app = await build_app(config, db_path=db, source="test", clock=clock)
        bot = build_bot(app)
        bot.app = app
        async with running_bot(fake, bot):
            await final(await fake.invoke_slash("mod alerts set", {"channel": channel, "types": "all"}, user_id=MOD))
            steam = await _fresh_signal(bot, clock)
            await _fan_out(bot, steam)
            # The bot goes down before the outbox job runs.
        await app.close()
        assert fake.channel_messages.get(channel, []) == []
        repos = await Repositories.open(db)
        move = move_id(steam.game_id, steam.market, steam.side, steam.created_at)
        assert [item.key for item in await repos.outbox.pending()] == [f"move.created:{move}:channel:{channel}"]
        await repos.close()

        app = await build_app(config, db_path=db, source="test", clock=clock)
        bot = build_bot(app)
        bot.app = app
        async with running_bot(fake, bot):
            assert await bot.deliver_outbox() == (1, 0)
            assert await bot.deliver_outbox() == (0, 0)
        await app.close()
    assert len(fake.channel_messages[channel]) == 1
    assert fake.unhandled == []


async def test_run_bot_with_a_token_connects_and_replays_the_demo_tape(db_url, monkeypatch):
    """`python run_bot.py` with STRATUM_DISCORD__TOKEN: the bot connects, syncs its commands, and (no odds
    key) replays the bundled tape into the database; it stops cleanly."""
    from app.cli import run_discord

    monkeypatch.setenv("STRATUM_DISCORD__TOKEN", "fake-token")
    monkeypatch.delenv("STRATUM_FEED__API_KEY", raising=False)
    config = settings()
    config.discord.guild_id = FakeDiscord.DEFAULT_GUILD_ID
    db = db_url
    fake = FakeDiscord()
    stop = asyncio.Event()
    async with fake.serve(monkeypatch):
        task = asyncio.create_task(run_discord(config, db, stop))
        try:
            await fake.wait_until(lambda: "odds" in fake.commands and fake.connected, within=10)
            await asyncio.sleep(2.5)  # discord.py's guild_ready_timeout before READY (2 s by default)
            record = await fake.invoke_slash("integrity", {}, user_id=COMMUNITY)
            assert (await final(record)).embeds[0]["title"].startswith("Signal integrity")
        finally:
            stop.set()
            assert await asyncio.wait_for(task, 20) == 0
    repos = await Repositories.open(db)
    try:
        assert await repos.quotes.count() > 0
    finally:
        await repos.close()
    assert fake.unhandled == []


@pytest.mark.parametrize(
    ("command", "options", "feature"),
    [
        ("clv", {}, "CLV tracking of your bets"),
        ("bet list", {}, "CLV tracking of your bets"),
        ("alerts dm", {"enabled": "on"}, "Discord alerts"),
        ("export", {"what": "bets"}, "CSV export"),
        ("signals", {"preset": "high_confidence"}, "Quality presets"),
    ],
)
async def test_every_pro_feature_gets_a_friendly_upgrade_answer(stack, command, options, feature):
    fake, _, _ = stack
    answer = await final(await fake.invoke_slash(command, options, user_id=COMMUNITY))
    assert answer.ephemeral
    assert answer.content == f"{feature} is a Pro feature. Upgrade to Pro with `/upgrade` to unlock it."
    pro = await final(await fake.invoke_slash(command, options, user_id=PRO))
    assert "Pro feature" not in (pro.content or "")


async def test_moderators_issue_api_keys_by_dm(stack):
    fake, bot, _ = stack
    refused = await final(await fake.invoke_slash("mod apikey create", {"member": PRO, "plan": "builder"}, user_id=PRO))
    assert "Manage Server" in refused.content
    created = await final(
        await fake.invoke_slash("mod apikey create", {"member": PRO, "plan": "pro_infra"}, user_id=MOD)
    )
    assert created.ephemeral and "sent to them by DM" in created.content and "strat_" in created.content
    [dm] = fake.dms[PRO]
    secret = dm["content"].split("`")[1]
    assert secret.startswith("strat_") and secret not in created.content
    assert "120 requests/min" in dm["content"] and "commercial use" in dm["content"]
    from services.keys import authenticate

    key = await authenticate(bot.ctx.repos, secret)
    assert key is not None and key.owner == f"discord:{PRO}" and key.plan == "pro_infra"
    listed = await final(await fake.invoke_slash("mod apikey list", {}, user_id=MOD))
    assert key.id in listed.content and secret not in listed.content
    revoked = await final(await fake.invoke_slash("mod apikey revoke", {"key_id": key.id}, user_id=MOD))
    assert f"Revoked {key.id}" in revoked.content
    assert await authenticate(bot.ctx.repos, secret) is None
    again = await final(await fake.invoke_slash("mod apikey revoke", {"key_id": key.id}, user_id=MOD))
    assert "No active key" in again.content


async def test_signal_pages_turn_with_buttons(stack):
    fake, _, _ = stack
    first = await final(await fake.invoke_slash("signals", {}, user_id=PRO))
    assert "Page 1/" in first.embeds[0]["footer"]["text"]
    pages = int(first.embeds[0]["footer"]["text"].split("/")[1].split()[0])
    assert pages > 1
    turned = await (await fake.click(first.message_id, "▶", user_id=PRO)).response()
    assert turned.type == 7 and turned.embeds[0]["footer"]["text"].startswith(f"Page 2/{pages}")
    assert turned.embeds[0]["fields"] != first.embeds[0]["fields"]
    other = await (await fake.click(first.message_id, "▶", user_id=COMMUNITY)).response()
    assert other.ephemeral and "your own list" in other.content


async def test_a_failing_button_is_answered_with_an_apology(stack, monkeypatch, caplog):
    fake, _, _ = stack
    first = await final(await fake.invoke_slash("signals", {}, user_id=PRO))

    async def broken(*args, **kwargs):
        raise RuntimeError("preset store on fire")

    monkeypatch.setattr(signal_service, "recent_signals", broken)
    answer = await (await fake.click(first.message_id, "Low Noise", user_id=PRO)).response()
    assert answer.ephemeral and answer.content.startswith("Sorry")
    assert "preset store on fire" in caplog.text
