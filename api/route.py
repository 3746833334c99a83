"""The route class of every `/v1` operation, and what each declares about its answers in the document.

`ApiRoute` is FastAPI's documented way to wrap a route's handler (a custom `APIRoute` whose
`get_route_handler` wraps the framework's): every refusal becomes the API's error body (`api.errors`; the
framework's validation a 400 naming the parameter, never a 422), anything unexpected a logged 500 without
details, and every authenticated answer — errors included — is settled by its caller (`api.deps.Call.settle`:
usage, `X-Usage-Warning`, `X-RateLimit-*`, the response cache). Not a `BaseHTTPMiddleware`, which would cost
every request a task and a streamed body.

An operation marked `@cached` (its answers depend only on its parameters, the audience and the data version)
is first looked up in the response cache as the route is entered (`ApiRoute.handle`): the caller
(`api.deps.caller`, the operation's own dependency) and the operation's own query model (pydantic, as the
framework would use it) are called directly, and a hit is answered with the stored bytes before the framework
resolves the operation at all — the API's hot path, held near a bare handler's speed (`bench/api.py`;
resolving an operation costs about as much as the rest of a hit). Anything else (a miss, a parameter the model
refuses) takes the framework's whole path, which gives the answer or the refusal; the caller is not asked
twice (it keeps its `Call` in the request's scope).

`responses(...)` is what an operation declares through `responses=`: the `Error` body of each refusal it may
give, and the headers of each answer, so the generated document states them per operation."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from access import UserError
from api.body import BODY_MAX
from api.deps import CALL, caller
from api.errors import http_error, internal_error, invalid_parameter, user_error
from api.schemas import Error

__all__ = ["PREFIX", "ApiRoute", "cached", "responses"]

log = logging.getLogger(__name__)

#: Every operation's path starts here.
PREFIX = "/v1"
#: Query strings each cached operation remembers read (the shorter ones only): at most ~0.5 MB an operation.
MEMO_QUERIES = 256
MEMO_QUERY_BYTES = 1024


Handler = Callable[..., Coroutine[Any, Any, Any]]


def cached(handler: Handler) -> Handler:
    """Mark an operation whose answers depend only on its parameters, the audience and the data version."""
    handler.cached = True  # type: ignore[attr-defined]
    return handler


def query_model(dependant: Dependant) -> type[BaseModel] | None:
    """The operation's query model (`Annotated[Model, Query()]`), if it has one."""
    for param in dependant.query_params:
        model = param.field_info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            return model
    return None


def query_fields(dependant: Dependant) -> dict[str, FieldInfo]:
    """The query parameters an operation declares (its query model's fields), by name: what a validation
    error's words are drawn from."""
    fields: dict[str, FieldInfo] = {}
    for sub in dependant.dependencies:
        fields |= query_fields(sub)
    for param in dependant.query_params:
        model = param.field_info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            fields |= model.model_fields
        else:
            fields[param.alias] = param.field_info
    return fields


def depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(sub.call is call or depends_on(sub, call) for sub in dependant.dependencies)


Produce = Callable[[Request], Coroutine[Any, Any, Response | None]]


async def settled(request: Request, produce: Produce, fields: dict[str, FieldInfo]) -> Response | None:
    """`produce`'s answer with every refusal in the API's words, settled by the request's caller (None when
    `produce` has no answer: nothing is settled then)."""
    try:
        response = await produce(request)
    except RequestValidationError as exc:
        response = user_error(invalid_parameter(exc.errors(), fields))
    except UserError as exc:
        response = user_error(exc)
    except HTTPException as exc:
        response = http_error(exc)
    except Exception:
        log.exception("API error on %s %s", request.method, request.url.path)
        response = internal_error()
    if response is None:
        return None
    call = request.scope.get(CALL)
    if call is not None:
        await call.settle(response)
    return response


class ApiRoute(APIRoute):
    """A `/v1` operation: the framework's handler wrapped (`settled`), and a cached operation's hits answered
    as the route is entered (`handle`). What the wrapping needs of the operation — its query fields for the
    refusals' words, its query model, the remembered query strings — is read once, as the handler is built."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        if not depends_on(self.dependant, caller):  # the key is checked first, on every operation
            raise TypeError(f"{self.path}: an API operation depends on the caller (`call: Caller`)")
        handle = super().get_route_handler()
        self.fields = query_fields(self.dependant)
        self.cache_model = query_model(self.dependant) if getattr(self.endpoint, "cached", False) else None
        # A query string read once is remembered (a pure function of its bytes: the same model, the same
        # answer), so the hot path's usual queries cost no parsing; a refused one is not remembered.
        self.parsed = functools.lru_cache(maxsize=MEMO_QUERIES)(self.parse)

        async def answer(request: Request) -> Response:
            response = await settled(request, handle, self.fields)
            assert response is not None  # noqa: S101 - the framework's handler always answers
            return response

        return answer

    async def from_cache(self, request: Request) -> Response | None:
        """The stored answer to this request, if there is one (else None: the framework's path answers)."""
        call = await caller(request)  # a repeated parameter is refused here already
        raw: bytes = request.scope["query_string"]
        try:
            query = self.parsed(raw) if len(raw) <= MEMO_QUERY_BYTES else self.parse(raw)
        except ValidationError:
            return None  # the framework's path refuses it, in its words
        return call.cached(query, **request.path_params)

    def parse(self, raw: bytes) -> BaseModel:
        """The operation's parameters, read by its own query model from the query string."""
        assert self.cache_model is not None  # noqa: S101 - only for cached operations
        return self.cache_model.model_validate(dict(QueryParams(raw)))

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A cached operation's hit is answered here, before the framework resolves the operation."""
        if self.cache_model is not None and scope["type"] == "http" and scope["method"] in self.methods:
            request = Request(scope, receive, send)
            response = await settled(request, self.from_cache, self.fields)
            if response is not None:
                await response(scope, receive, send)
                return
        await super().handle(scope, receive, send)


# ---------------------------------------------------------------------- what the document says of each answer

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


def _header(description: str, kind: str = "integer") -> dict[str, Any]:
    return {"description": description, "schema": {"type": kind}}


RATE_HEADERS = {
    "X-RateLimit-Limit": _header("Requests allowed per minute for this key."),
    "X-RateLimit-Remaining": _header("Requests left in the current minute."),
    "X-RateLimit-Reset": _header("Seconds until the current minute's window resets."),
}
ANSWER_HEADERS = {
    **RATE_HEADERS,
    "X-Usage-Warning": _header(
        "Present once this month's requests exceed the plan's soft limit; requests still succeed.", "string"
    ),
}
HEADERS_OF = {
    401: {"WWW-Authenticate": _header("How to authenticate: `Bearer`.", "string")},
    429: {**RATE_HEADERS, "Retry-After": _header("Seconds to wait before retrying.")},
}


def responses(*errors: int, ok: int = 200) -> dict[int | str, dict[str, Any]]:
    """The answers an operation may give beyond its success: each refusal's `Error` body and description,
    and the headers of each (every operation may also answer 401, 429 and 500)."""
    declared: dict[int | str, dict[str, Any]] = {ok: {"headers": ANSWER_HEADERS}}
    for status in sorted({*errors, 401, 429, 500}):
        declared[status] = {
            "model": Error,
            "description": ERROR_TEXTS[status],
            "headers": HEADERS_OF.get(status, ANSWER_HEADERS),
        }
    return declared
