"""Book display names: the feed's title for each book key ("williamhill_us" → "Caesars").

Quotes, signals and the API keep the stable keys; only what a member reads is renamed, here, so a
renderer never has to know a key exists. Names are looked up only for views that already carry book
keys (Pro): a redacted view has none to rename, so this cannot leak a name to Community.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from access import SignalView
from services.context import ServiceContext


async def book_names(ctx: ServiceContext) -> dict[str, str]:
    """Every known key → title (a few dozen rows: read at once, per request)."""
    return await ctx.repos.books.titles()


def display_name(names: Mapping[str, str], key: str) -> str:
    """The book's title, or its key when the feed never titled it (better a key than nothing)."""
    return names.get(key) or key


def named_view(view: SignalView, names: Mapping[str, str]) -> SignalView:
    """The view with its book keys (movers, entry book) replaced by display names, for rendering only."""
    if view.books is None and view.entry_book is None:
        return view
    return replace(
        view,
        books=None if view.books is None else tuple(display_name(names, b) for b in view.books),
        entry_book=None if view.entry_book is None else display_name(names, view.entry_book),
    )
