"""Fan-out: which outbox rows an event owes, written in the event's own transaction.

**Why a commit hook and not a cursor.** `EngineService._commit` writes one snapshot (quotes, consensus,
signals, grades, the feed cursor) in one transaction and publishes events only after it committed. The
rows a signal or a grade owes (Pro channel alerts, watchlist DMs, partner webhooks) are written by
`Fanout.on_commit`, which the engine calls *inside* that transaction. So a signal and its deliveries are
committed together or not at all: a crash after the commit and before any send loses nothing (the rows are
owed and the worker resumes them), a crash before the commit loses the snapshot too (the feed cursor did not
move, so it is fetched or replayed again and produces the same signals and the same idempotency keys). No
cursor is needed, hence no catch-up with its off-by-one traps (one poll's signals share one `created_at`).
Keys are ``signal.created:<signal>:channel:<id>``, ``signal.created:<signal>:dm:<guild>:<user>``,
``signal.created:<signal>:webhook:<endpoint>``, ``clv.graded:<signal>:webhook:<endpoint>``; every insert is
``ON CONFLICT DO NOTHING``, so writing them again (a re-fan-out, the legacy catch-up) is harmless.
Watchlist DMs honour the member's filters (`/alerts dm types:… min_score:…`, `storage.members.DmPrefs`)
when the rows are written; the Discord sender groups one poll's rows for one target into one message.

**The audit decides what pings.** A signal is gated by its class's alert state at the instant it fired
(the last change strictly before it, `ClassStateRepository.before`: only grades known then): a refuted
class, or one below the route's bar (`/mod alerts set … minimum:`), gets its channel row with
``"ping": false`` and the reason members read (``"no_ping"``); a refuted class, or one below the member's
bar (`/alerts dm minimum:`), gets no DM row at all (`engine.alert_state.no_ping_reason`).

Usage anomalies (recorded by the API's usage counter) owe rows to the key's webhooks, its owner's DMs and the
operators' channel, written together in one transaction keyed by the anomaly.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from config.settings import Settings
from domain.api import ApiKey
from engine.alert_state import ClassState, no_ping_reason
from engine.models import Signal

if TYPE_CHECKING:
    from delivery.webhooks import WebhookService
    from storage import Repositories

__all__ = ["MAX_ALERT_AGE", "Fanout"]

log = logging.getLogger(__name__)

#: A signal older than this when committed (a replayed tape, a long outage) gets no Discord alert.
MAX_ALERT_AGE = timedelta(hours=1)
#: Legacy cursors of the two pipelines before 0007; read once at start for the inclusive catch-up.
LEGACY_CURSORS = ("alerts:fanout", "webhooks:signals")

Serialize = Callable[[Any], dict[str, Any]]


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


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
    ) -> None:
        self.repos = repos
        self.settings = settings
        self.clock = clock
        self.webhooks = webhooks
        self.signal_json = signal_json
        self.grade_json = grade_json

    # the engine's commit ---------------------------------------------------------------------
    async def on_commit(self, tick) -> int:
        """Inside the snapshot's transaction: the rows its signals and grades owe. Returns how many were new."""
        queued = 0
        now = self.clock()
        routes = await self.repos.members.routes() if tick.signals else []
        states: dict[datetime, dict[str, ClassState]] = {}
        for signal in tick.signals:
            if signal.created_at not in states:  # one poll's signals share one instant
                states[signal.created_at] = await self.repos.class_states.before(signal.created_at)
            queued += await self.signal_rows(signal, now, routes, states[signal.created_at])
        for signal, grade in tick.grades:
            if self.webhooks is not None:
                data = {"signal": self.signal_json(signal), "grade": self.grade_json(grade)}
                queued += await self.webhooks.publish("clv.graded", data, now, subject=signal.id)
        return queued

    async def signal_rows(
        self, signal: Signal, now: datetime, routes=None, states: dict[str, ClassState] | None = None
    ) -> int:
        """The rows one signal owes. `states`: the classes' alert states when it fired (read if not given)."""
        queued = 0
        repos = self.repos
        if now - signal.created_at <= MAX_ALERT_AGE:
            if states is None:
                states = await repos.class_states.before(signal.created_at)
            state = states.get(signal.signal_class)
            for route in routes if routes is not None else await repos.members.routes():
                if signal.type in route.types:
                    payload = {"signal_ids": [signal.id], "guild_id": route.guild_id, "target_id": route.channel_id}
                    quiet = no_ping_reason(signal.signal_class, state, route.min_state, whose="this server's")
                    if quiet is not None:
                        payload |= {"ping": False, "no_ping": quiet}
                    queued += await repos.outbox.enqueue(
                        f"signal.created:{signal.id}:channel:{route.channel_id}",
                        "alert",
                        f"channel:{route.channel_id}",
                        payload,
                        now,
                    )
            for guild_id, user_id in await repos.members.watchers(signal.game_id):
                prefs = await repos.members.dm_prefs(guild_id, user_id)
                if prefs.accepts(signal.type, signal.score) and (  # on, and the member's types and minimum score
                    no_ping_reason(signal.signal_class, state, prefs.min_state, whose="your") is None
                ):  # and the class clears the member's bar (a refuted class clears none)
                    queued += await repos.outbox.enqueue(
                        f"signal.created:{signal.id}:dm:{guild_id}:{user_id}",
                        "watch_dm",
                        f"user:{user_id}",
                        {"signal_ids": [signal.id], "guild_id": guild_id, "target_id": user_id},
                        now,
                    )
        if self.webhooks is not None:
            queued += await self.webhooks.publish("signal.created", self.signal_json(signal), now, subject=signal.id)
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
            routes = await self.repos.members.routes()
            for signal in await self.repos.signals.since(since):
                if signal.created_at >= since:
                    queued += await self.signal_rows(signal, now, routes)
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
