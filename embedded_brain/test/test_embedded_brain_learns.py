"""The embedded brain learns a closed-loop task from reward (R-STDP), and is deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from embedded_brain.point_task import point_graph, run_point_task
from embedded_brain.snn import Network

CYCLES = 600
SEEDS = (0, 1, 2)


def curve(rewards: np.ndarray, bins: int = 6) -> str:
    return " ".join(f"{m:.2f}" for m in rewards.reshape(bins, -1).mean(axis=1))


@pytest.mark.timeout(180)
def test_reward_rises_above_the_same_network_without_learning() -> None:
    gains = []
    for seed in SEEDS:
        on = run_point_task(seed, learning=True, cycles=CYCLES)
        off = run_point_task(seed, learning=False, cycles=CYCLES)
        # Judge the second half: learning has had CYCLES / 2 cycles to act.
        gain = on[CYCLES // 2:].mean() - off[CYCLES // 2:].mean()
        gains.append(gain)
        print(f"seed {seed}: reward per {CYCLES // 6} cycles  learning on : {curve(on)}")
        print(f"seed {seed}: reward per {CYCLES // 6} cycles  learning off: {curve(off)}"
              f"   gain {gain:+.3f}")
    assert all(g > 0.1 for g in gains), f"learning did not beat the frozen network: {gains}"


def test_same_seed_same_spikes_and_weights() -> None:
    def trace(seed: int) -> tuple[list[np.ndarray], np.ndarray]:
        net = Network(point_graph(), seed=seed)
        rng = np.random.default_rng(5)
        out = []
        for _ in range(30):
            eye = (rng.random((20, 16)) < 0.2).astype(np.uint8)
            out.append(net.run_cycle({"eye": eye}).outputs["move"])
            net.apply_reward(float(rng.random()))
        return out, net.weights.copy()

    a_out, a_w = trace(3)
    b_out, b_w = trace(3)
    c_out, _ = trace(4)
    assert all(np.array_equal(x, y) for x, y in zip(a_out, b_out, strict=True))
    assert np.array_equal(a_w, b_w)
    assert not all(np.array_equal(x, y) for x, y in zip(a_out, c_out, strict=True))


def test_constant_reward_leaves_weights_alone_and_learning_off_freezes_them() -> None:
    graph = point_graph()
    net = Network(graph, seed=0)
    frozen = Network(graph, seed=0, learning=False)
    w0 = net.weights.copy()
    eye = np.ones((20, 16), dtype=np.uint8)
    for _ in range(20):
        net.run_cycle({"eye": eye})
        net.apply_reward(0.5)       # never better or worse than the baseline
        frozen.run_cycle({"eye": eye})
        frozen.apply_reward(1.0)
    assert np.array_equal(net.weights, w0)
    assert np.array_equal(frozen.weights, w0)
    net.apply_reward(1.0)            # better than usual: eligible synapses strengthen
    assert (net.weights > w0 + 1e-6).any()
