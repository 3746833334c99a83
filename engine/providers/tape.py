"""Tapes: raw snapshots on disk, written by live polling and read back for replays and tests.

A tape is JSON Lines (plain, or gzip when the name ends in `.gz`), one snapshot per line:
`{"fetched_at": "<ISO-8601 UTC>", "data": [<the API's event array, untouched>]}` (plus `quota`
when the poll had credit headers). Recording the *raw* array, not parsed lines, means a replay goes
through exactly the parser the live feed went through, including any parser fixed since.

`read_tape` also reads the shapes our bundled data come in: the WNBA tape (time key
`committed_at`), The Odds API's historical wrapper (`timestamp`), either as JSON Lines, as one
(pretty-printed) JSON file, or as a directory of such `*.json` / `*.json.gz` files.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from engine.models import Quota
from engine.providers.base import RawSnapshot
from engine.providers.files import ensure_private
from engine.providers.parse import parse_timestamp

__all__ = ["TIME_KEYS", "TapeRecorder", "read_tape"]

logger = logging.getLogger(__name__)

#: Keys that carry a snapshot's time, in order of preference: ours, the WNBA tape's, the Odds API's.
TIME_KEYS: tuple[str, ...] = ("fetched_at", "committed_at", "timestamp")

_GZIP_MAGIC = b"\x1f\x8b"
_TIME_RE = re.compile(rb'"(fetched_at|committed_at|timestamp)"\s*:\s*"([^"\\]*)"')
_TIME_KEYS_BYTES = tuple(key.encode() for key in TIME_KEYS)


class TapeRecorder:
    """Appends each snapshot to a JSON Lines tape, flushed per line so a crash loses at most one.

    A `.gz` path is written as gzip; each session appends a new gzip member, which every gzip
    reader (ours included) reads as one stream.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None

    def _open(self) -> IO[str]:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            ensure_private(self.path)  # the feed's data: 0600 whatever the umask
            if self.path.suffix == ".gz":
                # Kept open across appends on purpose; closed by close() / the context manager.
                self._file = gzip.open(self.path, "at", encoding="utf-8")  # noqa: SIM115
            else:
                self._file = self.path.open("a", encoding="utf-8")
        return self._file

    def append(self, snapshot: RawSnapshot) -> None:
        record: dict[str, Any] = {"fetched_at": snapshot.fetched_at.isoformat()}
        if snapshot.quota is not None:
            q = snapshot.quota
            record["quota"] = {"remaining": q.remaining, "used": q.used, "last": q.last}
        record["data"] = snapshot.data
        handle = self._open()
        handle.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n")
        handle.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> TapeRecorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class _Bad:
    reason: str


def _open_binary(path: Path) -> IO[bytes]:
    """The file's bytes, gunzipped when it starts with the gzip magic (whatever its name says)."""
    raw = path.open("rb")
    if raw.peek(2)[:2] == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    return raw


def _lines(path: Path, *, quiet: bool = False) -> Iterator[bytes]:
    """The file's lines; a gzip stream cut short (a recorder still writing, or killed) just ends them.

    Everything up to the recorder's last flush is still delivered, since it flushes per line.
    """
    with _open_binary(path) as handle:
        try:
            yield from handle
        except (EOFError, OSError, zlib.error) as exc:
            if not quiet:
                logger.warning("tape %s ends early (%s: %s); read up to there", path, type(exc).__name__, exc)


def _quota(value: object) -> Quota | None:
    if not isinstance(value, dict):
        return None

    def field(name: str) -> int | None:
        item = value.get(name)
        return item if type(item) is int else None

    return Quota(remaining=field("remaining"), used=field("used"), last=field("last"))


def _to_snapshot(record: object) -> RawSnapshot | _Bad:
    """A decoded line or file as a RawSnapshot, or why it is not one."""
    if not isinstance(record, dict):
        return _Bad(f"not a JSON object ({type(record).__name__})")
    for key in TIME_KEYS:
        if key in record:
            stamp = parse_timestamp(record[key])
            if stamp is None:
                return _Bad(f"bad time {key}={record[key]!r:.60}")
            break
    else:
        return _Bad(f"no time key (one of {', '.join(TIME_KEYS)})")
    if "data" not in record:
        return _Bad("no data")
    return RawSnapshot(fetched_at=stamp, data=record["data"], quota=_quota(record.get("quota")))


def _decode_line(line: bytes) -> RawSnapshot | _Bad:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        return _Bad(f"not JSON ({exc.__class__.__name__})")
    return _to_snapshot(record)


def _warn(path: Path, line_no: int, reason: str) -> None:
    logger.warning("tape %s line %d skipped: %s", path, line_no, reason)


def _prescan_sorted(path: Path) -> bool:
    """Cheap first pass: are the lines' times strictly increasing? (a regex, no JSON decoding)

    It only chooses between the streaming and the buffered path; the times that count are those of
    the decoded lines, and the streaming path still never yields a line out of order.
    """
    last: datetime | None = None
    for line in _lines(path, quiet=True):
        found = dict(_TIME_RE.findall(line))
        stamp = None
        for key in _TIME_KEYS_BYTES:
            value = found.get(key)
            if value is not None:
                stamp = parse_timestamp(value.decode("utf-8", "replace"))
                break
        if stamp is None:
            continue  # a bad line: the decoding pass reports it
        if last is not None and stamp <= last:
            return False
        last = stamp
    return True


def _read_lines_streaming(path: Path) -> Iterator[RawSnapshot]:
    """A sorted tape, one line at a time; a repeated time is dropped, a line going back is skipped."""
    last: datetime | None = None
    for line_no, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        item = _decode_line(line)
        if isinstance(item, _Bad):
            _warn(path, line_no, item.reason)
            continue
        if last is not None and item.fetched_at <= last:
            if item.fetched_at < last:
                _warn(path, line_no, f"time {item.fetched_at.isoformat()} is before {last.isoformat()}")
            continue
        last = item.fetched_at
        yield item


def _read_lines_buffered(path: Path) -> Iterator[RawSnapshot]:
    """An unsorted tape: keep each good line's bytes with its time, sort, decode again on the way out.

    Holding bytes rather than decoded objects keeps memory near the file's own size.
    """
    keyed: list[tuple[datetime, int, bytes]] = []
    for line_no, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        item = _decode_line(line)
        if isinstance(item, _Bad):
            _warn(path, line_no, item.reason)
            continue
        keyed.append((item.fetched_at, line_no, line))
    logger.info("tape %s is not sorted by time: sorting its %d lines in memory", path, len(keyed))
    keyed.sort(key=lambda item: (item[0], item[1]))
    last: datetime | None = None
    for stamp, _, line in keyed:
        if stamp == last:
            continue
        last = stamp
        item = _decode_line(line)
        if isinstance(item, RawSnapshot):
            yield item


def _sorted_unique(items: list[tuple[datetime, int, RawSnapshot]]) -> Iterator[RawSnapshot]:
    last: datetime | None = None
    for stamp, _, snapshot in sorted(items, key=lambda item: (item[0], item[1])):
        if stamp == last:
            continue
        last = stamp
        yield snapshot


def _is_json(text: bytes) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _from_document(path: Path, document: object) -> Iterator[RawSnapshot]:
    """A whole-file JSON document: one snapshot object, or an array of them."""
    records = document if isinstance(document, list) else [document]
    items: list[tuple[datetime, int, RawSnapshot]] = []
    for index, record in enumerate(records):
        item = _to_snapshot(record)
        if isinstance(item, _Bad):
            logger.warning("file %s item %d skipped: %s", path, index, item.reason)
        else:
            items.append((item.fetched_at, index, item))
    return _sorted_unique(items)


def _read_file(path: Path) -> Iterator[RawSnapshot]:
    """One file: a single JSON document (e.g. a pretty-printed historical wrapper) or JSON Lines.

    A first line that is a complete JSON value means JSON Lines; otherwise the whole file is tried
    as one document, and if that fails too it is read as JSON Lines whose first line is bad.
    """
    first = next((line for line in _lines(path, quiet=True) if line.strip()), None)
    if first is None:
        return
    if not _is_json(first):
        body = b"".join(_lines(path, quiet=True))
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            pass
        else:
            yield from _from_document(path, document)
            return
        del body
    if _prescan_sorted(path):
        yield from _read_lines_streaming(path)
    else:
        yield from _read_lines_buffered(path)


def _read_directory(path: Path) -> Iterator[RawSnapshot]:
    """Every `*.json`/`*.json.gz`/`*.jsonl`/`*.jsonl.gz` file in `path`, merged, sorted, de-duplicated."""
    files = sorted(
        p for p in path.iterdir() if p.is_file() and p.name.endswith((".json", ".json.gz", ".jsonl", ".jsonl.gz"))
    )
    items: list[tuple[datetime, int, RawSnapshot]] = []
    for snapshot in (s for file in files for s in _read_file(file)):
        items.append((snapshot.fetched_at, len(items), snapshot))
    yield from _sorted_unique(items)


def read_tape(path: str | Path) -> Iterator[RawSnapshot]:
    """Snapshots from a tape, a single snapshot file or a directory of them, sorted by time.

    Snapshots with the same time as one already read are dropped (the historical data repeats a
    stale snapshot under later file names). Bad lines are skipped with a warning naming the line;
    nothing in the file's contents is fatal. A sorted JSON Lines tape is streamed: memory stays
    at one snapshot whatever the tape's length.
    """
    path = Path(path)
    if path.is_dir():
        return _read_directory(path)
    return _read_file(path)
