"""This key's webhook endpoints: thin calls to the webhook service (`WebhookPort`, wired by the app)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from pydantic import ValidationError

from api.http import Call, InvalidParameter, Operation, PathParam, read_json
from api.schemas import (
    WebhookCreate,
    WebhookEndpoint,
    WebhookEndpointCreated,
    WebhookEndpointList,
    WebhookSecret,
    WebhookTest,
)

if TYPE_CHECKING:
    from api.server import WebhookPort

ENDPOINT_ID = PathParam("endpoint_id", "A webhook endpoint id.")
EXAMPLE = '{"url": "https://…", "events": ["signal.created"]}'


def _port(call: Call) -> WebhookPort:
    port = call.ctx.webhooks
    if port is None:
        raise web.HTTPServiceUnavailable(reason="Webhooks are not available on this server.")
    return port


async def _body(call: Call) -> WebhookCreate:
    data = await read_json(call.request, EXAMPLE)
    if not isinstance(data, dict):
        raise InvalidParameter("body", f"The body must be a JSON object: {EXAMPLE}.")
    try:
        body = WebhookCreate.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = str(first["loc"][0]) if first["loc"] else "body"
        if first["type"] == "extra_forbidden":
            raise InvalidParameter(where[:100], f"Unknown field “{where[:100]}”; send url and events.") from None
        if where == "url":
            raise InvalidParameter("url", "“url” must be the endpoint's https:// URL.") from None
        if where == "events":
            raise InvalidParameter("events", "“events” must be a list of event type names.") from None
        raise InvalidParameter("body", f"Send a JSON object: {EXAMPLE}.") from None
    if not body.url.strip():
        raise InvalidParameter("url", "“url” must be the endpoint's https:// URL.")
    return body


async def list_webhooks(call: Call) -> WebhookEndpointList:
    endpoints = await _port(call).list(call.key)
    return WebhookEndpointList(data=[WebhookEndpoint.build(e) for e in endpoints])


async def create_webhook(call: Call) -> WebhookEndpointCreated:
    port = _port(call)
    body = await _body(call)
    endpoint, secret = await port.create(call.key, body.url.strip(), body.events, call.now)
    return WebhookEndpointCreated(**WebhookEndpoint.fields_of(endpoint), secret=secret)


async def delete_webhook(call: Call) -> web.Response:
    await _port(call).delete(call.key, call.path("endpoint_id"))
    return web.Response(status=204)


async def test_webhook(call: Call) -> WebhookTest:
    endpoint_id = call.path("endpoint_id")
    delivery = await _port(call).send_test(call.key, endpoint_id, call.now)
    delivery_id = getattr(delivery, "id", None)
    return WebhookTest(endpoint_id=endpoint_id, delivery_id=None if delivery_id is None else str(delivery_id))


async def rotate_webhook_secret(call: Call) -> WebhookSecret:
    endpoint_id = call.path("endpoint_id")
    secret = await _port(call).rotate_secret(call.key, endpoint_id, call.now)
    return WebhookSecret(endpoint_id=endpoint_id, secret=secret)


ROUTES = (
    Operation(
        "GET",
        "/webhooks",
        list_webhooks,
        "listWebhooks",
        "This key's webhook endpoints (secrets are never shown again)",
        WebhookEndpointList,
        "webhooks",
        errors=(400, 503),
    ),
    Operation(
        "POST",
        "/webhooks",
        create_webhook,
        "createWebhook",
        "Add an endpoint; the signing secret is returned once",
        WebhookEndpointCreated,
        "webhooks",
        status=201,
        errors=(400, 403, 413, 503),
        body=WebhookCreate,
    ),
    Operation(
        "DELETE",
        "/webhooks/{endpoint_id}",
        delete_webhook,
        "deleteWebhook",
        "Remove an endpoint",
        None,
        "webhooks",
        params=(ENDPOINT_ID,),
        status=204,
        errors=(400, 404, 503),
    ),
    Operation(
        "POST",
        "/webhooks/{endpoint_id}/test",
        test_webhook,
        "testWebhook",
        "Queue a signed test event to the endpoint",
        WebhookTest,
        "webhooks",
        params=(ENDPOINT_ID,),
        errors=(400, 404, 503),
    ),
    Operation(
        "POST",
        "/webhooks/{endpoint_id}/rotate-secret",
        rotate_webhook_secret,
        "rotateWebhookSecret",
        "A new signing secret (returned once); the old one keeps signing for a while",
        WebhookSecret,
        "webhooks",
        params=(ENDPOINT_ID,),
        errors=(400, 404, 503),
    ),
)
