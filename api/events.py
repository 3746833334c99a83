"""The webhooks a partner's endpoint receives, as the OpenAPI 3.1 `webhooks` section (FastAPI's `app.webhooks`
router): each event's envelope with its payload model, and the Standard Webhooks headers it is signed with.

Nothing here sends anything: the outbox (`delivery.webhooks`) writes `{"type", "version", "timestamp",
"data"}` with `data` built by the same models (`api.serialize`), and signs it. These declarations only
describe, from those models, what arrives."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Header
from pydantic import Field

from api.schemas import (
    ANOMALY_KINDS,
    API_VERSION,
    GRADE_EXAMPLE,
    MOVE_EXAMPLE,
    SIGNAL_EXAMPLE,
    GradedSignal,
    Model,
    Move,
    Signal,
    Time,
    with_examples,
)

__all__ = ["ClvGraded", "MoveCreated", "SignalCreated", "UsageAnomaly", "WebhookTestEvent", "router"]

router = APIRouter(tags=["webhooks"])


ANOMALY_EXAMPLE = {
    "key_id": "strat_1a2b3c4d",
    "kind": "soft_limit_80",
    "detail": "40000 of 50000 requests this month",
    "at": "2026-08-05T23:20:05Z",
}


def _envelope(kind: str, data: object) -> dict[str, object]:
    return {"type": kind, "version": API_VERSION, "timestamp": "2026-08-05T23:00:49Z", "data": data}


class Event(Model):
    """Every webhook's envelope."""

    type: str = Field(description="The event type.")
    version: str = Field(description="The API version the payload follows (`info.version`).", examples=[API_VERSION])
    timestamp: Time = Field(description="When the event was written (UTC, with a Z).")
    data: object = Field(description="The event's payload.")


class SignalCreated(Event):
    """One signal, as `GET /v1/signals/{id}` shows it (without its grade)."""

    model_config = with_examples(_envelope("signal.created", SIGNAL_EXAMPLE))

    type: Literal["signal.created"] = Field(description="The event type.")
    data: Signal = Field(description="The signal.")


class MoveCreated(Event):
    """One poll's signals on one game × market × side, with the best price on that side then."""

    model_config = with_examples(_envelope("move.created", MOVE_EXAMPLE))

    type: Literal["move.created"] = Field(description="The event type.")
    data: Move = Field(description="The move.")


class ClvGraded(Event):
    """A signal graded against the close."""

    model_config = with_examples(_envelope("clv.graded", {"signal": SIGNAL_EXAMPLE, "grade": GRADE_EXAMPLE}))

    type: Literal["clv.graded"] = Field(description="The event type.")
    data: GradedSignal = Field(description="The signal and its grade.")


class Anomaly(Model):
    """An anomaly of the receiving key's own usage."""

    model_config = with_examples(ANOMALY_EXAMPLE)

    key_id: str = Field(description="The key's visible id.")
    kind: Literal[ANOMALY_KINDS] = Field(description="What happened (see `GET /v1/usage`).")
    detail: str = Field(description="In words, with the numbers.")
    at: Time = Field(description="When it was recorded.")


class UsageAnomaly(Event):
    """An anomaly of the key's usage: sent to that key's own endpoints only."""

    model_config = with_examples(_envelope("usage.anomaly", ANOMALY_EXAMPLE))

    type: Literal["usage.anomaly"] = Field(description="The event type.")
    data: Anomaly = Field(description="The anomaly.")


class TestMessage(Model):
    """What a test message says."""

    model_config = with_examples({"endpoint_id": "we_3f9a1c", "message": "A test message from Stratum."})

    endpoint_id: str = Field(description="The endpoint it was sent to.")
    message: str = Field(description="A fixed sentence.")


class WebhookTestEvent(Event):
    """Sent on `POST /v1/webhooks/{endpoint_id}/test`, whatever the endpoint subscribed to."""

    model_config = with_examples(
        _envelope("webhook.test", {"endpoint_id": "we_3f9a1c", "message": "A test message from Stratum."})
    )

    type: Literal["webhook.test"] = Field(description="The event type.")
    data: TestMessage = Field(description="The test message.")


WebhookId = Annotated[
    str,
    Header(
        alias="webhook-id",
        description="The message's id: the same on every retry of one event (deduplicate on it).",
        examples=["msg_2a7c9e41b0d35f68"],
    ),
]
WebhookTimestamp = Annotated[
    str,
    Header(
        alias="webhook-timestamp",
        description="Unix seconds when this attempt was signed; refuse a message far from your clock (5 min).",
        examples=["1786058405"],
    ),
]
WebhookSignature = Annotated[
    str,
    Header(
        alias="webhook-signature",
        description='Space-separated `v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`, '
        "keyed with the endpoint's `whsec_` secret (its base64 part); during a secret rotation one signature per "
        "valid secret. Accept the message if any signature matches (Standard Webhooks).",
        examples=["v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="],
    ),
]

RECEIVED = {
    "2XX": {"description": "Received. Answer quickly; do the work afterwards."},
    "410": {"description": "Gone: the endpoint is disabled and receives nothing more."},
    "default": {"description": "Anything else (or no answer within the timeout) is retried with backoff."},
}


def _event(name: str, summary: str) -> dict[str, object]:
    return {
        "operation_id": re.sub(r"\.(\w)", lambda m: m[1].upper(), name),  # signal.created → signalCreated
        "summary": summary,
        "responses": RECEIVED,
        "response_description": "Received.",
    }


@router.post("signal.created", **_event("signal.created", "A signal fired"))
def signal_created(
    event: SignalCreated,
    webhook_id: WebhookId,
    webhook_timestamp: WebhookTimestamp,
    webhook_signature: WebhookSignature,
) -> None:
    """One per signal (also part of its move's `move.created`)."""


@router.post("move.created", **_event("move.created", "A move: one poll's signals on one side"))
def move_created(
    event: MoveCreated, webhook_id: WebhookId, webhook_timestamp: WebhookTimestamp, webhook_signature: WebhookSignature
) -> None:
    """One per move, as one Discord alert shows it; `data.id` is the same on every repeat."""


@router.post("clv.graded", **_event("clv.graded", "A signal was graded against the close"))
def clv_graded(
    event: ClvGraded, webhook_id: WebhookId, webhook_timestamp: WebhookTimestamp, webhook_signature: WebhookSignature
) -> None:
    """One per graded signal."""


@router.post("usage.anomaly", **_event("usage.anomaly", "An anomaly of this key's usage"))
def usage_anomaly(
    event: UsageAnomaly, webhook_id: WebhookId, webhook_timestamp: WebhookTimestamp, webhook_signature: WebhookSignature
) -> None:
    """To the key's own endpoints: soft limits crossed (80%, 100%), rate or error spikes."""


@router.post("webhook.test", **_event("webhook.test", "A test message"))
def webhook_test(
    event: WebhookTestEvent,
    webhook_id: WebhookId,
    webhook_timestamp: WebhookTimestamp,
    webhook_signature: WebhookSignature,
) -> None:
    """Queued by `POST /v1/webhooks/{endpoint_id}/test`."""
