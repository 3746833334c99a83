"""The OpenAPI 3.1 document of the REST API (`GET /v1/openapi.json`), generated.

`components/schemas` comes from the pydantic models of `api.schemas` (`model_json_schema` with refs into
components), and `paths` from the route table (`api.routes.ROUTES`): each operation's declared parameters
(the same objects that parse them), its success model, its error statuses and its description. Nothing
here is written per field, so the document cannot drift from what the server answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic.json_schema import models_json_schema

from api.http import BODY_MAX
from api.schemas import API_VERSION, COMPONENTS, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, WebhookCreate

if TYPE_CHECKING:
    from api.http import Operation
    from config.settings import Settings

__all__ = ["build_openapi", "component_schemas"]

REF = "#/components/schemas/{model}"
INT = {"type": "integer"}

ERROR_TEXTS = {
    400: "A bad parameter or body; `error.parameter` names it.",
    401: "Missing, malformed, unknown or revoked key. No data.",
    403: "The plan's limit is reached (`plan_limit_reached`), the plan is no longer offered (`plan_unavailable`), "
    "or per-book raw odds are not licensed for redistribution here (`raw_odds_not_licensed`).",
    404: "Unknown id or path.",
    413: f"The request body is larger than the API accepts ({BODY_MAX // 1024} KiB).",
    429: "Over the key's requests per minute, or too many requests without a valid key from this address.",
    500: "Unexpected server error (logged; no details returned).",
    503: "Webhooks are not available on this server.",
}

HEADERS = {
    "X-RateLimit-Limit": {"description": "Requests allowed per minute for this key.", "schema": INT},
    "X-RateLimit-Remaining": {"description": "Requests left in the current minute.", "schema": INT},
    "X-RateLimit-Reset": {"description": "Seconds until the current minute's window resets.", "schema": INT},
    "Retry-After": {"description": "Seconds to wait before retrying (429 only).", "schema": INT},
    "X-Usage-Warning": {
        "description": "Present once this month's requests exceed the plan's soft limit; requests still succeed.",
        "schema": {"type": "string"},
    },
}
RATE_HEADERS = {name: {"$ref": f"#/components/headers/{name}"} for name in HEADERS if name.startswith("X-RateLimit")}

DESCRIPTION = (
    "Odds, consensus, signals and their CLV record. Authenticate with `Authorization: Bearer <key>`. "
    "Every API plan sees signals in real time with full diagnostics; plans differ in limits. Per-book raw "
    "odds (`/games/{game_id}/odds`, `/games/{game_id}/odds/history`) are the odds provider's data and are "
    "served only where the operator's licence allows redistributing them (otherwise 403 "
    "`raw_odds_not_licensed`); derived data — consensus, signals with their entry, closes and CLV — is always "
    "served. Times are ISO-8601 UTC. Lists are paged with `limit` "
    f"(1-{PAGE_LIMIT_MAX}, default {PAGE_LIMIT_DEFAULT}) and the opaque `cursor` from `next_cursor` (null on "
    "the last page). Every authenticated response carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and "
    "`X-RateLimit-Reset`; over the limit the answer is 429 with `Retry-After`."
)


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": REF.format(model=name)}


def component_schemas() -> dict[str, Any]:
    """Every model of `api.schemas` as a JSON Schema (2020-12, as OpenAPI 3.1 uses), refs into components."""
    _, top = models_json_schema(
        [(model, "validation" if model is WebhookCreate else "serialization") for model in COMPONENTS],
        ref_template=REF,
        by_alias=True,
    )
    schemas = dict(top.get("$defs", {}))
    for schema in schemas.values():
        _close(schema)
    return schemas


def _close(schema: Any) -> None:
    """Drop pydantic's titles (noise for client generators) everywhere below a schema."""
    if isinstance(schema, dict):
        if "type" in schema or "$ref" in schema or "anyOf" in schema:
            schema.pop("title", None)
        for value in schema.values():
            _close(value)
    elif isinstance(schema, list):
        for value in schema:
            _close(value)


def _json(model: str, description: str, headers: dict[str, Any] | None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": _ref(model)}}}
    if headers:
        response["headers"] = headers
    return response


def _responses(op: Operation) -> dict[str, Any]:
    ok_headers = {**RATE_HEADERS, "X-Usage-Warning": {"$ref": "#/components/headers/X-Usage-Warning"}}
    out: dict[str, Any] = {}
    if op.response is None:
        out[str(op.status)] = {"description": op.summary, "headers": ok_headers}
    else:
        out[str(op.status)] = _json(op.response.__name__, op.summary, ok_headers)
    for status in sorted({*op.errors, 401, 429, 500}):
        if status == 401:
            headers: dict[str, Any] | None = None
        elif status == 429:
            headers = {**RATE_HEADERS, "Retry-After": {"$ref": "#/components/headers/Retry-After"}}
        else:
            headers = ok_headers
        out[str(status)] = _json("Error", ERROR_TEXTS[status], headers)
    return out


def _operation(op: Operation, settings: Settings) -> dict[str, Any]:
    doc: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag]}
    if op.description:
        doc["description"] = op.description
    if op.params:
        doc["parameters"] = [
            {
                "name": p.name,
                "in": p.where,
                "required": p.required,
                "description": p.description,
                "schema": p.schema(settings),
            }
            for p in op.params
        ]
    if op.body is not None:
        doc["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(op.body.__name__)}}}
    doc["responses"] = _responses(op)
    return doc


def build_openapi(settings: Settings, routes: Sequence[Operation]) -> dict[str, Any]:
    """The whole document for this deployment (the preset enum comes from its settings)."""
    paths: dict[str, dict[str, Any]] = {}
    for op in routes:
        paths.setdefault("/v1" + op.path, {})[op.method.lower()] = _operation(op, settings)
    paths["/v1/openapi.json"] = {
        "get": {
            "operationId": "getOpenApi",
            "summary": "This document",
            "tags": ["meta"],
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1.", "content": {"application/json": {}}}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Stratum API", "version": API_VERSION, "description": DESCRIPTION},
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "description": "An API key."}},
            "schemas": component_schemas(),
            "headers": HEADERS,
        },
    }
