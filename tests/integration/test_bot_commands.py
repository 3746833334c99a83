"""Every slash command's definition against Discord's limits (names, descriptions, options, choices)."""

from __future__ import annotations

import re

import pytest

import access
from app.bootstrap import build_app, build_bot
from bot.client import COGS
from tests.engine_builders import settings

NAME = re.compile(r"^[-_\w]{1,32}$")
EXPECTED = {
    "odds",
    "chart",
    "heat",
    "integrity",
    "signals",
    "signal",
    "watch add",
    "watch remove",
    "watch list",
    "alerts list",
    "alerts dm",
    "bet log",
    "bet list",
    "bet delete",
    "clv",
    "export",
    "upgrade",
    "help",
    "billing status",
    "mod alerts set",
    "mod alerts remove",
    "mod billing status",
    "mod billing link",
    "mod billing unlink",
    "mod billing sync",
    "mod apikey create",
    "mod apikey revoke",
    "mod apikey list",
}


@pytest.fixture
async def bot(db_url):
    config = settings()
    app = await build_app(config, db_path=db_url, source="test")
    client = build_bot(app)
    for cog in COGS:
        await client.load_extension(cog)
    yield client
    await client.close()
    await app.close()


def _check_option(option: dict) -> None:
    assert NAME.match(option["name"]) and option["name"] == option["name"].lower(), option["name"]
    assert 1 <= len(option["description"]) <= 100, option
    assert len(option.get("choices", [])) <= 25
    for choice in option.get("choices", []):
        assert 1 <= len(choice["name"]) <= 100
    options = option.get("options", [])
    assert len(options) <= 25
    required_seen_optional = False
    for child in options:
        if child.get("required"):
            assert not required_seen_optional, f"required option after an optional one in {option['name']}"
        else:
            required_seen_optional = True
        _check_option(child)


def _leaves(payload: dict, prefix: str = "") -> list[str]:
    """Every runnable path of a command: itself, or its subcommands (through subcommand groups)."""
    path = f"{prefix}{payload['name']}"
    children = [o for o in payload.get("options", []) if o["type"] in (1, 2)]
    if not children:
        return [path]
    return [leaf for child in children for leaf in _leaves(child, f"{path} ")]


def _size(option: dict) -> int:
    """The characters Discord counts against a command's 4000: names, descriptions, choices, nested."""
    total = len(option["name"]) + len(option.get("description", ""))
    for choice in option.get("choices", []):
        total += len(choice["name"]) + len(str(choice["value"]))
    return total + sum(_size(child) for child in option.get("options", []))


async def test_every_command_fits_discords_limits(bot):
    payloads = [command.to_dict(bot.tree) for command in bot.tree.get_commands()]
    assert len(payloads) <= 100
    names = set()
    for payload in payloads:
        _check_option(payload)
        assert _size(payload) <= 4000, payload["name"]
        names.update(_leaves(payload))
    assert names == EXPECTED


def test_help_names_every_command_and_no_stale_one():
    """`/help` is written in `access.help_sheet`; every path it stands for is a real command, and between
    the tiers and moderators it names them all."""
    named = set()
    for tier in access.Tier:
        sheet = access.help_sheet(tier, settings().tiers, moderator=True)
        named |= {path for line in sheet.commands + sheet.moderator_commands for path in line.paths}
    assert named == EXPECTED


def test_help_sheets_follow_the_tier_rules():
    tiers = settings().tiers
    community = access.help_sheet(access.Tier.COMMUNITY, tiers, moderator=False)
    pro = access.help_sheet(access.Tier.PRO, tiers, moderator=False)
    paths = lambda sheet: {p for line in sheet.commands for p in line.paths}  # noqa: E731
    assert {"bet log", "clv", "export", "alerts dm"} <= paths(pro) - paths(community)
    assert "upgrade" in paths(community) - paths(pro)
    assert community.pro_adds is not None and "/upgrade" in community.pro_adds and pro.pro_adds is None
    assert community.moderator_commands == () == pro.moderator_commands
    tiers.community_delay_seconds, tiers.community_watchlist_max = 300, 5
    text = " ".join(line.text for line in access.help_sheet(access.Tier.COMMUNITY, tiers, moderator=False).commands)
    assert "5 minutes delayed" in text and "up to 5 upcoming games" in text
