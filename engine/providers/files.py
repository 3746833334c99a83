"""Files the app writes are private to the account that runs it (mode 0600), whatever the umask.

The database holds webhook signing secrets in clear (signing needs them), API key hashes and Stripe
customer links; tapes and audit summaries are the feed's data, which its licence keeps ours. Under the
usual umask (022) every one of them used to be created 0644, readable by any account on the machine.

A file is created by `os.open` with mode 0600 (the umask can only take bits away from that), and then
`fchmod`-ed to exactly 0600: that also tightens a file left 0644 by an older version, and covers a
umask so strict it would take the owner's own bits. SQLite creates a database's -wal and -shm with the
database file's mode, so making the database file private before SQLite opens it covers them too.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["PRIVATE_MODE", "ensure_private", "tighten", "write_private_text"]

PRIVATE_MODE = 0o600


def ensure_private(path: str | Path) -> None:
    """Create `path` (empty) if it does not exist, and leave it mode 0600 either way. Never truncates."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)
    finally:
        os.close(fd)


def tighten(path: str | Path) -> None:
    """Mode 0600 for `path` if it exists (a -wal or -shm an older version left readable); else nothing."""
    with contextlib.suppress(FileNotFoundError):
        os.chmod(path, PRIVATE_MODE)


def write_private_text(path: str | Path, text: str) -> None:
    """Replace the contents of `path` with `text` (UTF-8), the file mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(fd, PRIVATE_MODE)
        handle.write(text)
