"""The OpenAPI 3.1 document of the REST API (`GET /v1/openapi.json`).

Written by hand next to the server rather than generated from it, but built from the same constants
(page bounds, score bounds, the enums of the engine's models, the configured presets), and the test
suite checks every response the server gives against it and every route against its paths, so the two
cannot drift apart silently. Schemas keep to a small JSON-Schema subset (type with lists for nullable,
properties, required, additionalProperties, items, enum, $ref, bounds, format) that any client
generator understands.
"""

from __future__ import annotations

import copy
from typing import Any

from api.serialize import API_VERSION
from config.settings import Settings
from engine.audit import TIER_ORDER, UNPROVEN
from engine.models import Market, Side, SignalType
from storage import CLOSED, SCHEDULED

__all__ = [
    "PAGE_LIMIT_DEFAULT",
    "PAGE_LIMIT_MAX",
    "SCORE_MAX",
    "SCORE_MIN",
    "build_openapi",
]

PAGE_LIMIT_DEFAULT = 50
PAGE_LIMIT_MAX = 200
SCORE_MIN = 0
SCORE_MAX = 100

ANOMALY_KINDS = ["soft_limit_80", "soft_limit_100", "rate_spike", "error_spike"]
#: Tiers an audit row can carry: the default `[clv] tiers`, best first, then "unproven".
TIERS = [*sorted((t for t in TIER_ORDER if t != UNPROVEN), key=TIER_ORDER.__getitem__, reverse=True), UNPROVEN]
AUDIT_KINDS = ["class", "preset", "score"]

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict[str, Schema], *, optional: tuple[str, ...] = (), closed: bool = True) -> Schema:
    """An object whose properties are all required unless named optional; closed = no other keys."""
    schema: Schema = {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
    }
    if closed:
        schema["additionalProperties"] = False
    return schema


def _nullable(schema: Schema) -> Schema:
    out = copy.deepcopy(schema)
    kind = out["type"]
    out["type"] = [*kind, "null"] if isinstance(kind, list) else [kind, "null"]
    return out


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
COUNT: Schema = {"type": "integer", "minimum": 0}
NUM: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
TIME: Schema = {"type": "string", "format": "date-time", "description": "ISO-8601 UTC, with a Z"}
PROB: Schema = {"type": "number", "minimum": 0, "maximum": 1}


def _page(item: str) -> Schema:
    return _obj(
        {
            "data": {"type": "array", "items": _ref(item)},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass as `cursor` for the next page; null on the last page.",
            },
        }
    )


def _schemas(settings: Settings) -> dict[str, Schema]:
    markets = [m.value for m in Market]
    # The configured tier names (the defaults give TIERS), best first, then "unproven".
    ranked = sorted(settings.clv.tiers, key=lambda r: (r.min_rate, r.min_graded), reverse=True)
    tiers = [*dict.fromkeys(rule.name for rule in ranked), UNPROVEN]
    signal = _obj(
        {
            "id": STR,
            "type": {"type": "string", "enum": [t.value for t in SignalType]},
            "game_id": STR,
            "market": {"type": "string", "enum": markets},
            "side": {"type": "string", "enum": [s.value for s in Side]},
            "created_at": TIME,
            "commence_time": TIME,
            "score": {"type": "integer", "minimum": SCORE_MIN, "maximum": SCORE_MAX},
            "breakdown": _obj({name: PROB for name in ("magnitude", "velocity", "breadth", "sharp", "time_to_tip")}),
            "books": {"type": "array", "items": STR, "description": "Books involved, first mover first."},
            "magnitude": NUM,
            "velocity": {"type": ["number", "null"], "description": "Per minute; null where the type has none."},
            "entry": _obj({"book": STR, "point": {"type": ["number", "null"]}, "price": INT, "prob": PROB}),
            "consensus": _obj({"point": {"type": ["number", "null"]}, "prob": PROB}),
            "details": {"type": "object", "description": "Type-specific metadata (window, key number, gap, EV…)."},
        }
    )
    grade = _obj(
        {
            "signal_id": STR,
            "graded_at": TIME,
            "close_point": {"type": ["number", "null"]},
            "close_prob": PROB,
            "clv_points": {"type": ["number", "null"]},
            "clv_prob": NUM,
            "beat_close": BOOL,
            "push": BOOL,
            "consensus_clv_points": {"type": ["number", "null"]},
            "consensus_clv_prob": NUM,
        }
    )
    signal_detail = copy.deepcopy(signal)
    signal_detail["properties"]["grade"] = _nullable(grade) | {"description": "Null until the game closes."}
    signal_detail["required"].append("grade")
    game = _obj(
        {
            "id": STR,
            "sport": STR,
            "home_team": STR,
            "away_team": STR,
            "commence_time": TIME,
            "scheduled_tip": TIME,
            "status": {"type": "string", "enum": [SCHEDULED, CLOSED]},
        }
    )
    close = _obj({"market": {"type": "string", "enum": markets}, "captured_at": TIME} | _number_fields())
    game_detail = copy.deepcopy(game)
    game_detail["properties"]["closes"] = {"type": "array", "items": _ref("Close")}
    game_detail["required"].append("closes")
    line = _obj(
        {
            "book": STR,
            "market": {"type": "string", "enum": markets},
            "point": {"type": ["number", "null"], "description": "Home spread, the total, or null (moneyline)."},
            "price_a": {"type": "integer", "description": "American price of home / over."},
            "price_b": {"type": "integer", "description": "American price of away / under."},
            "last_update": TIME,
            "observed_at": TIME,
        }
    )
    consensus = _obj({"market": {"type": "string", "enum": markets}, "at": TIME} | _number_fields())
    rate = _nullable(PROB)
    lift = {"type": ["number", "null"], "minimum": -1, "maximum": 1}
    class_audit = _obj(
        {
            "class": {
                "type": "string",
                "description": 'A class ("STEAM:spreads"), a preset ("preset:low_noise") or a score bucket '
                '("score:55-69").',
            },
            "kind": {"type": "string", "enum": AUDIT_KINDS},
            "graded": COUNT,
            "beats": COUNT,
            "pushes": COUNT,
            "ungraded": COUNT | {"description": "Signals with no close to grade against yet."},
            "beat_rate": rate | {"description": "beats / graded; null when nothing is graded."},
            "wilson_low": rate | {"description": "Wilson 95% interval of the beat rate; null when nothing is graded."},
            "wilson_high": rate,
            "null_graded": COUNT | {"description": "Graded draws of the matched null."},
            "null_rate": rate | {"description": "Beat rate of the matched null (random side, same time to tip)."},
            "lift": lift | {"description": "beat_rate − null_rate."},
            "lift_low": lift | {"description": "95% interval of the lift, bootstrapped over whole games."},
            "lift_high": lift,
            "opposite_rate": rate | {"description": "Beat rate of the opposite side at the same instants."},
            "mean_clv": {"type": ["number", "null"], "description": "Mean expected value per unit at the close."},
            "mean_clv_points": {"type": ["number", "null"], "description": "Mean CLV in points (spreads, totals)."},
            "record": _nullable(_obj({"wins": COUNT, "losses": COUNT, "pushes": COUNT}))
            | {"description": "Against the final results; null where not kept."},
            "tier": {"type": "string", "enum": tiers},
            "reason": {"type": "string", "description": 'Why the row is unproven; "" when it holds a tier.'},
        }
    )
    endpoint = _obj(
        {
            "id": STR,
            "url": {"type": "string", "format": "uri"},
            "events": {"type": "array", "items": STR},
            "created_at": TIME,
            "disabled_at": _nullable(TIME),
            "disabled_reason": {"type": ["string", "null"]},
            "previous_secret_expires_at": _nullable(TIME)
            | {"description": "After a rotation the old secret still signs until then."},
        }
    )
    endpoint_created = copy.deepcopy(endpoint)
    endpoint_created["properties"]["secret"] = {"type": "string", "description": "Shown once: store it now."}
    endpoint_created["required"].append("secret")
    usage = _obj(
        {
            "key": _obj({"id": STR, "owner": STR, "plan": {"type": "string", "enum": list(settings.plans)}}),
            "plan": _obj(
                {
                    "plan": {"type": "string", "enum": list(settings.plans)},
                    "label": STR,
                    "requests_per_minute": INT,
                    "webhooks": INT,
                    "monthly_soft_limit": {"type": "integer", "description": "0 = none."},
                    "commercial_use": BOOL,
                    "dedicated_queue": BOOL,
                }
            ),
            "usage": _obj(
                {
                    "minute": {"type": "string", "description": 'UTC minute, "YYYY-MM-DDTHH:MM".'},
                    "this_minute": _obj({"requests": INT, "errors": INT}),
                    "today": INT,
                    "this_month": INT,
                    "monthly_soft_limit": INT,
                    "monthly_remaining": {"type": ["integer", "null"], "description": "Null when there is no limit."},
                    "over_soft_limit": BOOL,
                }
            ),
            "rate_limit": _obj({"limit": INT, "remaining": INT, "reset": INT}),
            "anomalies": {
                "type": "array",
                "items": _obj({"kind": {"type": "string", "enum": ANOMALY_KINDS}, "detail": STR, "at": TIME}),
            },
        }
    )
    error = _obj(
        {
            "error": _obj(
                {
                    "code": {
                        "type": "string",
                        "description": "Stable machine-readable code: unauthorized, rate_limited, "
                        "invalid_parameter, invalid_request, not_found, plan_limit_reached, "
                        "method_not_allowed, unavailable, internal_error.",
                    },
                    "message": STR,
                    "parameter": {"type": "string", "description": "The query, path or body parameter at fault."},
                },
                optional=("parameter",),
            )
        }
    )
    return {
        "Signal": signal,
        "SignalDetail": signal_detail,
        "Grade": grade,
        "GradedSignal": _obj({"signal": _ref("Signal"), "grade": _ref("Grade")}),
        "Game": game,
        "GameDetail": game_detail,
        "Close": close,
        "Line": line,
        "GameOdds": _obj(
            {
                "game_id": STR,
                "status": {"type": "string", "enum": [SCHEDULED, CLOSED]},
                "as_of": _nullable(TIME) | {"description": "Newest observation among the lines."},
                "lines": {"type": "array", "items": _ref("Line")},
            }
        ),
        "Consensus": consensus,
        "ClassAudit": class_audit,
        "ClvSummary": _obj(
            {
                "close_source": {"type": "string", "description": "What the signals were graded against."},
                "signals_by_type": _obj({t.value: COUNT for t in SignalType}),
                "signals_total": COUNT,
                "graded": COUNT | {"description": "Graded signals over the classes (type × market)."},
                "ungraded": COUNT | {"description": "Signals over the classes with no close yet."},
                "method": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "How the audit was computed (null model, bootstrap, tier rules…).",
                },
                "classes": {
                    "type": "array",
                    "items": _ref("ClassAudit"),
                    "description": 'Every row: kind "class" first, then "preset", then "score".',
                },
            }
        ),
        "Usage": usage,
        "WebhookEndpoint": endpoint,
        "WebhookEndpointCreated": endpoint_created,
        "WebhookEndpointList": _obj({"data": {"type": "array", "items": _ref("WebhookEndpoint")}}),
        "WebhookSecret": _obj({"endpoint_id": STR, "secret": STR}),
        "WebhookTest": _obj({"endpoint_id": STR, "delivery_id": {"type": ["string", "null"]}}),
        "WebhookCreate": _obj(
            {
                "url": {"type": "string", "format": "uri", "description": "Public https:// URL."},
                "events": {
                    "type": "array",
                    "items": STR,
                    "description": "Event types to receive; omitted means every event type.",
                },
            },
            optional=("events",),
        ),
        "GamePage": _page("Game"),
        "SignalPage": _page("Signal"),
        "GradePage": _page("GradedSignal"),
        "LinePage": _page("Line"),
        "ConsensusPage": _page("Consensus"),
        "Error": error,
    }


def _number_fields() -> dict[str, Schema]:
    return {
        "point": {"type": ["number", "null"], "description": "Home spread or total; null for moneyline."},
        "prob_a": PROB | {"description": "De-vigged probability of home / over."},
        "books": INT,
    }


# ---------------------------------------------------------------------- parameters and responses

RATE_HEADERS = {
    "X-RateLimit-Limit": {"$ref": "#/components/headers/X-RateLimit-Limit"},
    "X-RateLimit-Remaining": {"$ref": "#/components/headers/X-RateLimit-Remaining"},
    "X-RateLimit-Reset": {"$ref": "#/components/headers/X-RateLimit-Reset"},
}


def _headers() -> dict[str, Schema]:
    return {
        "X-RateLimit-Limit": {"description": "Requests allowed per minute for this key.", "schema": INT},
        "X-RateLimit-Remaining": {"description": "Requests left in the current minute.", "schema": INT},
        "X-RateLimit-Reset": {"description": "Seconds until the current minute's window resets.", "schema": INT},
        "Retry-After": {"description": "Seconds to wait before retrying (429 only).", "schema": INT},
        "X-Usage-Warning": {
            "description": "Present once this month's requests exceed the plan's soft limit; requests still succeed.",
            "schema": STR,
        },
    }


def _q(name: str, schema: Schema, description: str, *, required: bool = False) -> Schema:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def _path(name: str, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": STR}


def _parameters() -> dict[str, Schema]:
    return {
        "Limit": _q(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": PAGE_LIMIT_MAX, "default": PAGE_LIMIT_DEFAULT},
            "Page size.",
        ),
        "Cursor": _q("cursor", STR, "Opaque cursor from the previous page's `next_cursor`."),
        "Market": _q("market", {"type": "string", "enum": [m.value for m in Market]}, "Only this market."),
    }


def _pref(name: str) -> Schema:
    return {"$ref": f"#/components/parameters/{name}"}


def _json(schema: str, description: str, *, headers: bool = True) -> Schema:
    response: Schema = {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}
    if headers:
        response["headers"] = {**RATE_HEADERS, "X-Usage-Warning": {"$ref": "#/components/headers/X-Usage-Warning"}}
    return response


def _errors(*statuses: int) -> dict[str, Schema]:
    texts = {
        400: "A bad parameter; `error.parameter` names it.",
        401: "Missing, malformed, unknown or revoked key. No data.",
        403: "The plan's limit is reached (`plan_limit_reached`) or the plan does not include this.",
        404: "Unknown id or path.",
        429: "Over the key's requests per minute.",
        500: "Unexpected server error (logged; no details returned).",
        503: "Webhooks are not available on this server.",
    }
    out = {}
    for status in sorted({*statuses, 401, 429, 500}):
        response = _json("Error", texts[status], headers=status not in (401,))
        if status == 429:
            response["headers"] = {**RATE_HEADERS, "Retry-After": {"$ref": "#/components/headers/Retry-After"}}
        out[str(status)] = response
    return out


def _op(
    op_id: str,
    summary: str,
    ok: Schema,
    *,
    params: list[Schema] | None = None,
    errors: tuple[int, ...] = (),
    status: str = "200",
    description: str = "",
    tag: str = "",
) -> Schema:
    op: Schema = {"operationId": op_id, "summary": summary, "responses": {status: ok, **_errors(*errors)}}
    if description:
        op["description"] = description
    if params:
        op["parameters"] = params
    if tag:
        op["tags"] = [tag]
    return op


def build_openapi(settings: Settings) -> dict[str, Any]:
    """The whole document for this deployment (the preset and plan enums come from its settings)."""
    game_id = _path("game_id", "A game id.")
    endpoint_id = _path("endpoint_id", "A webhook endpoint id.")
    page = [_pref("Limit"), _pref("Cursor")]
    time_filters = [
        _q("since", TIME, "Only signals created at or after this instant (no offset means UTC)."),
        _q("until", TIME, "Only signals created before this instant (no offset means UTC)."),
    ]
    paths: dict[str, Any] = {
        "/v1/games": {
            "get": _op(
                "listGames",
                "Games by tip-off, oldest first",
                _json("GamePage", "A page of games."),
                params=[
                    _q("date", {"type": "string", "format": "date"}, "UTC day of tip-off, YYYY-MM-DD."),
                    _q("status", {"type": "string", "enum": [SCHEDULED, CLOSED]}, "Only games in this state."),
                    *page,
                ],
                errors=(400,),
                tag="games",
            )
        },
        "/v1/games/{game_id}": {
            "get": _op(
                "getGame",
                "One game, with its closing lines once captured",
                _json("GameDetail", "The game."),
                params=[game_id],
                errors=(404,),
                tag="games",
            )
        },
        "/v1/games/{game_id}/odds": {
            "get": _op(
                "getGameOdds",
                "Each book's current line (a closed game: its last lines)",
                _json("GameOdds", "Lines by market, then book."),
                params=[game_id],
                errors=(404,),
                tag="games",
            )
        },
        "/v1/games/{game_id}/odds/history": {
            "get": _op(
                "getGameOddsHistory",
                "Every line the books quoted, oldest first",
                _json("LinePage", "A page of lines."),
                params=[game_id, _pref("Market"), *page],
                errors=(400, 404),
                tag="games",
            )
        },
        "/v1/games/{game_id}/consensus": {
            "get": _op(
                "getGameConsensus",
                "The de-vigged consensus over time, oldest first",
                _json("ConsensusPage", "A page of consensus values."),
                params=[game_id, _pref("Market"), *page],
                errors=(400, 404),
                tag="games",
            )
        },
        "/v1/signals": {
            "get": _op(
                "listSignals",
                "Signals, newest first, with full diagnostics",
                _json("SignalPage", "A page of signals."),
                params=[
                    *time_filters,
                    _q("type", {"type": "string", "enum": [t.value for t in SignalType]}, "Only this type."),
                    _q("game", STR, "Only this game's signals."),
                    _pref("Market"),
                    _q(
                        "preset",
                        {"type": "string", "enum": list(settings.presets)},
                        "Only signals passing this quality preset.",
                    ),
                    _q(
                        "min_score",
                        {"type": "integer", "minimum": SCORE_MIN, "maximum": SCORE_MAX},
                        "Only signals scoring at least this.",
                    ),
                    *page,
                ],
                errors=(400,),
                tag="signals",
            )
        },
        "/v1/signals/{signal_id}": {
            "get": _op(
                "getSignal",
                "One signal with its CLV grade once graded",
                _json("SignalDetail", "The signal."),
                params=[_path("signal_id", "A signal id.")],
                errors=(404,),
                tag="signals",
            )
        },
        "/v1/clv/grades": {
            "get": _op(
                "listGrades",
                "Graded signals, most recently graded first",
                _json("GradePage", "A page of graded signals."),
                params=page,
                errors=(400,),
                tag="clv",
            )
        },
        "/v1/clv/summary": {
            "get": _op(
                "getClvSummary",
                "The signal-integrity audit: per class, preset and score bucket, the beat rate against the "
                "no-vig close (Wilson 95%), its matched null, the lift interval, and the tier with its reason",
                _json("ClvSummary", "The audit."),
                tag="clv",
            )
        },
        "/v1/usage": {
            "get": _op(
                "getUsage",
                "This key's usage, limits and recent anomalies",
                _json("Usage", "Counts include this request."),
                description=(
                    "Counts are per UTC minute. Every answered request with a valid key counts, except 429s "
                    "(rejected by the rate limit); errors are the 4xx/5xx among them. Crossing 80% and 100% of "
                    "the monthly soft limit records `soft_limit_80` / `soft_limit_100` once per month; beyond "
                    "it requests still succeed with `X-Usage-Warning`."
                ),
                tag="usage",
            )
        },
        "/v1/webhooks": {
            "get": _op(
                "listWebhooks",
                "This key's webhook endpoints (secrets are never shown again)",
                _json("WebhookEndpointList", "The endpoints."),
                errors=(503,),
                tag="webhooks",
            ),
            "post": _op(
                "createWebhook",
                "Add an endpoint; the signing secret is returned once",
                _json("WebhookEndpointCreated", "Created."),
                status="201",
                errors=(400, 403, 503),
                tag="webhooks",
            )
            | {"requestBody": {"required": True, "content": {"application/json": {"schema": _ref("WebhookCreate")}}}},
        },
        "/v1/webhooks/{endpoint_id}": {
            "delete": _op(
                "deleteWebhook",
                "Remove an endpoint",
                {"description": "Deleted.", "headers": RATE_HEADERS},
                params=[endpoint_id],
                status="204",
                errors=(404, 503),
                tag="webhooks",
            )
        },
        "/v1/webhooks/{endpoint_id}/test": {
            "post": _op(
                "testWebhook",
                "Queue a signed test event to the endpoint",
                _json("WebhookTest", "Queued."),
                params=[endpoint_id],
                errors=(404, 503),
                tag="webhooks",
            )
        },
        "/v1/webhooks/{endpoint_id}/rotate-secret": {
            "post": _op(
                "rotateWebhookSecret",
                "A new signing secret (returned once); the old one keeps signing for a while",
                _json("WebhookSecret", "The new secret."),
                params=[endpoint_id],
                errors=(404, 503),
                tag="webhooks",
            )
        },
        "/v1/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1.", "content": {"application/json": {}}}},
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Stratum API",
            "version": API_VERSION,
            "description": (
                "Odds, consensus, signals and their CLV record, in real time with full diagnostics. "
                "Authenticate with `Authorization: Bearer <key>`. Times are ISO-8601 UTC. Lists are paged "
                f"with `limit` (1-{PAGE_LIMIT_MAX}, default {PAGE_LIMIT_DEFAULT}) and the opaque `cursor` "
                "from `next_cursor` (null on the last page). Every authenticated response carries "
                "`X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`; over the limit the "
                "answer is 429 with `Retry-After`."
            ),
        },
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "description": "An API key."}},
            "schemas": _schemas(settings),
            "parameters": _parameters(),
            "headers": _headers(),
        },
    }
