"""Billing decisions and role sync, written as a diff (desired role vs actual role → apply only the
difference), run on webhook events, on member joins, on moderator request and on a schedule.

Every webhook event is stored before it is acted on (idempotent by Stripe's event id) and marked when
done, so a crash mid-handling is finished at the next start. Roles are decided from each customer's
subscriptions as Stripe describes them *now*, never from the order events arrived in.

What billing tells members (DMs) and moderators (the mod-log) are rows of the one outbox, keyed
``billing.<event>:<subject>:dm:<user>`` / ``…:channel:<id>``: a bot killed while a DM is held by a rate
limit sends it after the restart. An API key issued by Stripe and the DM carrying it are written in one
transaction (the secret is dropped from the row once it was sent).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import access
from access import BillingDecision, Tier, UserError, Viewer
from billing.gateway import BillingUnavailable, StripeGateway
from domain.billing import BillingLink, SubscriptionState
from services import keys
from services.context import ServiceContext
from storage.billing import StoredEvent

log = logging.getLogger(__name__)

CUSTOMER_ID_PREFIX = "cus_"


class RoleManager(Protocol):
    """What billing needs from Discord (the bot implements it)."""

    def has_pro(self, guild_id: int, user_id: int) -> bool | None: ...  # None: not a member

    def pro_members(self, guild_id: int) -> list[int]: ...

    async def set_pro(self, guild_id: int, user_id: int, pro: bool, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class MemberBilling:
    link: BillingLink | None
    subscriptions: tuple[SubscriptionState, ...]
    decision: BillingDecision
    has_pro: bool | None
    #: Dead-lettered Stripe events (a moderator's concern): how many, and the newest.
    parked_events: int = 0
    newest_parked: StoredEvent | None = None

    @property
    def renewal(self) -> datetime | None:
        for sub in self.subscriptions:
            if sub.id == self.decision.subscription_id:
                return sub.current_period_end
        return None


@dataclass(frozen=True, slots=True)
class SyncResult:
    guild_id: int
    user_id: int
    decision: BillingDecision
    change: str | None  # "added", "removed", or None when the role was already right


class BillingService:
    def __init__(self, ctx: ServiceContext, gateway: StripeGateway, roles: RoleManager) -> None:
        self.ctx = ctx
        self.gateway = gateway
        self.roles = roles
        self._tasks: set[asyncio.Task] = set()
        self._lock = asyncio.Lock()  # one sync at a time: a webhook and the reconcile never interleave

    @property
    def _stripe(self):
        return self.ctx.settings.stripe

    # ------------------------------------------------------------------ members

    async def upgrade_link(self, viewer: Viewer) -> str:
        if viewer.is_pro:
            raise UserError("You are already Pro. Use `/billing status` to manage your subscription.")
        if not self._stripe.pro_price:
            raise UserError("Upgrades are not open yet on this server (no Pro price configured).")
        link = await self.ctx.repos.billing.link_of_member(viewer.guild_id, viewer.user_id)
        return await self._unavailable_is_user_error(
            self.gateway.checkout_url(
                guild_id=viewer.guild_id, user_id=viewer.user_id, customer_id=link.customer_id if link else None
            )
        )

    async def portal_link(self, guild_id: int, user_id: int) -> str | None:
        link = await self.ctx.repos.billing.link_of_member(guild_id, user_id)
        if link is None:
            return None
        return await self._unavailable_is_user_error(self.gateway.portal_url(link.customer_id))

    async def status(self, guild_id: int, user_id: int) -> MemberBilling:
        link = await self.ctx.repos.billing.link_of_member(guild_id, user_id)
        subs: list[SubscriptionState] = []
        if link is not None:
            subs = await self._unavailable_is_user_error(self._refresh(link.customer_id))
        parked, newest = await self.ctx.repos.billing.parked_events(limit=1)
        return MemberBilling(
            link=link,
            subscriptions=tuple(subs),
            decision=self._decide(subs),
            has_pro=self.roles.has_pro(guild_id, user_id),
            parked_events=parked,
            newest_parked=newest[0] if newest else None,
        )

    # ------------------------------------------------------------------ moderators

    async def link(self, guild_id: int, user_id: int, customer_id: str, by: int) -> SyncResult:
        customer_id = (customer_id or "").strip()
        if not customer_id.startswith(CUSTOMER_ID_PREFIX) or len(customer_id) > 255:
            raise UserError(f"“{customer_id[:40]}” is not a Stripe customer id (they start with {CUSTOMER_ID_PREFIX}).")
        if not await self._unavailable_is_user_error(self.gateway.customer_exists(customer_id)):
            raise UserError(f"Stripe has no customer {customer_id}.")
        existing = await self.ctx.repos.billing.link_of_customer(customer_id)
        if existing is not None and (existing.guild_id, existing.user_id) != (guild_id, user_id):
            raise UserError(f"{customer_id} is already linked to <@{existing.user_id}>. Unlink them first.")
        now = self.ctx.clock()
        async with self.ctx.repos.db.transaction():  # the link and the mod-log post it owes commit together
            await self.ctx.repos.billing.link(BillingLink(guild_id, user_id, customer_id, by, now))
            await self.mod_log(guild_id, f"<@{by}> linked <@{user_id}> to Stripe customer {customer_id}.")
        return await self.sync_member(guild_id, user_id)

    async def unlink(self, guild_id: int, user_id: int, by: int) -> SyncResult:
        async with self.ctx.repos.db.transaction():
            removed = await self.ctx.repos.billing.unlink(guild_id, user_id)
            if removed:
                await self.mod_log(guild_id, f"<@{by}> unlinked <@{user_id}> from Stripe.")
        if not removed:
            raise UserError(f"<@{user_id}> has no Stripe customer linked.")
        return await self.sync_member(guild_id, user_id, unlinked_too=True)  # Stripe no longer backs their Pro

    # ------------------------------------------------------------------ sync

    def _decide(self, subs: list[SubscriptionState]) -> BillingDecision:
        grace = timedelta(days=self._stripe.grace_days)
        return access.billing_tier(subs, self.ctx.clock(), grace, self._stripe.pro_price)

    async def _refresh(self, customer_id: str) -> list[SubscriptionState]:
        """The customer's subscriptions from Stripe now, remembering when each first went past due."""
        fresh = await self.gateway.subscriptions(customer_id)
        known = {s.id: s for s in await self.ctx.repos.billing.subscriptions(customer_id)}
        now = self.ctx.clock()
        merged = []
        for sub in fresh:
            since = None
            if sub.status == "past_due":
                previous = known.get(sub.id)
                since = previous.past_due_since if previous and previous.past_due_since else now
            merged.append(replace(sub, past_due_since=since))
        async with self.ctx.repos.db.transaction():
            for sub in merged:
                await self.ctx.repos.billing.save_subscription(sub, now)
        return merged

    async def sync_member(self, guild_id: int, user_id: int, *, unlinked_too: bool = False) -> SyncResult:
        """Apply the difference between the member's role and what Stripe says. A member with no link
        is left alone (moderators may have given Pro by hand) unless `unlinked_too` or the
        `manage_unlinked` setting says otherwise."""
        async with self._lock:
            return await self._sync_member(guild_id, user_id, unlinked_too or self._stripe.manage_unlinked)

    async def _sync_member(self, guild_id: int, user_id: int, manage_unlinked: bool) -> SyncResult:
        link = await self.ctx.repos.billing.link_of_member(guild_id, user_id)
        previous: list[SubscriptionState] = []
        subs: list[SubscriptionState] = []
        if link is not None:
            previous = await self.ctx.repos.billing.subscriptions(link.customer_id)
            subs = await self._refresh(link.customer_id)
        decision = self._decide(subs)
        has = self.roles.has_pro(guild_id, user_id)
        change = None
        if has is None:
            return SyncResult(guild_id, user_id, decision, None)
        if link is None and not manage_unlinked:
            return SyncResult(guild_id, user_id, decision, None)
        should = decision.tier == Tier.PRO
        if should and not has:
            await self.roles.set_pro(guild_id, user_id, True, decision.reason)
            change = "added"
            await self._dm(
                user_id,
                "You are Pro now — real-time signals, alerts, CLV tracking and exports. Thank you!",
                "billing.pro_granted",
                self._episode(decision.subscription_id),
            )
        elif not should and has:
            await self.roles.set_pro(guild_id, user_id, False, decision.reason)
            change = "removed"
            await self._dm(
                user_id,
                f"Your Pro access has ended ({decision.reason}). `/upgrade` brings it back.",
                "billing.pro_ended",
                self._episode(decision.subscription_id),
            )
        if decision.in_grace and not any(p.status == "past_due" for p in previous):
            await self._dm(
                user_id,
                f"Your last payment failed. You keep Pro until {decision.grace_ends:%Y-%m-%d %H:%M} UTC; "
                "update your card with `/billing status` → Manage subscription.",
                "billing.payment_failed",
                f"{decision.subscription_id or 'none'}@{decision.grace_ends:%Y-%m-%dT%H:%M}",
            )
        if change:
            log.info("billing: %s Pro for %s in %s (%s)", change, user_id, guild_id, decision.reason)
        if link is not None:
            await self._sync_api_keys(link, subs, user_id)
        return SyncResult(guild_id, user_id, decision, change)

    async def _sync_api_keys(self, link: BillingLink, subs: list[SubscriptionState], user_id: int) -> None:
        """API plans sold through Stripe: an active subscription to a plan's price issues a key of that plan
        (DMed once); when the subscription ends the key is revoked. Keys a moderator issued are untouched."""
        owner = f"stripe:{link.customer_id}"
        existing = {k.plan: k for k in await self.ctx.repos.api.keys(owner) if k.active}
        grace = timedelta(days=self._stripe.grace_days)
        now = self.ctx.clock()
        for plan, price in self._stripe.api_prices.items():
            entitled = access.billing_tier(subs, now, grace, price).tier == Tier.PRO
            if entitled and plan not in existing:
                async with self.ctx.repos.db.transaction():  # the key and the DM carrying it: both or neither
                    key, secret = await keys.create_key(
                        self.ctx.repos, self.ctx.settings, owner=owner, plan=plan, now=now
                    )
                    await self.ctx.repos.outbox.enqueue_dm(
                        "billing.api_key_issued",
                        key.id,
                        user_id,
                        f"Your Stratum API key ({plan}): `{secret}` — shown once; send it as `Bearer <key>`.",
                        now,
                        sensitive=True,
                    )
                log.info("billing: issued API key %s (%s) to %s", key.id, plan, owner)
            elif not entitled and plan in existing:
                async with self.ctx.repos.db.transaction():
                    await keys.revoke(self.ctx.repos, existing[plan].id, now)
                    await self.ctx.repos.outbox.enqueue_dm(
                        "billing.api_key_revoked",
                        existing[plan].id,
                        user_id,
                        f"Your {plan} API subscription ended; key {existing[plan].id} is revoked.",
                        now,
                    )

    def _episode(self, subscription_id: str | None) -> str:
        """The subject of a role change's DM: the subscription and the moment (a member may lose and regain
        Pro on one subscription; each change is told once)."""
        return f"{subscription_id or 'none'}@{self.ctx.clock().isoformat()}"

    async def _dm(self, user_id: int, text: str, event: str, subject: str) -> None:
        """Owe the member a DM (an outbox row; the worker sends it)."""
        async with self.ctx.repos.db.transaction():
            await self.ctx.repos.outbox.enqueue_dm(event, subject, user_id, text, self.ctx.clock())

    async def mod_log(self, guild_id: int, text: str) -> None:
        """Owe the moderators' log a post (an outbox row), when a mod-log channel is set; inside the caller's
        transaction when one is open, so the post commits with the action it reports."""
        log.info("mod-log %s: %s", guild_id, text)
        channel_id = self._stripe.mod_log_channel
        if not channel_id:
            return
        now = self.ctx.clock()
        subject = hashlib.sha256(f"{guild_id}\x1f{now.isoformat()}\x1f{text}".encode()).hexdigest()[:20]
        async with self.ctx.repos.db.transaction():
            await self.ctx.repos.outbox.enqueue_post("billing.mod_log", subject, channel_id, text, now)

    async def reconcile(self, guild_id: int, *, by: int | None = None) -> list[SyncResult]:
        """Desired vs actual roles for every linked member (and, if configured, every Pro member);
        apply only the difference. One member's failure (Stripe or Discord) never stops the others."""
        members = {link.user_id for link in await self.ctx.repos.billing.links(guild_id)}
        if self._stripe.manage_unlinked:
            members |= set(self.roles.pro_members(guild_id))
        results, failures = [], 0
        for user_id in sorted(members):
            try:
                results.append(await self.sync_member(guild_id, user_id))
            except Exception:
                failures += 1
                log.warning("reconcile: %s in %s failed; the next run retries", user_id, guild_id, exc_info=True)
        changed = [r for r in results if r.change]
        if changed or failures or by is not None:
            lines = [f"<@{r.user_id}>: Pro {r.change} ({r.decision.reason})" for r in changed]
            who = f" (asked by <@{by}>)" if by is not None else ""
            summary = f"Billing reconcile{who}: {len(results)} members checked, {len(changed)} changed"
            summary += f", {failures} failed (retried next run)" if failures else ""
            await self.mod_log(guild_id, "\n".join([summary + ".", *lines])[:1900])
        return results

    # ------------------------------------------------------------------ webhooks

    async def receive_event(self, event: dict[str, Any]) -> bool:
        """Store a verified event before anything acts on it; False for a replay (already stored)."""
        async with self.ctx.repos.db.transaction():
            new = await self.ctx.repos.billing.store_event(event["id"], event["type"], event, self.ctx.clock())
        if new:
            task = asyncio.create_task(self.process_event(event["id"]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return new

    async def idle(self) -> None:
        """Wait for events being processed (tests, and a clean shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def process_pending(self) -> int:
        """At start and on a schedule: finish events stored but not handled (a crash, Stripe down).
        Parked events are not among them."""
        done = 0
        for event in await self.ctx.repos.billing.pending_events():
            done += await self.process_event(event.id)
        return done

    async def process_event(self, event_id: str) -> bool:
        stored = await self.ctx.repos.billing.event(event_id)
        if stored is None or stored.processed_at is not None or stored.parked_at is not None:
            return False
        try:
            await self._handle(stored.type, stored.payload.get("data", {}).get("object", {}))
        except Exception as exc:
            await self._failed(stored, exc)
            return False
        async with self.ctx.repos.db.transaction():
            await self.ctx.repos.billing.mark_processed(event_id, self.ctx.clock())
        return True

    async def _failed(self, stored: StoredEvent, exc: Exception) -> None:
        """Count a failed attempt; at `event_max_attempts` park the event (a poison event — say a `data`
        that is a list — fails the same way every minute forever otherwise) and tell the mod-log, in the
        same transaction. Stripe not answering is not the event's fault: it never parks one."""
        error = f"{type(exc).__name__}: {exc}"
        now = self.ctx.clock()
        async with self.ctx.repos.db.transaction():
            await self.ctx.repos.billing.mark_failed(stored.id, error)
            current = await self.ctx.repos.billing.event(stored.id)  # the count as committed, not as first read
            attempts = current.attempts if current is not None else stored.attempts + 1
            poison = attempts >= self._stripe.event_max_attempts and not isinstance(exc, BillingUnavailable)
            if poison and await self.ctx.repos.billing.park(stored.id, now):
                channel_id = self._stripe.mod_log_channel
                text = (
                    f"Stripe event {stored.id} ({stored.type[:60]}) parked after {attempts} failed attempts; "
                    f"it is no longer retried. Last error: {error[:300]}"
                )
                if channel_id:  # one row per parked event: keyed by the event's id
                    await self.ctx.repos.outbox.enqueue_post("billing.event_parked", stored.id, channel_id, text, now)
        if poison:
            log.error("stripe event %s (%s) parked after %d attempts: %s", stored.id, stored.type, attempts, error)
        else:
            log.warning("stripe event %s (%s) failed; it will be retried", stored.id, stored.type, exc_info=True)

    async def _handle(self, kind: str, obj: dict[str, Any]) -> None:
        customer = obj.get("customer")
        customer_id = customer.get("id") if isinstance(customer, dict) else customer
        if kind == "checkout.session.completed" and customer_id:
            await self._link_from_checkout(customer_id, obj)
        if not customer_id:
            return
        link = await self.ctx.repos.billing.link_of_customer(customer_id)
        if link is None:
            log.info("stripe %s for unlinked customer %s; nothing to sync", kind, customer_id)
            return
        await self.sync_member(link.guild_id, link.user_id)

    async def _link_from_checkout(self, customer_id: str, session: dict[str, Any]) -> None:
        metadata = session.get("metadata") or {}
        user = metadata.get("discord_user_id") or session.get("client_reference_id")
        guild = metadata.get("discord_guild_id")
        if not (user and guild and str(user).isdigit() and str(guild).isdigit()):
            log.warning("checkout %s carries no Discord member; link it with /mod billing link", session.get("id"))
            return
        existing = await self.ctx.repos.billing.link_of_customer(customer_id)
        if existing is not None:
            return
        mine = await self.ctx.repos.billing.link_of_member(int(guild), int(user))
        if mine is not None and mine.customer_id != customer_id:
            log.warning(
                "member %s already linked to %s; checkout customer %s kept apart", user, mine.customer_id, customer_id
            )
            return
        async with self.ctx.repos.db.transaction():
            await self.ctx.repos.billing.link(
                BillingLink(int(guild), int(user), customer_id, int(user), self.ctx.clock())
            )
            await self.mod_log(int(guild), f"<@{user}> subscribed through Checkout (customer {customer_id}).")

    @staticmethod
    async def _unavailable_is_user_error(awaitable):
        try:
            return await awaitable
        except BillingUnavailable as exc:
            log.warning("Stripe unavailable: %s", exc)
            raise UserError("Stripe is not answering right now; please try again in a minute.") from exc
