"""bench/faults.py's registered scenarios, run quickly: each malformed input is answered
with an error naming the problem while the server keeps serving, each kill -9 is
recovered from without help, nothing lost, nothing hangs. The scenario that runs a whole
graph (ros2 launch sim.launch.py, every node killed in turn) is marked slow."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "faults.py"
spec = importlib.util.spec_from_file_location("bench_faults", BENCH)
faults = importlib.util.module_from_spec(spec)
sys.modules["bench_faults"] = faults
spec.loader.exec_module(faults)

SLOW = {"kill -9 and restart: nodes in a running graph", "ROS parameters: misspelled and invalid",
        "YAML files: the demo's exit code"}


def test_no_scenario_is_pending() -> None:
    assert [s.title for s in faults.SCENARIOS if s.run is None] == []


@pytest.mark.timeout(420)
@pytest.mark.parametrize("item", [pytest.param(s, id=s.title, marks=[pytest.mark.slow]
                                               if s.title in SLOW else [])
                                  for s in faults.SCENARIOS])
def test_fault_scenario(item, tmp_path: Path) -> None:
    ctx = faults.Context(quick=True, workdir=tmp_path, say=print)
    tally = faults.run_scenario(item, ctx, bound_s=360)
    assert not tally.failures, "\n".join(tally.failures)
    assert tally.bad_inputs_tried + tally.faults_injected > 0, "the scenario tried nothing"
    assert tally.bad_inputs_clear_error == tally.bad_inputs_tried
    assert tally.faults_recovered == tally.faults_injected
    assert tally.hangs == 0 and tally.items_lost == 0


def test_the_benchmark_prints_its_figures_last(tmp_path: Path) -> None:
    """The JSON line the issue names (no scenario selected: nothing is started)."""
    import json
    import subprocess

    out = subprocess.run([sys.executable, str(BENCH), "--quick", "--only", "no such one"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"faults_injected", "faults_recovered", "bad_inputs_tried",
            "bad_inputs_clear_error", "items_lost", "hangs"} <= set(figures)
    assert figures["scenarios_run"] == 0 and figures["bad_inputs_tried"] == 0
