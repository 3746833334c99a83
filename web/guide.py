"""The signal-integrity guide (`docs/signal-integrity.md`) as HTML for the public integrity page, rendered by
the one renderer of the project's documents (`services.documents`: CommonMark, raw HTML escaped)."""

from __future__ import annotations

from pathlib import Path

from services.documents import DOCS, document_html, render_markdown

__all__ = ["GUIDE", "guide_html", "render_markdown"]

#: Where the guide lives: `docs/` at the project root.
GUIDE = DOCS / "signal-integrity.md"


def guide_html(path: Path = GUIDE) -> str | None:
    """The guide as HTML (re-read when the file changes), or None when this installation has no copy."""
    return document_html(path)
