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
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from aiohttp import web

from access import ApiAudience, PlanLimits, UserError
from api.schemas import PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, Error, ErrorBody, Model
from domain.api import ApiKey
from domain.jsonbounds import JsonRefused, json_depth_exceeds, loads_bounded

if TYPE_CHECKING:
    from api.ratelimit import RateDecision
    from api.server import ApiContext
    from config.settings import Settings

__all__ = [
    "BODY_MAX",
    "BodyTooLarge",
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
    "canonical",
    "cursor_time",
    "encode_cursor",
    "error_response",
    "json_response",
    "read_json",
]

JSON = "application/json"


class InvalidParameter(UserError):
    """A query, path or body parameter the client must fix; the answer names it."""

    status = 400
    code = "invalid_parameter"

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class BodyTooLarge(UserError):
    """A request body over the API's cap (`BODY_MAX`)."""

    status = 413
    code = "payload_too_large"


#: The API's request bodies are small JSON objects (a webhook endpoint: a URL and a few event names).
BODY_MAX = 64 * 1024


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
        # Not `int(text)`: it also takes " 5", "5_0" and "٥" (any Unicode digit), none of which the
        # schema's `integer` allows; the length bound keeps a huge number from costing a conversion.
        if not _INTEGER.fullmatch(text):
            raise InvalidParameter(
                self.name, f"“{self.name}” must be an integer from {self.low} to {self.high}."
            ) from None
        value = int(text)
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


_INTEGER = re.compile(r"-?[0-9]{1,18}")
#: RFC 3339 `date-time` (what the schema's `format: date-time` means): ASCII digits, a `T`, seconds, an
#: optional fraction and a required zone. `datetime.fromisoformat` alone takes much more (no zone, week
#: dates, spaces, any Unicode digit), so the server would accept what the document calls invalid.
_INSTANT = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)


class _Unzoned(ValueError):
    """A time with no zone: refused rather than guessed (UTC? the server's local time?)."""


class _OutOfRange(ValueError):
    """A well-formed time that no datetime holds once converted to UTC."""


def parse_instant(text: str) -> datetime:
    """An RFC 3339 time as an aware UTC datetime. ValueError for anything else: a malformed or
    zone-less text (`_Unzoned`), an impossible date, or an instant outside what a datetime holds once
    converted to UTC (`9999-12-31T23:59:59-05:00`), so no caller ever meets an OverflowError."""
    match = _INSTANT.fullmatch(text)
    if match is None:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?", text):
            raise _Unzoned(text)
        raise ValueError(text)
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    if zulu:
        zone = UTC
    else:
        if int(off_h) > 23 or int(off_m) > 59:
            raise ValueError(text)
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        zone = timezone(-offset if sign == "-" else offset)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    at = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=zone)
    try:
        return at.astimezone(UTC)
    except OverflowError:
        raise _OutOfRange(text) from None


@dataclass(frozen=True, slots=True)
class TimeParam(Param):
    def schema(self, settings: Settings) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}

    def parse(self, text: str, settings: Settings) -> Any:
        try:
            return parse_instant(text)
        except _Unzoned:
            raise InvalidParameter(
                self.name, f"“{self.name}” needs a zone (Z or an offset), e.g. 2026-08-05T18:00:00Z."
            ) from None
        except _OutOfRange:
            raise InvalidParameter(self.name, f"“{self.name}” is out of range.") from None
        except ValueError:
            raise InvalidParameter(
                self.name, f"“{self.name}” must be an RFC 3339 time, e.g. 2026-08-05T18:00:00Z."
            ) from None


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

    def schema(self, settings: Settings) -> dict[str, Any]:
        # What `encode_cursor` writes: unpadded base64url, never empty. The server refuses exactly what
        # falls outside this (an empty `cursor=` is an error, not "no cursor": omit it for the first page).
        return {"type": "string", "minLength": 1, "maxLength": CURSOR_MAX, "pattern": "^[A-Za-z0-9_-]+$"}

    def parse(self, text: str, settings: Settings) -> Any:
        if not 1 <= len(text) <= CURSOR_MAX or not _CURSOR.fullmatch(text):
            raise InvalidParameter("cursor", "“cursor” is not a cursor of this list; pass `next_cursor` unchanged.")
        try:
            data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            values = data["v"] if data["k"] == self.kind else None
        except (ValueError, binascii.Error, KeyError, TypeError, RecursionError):
            values = None
        if not isinstance(values, list) or len(values) != self.size or not all(isinstance(v, str) for v in values):
            raise InvalidParameter("cursor", "“cursor” is not a cursor of this list; pass `next_cursor` unchanged.")
        return values


CURSOR_MAX = 1024
_CURSOR = re.compile(r"[A-Za-z0-9_-]+")


def encode_cursor(kind: str, values: list[str]) -> str:
    raw = json.dumps({"k": kind, "v": values}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_time(text: str) -> datetime:
    """The time a cursor carries. Cursors are written with an offset; one without (hand-made or damaged)
    is refused, never read in some zone the server happens to run in."""
    try:
        return parse_instant(text)
    except ValueError:
        raise InvalidParameter("cursor", "“cursor” is damaged; pass `next_cursor` unchanged.") from None


async def read_json(request: web.Request, example: str, max_bytes: int = BODY_MAX) -> Any:
    """The request's JSON body, within bounds: at most `max_bytes` read (the sub-application's
    `client_max_size` does not apply: aiohttp takes the limit of the application that made the request,
    the server's), and the nesting depth checked on what was read before anything is parsed, so a body
    nested 100,000 deep is a 400 after one bounded read, never a deep recursion."""
    data = b""
    while len(data) <= max_bytes:
        chunk = await request.content.read(max_bytes + 1 - len(data))
        if not chunk:
            break
        data += chunk
    if json_depth_exceeds(data):
        raise InvalidParameter("body", f"The body is nested too deeply; send a JSON object: {example}.")
    if len(data) > max_bytes:
        raise BodyTooLarge(f"The body is larger than {max_bytes} bytes.")
    try:
        return loads_bounded(data)
    except JsonRefused:
        raise InvalidParameter("body", f"Send a JSON object: {example}.") from None


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


def canonical(params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Parsed parameters as one hashable value that does not depend on how the query was spelled: sorted
    by name, lists (a cursor's values) as tuples, values as parsed (an instant in UTC, whatever offset it
    was written with). The response cache keys on it."""
    return tuple(sorted(((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items()), key=_name))


def _name(item: tuple[str, Any]) -> str:
    return item[0]


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
    #: Answers depend only on (parsed parameters, audience, data version): served from the response cache.
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
