"""node_kit.hops: off without BRAINSTEM_HOPS; on, each process's notes reach the directory
(every FLUSH_EVERY notes and at exit) and read() joins them per hop and cycle."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from node_kit import hops

NOTER = """
import time, sys
from node_kit import hops
hops.label(sys.argv[1])
print(hops.ON, flush=True)
for cycle in range(300):
    hops.note(sys.argv[1] + ": a", cycle)
    hops.note(sys.argv[1] + ": a", cycle, 1)          # a second note of a hop: ignored
    hops.note(sys.argv[1] + ": b", cycle, time.time_ns() + 5_000_000)
"""


def run_noter(name: str, env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-c", NOTER, name], env=env, capture_output=True,
                         text=True, timeout=60, check=True)
    return out.stdout.strip()


def test_notes_of_two_processes_are_read_per_hop_and_cycle(tmp_path):
    env = {**os.environ, hops.ENV: str(tmp_path)}
    before = time.time_ns()
    assert run_noter("one", env) == "True"
    assert run_noter("two", env) == "True"
    noted = hops.read(tmp_path)
    assert sorted(noted) == ["one: a", "one: b", "two: a", "two: b"]
    for name in ("one", "two"):
        a, b = noted[f"{name}: a"], noted[f"{name}: b"]
        assert sorted(a) == list(range(300))           # 256 flushed early, the rest at exit
        assert all(before <= a[c] <= time.time_ns() for c in a)
        assert all(b[c] - a[c] >= 5_000_000 for c in a)
    assert len(list(tmp_path.glob("*.jsonl"))) == 2


def test_off_without_the_variable(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != hops.ENV}
    assert run_noter("off", {**env, "TMPDIR": str(tmp_path)}) == "False"
    assert not list(tmp_path.rglob("*.jsonl"))


def test_a_line_cut_short_is_skipped(tmp_path):
    (tmp_path / "x-1.jsonl").write_text('["x: a", 1, 10]\n["x: a", 2, 2')
    assert hops.read(tmp_path) == {"x: a": {1: 10}}
