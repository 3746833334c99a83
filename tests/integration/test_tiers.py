"""The tier rule in a real pytest run: a test's folder puts its marker on it, and a test module left outside
the three folders fails the collection with one message naming it (tests/tiers.py, tests/conftest.py)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

#: A suite laid out like ours, whose conftest calls the same function ours does.
CONFTEST = """
from pathlib import Path

from tests.tiers import mark_by_folder


def pytest_collection_modifyitems(config, items):
    mark_by_folder(items, Path(__file__).parent / "suite")
"""
INI = """[pytest]
addopts = --strict-markers
asyncio_default_fixture_loop_scope = function
markers =
    unit: u
    integration: i
    e2e: e
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makeconftest(CONFTEST)
    suite = pytester.mkdir("suite")
    for tier in ("unit", "integration", "e2e"):
        suite.joinpath(tier).mkdir()
        suite.joinpath(tier, f"test_{tier}_a.py").write_text("def test_one():\n    pass\n")
    suite.joinpath("unit", "deeper").mkdir()
    suite.joinpath("unit", "deeper", "test_deep.py").write_text("def test_deep():\n    pass\n")
    return pytester


def test_each_folder_marks_its_tests_and_m_selects_one_tier(suite: pytest.Pytester) -> None:
    assert suite.runpytest("-m", "unit").parseoutcomes() == {"passed": 2, "deselected": 2}
    assert suite.runpytest("-m", "integration").parseoutcomes() == {"passed": 1, "deselected": 3}
    assert suite.runpytest("-m", "e2e").parseoutcomes() == {"passed": 1, "deselected": 3}
    assert suite.runpytest("-m", "not e2e").parseoutcomes() == {"passed": 3, "deselected": 1}
    assert suite.runpytest().parseoutcomes() == {"passed": 4}


def test_a_module_outside_the_tier_folders_fails_the_collection_naming_it(suite: pytest.Pytester) -> None:
    suite.path.joinpath("suite", "test_loose.py").write_text("def test_loose():\n    pass\n")
    suite.path.joinpath("suite", "helpers").mkdir()
    suite.path.joinpath("suite", "helpers", "test_other.py").write_text("def test_other():\n    pass\n")
    result = suite.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.startswith("ERROR:")]
    assert errors == [
        "ERROR: suite/helpers/test_other.py, suite/test_loose.py: a test module must sit in one of suite/unit/, "
        "suite/integration/, suite/e2e/ (the README's Tests section says which)"
    ], result.errlines
    assert "passed" not in result.stdout.str()  # nothing ran


@pytest.mark.parametrize("tier", ["unit", "integration", "e2e"])
def test_this_suites_own_tests_carry_their_folders_marker(request: pytest.FixtureRequest, tier: str) -> None:
    """Here the real tests/conftest.py: this module sits in tests/integration/."""
    assert (request.node.get_closest_marker(tier) is not None) == (tier == "integration")
