"""The Stripe webhook endpoint: verify the signature, store the event, acknowledge, then act.

A missing or bad signature, or a timestamp outside the tolerance, gets 400 and changes nothing. A
replayed event id is acknowledged and changes nothing either."""

from __future__ import annotations

import json
import logging

import stripe
from aiohttp import web

from billing.service import BillingService

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/stripe/webhook"


def _error(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


def stripe_webhook(service: BillingService, secret: str, tolerance: int):
    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        signature = request.headers.get("Stripe-Signature")
        if not signature:
            return _error("missing Stripe-Signature header")
        try:
            stripe.Webhook.construct_event(body, signature, secret, tolerance=tolerance)
        except stripe.SignatureVerificationError:
            log.warning("stripe webhook refused: bad signature or stale timestamp")
            return _error("invalid signature")
        except ValueError:
            return _error("invalid payload")
        event = json.loads(body)
        if not isinstance(event, dict) or not isinstance(event.get("id"), str) or "type" not in event:
            return _error("not a Stripe event")
        new = await service.receive_event(event)
        return web.json_response({"received": True, "duplicate": not new})

    return handle
