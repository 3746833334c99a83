"""The public signal-integrity page (`/integrity`, no sign-in): the audit `/integrity` shows in Discord and
`GET /v1/clv/summary` returns — every class's beat rate with its Wilson interval, its matched null, lift
with its interval, the opposite side, and its tier or "unproven" with the reason — with its chart and the
guide (`docs/signal-integrity.md`) rendered below."""

from __future__ import annotations

from fastapi import APIRouter
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from services import downloads
from services import signals as signal_service
from web.context import GET, web_context
from web.format import audit_row
from web.guide import guide_html
from web.members import signed_in
from web.templating import render

router = APIRouter(include_in_schema=False)


@router.api_route("/integrity", methods=GET)
async def integrity_page(request: Request) -> Response:
    web_ctx = web_context(request)
    member = await signed_in(request)
    report = await signal_service.audit(web_ctx.ctx)  # the cached audit `integrity_report` also reads
    guide = guide_html()
    return render(
        request,
        "integrity.html",
        member=member,
        report=report,
        rows=[audit_row(row) for row in report.classes],
        guide=Markup(guide) if guide is not None else None,  # noqa: S704 — markdown-it with raw HTML off escapes it
    )


@router.api_route("/integrity.png", methods=GET)
async def integrity_png(request: Request) -> Response:
    web_ctx = web_context(request)
    _, png = await downloads.integrity_chart(web_ctx.ctx)
    return Response(png, media_type="image/png")
