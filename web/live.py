"""Pro's live feed fanned out: one publisher per audience, the same bytes to every open stream.

Each open `/signals/live` stream used to shape every new signal on its own (its own reads, its own render):
a signal's cost grew with the number of streams, and one member with thousands of them stalled the server.
Here the hub holds the one subscription to the engine's bus (while any stream is open). Each audience (the
tier views are shaped for) has one publisher task that reads and renders each new signal once, as a
server-sent event, and puts the same bytes on the bounded queue of every stream whose filters want it. A
stream whose queue is full is dropped, never waited for: it ends, and the browser reconnects with
`Last-Event-ID` and catches up.

Caps: a member keeps at most `web.live_streams_per_member` streams (opening one more closes their oldest
with a final `closed` event saying why, which `web/static/live.js` shows instead of reconnecting), and the
server at most `web.live_streams_max` (past it `open` raises `LiveStreamsFull`; the route answers 503 with
Retry-After). A member at their own cap may always replace their oldest stream: that adds none. When the
server begins to shut down, `close_all` ends every stream at once (so the server does not wait for them)
and the hub opens no more.

Nothing here is HTTP-framework specific: a stream is a queue of ready bytes the route writes out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from access import SignalView, Tier
from engine.events import SIGNAL_CREATED
from engine.models import Signal
from services import signals
from services.signals import LiveFilter

if TYPE_CHECKING:
    from jinja2 import Environment

    from services.context import ServiceContext

log = logging.getLogger(__name__)

#: Events queued for one slow stream before it is dropped (it reconnects and catches up).
QUEUE_MAX = 256


def sse_event(event: str, data: str, event_id: str = "") -> bytes:
    """One server-sent event; every line of `data` gets its own `data:` field."""
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id else "")
    return (head + "".join(f"data: {line}\n" for line in data.splitlines() or [""]) + "\n").encode()


def closed_reason(per_member: int) -> str:
    """What the final `closed` event of a member's oldest stream says."""
    return (
        f"This live feed was closed because a member may keep {per_member} live streams open and you opened "
        "another one (in another tab or window). Reload the page to use it here again."
    )


class LiveStreamsFull(Exception):
    """The server already holds `web.live_streams_max` live streams (or is shutting down)."""


@dataclass(frozen=True, slots=True)
class Event:
    """One signal, shaped and rendered once for an audience: the same bytes for every stream."""

    signal_id: str
    data: bytes


@dataclass(frozen=True, slots=True)
class End:
    """The stream ends; with a reason, a final `closed` event says why (and the browser does not reconnect)."""

    reason: str = ""


class Stream:
    """One open live stream: who, the audience and filters it was opened with, and its bounded queue."""

    def __init__(self, member: Hashable | None, tier: Tier, wanted: LiveFilter, queue_max: int) -> None:
        self.member, self.tier, self.filter = member, tier, wanted
        self.queue: asyncio.Queue[Event | End] = asyncio.Queue(maxsize=queue_max)
        self.sent: set[str] = set()  # signal ids already written (a catch-up and the live feed may overlap)
        self.ended = False

    def offer(self, events: list[Event]) -> bool:
        """Queue the events without waiting; False when the queue is full (the stream is too far behind)."""
        try:
            for event in events:
                self.queue.put_nowait(event)
        except asyncio.QueueFull:
            return False
        return True

    def end(self, reason: str = "") -> None:
        """End the stream: whatever is still queued is dropped (a reconnect catches up from the last event
        the browser got), then the end, so the stream's reader wakes at once."""
        self.ended = True
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:
                self.queue.get_nowait()
        self.queue.put_nowait(End(reason))

    def fresh(self, events: list[Event]) -> bytes:
        """The events' bytes, without any this stream already sent."""
        out = []
        for event in events:
            if event.signal_id not in self.sent:
                self.sent.add(event.signal_id)
                out.append(event.data)
        return b"".join(out)

    async def next(self, within: float) -> tuple[bytes, bool]:
        """What to write next (possibly nothing) and whether the stream is over; after `within` seconds
        with nothing queued, `(b"", False)` (the caller's moment to check its client, or for a heartbeat)."""
        try:
            first = await asyncio.wait_for(self.queue.get(), within)
        except TimeoutError:
            return b"", False
        items = [first]
        while not isinstance(items[-1], End) and not self.queue.empty():
            items.append(self.queue.get_nowait())
        end = items.pop() if isinstance(items[-1], End) else None
        out = self.fresh([item for item in items if isinstance(item, Event)])
        if end is not None and end.reason:
            out += sse_event("closed", end.reason)
        return out, end is not None


class LiveHub:
    """Every open live stream of one web app, and the publishers that feed them."""

    def __init__(
        self,
        ctx: ServiceContext,
        bus: Any,
        templates: Environment,
        *,
        per_member: int,
        max_streams: int,
        queue_max: int = QUEUE_MAX,
    ) -> None:
        self.ctx, self.bus = ctx, bus
        self.per_member, self.max_streams, self.queue_max = per_member, max_streams, queue_max
        self._row = templates.get_template("signal_row.html")
        self._audiences: dict[Tier, dict[Stream, None]] = {}  # insertion-ordered sets
        self._members: dict[Hashable, list[Stream]] = {}  # oldest first
        self._inboxes: dict[Tier, asyncio.Queue[Signal]] = {}
        self._publishers: dict[Tier, asyncio.Task[None]] = {}
        self._subscribed = False
        self._closed = False

    @property
    def count(self) -> int:
        return sum(len(streams) for streams in self._audiences.values())

    def open(self, member: Hashable | None, tier: Tier, wanted: LiveFilter) -> Stream:
        """A new stream for `member` (None: signed out, counted only against the server's cap). Their
        oldest streams past `per_member` are closed; raises `LiveStreamsFull` when the server is full
        and this member is not replacing one of their own."""
        mine = self._members.get(member, []) if member is not None else []
        if self._closed or (len(mine) < self.per_member and self.count >= self.max_streams):
            raise LiveStreamsFull
        while len(mine) >= self.per_member:
            self._close(mine[0], closed_reason(self.per_member))
        stream = Stream(member, tier, wanted, self.queue_max)
        self._audiences.setdefault(tier, {})[stream] = None
        if member is not None:
            self._members.setdefault(member, []).append(stream)
        if tier not in self._publishers:
            self._inboxes[tier] = asyncio.Queue()
            self._publishers[tier] = asyncio.create_task(self._publish(tier), name=f"live feed: {tier.value}")
        if not self._subscribed:
            self.bus.subscribe(SIGNAL_CREATED, self._on_signal)
            self._subscribed = True
        return stream

    def leave(self, stream: Stream) -> None:
        """The stream is gone (its client left, it ended, it was closed): forget it. Idempotent. The bus
        subscription ends with the last stream."""
        self._audiences.get(stream.tier, {}).pop(stream, None)
        mine = self._members.get(stream.member, [])
        if stream in mine:
            mine.remove(stream)
            if not mine:
                del self._members[stream.member]
        if self._subscribed and not self.count:
            self.bus.unsubscribe(SIGNAL_CREATED, self._on_signal)
            self._subscribed = False

    def _close(self, stream: Stream, reason: str = "") -> None:
        self.leave(stream)
        stream.end(reason)

    def close_all(self) -> None:
        """On shutdown: every stream ends now (so the server does not wait for them), the publishers stop, and
        no stream opens any more."""
        self._closed = True
        for streams in list(self._audiences.values()):
            for stream in list(streams):
                self._close(stream)
        for task in self._publishers.values():
            task.cancel()
        self._publishers.clear()
        self._inboxes.clear()

    async def _on_signal(self, signal: Signal) -> None:
        """The bus's handler, called by the engine's publish: hands the signal on and never blocks it."""
        for inbox in self._inboxes.values():
            inbox.put_nowait(signal)

    async def _publish(self, tier: Tier) -> None:
        """The audience's publisher: each batch of new signals read and rendered once, then fanned out."""
        inbox = self._inboxes[tier]
        while True:
            batch = [await inbox.get()]
            while not inbox.empty():
                batch.append(inbox.get_nowait())
            try:
                await self._fan_out(tier, batch)
            except Exception:  # one bad batch must not end the feed for everyone
                log.exception("the live feed for %s could not send %d signal(s)", tier.value, len(batch))

    async def _fan_out(self, tier: Tier, batch: list[Signal]) -> None:
        streams = list(self._audiences.get(tier, ()))
        if not streams:
            return
        shaped = await signals.live_views(self.ctx, tier, self.ctx.clock(), batch)
        if not shaped:
            return
        classes = await signals.live_classes(self.ctx, [stream.filter for stream in streams])
        events = list(zip((signal for signal, _ in shaped), await self.render([v for _, v in shaped]), strict=True))
        for stream in streams:
            wanted = [event for signal, event in events if stream.filter.admits(signal, classes)]
            if wanted and not stream.ended and not stream.offer(wanted):
                self._close(stream)  # too far behind: it ends, and the browser reconnects and catches up

    async def render(self, views: list[SignalView]) -> list[Event]:
        """The views as the feed's own rows (the same autoescaped template as the page), as SSE events."""
        return [
            Event(view.id, sse_event("signal", self._row.render(view=view, game=game, fresh=True), view.id))
            for view, game in await signals.with_games(self.ctx, views)
        ]
