"""The API's error answers: one JSON body (`api.schemas.Error`) for every refusal under `/v1`, and for the
other machines' paths (`/stripe`, `/healthz`): `{"error": {"code", "message", "parameter"?}}` with a stable
code. Partners depend on this shape, these codes and these words (see `docs/api-changelog.md`).

The framework's own validation (the query models of `api.params`) is answered here too: 400 naming the
parameter in the same one-line words the API has always used (`invalid_parameter`), never FastAPI's 422
with its nested details."""

from __future__ import annotations

import enum
import re
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from annotated_types import Ge, Le, MaxLen
from pydantic.fields import FieldInfo
from starlette.exceptions import HTTPException
from starlette.responses import Response

from access import UserError
from api.schemas import Error, ErrorBody

JSON = "application/json"

#: Codes for the framework's own refusals (no route, wrong method, body too large…).
HTTP_CODES = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    503: "unavailable",
}
HTTP_MESSAGES = {
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    503: "Service Unavailable",
}


class ApiRefusal(UserError):
    """A refusal with a fixed status and code, and the headers that tell the client what to do next."""

    code = "invalid_request"

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers = headers


class Unauthorized(ApiRefusal):
    status = 401
    code = "unauthorized"


class RateLimited(ApiRefusal):
    status = 429
    code = "rate_limited"


class PlanUnavailable(ApiRefusal):
    status = 403
    code = "plan_unavailable"


class Unavailable(ApiRefusal):
    status = 503
    code = "unavailable"


class InvalidParameter(UserError):
    """A query, path or body parameter the client must fix; the answer names it."""

    status = 400
    code = "invalid_parameter"

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class BodyTooLarge(UserError):
    """A request body over the API's cap (`api.body.BODY_MAX`)."""

    status = 413
    code = "payload_too_large"


def json_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type=JSON, headers=headers)


def error_response(
    status: int, code: str, message: str, *, parameter: str | None = None, headers: dict[str, str] | None = None
) -> Response:
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


def user_error(exc: UserError, headers: dict[str, str] | None = None) -> Response:
    return error_response(
        exc.status,
        code_for(exc),
        str(exc),
        parameter=getattr(exc, "parameter", None),
        headers=headers or getattr(exc, "headers", None),
    )


def http_error(exc: HTTPException) -> Response:
    """A framework refusal (404, 405, 413…) as the API's error body, keeping what it tells the client to do
    next (`Allow`, `Retry-After`)."""
    status = exc.status_code
    detail: Any = exc.detail
    message = detail if isinstance(detail, str) and detail else HTTP_MESSAGES.get(status, "Request refused")
    keep = {k: v for k, v in (exc.headers or {}).items() if k.lower() in ("allow", "retry-after")}
    return error_response(status, HTTP_CODES.get(status, "http_error"), message, headers=keep or None)


def internal_error() -> Response:
    return error_response(500, "internal_error", "Unexpected server error; it has been logged.")


# ---------------------------------------------------------------------- the framework's validation, in our words


def invalid_parameter(errors: Sequence[Mapping[str, Any]], fields: Mapping[str, FieldInfo]) -> InvalidParameter:
    """The first of a request's validation errors as the API's 400: the parameter it names and one line saying
    what the parameter takes (its bounds, choices or length, read from its declared `fields`). Errors raised
    by our own types (`api.params`: times, days, cursors) already carry their words (`invalid_parameter`)."""
    first = errors[0] if errors else {}
    loc = [str(part) for part in first.get("loc", ()) if not isinstance(part, int)]
    named = (first.get("ctx") or {}).get("parameter")  # a rule over several parameters names the one at fault
    name = str(named or (loc[1] if len(loc) > 1 else loc[0] if loc else "request"))[:100]
    kind = first.get("type", "")
    field = fields.get(name)
    if kind == "invalid_parameter":
        return InvalidParameter(name, str(first.get("msg", "")))
    if kind == "extra_forbidden" or field is None:
        allowed = ", ".join(sorted(fields)) or "none"
        return InvalidParameter(name, f"Unknown parameter “{name}”; allowed: {allowed}.")
    low, high = _bound(field, Ge, "ge"), _bound(field, Le, "le")
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return InvalidParameter(name, f"“{name}” must be an integer from {low} to {high}.")
    if kind in ("greater_than_equal", "less_than_equal"):
        return InvalidParameter(name, f"“{name}” must be from {low} to {high}.")
    if kind in ("enum", "literal_error"):
        return InvalidParameter(name, f"“{name}” must be one of {', '.join(_choices(field.annotation))}.")
    if kind == "string_too_long":
        return InvalidParameter(name, f"“{name}” is at most {_bound(field, MaxLen, 'max_length')} characters.")
    return InvalidParameter(name, f"“{name}”: {str(first.get('msg', 'invalid')).rstrip('.')}.")


def _metadata(field: FieldInfo) -> list[Any]:
    """Every constraint a field declares: on the field, and inside its annotation (an optional's member,
    an `Annotated` type's own `Field`)."""
    found: list[Any] = list(field.metadata)
    stack = [field.annotation]
    while stack:
        annotation = stack.pop()
        if typing.get_origin(annotation) is typing.Annotated:
            inner, *extra = typing.get_args(annotation)
            stack.append(inner)
            for item in extra:
                found.extend(item.metadata if isinstance(item, FieldInfo) else [item])
        else:
            stack.extend(typing.get_args(annotation))
    return found


def _bound(field: FieldInfo, kind: type, attribute: str) -> Any:
    return next((getattr(item, attribute) for item in _metadata(field) if isinstance(item, kind)), None)


def _choices(annotation: Any) -> list[str]:
    """The values a field takes: an enum's or a literal's (inside an optional or `Annotated`)."""
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(member.value) for member in annotation]
    if typing.get_origin(annotation) is typing.Literal:
        return [str(value) for value in typing.get_args(annotation)]
    if typing.get_origin(annotation) is typing.Annotated:
        return _choices(typing.get_args(annotation)[0])
    return [choice for arg in typing.get_args(annotation) if arg is not type(None) for choice in _choices(arg)]
