"""The embedded device learns from a reward input population: a cue task (LEFT or RIGHT
lit for 200 ms at a time; the MOVE output's first half should be active for RIGHT, its
second half for LEFT)
rewarded through the SDK's reward_population encoding after every cycle, read from the
bistable output's neuron events as a client reads them. The learning brain beats the
same brain with learning off."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embedded_brain.device import DeviceBrain

CUE_DESIGN = {
    "schema": "artificial-brains/design/v1", "name": "cue",
    "nodes": [
        {"name": "LEFT", "kind": "input", "neurons": 4},
        {"name": "RIGHT", "kind": "input", "neurons": 4},
        {"name": "REWARD", "kind": "input", "neurons": 10},
        {"name": "HL", "kind": "opu", "rhythm": "beta", "tnorm": 5},
        {"name": "HR", "kind": "opu", "rhythm": "beta", "tnorm": 5},
        {"name": "CLEAR", "kind": "opu", "rhythm": "high-gamma"},
        {"name": "MOVE", "kind": "output", "neurons": 8}],
    "connections": [
        {"from": "LEFT", "to": "HL"}, {"from": "RIGHT", "to": "HR"},
        {"from": "HL", "to": "MOVE"}, {"from": "HR", "to": "MOVE"},
        {"from": "MOVE", "to": "CLEAR"}, {"from": "CLEAR", "to": "MOVE", "type": "inh"}]}


def reward_population(magnitude: float, n: int) -> list[float]:
    """The SDK's reward_population: round(m x n) ones first (at least one when m > 0)."""
    k = int(round(magnitude * n))
    k = max(1, k) if magnitude > 0 else 0
    return [1.0] * k + [0.0] * (n - k)


def play(tmp: Path, learning: bool, seed: int, cycles: int) -> list[float]:
    brain = DeviceBrain(tmp, realtime=False, learning=learning, seed=seed)
    brain.install(CUE_DESIGN)
    brain.state = "RUNNING"          # stepped here cycle by cycle instead of by the loop
    rng = np.random.default_rng(seed)
    rewards = []
    side = 1
    for cycle in range(cycles):
        if cycle % 20 == 0:      # a cue holds 200 ms, longer than the eligibility
            side = int(rng.choice([-1, 1]))
        brain.post_sensors({"LEFT": [float(side < 0)] * 4, "RIGHT": [float(side > 0)] * 4})
        brain._cycle(brain.steps_per_cycle)
        plus = minus = 0
        for record in brain.history.since(brain.history.last_sequence - brain.steps_per_cycle):
            item = json.loads(record.split(b"data: ", 1)[1])["item"]
            active = {int(n.split(":")[1]) for row in item["outputs"] for n in row["neurons"]}
            plus += len(active & {0, 1, 2, 3})
            minus += len(active & {4, 5, 6, 7})
        reward = 0.5 + 0.5 * side * (plus - minus) / max(1, plus + minus)
        rewards.append(reward)
        brain.post_sensors({"REWARD": reward_population(reward, 10)})
    return rewards


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_reward_population_teaches_the_cue_task(tmp_path: Path) -> None:
    cycles = 2400
    learned = play(tmp_path / "learn", True, 3, cycles)
    frozen = play(tmp_path / "frozen", False, 3, cycles)
    tail = cycles // 5
    gain = np.mean(learned[-tail:]) - np.mean(frozen[-tail:])
    print(f"cue task, last {tail} cycles: learning {np.mean(learned[-tail:]):.3f}, "
          f"frozen {np.mean(frozen[-tail:]):.3f}")
    assert gain > 0.15
