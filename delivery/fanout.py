"""Fan-out: which outbox rows an event owes, written in the event's own transaction.

**Why a commit hook and not a cursor.** `EngineService._commit` writes one snapshot (quotes, consensus,
signals, grades, the feed cursor) in one transaction and publishes events only after it committed. The
rows a signal or a grade owes (Pro channel alerts, watchlist DMs, partner webhooks) are written by
`Fanout.on_commit`, which the engine calls *inside* that transaction. So a signal and its deliveries are
committed together or not at all: a crash after the commit and before any send loses nothing (the rows are
owed and the worker resumes them), a crash before the commit — even half-way through the fan-out — loses
the snapshot too (the feed cursor did not move, so it is fetched or replayed again and produces the same
signals and the same idempotency keys). No cursor is needed, hence no catch-up with its off-by-one traps
(one poll's signals share one `created_at`).

**One move, one alert.** The signals of one poll on the same game × market × side are one move
(`engine.poll_moves`); Discord gets one row per move × target, holding the message the sender posts — the
embed rendered here by the bot's renderer (injected by the bootstrap, so `delivery/` does not import the
bot), whether it pings and, if not, why. The sender posts exactly the row and never reads other rows. The
move's id is a hash of game, market, side and the poll's time, so a re-fan-out, a replay or a restart after a
crash writes the same keys, and a move is never split between rows nor written twice.

Keys are ``move.created:<move>:channel:<id>``, ``move.created:<move>:dm:<guild>:<user>``,
``move.created:<move>:webhook:<endpoint>``, ``signal.created:<signal>:webhook:<endpoint>`` (partners keep one
message per signal) and ``clv.graded:<signal>:webhook:<endpoint>``; every insert is
``ON CONFLICT DO NOTHING``, so writing them again (a re-fan-out, the legacy catch-up) is harmless. A channel
routed for some types gets the move with those types' signals; watchlist DMs honour the member's filters
(`/alerts dm types:… min_score:…`, `storage.members.DmPrefs`) the same way, when the rows are written.

**The ping** is decided here, per move and target, by the one rule `decide_ping`, with its reason:

- *the audit decides what pings*: each signal is gated by its class's alert state at the instant it fired
  (the last change strictly before it, `ClassStateRepository.before`: only grades known then). A channel's
  move pings only if one of its signals clears the route's bar (a refuted class clears none;
  `/mod alerts set … minimum:`); a signal held back is still listed, saying why
  (`engine.alert_state.no_ping_reason`). A DM lists only the signals that clear the member's bar
  (`/alerts dm minimum:`): a move with none sends no DM at all;
- *numbers a member can act on*: a move whose best price now is already worse than ``alerts.max_negative_ev``
  against the fair price is still posted (and DMed), without a ping, saying why.

The sender may only take a ping away, never add one: an alert sent later than
``discord.alert_ping_max_age_seconds`` after its poll pings nobody either (it says how old it is).

Usage anomalies (recorded by the API's usage counter) owe rows to the key's webhooks, its owner's DMs and the
operators' channel, written together in one transaction keyed by the anomaly.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from config.settings import Settings
from domain.api import ApiKey
from engine.alert_state import ClassState, no_ping_reason
from engine.models import Market, Side, Signal
from engine.poll_moves import PollMove, group_moves
from engine.price_now import PriceNow

if TYPE_CHECKING:
    from delivery.webhooks import WebhookService
    from storage import AlertRoute, Repositories

__all__ = ["MAX_ALERT_AGE", "Fanout", "PingDecision", "decide_ping"]

log = logging.getLogger(__name__)

#: A signal older than this when committed (a replayed tape, a long outage) gets no Discord alert.
MAX_ALERT_AGE = timedelta(hours=1)
#: Legacy cursors of the two pipelines before 0007; read once at start for the inclusive catch-up.
LEGACY_CURSORS = ("alerts:fanout", "webhooks:signals")
MINUS = "\u2212"

Serialize = Callable[[Any], dict[str, Any]]
#: The best price now on one side of a game's market at a moment (`services.prices.price_now`).
PriceLookup = Callable[[str, Market, Side, datetime], Awaitable[PriceNow | None]]
#: What a Discord target is sent for a move: the embeds (as Discord's JSON) of the move, its best price now,
#: the no-ping note if any and, per signal id, why the audit holds that signal back from pinging this target,
#: rendered at `now` (`bot.delivery.move_embeds`).
RenderMove = Callable[
    [PollMove, PriceNow | None, str | None, Mapping[str, str], datetime], Awaitable[list[dict[str, Any]]]
]
#: The `move.created` webhook's data (`api.serialize.move_json`).
MoveJson = Callable[[PollMove, PriceNow | None], dict[str, Any]]


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


def _percent(value: float) -> str:
    return f"{round(100 * value, 1) + 0.0:+.1f}%".replace("-", MINUS)  # + 0.0: never "−0.0%"


@dataclass(frozen=True, slots=True)
class PingDecision:
    """Whether a move's alert pings (the Pro role in a channel, a notification with a DM) and, when it
    does not, why — the words the message carries."""

    ping: bool
    reason: str | None = None


def decide_ping(*, price: PriceNow | None, max_negative_ev: float, held: Sequence[str | None] = ()) -> PingDecision:
    """The one ping rule of a move for one target, channels and DMs alike. `held`: per signal the target is
    sent, why the audit keeps it from pinging there (None: it may ping). No ping when every signal is held
    back (the reasons, each once), or when the best price now is already negative expected value by more
    than `max_negative_ev` against the fair price (exactly the limit still pings); a move without a price to
    judge by pings."""
    if held and all(held):
        return PingDecision(False, "\n".join(dict.fromkeys(str(reason) for reason in held)))
    if price is not None and price.ev < -max_negative_ev:
        return PingDecision(
            False,
            f"No ping: the best price now is already {_percent(price.ev)} EV against the fair price "
            f"(alerts ping down to {_percent(-max_negative_ev)}).",
        )
    return PingDecision(True, None)


class Fanout:
    def __init__(
        self,
        repos: Repositories,
        settings: Settings,
        *,
        clock: Callable[[], datetime],
        webhooks: WebhookService | None,
        signal_json: Serialize,
        grade_json: Serialize,
        move_json: MoveJson,
        price_now: PriceLookup,
        render_move: RenderMove,
    ) -> None:
        self.repos = repos
        self.settings = settings
        self.clock = clock
        self.webhooks = webhooks
        self.signal_json = signal_json
        self.grade_json = grade_json
        self.move_json = move_json
        self.price_now = price_now
        self.render_move = render_move

    # the engine's commit ---------------------------------------------------------------------
    async def on_commit(self, tick) -> int:
        """Inside the snapshot's transaction: the rows its signals and grades owe. Returns how many were new."""
        queued = 0
        now = self.clock()
        if tick.signals:
            queued += await self.poll_rows(tick.signals, now)
        for signal, grade in tick.grades:
            if self.webhooks is not None:
                data = {"signal": self.signal_json(signal), "grade": self.grade_json(grade)}
                queued += await self.webhooks.publish("clv.graded", data, now, subject=signal.id)
        return queued

    async def poll_rows(
        self, signals: Iterable[Signal], now: datetime, routes: Sequence[AlertRoute] | None = None
    ) -> int:
        """The rows `signals` owe: per move (one poll's signals on one game × market × side) its alerts, DMs
        and `move.created` webhooks, and per signal its `signal.created` webhooks."""
        signals = list(signals)
        routes = routes if routes is not None else await self.repos.members.routes()
        queued = 0
        states: dict[datetime, Mapping[str, ClassState]] = {}  # per poll instant, shared by its moves
        for move in group_moves(signals):
            queued += await self.move_rows(move, now, routes, states)
        if self.webhooks is not None:
            for signal in signals:
                queued += await self.webhooks.publish(
                    "signal.created", self.signal_json(signal), now, subject=signal.id
                )
        return queued

    async def move_rows(
        self,
        move: PollMove,
        now: datetime,
        routes: Sequence[AlertRoute],
        states: dict[datetime, Mapping[str, ClassState]] | None = None,
    ) -> int:
        """One move's rows: an alert per routed channel (with the signals of the types it takes), a DM per
        watcher (with the signals their filters and bar take), a `move.created` per subscribed endpoint.
        `states`: the classes' alert states per poll instant, read into it the first time a move of that
        instant has a target (so a poll's moves share one read)."""
        channels: list[tuple[AlertRoute, PollMove, dict[str, str | None]]] = []
        members: list[tuple[int, int, PollMove]] = []
        if now - move.at <= MAX_ALERT_AGE:
            watchers = await self.repos.members.watchers(move.game_id)
            states = {} if states is None else states
            if (routes or watchers) and move.at not in states:
                states[move.at] = await self.repos.class_states.before(move.at)
            known = states.get(move.at, {})

            def held(signal: Signal, minimum: str, whose: str) -> str | None:
                return no_ping_reason(signal.signal_class, known.get(signal.signal_class), minimum, whose=whose)

            for route in routes:
                taken = [s for s in move.signals if s.type in route.types]
                if taken:
                    reasons = {s.id: held(s, route.min_state, "this server's") for s in taken}
                    channels.append((route, move.only(taken), reasons))
            for guild_id, user_id in watchers:
                prefs = await self.repos.members.dm_prefs(guild_id, user_id)
                # On, the member's types and minimum score, and a class that clears their bar (a refuted
                # class clears none): the rest of the move is not theirs to be sent.
                taken = [
                    s
                    for s in move.signals
                    if prefs.accepts(s.type, s.score) and held(s, prefs.min_state, "your") is None
                ]
                if taken:
                    members.append((guild_id, user_id, move.only(taken)))
        webhook = self.webhooks is not None and await self.webhooks.subscribed("move.created")
        if not channels and not members and not webhook:
            return 0
        price = await self.price_now(move.game_id, move.market, move.side, move.at)
        max_negative_ev = self.settings.alerts.max_negative_ev
        rendered: dict[tuple[tuple[str, ...], str | None, tuple[tuple[str, str], ...]], list[dict[str, Any]]] = {}

        async def message(part: PollMove, decision: PingDecision, reasons: Mapping[str, str | None]) -> dict[str, Any]:
            """The row's payload for one target: the move as that target takes it, rendered once per shape."""
            ids = tuple(s.id for s in part.signals)
            notes = {sid: why for sid, why in reasons.items() if why is not None}
            shape = (ids, decision.reason, tuple(sorted(notes.items())))
            if shape not in rendered:
                rendered[shape] = await self.render_move(part, price, decision.reason, notes, now)
            return {
                "move_id": move.id,
                "signal_ids": list(ids),
                "fired_at": move.at.isoformat(),
                "ping": decision.ping,
                "note": decision.reason,
                "embeds": rendered[shape],
            }

        queued = 0
        outbox = self.repos.outbox
        for route, part, reasons in channels:
            decision = decide_ping(price=price, max_negative_ev=max_negative_ev, held=list(reasons.values()))
            payload = {
                **await message(part, decision, reasons),
                "guild_id": route.guild_id,
                "target_id": route.channel_id,
            }
            key = f"move.created:{move.id}:channel:{route.channel_id}"
            queued += await outbox.enqueue(key, "alert", f"channel:{route.channel_id}", payload, now)
        for guild_id, user_id, part in members:
            decision = decide_ping(price=price, max_negative_ev=max_negative_ev)  # every signal cleared their bar
            payload = {**await message(part, decision, {}), "guild_id": guild_id, "target_id": user_id}
            key = f"move.created:{move.id}:dm:{guild_id}:{user_id}"
            queued += await outbox.enqueue(key, "watch_dm", f"user:{user_id}", payload, now)
        if webhook and self.webhooks is not None:
            queued += await self.webhooks.publish("move.created", self.move_json(move, price), now, subject=move.id)
        return queued

    async def catch_up_legacy(self) -> int:
        """Once, after migration 0007: signals committed after the old pipelines' cursors (inclusive, since one
        poll's signals share one time) are fanned out; the keys make any repeat a no-op. Then the cursors go."""
        cursors = [c for c in [await self.repos.cursors.get(name) for name in LEGACY_CURSORS] if c is not None]
        if not cursors:
            return 0
        now = self.clock()
        since = max(min(cursors), now - timedelta(days=1))
        queued = 0
        async with self.repos.db.transaction():
            signals = [s for s in await self.repos.signals.since(since) if s.created_at >= since]
            queued += await self.poll_rows(signals, now)
            for name in LEGACY_CURSORS:
                await self.repos.cursors.delete(name)
        return queued

    # usage anomalies and notices -------------------------------------------------------------
    async def anomaly(self, key: ApiKey, kind: str, detail: str) -> int:
        """Recorded already (by the usage counter): now owe the key's webhooks, its owner and the operators."""
        now = self.clock()
        subject = _digest(key.id, kind, detail)
        data = {"key_id": key.id, "kind": kind, "detail": detail, "at": now.isoformat().replace("+00:00", "Z")}
        queued = 0
        async with self.repos.db.transaction():
            if self.webhooks is not None:
                queued += await self.webhooks.publish("usage.anomaly", data, now, key_id=key.id, subject=subject)
            text = f"Stratum API usage on {key.id}: {kind} — {detail}"
            queued += await self.notify_owner(key.owner, text, "usage.anomaly", subject)
            channel = self.settings.discord.operators_channel
            report = f"API anomaly on {key.id} ({key.owner}, {key.plan}): {kind} — {detail}"
            if channel:
                queued += await self.repos.outbox.enqueue_post("usage.anomaly", subject, channel, report[:1900], now)
            else:
                log.warning("operators: %s", report)
        return queued

    async def endpoint_disabled(self, key: ApiKey, reason: str) -> None:
        text = f"A webhook endpoint of your Stratum API key {key.id} was disabled: {reason}"
        await self.notify_owner(key.owner, text, "webhook.disabled", _digest(key.id, reason))

    async def notify_owner(self, owner: str, text: str, event: str, subject: str) -> int:
        """A key owner's notice: a DM row when the owner is a Discord member (directly, or through Stripe)."""
        user_id = None
        if owner.startswith("discord:") and owner.split(":", 1)[1].isdigit():
            user_id = int(owner.split(":", 1)[1])
        elif owner.startswith("stripe:"):
            link = await self.repos.billing.link_of_customer(owner.split(":", 1)[1])
            user_id = link.user_id if link else None
        if user_id is None:
            log.info("notice for %s: %s", owner, text)
            return 0
        async with self.repos.db.transaction():
            return int(await self.repos.outbox.enqueue_dm(event, subject, user_id, text, self.clock()))
