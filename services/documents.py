"""The project's Markdown documents (`docs/`) as HTML, for the surfaces that show them: the integrity page's
guide (`docs/signal-integrity.md`, `web.guide`) and the API portal's getting-started page
(`docs/api/getting-started.md`, `api.portal`). One renderer, so the repository and every page show the same
text the same way.

The documents ship in the repository, at the project's root beside the packages (the server runs from a
checkout or an editable install, so they are read from there, never copied). Rendering is CommonMark with
tables and **raw HTML disabled**: a document's markup is escaped, never passed through, and markdown-it
refuses `javascript:`-style links. Headings get GitHub's anchors (`## Verifying a webhook` →
`id="verifying-a-webhook"`), so a link to a section works on GitHub and on the page alike."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore

#: `docs/` at the project root, one level above this package.
DOCS = Path(__file__).resolve().parent.parent / "docs"


def heading_slug(text: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _heading_ids(state: StateCore) -> None:
    """A core rule: an `id` on every heading, numbered on repeats as GitHub does (`x`, `x-1`, `x-2`)."""
    seen: dict[str, int] = {}
    for index, token in enumerate(state.tokens):
        if token.type != "heading_open":
            continue
        inline = state.tokens[index + 1]
        text = "".join(child.content for child in inline.children or () if child.type in ("text", "code_inline"))
        slug = heading_slug(text)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        token.attrSet("id", slug if count == 0 else f"{slug}-{count}")


def render_markdown(text: str) -> str:
    """Markdown → HTML, with any HTML in the source escaped rather than rendered."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    md.core.ruler.push("heading_ids", _heading_ids)
    return md.render(text)


@lru_cache(maxsize=8)
def _rendered(path: Path, mtime_ns: int) -> str:
    return render_markdown(path.read_text(encoding="utf-8"))


def document_html(path: Path) -> str | None:
    """The document at `path` as HTML (re-read when the file changes), or None when this installation has no
    copy of it."""
    try:
        return _rendered(path, path.stat().st_mtime_ns)
    except OSError:
        return None
