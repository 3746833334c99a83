"""The one ASGI app (FastAPI): the partner API at `/v1`, Stripe's endpoint, the dashboard, the documentation
portal and `/healthz`, served by uvicorn (`app.web`).

The wiring point (`app.bootstrap.build_web`) makes the app with `root_app()`, has each surface add its routes —
`api.install` (the partner API and its generated contract), `api.portal` (the documentation portal),
`web.app.install_web` (the dashboard, which also renders the error pages of its paths), `billing.webhook`
(Stripe) — and closes it with `finish()`. What every answer shares is here, once:

- security headers on every answer (`web.security.SecurityHeaders`);
- a cap on request bodies (`BodyLimit`: 413 before a handler reads past `BODY_LIMIT`);
- errors: a refusal under a machine's path (`/v1`, `/stripe`, `/healthz`) is the API's JSON error body; any
  other is the dashboard's error page (or the JSON body when the dashboard is off); anything unexpected is
  logged once with its traceback and answered 500 without details (`CatchAll`) — never a traceback to a client;
- start and stop hooks (`Lifespan`): what a surface runs while the app serves (the API's usage flusher),
  and drain hooks: what must end as the server begins to shut down (the dashboard's live streams).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from access import UserError
from api import errors as api_errors
from web.security import SecurityHeaders, machine_path

log = logging.getLogger(__name__)

#: The largest request body any route takes (Stripe's events are the largest; the API caps its own lower).
BODY_LIMIT = 1024 * 1024


class ErrorPages(Protocol):
    """The dashboard's error pages (`web.errors`): a refusal on one of its paths, as a page for a member."""

    async def __call__(self, request: Request, status: int, message: str, headers: dict[str, str]) -> Response: ...

    async def user_error(self, request: Request, exc: UserError) -> Response: ...


class Lifespan:
    """Start and stop hooks run by the app's lifespan (uvicorn runs it once per serving process), and drain
    hooks run by the server as it begins to shut down (`app.web`): uvicorn runs the lifespan's shutdown only
    after the open requests have finished or their grace ran out, too late for what never finishes by
    itself, such as a live stream."""

    def __init__(self) -> None:
        self.starting: list[Callable[[], Awaitable[Any]]] = []
        self.stopping: list[Callable[[], Awaitable[Any]]] = []
        self.draining: list[Callable[[], Any]] = []

    def on_start(self, hook: Callable[[], Awaitable[Any]]) -> None:
        self.starting.append(hook)

    def on_stop(self, hook: Callable[[], Awaitable[Any]]) -> None:
        self.stopping.append(hook)

    def on_drain(self, hook: Callable[[], Any]) -> None:
        """`hook` (plain or async) runs when the server stops taking requests, before it waits for open ones."""
        self.draining.append(hook)

    async def drain(self) -> None:
        for hook in self.draining:
            try:
                done = hook()
                if inspect.isawaitable(done):
                    await done
            except Exception:  # one failing hook must not keep the others from running
                log.exception("a web server drain hook failed")

    @asynccontextmanager
    async def __call__(self, _: FastAPI) -> AsyncIterator[None]:
        for hook in self.starting:
            await hook()
        try:
            yield
        finally:
            for hook in reversed(self.stopping):
                try:
                    await hook()
                except Exception:  # one failing hook must not keep the others from running
                    log.exception("a web server stop hook failed")


class BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(413, f"The request body is larger than {BODY_LIMIT // 1024} KiB.")


class BodyLimit:
    """ASGI middleware: a body over `limit` bytes is refused with 413 — at once when its Content-Length says
    so, else when the handler's read passes the limit (uvicorn, unlike aiohttp, has no cap of its own)."""

    def __init__(self, app: ASGIApp, limit: int = BODY_LIMIT) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                response = await _refusal(Request(scope), BodyTooLarge())
                await response(scope, receive, send)
                return
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge
            return message

        await self.app(scope, bounded, send)


class CatchAll:
    """ASGI middleware inside the framework's outermost error handler: an exception no handler took is
    logged once, with its traceback, and answered 500 in the surface's words (when nothing was sent yet)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watching(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watching)
        except Exception:
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                response = await _unexpected(Request(scope))
                await response(scope, receive, send)


def _pages(request: Request) -> ErrorPages | None:
    """The dashboard's error pages, for a path that is the dashboard's."""
    if machine_path(request.url.path):
        return None
    return getattr(request.app.state, "error_pages", None)


async def _refusal(request: Request, exc: HTTPException) -> Response:
    pages = _pages(request)
    if pages is None:
        return api_errors.http_error(exc)
    detail = exc.detail if isinstance(exc.detail, str) else ""
    return await pages(request, exc.status_code, detail, dict(exc.headers or {}))


async def _user_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UserError)  # noqa: S101 - registered for UserError only
    pages = _pages(request)
    if pages is None:
        return api_errors.user_error(exc)
    return await pages.user_error(request, exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
    return await _refusal(request, exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    """A request the framework's validation refused on a route that does not answer it itself: one line
    naming the field, 400 (never the framework's 422 with its nested details)."""
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for it only
    first = exc.errors()[0] if exc.errors() else {}
    where = str(first.get("loc", ("request",))[-1])[:100]
    return await _refusal(request, HTTPException(400, f"“{where}”: {first.get('msg', 'invalid')}."))


async def _unexpected(request: Request) -> Response:
    pages = _pages(request)
    if pages is None:
        return api_errors.internal_error()
    try:
        return await pages(request, 500, "", {})
    except Exception:  # the page itself failed: still no traceback to the browser
        log.exception("the error page for %s failed", request.url.path)
        return Response("Something went wrong.", status_code=500, media_type="text/plain")


HEALTHY = b'{"status": "ok"}'


async def healthz(_: Request) -> Response:
    """For operators and load balancers: the process serves HTTP (the same bytes as ever)."""
    return Response(HEALTHY, media_type="application/json")


def root_app() -> tuple[FastAPI, Lifespan]:
    """An app with only what every answer shares (`/healthz`, errors) and its lifespan hooks: surfaces add
    their routes, then `finish` adds the middleware."""
    lifespan = Lifespan()
    root = FastAPI(
        title="Stratum",
        docs_url=None,  # the portal is ours (`/docs`, assets served here)
        redoc_url=None,
        openapi_url=None,  # the API serves its own generated document
        lifespan=lifespan,
        redirect_slashes=False,  # `/healthz/` or `/static` is a 404, as ever, not a redirect to another path
    )
    root.state.error_pages = None
    root.add_api_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    root.add_exception_handler(UserError, _user_error)
    root.add_exception_handler(HTTPException, _http_error)
    root.add_exception_handler(RequestValidationError, _validation_error)
    return root, lifespan


def finish(root: FastAPI, *, pages: bool) -> FastAPI:
    """The middleware every answer passes (the last added runs first): security headers outermost, so
    refusals and 500s carry them too; then the body cap; then the catch-all."""
    root.add_middleware(CatchAll)
    root.add_middleware(BodyLimit)
    root.add_middleware(SecurityHeaders, pages=pages)
    return root
