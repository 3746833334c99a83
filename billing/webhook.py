"""The Stripe webhook endpoint: verify the signature, store the event, acknowledge, then act.

A missing or bad signature, or a timestamp outside the tolerance — in either direction: the stripe
library checks only that it is not too old, this endpoint also that it is not too far ahead — gets 400
and changes nothing. So does a signed body that is not a Stripe event object (an array, a string, JSON
nested past `domain.jsonbounds.MAX_DEPTH`): the depth is checked before anything parses the body. A
replayed event id is acknowledged and changes nothing either. The body size is capped by the web server
(`app.asgi.BodyLimit`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import stripe
from starlette.requests import Request
from starlette.responses import JSONResponse

from billing.service import BillingService
from domain.jsonbounds import JsonRefused, loads_bounded

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/stripe/webhook"


def _error(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


def signed_at(header: str) -> int:
    """The `t=` of a Stripe-Signature header, read as the stripe library reads it (its first `t`)."""
    return int(next(part.split("=", 1)[1] for part in header.split(",") if part.split("=", 1)[0] == "t"))


def stripe_webhook(
    service: BillingService, secret: str, tolerance: int, *, now: Callable[[], float] = time.time
) -> Callable[[Request], Awaitable[JSONResponse]]:
    """The handler. `now` is the clock the future-timestamp check reads: by default the wall clock the
    stripe library's own past check reads, so both edges of the tolerance are measured from one clock."""

    async def handle(request: Request) -> JSONResponse:
        body = await request.body()
        signature = request.headers.get("Stripe-Signature")
        if not signature:
            return _error("missing Stripe-Signature header")
        try:
            # Verify only: `construct_event` would also parse the body, before we bounded its depth.
            stripe.WebhookSignature.verify_header(body, signature, secret, tolerance)
        except stripe.SignatureVerificationError:
            log.warning("stripe webhook refused: bad signature or stale timestamp")
            return _error("invalid signature")
        except ValueError:  # not UTF-8
            return _error("invalid payload")
        if signed_at(signature) > now() + tolerance:
            log.warning("stripe webhook refused: timestamp more than %s s in the future", tolerance)
            return _error("invalid signature")
        try:
            event = loads_bounded(body)
        except JsonRefused as exc:
            return _error(f"invalid payload: {exc.reason}")
        if (
            not isinstance(event, dict)
            or not isinstance(event.get("id"), str)
            or not event["id"]
            or not isinstance(event.get("type"), str)
        ):
            return _error("not a Stripe event")
        new = await service.receive_event(event)
        return JSONResponse({"received": True, "duplicate": not new})

    return handle
