"""The one delivery worker: every queue of the outbox served by its own asyncio task, senders injected.

- **Queues are independent.** The Discord queue, the shared webhook queue and each Enterprise key's own
  queue (the row's `queue` column, a property of the target) get one loop each, so a slow partner only ever
  delays its own messages. New queues are picked up as rows for them appear.
- **Targets keep their order.** Within a queue the rows due are grouped by target (a channel, a member's
  DMs, a webhook endpoint); targets are served side by side (`concurrency` at a time), a target's rows one
  after the other in `id` order. A row that must wait for its retry stops its target for the round, and
  `OutboxRepository.due` keeps the target's younger rows back until it went out.
- **Woken at once.** `OutboxRepository.enqueue` wakes the queue's loop; the loop reads inside a transaction,
  so it waits for the enqueuing transaction to commit and never sends a row that could still roll back. A
  poll (`poll_seconds`) covers retries coming due.
- **One retry policy** (`delivery.policy.RetryPolicy`); a sender may carry its own limits (Discord messages
  give up after fewer attempts than webhooks). Sent rows are marked at once; a crash between the send and
  the mark means the receiver may see the message twice, with the same `msg_id`, never that it misses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from delivery.policy import PermanentFailure, RetryPolicy, TemporaryFailure
from storage.outbox import DISCORD_QUEUE, OutboxItem

if TYPE_CHECKING:
    from storage import Repositories

__all__ = ["DeliveryWorker", "Round", "Sender"]

log = logging.getLogger(__name__)


class Sender(Protocol):
    """A thin adapter that puts one outbox row on the wire (Discord, HTTP)."""

    kinds: frozenset[str]
    policy: RetryPolicy | None

    def ready(self) -> bool: ...

    async def send(self, item: OutboxItem, now: datetime) -> int | None:
        """Send; return the receiver's status (if any). Raise `TemporaryFailure` or `PermanentFailure`."""

    async def gave_up(self, item: OutboxItem, reason: str, now: datetime, *, target_gone: bool) -> None:
        """The row (and with `target_gone` its whole target) will not be sent: tell whoever must know."""


@dataclass(slots=True)
class Round:
    attempted: int = 0
    sent: int = 0
    failed: int = 0  # given up for good

    def add(self, other: Round) -> None:
        self.attempted += other.attempted
        self.sent += other.sent
        self.failed += other.failed


class DeliveryWorker:
    def __init__(
        self,
        repos: Repositories,
        *,
        clock: Callable[[], datetime],
        policy: RetryPolicy | None = None,
        concurrency: int = 16,
        poll_seconds: float = 1.0,
        senders: Iterable[Sender] = (),
    ) -> None:
        self.repos = repos
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.concurrency = max(1, concurrency)
        self.poll_seconds = poll_seconds
        self._senders: dict[str, Sender] = {}
        self._wakers: dict[str, asyncio.Event] = {}
        self._new_queue = asyncio.Event()
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        for sender in senders:
            self.register(sender)
        repos.outbox.listen(self.wake)

    # wiring ----------------------------------------------------------------------------------
    def register(self, sender: Sender) -> None:
        for kind in sender.kinds:
            self._senders[kind] = sender
        self._new_queue.set()

    def wake(self, queue: str) -> None:
        waker = self._wakers.get(queue)
        if waker is None:
            self._new_queue.set()
        else:
            waker.set()

    def start(self) -> None:
        """Run in the background until `stop`."""
        if self._task is None:
            self._stop = asyncio.Event()
            self._task = asyncio.create_task(self.run(self._stop, self.poll_seconds), name="outbox-worker")

    async def stop(self) -> None:
        if self._task is not None and self._stop is not None:
            self._stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._task), 10)
            if not self._task.done():
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    # one round -------------------------------------------------------------------------------
    async def deliver_due(
        self, queue: str | None, now: datetime | None = None, *, kinds: Iterable[str] | None = None
    ) -> Round:
        """Attempt every row due at `now` once (in `queue`, or every queue when None) whose kind a ready
        sender serves (and of `kinds`, if given)."""
        now = now or self.clock()
        served = {kind for kind, sender in self._senders.items() if sender.ready()}
        if kinds is not None:
            served &= set(kinds)
        total = Round()
        if not served:
            return total
        seen: set[int] = set()
        gate = asyncio.Semaphore(self.concurrency)
        while True:
            async with self.repos.db.transaction():  # committed rows only (see the module docstring)
                due = await self.repos.outbox.due(queue, now, limit=BATCH, kinds=sorted(served))
                batch = [r for r in due if r.id not in seen]
            if not batch:
                return total
            seen.update(r.id for r in batch)
            targets: OrderedDict[str, list[OutboxItem]] = OrderedDict()
            for row in batch:
                targets.setdefault(row.target, []).append(row)
            sent: list[tuple[int, int | None]] = []
            try:
                for result in await asyncio.gather(*(self._target(gate, rows, now, sent) for rows in targets.values())):
                    total.add(result)
            finally:
                # One write for the batch's successes, not one per message: a crash before it means those
                # messages go again, with the same msg_id, which receivers de-duplicate.
                if sent:
                    await self._write(lambda done=sent: self.repos.outbox.mark_sent_many(done, now))

    async def deliver_key(self, key: str) -> OutboxItem | None:
        """Attempt one row now, out of turn (an API key DM a moderator waits for); returns it afterwards."""
        async with self.repos.db.transaction():
            item = await self.repos.outbox.by_key(key)
        if item is None or not item.pending:
            return item
        sender = self._senders.get(item.kind)
        if sender is not None and sender.ready():
            await self._one(item, self.clock())
        return await self.repos.outbox.by_key(key)

    async def _target(
        self, gate: asyncio.Semaphore, rows: list[OutboxItem], now: datetime, sent: list[tuple[int, int | None]]
    ) -> Round:
        result = Round()
        async with gate:
            for index, row in enumerate(rows):
                outcome = await self._one(row, now, sent)
                result.attempted += 1
                if outcome == "sent":
                    result.sent += 1
                elif outcome == "failed":
                    result.failed += 1
                elif outcome == "target_gone":
                    result.failed += 1
                    result.attempted += len(rows) - index - 1  # given up with the target
                    break
                else:  # retry later: the target waits, its younger rows keep their turn
                    break
        return result

    async def _one(self, item: OutboxItem, now: datetime, sent: list[tuple[int, int | None]] | None = None) -> str:
        """One attempt: "sent", "retry", "failed" or "target_gone". Never raises (a bug is a retry).

        A success is recorded at once, or appended to `sent` for the caller to record with its batch."""
        sender = self._senders[item.kind]
        policy = sender.policy or self.policy
        try:
            status = await sender.send(item, now)
        except Exception as exc:
            kind = _classify(exc)
            if kind == "temporary":
                return await self._retry_or_give_up(item, sender, policy, exc, now)
            if kind == "permanent":
                gone = bool(getattr(exc, "target_gone", False))
                log.warning("outbox %s: failed for good: %s", item.key, exc)
                await self._give_up(item, sender, str(exc), now, getattr(exc, "status", None), target_gone=gone)
                return "target_gone" if gone else "failed"
            log.exception("outbox %s: unexpected error; retried later", item.key)
            wait = timedelta(seconds=policy.backoff(item.attempts))
            error = f"internal error: {exc}"
            await self._write(lambda: self.repos.outbox.retry_later(item.id, error, now + wait))
            return "retry"
        if sent is not None:
            sent.append((item.id, status))
        else:
            await self._write(lambda: self.repos.outbox.mark_sent(item.id, now, status))
        return "sent"

    async def _retry_or_give_up(
        self, item: OutboxItem, sender: Sender, policy: RetryPolicy, exc: Exception, now: datetime
    ) -> str:
        attempts = item.attempts + 1
        status = getattr(exc, "status", None)
        if policy.gives_up(attempts, now - item.created_at):
            reason = f"still failing after {attempts} attempts (last: {exc})"
            if now - item.created_at >= policy.max_age:
                reason = f"deliveries kept failing for over {policy.max_age} (last: {exc})"
            log.error("outbox %s: giving up: %s", item.key, reason)
            whole = bool(getattr(sender, "disable_on_give_up", False))
            await self._give_up(item, sender, reason, now, status, target_gone=whole)
            return "target_gone" if whole else "failed"
        wait = timedelta(seconds=policy.backoff(item.attempts, getattr(exc, "retry_after", None)))
        log.info("outbox %s: retry in %s: %s", item.key, wait, exc)
        error = str(exc)
        await self._write(lambda: self.repos.outbox.retry_later(item.id, error, now + wait, status))
        return "retry"

    async def _give_up(
        self,
        item: OutboxItem,
        sender: Sender,
        reason: str,
        now: datetime,
        status: int | None,
        *,
        target_gone: bool,
    ) -> None:
        async def write() -> None:
            await self.repos.outbox.give_up(item.id, reason, now, status)
            if target_gone:
                await self.repos.outbox.fail_target(item.target, reason, now)

        await self._write(write)
        try:
            await sender.gave_up(item, reason, now, target_gone=target_gone)
        except Exception:
            log.exception("outbox %s: could not report the failure", item.key)

    async def _write(self, write) -> None:
        try:
            async with self.repos.db.transaction():
                await write()
        except Exception:
            log.exception("outbox: could not record a delivery's outcome")

    # the loops -------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, poll_seconds: float | None = None) -> None:
        """Deliver until `stop` is set: one loop per queue; new queues are picked up as they appear."""
        poll = self.poll_seconds if poll_seconds is None else poll_seconds
        loops: dict[str, asyncio.Task[None]] = {}
        try:
            while not stop.is_set():
                self._new_queue.clear()
                try:
                    queues = set(await self.repos.outbox.queues())
                except Exception:
                    log.exception("outbox worker: could not list queues")
                    queues = set()
                if any(s.ready() for s in self._senders.values() if s.kinds & DISCORD_KINDS):
                    queues.add(DISCORD_QUEUE)
                for queue in queues - loops.keys():
                    self._wakers.setdefault(queue, asyncio.Event())
                    loops[queue] = asyncio.create_task(self._loop(queue, stop, poll), name=f"outbox:{queue}")
                await _sleep(self._new_queue, stop, poll)
        finally:
            if not stop.is_set():  # cancelled: take the loops down with us
                for task in loops.values():
                    task.cancel()
            await asyncio.gather(*loops.values(), return_exceptions=True)

    async def _loop(self, queue: str, stop: asyncio.Event, poll: float) -> None:
        wake = self._wakers.setdefault(queue, asyncio.Event())
        while not stop.is_set():
            wake.clear()  # before looking, so a row landing meanwhile still wakes us
            try:
                done = await self.deliver_due(queue, self.clock())
            except Exception:
                log.exception("outbox queue %s: delivery round failed", queue)
                done = Round()
            if not done.attempted:
                await _sleep(wake, stop, poll)


def _classify(exc: Exception) -> str:
    """A failure is "temporary", "permanent" or "unexpected". Senders raise `TemporaryFailure` /
    `PermanentFailure`, or (a layer that may not import this package, e.g. the bot) any exception with
    ``temporary = True`` (and `retry_after`, `status`) or ``permanent = True`` (and `target_gone`, `status`)."""
    if isinstance(exc, TemporaryFailure) or getattr(exc, "temporary", False) is True:
        return "temporary"
    if isinstance(exc, PermanentFailure) or getattr(exc, "permanent", False) is True:
        return "permanent"
    return "unexpected"


#: Rows read per round: enough for one signal's fan-out to every endpoint, so no round waits on a straggler.
BATCH = 1000
DISCORD_KINDS = frozenset({"alert", "watch_dm", "digest", "message", "dm", "guild_post"})


async def _sleep(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    """Up to `seconds`, or until woken or stopped."""
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
