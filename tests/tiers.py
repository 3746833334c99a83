"""The test tiers: a test's folder is its tier (`tests/unit`, `tests/integration`, `tests/e2e`), and the marker of
the same name is put on it from there, so `pytest -m unit` runs the fast tier alone and no module can be left
untiered. Called from `tests/conftest.py`; the markers are registered in `pyproject.toml` (`--strict-markers`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

#: The tiers, fastest first; each is a folder under tests/ and a marker.
TIERS = ("unit", "integration", "e2e")


def tier_of(path: Path, root: Path) -> str | None:
    """The tier of the test module at `path` under the tests folder `root`: the folder it sits in (at any
    depth below it), or None for a module outside the three."""
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 and parts[0] in TIERS else None


def mark_by_folder(items: Iterable[pytest.Item], root: Path) -> None:
    """Put each collected test's tier marker on it; a test module under `root` outside the tier folders fails
    the collection with one message naming it (items outside `root`, as none are in this suite, are left)."""
    untiered: set[str] = set()
    for item in items:
        if not item.path.is_relative_to(root):
            continue
        tier = tier_of(item.path, root)
        if tier is None:
            untiered.add(item.path.relative_to(root.parent).as_posix())
        else:
            item.add_marker(tier)
    if untiered:
        folders = ", ".join(f"{root.name}/{tier}/" for tier in TIERS)
        raise pytest.UsageError(
            f"{', '.join(sorted(untiered))}: a test module must sit in one of {folders} "
            "(the README's Tests section says which)"
        )
