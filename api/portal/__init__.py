"""The documentation portal for partners' developers: `/docs`, the API reference (Swagger UI 5 over the
document the API generates at `/openapi.json`, with its operations and its OpenAPI 3.1 `webhooks`), and
`/docs/getting-started` (`docs/api/getting-started.md`: the same text the repository shows).

Why not FastAPI's own `/docs` (off in `app.asgi.root_app`): it loads Swagger UI from a CDN and starts it with
an inline script, which the pages' Content-Security-Policy refuses (`web.security`: scripts and styles from
this server only, nothing inline). Here every asset is served by us (`static/`; Swagger UI vendored unchanged
from npm, see `static/swagger-ui/README.md`), the initialiser is a file (`static/portal.js`), and
`web.security` treats `/docs` as pages even when the dashboard is off, so the portal always gets that policy.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from services.documents import DOCS, document_html

__all__ = ["GETTING_STARTED", "OPENAPI_URL", "PREFIX", "install_portal"]

PREFIX = "/docs"
#: The document the reference renders (served by the API, `api.install`).
OPENAPI_URL = "/openapi.json"
#: The getting-started page's source, rendered as the repository shows it.
GETTING_STARTED = DOCS / "api" / "getting-started.md"

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")


async def reference(request: Request) -> Response:
    return templates.TemplateResponse(request, "reference.html", {"openapi_url": OPENAPI_URL, "current": "reference"})


async def getting_started(request: Request) -> Response:
    html = document_html(GETTING_STARTED)
    guide = Markup(html) if html is not None else None  # noqa: S704 - markdown-it with raw HTML off escapes it
    return templates.TemplateResponse(request, "guide.html", {"guide": guide, "current": "getting-started"})


def install_portal(root: FastAPI) -> None:
    """The portal's two pages and its assets (`/docs/static/…`), outside the API's document."""
    root.add_route(PREFIX, reference, methods=["GET"], include_in_schema=False)
    root.add_route(f"{PREFIX}/getting-started", getting_started, methods=["GET"], include_in_schema=False)
    root.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="portal-static")
