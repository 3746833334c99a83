"""The code stays ruff-clean (rules in pyproject.toml): part of the test suite, so CI enforces it."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import ROOT


def _ruff() -> list[str]:
    local = Path(sys.executable).with_name("ruff")
    if local.exists():
        return [str(local)]
    found = shutil.which("ruff")
    if found is None:
        pytest.fail("ruff is part of the test extra: pip install --require-hashes -r requirements-test.lock")
    return [found]


def test_ruff_check_is_clean():
    result = subprocess.run([*_ruff(), "check", "."], cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = subprocess.run(  # noqa: S603
        [*_ruff(), "format", "--check", "."], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
