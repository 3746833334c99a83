"""The API's error answers: one JSON body (`api.schemas.Error`) for every refusal under `/v1`, and for the
other machines' paths (`/stripe`, `/healthz`): `{"error": {"code", "message", "parameter"?}}` with a stable
code. Partners depend on this shape and these codes (see `docs/api-changelog.md`)."""

from __future__ import annotations

import re
from typing import Any

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
        exc.status, code_for(exc), str(exc), parameter=getattr(exc, "parameter", None), headers=headers
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
