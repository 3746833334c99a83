"""Proves tests/fake_discord.py: a throwaway discord.py bot driven end to end over loopback.

Each test starts the real library against the fake (REST + zlib gateway), so what is asserted here is
what discord.py actually put on the wire, and what it built from the fake's payloads.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fake_discord import FakeDiscord, FakeMember, running_bot


class Recorder:
    """What the bot saw inside its callbacks (objects built by discord.py from our payloads)."""

    def __init__(self) -> None:
        self.user_roles: list[int] = []
        self.user_permissions: discord.Permissions | None = None
        self.inspected: dict[str, Any] = {}


class DemoGroup(app_commands.Group):
    def __init__(self, recorder: Recorder) -> None:
        super().__init__(name="demo", description="Demo group")
        self.recorder = recorder

    @app_commands.command(name="add", description="Add a value")
    async def add(self, interaction: discord.Interaction, value: int) -> None:
        await interaction.response.send_message(f"added {value + 1}")

    @app_commands.command(name="inspect", description="Show resolved options")
    async def inspect(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel,
        member: discord.Member,
        role: discord.Role,
        ratio: float,
        loud: bool = False,
    ) -> None:
        self.recorder.inspected = {
            "channel": (channel.id, channel.name),
            "member": (member.id, sorted(r.id for r in member.roles)),
            "role": (role.id, role.name),
            "ratio": ratio,
            "loud": loud,
        }
        await interaction.response.send_message("ok", ephemeral=True)


class VoteView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=30)

    @discord.ui.button(label="Vote", style=discord.ButtonStyle.primary, custom_id="vote:yes")
    async def vote(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(content=f"voted by {interaction.user.id}", view=None)


TEAMS = ["Boston Celtics", "Brooklyn Nets", "Denver Nuggets", "Detroit Pistons"]


class DemoCog(commands.Cog):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    @app_commands.command(name="hello", description="Ephemeral embed")
    async def hello(self, interaction: discord.Interaction) -> None:
        assert isinstance(interaction.user, discord.Member)
        self.recorder.user_roles = sorted(r.id for r in interaction.user.roles)
        self.recorder.user_permissions = interaction.permissions
        embed = discord.Embed(title="Hello", description="world", colour=0x00FF00)
        embed.add_field(name="tier", value="Pro", inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(name="report", description="Deferred file")
    async def report(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        data = discord.File(io.BytesIO(b"game,edge\nBOS-NYK,0.031\n"), filename="report.csv")
        await interaction.followup.send("here you go", file=data)

    @app_commands.command(name="status", description="Ephemeral defer, then edit the original")
    async def status(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.edit_original_response(content="all systems go")

    @app_commands.command(name="vote", description="Button")
    async def vote(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("cast your vote", view=VoteView())

    @app_commands.command(name="team", description="Autocomplete")
    async def team(self, interaction: discord.Interaction, name: str) -> None:
        await interaction.response.send_message(f"team {name}")

    @team.autocomplete("name")
    async def team_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice]:
        return [app_commands.Choice(name=t, value=t) for t in TEAMS if t.lower().startswith(current.lower())]


class DemoBot(commands.Bot):
    def __init__(self, guild_id: int) -> None:
        intents = discord.Intents.default()
        intents.members = True
        super().__init__(command_prefix=commands.when_mentioned, intents=intents)
        self.guild_id = guild_id
        self.recorder = Recorder()

    async def setup_hook(self) -> None:
        await self.add_cog(DemoCog(self.recorder))
        self.tree.add_command(DemoGroup(self.recorder))
        guild = discord.Object(self.guild_id)
        self.tree.copy_global_to(guild=guild)
        await self.tree.sync(guild=guild)


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord().serve(monkeypatch) as server:
        yield server
        assert server.unhandled == [], server.unhandled


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[DemoBot]:
    client = DemoBot(fake.guild_id)
    async with running_bot(fake, client):
        yield client


async def test_connects_with_zlib_gateway_identify_and_guild_cache(fake: FakeDiscord, bot: DemoBot) -> None:
    assert fake.gateway_queries == [{"v": "10", "encoding": "json", "compress": "zlib-stream"}]
    assert fake.intents == bot.intents.value
    assert fake.requests[:2] == ["GET /users/@me", "GET /oauth2/applications/@me"]
    guild = bot.get_guild(fake.guild_id)
    assert guild is not None and guild.name == "Stratum Test" and guild.chunked
    assert {c.name for c in guild.text_channels} == {"steam-alerts", "general", "mod-log"}
    moderator = guild.get_member(FakeDiscord.MOD_USER_ID)
    assert moderator is not None
    assert moderator.guild_permissions.manage_roles and moderator.guild_permissions.manage_guild
    community = guild.get_member(FakeDiscord.COMMUNITY_USER_ID)
    assert community is not None and not community.guild_permissions.manage_guild
    assert guild.me.guild_permissions.manage_roles
    assert set(fake.commands) == {"hello", "report", "status", "vote", "team", "demo"}
    demo = fake.commands["demo"]
    assert [(o["name"], o["type"]) for o in demo["options"]] == [("add", 1), ("inspect", 1)]


async def test_slash_ephemeral_embed_and_member_roles(fake: FakeDiscord, bot: DemoBot) -> None:
    record = await fake.invoke_slash("hello", user_id=FakeDiscord.PRO_USER_ID)
    response = await record.response()
    assert response.type == 4
    assert response.ephemeral and response.flags == 64
    assert response.content is None
    [embed] = response.embeds
    assert embed["title"] == "Hello" and embed["description"] == "world" and embed["color"] == 0x00FF00
    assert embed["fields"] == [{"name": "tier", "value": "Pro", "inline": False}]
    # discord.py built interaction.user (a Member) from our member payload: @everyone + Pro.
    assert bot.recorder.user_roles == sorted([fake.guild_id, fake.roles["Pro"]])
    assert bot.recorder.user_permissions is not None
    assert bot.recorder.user_permissions.value == fake.permissions_for(FakeDiscord.PRO_USER_ID)


async def test_defer_then_followup_with_file(fake: FakeDiscord, bot: DemoBot) -> None:
    record = await fake.invoke_slash("report", channel_id="general")
    assert (await record.response()).type == 5
    [followup] = await record.wait_followups(1)
    assert followup.content == "here you go"
    [sent] = followup.attachments
    assert sent.filename == "report.csv"
    assert sent.data == b"game,edge\nBOS-NYK,0.031\n"
    assert followup.payload["attachments"] == [{"id": 0, "filename": "report.csv"}]
    # The first followup after a thinking defer replaces the loading message.
    original = record.original
    assert original is not None and original["content"] == "here you go"
    assert original["attachments"][0]["size"] == len(sent.data)


async def test_ephemeral_defer_then_edit_original(fake: FakeDiscord, bot: DemoBot) -> None:
    record = await fake.invoke_slash("status")
    deferred = await record.response()
    assert deferred.type == 5 and deferred.ephemeral
    [edit] = await record.wait_edits(1)
    assert edit.content == "all systems go"
    assert record.original is not None
    assert record.original["content"] == "all systems go"
    assert record.original["flags"] == 64  # still ephemeral, no longer "loading"


async def test_group_subcommand_and_resolved_options(fake: FakeDiscord, bot: DemoBot) -> None:
    record = await fake.invoke_slash("demo add", {"value": 41})
    response = await record.response()
    assert response.content == "added 42" and not response.ephemeral
    sent_options = record.payload["data"]["options"]
    assert sent_options == [{"name": "add", "type": 1, "options": [{"name": "value", "type": 4, "value": 41}]}]

    record = await fake.invoke_slash(
        "demo",
        {"channel": "steam-alerts", "member": "pro-user", "role": "Moderator", "ratio": 1.5, "loud": True},
        subcommand="inspect",
    )
    assert (await record.response()).ephemeral
    assert bot.recorder.inspected == {
        "channel": (fake.channels["steam-alerts"], "steam-alerts"),
        "member": (FakeDiscord.PRO_USER_ID, sorted([fake.guild_id, fake.roles["Pro"]])),
        "role": (fake.roles["Moderator"], "Moderator"),
        "ratio": 1.5,
        "loud": True,
    }


async def test_button_click_edits_message(fake: FakeDiscord, bot: DemoBot) -> None:
    record = await fake.invoke_slash("vote")
    response = await record.response()
    assert response.content == "cast your vote"
    [row] = response.components
    assert row["components"][0]["custom_id"] == "vote:yes"
    message_id = response.message_id
    assert message_id is not None

    click = await fake.invoke_component(
        fake.find_custom_id(message_id, "Vote"), message_id, user_id=FakeDiscord.MOD_USER_ID
    )
    update = await click.response()
    assert update.type == 7
    assert update.content == f"voted by {FakeDiscord.MOD_USER_ID}"
    assert update.components == []
    assert fake.messages[message_id]["content"] == f"voted by {FakeDiscord.MOD_USER_ID}"


async def test_autocomplete_choices(fake: FakeDiscord, bot: DemoBot) -> None:
    record = await fake.invoke_autocomplete("team", {"name": "b"})
    response = await record.response()
    assert response.type == 8
    assert response.choices == [
        {"name": "Boston Celtics", "value": "Boston Celtics"},
        {"name": "Brooklyn Nets", "value": "Brooklyn Nets"},
    ]


async def test_channel_message_with_role_ping(fake: FakeDiscord, bot: DemoBot) -> None:
    guild = bot.get_guild(fake.guild_id)
    assert guild is not None
    channel = guild.get_channel(fake.channels["steam-alerts"])
    role = guild.get_role(fake.roles["Pro"])
    assert isinstance(channel, discord.TextChannel) and role is not None
    message = await channel.send(
        f"{role.mention} STEAM on BOS -3.5",
        allowed_mentions=discord.AllowedMentions(everyone=False, users=False, roles=[role]),
    )
    [sent] = fake.channel_messages[channel.id]
    assert sent["content"] == f"<@&{role.id}> STEAM on BOS -3.5"
    # AllowedMentions defaults replied_user=True, and discord.py always sends it.
    assert sent["allowed_mentions"] == {"parse": [], "roles": [role.id], "replied_user": True}
    assert sent["message"]["mention_roles"] == [str(role.id)]
    assert message.id == int(sent["message"]["id"])
    assert message.role_mentions == [role]


async def test_rate_limit_is_retried(fake: FakeDiscord, bot: DemoBot) -> None:
    cid = fake.channels["general"]
    fake.rate_limit_next("POST", f"/channels/{cid}/messages", retry_after=0.01)
    channel = bot.get_channel(cid)
    assert isinstance(channel, discord.TextChannel)
    await channel.send("after a 429")
    assert fake.rate_limited == [f"POST /channels/{cid}/messages"]
    assert [m["content"] for m in fake.channel_messages[cid]] == ["after a 429"]


async def test_dm_and_forbidden_channel(fake: FakeDiscord, bot: DemoBot) -> None:
    user = await bot.fetch_user(FakeDiscord.PRO_USER_ID)
    await user.send("your watchlist fired")
    [dm] = fake.dms[FakeDiscord.PRO_USER_ID]
    assert dm["content"] == "your watchlist fired"
    assert fake.dm_channel_id(FakeDiscord.PRO_USER_ID) in fake.channel_messages

    fake.closed_dms.add(FakeDiscord.COMMUNITY_USER_ID)
    member = bot.get_guild(fake.guild_id).get_member(FakeDiscord.COMMUNITY_USER_ID)  # type: ignore[union-attr]
    assert member is not None
    with pytest.raises(discord.Forbidden) as dm_error:
        await member.send("nope")
    assert dm_error.value.code == 50007

    cid = fake.channels["mod-log"]
    fake.forbidden_channels.add(cid)
    channel = bot.get_channel(cid)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.Forbidden):
        await channel.send("hidden")
    assert cid not in fake.channel_messages


async def test_role_change_updates_bot_cache(fake: FakeDiscord, bot: DemoBot) -> None:
    guild = bot.get_guild(fake.guild_id)
    assert guild is not None
    member = guild.get_member(FakeDiscord.COMMUNITY_USER_ID)
    pro = guild.get_role(fake.roles["Pro"])
    assert member is not None and pro is not None
    # The fake dispatches GUILD_MEMBER_UPDATE before answering the PUT (as Discord may), so the
    # waiter must exist before the request or the event can be missed.
    updated = asyncio.ensure_future(bot.wait_for("member_update", timeout=5))
    await member.add_roles(pro, reason="stripe checkout")
    await updated
    assert fake.role_changes[-1].action == "add"
    assert fake.role_changes[-1].reason == "stripe checkout"
    refreshed = guild.get_member(FakeDiscord.COMMUNITY_USER_ID)
    assert refreshed is not None and pro in refreshed.roles

    updated = asyncio.ensure_future(bot.wait_for("member_update", timeout=5))
    await refreshed.remove_roles(pro)
    await updated
    assert pro not in guild.get_member(FakeDiscord.COMMUNITY_USER_ID).roles  # type: ignore[union-attr]
    assert [(c.action, c.user_id, c.role_id) for c in fake.role_changes] == [
        ("add", FakeDiscord.COMMUNITY_USER_ID, pro.id),
        ("remove", FakeDiscord.COMMUNITY_USER_ID, pro.id),
    ]


async def test_unknown_route_is_recorded(fake: FakeDiscord, bot: DemoBot) -> None:
    with pytest.raises(discord.NotFound):
        await bot.http.request(discord.http.Route("GET", "/guilds/{guild_id}/bans", guild_id=fake.guild_id))
    assert fake.unhandled == [f"GET /guilds/{fake.guild_id}/bans"]
    fake.unhandled.clear()


async def test_member_join_event_reaches_cache(fake: FakeDiscord, bot: DemoBot) -> None:
    joined = asyncio.ensure_future(bot.wait_for("member_join", timeout=5))
    await fake.add_member(FakeMember(1100000000000000555, "new-user", [fake.roles["Pro"]]))
    member = await joined
    assert member.id == 1100000000000000555
    assert [r.name for r in member.roles] == ["@everyone", "Pro"]
