"""The Discord sender of the one outbox (`delivery.worker` calls it): channel alerts that ping the Pro role
(and only it), watchlist DMs to members who are still Pro, the Community digest of redacted signals, and
plain-text posts and DMs (mod-log, operators, billing, API keys, anomalies), and a server's set-up steps
(its system channel, else its owner's DM).

Thin on purpose: it maps a row to one discord.py call and Discord's answers to the worker's two kinds of
failure — 403/404 permanent (`DeliveryFailed`), 429/5xx/network temporary (`DeliveryRetry`, with
``retry_after``). Every message carries the row's id as its nonce (with ``enforce_nonce``), so Discord
itself drops a repeat sent within minutes, and a repeat is recognisable by it.

**One move, one message.** An alert or watchlist DM row is one move (one poll's signals on one game × market
× side) for one target, written by the fan-out with the embed this sender posts (`move_embeds`, rendered
when the row was written: heat, book names and the best price now as of the move) and whether it pings. The
sender posts exactly the row, and never reads other rows. It can only take a ping away: a row sent later
than ``discord.alert_ping_max_age_seconds`` after its poll (an outage, a backlog) pings nobody and says how
old it is; a row the fan-out decided not to ping (every signal of it held back by the audit for this target,
or its best price already too far −EV) says why. A DM that does not ping is sent silently (no notification).
Rows written before moves (only ``signal_ids``) are rendered here, one message each."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import discord

import access
from access import Tier, Viewer
from bot import render
from bot.common import channel_leak, find_pro_role
from services import alerts
from services.alerts import DeliveryFailed, DeliveryRetry
from services.prices import shown_price
from services.signals import views as signal_views

if TYPE_CHECKING:
    from bot.client import StratumBot
    from engine.models import Signal
    from engine.poll_moves import PollMove
    from engine.price_now import PriceNow
    from services.context import ServiceContext
    from storage.outbox import OutboxItem

log = logging.getLogger(__name__)


KINDS = frozenset({"alert", "watch_dm", "digest", "message", "dm", "guild_post"})


def nonce(item: OutboxItem) -> str:
    """Discord nonces are at most 25 characters: the tail of the row's stable message id."""
    return item.msg_id.removeprefix("msg_")[-25:]


async def move_embeds(
    ctx: ServiceContext,
    move: PollMove,
    price: PriceNow | None,
    note: str | None,
    held: Mapping[str, str],
    now: datetime,
) -> list[dict[str, Any]]:
    """What a Pro target is sent for `move`, as Discord's JSON: the fan-out writes it into the row (the
    bootstrap hands this to `delivery.fanout.Fanout` as its renderer). Heat and names as `/signal` shows
    them to Pro at `now`; `held`: per signal id, why the audit keeps it from pinging this target."""
    pro = Viewer(Tier.PRO)
    shown = await signal_views(ctx, list(move.signals), pro, now)
    stored = await ctx.repos.games.get(move.game_id)
    embed = render.move_embed(
        shown,
        stored.game if stored is not None else None,
        await shown_price(ctx, price, pro),
        move_id=move.id,
        at=move.at,
        note=note,
        held=held,
        demo=ctx.demo,
    )
    return [embed.to_dict()]


class DiscordDelivery:
    kinds = KINDS

    def __init__(self, bot: StratumBot, policy=None) -> None:
        self.bot = bot
        self.policy = policy  # the outbox's retry policy with Discord's limits (set by the app)

    def ready(self) -> bool:
        return self.bot.is_ready()

    def tier_of(self, guild_id: int, user_id: int) -> Tier | None:
        guild = self.bot.get_guild(guild_id)
        member = guild.get_member(user_id) if guild else None
        if member is None:
            return None
        roles = [(role.id, role.name) for role in member.roles]
        return access.tier_for_roles(roles, self.bot.ctx.settings.discord)

    def pro_role(self, guild: discord.Guild) -> discord.Role | None:
        return find_pro_role(guild, self.bot.ctx.settings.discord.pro_role)

    async def _embeds(self, signals: list[Signal], tier: Tier, now: datetime) -> list[discord.Embed]:
        """The signals as `tier` sees them (what `/signal` would show now: heat, book names)."""
        ctx = self.bot.ctx
        embeds = []
        for signal, view in zip(signals, await signal_views(ctx, signals, Viewer(tier), now), strict=True):
            stored = await ctx.repos.games.get(signal.game_id)
            embeds.append(render.signal_embed(view, stored.game if stored else None, ctx.demo))
        return embeds

    async def _signals(self, item: OutboxItem) -> list[Signal]:
        repos = self.bot.ctx.repos
        return [s for s in [await repos.signals.get(i) for i in item.payload.get("signal_ids", [])] if s]

    async def _move(self, item: OutboxItem, now: datetime) -> tuple[list[discord.Embed], bool, str | None]:
        """The row's message: its embeds, whether it pings now, and the note it carries when it does not."""
        payload = item.payload
        if "embeds" in payload:
            embeds = [discord.Embed.from_dict(e) for e in payload["embeds"]][: render.MESSAGE_EMBEDS_MAX]
            fired = datetime.fromisoformat(payload["fired_at"])
        else:  # a row from before moves: its signals, rendered now (one message, no grouping)
            signals = await self._signals(item)
            embeds = (await self._embeds(signals, Tier.PRO, now))[: render.MESSAGE_EMBEDS_MAX]
            fired = max((s.created_at for s in signals), default=now)
        ping, note = bool(payload.get("ping", True)), payload.get("note") or payload.get("no_ping")
        max_age = self.bot.ctx.settings.discord.alert_ping_max_age_seconds
        if ping and (now - fired).total_seconds() > max_age:  # late (an outage, a backlog): for the record only
            ping, note = False, render.late_note(fired, max_age)
        return embeds, ping, note

    async def send(self, item: OutboxItem, now: datetime | None = None) -> int | None:
        now = now or self.bot.ctx.clock()
        try:
            if item.kind == "message":
                await self._text(item)
            elif item.kind == "dm":
                await self._text_dm(item)
            elif item.kind == "guild_post":
                await self._guild_post(item)
            elif item.kind == "alert":
                await self._channel_alert(item, now)
            elif item.kind == "watch_dm":
                await self._dm(item, now)
            elif item.kind == "digest":
                await self._digest(item, now)
            else:
                raise DeliveryFailed(f"unknown outbox kind {item.kind!r}")
        except discord.RateLimited as exc:
            raise DeliveryRetry("rate limited", exc.retry_after, 429) from exc
        except (discord.Forbidden, discord.NotFound) as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc.text or exc}", exc.status) from exc
        except discord.HTTPException as exc:
            raise DeliveryRetry(f"Discord error {exc.status}: {exc.text}", None, exc.status) from exc
        except (OSError, TimeoutError) as exc:
            raise DeliveryRetry(f"network: {exc}") from exc
        return None

    async def deliver(self, item: OutboxItem, signals: list[Signal] | None = None) -> None:
        await self.send(item)

    async def gave_up(self, item: OutboxItem, reason: str, now: datetime, *, target_gone: bool) -> None:
        log.warning("Discord delivery %s given up: %s", item.key, reason)

    async def _channel(self, channel_id: int) -> discord.abc.Messageable:
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            channel = await self.bot.fetch_channel(channel_id)
        return channel  # type: ignore[return-value]

    async def _user(self, user_id: int) -> discord.User:
        return self.bot.get_user(user_id) or await self.bot.fetch_user(user_id)

    async def _text(self, item: OutboxItem) -> None:
        channel = await self._channel(int(item.payload["channel_id"]))
        await channel.send(
            item.payload["text"][:2000], allowed_mentions=discord.AllowedMentions.none(), nonce=nonce(item)
        )

    async def _text_dm(self, item: OutboxItem) -> None:
        user = await self._user(int(item.payload["user_id"]))
        await user.send(item.payload["text"][:2000], allowed_mentions=discord.AllowedMentions.none(), nonce=nonce(item))

    async def _guild_post(self, item: OutboxItem) -> None:
        """A post to a server (the set-up steps when it adds the bot): its system channel if the bot may post
        there, else the owner's DM. Chosen now, not when the row was written: the server may have changed,
        and the row is one whichever way it goes."""
        guild = self.bot.get_guild(int(item.payload["guild_id"]))
        if guild is None:
            raise DeliveryFailed("the bot is not in this server (any more)")
        text = item.payload["text"][:2000]
        quiet = discord.AllowedMentions.none()
        channel = guild.system_channel
        if channel is not None and channel.permissions_for(guild.me).send_messages:
            try:
                await channel.send(text, allowed_mentions=quiet, nonce=nonce(item))
                return
            except discord.Forbidden:
                log.info("cannot post in the system channel of %s; telling the owner by DM", guild.id)
        owner = guild.owner or await self._user(guild.owner_id or 0)
        await owner.send(text, allowed_mentions=quiet, nonce=nonce(item))

    async def _channel_alert(self, item: OutboxItem, now: datetime) -> None:
        channel = await self._channel(int(item.payload["target_id"]))
        guild = getattr(channel, "guild", None) or self.bot.get_guild(int(item.payload.get("guild_id") or 0))
        role = self.pro_role(guild) if guild else None
        await self._still_pro_only(item, channel, role)
        embeds, ping, note = await self._move(item, now)
        if not embeds:
            return
        if ping:
            content = role.mention if role else None
            mentions = discord.AllowedMentions(everyone=False, users=False, roles=[role] if role else False)
        else:  # posted for the record, pinging nobody, saying why
            content, mentions = note, discord.AllowedMentions.none()
        await channel.send(content=content, embeds=embeds, allowed_mentions=mentions, nonce=nonce(item))

    async def _still_pro_only(
        self, item: OutboxItem, channel: discord.abc.Messageable, role: discord.Role | None
    ) -> None:
        """The send-time re-check of `/mod alerts set`: a routed channel that members who are not Pro can read
        now gets no Pro alert. The row is given up (a held alert would post stale once fixed) and the
        moderators are told once per channel per day, through the outbox."""
        if not isinstance(channel, discord.abc.GuildChannel):
            raise DeliveryFailed("the alert channel is not a server channel; no Pro alert posted")
        leak = channel_leak(channel, role, self.bot.user.id if self.bot.user else 0)
        if leak is None:
            return
        reason = leak.replace(", then run /mod alerts set again.", ".")
        system = channel.guild.system_channel
        now = self.bot.ctx.clock()
        await alerts.report_public_channel(
            self.bot.ctx, channel.id, channel.name, reason, now, system.id if system is not None else None
        )
        raise DeliveryFailed(f"not Pro-only any more, Pro alert not posted: {reason}")

    async def _dm(self, item: OutboxItem, now: datetime) -> None:
        guild_id, user_id = int(item.payload.get("guild_id") or 0), int(item.payload["target_id"])
        if self.tier_of(guild_id, user_id) != Tier.PRO:
            raise DeliveryFailed("the member is not Pro (any more); no DM")
        embeds, ping, note = await self._move(item, now)
        if embeds:
            user = await self._user(user_id)
            await user.send(
                content=None if ping else note,
                embeds=embeds,
                allowed_mentions=discord.AllowedMentions.none(),
                nonce=nonce(item),
                silent=not ping,  # no notification: the DM's own way of not pinging
            )

    async def _digest(self, item: OutboxItem, now: datetime) -> None:
        signals = await self._signals(item)
        if not signals:
            return
        channel = await self._channel(int(item.payload["target_id"]))
        minutes = int(self.bot.ctx.settings.tiers.community_delay_seconds // 60)
        embeds = await self._embeds(signals, Tier.COMMUNITY, now)
        for index, part in enumerate(render.pack_embeds(embeds)):
            # A row is at most 10 signals; only embeds over 6000 characters in all split it, each part
            # with its own nonce (one nonce is one message to Discord).
            await channel.send(
                content=f"Latest signals (Community view, {minutes} minutes delayed):" if index == 0 else None,
                embeds=part,
                allowed_mentions=discord.AllowedMentions.none(),
                nonce=nonce(item) if index == 0 else f"{nonce(item)[:-2]}{index:02d}",
            )
