"""A local Stripe on 127.0.0.1 that the *real* ``stripe`` library (async, over httpx) talks to.

Why: billing behaviour lives in what the stripe library sends (form-encoded nested params, auth,
retries) and in how it parses Stripe's answers (``StripeObject``, typed errors, webhook signatures).
Mocking the library would test our mocks; this stack instead speaks the wire protocol, so code under
test builds its own ``stripe.StripeClient`` pointed at :attr:`StripeStack.base_url` and everything it
does is real HTTP on loopback.

Two servers, one ``api`` base:

* **localstripe** (test-only dependency, GPL, never imported by runtime code) runs *in process*: its
  module-level aiohttp app is cloned into a fresh ``web.Application`` per stack (an aiohttp app is
  bound to the first event loop it runs on, and pytest-asyncio gives every test its own loop) and
  served with ``AppRunner`` + ``TCPSite("127.0.0.1", 0)``. ``localstripe.server.start()`` is never
  used: it binds ``::`` on a fixed port and loads ``/tmp/localstripe.pickle``.
* a **stand-in** at :attr:`StripeStack.base_url` answers what localstripe lacks (Checkout Sessions,
  billing-portal sessions) and proxies every other request byte-for-byte to localstripe.

localstripe 1.15.10 facts this relies on (read from its source):

* ``resources.Store`` pickles itself to ``/tmp/localstripe.pickle`` on *every* write; the stack
  patches ``Store.dump_to_disk`` / ``try_load_from_disk`` to no-ops and clears the one global store
  on start/stop, so nothing touches ``/tmp`` and tests never see each other's objects. The store is
  process-global, hence one running stack at a time (enforced).
* Webhooks: ``POST /_config/webhooks/<name>`` (form ``url``, ``secret``, optional ``events[]``).
  Each event is delivered by a fire-and-forget ``asyncio.ensure_future`` after ``asyncio.sleep(1)``,
  signed ``t=<event.created>,v1=HMAC-SHA256(secret, "t.body")`` like Stripe. The stack tracks those
  tasks (see :meth:`StripeStack.wait_for_webhooks`), shortens the 1 s delay to ``webhook_delay`` and
  cancels leftovers on stop so no task outlives the test's loop.
* Events it really emits: ``customer.created/updated/deleted``, ``customer.source.created``,
  ``product.created``, ``plan.created``, ``customer.subscription.created/deleted``,
  ``invoice.created``, ``invoice.payment_succeeded``, ``invoice.payment_failed``,
  ``payment_intent.succeeded``, ``payment_intent.payment_failed`` (plus balance/payout ones).
  Never: ``customer.subscription.updated``, ``invoice.paid``, ``checkout.session.completed``,
  anything ``trialing``. Sign those yourself with :func:`make_event` + :func:`signed_event`.
* No billing clock: a subscription is invoiced once at creation and again only when its plan's
  *interval* changes. Without a payment method, ``subscriptions.create`` fails (404 "This customer
  has no payment method") and leaves an ``incomplete`` subscription behind; ``trial_end`` /
  ``trial_period_days`` skip the invoice and leave the subscription ``incomplete`` (not ``trialing``).
* Plans/Products only (no Prices); a plan may be created with a caller-chosen id, so a
  ``price_...``-looking id works. Subscriptions take exactly one item.
* Objects have localstripe's (2017-era) shape whatever ``Stripe-Version`` the library sends:
  ``current_period_start/end`` live on the subscription (not on its items), invoices carry
  ``subscription`` *and* ``parent.subscription_details``, events say ``api_version: 2017-08-15``.
  Unknown list/update params crash it (500, surfaced as ``stripe.APIError``); ``/search`` and
  ``/v1/prices`` do not exist; cancelling twice succeeds (and re-emits ``...deleted``).
* A 404 body is ``{"error": {"type": "invalid_request_error", "message": "Not Found"}}`` without a
  ``code``; the stand-in adds ``"code": "resource_missing"`` as Stripe does, and turns localstripe's
  plain-text errors (unknown route, 405, 500) into Stripe-shaped JSON so the library raises a typed
  error instead of "Invalid response body".
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
import secrets
import time
import types
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, Self
from urllib.parse import urlsplit

import aiohttp
import pytest
import stripe
import yarl
from aiohttp import web
from localstripe import resources as ls_resources
from localstripe import webhooks as ls_webhooks

with warnings.catch_warnings():
    # localstripe registers plain-function handlers at import; aiohttp warns once per route.
    warnings.filterwarnings("ignore", "Bare functions are deprecated", DeprecationWarning)
    from localstripe import server as ls_server

DEFAULT_API_KEY = "sk_test_12345"
WAIT_SECONDS = 5.0
"""Upper bound for the waiting helpers, so a missing webhook fails the test instead of hanging it."""

# Card numbers localstripe gives a behaviour to (PaymentMethod._attaching_is_declined /
# _charging_is_declined / _requires_authentication).
VISA = "4242424242424242"
"""Attaches and charges fine."""
CARD_CHARGE_DECLINED = "4000000000000341"
"""Attaches fine, every charge is declined (``card_declined``): an initial subscription payment
leaves the subscription ``incomplete``; a later invoice makes it ``past_due`` (no webhook)."""
CARD_REQUIRES_AUTH = "4000002500003155"
"""Every payment needs 3-D Secure: the PaymentIntent stops at ``requires_action``."""
CARD_ATTACH_DECLINED = "4000000000000002"
"""Attaching it to a customer is declined (402 ``card_declined``)."""

_HOP_BY_HOP = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
        "accept-encoding",
    }
)

_active: StripeStack | None = None


def _require_loopback(url: str) -> None:
    """Refuse anything but 127.0.0.1: nothing in this harness may leave the machine."""
    host = urlsplit(url).hostname
    if host != "127.0.0.1":
        raise ValueError(f"only http://127.0.0.1 URLs are allowed in tests, got {url!r}")


def _new_id(prefix: str, n: int = 24) -> str:
    return prefix + secrets.token_hex(n)[:n]


def _stripe_error(
    status: int, message: str, *, param: str | None = None, code: str | None = None, type_: str | None = None
) -> web.Response:
    """An error body shaped like Stripe's, so the library raises the matching typed exception."""
    error: dict[str, Any] = {"type": type_ or "invalid_request_error", "message": message}
    if param is not None:
        error["param"] = param
    if code is not None:
        error["code"] = code
    return web.json_response({"error": error}, status=status, headers={"Request-Id": _new_id("req_", 14)})


def _has_secret_key(request: web.Request) -> bool:
    """Stripe's own check (Bearer or Basic ``sk_...``), reused from localstripe."""
    return ls_server.get_api_key(request) is not None


def _clone_localstripe_app() -> web.Application:
    """A fresh aiohttp app with localstripe's middlewares and routes.

    ``localstripe.server.app`` binds itself to the first loop that runs it, so running it directly
    would break the second test; its routes and middlewares are plain callables and copy over as is.
    """
    app = web.Application(middlewares=list(ls_server.app.middlewares))
    for route in ls_server.app.router.routes():
        app.router.add_route(route.method, route.resource.canonical, _as_async(route.handler))
    return app


def _as_async(handler: Callable[[web.Request], Any]) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap localstripe's plain-function handlers (aiohttp deprecates those and warns per route)."""
    if inspect.iscoroutinefunction(handler):
        return handler

    async def wrapper(request: web.Request) -> web.StreamResponse:
        return handler(request)

    return wrapper


async def _form(request: web.Request) -> dict[str, Any]:
    """Decode the library's form body (``line_items[0][price]=...``) into nested dicts/lists.

    Uses localstripe's decoder so the stand-in and localstripe read params identically; values stay
    strings, exactly as Stripe receives them.
    """
    data = await request.post()
    return ls_server.unflatten_data(data) if data else {}


def make_event(
    type_: str,
    obj: Mapping[str, Any],
    *,
    previous_attributes: Mapping[str, Any] | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    """An Event envelope as Stripe sends it (snapshot payload), for events localstripe never emits."""
    data: dict[str, Any] = {"object": copy.deepcopy(dict(obj))}
    if previous_attributes is not None:
        data["previous_attributes"] = copy.deepcopy(dict(previous_attributes))
    return {
        "id": _new_id("evt_"),
        "object": "event",
        "api_version": stripe.api_version,
        "created": created if created is not None else int(time.time()),
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
    }


def signed_event(payload: Mapping[str, Any], secret: str, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """Serialise ``payload`` and sign it exactly as Stripe does (``Stripe-Signature: t=..,v1=..``).

    Signing goes through ``stripe.WebhookSignature.generate_signature_header`` so the header is, by
    construction, what ``stripe.Webhook.construct_event`` verifies. Returns ``(body, headers)``;
    post the body bytes unchanged (any re-serialisation breaks the signature, as in production).
    """
    text = json.dumps(payload, indent=2)
    header = stripe.WebhookSignature.generate_signature_header(text, secret, timestamp=timestamp)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": header,
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    }
    return text.encode("utf-8"), headers


async def post_signed_event(
    url: str, payload: Mapping[str, Any], secret: str, timestamp: int | None = None
) -> tuple[int, str]:
    """Deliver a :func:`signed_event` to a loopback webhook endpoint; returns ``(status, body)``."""
    _require_loopback(url)
    body, headers = signed_event(payload, secret, timestamp)
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as resp:
        return resp.status, await resp.text()


class WebhookRecorder:
    """A tiny webhook endpoint on 127.0.0.1 that records every delivery (raw body + headers).

    Raw bytes are kept because signature verification must run on the body exactly as sent.
    """

    def __init__(self, path: str = "/stripe/webhook") -> None:
        self.path = path
        self.deliveries: list[tuple[bytes, dict[str, str]]] = []
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(self.path, self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}{self.path}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        async with self._arrived:
            self.deliveries.append((body, dict(request.headers)))
            self._arrived.notify_all()
        return web.Response(text="ok")

    def types(self) -> list[str]:
        """Event types received so far, in arrival order."""
        return [json.loads(body)["type"] for body, _ in self.deliveries]

    async def wait_for(self, event_type: str) -> tuple[bytes, dict[str, str]]:
        """The first delivery of ``event_type``, waiting up to :data:`WAIT_SECONDS` for it.

        Wrap the call in a tighter ``asyncio.timeout`` if a test needs one.
        """

        def find() -> tuple[bytes, dict[str, str]] | None:
            for body, headers in self.deliveries:
                if json.loads(body)["type"] == event_type:
                    return body, headers
            return None

        async with asyncio.timeout(WAIT_SECONDS), self._arrived:
            await self._arrived.wait_for(lambda: find() is not None)
        found = find()
        assert found is not None
        return found


class StripeStack:
    """localstripe + the Checkout/portal stand-in, both on 127.0.0.1, plus helpers to drive them.

    Point code under test at :attr:`base_url` (``base_addresses={"api": base_url}``); use
    :meth:`client` for a ready ``stripe.StripeClient``. Only one stack may run at a time because
    localstripe's store and webhook registry are module globals.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch | None = None, *, webhook_delay: float = 0.05) -> None:
        self.webhook_delay = webhook_delay
        self.base_url = ""
        self.localstripe_url = ""
        self.checkout_sessions: list[dict[str, Any]] = []
        """Decoded params of every ``POST /v1/checkout/sessions``, valid or not, in order."""
        self.portal_sessions: list[dict[str, Any]] = []
        """Decoded params of every ``POST /v1/billing_portal/sessions``, in order."""
        self.proxied: list[tuple[str, str]] = []
        """``(method, path)`` of every request forwarded to localstripe."""
        self._checkout_objects: dict[str, dict[str, Any]] = {}
        self._checkout_params: dict[str, dict[str, Any]] = {}
        self._own_monkeypatch = monkeypatch is None
        self._mp = monkeypatch if monkeypatch is not None else pytest.MonkeyPatch()
        self._ls_runner: web.AppRunner | None = None
        self._front_runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._http_clients: list[stripe.HTTPXClient] = []
        self._webhook_tasks: set[asyncio.Future[None]] = set()
        self._client: stripe.StripeClient | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Patch localstripe to in-memory, then serve it and the stand-in on ephemeral loopback ports."""
        global _active
        if _active is not None:
            raise RuntimeError("a StripeStack is already running (localstripe's store is process-global)")
        _active = self
        try:
            self._patch_localstripe()
            ls_resources.store.clear()

            self._ls_runner = web.AppRunner(_clone_localstripe_app(), access_log=None)
            await self._ls_runner.setup()
            await web.TCPSite(self._ls_runner, "127.0.0.1", 0).start()
            self.localstripe_url = f"http://127.0.0.1:{self._ls_runner.addresses[0][1]}"

            self._session = aiohttp.ClientSession(auto_decompress=True)
            self._front_runner = web.AppRunner(self._front_app(), access_log=None)
            await self._front_runner.setup()
            await web.TCPSite(self._front_runner, "127.0.0.1", 0).start()
            self.base_url = f"http://127.0.0.1:{self._front_runner.addresses[0][1]}"
            self._client = self.client()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Cancel in-flight webhooks, close every client and server, empty the store, undo patches."""
        global _active
        for task in list(self._webhook_tasks):
            task.cancel()
        if self._webhook_tasks:
            await asyncio.gather(*self._webhook_tasks, return_exceptions=True)
        for http_client in self._http_clients:
            await http_client.close_async()
        self._http_clients.clear()
        self._client = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        for runner in (self._front_runner, self._ls_runner):
            if runner is not None:
                await runner.cleanup()
        self._front_runner = self._ls_runner = None
        ls_resources.store.clear()
        if self._own_monkeypatch:
            self._mp.undo()
        if _active is self:
            _active = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def reset(self) -> None:
        """Forget everything (localstripe's ``DELETE /_config/data``, recordings, webhook endpoints)."""
        assert self._session is not None
        async with self._session.delete(f"{self.localstripe_url}/_config/data") as resp:
            resp.raise_for_status()
        ls_webhooks._webhooks.clear()
        self.checkout_sessions.clear()
        self.portal_sessions.clear()
        self.proxied.clear()
        self._checkout_objects.clear()
        self._checkout_params.clear()

    def _patch_localstripe(self) -> None:
        async def short_sleep(seconds: float) -> None:
            await asyncio.sleep(min(seconds, self.webhook_delay))

        def no_disk(_store: ls_resources.Store) -> None:
            return None

        self._mp.setattr(ls_resources.Store, "dump_to_disk", no_disk)
        self._mp.setattr(ls_resources.Store, "try_load_from_disk", no_disk)
        self._mp.setattr(ls_resources, "schedule_webhook", self._schedule_webhook)
        self._mp.setattr(ls_webhooks, "_webhooks", {})
        # _send_webhook only uses ``asyncio.sleep`` from its module namespace.
        self._mp.setattr(
            ls_webhooks, "asyncio", types.SimpleNamespace(sleep=short_sleep, ensure_future=asyncio.ensure_future)
        )

    def _schedule_webhook(self, event: ls_resources.Event) -> None:
        """localstripe's ``schedule_webhook`` but with the delivery task tracked (and awaitable)."""
        task = asyncio.ensure_future(ls_webhooks._send_webhook(event))
        self._webhook_tasks.add(task)
        task.add_done_callback(self._webhook_tasks.discard)

    async def wait_for_webhooks(self) -> None:
        """Wait (up to :data:`WAIT_SECONDS`) until every webhook localstripe scheduled has been delivered or failed.

        Deliveries scheduled while waiting (none today, but cheap to honour) are awaited too.
        """
        async with asyncio.timeout(WAIT_SECONDS):
            while self._webhook_tasks:
                await asyncio.gather(*self._webhook_tasks, return_exceptions=True)

    # ------------------------------------------------------------------ clients

    def client(self, api_key: str = DEFAULT_API_KEY) -> stripe.StripeClient:
        """A real ``StripeClient`` (async over httpx) whose every base address is the stand-in.

        Retries are off so an error surfaces at once instead of after back-off sleeps. The httpx
        client is closed by :meth:`stop`.
        """
        http_client = stripe.HTTPXClient()
        self._http_clients.append(http_client)
        return stripe.StripeClient(
            api_key,
            base_addresses={
                "api": self.base_url,
                "connect": self.base_url,
                "files": self.base_url,
                "meter_events": self.base_url,
            },
            http_client=http_client,
            max_network_retries=0,
        )

    @property
    def _c(self) -> stripe.StripeClient:
        if self._client is None:
            raise RuntimeError("StripeStack is not started")
        return self._client

    async def register_webhook(self, url: str, secret: str, events: Iterable[str] | None = None) -> None:
        """Have localstripe sign and POST its events to ``url`` (loopback only)."""
        _require_loopback(url)
        assert self._session is not None
        data: list[tuple[str, str]] = [("url", url), ("secret", secret)]
        data += [("events[]", e) for e in events or ()]
        name = _new_id("we_", 10)
        async with self._session.post(f"{self.localstripe_url}/_config/webhooks/{name}", data=data) as resp:
            resp.raise_for_status()

    # ------------------------------------------------------------------ billing helpers

    async def make_customer(
        self,
        email: str = "member@example.test",
        metadata: Mapping[str, str] | None = None,
        *,
        card: str | None = VISA,
        name: str | None = None,
    ) -> str:
        """Create a customer; with ``card``, also attach it as the default payment method.

        localstripe cannot charge a customer without one (subscriptions 404), so a Visa is the default.
        """
        params: dict[str, Any] = {"email": email}
        if metadata:
            params["metadata"] = dict(metadata)
        if name is not None:
            params["name"] = name
        customer = await self._c.v1.customers.create_async(params)  # type: ignore[arg-type]
        if card is not None:
            await self.add_card(customer.id, card)
        return customer.id

    async def add_card(self, customer_id: str, number: str = VISA, *, default: bool = True) -> str:
        """Create a card PaymentMethod, attach it, and (by default) make it the invoice default.

        Raises ``stripe.CardError`` for :data:`CARD_ATTACH_DECLINED`, as Stripe does.
        """
        pm = await self._c.v1.payment_methods.create_async(
            {"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
        )
        await self._c.v1.payment_methods.attach_async(pm.id, {"customer": customer_id})
        if default:
            await self._c.v1.customers.update_async(
                customer_id, {"invoice_settings": {"default_payment_method": pm.id}}
            )
        return pm.id

    async def make_pro_plan(
        self,
        amount: int = 2900,
        currency: str = "usd",
        interval: str = "month",
        *,
        plan_id: str | None = None,
        product_name: str = "Stratum Pro",
        product_id: str | None = None,
    ) -> str:
        """A Product + monthly Plan (localstripe has no Prices); returns the plan id.

        Pass ``plan_id`` (e.g. ``"price_pro_monthly"``) to match a price id configured in the app:
        localstripe accepts caller-chosen plan ids and subscription items reference them as ``plan``.
        """
        if product_id is None:
            product = await self._c.v1.products.create_async({"name": product_name})
            product_id = product.id
        params: dict[str, Any] = {"product": product_id, "amount": amount, "currency": currency, "interval": interval}
        if plan_id is not None:
            params["id"] = plan_id
        plan = await self._c.v1.plans.create_async(params)  # type: ignore[arg-type]
        return plan.id

    async def subscribe(
        self, customer_id: str, plan_id: str, *, quantity: int | None = None, **kw: Any
    ) -> dict[str, Any]:
        """``subscriptions.create`` with one plan item; extra Stripe params go through ``kw``.

        With the default Visa the result is ``active`` (invoice paid at once); with
        :data:`CARD_CHARGE_DECLINED` it is ``incomplete`` - even with
        ``payment_behavior="error_if_incomplete"``, which localstripe ignores on this path (real
        Stripe would answer 402).
        """
        item: dict[str, Any] = {"plan": plan_id}
        if quantity is not None:
            item["quantity"] = quantity
        sub = await self._c.v1.subscriptions.create_async({"customer": customer_id, "items": [item], **kw})  # type: ignore[typeddict-item]
        return sub.to_dict()

    async def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        """The subscription as a plain dict (e.g. to sign a ``customer.subscription.updated``)."""
        return (await self._c.v1.subscriptions.retrieve_async(subscription_id)).to_dict()

    async def cancel(self, subscription_id: str) -> dict[str, Any]:
        """Cancel now (``DELETE /v1/subscriptions/<id>``); localstripe emits ``customer.subscription.deleted``."""
        return (await self._c.v1.subscriptions.cancel_async(subscription_id)).to_dict()

    async def make_past_due(self, subscription_id: str) -> dict[str, Any]:
        """Drive an ``active`` subscription to ``past_due`` through a real failed invoice payment.

        localstripe has no clock, so a renewal is forced by what it *does* invoice: a plan change to
        a different interval. The customer's default card is switched to :data:`CARD_REQUIRES_AUTH`,
        the subscription moves to a yearly plan of the same product (12x the amount, so the invoice
        stays positive after the unused-time credit), and the resulting PaymentIntent's 3-D Secure
        step is failed via localstripe's ``POST /v1/payment_intents/<id>/_authenticate``. That path
        emits a real signed ``invoice.payment_failed`` and sets ``past_due``. (A plain declined card
        also reaches ``past_due`` but localstripe then sends no webhook at all.)

        Side effects to know: the subscription ends on the new yearly plan, and the customer's
        default card stays the 3-D Secure one. Returns the subscription as a dict.
        """
        sub = await self._c.v1.subscriptions.retrieve_async(subscription_id)
        if sub.status != "active":
            raise RuntimeError(f"make_past_due needs an active subscription, {subscription_id} is {sub.status}")
        item = sub["items"]["data"][0]
        plan = item["plan"]
        await self.add_card(sub.customer, CARD_REQUIRES_AUTH)  # type: ignore[arg-type]
        yearly = await self.make_pro_plan(
            amount=int(plan["amount"]) * 12, currency=plan["currency"], interval="year", product_id=plan["product"]
        )
        await self._c.v1.subscriptions.update_async(subscription_id, {"items": [{"id": item["id"], "plan": yearly}]})  # type: ignore[typeddict-item]
        sub = await self._c.v1.subscriptions.retrieve_async(
            subscription_id, {"expand": ["latest_invoice.payment_intent"]}
        )
        intent = sub["latest_invoice"]["payment_intent"]
        await self._c.raw_request_async(
            "post",
            f"/v1/payment_intents/{intent['id']}/_authenticate",
            client_secret=intent["client_secret"],
            success=False,
        )
        return await self.retrieve_subscription(subscription_id)

    def set_subscription_status(self, subscription_id: str, status: str) -> None:
        """Backdoor for states localstripe cannot reach (``trialing``, ``unpaid``, ...).

        Writes the in-process store directly: no invoice, no webhook. Pair it with a signed
        ``customer.subscription.updated`` (:func:`make_event`) when the app should learn of it.
        """
        ls_resources.Subscription._api_retrieve(subscription_id).status = status

    # ------------------------------------------------------------------ Checkout

    async def complete_checkout(self, session_id: str, *, card: str = VISA) -> dict[str, Any]:
        """Play the customer paying on the hosted page; returns the completed session object.

        Creates the customer if the session had none (from ``customer_email``), attaches ``card``,
        and for ``mode=subscription`` subscribes to ``line_items[0][price]`` (a localstripe plan id)
        with ``subscription_data[metadata]`` - which makes localstripe emit the real
        ``customer.subscription.created`` / ``invoice.*`` webhooks. ``checkout.session.completed`` is
        not sent: sign ``make_event("checkout.session.completed", session)`` yourself.
        """
        session = self._checkout_objects[session_id]
        params = self._checkout_params[session_id]
        if session["status"] != "open":
            raise RuntimeError(f"checkout session {session_id} is {session['status']}")
        customer = session.get("customer")
        if customer is None:
            customer = await self.make_customer(email=session.get("customer_email") or "member@example.test", card=card)
        else:
            await self.add_card(customer, card)
        paid = True
        if session["mode"] == "subscription":
            line = params["line_items"][0]
            sub_meta = params.get("subscription_data", {}).get("metadata")
            kw: dict[str, Any] = {"metadata": sub_meta} if sub_meta else {}
            sub = await self.subscribe(customer, line["price"], quantity=int(line.get("quantity", 1)), **kw)
            session["subscription"] = sub["id"]
            paid = sub["status"] == "active"
        email = (await self._c.v1.customers.retrieve_async(customer)).email
        session.update(
            status="complete",
            payment_status="paid" if paid else "unpaid",
            customer=customer,
            customer_details={"email": email},
        )
        return copy.deepcopy(session)

    # ------------------------------------------------------------------ stand-in server

    def _front_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/checkout/sessions", self._create_checkout)
        app.router.add_get("/v1/checkout/sessions/{id}", self._retrieve_checkout)
        app.router.add_post("/v1/checkout/sessions/{id}/expire", self._expire_checkout)
        app.router.add_post("/v1/billing_portal/sessions", self._create_portal)
        app.router.add_route("*", "/{tail:.*}", self._proxy)
        return app

    async def _create_checkout(self, request: web.Request) -> web.Response:
        if not _has_secret_key(request):
            return _stripe_error(401, "Invalid API Key provided")
        params = await _form(request)
        self.checkout_sessions.append(params)
        mode = params.get("mode")
        if mode not in ("payment", "setup", "subscription"):
            return _stripe_error(400, "Missing required param: mode.", param="mode", code="parameter_missing")
        if params.get("ui_mode", "hosted") == "hosted" and not params.get("success_url"):
            return _stripe_error(400, "Missing required param: success_url.", param="success_url")
        customer = params.get("customer")
        if customer is not None and params.get("customer_email") is not None:
            return _stripe_error(400, "You may only specify one of these parameters: customer, customer_email.")
        if customer is not None and f"customer:{customer}" not in ls_resources.store:
            return _stripe_error(400, f"No such customer: '{customer}'", param="customer", code="resource_missing")
        line_items = params.get("line_items") or []
        if mode in ("payment", "subscription") and not line_items:
            return _stripe_error(400, "Missing required param: line_items.", param="line_items")
        amount_total = 0
        currency = None
        for i, line in enumerate(line_items):
            plan = ls_resources.store.get(f"plan:{line.get('price')}")
            if plan is None:
                return _stripe_error(
                    400,
                    f"No such price: '{line.get('price')}'",
                    param=f"line_items[{i}][price]",
                    code="resource_missing",
                )
            amount_total += plan.amount * int(line.get("quantity", 1))
            currency = plan.currency
        session_id = _new_id("cs_test_", 58)
        now = int(time.time())
        session: dict[str, Any] = {
            "id": session_id,
            "object": "checkout.session",
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
            "mode": mode,
            "status": "open",
            "payment_status": "unpaid",
            "customer": customer,
            "customer_email": params.get("customer_email"),
            "customer_details": None,
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata", {}),
            "subscription": None,
            "payment_intent": None,
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "amount_total": amount_total if line_items else None,
            "amount_subtotal": amount_total if line_items else None,
            "currency": currency,
            "created": now,
            "expires_at": now + 24 * 3600,
            "livemode": False,
        }
        self._checkout_objects[session_id] = session
        self._checkout_params[session_id] = params
        return web.json_response(session, headers={"Request-Id": _new_id("req_", 14)})

    async def _retrieve_checkout(self, request: web.Request) -> web.Response:
        if not _has_secret_key(request):
            return _stripe_error(401, "Invalid API Key provided")
        session = self._checkout_objects.get(request.match_info["id"])
        if session is None:
            return _stripe_error(
                404, f"No such checkout.session: '{request.match_info['id']}'", param="session", code="resource_missing"
            )
        return web.json_response(session)

    async def _expire_checkout(self, request: web.Request) -> web.Response:
        if not _has_secret_key(request):
            return _stripe_error(401, "Invalid API Key provided")
        session = self._checkout_objects.get(request.match_info["id"])
        if session is None:
            return _stripe_error(
                404, f"No such checkout.session: '{request.match_info['id']}'", code="resource_missing"
            )
        if session["status"] != "open":
            return _stripe_error(
                400, f"Only Checkout Sessions with a status of 'open' can be expired. ({session['status']})"
            )
        session["status"] = "expired"
        return web.json_response(session)

    async def _create_portal(self, request: web.Request) -> web.Response:
        if not _has_secret_key(request):
            return _stripe_error(401, "Invalid API Key provided")
        params = await _form(request)
        self.portal_sessions.append(params)
        customer = params.get("customer")
        if not customer:
            return _stripe_error(400, "Missing required param: customer.", param="customer", code="parameter_missing")
        if f"customer:{customer}" not in ls_resources.store:
            return _stripe_error(400, f"No such customer: '{customer}'", param="customer", code="resource_missing")
        token = secrets.token_hex(16)
        session = {
            "id": _new_id("bps_"),
            "object": "billing_portal.session",
            "url": f"https://billing.stripe.test/p/session/test_{token}",
            "customer": customer,
            "return_url": params.get("return_url"),
            "configuration": "bpc_" + secrets.token_hex(12),
            "created": int(time.time()),
            "flow": None,
            "locale": params.get("locale"),
            "on_behalf_of": None,
            "livemode": False,
        }
        return web.json_response(session, headers={"Request-Id": _new_id("req_", 14)})

    async def _proxy(self, request: web.Request) -> web.StreamResponse:
        """Forward method, raw path + query, body and headers to localstripe; Stripe-shape its errors."""
        assert self._session is not None
        self.proxied.append((request.method, request.path))
        if request.path.endswith("/search"):
            # localstripe would route ``/v1/customers/search`` to ``/v1/customers/{id}`` -> "No such customer".
            return _stripe_error(
                404,
                f"Unrecognized request URL ({request.method}: {request.path}). "
                "(localstripe does not implement search.)",
            )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        url = yarl.URL(self.localstripe_url + request.raw_path, encoded=True)
        async with self._session.request(
            request.method, url, data=await request.read(), headers=headers, allow_redirects=False
        ) as upstream:
            body = await upstream.read()
            status = upstream.status
            content_type = upstream.headers.get("Content-Type", "")
        if status >= 400:
            return self._normalise_error(request, status, body, content_type)
        return web.Response(
            status=status,
            body=body,
            headers={"Content-Type": content_type or "application/json", "Request-Id": _new_id("req_", 14)},
        )

    @staticmethod
    def _normalise_error(request: web.Request, status: int, body: bytes, content_type: str) -> web.Response:
        """Make localstripe's errors look like Stripe's (JSON, ``code`` on 404s)."""
        if content_type.startswith("application/json"):
            payload = json.loads(body)
            error = payload.setdefault("error", {})
            if status == 404:
                error.setdefault("code", "resource_missing")
            return web.json_response(payload, status=status, headers={"Request-Id": _new_id("req_", 14)})
        if status in (404, 405):
            return _stripe_error(
                404,
                f"Unrecognized request URL ({request.method}: {request.path}). "
                "(localstripe does not implement this endpoint.)",
            )
        # A 500 is nearly always localstripe's TypeError on a parameter it does not know.
        detail = " ".join(body.decode("utf-8", "replace").split()) or "no body"
        return _stripe_error(
            status,
            f"localstripe failed on {request.method} {request.path} (usually an unsupported parameter): {detail}",
            type_="api_error",
        )


@pytest.fixture(name="stripe_stack")
async def stripe_stack_fixture(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[StripeStack]:
    """A started :class:`StripeStack` (in-memory, empty store) torn down after the test.

    Import ``stripe_stack_fixture`` into a test module to make ``stripe_stack`` available.
    """
    stack = StripeStack(monkeypatch)
    await stack.start()
    try:
        yield stack
    finally:
        await stack.stop()
