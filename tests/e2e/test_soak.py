"""A short run of `bench/soak.py`: live mode in its own process against the loopback `FaultCycle` for 15 s,
about two turns of its cycle. Every fault kind is served and recovered from, no healthy quote is lost, and
the process stays up and exits cleanly."""

from __future__ import annotations

import importlib.util

from tests.crash import ROOT
from tests.fake_odds_api import FAULTS


def _bench():
    spec = importlib.util.spec_from_file_location("bench_soak", ROOT / "bench" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_a_short_soak_recovers_from_every_fault_and_loses_no_quote(tmp_path):
    result = await _bench().soak(15, tmp_path)
    assert result["alive_throughout"] and result["exit_code"] == 0
    assert all(result["served"].get(kind, 0) >= 1 for kind in FAULTS), result["served"]
    assert all(result["recovered"][kind] >= 1 for kind in FAULTS), result["recovered"]
    polls = result["polls"]
    assert polls["ok"] > polls["failed"] >= 1 and polls["recovered"] >= len(FAULTS) - 1
    assert result["healthy_quotes"] > 0 and result["lost_quotes"] == 0, result["lost_sample"]
