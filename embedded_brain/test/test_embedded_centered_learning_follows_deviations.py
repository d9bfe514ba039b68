"""Centered (covariance) R-STDP: a reward moves the weights of output neurons that fired
more or less than usual, not of every neuron that fired; and it learns the point task."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from embedded_brain.graph import BrainGraph, parse_graph
from embedded_brain.point_task import point_graph, run_point_task
from embedded_brain.snn import Network


def steady_graph(centered: bool) -> BrainGraph:
    """eye → move, all to all, learning; `move` fires from its own noise at a steady rate."""
    return parse_graph({
        "project": "steady", "gamma": 20, "seed": 1,
        "populations": [{"id": "eye", "size": 8},
                        {"id": "move", "size": 8, "neuron": {"noise_std": 0.35,
                                                             "tau_m_ms": 10.0}}],
        "inputs": [{"id": "eye", "kind": "Image",
                    "encoder": {"type": "retina", "width": 8, "height": 1}}],
        "outputs": [{"id": "move"}],
        "projections": [{"id": "eye_to_move", "pre": "eye", "post": "move",
                         "connectivity": {"type": "all_to_all"},
                         "weight": {"mean": 0.01, "std": 0.0},
                         "learning": {"learning_rate": 0.05, "w_max": 1.0,
                                      "centered": centered, "rate_tau_cycles": 10,
                                      "reward_baseline_tau_cycles": 1.0}}]},
        source="steady")


def mean_weight_change(centered: bool) -> float:
    """200 cycles of steady input and a reward that keeps beating its baseline."""
    net = Network(steady_graph(centered), seed=3)
    rng = np.random.default_rng(0)
    start = net.projection_weights("eye_to_move")[:, 2].mean()
    for cycle in range(200):
        net.run_cycle({"eye": (rng.random((20, 8)) < 0.2).astype(np.uint8)})
        net.apply_reward(min(1.0, cycle * 0.005))     # always above the last one
    return float(net.projection_weights("eye_to_move")[:, 2].mean() - start)


def test_usual_firing_earns_no_weight_when_centered() -> None:
    plain, centered = mean_weight_change(False), mean_weight_change(True)
    # Plain R-STDP credits every spike of a steadily firing neuron; centered only its
    # deviations from its usual rate, which average out.
    assert plain > 0.02
    assert abs(centered) < 0.1 * plain, (plain, centered)
    print(f"mean weight change: plain {plain:+.4f}, centered {centered:+.4f}")


def test_centered_rule_is_validated() -> None:
    raw = {"project": "p", "populations": [{"id": "a", "size": 2}, {"id": "b", "size": 2}],
           "inputs": [{"id": "a", "kind": "Scalar",
                       "encoder": {"type": "population", "count": 1, "per_value": 2}}],
           "outputs": [{"id": "b"}],
           "projections": [{"id": "ab", "pre": "a", "post": "b",
                            "learning": {"centered": "yes"}}]}
    with pytest.raises(ValueError, match=r"ab.*centered: must be true or false"):
        parse_graph(raw)
    raw["projections"][0]["learning"] = {"centered": True, "rate_tau_cycles": 0.5}
    with pytest.raises(ValueError, match="rate_tau_cycles: must be >= 1"):
        parse_graph(raw)


@pytest.mark.timeout(180)
def test_centered_rule_learns_the_point_task() -> None:
    plain = point_graph()
    graph = dataclasses.replace(plain, projections=[
        dataclasses.replace(p, learning=dataclasses.replace(p.learning, centered=True))
        if p.learning else p for p in plain.projections])
    gains = []
    for seed in (0, 1, 2):
        on = run_point_task(seed, learning=True, cycles=600, graph=graph)
        off = run_point_task(seed, learning=False, cycles=600, graph=graph)
        gains.append(on[300:].mean() - off[300:].mean())
    assert all(g > 0.1 for g in gains), gains
