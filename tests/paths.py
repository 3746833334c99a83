"""Where the tests find the project and their data, in one place: test modules sit a folder deeper
(`tests/unit`, `tests/integration`, `tests/e2e`), so none works these out from its own `__file__`."""

from __future__ import annotations

from pathlib import Path

#: The repository's root (run_bot.py, config.toml, bench/, docs/).
ROOT = Path(__file__).resolve().parent.parent
#: Real Odds API payloads, a closes excerpt and a WNBA tape excerpt (see fixtures/SOURCE.md).
FIXTURES = ROOT / "tests" / "fixtures"
