"""A tiny closed-loop task to show (and test) that the embedded brain learns.

A point on a line must move toward a target. The brain sees the target through a
one-row camera that moves with the point (the target's pixel is its offset), and its
output population `move` is decoded bipolarSplit (first half pushes +, second half −).
The reward after each cycle is 1 − distance / 2 (negative distance mapped to [0, 1]);
the target jumps to a new random place every `cycles_per_target` cycles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedded_brain.encoders import encode_input, poisson_spikes
from embedded_brain.graph import BrainGraph, parse_graph
from embedded_brain.snn import Network

EYE_WIDTH = 16


def point_graph(learning_rate: float = 0.02) -> BrainGraph:
    """eye (16-pixel retina) → hidden (64 LIF) → move (16 LIF, learning)."""
    return parse_graph({
        "project": "point1d", "gamma": 20, "dt_ms": 1.0, "seed": 1,
        "populations": [
            {"id": "eye", "size": EYE_WIDTH},
            {"id": "hidden", "size": 64, "neuron": {"noise_std": 0.05}},
            {"id": "move", "size": 16, "neuron": {"noise_std": 0.35, "tau_m_ms": 10.0}},
        ],
        "inputs": [{"id": "eye", "kind": "Image",
                    "encoder": {"type": "retina", "width": EYE_WIDTH, "height": 1,
                                "max_rate_hz": 300}}],
        "outputs": [{"id": "move"}],
        "projections": [
            {"id": "eye_to_hidden", "pre": "eye", "post": "hidden",
             "connectivity": {"type": "fixed_indegree", "k": 2},
             "weight": {"mean": 0.9, "std": 0.1}},
            {"id": "hidden_to_move", "pre": "hidden", "post": "move",
             "connectivity": {"type": "all_to_all"}, "weight": {"mean": 0.05, "std": 0.02},
             "learning": {"learning_rate": learning_rate, "a_plus": 1.0, "a_minus": 0.3,
                          "w_max": 0.6, "tau_eligibility_ms": 30.0,
                          "reward_baseline_tau_cycles": 1.5, "max_advantage": 0.05}},
        ]}, source="point1d")


@dataclass
class PointTask:
    """The world: a point, a target, a camera that moves with the point."""
    seed: int
    cycles_per_target: int = 25
    step_per_spike: float = 0.02
    position: float = 0.0
    target: float = 0.0
    cycle: int = 0
    rng: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed + 100)

    def observe(self) -> tuple[bytes, dict[str, Any]]:
        """The camera frame: mono8, EYE_WIDTH × 1, a bright blob at the target's offset."""
        if self.cycle % self.cycles_per_target == 0:
            self.target = float(self.rng.uniform(-1.0, 1.0))
        offset = np.clip(self.target - self.position, -1.0, 1.0)
        centre = (offset + 1.0) / 2.0 * (EYE_WIDTH - 1)
        blob = 255.0 * np.exp(-0.5 * ((np.arange(EYE_WIDTH) - centre) / 0.8) ** 2)
        return blob.astype(np.uint8).tobytes(), {"width": EYE_WIDTH, "height": 1}

    def act(self, move_bits: np.ndarray) -> float:
        """Apply one cycle of output spikes ([gamma, n]); returns the reward in [0, 1]."""
        bits = np.asarray(move_bits, dtype=np.int64)
        half = bits.shape[1] // 2
        push = int(bits[:, :half].sum()) - int(bits[:, half:2 * half].sum())
        self.position = float(np.clip(self.position + push * self.step_per_spike, -1.5, 1.5))
        self.cycle += 1
        return 1.0 - min(abs(self.target - self.position), 2.0) / 2.0


def run_point_task(seed: int, learning: bool, cycles: int,
                   graph: BrainGraph | None = None) -> np.ndarray:
    """Closed loop on the simulator directly (default graph: point_graph()); returns the
    reward of every cycle."""
    graph = graph or point_graph()
    network = Network(graph, seed=seed, learning=learning)
    spec = graph.inputs[0]
    rng = np.random.default_rng(seed + 1)
    task = PointTask(seed)
    rewards = np.zeros(cycles)
    for c in range(cycles):
        frame, meta = task.observe()
        rates = encode_input(spec, "mono8", meta, frame)
        result = network.run_cycle({"eye": poisson_spikes(rng, rates, graph.gamma,
                                                          graph.dt_ms)})
        rewards[c] = task.act(result.outputs["move"])
        network.apply_reward(rewards[c])
    return rewards
