"""The lock files agree with pyproject.toml: a dependency added to pyproject.toml without refreshing the locks
(`scripts/lock`) would install on a developer's machine from the ranges and fail in CI under --require-hashes, or,
worse, be missing from the README's install. Both are read as text/TOML, no network."""

from __future__ import annotations

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.paths import ROOT

RUNTIME_LOCK = ROOT / "requirements.lock"
TEST_LOCK = ROOT / "requirements-test.lock"

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)(?P<rest>.*)$")
_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}\b")


def _declared() -> tuple[set[str], set[str]]:
    """The names pyproject.toml asks for: (runtime dependencies, the test extra)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {canonicalize_name(Requirement(spec).name) for spec in project["dependencies"]}
    test = {canonicalize_name(Requirement(spec).name) for spec in project["optional-dependencies"]["test"]}
    return runtime, test


def _entries(text: str) -> list[str]:
    """A pip requirements file's logical lines: comments dropped, backslash continuations joined."""
    entries: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current = " ".join((current + line).split())
        if current:
            entries.append(current)
        current = ""
    if current.strip():
        entries.append(" ".join(current.split()))
    return entries


def parse_lock(text: str) -> tuple[dict[str, tuple[str, int]], list[str]]:
    """{canonical name: (version, number of hashes)} for every `name==version --hash=...` entry, and every entry
    that is not one (an option such as --index-url, a URL, a path, a range)."""
    pins: dict[str, tuple[str, int]] = {}
    other: list[str] = []
    for entry in _entries(text):
        match = _PIN.match(entry)
        if match is None or re.search(r";|@|\s(?!--hash=)\S", match["rest"]):
            other.append(entry)
            continue
        pins[canonicalize_name(match["name"])] = (match["version"], len(_HASH.findall(match["rest"])))
    return pins, other


def _lock(path) -> tuple[dict[str, tuple[str, int]], list[str]]:
    assert path.exists(), f"{path.name} is missing: run scripts/lock"
    return parse_lock(path.read_text(encoding="utf-8"))


def test_the_parser_reads_pins_hashes_and_anything_else():
    text = (
        "#\n# header\n#\naiohttp==3.9.5 \\\n    --hash=sha256:" + "a" * 64 + " \\\n    --hash=sha256:" + "b" * 64 + "\n"
        "    # via\n    #   discord-py\nDiscord.py==2.4.0 \\\n    --hash=sha256:" + "c" * 64 + "\n"
        "numpy>=1.26\n--index-url http://mirror.local/simple\ntzdata==2024.1\n"
    )
    pins, other = parse_lock(text)
    assert pins == {"aiohttp": ("3.9.5", 2), "discord-py": ("2.4.0", 1), "tzdata": ("2024.1", 0)}
    assert other == ["numpy>=1.26", "--index-url http://mirror.local/simple"]


@pytest.mark.parametrize("path", [RUNTIME_LOCK, TEST_LOCK], ids=lambda p: p.name)
def test_every_entry_of_the_lock_is_pinned_with_hashes(path):
    """`pip install --require-hashes` refuses a lock with an unhashed or unpinned line, an index URL or a path
    would tie the lock to one machine's mirror."""
    pins, other = _lock(path)
    assert other == [], f"{path.name}: not `name==version --hash=...`: {other}"
    unhashed = sorted(name for name, (_, hashes) in pins.items() if hashes == 0)
    assert unhashed == [], f"{path.name}: pinned without --hash: {unhashed}"
    text = path.read_text(encoding="utf-8")
    for leak in ("file:", "/opt/", "--find-links", "--index-url", "--extra-index-url", "--trusted-host"):
        assert leak not in text, f"{path.name} records {leak!r}: regenerate with scripts/lock"


def test_the_runtime_lock_pins_every_runtime_dependency_and_no_test_tool():
    runtime, test = _declared()
    pins, _ = _lock(RUNTIME_LOCK)
    missing = sorted(runtime - pins.keys())
    assert missing == [], f"in pyproject.toml's dependencies but not in requirements.lock: {missing}: run scripts/lock"
    test_tools = sorted((test - runtime) & pins.keys())
    assert test_tools == [], f"the run command must not install the test tools: {test_tools}"


def test_the_test_lock_pins_every_runtime_and_test_dependency():
    runtime, test = _declared()
    pins, _ = _lock(TEST_LOCK)
    missing = sorted((runtime | test) - pins.keys())
    assert missing == [], f"in pyproject.toml but not in requirements-test.lock: {missing}: run scripts/lock"


def test_both_locks_pin_the_same_versions_of_what_they_share():
    """The main job runs on the same versions the tests ran on."""
    runtime_pins, _ = _lock(RUNTIME_LOCK)
    test_pins, _ = _lock(TEST_LOCK)
    differ = {
        name: (version, test_pins[name][0])
        for name, (version, _) in runtime_pins.items()
        if name in test_pins and test_pins[name][0] != version
    }
    assert differ == {}, f"requirements.lock vs requirements-test.lock: {differ}: run scripts/lock"
    assert runtime_pins.keys() <= test_pins.keys(), sorted(runtime_pins.keys() - test_pins.keys())
