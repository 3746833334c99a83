"""The API's query parameters as pydantic types: each list's parameters are one `QueryModel` (used as
`Annotated[Model, Query()]`), parsed by the framework and documented from the same declaration.

The models forbid extra keys, so an unknown parameter (`min_scor=90`) is a 400 naming it rather than a
silently unfiltered answer. Where the schema's words are stricter than pydantic's lax reading, the type here
reads exactly what the document says:

- `integer(low, high)`: ASCII digits only (pydantic's `int` also takes " 5", "5_0", "+5" and any Unicode digit);
- `Instant`: RFC 3339 `date-time` with a zone (`parse_instant`; `datetime` parsing takes no zone, week dates…);
- `Day`: a UTC day, `YYYY-MM-DD`;
- `cursor(kind, …)`: the opaque keyset cursor of one list, refused when it is another list's or damaged.

Their refusals carry the API's own words (`invalid_parameter` errors, turned into the 400 body by
`api.errors.invalid_parameter`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, ValidationInfo, WithJsonSchema
from pydantic_core import PydanticCustomError

from api.schemas import PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX

Row = TypeVar("Row")

__all__ = [
    "CURSOR",
    "CURSOR_MAX",
    "Day",
    "Instant",
    "NoQuery",
    "PageQuery",
    "QueryModel",
    "cursor",
    "encode_cursor",
    "integer",
    "page",
    "parse_instant",
    "refuse",
]


def refuse(message: str, **ctx: Any) -> PydanticCustomError:
    """A validation error in the API's words (`ctx` may name the `parameter` at fault)."""
    return PydanticCustomError("invalid_parameter", message.replace("{", "{{").replace("}", "}}"), ctx or None)


# ---------------------------------------------------------------------- integers

_INTEGER = re.compile(r"-?[0-9]{1,18}")


def _ascii_integer(value: Any) -> Any:
    # Not pydantic's lax `int`: the schema's `integer` is ASCII digits, nothing around them; the length bound
    # keeps a huge number from costing a conversion.
    if isinstance(value, str):
        if not _INTEGER.fullmatch(value):
            raise PydanticCustomError("int_parsing", "not an integer")
        return int(value)
    return value


def integer(low: int, high: int) -> Any:
    """An integer from `low` to `high`, in ASCII digits. The bounds sit on the inner `int` (where the schema
    reads them as `minimum`/`maximum`, also inside an optional); the digits are checked before it."""
    return Annotated[Annotated[int, Field(ge=low, le=high)], BeforeValidator(_ascii_integer)]


# ---------------------------------------------------------------------- times and days

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


def _instant(value: Any, info: ValidationInfo) -> datetime:
    name = info.field_name
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    try:
        return parse_instant(value if isinstance(value, str) else "")
    except _Unzoned:
        raise refuse(f"“{name}” needs a zone (Z or an offset), e.g. 2026-08-05T18:00:00Z.") from None
    except _OutOfRange:
        raise refuse(f"“{name}” is out of range.") from None
    except ValueError:
        raise refuse(f"“{name}” must be an RFC 3339 time, e.g. 2026-08-05T18:00:00Z.") from None


#: An instant in RFC 3339 with a zone (Z or an offset), read as UTC.
Instant = Annotated[datetime, PlainValidator(_instant), WithJsonSchema({"type": "string", "format": "date-time"})]


def _day(value: Any, info: ValidationInfo) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(value if isinstance(value, str) else "")
    except ValueError:
        raise refuse(f"“{info.field_name}” must be a UTC day, YYYY-MM-DD.") from None


#: A UTC day.
Day = Annotated[date, PlainValidator(_day), WithJsonSchema({"type": "string", "format": "date"})]


# ---------------------------------------------------------------------- keyset cursors

CURSOR_MAX = 1024
_CURSOR = re.compile(r"[A-Za-z0-9_-]+")
#: What `encode_cursor` writes: unpadded base64url, never empty. The server refuses exactly what falls
#: outside this (an empty `cursor=` is an error, not "no cursor": omit it for the first page).
CURSOR_SCHEMA = {"type": "string", "minLength": 1, "maxLength": CURSOR_MAX, "pattern": "^[A-Za-z0-9_-]+$"}


def encode_cursor(kind: str, values: list[str]) -> str:
    raw = json.dumps({"k": kind, "v": values}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decoded(text: str, kind: str, size: int) -> list[str] | None:
    """The strings a cursor of list `kind` carries, or None for anything else."""
    if not 1 <= len(text) <= CURSOR_MAX or not _CURSOR.fullmatch(text):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        values = data["v"] if data["k"] == kind else None
    except (ValueError, binascii.Error, KeyError, TypeError, RecursionError):
        return None
    if not isinstance(values, list) or len(values) != size or not all(isinstance(v, str) for v in values):
        return None
    return values


#: What every list's `cursor` parameter says.
CURSOR = "Opaque cursor from the previous page's `next_cursor`."


def cursor(kind: str, *parts: Callable[[str], Any], example: list[str]) -> Any:
    """The type of list `kind`'s cursor: it reads to a tuple, one value per part (`parse_instant` for a time,
    `str` for the rest; `example`: such values, for the document). A cursor whose time has no zone
    (hand-made: ours always carry one) is refused, never read in some zone the server happens to run in."""

    def read(value: Any, info: ValidationInfo) -> tuple[Any, ...]:
        name = info.field_name
        values = _decoded(value, kind, len(parts)) if isinstance(value, str) else None
        if values is None:
            raise refuse(f"“{name}” is not a cursor of this list; pass `next_cursor` unchanged.")
        try:
            return tuple(part(text) for part, text in zip(parts, values, strict=True))
        except ValueError:
            raise refuse(f"“{name}” is damaged; pass `next_cursor` unchanged.") from None

    # Annotated as `Any`, not `tuple`: FastAPI reads a sequence-typed query parameter as a list of values.
    schema = {**CURSOR_SCHEMA, "examples": [encode_cursor(kind, example)]}
    return Annotated[Any, PlainValidator(read), WithJsonSchema(schema)]


def page(rows: list[Row], limit: int, kind: str, sort_key: Callable[[Row], list[str]]) -> tuple[list[Row], str | None]:
    """One page from up to `limit + 1` rows (the extra row only tells that another page exists) and the
    cursor of the next page, carrying the last shown row's sort key (None on the last page)."""
    shown = rows[:limit]
    more = len(rows) > limit and bool(shown)
    return shown, encode_cursor(kind, sort_key(shown[-1])) if more else None


# ---------------------------------------------------------------------- the models


class QueryModel(BaseModel):
    """A list's query parameters: unknown ones are refused (the 400 names them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoQuery(QueryModel):
    """An operation without query parameters: any given is refused."""


Limit = integer(1, PAGE_LIMIT_MAX)


class PageQuery(QueryModel):
    limit: Limit = Field(PAGE_LIMIT_DEFAULT, description="Page size.", examples=[PAGE_LIMIT_DEFAULT])
