"""The signal-integrity guide (`docs/signal-integrity.md`) as HTML for the public integrity page.

The guide is the one document every surface points to; it ships in the repository, at the project's
root beside the packages (the server runs from a checkout or an editable install, so it is read from
there, never copied). Rendering is CommonMark with tables and **raw HTML disabled**: the document's
markup is escaped, never passed through, and markdown-it refuses `javascript:`-style links."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from markdown_it import MarkdownIt

#: Where the guide lives: `docs/` at the project root, one level above this package.
GUIDE = Path(__file__).resolve().parent.parent / "docs" / "signal-integrity.md"


def render_markdown(text: str) -> str:
    """Markdown → HTML, with any HTML in the source escaped rather than rendered."""
    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)


@lru_cache(maxsize=4)
def _rendered(path: Path, mtime_ns: int) -> str:
    return render_markdown(path.read_text(encoding="utf-8"))


def guide_html(path: Path = GUIDE) -> str | None:
    """The guide as HTML (re-read when the file changes), or None when this installation has no copy."""
    try:
        return _rendered(path, path.stat().st_mtime_ns)
    except OSError:
        return None
