"""The pieces every route module uses: declared parameters (parsed here, documented by `api.openapi` from
the same objects), the operation table entry, JSON answers and errors, and keyset cursors.

A route is an `Operation`: method, path, the parameters it takes, the model it answers with, the errors
it may give, and a thin handler `async (call) -> Model`. The server parses the declared parameters
(an unknown, repeated or malformed one is a 400 naming it) before the handler runs, so a handler only
calls one service and builds its model.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from aiohttp import web

from access import ApiAudience, PlanLimits, UserError
from api.schemas import PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, Error, ErrorBody, Model
from domain.api import ApiKey

if TYPE_CHECKING:
    from api.ratelimit import RateDecision
    from api.server import ApiContext
    from config.settings import Settings

__all__ = [
    "Call",
    "ChoiceParam",
    "CursorParam",
    "DateParam",
    "EnumParam",
    "IntParam",
    "InvalidParameter",
    "Operation",
    "Param",
    "PathParam",
    "StrParam",
    "TimeParam",
    "cursor_time",
    "encode_cursor",
    "error_response",
    "json_response",
]

JSON = "application/json"


class InvalidParameter(UserError):
    """A query, path or body parameter the client must fix; the answer names it."""

    status = 400
    code = "invalid_parameter"

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


# ---------------------------------------------------------------------- answers


def json_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=body, status=status, content_type=JSON, headers=headers)


def error_response(
    status: int, code: str, message: str, *, parameter: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    body = Error(error=ErrorBody(code=code, message=message, parameter=parameter)).body()
    return json_response(body, status, headers)


def code_for(exc: UserError) -> str:
    """A stable code: the class's own `code`, else its name in snake case (PlanLimitReached →
    plan_limit_reached), so a new UserError subclass in a service gets a meaningful code for free."""
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code:
        return code
    if type(exc) is UserError:
        return "invalid_request"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


# ---------------------------------------------------------------------- parameters


@dataclass(frozen=True, slots=True)
class Param:
    """A query parameter: its name, description, how it parses and its JSON schema."""

    name: str
    description: str

    where = "query"
    required = False

    def schema(self, settings: Settings) -> dict[str, Any]:
        return {"type": "string"}

    def parse(self, text: str, settings: Settings) -> Any:
        return text

    def default(self) -> Any:
        return None


@dataclass(frozen=True, slots=True)
class StrParam(Param):
    max_length: int = 200

    def schema(self, settings: Settings) -> dict[str, Any]:
        return {"type": "string", "maxLength": self.max_length}

    def parse(self, text: str, settings: Settings) -> Any:
        if len(text) > self.max_length:
            raise InvalidParameter(self.name, f"“{self.name}” is at most {self.max_length} characters.")
        return text


@dataclass(frozen=True, slots=True)
class PathParam(StrParam):
    where = "path"
    required = True

    def schema(self, settings: Settings) -> dict[str, Any]:
        return {"type": "string"}


@dataclass(frozen=True, slots=True)
class IntParam(Param):
    low: int = 0
    high: int = 0
    fallback: int | None = None

    def schema(self, settings: Settings) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "integer", "minimum": self.low, "maximum": self.high}
        if self.fallback is not None:
            out["default"] = self.fallback
        return out

    def parse(self, text: str, settings: Settings) -> Any:
        try:
            value = int(text)
        except ValueError:
            raise InvalidParameter(
                self.name, f"“{self.name}” must be an integer from {self.low} to {self.high}."
            ) from None
        if not self.low <= value <= self.high:
            raise InvalidParameter(self.name, f"“{self.name}” must be from {self.low} to {self.high}.")
        return value

    def default(self) -> Any:
        return self.fallback


@dataclass(frozen=True, slots=True)
class EnumParam(Param):
    kind: type[StrEnum] = StrEnum

    def schema(self, settings: Settings) -> dict[str, Any]:
        return {"type": "string", "enum": [k.value for k in self.kind]}

    def parse(self, text: str, settings: Settings) -> Any:
        try:
            return self.kind(text)
        except ValueError:
            choices = ", ".join(k.value for k in self.kind)
            raise InvalidParameter(self.name, f"“{self.name}” must be one of {choices}.") from None


@dataclass(frozen=True, slots=True)
class ChoiceParam(Param):
    """One of a list, fixed or taken from the deployment's settings (the presets)."""

    choices: Sequence[str] | Callable[[Settings], Sequence[str]] = ()

    def options(self, settings: Settings) -> list[str]:
        return list(self.choices(settings) if callable(self.choices) else self.choices)

    def schema(self, settings: Settings) -> dict[str, Any]:
        return {"type": "string", "enum": self.options(settings)}

    def parse(self, text: str, settings: Settings) -> Any:
        options = self.options(settings)
        if text not in options:
            raise InvalidParameter(self.name, f"“{self.name}” must be one of {', '.join(options)}.")
        return text


@dataclass(frozen=True, slots=True)
class TimeParam(Param):
    def schema(self, settings: Settings) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}

    def parse(self, text: str, settings: Settings) -> Any:
        try:
            at = datetime.fromisoformat(text.strip())
        except ValueError:
            raise InvalidParameter(
                self.name, f"“{self.name}” must be an ISO-8601 time, e.g. 2026-08-05T18:00:00Z."
            ) from None
        try:
            return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        except (OverflowError, ValueError):
            raise InvalidParameter(self.name, f"“{self.name}” is out of range.") from None


@dataclass(frozen=True, slots=True)
class DateParam(Param):
    def schema(self, settings: Settings) -> dict[str, Any]:
        return {"type": "string", "format": "date"}

    def parse(self, text: str, settings: Settings) -> Any:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise InvalidParameter(self.name, f"“{self.name}” must be a UTC day, YYYY-MM-DD.") from None


@dataclass(frozen=True, slots=True)
class CursorParam(Param):
    """The opaque keyset cursor of one list (`kind`), carrying `size` strings."""

    kind: str = ""
    size: int = 1

    def parse(self, text: str, settings: Settings) -> Any:
        try:
            data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            values = data["v"] if data["k"] == self.kind else None
        except (ValueError, binascii.Error, KeyError, TypeError, RecursionError):
            values = None
        if not isinstance(values, list) or len(values) != self.size or not all(isinstance(v, str) for v in values):
            raise InvalidParameter("cursor", "“cursor” is not a cursor of this list; pass `next_cursor` unchanged.")
        return values


def encode_cursor(kind: str, values: list[str]) -> str:
    raw = json.dumps({"k": kind, "v": values}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_time(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
        return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidParameter("cursor", "“cursor” is damaged; pass `next_cursor` unchanged.") from None


LIMIT = IntParam("limit", "Page size.", low=1, high=PAGE_LIMIT_MAX, fallback=PAGE_LIMIT_DEFAULT)


def parse_query(query: Any, params: Sequence[Param], settings: Settings) -> dict[str, Any]:
    """The declared query parameters, parsed; an unknown or repeated one is refused, so a typo
    (`min_scor=90`) is an error rather than a silently unfiltered answer."""
    declared = {p.name: p for p in params if p.where == "query"}
    out: dict[str, Any] = {}
    seen: set[str] = set()
    for name, text in query.items():
        param = declared.get(name)
        if param is None:
            allowed = ", ".join(sorted(declared)) or "none"
            raise InvalidParameter(name[:100], f"Unknown parameter “{name[:100]}”; allowed: {allowed}.")
        if name in seen:
            raise InvalidParameter(name, f"Give “{name}” once.")
        seen.add(name)
        out[name] = param.parse(text, settings)
    for name, param in declared.items():
        if name not in out:
            out[name] = param.default()
    return out


# ---------------------------------------------------------------------- operations


@dataclass(slots=True)
class Call:
    """One authenticated request, parsed: what a handler gets."""

    request: web.Request
    ctx: ApiContext
    params: dict[str, Any]
    key: ApiKey
    limits: PlanLimits
    audience: ApiAudience
    rate: RateDecision
    now: datetime

    def path(self, name: str) -> str:
        return self.request.match_info[name]


Handler = Callable[[Call], Awaitable[Model | web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Operation:
    """One route of the API and everything the document says about it."""

    method: str
    path: str  # under /v1
    handler: Handler
    operation_id: str
    summary: str
    response: type[Model] | None
    tag: str
    params: tuple[Param, ...] = ()
    errors: tuple[int, ...] = ()
    status: int = 200
    description: str = ""
    body: type[Model] | None = None
    #: Answers depend only on (path, query, audience, data version): served from the response cache.
    cached: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def page(
    model: type[Model],
    items: Sequence[Any],
    limit: int,
    kind: str,
    sort_key: Callable[[Any], list[str]],
    shape: Callable[[Any], Any],
) -> Model:
    """One page from up to `limit + 1` rows: the extra row only tells that another page exists."""
    more = len(items) > limit
    shown = items[:limit]
    cursor = encode_cursor(kind, sort_key(shown[-1])) if more and shown else None
    return model(data=[shape(item) for item in shown], next_cursor=cursor)
