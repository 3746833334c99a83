"""This key's webhook endpoints: thin calls to the webhook service (`WebhookPort`, wired by the app).

The body of `POST /v1/webhooks` is read by a dependency of the caller (`endpoint_to_create`, through
`api.body.read_json`: bounded, depth-checked, after the key), not by the framework, which would parse it
before any dependency runs; the document takes its schema from the same model (`openapi_extra`, FastAPI's
documented way for a body the route reads itself)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from api.body import read_json
from api.deps import Caller, Port
from api.errors import InvalidParameter
from api.params import NoQuery
from api.route import PREFIX, ApiRoute, responses
from api.schemas import (
    WebhookCreate,
    WebhookEndpoint,
    WebhookEndpointCreated,
    WebhookEndpointList,
    WebhookSecret,
    WebhookTest,
)

router = APIRouter(prefix=PREFIX, route_class=ApiRoute, tags=["webhooks"])

EndpointId = Annotated[str, Path(description="A webhook endpoint id.", examples=["we_3f9a1c"])]
EXAMPLE = '{"url": "https://…", "events": ["signal.created"]}'


async def endpoint_to_create(request: Request, _: Port) -> WebhookCreate:
    """The new endpoint the body asks for, each mistake a 400 naming the field."""
    data = await read_json(request, EXAMPLE)
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


CREATE_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": WebhookCreate.model_json_schema()}}}
}


@router.get(
    "/webhooks",
    response_model=WebhookEndpointList,
    operation_id="listWebhooks",
    summary="This key's webhook endpoints (secrets are never shown again)",
    responses=responses(400, 503),
)
async def list_webhooks(query: Annotated[NoQuery, Query()], call: Caller, port: Port) -> WebhookEndpointList:
    endpoints = await port.list(call.key)
    return WebhookEndpointList(data=[WebhookEndpoint.model_validate(e) for e in endpoints])


@router.post(
    "/webhooks",
    status_code=201,
    response_model=WebhookEndpointCreated,
    operation_id="createWebhook",
    summary="Add an endpoint; the signing secret is returned once",
    responses=responses(400, 403, 413, 503, ok=201),
    openapi_extra=CREATE_BODY,
)
async def create_webhook(
    query: Annotated[NoQuery, Query()],
    call: Caller,
    port: Port,
    body: Annotated[WebhookCreate, Depends(endpoint_to_create)],
) -> WebhookEndpointCreated:
    endpoint, secret = await port.create(call.key, body.url.strip(), body.events, call.now)
    return WebhookEndpointCreated.model_validate(replace(endpoint, secret=secret))


@router.delete(
    "/webhooks/{endpoint_id}",
    status_code=204,
    response_class=Response,
    operation_id="deleteWebhook",
    summary="Remove an endpoint",
    responses=responses(400, 404, 503, ok=204),
)
async def delete_webhook(
    endpoint_id: EndpointId, query: Annotated[NoQuery, Query()], call: Caller, port: Port
) -> Response:
    await port.delete(call.key, endpoint_id)
    return Response(status_code=204)


@router.post(
    "/webhooks/{endpoint_id}/test",
    response_model=WebhookTest,
    operation_id="testWebhook",
    summary="Queue a signed test event to the endpoint",
    responses=responses(400, 404, 503),
)
async def test_webhook(
    endpoint_id: EndpointId, query: Annotated[NoQuery, Query()], call: Caller, port: Port
) -> WebhookTest:
    delivery = await port.send_test(call.key, endpoint_id, call.now)
    delivery_id = getattr(delivery, "id", None)
    return WebhookTest(endpoint_id=endpoint_id, delivery_id=None if delivery_id is None else str(delivery_id))


@router.post(
    "/webhooks/{endpoint_id}/rotate-secret",
    response_model=WebhookSecret,
    operation_id="rotateWebhookSecret",
    summary="A new signing secret (returned once); the old one keeps signing for a while",
    responses=responses(400, 404, 503),
)
async def rotate_webhook_secret(
    endpoint_id: EndpointId, query: Annotated[NoQuery, Query()], call: Caller, port: Port
) -> WebhookSecret:
    secret = await port.rotate_secret(call.key, endpoint_id, call.now)
    return WebhookSecret(endpoint_id=endpoint_id, secret=secret)
