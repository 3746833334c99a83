"""The REST API on the embedded aiohttp server: `/v1`, JSON, bearer API keys, per-key limits and usage.

`build_api(server_or_app, ctx)` mounts a sub-application at `/v1`, so its middleware (authentication,
rate limit, usage counting, JSON errors) wraps the API's routes only; `/healthz` and the Stripe webhook
on the same server are untouched. Everything the API needs arrives in `ApiContext` (nothing global).

Each handler parses its parameters (a bad one is a 400 naming it), calls storage or a service, and shapes
the answer with `api.serialize` — no business rule lives here. API keys see everything in real time
with full diagnostics, so no tier rule applies beyond the key's plan limits.

Lists are paged by keyset (opaque cursors carrying the last row's sort key), so rows written between
two page requests never cause a duplicate or a skip.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from aiohttp import web

from access import NotFound, PlanLimits, UserError, plan_limits
from api.openapi import PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, SCORE_MAX, SCORE_MIN, build_openapi
from api.ratelimit import RateDecision, RateLimiter
from api.serialize import (
    close_json,
    consensus_json,
    game_json,
    grade_json,
    iso,
    line_json,
    signal_json,
)
from api.usage import AnomalyCallback, UsageRecorder, UsageReport
from app.web import WebServer
from config.settings import Settings
from domain.api import ApiKey, WebhookEndpoint
from engine.clock import utc_now as _utc_now
from engine.models import Market, Signal, SignalType
from engine.presets import needs_audit, passes
from services import signals as signal_service
from services.keys import authenticate
from storage import CLOSED, SCHEDULED, Repositories

__all__ = ["ApiContext", "InvalidParameter", "WebhookPort", "build_api"]

log = logging.getLogger(__name__)

PREFIX = "/v1"
OPENAPI_PATH = PREFIX + "/openapi.json"
#: "The last lines" of a closed game: each book's line as of a moment after anything stored.
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
#: Rows scanned per query when a preset (a Python predicate) filters signals after SQL.
PRESET_BATCH = 200

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")


class InvalidParameter(UserError):
    """A query, path or body parameter the client must fix; the answer names it."""

    status = 400
    code = "invalid_parameter"

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class WebhookPort(Protocol):
    """What the API needs from the webhook service (api.webhooks.WebhookService provides it)."""

    async def create(self, key: ApiKey, url: str, events: list[str] | None, now: datetime) -> tuple[Any, str]: ...

    async def list(self, key: ApiKey) -> Sequence[Any]: ...

    async def delete(self, key: ApiKey, endpoint_id: str) -> None: ...

    async def send_test(self, key: ApiKey, endpoint_id: str, now: datetime) -> Any: ...

    async def rotate_secret(self, key: ApiKey, endpoint_id: str, now: datetime) -> str: ...


@dataclass(slots=True)
class ApiContext:
    """Everything the API's handlers use, built by the app factory and passed in."""

    settings: Settings
    repos: Repositories
    limiter: RateLimiter
    usage: UsageRecorder
    webhooks: WebhookPort | None = None
    clock: Callable[[], datetime] = _utc_now

    @classmethod
    def create(
        cls,
        settings: Settings,
        repos: Repositories,
        *,
        clock: Callable[[], datetime] = _utc_now,
        webhooks: WebhookPort | None = None,
        on_anomaly: AnomalyCallback | None = None,
    ) -> ApiContext:
        """The usual wiring: a limiter on the same clock and a usage recorder over the same database."""
        return cls(
            settings=settings,
            repos=repos,
            limiter=RateLimiter(clock),
            usage=UsageRecorder(repos, on_anomaly),
            webhooks=webhooks,
            clock=clock,
        )


CTX = web.AppKey("stratum_api_context", ApiContext)
DOC = web.AppKey("stratum_api_openapi", dict)


def _request_key(name: str, kind: type) -> Any:
    """A typed request key where aiohttp has them (3.13+), else the plain string older versions take."""
    maker = getattr(web, "RequestKey", None)
    return maker(name, kind) if maker is not None else name


KEY = _request_key("stratum_api_key", ApiKey)
LIMITS = _request_key("stratum_api_limits", PlanLimits)
RATE = _request_key("stratum_api_rate", RateDecision)


# ---------------------------------------------------------------------- responses and errors


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _error(
    status: int, code: str, message: str, *, parameter: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if parameter:
        body["parameter"] = parameter
    response = _json({"error": body}, status)
    if headers:
        response.headers.update(headers)
    return response


def _code_for(exc: UserError) -> str:
    """A stable code: the class's own `code`, else its name in snake case (PlanLimitReached →
    plan_limit_reached), so a new UserError subclass in a service gets a meaningful code for free."""
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code:
        return code
    if type(exc) is UserError:
        return "invalid_request"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 503: "unavailable"}


async def _answer(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    """Run the handler; every failure becomes a JSON error (a 500 without details, logged)."""
    try:
        return await handler(request)
    except UserError as exc:
        return _error(exc.status, _code_for(exc), str(exc), parameter=getattr(exc, "parameter", None))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return _error(exc.status, _HTTP_CODES.get(exc.status, "http_error"), exc.reason, headers=headers)
    except Exception:
        log.exception("API error on %s %s", request.method, request.path)
        return _error(500, "internal_error", "Unexpected server error; it has been logged.")


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@web.middleware
async def _api_middleware(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    """Authenticate → rate limit → handle → count usage → rate-limit headers on the answer."""
    if request.path == OPENAPI_PATH:
        return await _answer(request, handler)
    ctx = request.config_dict[CTX]
    key = await authenticate(ctx.repos, _bearer(request))
    if key is None:
        return _error(
            401,
            "unauthorized",
            "Send a valid API key as `Authorization: Bearer <key>`.",
            headers={"WWW-Authenticate": 'Bearer realm="stratum"'},
        )
    try:
        limits = plan_limits(key, ctx.settings.plans)
    except KeyError:
        log.error("API key %s has plan %r, which is not configured", key.id, key.plan)
        return _error(403, "plan_unavailable", f"The plan “{key.plan}” is no longer offered; contact support.")
    decision = ctx.limiter.hit(key.id, limits.requests_per_minute)
    if not decision.allowed:
        return _error(
            429,
            "rate_limited",
            f"More than {decision.limit} requests this minute; retry in {decision.retry_after} s.",
            headers=decision.headers(),
        )
    request[KEY], request[LIMITS], request[RATE] = key, limits, decision
    response = await _answer(request, handler)
    try:
        outcome = await ctx.usage.record(key, limits, response.status, ctx.clock())
    except Exception:  # accounting must never cost the client an answer it was given
        log.exception("usage accounting failed for key %s", key.id)
    else:
        if outcome is not None and outcome.warning:
            response.headers["X-Usage-Warning"] = outcome.warning
    response.headers.update(decision.headers())
    return response


# ---------------------------------------------------------------------- parameters


def _query(request: web.Request, allowed: set[str]) -> dict[str, str]:
    """The query as a dict; an unknown or repeated parameter is refused, so a typo (`min_scor=90`) is
    an error rather than a silently unfiltered answer."""
    out: dict[str, str] = {}
    for name, value in request.query.items():
        if name not in allowed:
            raise InvalidParameter(name, f"Unknown parameter “{name}”; allowed: {', '.join(sorted(allowed))}.")
        if name in out:
            raise InvalidParameter(name, f"Give “{name}” once.")
        out[name] = value
    return out


def _int(query: dict[str, str], name: str, low: int, high: int, default: int | None = None) -> int | None:
    text = query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidParameter(name, f"“{name}” must be an integer from {low} to {high}.") from None
    if not low <= value <= high:
        raise InvalidParameter(name, f"“{name}” must be from {low} to {high}.")
    return value


def _limit(query: dict[str, str]) -> int:
    return _int(query, "limit", 1, PAGE_LIMIT_MAX, PAGE_LIMIT_DEFAULT) or PAGE_LIMIT_DEFAULT


def _enum(query: dict[str, str], name: str, kind: type[E]) -> E | None:
    text = query.get(name)
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError:
        raise InvalidParameter(name, f"“{name}” must be one of {', '.join(k.value for k in kind)}.") from None


def _choice(query: dict[str, str], name: str, choices: Sequence[str]) -> str | None:
    text = query.get(name)
    if text is not None and text not in choices:
        raise InvalidParameter(name, f"“{name}” must be one of {', '.join(choices)}.")
    return text


def _instant(query: dict[str, str], name: str) -> datetime | None:
    text = query.get(name)
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidParameter(name, f"“{name}” must be an ISO-8601 time, e.g. 2026-08-05T18:00:00Z.") from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _encode_cursor(kind: str, values: list[str]) -> str:
    raw = _dumps({"k": kind, "v": values}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor(query: dict[str, str], kind: str, size: int) -> list[str] | None:
    """The decoded cursor of this list (`kind`), or a 400 for anything else, including another list's."""
    text = query.get("cursor")
    if text is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        values = data["v"] if data["k"] == kind else None
    except (ValueError, binascii.Error, KeyError, TypeError):
        values = None
    if not isinstance(values, list) or len(values) != size or not all(isinstance(v, str) for v in values):
        raise InvalidParameter("cursor", "“cursor” is not a cursor of this list; pass `next_cursor` unchanged.")
    return values


def _cursor_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        raise InvalidParameter("cursor", "“cursor” is damaged; pass `next_cursor` unchanged.") from None


def _page(
    items: Sequence[T], limit: int, kind: str, sort_key: Callable[[T], list[str]], shape: Callable[[T], Any]
) -> dict[str, Any]:
    """One page from up to `limit + 1` rows: the extra row only tells that another page exists."""
    more = len(items) > limit
    shown = items[:limit]
    cursor = _encode_cursor(kind, sort_key(shown[-1])) if more and shown else None
    return {"data": [shape(item) for item in shown], "next_cursor": cursor}


# ---------------------------------------------------------------------- games, odds, consensus


async def _game(ctx: ApiContext, game_id: str) -> Any:
    stored = await ctx.repos.games.get(game_id) if 0 < len(game_id) <= 200 else None
    if stored is None:
        raise NotFound(f"No game with id “{game_id[:200]}”.")
    return stored


async def list_games(request: web.Request) -> web.Response:
    ctx = request.config_dict[CTX]
    query = _query(request, {"date", "status", "limit", "cursor"})
    since = until = None
    if "date" in query:
        try:
            day = date.fromisoformat(query["date"])
        except ValueError:
            raise InvalidParameter("date", "“date” must be a UTC day, YYYY-MM-DD.") from None
        since = datetime(day.year, day.month, day.day, tzinfo=UTC)
        until = since + timedelta(days=1)
    status = _choice(query, "status", (SCHEDULED, CLOSED))
    limit = _limit(query)
    cursor = _cursor(query, "games", 1)
    rows = await ctx.repos.games.list(
        since=since, until=until, status=status, limit=limit + 1, after_id=cursor[0] if cursor else None
    )
    return _json(_page(rows, limit, "games", lambda g: [g.game.id], game_json))


async def get_game(request: web.Request) -> web.Response:
    ctx = request.config_dict[CTX]
    _query(request, set())
    stored = await _game(ctx, request.match_info["game_id"])
    closes = await ctx.repos.closes.for_game(stored.game.id)
    return _json(game_json(stored) | {"closes": [close_json(c) for c in closes]})


async def game_odds(request: web.Request) -> web.Response:
    ctx = request.config_dict[CTX]
    _query(request, set())
    stored = await _game(ctx, request.match_info["game_id"])
    if stored.status == CLOSED:
        lines = await ctx.repos.quotes.as_of(stored.game.id, FAR_FUTURE)
    else:
        lines = await ctx.repos.quotes.latest([stored.game.id])
    as_of = max((line.observed_at for line in lines), default=None)
    return _json(
        {
            "game_id": stored.game.id,
            "status": stored.status,
            "as_of": iso(as_of),
            "lines": [line_json(line) for line in lines],
        }
    )


async def odds_history(request: web.Request) -> web.Response:
    ctx = request.config_dict[CTX]
    query = _query(request, {"market", "limit", "cursor"})
    market = _enum(query, "market", Market)
    limit = _limit(query)
    cursor = _cursor(query, "lines", 3)
    stored = await _game(ctx, request.match_info["game_id"])
    after = (_cursor_time(cursor[0]), cursor[1], cursor[2]) if cursor else None
    lines = await ctx.repos.quotes.history(stored.game.id, market, since=after[0] if after else None)
    # (observed_at, market, book) is unique among quoted lines: one line per book and market per poll.
    ordered = sorted(lines, key=lambda ln: (ln.observed_at, ln.market.value, ln.book))
    if after is not None:
        ordered = [ln for ln in ordered if (ln.observed_at, ln.market.value, ln.book) > after]
    return _json(
        _page(
            ordered[: limit + 1],
            limit,
            "lines",
            lambda ln: [ln.observed_at.isoformat(), ln.market.value, ln.book],
            line_json,
        )
    )


async def consensus_history(request: web.Request) -> web.Response:
    ctx = request.config_dict[CTX]
    query = _query(request, {"market", "limit", "cursor"})
    market = _enum(query, "market", Market)
    limit = _limit(query)
    cursor = _cursor(query, "consensus", 2)
    stored = await _game(ctx, request.match_info["game_id"])
    rows = await ctx.repos.consensus.history(stored.game.id, market)
    if cursor is not None:
        after = (_cursor_time(cursor[0]), cursor[1])
        rows = [c for c in rows if (c.at, c.market.value) > after]
    return _json(
        _page(rows[: limit + 1], limit, "consensus", lambda c: [c.at.isoformat(), c.market.value], consensus_json)
    )


# ---------------------------------------------------------------------- signals and CLV


async def list_signals(request: web.Request) -> web.Response:
    ctx = request.config_dict[CTX]
    query = _query(request, {"since", "until", "type", "game", "market", "preset", "min_score", "limit", "cursor"})
    since, until = _instant(query, "since"), _instant(query, "until")
    if since is not None and until is not None and until <= since:
        raise InvalidParameter("until", "“until” must be later than “since”.")
    kind = _enum(query, "type", SignalType)
    market = _enum(query, "market", Market)
    preset_name = _choice(query, "preset", list(ctx.settings.presets))
    min_score = _int(query, "min_score", SCORE_MIN, SCORE_MAX)
    limit = _limit(query)
    cursor = _cursor(query, "signals", 2)
    before = (_cursor_time(cursor[0]), cursor[1]) if cursor else None

    preset = ctx.settings.presets[preset_name] if preset_name else None
    types = [kind] if kind else None
    if preset is not None:
        # Narrow in SQL what the preset allows; `passes` below stays the one definition of the preset.
        min_score = max(min_score or 0, preset.min_score)
        if preset.types:
            types = [t for t in (types or [SignalType(v) for v in preset.types]) if t.value in preset.types]
            if not types:
                return _json({"data": [], "next_cursor": None})
    tiers = (await signal_service.audit(ctx)).class_lifts() if preset and needs_audit(preset) else {}
    batch = limit + 1 if preset is None else max(PRESET_BATCH, limit + 1)
    found: list[Signal] = []
    while len(found) <= limit:
        rows = await ctx.repos.signals.list(
            since=since,
            until=until,
            game_id=query.get("game"),
            types=types,
            market=market,
            min_score=min_score,
            limit=batch,
            before=before,
        )
        found.extend(s for s in rows if preset is None or passes(s, preset, tiers))
        if len(rows) < batch:
            break
        before = (rows[-1].created_at, rows[-1].id)
    return _json(_page(found, limit, "signals", lambda s: [s.created_at.isoformat(), s.id], signal_json))


async def get_signal(request: web.Request) -> web.Response:
    ctx = request.config_dict[CTX]
    _query(request, set())
    signal_id = request.match_info["signal_id"]
    signal = await ctx.repos.signals.get(signal_id) if 0 < len(signal_id) <= 200 else None
    if signal is None:
        raise NotFound(f"No signal with id “{signal_id[:200]}”.")
    grade = await ctx.repos.grades.get(signal.id)
    return _json(signal_json(signal) | {"grade": grade_json(grade) if grade else None})


async def list_grades(request: web.Request) -> web.Response:
    ctx = request.config_dict[CTX]
    query = _query(request, {"limit", "cursor"})
    limit = _limit(query)
    cursor = _cursor(query, "grades", 2)
    before = (_cursor_time(cursor[0]), cursor[1]) if cursor else None
    rows = await ctx.repos.grades.list(limit=limit + 1, before=before)
    return _json(
        _page(
            rows,
            limit,
            "grades",
            lambda pair: [pair[1].graded_at.isoformat(), pair[1].signal_id],
            lambda pair: {"signal": signal_json(pair[0]), "grade": grade_json(pair[1])},
        )
    )


async def clv_summary(request: web.Request) -> web.Response:
    ctx = request.config_dict[CTX]
    _query(request, set())
    return _json((await signal_service.audit(ctx)).as_dict())


# ---------------------------------------------------------------------- usage


def usage_json(key: ApiKey, limits: PlanLimits, report: UsageReport, rate: RateDecision) -> dict[str, Any]:
    """`GET /v1/usage`: counts include the request being answered (it is counted once it is sent)."""
    month = report.month + 1
    remaining = None if limits.monthly_soft_limit <= 0 else max(0, limits.monthly_soft_limit - month)
    return {
        "key": {"id": key.id, "owner": key.owner, "plan": key.plan},
        "plan": {
            "plan": limits.plan,
            "label": limits.label,
            "requests_per_minute": limits.requests_per_minute,
            "webhooks": limits.webhooks,
            "monthly_soft_limit": limits.monthly_soft_limit,
            "commercial_use": limits.commercial_use,
            "dedicated_queue": limits.dedicated_queue,
        },
        "usage": {
            "minute": report.minute,
            "this_minute": {"requests": report.minute_requests + 1, "errors": report.minute_errors},
            "today": report.today + 1,
            "this_month": month,
            "monthly_soft_limit": limits.monthly_soft_limit,
            "monthly_remaining": remaining,
            "over_soft_limit": 0 < limits.monthly_soft_limit < month,
        },
        "rate_limit": {"limit": rate.limit, "remaining": rate.remaining, "reset": rate.reset},
        "anomalies": [{"kind": a.kind, "detail": a.detail, "at": iso(a.at)} for a in report.anomalies],
    }


async def usage(request: web.Request) -> web.Response:
    ctx = request.config_dict[CTX]
    _query(request, set())
    key, limits = request[KEY], request[LIMITS]
    report = await ctx.usage.report(key, limits, ctx.clock())
    return _json(usage_json(key, limits, report, request[RATE]))


# ---------------------------------------------------------------------- webhooks


def endpoint_json(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """A webhook endpoint without its secrets (they are shown once, at creation or rotation)."""
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": list(endpoint.events),
        "created_at": iso(endpoint.created_at),
        "disabled_at": iso(endpoint.disabled_at),
        "disabled_reason": endpoint.disabled_reason,
        "previous_secret_expires_at": iso(endpoint.old_secret_until),
    }


def _webhooks(request: web.Request) -> WebhookPort:
    port = request.config_dict[CTX].webhooks
    if port is None:
        raise web.HTTPServiceUnavailable(reason="Webhooks are not available on this server.")
    return port


async def list_webhooks(request: web.Request) -> web.Response:
    _query(request, set())
    endpoints = await _webhooks(request).list(request[KEY])
    return _json({"data": [endpoint_json(e) for e in endpoints]})


async def create_webhook(request: web.Request) -> web.Response:
    _query(request, set())
    port = _webhooks(request)
    try:
        body = await request.json()
    except ValueError:
        raise InvalidParameter(
            "body", 'Send a JSON object: {"url": "https://…", "events": ["signal.created"]}.'
        ) from None
    if not isinstance(body, dict):
        raise InvalidParameter("body", "The body must be a JSON object.")
    unknown = sorted(set(body) - {"url", "events"})
    if unknown:
        raise InvalidParameter(unknown[0], f"Unknown field “{unknown[0]}”; send url and events.")
    url, events = body.get("url"), body.get("events")
    if not isinstance(url, str) or not url.strip():
        raise InvalidParameter("url", "“url” must be the endpoint's https:// URL.")
    if events is not None and (not isinstance(events, list) or not all(isinstance(e, str) for e in events)):
        raise InvalidParameter("events", "“events” must be a list of event type names.")
    endpoint, secret = await port.create(request[KEY], url.strip(), events, request.config_dict[CTX].clock())
    return _json(endpoint_json(endpoint) | {"secret": secret}, status=201)


async def delete_webhook(request: web.Request) -> web.Response:
    _query(request, set())
    await _webhooks(request).delete(request[KEY], request.match_info["endpoint_id"])
    return web.Response(status=204)


async def test_webhook(request: web.Request) -> web.Response:
    _query(request, set())
    endpoint_id = request.match_info["endpoint_id"]
    delivery = await _webhooks(request).send_test(request[KEY], endpoint_id, request.config_dict[CTX].clock())
    return _json({"endpoint_id": endpoint_id, "delivery_id": getattr(delivery, "id", None)})


async def rotate_webhook_secret(request: web.Request) -> web.Response:
    _query(request, set())
    endpoint_id = request.match_info["endpoint_id"]
    secret = await _webhooks(request).rotate_secret(request[KEY], endpoint_id, request.config_dict[CTX].clock())
    return _json({"endpoint_id": endpoint_id, "secret": secret})


# ---------------------------------------------------------------------- the document and wiring


async def openapi(request: web.Request) -> web.Response:
    return _json(request.config_dict[DOC])


#: (method, path under /v1, handler): the API's whole surface, documented path by path in api.openapi.
ROUTES: tuple[tuple[str, str, Callable[[web.Request], Any]], ...] = (
    ("GET", "/games", list_games),
    ("GET", "/games/{game_id}", get_game),
    ("GET", "/games/{game_id}/odds", game_odds),
    ("GET", "/games/{game_id}/odds/history", odds_history),
    ("GET", "/games/{game_id}/consensus", consensus_history),
    ("GET", "/signals", list_signals),
    ("GET", "/signals/{signal_id}", get_signal),
    ("GET", "/clv/grades", list_grades),
    ("GET", "/clv/summary", clv_summary),
    ("GET", "/usage", usage),
    ("GET", "/webhooks", list_webhooks),
    ("POST", "/webhooks", create_webhook),
    ("DELETE", "/webhooks/{endpoint_id}", delete_webhook),
    ("POST", "/webhooks/{endpoint_id}/test", test_webhook),
    ("POST", "/webhooks/{endpoint_id}/rotate-secret", rotate_webhook_secret),
    ("GET", "/openapi.json", openapi),
)


def build_api(target: web.Application | WebServer, ctx: ApiContext) -> web.Application:
    """Mount the API at `/v1` on the server's application (before it starts) and return the sub-app."""
    app = target.app if isinstance(target, WebServer) else target
    api = web.Application(middlewares=[_api_middleware])
    api[CTX] = ctx
    api[DOC] = build_openapi(ctx.settings)
    for method, path, handler in ROUTES:
        api.router.add_route(method, path, handler)
    app.add_subapp(PREFIX, api)
    return api
